#!/usr/bin/env bash
# Early-settlement discount (issue 17), policy `discount`: the first reminder (due+2d)
# offers 2 % off the principal, fees waived, if the rest is paid within 7 days (by the end
# of 2026-03-12, the day the 7 days from the reminder sent on 2026-03-05 08:00 end). D1 pays the discounted total on the
# last day: settled (reason settled_with_discount, the discount credited). D2 pays the same
# a day late: a partial payment; the rest is dunned at the next stage.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine

invoice_json D1 cust-d1 50000 2026-03-03 d1@example.com | with_policy discount | publish invoice-issued
invoice_json D2 cust-d2 50000 2026-03-03 d2@example.com | with_policy discount | publish invoice-issued
wait_eq 30 "cases open" "D1:open D2:open" cases_summary
step 2026-03-05T08:00:00Z
assert_eq "D1 2026-03-12 1000 49000 20000
D2 2026-03-12 1000 49000 20000" \
    "$(consume_tenant reminder-due.email | jq -r '"\(.invoice_id) \(.discount.pay_by) \(.discount.discount_minor) \(.discount.total_minor) \(.discount.percent_e4)"' | sort)" \
    "the offer in each first reminder"
assert_eq "2026-03-12|49000" "$(case_field D1 "offer_until || '|' || offer_due_minor")" "D1's offer kept on the case"
step 2026-03-12T20:00:00Z
payment_json pay-d1 D1 cust-d1 49000 | publish payment-received
wait_eq 20 "D1 settled with the discount" "resolved|settled_with_discount|0|1000" \
    case_field D1 "state || '|' || resolved_reason || '|' || outstanding_minor || '|' || credited_minor"
step 2026-03-13T08:00:00Z
payment_json pay-d2 D2 cust-d2 49000 | publish payment-received
wait_eq 20 "D2 paid in part" "overdue|1000|" case_field D2 "state || '|' || outstanding_minor || '|' || coalesce(offer_until::text, '')"
step 2026-03-18T08:00:00Z # second_reminder for D2's rest

assert_eq "D1,1,first_reminder,email,first_reminder,50000,0,0,50000
D2,1,first_reminder,email,first_reminder,50000,0,0,50000
D2,2,second_reminder,email,second_reminder,1000,0,0,1000" "$(reminders)" "every reminder"
assert_eq "opened reminder_emitted payment_applied discount_credited resolved" "$(audit_trail D1)" "audit trail of D1"
assert_eq '1000' \
    "$(psql_q "SELECT detail->>'discount_minor' FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'D1' AND kind = 'discount_credited'")" \
    "the discount, audited as a credit"
assert_eq "opened reminder_emitted payment_applied reminder_emitted" "$(audit_trail D2)" "audit trail of D2"
log "PASS"
