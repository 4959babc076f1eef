/* Money applied to a case (money.c). */
#ifndef DN_ENGINE_MONEY_H
#define DN_ENGINE_MONEY_H

#include "case.h"

/* Applies a payment or a credit (fees, then interest, then principal); resolves the case
 * when what is left is within the tolerance, or when it completes the early-settlement
 * offer of the case's latest reminder in time. A case under a promise or a plan tells it
 * (hold_money). H_OK or H_DBERR. */
int apply_money(engine_t *e, case_row_t *c, const policy_t *pol, int64_t amount, int is_credit, const char *ref,
                const char *caused_by, int64_t now);
/* Money (`amount`) was applied to a case that was `held` (promised or on_plan) before it,
 * and apply_money has saved it: the promise counts it, the plan allocates it. */
int hold_money(engine_t *e, case_row_t *c, const policy_t *pol, case_state_t held, int64_t amount,
               const char *caused_by, int64_t now);
/* A case that was `held` was cancelled or written off: its promise or plan is closed. */
int hold_closed(engine_t *e, const case_row_t *c, case_state_t held, int64_t now);

#endif
