#!/usr/bin/env bash
# Instalment plans (issue 17), under the simulated clock with policy `workflow` (stages at
# due+2d, +10d with a 5.00 fee, +20d final notice; plan fee 3.00, no plan interest,
# tolerance 3 days, on_break: resume, auto-approval up to 3 instalments; the plan's own
# reminders 3 days before each instalment and 1 day after it):
#   L1 a 3-instalment plan paid on time: resolved, and only the plan's reminders were sent.
#   L2 instalment 2 missed: the plan breaks the day after due + 3 days, and the remaining
#      balance goes back to the invoice's dunning at the stage it held, at once; the stage
#      after it keeps its spacing.
#   L3 a 4-instalment request from the portal waits for a collector; dunning goes on.
# Bad plans (not adding up, in the past, one instalment, for a resolved case) are dead
# letters with the reason and change nothing.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine

for inv in "L1 cust-l" "L2 cust-m" "L3 cust-n"; do
    set -- $inv
    invoice_json "$1" "$2" 90000 2026-03-03 "$2@example.com" | with_policy workflow | publish invoice-issued
done
wait_eq 30 "cases open" "L1:open L2:open L3:open" cases_summary
step 2026-03-05T08:00:00Z # first_reminder for all three
plan_json L1 cust-l collector 30300@2026-03-15 30000@2026-04-14 30000@2026-05-14 | publish case-commands
plan_json L2 cust-m portal 30300@2026-03-15 30000@2026-04-14 30000@2026-05-14 | publish case-commands
plan_json L3 cust-n collector 30000@2026-03-15 30000@2026-04-14 30000@2026-05-14 | publish case-commands # 90000 of 90300
plan_json L3 cust-n collector 45300@2026-03-01 45000@2026-03-30 | publish case-commands             # in the past
plan_json L3 cust-n collector 90300@2026-03-15 | publish case-commands                               # one instalment
plan_json L3 cust-n portal 22575@2026-03-20 22575@2026-04-19 22575@2026-05-19 22575@2026-06-18 | publish case-commands
wait_eq 20 "plans agreed" "L1:on_plan L2:on_plan L3:overdue" cases_summary
wait_eq 20 "L3's request recorded" 1 audit_count plan_requested
assert_eq "on_plan|overdue|instalment_plan|plan|2026-03-12 00:00:00+00|90000|300" \
    "$(case_field L1 "state || '|' || paused_from || '|' || pause_reason || '|' || next_action || '|' || next_action_at || '|' || outstanding_minor || '|' || fee_minor")" \
    "L1 on its plan, the plan fee added, the first instalment's reminder next"

for day in 2026-03-12 2026-03-13; do step "${day}T08:00:00Z"; done
step 2026-03-15T08:00:00Z
payment_json pay-l1-1 L1 cust-l 30300 | publish payment-received
payment_json pay-l2-1 L2 cust-m 30300 | publish payment-received
wait_eq 20 "instalment 1 paid twice" 2 audit_count instalment_paid
for day in 2026-03-23 2026-04-11; do step "${day}T08:00:00Z"; done
step 2026-04-14T08:00:00Z
payment_json pay-l1-2 L1 cust-l 30000 | publish payment-received
wait_eq 20 "L1 instalment 2 paid" 3 audit_count instalment_paid
for day in 2026-04-15 2026-04-18 2026-04-28 2026-05-11; do step "${day}T08:00:00Z"; done
step 2026-05-14T08:00:00Z
payment_json pay-l1-3 L1 cust-l 30000 | publish payment-received
wait_eq 20 "L1 paid off" "L1:resolved L2:final_notice L3:final_notice" cases_summary
plan_json L1 cust-l collector 100@2026-05-20 100@2026-05-30 | publish case-commands # resolved

