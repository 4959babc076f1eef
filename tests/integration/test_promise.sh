#!/usr/bin/env bash
# Promises to pay (issue 17), under the simulated clock with policy `workflow` (stages at
# due+2d, +10d with a 5.00 fee, +20d; promise grace 2d, max_days 20, max_per_case 2):
#   P1 promise kept: paid in full before the date; resolved, no further reminder.
#   P2 promise broken: nothing paid; the day after date+grace the hold ends and the next
#      stage fires at once (03-12 instead of 03-13).
#   P3 partially kept: a part paid; it resumes as P2 does, on the rest; a second promise
#      is taken, a third is over the policy's limit.
#   S1+S2 one promise for all of a customer's invoices: kept when the payments on both add
#      up to it; S2's rest is dunned at its next stage's own time.
# Bad promises (in the past, too far ahead, on a resolved case, without an amount) are dead
# letters with the reason and change nothing.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine

for inv in "P1 cust-p 50000" "P2 cust-q 40000" "P3 cust-r 30000" "S1 cust-s 20000" "S2 cust-s 30000"; do
    set -- $inv
    invoice_json "$1" "$2" "$3" 2026-03-03 "$2@example.com" | with_policy workflow | publish invoice-issued
done
wait_eq 30 "cases open" "P1:open P2:open P3:open S1:open S2:open" cases_summary
step 2026-03-05T08:00:00Z # first_reminder for all five
promise_json P1 cust-p 50000 2026-03-10 | publish case-commands
promise_json P2 cust-q 40000 2026-03-09 | publish case-commands
promise_json P3 cust-r 30000 2026-03-09 | publish case-commands
promise_json S1 cust-s 40000 2026-03-10 customer | publish case-commands
wait_eq 20 "all promised" "P1:promised P2:promised P3:promised S1:promised S2:promised" cases_summary
assert_eq "promised|overdue|promise_to_pay|2026-03-12|promise|2026-03-13 00:00:00+00" \
    "$(case_field P1 "state || '|' || paused_from || '|' || pause_reason || '|' || paused_until || '|' || next_action || '|' || next_action_at")" \
    "P1 held until the promised date + 2 days"
promise_json P1 cust-p 50000 2026-03-01 | publish case-commands # in the past
promise_json P2 cust-q 40000 2026-03-30 | publish case-commands # more than 20 days ahead
promise_json P2 cust-q 40000 2026-03-09 | jq -c 'del(.amount_minor)' | publish case-commands

step 2026-03-08T08:00:00Z
payment_json pay-p1 P1 cust-p 50000 | publish payment-received
payment_json pay-p3 P3 cust-r 10000 | publish payment-received
payment_json pay-s1 S1 cust-s 20000 | publish payment-received
wait_eq 20 "P1 and S1 paid" "P1:resolved P2:promised P3:promised S1:resolved S2:promised" cases_summary
assert_eq "open" "$(psql_q "SELECT state FROM promises WHERE tenant_id = '$TENANT' AND customer_id = 'cust-s'")" \
    "the customer's promise is open at 20000 of 40000"
payment_json pay-s2 S2 cust-s 20000 | publish payment-received
wait_eq 20 "S2 back to dunning" "overdue|1|2026-03-13 00:00:00+00" case_field S2 "state || '|' || stage || '|' || next_action_at"
promise_json P1 cust-p 10000 2026-03-10 | publish case-commands # P1 is resolved

step 2026-03-12T08:00:00Z # P2, P3: the day after 03-09 + 2 days
assert_eq "P1:resolved P2:overdue P3:overdue S1:resolved S2:overdue" "$(cases_summary)" "states after the promises' dates"
promise_json P3 cust-r 20000 2026-03-20 | publish case-commands # the second promise for P3
wait_eq 20 "P3 promised again" "promised|2026-03-22" case_field P3 "state || '|' || paused_until"
promise_json P3 cust-r 20000 2026-03-21 | publish case-commands # a third: over max_per_case
step 2026-03-13T08:00:00Z # S2's second_reminder at its own time

assert_eq "P1,1,first_reminder,email,first_reminder,50000,0,0,50000
P2,1,first_reminder,email,first_reminder,40000,0,0,40000
P2,2,second_reminder,email,second_reminder,40000,500,0,40500
P3,1,first_reminder,email,first_reminder,30000,0,0,30000
P3,2,second_reminder,email,second_reminder,20000,500,0,20500
S1,1,first_reminder,email,first_reminder,20000,0,0,20000
S2,1,first_reminder,email,first_reminder,30000,0,0,30000
S2,2,second_reminder,email,second_reminder,10000,500,0,10500" "$(reminders)" "every reminder"
assert_eq "2026-03-12" "$(consume_tenant reminder-due.email | jq -r 'select(.invoice_id == "P2" and .stage == 2) | .occurred_at[0:10]')" \
    "P2's second reminder the day after date + grace"
assert_eq "opened reminder_emitted promise_made payment_applied resolved promise_kept" "$(audit_trail P1)" "audit trail of P1"
assert_eq "opened reminder_emitted promise_made promise_broken reminder_emitted" "$(audit_trail P2)" "audit trail of P2"
assert_eq "opened reminder_emitted promise_made payment_applied promise_partially_kept reminder_emitted promise_made" \
    "$(audit_trail P3)" "audit trail of P3"
assert_eq "opened reminder_emitted promise_made payment_applied promise_kept reminder_emitted" "$(audit_trail S2)" "audit trail of S2"
assert_eq "P1|invoice|kept|50000|50000|1
P2|invoice|broken|40000|0|1
P3|invoice|partially_kept|30000|10000|1
P3|invoice|open|20000|0|1
S1|customer|kept|40000|40000|1" \
    "$(psql_q "SELECT invoice_id || '|' || scope || '|' || state || '|' || amount_minor || '|' || paid_minor || '|' || level FROM promises WHERE tenant_id = '$TENANT' ORDER BY invoice_id, made_at")" \
    "promises with their fate"
assert_eq "2" "$(psql_q "SELECT count(*) FROM promise_cases pc JOIN promises p USING (promise_id) WHERE p.tenant_id = '$TENANT' AND p.scope = 'customer'")" \
    "the customer's promise covers both invoices"
assert_eq "cust-p|1|0|0 cust-q|0|0|1 cust-r|0|1|0 cust-s|1|0|0" \
    "$(psql_q "SELECT string_agg(customer_id || '|' || promises_kept || '|' || promises_partially_kept || '|' || promises_broken, ' ' ORDER BY customer_id) FROM customer_behaviour WHERE tenant_id = '$TENANT'")" \
    "the customers' record of promises"
wait_eq 20 "dead letters of P1" 2 eval 'dead_letters "$TENANT/cust-p" | wc -l'
assert_eq "invalid_field field promise_date: 2026-03-01 is in the past (today is 2026-03-05)
invalid_state cannot take a promise to pay for the case of invoice P1: it is resolved" \
    "$(dead_letter_reasons "$TENANT/cust-p")" "P1's bad promises"
assert_eq "invalid_field field amount_minor: a promise needs the positive amount promised
policy_limit field promise_date: 2026-03-30 is more than 20 days after today (2026-03-05), the policy's promise.max_days" \
    "$(dead_letter_reasons "$TENANT/cust-q")" "P2's bad promises"
assert_eq "policy_limit the case of invoice P3 has had 2 promises to pay, the policy allows 2 (promise.max_per_case)" \
    "$(dead_letter_reasons "$TENANT/cust-r")" "P3's third promise"
log "PASS"
