#!/usr/bin/env bash
# A four-stage policy walked to the collections handover: a friendly reminder before the
# due date, grace days, fees per stage, daily interest, several channels per stage, the
# final notice and the handover; and an invoice below the policy's minimum amount.
# (tests/integration/policy.yaml, policy four_stage: 8 % interest, grace 2 days.)
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-01T08:00:00Z 0
start_service engine dunning-engine

{
    invoice_json W cust-w 100000 2026-03-10 w@example.com | with_policy four_stage | reachable_everywhere
    invoice_json S cust-s 900 2026-03-10 s@example.com | with_policy four_stage # below the 10.00 EUR minimum
    invoice_json F cust-f 100000 2026-03-10 f@example.com | with_policy four_stage # e-mail only: falls back
} | publish invoice-issued
wait_eq 30 "three open cases" "F:open S:open W:open" cases_summary

step 2026-03-08T08:00:00Z # due - 2 days: the friendly reminder
assert_eq "pre_due_reminded|1" "$(case_field W "state || '|' || stage")" "W before its due date"
step 2026-03-11T08:00:00Z # due + 1: inside the grace days, nothing new
assert_eq 2 "$(audit_count reminder_emitted)" "reminders after day 1 of grace (W, F; S was below the minimum)"
assert_eq "open|0|" "$(case_field S "state || '|' || stage || '|' || coalesce(next_action_at::text, '')")" \
    "S stopped below the minimum"
step 2026-03-12T08:00:00Z # due + 2 = end of grace: first reminder, 2 days of interest
step 2026-03-17T08:00:00Z # due + 7: second reminder by e-mail and SMS, fee 5.00
step 2026-03-24T08:00:00Z # due + 14: final notice by e-mail and letter, fee 10.00 + 1 %
assert_eq "final_notice|4" "$(case_field W "state || '|' || stage")" "W after the final notice"
step 2026-04-07T08:00:00Z # due + 28: handed over to collections
step 2026-04-30T08:00:00Z # nothing after the handover

# Interest: 100000 x 8 % / 365 = 21.917808 a day (21917808 millionths), rounded once:
#   2 days 43.8 -> 44; 7 days 153.4 -> 153; 14 days 306.8 -> 307; 28 days 613.7 -> 614.
# Fees: 500 at stage 3; 1000 + 1 % of 100000 = 2000 at stage 4 (2500 owed from then on).
# F has only an e-mail address: SMS and letter are left out, and the letter-only stage 5
# falls back to the first channel of channel_order that reaches F (email).
assert_eq "F,1,friendly_reminder,email,first_reminder,100000,0,0,100000
F,2,first_reminder,email,first_reminder,100000,0,44,100044
F,3,second_reminder,email,second_reminder,100000,500,153,100653
F,4,final_notice,email,final_notice,100000,2500,307,102807
F,5,collections,email,final_notice,100000,2500,614,103114
W,1,friendly_reminder,email,first_reminder,100000,0,0,100000
W,2,first_reminder,email,first_reminder,100000,0,44,100044
W,3,second_reminder,email,second_reminder,100000,500,153,100653
W,3,second_reminder,sms,second_reminder,100000,500,153,100653
W,4,final_notice,email,final_notice,100000,2500,307,102807
W,4,final_notice,letter,final_notice,100000,2500,307,102807
W,5,collections,letter,final_notice,100000,2500,614,103114" "$(reminders)" "reminders of F and W (stage, channel, amounts)"
assert_eq "handed_over|5|2500|614|" \
    "$(case_field W "state || '|' || stage || '|' || fee_minor || '|' || interest_minor || '|' || coalesce(next_action_at::text, '')")" \
    "W handed over, no timer left"
assert_eq "opened reminder_emitted reminder_emitted reminder_emitted reminder_emitted final_notice reminder_emitted collections_handover" \
    "$(audit_trail W)" "audit trail of W"
assert_eq "opened below_minimum" "$(audit_trail S)" "audit trail of S"
assert_eq "open pre_due_reminded overdue overdue final_notice final_notice handed_over handed_over" \
    "$(consume_tenant dunning-case-events | jq -r 'select(.invoice_id == "W") | .to_state' | tr '\n' ' ' | sed 's/ $//')" \
    "case events of W (to_state, in order)"
assert_eq "" "$(timer_of "$(case_field W case_id)")" \
    "timer of W removed from Redis"
log "PASS"
