#!/usr/bin/env bash
# A hard decline (lost card) is never retried: the customer is asked to update the
# payment method at once, and dunning goes on as usual.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine

invoice_json H cust-h 4990 2026-03-02 h@example.com | with_policy card | publish invoice-issued
wait_eq 30 "case open" "H:open" cases_summary
failed_json ch-1 H cust-h 4990 lost_card | publish payment-failed
wait_eq 20 "hard decline recorded" 1 audit_count hard_decline
assert_eq "open|stage|2026-03-04 00:00:00+00" "$(case_field H "state || '|' || next_action || '|' || next_action_at")" \
    "H keeps its dunning schedule"
step 2026-03-04T08:00:00Z # first stage

assert_eq "H,0,update_payment_method,email,update_payment_method,4990,0,0,4990
H,1,first_reminder,email,first_reminder,4990,0,0,4990" "$(reminders)" "reminders of H"
assert_eq "" "$(consume_tenant payment-retry-due)" "retry requests"
assert_eq "opened hard_decline reminder_emitted" "$(audit_trail H)" "audit trail of H"
assert_eq lost_card "$(case_field H last_decline_code)" "last decline code"
log "PASS"
