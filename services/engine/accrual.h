/* Money and time of a case (accrual.c): interest accrued to a day, when its stages fall,
 * its one pending timer, and money (payments, credits) applied to it. */
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
/* Applies a payment or a credit (fees, then interest, then principal); resolves the case
 * when what is left is within the tolerance. H_OK or H_DBERR. */
int apply_money(engine_t *e, case_row_t *c, const policy_t *pol, int64_t amount, int is_credit, const char *ref,
                const char *caused_by, int64_t now);

#endif