assert_eq "L1,1,first_reminder,email,first_reminder,90000,0,0,90000
L1,1,instalment_due,email,instalment_due,30000,0,0,30000
L1,1,instalment_due,email,instalment_due,60000,0,0,60000
L1,1,instalment_due,email,instalment_due,90000,300,0,90300
L2,1,first_reminder,email,first_reminder,90000,0,0,90000
L2,1,instalment_due,email,instalment_due,60000,0,0,60000
L2,1,instalment_due,email,instalment_due,90000,300,0,90300
L2,2,instalment_missed,email,instalment_missed,60000,0,0,60000
L2,2,second_reminder,email,second_reminder,60000,500,0,60500
L2,3,final_notice,email,final_notice,60000,500,0,60500
L3,1,first_reminder,email,first_reminder,90000,0,0,90000
L3,2,second_reminder,email,second_reminder,90000,500,0,90500
L3,3,final_notice,email,final_notice,90000,500,0,90500" "$(reminders)" "every reminder"
assert_eq "L1 1/3 30300 2026-03-12
L1 2/3 30000 2026-04-11
L1 3/3 30000 2026-05-11
L2 1/3 30300 2026-03-12
L2 2/3 30000 2026-04-11
L2 2/3 30000 2026-04-15" \
    "$(consume_tenant reminder-due.email | jq -r 'select(.notice_kind == "instalment") | "\(.invoice_id) \(.instalment.number)/\(.instalment.count) \(.instalment.amount_minor) \(.occurred_at[0:10])"' | sort)" \
    "the plans' reminders: which instalment, when"
assert_eq "2026-04-18 2026-04-28" \
    "$(consume_tenant reminder-due.email | jq -r 'select(.invoice_id == "L2" and (.notice_kind // "") == "" and .stage > 1) | .occurred_at[0:10]' | sort | tr '\n' ' ' | sed 's/ $//')" \
    "L2 dunned again from the break, the final notice 10 days later"
assert_eq "opened reminder_emitted plan_agreed instalment_reminder_emitted payment_applied instalment_paid instalment_reminder_emitted payment_applied instalment_paid instalment_reminder_emitted payment_applied resolved plan_completed" \
    "$(audit_trail L1)" "audit trail of L1"
assert_eq "opened reminder_emitted plan_agreed instalment_reminder_emitted payment_applied instalment_paid instalment_reminder_emitted instalment_reminder_emitted plan_broken reminder_emitted reminder_emitted final_notice" \
    "$(audit_trail L2)" "audit trail of L2"
assert_eq "L1|completed|90300|3 L2|broken|90300|3 L3|pending|90300|4" \
    "$(psql_q "SELECT string_agg(p.invoice_id || '|' || p.state || '|' || p.total_minor || '|' || (SELECT count(*) FROM plan_instalments i WHERE i.plan_id = p.plan_id), ' ' ORDER BY p.invoice_id) FROM plans p WHERE p.tenant_id = '$TENANT'")" \
    "plans"
assert_eq "30300|30300 30000|0 30000|0" \
    "$(psql_q "SELECT string_agg(i.amount_minor || '|' || i.paid_minor, ' ' ORDER BY i.number) FROM plan_instalments i JOIN plans p USING (plan_id) WHERE p.tenant_id = '$TENANT' AND p.invoice_id = 'L2'")" \
    "L2's instalments"
assert_eq "cust-l|1|0 cust-m|0|1" \
    "$(psql_q "SELECT string_agg(customer_id || '|' || plans_completed || '|' || plans_broken, ' ' ORDER BY customer_id) FROM customer_behaviour WHERE tenant_id = '$TENANT'")" \
    "the customers' record of plans"
wait_eq 20 "dead letters of L3" 3 eval 'dead_letters "$TENANT/cust-n" | wc -l'
assert_eq "invalid_field field instalments: a plan needs at least 2 instalments, got 1
invalid_field field instalments: they add up to 90000, the plan must pay 90300 (owed 90000 + plan fee 300 + plan interest 0)
invalid_field field instalments[0].due_date: 2026-03-01 is in the past" \
    "$(dead_letter_reasons "$TENANT/cust-n")" "L3's bad plans"
wait_eq 20 "dead letter of L1" 1 eval 'dead_letters "$TENANT/cust-l" | wc -l'
assert_eq "invalid_state cannot agree an instalment plan for the case of invoice L1: it is resolved" \
    "$(dead_letter_reasons "$TENANT/cust-l")" "a plan for a paid invoice"
log "PASS"
