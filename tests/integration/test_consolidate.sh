#!/usr/bin/env bash
# Consolidated customer notices (issue 17), under the simulated clock with policy
# `consolidated` (consolidate: customer, window 1h; stages at due+2d, +4d with a 5.00 fee):
#   three overdue invoices of one customer give ONE notice on 03-05 listing all three
#   (each at its stage), not three reminders; A2 is paid on 03-06, so the notice of 03-07
#   lists A1 and A3 at their second stage. A3 is paid after the engine emitted that notice
#   but before the sender sent it: the sender's last-mile check takes A3 off the list and
#   the e-mail asks for A1 only. A fourth invoice of another customer under the same policy
#   gets its own notice.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine
start_service sender sender-email

for inv in "A1 cust-a 10000" "A2 cust-a 20000" "A3 cust-a 30000" "B1 cust-b 45000"; do
    set -- $inv
    invoice_json "$1" "$2" "$3" 2026-03-03 "$2@example.com" | with_policy consolidated | publish invoice-issued
done
wait_eq 30 "cases open" "A1:open A2:open A3:open B1:open" cases_summary

step 2026-03-05T12:00:00Z # every first stage: the cases wait for their customer's notice
assert_eq "A1:notice A2:notice A3:notice B1:notice" \
    "$(psql_q "SELECT string_agg(invoice_id || ':' || next_action, ' ' ORDER BY invoice_id) FROM cases WHERE tenant_id = '$TENANT'")" \
    "every case waits for the notice"
step 2026-03-05T13:00:00Z # the notices, a window (1h) later
wait_eq 30 "two notices e-mailed" 2 eval 'ls "$DUNNING_MAIL_DIR"/*.eml 2>/dev/null | wc -l'
assert_eq "cust-a|sent|3 cust-b|sent|1" \
    "$(psql_q "SELECT string_agg(customer_id || '|' || state || '|' || jsonb_array_length(detail->'items'), ' ' ORDER BY customer_id) FROM notices WHERE tenant_id = '$TENANT' AND kind = 'customer_notice'")" \
    "one notice per customer, with its items"
assert_eq "A1:overdue A2:overdue A3:overdue B1:overdue" "$(cases_summary)" "every case took its first stage"
notice_lines() { # the ReminderDue customer notices on the e-mail topic, one line each
    consume_tenant reminder-due.email | jq -r 'select(.notice_kind == "customer_notice") |
        [.customer_id, .occurred_at[0:10], .invoice_id, .stage, .template_key, .total_due_minor,
         ([.items[] | .invoice_id + ":" + (.stage | tostring) + ":" + (.total_due_minor | tostring)] | join(" "))] | join(",")' | sort
}
assert_eq "cust-a,2026-03-05,,1,customer_notice,60000,A1:1:10000 A2:1:20000 A3:1:30000
cust-b,2026-03-05,,1,customer_notice,45000,B1:1:45000" "$(notice_lines)" "the notices of 03-05"
assert_eq "" "$(consume_tenant reminder-due.email | jq -r 'select(.notice_kind == null) | .invoice_id')" \
    "no reminder of a single invoice"
body=$(mail_part cust-a@example.com text) || fail "cust-a's notice"
for want in "- Invoice N-A1, due on 3 March 2026 (2 days overdue): €100.00" \
    "- Invoice N-A2, due on 3 March 2026 (2 days overdue): €200.00" \
    "- Invoice N-A3, due on 3 March 2026 (2 days overdue): €300.00" "Total to pay now: €600.00"; do
    grep -qxF -- "$want" <<<"$body" || fail "cust-a's notice lacks the line '$want': $body"
done
assert_eq "Subject: Statement of your overdue invoices: 3 to pay, €600.00 in total" \
    "Subject: $(mail_part cust-a@example.com subject)" \
    "cust-a's subject"

step 2026-03-06T08:00:00Z
payment_json pay-a2 A2 cust-a 20000 | publish payment-received
wait_eq 20 "A2 paid" "A1:overdue A2:resolved A3:overdue B1:overdue" cases_summary

# The sender stops; the engine emits the notice of 03-07; A3 is paid before it is sent.
stop_service sender
rm -f "$DUNNING_MAIL_DIR"/*.eml
step 2026-03-07T12:00:00Z
step 2026-03-07T13:00:00Z
assert_eq "cust-a,2026-03-05,,1,customer_notice,60000,A1:1:10000 A2:1:20000 A3:1:30000
cust-a,2026-03-07,,2,customer_notice,41000,A1:2:10500 A3:2:30500
cust-b,2026-03-05,,1,customer_notice,45000,B1:1:45000
cust-b,2026-03-07,,2,customer_notice,45500,B1:2:45500" "$(notice_lines)" "the notices of 03-07 as the engine emitted them"
payment_json pay-a3 A3 cust-a 30500 | publish payment-received
wait_eq 20 "A3 paid" "A1:overdue A2:resolved A3:resolved B1:overdue" cases_summary
start_service sender sender-email
wait_eq 30 "the notices of 03-07 e-mailed" 2 eval 'ls "$DUNNING_MAIL_DIR"/*.eml 2>/dev/null | wc -l'
body=$(mail_part cust-a@example.com text) || fail "cust-a's second notice"
grep -qxF -- "- Invoice N-A1, due on 3 March 2026 (4 days overdue): €105.00" <<<"$body" || fail "A1 not listed: $body"
grep -qxF -- "Total to pay now: €105.00" <<<"$body" || fail "the total is not A1's alone: $body"
grep -q "N-A3\|N-A2" <<<"$body" && fail "a paid invoice is listed: $body"
grep -qxF -- "Total to pay now: €455.00" <<<"$(mail_part cust-b@example.com text)" ||
    fail "cust-b's second notice: $(mail_part cust-b@example.com text)"
assert_eq "delivered:4" "$(psql_q "SELECT string_agg(status || ':' || n, ' ') FROM (SELECT status, count(*) AS n FROM deliveries WHERE tenant_id = '$TENANT' GROUP BY status) s")" \
    "four notices delivered, nothing suppressed"
assert_eq "A1:2:500 A2:1:0 A3:2:0 B1:2:500" \
    "$(psql_q "SELECT string_agg(invoice_id || ':' || stage || ':' || fee_minor, ' ' ORDER BY invoice_id) FROM cases WHERE tenant_id = '$TENANT'")" \
    "each case's stage and the fee it still owes (A3 paid its fee)"
assert_eq "opened reminder_emitted reminder_emitted" "$(audit_trail A1 | tr ' ' '\n' | grep -v '^delivery\|^notice' | tr '\n' ' ' | sed 's/ $//')" \
    "A1's stages in its audit trail"
log "PASS"
