#!/usr/bin/env bash
# Found by the chaos suite (tests/chaos, scenario baseline):
# 1. A failed charge the billing system reports twice under two event ids (same payment_id
#    and attempt) is one failure: no second retry_failed, no second "update payment method"
#    message.
# 2. A case that starts retrying again after an earlier retry series ended gets new
#    PaymentRetryDue event ids, not those of the first series (which a billing system
#    deduplicating on event id would drop).
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine

for inv in S H R; do
    invoice_json "$inv" "cust-$inv" 4990 2026-03-20 "$inv@example.com" | with_policy card
done | publish invoice-issued
wait_eq 30 "cases open" "H:open R:open S:open" cases_summary

# 1. The same soft decline twice, then the same hard decline twice (new event id each time).
{ failed_json ch-s S cust-S 4990 insufficient_funds 1; failed_json ch-s S cust-S 4990 insufficient_funds 1; } |
    publish payment-failed
{ failed_json ch-h H cust-H 4990 expired_card 1; failed_json ch-h H cust-H 4990 expired_card 1; } |
    publish payment-failed
# 2. R: a first series (retries 03-03, 03-05, 03-07, ends 03-08) ...
failed_json ch-r R cust-R 4990 insufficient_funds 1 | publish payment-failed
wait_eq 30 "S, H and R handled" "H R S" psql_q \
    "SELECT string_agg(DISTINCT invoice_id, ' ') FROM audit
      WHERE tenant_id = '$TENANT' AND kind IN ('retrying', 'hard_decline')"
sleep 1 # a repeat handled as a new failure would show now
assert_eq "opened retrying" "$(audit_trail S)" "audit trail of S (the repeated soft decline)"
assert_eq "opened hard_decline" "$(audit_trail H)" "audit trail of H (the repeated hard decline)"
assert_eq 1 "$(reminders | grep -c '^H,0,update_payment_method,email')" "update-payment-method messages to H"

step 2026-03-03T08:00:00Z
step 2026-03-05T08:00:00Z
step 2026-03-07T08:00:00Z
step 2026-03-08T08:00:00Z
wait_eq 20 "R's first series ended" 1 psql_q \
    "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'R' AND kind = 'retries_exhausted'"
# ... and a second one, started by a new failed charge.
failed_json ch-r2 R cust-R 4990 insufficient_funds 1 | publish payment-failed
wait_eq 20 "R retrying again" "retrying" case_field R state
step 2026-03-09T08:00:00Z
assert_eq 4 "$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'R'
                          AND kind = 'retry_requested'")" "retry requests recorded for R"
assert_eq 4 "$(consume_tenant payment-retry-due | jq -r 'select(.invoice_id == "R") | .event_id' | sort -u | wc -l)" \
    "distinct PaymentRetryDue event ids (3 of the first series, 1 of the second)"
log "PASS"
