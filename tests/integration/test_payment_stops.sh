#!/usr/bin/env bash
# A payment after the second stage stops everything: no later stage, no timer, no mail.
# It leaves 0.46 EUR of interest unpaid, within the policy's 0.50 EUR tolerance.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-01T08:00:00Z 0
start_service engine dunning-engine
start_service sender sender-email

invoice_json T cust-t 100000 2026-03-10 t@example.com | with_policy four_stage | publish invoice-issued
wait_eq 30 "case open" "T:open" cases_summary
step 2026-03-08T08:00:00Z # stage 1 (friendly)
# The sender's outcome lands in the audit trail; wait for it so the trail's order is fixed.
wait_eq 20 "stage 1 delivered" 1 audit_count reminder_delivered
step 2026-03-12T08:00:00Z # stage 2 (first reminder)
wait_eq 20 "two mails" 2 mail_count_to t@example.com
wait_eq 20 "stage 2 delivered" 2 audit_count reminder_delivered
clock_set 2026-03-13T08:00:00Z
# Owed on 03-13: 100000 principal + 3 days of interest (65.75 -> 66). Paying 100020
# leaves 46, within the tolerance of 50.
payment_json pay-t T cust-t 100020 | publish payment-received
wait_eq 20 "T resolved" "resolved|paid_within_tolerance" case_field T "state || '|' || resolved_reason"
step 2026-03-17T08:00:00Z # stage 3 would have been due
step 2026-04-30T08:00:00Z # and everything after it
sleep 1

assert_eq "T,1,friendly_reminder,email,first_reminder,100000,0,0,100000
T,2,first_reminder,email,first_reminder,100000,0,44,100044" "$(reminders)" "reminders of T"
assert_eq 2 "$(mail_count_to t@example.com)" "mails for T"
assert_eq "0|0|0|" "$(case_field T "outstanding_minor || '|' || fee_minor || '|' || interest_minor || '|' || coalesce(next_action_at::text, '')")" \
    "nothing owed, no timer"
assert_eq "opened reminder_emitted reminder_delivered reminder_emitted reminder_delivered payment_applied resolved" \
    "$(audit_trail T)" "audit trail of T"
assert_eq "100020|0|66|99954|0" \
    "$(psql_q "SELECT concat_ws('|', detail->>'amount_minor', detail->>'to_fees', detail->>'to_interest', detail->>'to_principal', detail->>'overpaid_minor') FROM audit WHERE tenant_id = '$TENANT' AND kind = 'payment_applied'")" \
    "allocation of the payment (amount, fees, interest, principal, overpaid)"
assert_eq "paid_within_tolerance|46" \
    "$(psql_q "SELECT concat_ws('|', detail->>'reason', detail->>'written_off_minor') FROM audit WHERE tenant_id = '$TENANT' AND kind = 'resolved'")" \
    "what the tolerance forgave"
log "PASS"
