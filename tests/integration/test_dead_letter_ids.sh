#!/usr/bin/env bash
# Found by the chaos suite (tests/chaos, invalid commands): a record that decodes but is
# refused (here invalid_state) is dead-lettered with its tenant, customer and event id, as
# the DeadLetter contract says ("if it could be read"); they were empty.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine

invoice_json D cust-d 5000 2026-03-20 d@example.com | publish invoice-issued
wait_eq 30 "case open" "D:open" cases_summary
eid=$(cat /proc/sys/kernel/random/uuid)
command_json D cust-d resume | jq -c --arg e "$eid" '.event_id = $e' | publish case-commands
wait_until 30 "the resume dead-lettered" '[ -n "$(dead_letters "$TENANT/cust-d")" ]'
assert_eq "invalid_state|$TENANT|cust-d|$eid" \
    "$(dead_letters "$TENANT/cust-d" | jq -r '.value | [.error_code, .tenant_id, .customer_id, .original_event_id] | join("|")')" \
    "dead letter of the refused resume"
log "PASS"
