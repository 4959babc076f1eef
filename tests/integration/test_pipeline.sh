#!/usr/bin/env bash
# One invoice paid before its due date, one paid after its first reminder, one never
# paid: exactly which reminders are emitted and mailed, at which stage, with which amounts.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T00:00:00Z 0 # frozen: the test moves time itself
start_service engine dunning-engine
start_service sender sender-email

# Due 2026-03-04: first reminder due 03-06, second 03-09 (tests/integration/policy.yaml).
{
    invoice_json A cust-a 10000 2026-03-04 a@example.com
    invoice_json B cust-b 25050 2026-03-04 b@example.com
    invoice_json C cust-c 99999 2026-03-04 c@example.com
} | publish invoice-issued
wait_eq 30 "three open cases" "A:open B:open C:open" cases_summary
# Topics are not ordered against each other: A's payment goes once its invoice is known.
payment_json pay-a A cust-a 10000 | publish payment-received
wait_eq 20 "A resolved" "A:resolved B:open C:open" cases_summary

clock_set 2026-03-06T08:00:00Z
wait_eq 20 "first reminder of B mailed" 1 mail_count_to b@example.com
wait_eq 20 "first reminder of C mailed" 1 mail_count_to c@example.com
# The sender's outcome lands in B's audit trail; wait for it so the trail's order is fixed.
wait_eq 20 "B's delivery recorded" "opened reminder_emitted reminder_delivered" audit_trail B
payment_json pay-b B cust-b 25050 | publish payment-received
wait_eq 20 "B resolved" resolved case_field B state
clock_set 2026-03-09T08:00:00Z
wait_eq 20 "second reminder of C mailed" 2 mail_count_to c@example.com
sleep 1 # anything still in flight would land now
wait_eq 20 "the three deliveries recorded" 3 audit_count reminder_delivered
wait_eq 20 "outbox drained" 0 outbox_empty

assert_eq 0 "$(mail_count_to a@example.com)" "mails for A (paid before due)"
assert_eq 1 "$(mail_count_to b@example.com)" "mails for B (paid after the first reminder)"
assert_eq 2 "$(mail_count_to c@example.com)" "mails for C (never paid)"
assert_eq "resolved|paid|0" "$(case_field A "state || '|' || resolved_reason || '|' || stage")" "case A"
assert_eq "resolved|paid|1" "$(case_field B "state || '|' || resolved_reason || '|' || stage")" "case B"
assert_eq "overdue|2|99999" "$(case_field C "state || '|' || stage || '|' || outstanding_minor")" "case C"

reminders=$(consume_tenant reminder-due.email | jq -r '[.invoice_id, .stage, .stage_name, .days_overdue, .outstanding_minor, .total_due_minor, .currency, .contact.email] | join(",")' | sort -u)
expected="B,1,first_reminder,2,25050,25050,EUR,b@example.com
C,1,first_reminder,2,99999,99999,EUR,c@example.com
C,2,second_reminder,5,99999,99999,EUR,c@example.com"
assert_eq "$expected" "$reminders" "ReminderDue records"

assert_eq "opened payment_applied resolved" \
    "$(psql_q "SELECT string_agg(kind, ' ' ORDER BY id) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'A'")" \
    "audit trail of A"
assert_eq "opened reminder_emitted reminder_delivered payment_applied resolved" \
    "$(psql_q "SELECT string_agg(kind, ' ' ORDER BY id) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'B'")" \
    "audit trail of B"
# Every audit row is also a DunningCaseEvent.
assert_eq "$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT'")" \
    "$(consume_tenant dunning-case-events | jq -r .event_id | sort -u | wc -l)" "case events = audit rows"
assert_eq 3 "$(consume_tenant reminder-outcomes | jq -r 'select(.outcome == "delivered") | .reminder_event_id' | sort -u | wc -l)" \
    "delivered outcomes"
mail=$(grep -l "^To: .*b@example.com" "$DUNNING_MAIL_DIR"/*.eml)
grep -q "N-B" "$mail" || fail "B's mail does not name the invoice number"
grep -q "due on 4 March 2026" "$mail" || fail "B's mail does not show the due date as English writes it"
grep -q "250.50" "$mail" || fail "B's mail does not show the amount 250.50"
log "PASS"
