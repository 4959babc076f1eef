#!/usr/bin/env bash
# The engine's fast path buffers a batch's rows (invoices, cases, payments, audit, outbox)
# and writes them one statement per table; payments that came before their invoice come
# with the batch's lookup. Here: payments waiting for invoices from earlier batches, a
# payment published right before its invoice, a duplicate invoice, a payment for an
# invoice that never comes. The outcome must be what record-by-record handling gives.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T00:00:00Z 0

DUP=$(cat /proc/sys/kernel/random/uuid)
start_service engine dunning-engine
{
    payment_json pay-a1 A cust-a 10000 # A: paid in two parts before it is issued
    payment_json pay-b B cust-b 10000  # B: partly paid before it is issued
    payment_json pay-z Z cust-z 5000   # Z: never issued
} | publish payment-received
# These three wait in the payments table: the invoices' batch finds them with its lookup.
wait_eq 30 "three payments held" 3 audit_count payment_held
# The rest goes out at once, so one batch may hold a payment and its invoice together.
payment_json pay-a2 A cust-a 20000 | publish payment-received
{
    invoice_json A cust-a 30000 2026-03-03 a@example.com
    invoice_json B cust-b 30000 2026-03-03 b@example.com
    invoice_json C cust-c 40000 2026-03-03 c@example.com
    invoice_json C cust-c 40000 2026-03-03 c@example.com "$DUP" # the same invoice under another event id
} | publish invoice-issued
payment_json pay-c C cust-c 15000 | publish payment-received # C: partly paid around its issue

wait_eq 30 "every case as expected" "A:resolved B:open C:open" cases_summary
amounts() { case_field "$1" "state || '|' || paid_minor || '|' || outstanding_minor"; }
wait_eq 20 "C's later payment applied" "open|15000|25000" amounts C
wait_until 20 "the second copy of C consumed (ignored)" \
    "grep '\"invoice already known, ignored\"' '$WORK/engine.log' | grep -q '\"event_id\":\"$DUP\"'"
assert_eq "resolved|30000|0" "$(amounts A)" "A: both early payments applied"
assert_eq "open|10000|20000" "$(amounts B)" "B: the early payment applied"
assert_eq "pay-a1:true pay-a2:true pay-b:true pay-c:true pay-z:false" \
    "$(psql_q "SELECT string_agg(payment_id || ':' || applied, ' ' ORDER BY payment_id) FROM payments WHERE tenant_id = '$TENANT'")" \
    "payments applied (Z's still held)"
count_of() { psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = '$1' AND kind = '$2'"; }
assert_eq "2 1 1" "$(count_of A payment_applied) $(count_of A resolved) $(count_of A opened)" "A's audit: two payments, resolved once, opened once"
assert_eq "1 1" "$(count_of C opened) $(psql_q "SELECT count(*) FROM invoices WHERE tenant_id = '$TENANT' AND invoice_id = 'C'")" \
    "C opened once, one invoice row (the second copy ignored)"
assert_eq "1" "$(count_of Z payment_held)" "Z's payment held"
assert_eq "0" "$(psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = 'Z'")" "no case for Z"
# Timers after COMMIT: none for the resolved case, the first stage's due time for the others.
assert_eq "" "$(timer_of "$(case_field A case_id)")" "A has no timer"
for inv in B C; do
    assert_eq "$(psql_q "SELECT (extract(epoch FROM next_action_at) * 1000)::bigint FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = '$inv'")" \
        "$(timer_of "$(case_field $inv case_id)")" "$inv's timer in Redis = next_action_at"
done
# Every audit row went out as a case event, once.
audit_rows=$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT'")
wait_eq 20 "case events published" "$audit_rows" eval 'consume_tenant dunning-case-events | jq -r .event_id | sort -u | wc -l'
assert_eq "$audit_rows" "$(consume_tenant dunning-case-events | wc -l)" "no case event published twice"
log "PASS"
