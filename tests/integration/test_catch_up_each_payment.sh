#!/usr/bin/env bash
# Found by the chaos suite (tests/chaos, policy "each"): under catch_up: each, a partial
# payment between two caught-up stages kept the second at its (past) policy time, so it
# fired at once: two reminders within the hour instead of one a day.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-08T08:00:00Z 0 # stages of catch_each (2d, 4d, 6d) all past for 03-01
start_service engine dunning-engine

invoice_json E cust-e 10000 2026-03-01 e@example.com | with_policy catch_each | publish invoice-issued
wait_eq 30 "first stage fired" "1|2026-03-09 08:00:00+00" case_field E "stage || '|' || next_action_at"
clock_set 2026-03-08T09:00:00Z
payment_json pay-1 E cust-e 3000 | publish payment-received
wait_eq 20 "payment applied" 1 audit_count payment_applied
sleep 1 # a stage fired by the payment would show now
assert_eq "1|2026-03-09 08:00:00+00|7000" "$(case_field E "stage || '|' || next_action_at || '|' || outstanding_minor")" \
    "stage, next stage time and outstanding after the payment"
assert_eq 1 "$(audit_count reminder_emitted)" "reminders on 03-08"
step 2026-03-09T08:00:00Z
assert_eq "2|2026-03-10 08:00:00+00" "$(case_field E "stage || '|' || next_action_at")" "second stage a day later"
assert_eq 2 "$(audit_count reminder_emitted)" "reminders by 03-09"
log "PASS"
