#!/usr/bin/env bash
# What the SMTP server answers becomes the reminder's outcome: a rejected mailbox is a
# permanent failure (recorded, published, not retried, not mailed); the next reminder
# in the same partition still goes out.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T00:00:00Z 0
start_service engine dunning-engine
start_service sender sender-email

{
    invoice_json R cust-r 7000 2026-03-03 reject-r@example.com
    invoice_json G cust-r 8000 2026-03-03 good@example.com # same key: same partition, after R
} | publish invoice-issued
wait_eq 30 "two open cases" "G:open R:open" cases_summary
clock_set 2026-03-05T08:00:00Z
wait_eq 20 "G's reminder mailed" 1 mail_count_to good@example.com
wait_eq 20 "two outcomes" 2 eval 'consume_tenant reminder-outcomes | wc -l'

assert_eq "G,delivered
R,failed_permanent" \
    "$(consume_tenant reminder-outcomes | jq -r '[.invoice_id, .outcome] | join(",")' | sort)" "outcomes"
assert_eq "smtp 550" "$(consume_tenant reminder-outcomes | jq -r 'select(.invoice_id == "R") | .reason' | cut -c1-8)" \
    "reason of the rejection"
assert_eq "delivered
failed_permanent" "$(psql_q "SELECT status FROM deliveries WHERE tenant_id = '$TENANT' ORDER BY invoice_id")" \
    "delivery rows (G, R)"
assert_eq 0 "$(mail_count_to reject-r@example.com)" "mails stored for the rejected mailbox"
# Redelivering the rejected reminder does not try the mailbox again.
consume_tenant reminder-due.email | jq -c 'select(.invoice_id == "R")' | publish reminder-due.email
wait_eq 20 "the redelivery seen by the sender" 1 eval 'grep -c "reminder already handled, skipped" "$WORK/sender.log"'
assert_eq 1 "$(psql_q "SELECT count(*) FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = 'R'")" \
    "delivery rows of R after the redelivery"
log "PASS"
