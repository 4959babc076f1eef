/* What a due timer does (timers.c), by the case's next_action: a stage (the reminder, its
 * fee, catch-up), a card retry (PaymentRetryDue), the wait for the last retry's result
 * (retries exhausted), or the end of a pause (resume). */
#ifndef DN_ENGINE_TIMERS_H
#define DN_ENGINE_TIMERS_H

#include "case.h"

/* Fires a claimed timer for its case, in the transaction in hand. H_OK or H_DBERR. */
int fire_timer(engine_t *e, const char *case_id, int64_t now);
/* The retry schedule ran out without a payment: back into the overdue stages. */
int exhaust_retries(engine_t *e, case_row_t *c, const policy_t *pol, const char *caused_by, const char *why,
                    int64_t now);
/* Ends a pause. H_REJECT when the case is not paused. */
int fire_resume(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now, const char *caused_by, const char *why);

#endif
