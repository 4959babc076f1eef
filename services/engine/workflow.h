/* The collections workflow: what a credit team agrees with a customer between a reminder
 * and a payment (docs/case-states.md, docs/policies.md).
 *   promise.c  promises to pay: the case waits in `promised` until the promised date plus
 *              the policy's grace; kept, partially kept, broken or withdrawn.
 *   plan.c     instalment plans: the case waits in `on_plan` while the plan's own
 *              reminders run per instalment; paid off it resolves, missed it breaks.
 *   money.c    early-settlement offers (apply_money): a stage's discount, paid in time,
 *              settles the case.
 * Every function works inside the caller's transaction and returns H_OK, H_REJECT
 * (e->reject_code and e->reject_reason set) or H_DBERR. */
#ifndef DN_ENGINE_WORKFLOW_H
#define DN_ENGINE_WORKFLOW_H

#include "case.h"
#include "dn_schemas_gen.h"

/* CaseCommand promise / withdraw_promise / plan on the case `c` (loaded and locked). */
int promise_command(engine_t *e, case_row_t *c, const policy_t *pol, const dn_case_command_t *v, int64_t now);
int promise_withdraw(engine_t *e, case_row_t *c, const policy_t *pol, const dn_case_command_t *v, int64_t now);
int plan_command(engine_t *e, case_row_t *c, const policy_t *pol, const dn_case_command_t *v, int64_t now);

/* The timers of a held case: the day after a promise's date + grace; a plan's next
 * reminder or the end of an instalment's tolerance. */
int promise_due(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now);
int plan_due(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now);

/* Money (`amount`) was applied to a case under a promise or a plan (money.c's hold_money):
 * the promise counts it and may be kept (settled: the case has just been resolved); the plan
 * allocates it to the oldest open instalment. */
int promise_money(engine_t *e, case_row_t *c, int64_t amount, int settled, const char *caused_by, int64_t now);
int plan_money(engine_t *e, case_row_t *c, const policy_t *pol, int64_t amount, int settled, const char *caused_by,
               int64_t now);
/* The case was cancelled or written off under a promise or a plan. */
int promise_closed(engine_t *e, const case_row_t *c, int64_t now);
int plan_closed(engine_t *e, const case_row_t *c, int64_t now);
/* A plan replaces the case's open promise: withdrawn, its other cases released. */
int promise_replaced(engine_t *e, case_row_t *c, const char *caused_by, int64_t now);

#endif
