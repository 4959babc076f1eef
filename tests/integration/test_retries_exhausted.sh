#!/usr/bin/env bash
# When the retries run out the case goes into the overdue stages: at once when the last
# retry's failure is reported (X), or when its result does not come within a day (Y).
# The stage that fell due during the retries is sent then; later ones on schedule. A case
# whose retries end before its due date is overdue: its friendly pre-due reminder, due
# after that, is skipped once (Z), not sent and not retried forever.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine

{
    invoice_json X cust-x 2500 2026-03-02 x@example.com | with_policy card
    invoice_json Y cust-y 2500 2026-03-02 y@example.com | with_policy card
    invoice_json Z cust-z 2500 2026-03-06 z@example.com | with_policy card_pre_due # pre-due 03-05, first 03-08
} | publish invoice-issued
wait_eq 30 "cases open" "X:open Y:open Z:open" cases_summary
{
    failed_json ch-x X cust-x 2500 card_declined
    failed_json ch-y Y cust-y 2500 card_declined
    failed_json ch-z Z cust-z 2500 card_declined
} | publish payment-failed
wait_eq 20 "all retrying" "X:retrying Y:retrying Z:retrying" cases_summary
step 2026-03-03T08:00:00Z # retry 1
step 2026-03-05T08:00:00Z # retry 2; Z: no result a day after its only retry -> overdue
assert_eq "overdue|1|2" "$(case_field Z "state || '|' || stage || '|' || next_stage")" \
    "Z overdue, its pre-due stage skipped"
step 2026-03-07T08:00:00Z # retry 3, the last
failed_json ch-x4 X cust-x 2500 card_declined 4 | publish payment-failed
wait_eq 20 "X exhausted at once" "overdue|stage" case_field X "state || '|' || next_action"
step 2026-03-07T09:00:00Z # X's first stage (due 03-04) is sent now
assert_eq "retrying|retry_result|2026-03-08 08:00:00+00" "$(case_field Y "state || '|' || next_action || '|' || next_action_at")" \
    "Y waits a day for the last retry's result"
step 2026-03-08T08:00:00Z # Y: no result -> exhausted, first stage sent
step 2026-03-12T08:00:00Z # second stage of both (due 03-12)

assert_eq "X,1,first_reminder,email,first_reminder,2500,0,0,2500
X,2,second_reminder,email,second_reminder,2500,0,0,2500
Y,1,first_reminder,email,first_reminder,2500,0,0,2500
Y,2,second_reminder,email,second_reminder,2500,0,0,2500
Z,2,first_reminder,email,first_reminder,2500,0,0,2500" "$(reminders)" "reminders"
assert_eq "opened retrying retry_requested retries_exhausted stage_skipped reminder_emitted" "$(audit_trail Z)" \
    "audit trail of Z"
assert_eq "X,1,3 X,2,3 X,3,3 Y,1,3 Y,2,3 Y,3,3 Z,1,1" \
    "$(consume_tenant payment-retry-due | jq -r '[.invoice_id, .attempt, .max_attempts] | join(",")' | sort | tr '\n' ' ' | sed 's/ $//')" \
    "retry requests (invoice, attempt, of)"
assert_eq "opened retrying retry_requested retry_requested retry_requested retry_failed retries_exhausted reminder_emitted reminder_emitted" \
    "$(audit_trail X)" "audit trail of X"
assert_eq "opened retrying retry_requested retry_requested retry_requested retries_exhausted reminder_emitted reminder_emitted" \
    "$(audit_trail Y)" "audit trail of Y"
assert_eq "2026-03-07T08:00:00.000Z 2026-03-08T08:00:00.000Z" \
    "$(consume_tenant reminder-due.email | jq -r 'select(.stage == 1) | .occurred_at' | sort | tr '\n' ' ' | sed 's/ $//')" \
    "when the first reminders went out"
log "PASS"
