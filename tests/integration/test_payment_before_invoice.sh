#!/usr/bin/env bash
# A payment may arrive before its invoice: it is held, then applied when the invoice
# arrives; a full early payment means no dunning at all, a partial one lowers the amount.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T00:00:00Z 0
start_service engine dunning-engine
start_service sender sender-email

{
    payment_json pay-f F cust-f 30000
    payment_json pay-p P cust-p 10000
} | publish payment-received
wait_eq 30 "two payments held" 2 audit_count payment_held
assert_eq 0 "$(psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'")" "cases before the invoices"
# A failed card charge and a dispute can also come before their invoice: held too.
failed_json ch-k K cust-k 5000 insufficient_funds | publish payment-failed
command_json Q cust-q pause dispute | publish case-commands
wait_eq 20 "two more events held" 2 audit_count event_held
{
    invoice_json F cust-f 30000 2026-03-03 f@example.com
    invoice_json P cust-p 30000 2026-03-03 p@example.com
    invoice_json K cust-k 5000 2026-03-03 k@example.com | with_policy card
    invoice_json Q cust-q 5000 2026-03-03 q@example.com
} | publish invoice-issued
wait_eq 20 "F resolved on arrival, P open, K retrying, Q paused" "F:resolved K:retrying P:open Q:paused" cases_summary
assert_eq "event_held opened retrying" "$(audit_trail K)" "audit trail of K"
assert_eq "event_held opened paused" "$(audit_trail Q)" "audit trail of Q"
assert_eq 0 "$(psql_q "SELECT count(*) FROM held_events WHERE tenant_id = '$TENANT'")" "held events left"
assert_eq "open|10000|20000" "$(case_field P "state || '|' || paid_minor || '|' || outstanding_minor")" "P after the early partial payment"
clock_set 2026-03-05T08:00:00Z # first reminders: due 03-03 + 2 days
wait_eq 20 "P's first reminder mailed" 1 mail_count_to p@example.com
sleep 1 # a reminder for F, if one were wrongly scheduled, would land now
assert_eq 0 "$(mail_count_to f@example.com)" "mails for F"
assert_eq "P,1,20000" "$(consume_tenant reminder-due.email | jq -r '[.invoice_id, .stage, .outstanding_minor] | join(",")' | sort -u)" \
    "reminders (P only, with the reduced amount)"
assert_eq "payment_held opened payment_applied resolved" \
    "$(psql_q "SELECT string_agg(kind, ' ' ORDER BY id) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'F'")" \
    "audit trail of F"
log "PASS"
