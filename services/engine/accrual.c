/* Money and time of a case (see accrual.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "dn_clock.h"
#include "dn_rules.h"

int64_t stage_time_ms(const case_row_t *c, const policy_t *p, int stage)
{
    return dn_rules_stage_time_ms(c->due_date, p->stages[stage - 1].offset_ms, p->grace_days);
}

/* Brings interest up to `now`: simple daily interest on the principal still owed, for
 * every day after the due date; no interest accrues while paused or once terminal. */
void accrue(case_row_t *c, const policy_t *p, int64_t now)
{
    interest_acc_t acc = {.micro = c->interest_micro,
                          .through = c->interest_through >= 0 ? c->interest_through : c->due_date};
    case_state_t s = state_of(c);
    if (dn_fsm_is_terminal(s))
        return; /* settled, written off or handed over: the amounts are final */
    int64_t rate = s == ST_PAUSED ? 0 : p->interest_rate_e4;
    dn_rules_accrue(&acc, c->outstanding, rate, dn_date_from_ms(now));
    c->interest_micro = acc.micro;
    c->interest_through = acc.through;
    c->interest = dn_rules_interest_minor(&acc) - c->interest_paid;
    if (c->interest < 0)
        c->interest = 0;
}

/* Sets the one pending timer from the case's state: the next stage, the next retry,
 * the end of a pause, or nothing. */
void schedule_next(case_row_t *c, const policy_t *p, int64_t now)
{
    case_state_t s = state_of(c);
    /* Under catch_up: each a pending stage may have been moved later than its policy time
     * (one stage a day, fire_stage); a payment or credit in between keeps that. */
    int64_t spaced = strcmp(c->next_action, "stage") == 0 ? c->next_action_ms : -1;
    c->next_action_ms = -1;
    snprintf(c->next_action, sizeof(c->next_action), "stage");
    if (dn_fsm_is_terminal(s))
        return;
    if (s == ST_PAUSED) {
        if (c->paused_until >= 0) {
            snprintf(c->next_action, sizeof(c->next_action), "resume");
            c->next_action_ms = dn_date_to_ms(c->paused_until);
        }
        return;
    }
    if (s == ST_RETRYING) {
        if ((size_t)c->retry_attempt < p->retries.nschedule) {
            snprintf(c->next_action, sizeof(c->next_action), "retry");
            c->next_action_ms = c->retry_base_ms + p->retries.schedule_ms[c->retry_attempt];
        } else {
            snprintf(c->next_action, sizeof(c->next_action), "retry_result");
            c->next_action_ms = now + p->retries.result_wait_ms;
        }
        return;
    }
    if (c->next_stage >= 1 && c->next_stage <= (int)p->nstages) {
        c->next_action_ms = stage_time_ms(c, p, c->next_stage);
        if (p->catch_up == CATCH_UP_EACH && spaced > c->next_action_ms)
            c->next_action_ms = spaced;
    }
}

/* Applies money (a payment or a credit note) to a case: fees first, then interest, then
 * principal; resolves the case when what is left is within the policy's tolerance. */
int apply_money(engine_t *e, case_row_t *c, const policy_t *pol, int64_t amount, int is_credit, const char *ref,
                const char *caused_by, int64_t now)
{
    char from[32];
    snprintf(from, sizeof(from), "%s", c->state);
    accrue(c, pol, now);
    allocation_t a = dn_rules_allocate(amount, c->fee, c->interest, c->outstanding);
    c->fee -= a.to_fees;
    c->interest_paid += a.to_interest;
    c->interest -= a.to_interest;
    c->outstanding -= a.to_principal;
    c->overpaid += a.overpaid;
    if (is_credit)
        c->credited += amount;
    else
        c->paid += amount;
    int64_t left = total_due(c);
    int settles = !is_resolved(c->state) && dn_rules_settled(left, dn_policy_money_for(&pol->tolerance, c->currency));
    transition(c, settles ? EV_SETTLED : EV_PARTIAL_PAYMENT);
    const char *reason = NULL;
    if (settles) {
        reason = is_credit ? "credited" : left > 0 ? "paid_within_tolerance" : "paid";
        c->outstanding = c->fee = c->interest = 0; /* a remainder within tolerance is forgiven */
        c->next_stage = 0;
        c->paused_from[0] = c->pause_reason[0] = '\0';
        c->paused_until = -1;
    }
    schedule_next(c, pol, now);
    json_t *detail =
        json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", is_credit ? "credit_id" : "payment_id", ref, "amount_minor",
                  (json_int_t)amount, "to_fees", (json_int_t)a.to_fees, "to_interest", (json_int_t)a.to_interest,
                  "to_principal", (json_int_t)a.to_principal, "overpaid_minor", (json_int_t)a.overpaid);
    if (save_case(e, c, reason, now) < 0 ||
        record(e, c, is_credit ? "credit_applied" : "payment_applied", from, NULL, caused_by, now, detail) < 0)
        return H_DBERR;
    if (settles && record(e, c, "resolved", from, reason, caused_by, now,
                          left > 0 ? json_pack("{s:I}", "written_off_minor", (json_int_t)left) : NULL) < 0)
        return H_DBERR;
    return H_OK;
}
