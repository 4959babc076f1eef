/* Money and time of a case (accrual.c): interest accrued to a day, when its stages fall,
 * its one pending timer. Money applied to it: money.h. */
#ifndef DN_ENGINE_ACCRUAL_H
#define DN_ENGINE_ACCRUAL_H

#include "case.h"

static inline int64_t total_due(const case_row_t *c)
{
    return c->outstanding + c->fee + c->interest;
}

int64_t stage_time_ms(const case_row_t *c, const policy_t *p, int stage);
/* Brings interest up to `now` (none while paused or once terminal). */
void accrue(case_row_t *c, const policy_t *p, int64_t now);
/* Sets the one pending timer from the case's state: the next stage, the next retry, the
 * end of a pause, or nothing. */
void schedule_next(case_row_t *c, const policy_t *p, int64_t now);
/* Ends a promise's or a plan's hold: back to the state it began in (overdue if that was
 * never written), the hold's fields cleared, the stage timer set from the state. */
void end_hold(case_row_t *c, const policy_t *p, int64_t now);

#endif
