/* Money applied to a case (money.h): a payment or a credit note, the early-settlement offer
 * it may complete, and the promise or plan the case is under. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "risk.h"
#include "dn_clock.h"
#include "dn_rules.h"
#include "money.h"
#include "workflow.h"

/* Applies money (a payment or a credit note) to a case: fees first, then interest, then
 * principal; resolves the case when what is left is within the policy's tolerance, or when
 * the money completes the early-settlement offer of its latest reminder in time (the rest
 * is credited as the discount). A case under a promise or a plan tells it (workflow.h). */
int apply_money(engine_t *e, case_row_t *c, const policy_t *pol, int64_t amount, int is_credit, const char *ref,
                const char *caused_by, int64_t now)
{
    char from[32];
    snprintf(from, sizeof(from), "%s", c->state);
    case_state_t held = state_of(c);
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
    int64_t left = total_due(c), discount = 0;
    if (c->offer_until >= 0) {
        if (dn_date_from_ms(now) <= c->offer_until) {
            c->offer_due -= amount;
            if (c->offer_due <= 0 && left > 0)
                discount = left; /* the discounted total is paid, in time */
        }
        if (dn_date_from_ms(now) > c->offer_until || c->offer_due <= 0) {
            c->offer_until = -1; /* used, or expired */
            c->offer_due = 0;
        }
    }
    int settles = !is_resolved(c->state) &&
                  (discount > 0 || dn_rules_settled(left, dn_policy_money_for(&pol->tolerance, c->currency)));
    transition(c, settles ? EV_SETTLED : EV_PARTIAL_PAYMENT);
    const char *reason = NULL;
    if (settles) {
        reason = discount > 0 ? "settled_with_discount"
                 : is_credit  ? "credited"
                 : left > 0   ? "paid_within_tolerance"
                              : "paid";
        if (discount > 0)
            c->credited += discount;               /* the discount is a credit, audited below */
        c->outstanding = c->fee = c->interest = 0; /* a remainder within tolerance is forgiven */
        c->next_stage = 0;
        c->paused_from[0] = c->pause_reason[0] = '\0';
        c->paused_until = -1;
        c->offer_until = -1;
        c->offer_due = 0;
    }
    schedule_next(c, pol, now);
    json_t *detail =
        json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", is_credit ? "credit_id" : "payment_id", ref, "amount_minor",
                  (json_int_t)amount, "to_fees", (json_int_t)a.to_fees, "to_interest", (json_int_t)a.to_interest,
                  "to_principal", (json_int_t)a.to_principal, "overpaid_minor", (json_int_t)a.overpaid);
    if (save_case(e, c, reason, now) < 0 ||
        record(e, c, is_credit ? "credit_applied" : "payment_applied", from, NULL, caused_by, now, detail) < 0)
        return H_DBERR;
    if (discount > 0 && record(e, c, "discount_credited", from, "early-settlement discount", caused_by, now,
                               json_pack("{s:I}", "discount_minor", (json_int_t)discount)) < 0)
        return H_DBERR;
    if (settles && !is_credit && risk_note_paid(e, c, now) < 0) /* the customer's history (risk.h) */
        return H_DBERR;
    if (settles &&
        record(e, c, "resolved", from, reason, caused_by, now,
               left > 0 && discount == 0 ? json_pack("{s:I}", "written_off_minor", (json_int_t)left) : NULL) < 0)
        return H_DBERR;
    if (held == ST_PROMISED || held == ST_ON_PLAN)
        return hold_money(e, c, pol, held, amount, caused_by, now);
    return H_OK;
}

int hold_money(engine_t *e, case_row_t *c, const policy_t *pol, case_state_t held, int64_t amount,
               const char *caused_by, int64_t now)
{
    int settled = is_resolved(c->state);
    if (held == ST_PROMISED)
        return promise_money(e, c, amount, settled, caused_by, now);
    if (held == ST_ON_PLAN)
        return plan_money(e, c, pol, amount, settled, caused_by, now);
    return H_OK;
}

int hold_closed(engine_t *e, const case_row_t *c, case_state_t held, int64_t now)
{
    if (held == ST_ON_PLAN)
        return plan_closed(e, c, now);
    if (held == ST_PROMISED)
        return promise_closed(e, c, now);
    return H_OK;
}
