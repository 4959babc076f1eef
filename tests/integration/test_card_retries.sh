#!/usr/bin/env bash
# A declined card charge is retried on the policy's schedule (1, 3 and 5 days after the
# first failure) through PaymentRetryDue events; the second retry succeeds and nothing
# more is asked for. Reminders are suspended while retrying.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine

invoice_json R cust-r 4990 2026-03-02 r@example.com | with_policy card | publish invoice-issued
wait_eq 30 "case open" "R:open" cases_summary
failed_json ch-1 R cust-r 4990 insufficient_funds | publish payment-failed
wait_eq 20 "R retrying" "retrying|retry|2026-03-03 08:00:00+00" case_field R "state || '|' || next_action || '|' || next_action_at"
step 2026-03-03T08:00:00Z # retry 1
failed_json ch-2 R cust-r 4990 insufficient_funds 2 | publish payment-failed
wait_eq 20 "retry 1 failed" 1 audit_count retry_failed
step 2026-03-05T08:00:00Z # retry 2 (first stage, due 03-04, is suspended)
assert_eq 0 "$(audit_count reminder_emitted)" "reminders while retrying"
payment_json ch-3 R cust-r 4990 | publish payment-received # retry 2 succeeded
wait_eq 20 "R resolved" "resolved|paid|" case_field R "state || '|' || resolved_reason || '|' || coalesce(next_action_at::text, '')"
step 2026-03-20T08:00:00Z

assert_eq "1,3,4990,insufficient_funds
2,3,4990,insufficient_funds" \
    "$(consume_tenant payment-retry-due | jq -r '[.attempt, .max_attempts, .amount_minor, .last_decline_code] | join(",")')" \
    "retry requests"
assert_eq "opened retrying retry_requested retry_failed retry_requested payment_applied resolved" "$(audit_trail R)" "audit trail of R"
assert_eq "" "$(reminders)" "reminders of R"
log "PASS"
