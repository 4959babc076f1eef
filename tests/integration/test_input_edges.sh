#!/usr/bin/env bash
# Input edges (issue 22), through the real pipeline: (1) a stage before 1970-01-01 was
# accepted and never dunned (a negative time reads as "no timer"), (2) a stage after
# 9999-12-31 became a database_error with SQL text, (3) the dead letter of a too-long
# tenant_id dropped the readable customer_id and event id, (4) blank ids were accepted and
# padded ones kept, so a payment with the trimmed id never met its invoice, (5) XXX was
# called "not an ISO 4217 currency". The accepted ranges and the whitespace rule are in
# docs/contracts.md ("Accepted values"); tests/unit/test_validate.c has the property test.
source "$(dirname "$0")/lib.sh"
reset_state
# Early in 1970, so that an invoice due in the first days of 1970 is not overdue yet.
clock_start 1970-01-02T00:00:00Z 0
start_service engine dunning-engine

K="$TENANT/cust-e"
hexof() { "$BIN/dunningctl" encode InvoiceIssued; }
# inv ID ISSUE DUE [POLICY]: an invoice of cust-e (dates as YYYY-MM-DD or a day number).
inv() {
    invoice_json "$1" cust-e 5000 2026-03-20 e@example.com |
        jq -c --arg i "$2" --arg d "$3" --arg p "${4:-}" '
            .issue_date = ($i | tonumber? // $i) | .due_date = ($d | tonumber? // $d)
            | if $p != "" then .policy = $p else . end'
}
long_tenant=$(printf 'T%.0s' $(seq 1 201))
eid_long=$(cat /proc/sys/kernel/random/uuid)
# Every record on one key (one partition, in order), the valid one last.
{
    inv PRE 1969-11-01 1969-12-01                    # (1) before 1970
    inv OLD 1900-01-01 1900-01-31                    # (1)
    inv EPOCH 1970-01-01 1970-01-01 four_stage       # (1) due in range, its -2d stage is not
    inv FAR 9999-12-01 9999-12-31                    # (2) +2d stage after 9999-12-31
    inv MAXD 0 2147483647                            # (2) the ends of the int range
    inv MIND -2147483648 0                           # (2)
    inv LONGT 2026-03-01 2026-03-20 | jq -c --arg t "$long_tenant" --arg e "$eid_long" '.tenant_id = $t | .event_id = $e'
    inv BLANK 2026-03-01 2026-03-20 | jq -c '.customer_id = "   "'          # (4)
    inv PAD 2026-03-01 2026-03-20 | jq -c '.invoice_id = " INV-W "'          # (4)
    inv XXX 2026-03-01 2026-03-20 | jq -c '.currency = "XXX"'                # (5)
    inv LOW 1970-01-01 1970-01-05                    # (1) accepted: first stage 1970-01-07
} | hexof | publish invoice-issued --raw --key "$K"
wait_eq 30 "the valid invoice after the bad ones has its case" "LOW:open" cases_summary
wait_eq 20 "outbox drained" 0 outbox_empty

# code|reason|tenant_id|customer_id|original_event_id of each dead letter, sorted.
got=$(dead_letters "$K" | jq -r '.value | [.error_code, .reason, .tenant_id, .customer_id // "-",
    (if .original_event_id == $e then "EID" elif .original_event_id then "eid" else "-" end)] | join("|")' \
    --arg e "$eid_long" | sort)
T=$TENANT
expected=$(sort <<EOF
invalid_field|field issue_date: 1969-11-01 is outside 1970-01-01..9999-12-31|$T|cust-e|eid
invalid_field|field issue_date: 1900-01-01 is outside 1970-01-01..9999-12-31|$T|cust-e|eid
invalid_field|field due_date: stage 1 (friendly_reminder) of policy four_stage would fall due at 1969-12-30T00:00:00.000Z, before 1970-01-01T00:00:00.000Z|$T|cust-e|eid
invalid_field|field due_date: stage 1 (first_reminder) of policy two_step would fall due at 253402387200000, after 9999-12-31T23:59:59.999Z|$T|cust-e|eid
invalid_field|field due_date: 2147483647 is outside 1970-01-01..9999-12-31|$T|cust-e|eid
invalid_field|field issue_date: -2147483648 is outside 1970-01-01..9999-12-31|$T|cust-e|eid
invalid_field|field tenant_id: longer than 200 bytes||cust-e|EID
invalid_field|field customer_id: must not be blank|$T|   |eid
invalid_field|field invoice_id: must not start or end with whitespace|$T|cust-e|eid
invalid_field|field currency: 'XXX' is not a currency that can be dunned|$T|cust-e|eid
EOF
)
assert_eq "$expected" "$got" "dead letters: code, reason, tenant, customer and event id of each edge"
assert_eq "LOW" "$(psql_q "SELECT string_agg(invoice_id, ' ') FROM invoices WHERE tenant_id = '$TENANT'")" \
    "invoices stored (only the valid one)"
assert_eq 0 "$(psql_q "SELECT count(*) FROM invoices WHERE tenant_id LIKE 'TTTT%'")" "no invoice of the long tenant"

# (1) The invoice due 1970-01-05 has its case with a timer at due + 2 days (first_reminder),
# in PostgreSQL and in Redis, and is reminded when it falls due.
low=$(case_field LOW case_id)
assert_eq "518400000" "$(case_field LOW "(extract(epoch from next_action_at) * 1000)::bigint")" \
    "LOW's next action in PostgreSQL: 1970-01-07T00:00:00Z"
assert_eq "518400000" "$(timer_of "$low")" "LOW's timer in Redis: 1970-01-07T00:00:00Z"
step 1970-01-07T00:00:00Z
assert_eq "LOW,1,first_reminder,email,first_reminder,5000,0,0,5000" "$(reminders)" "LOW's first reminder"
assert_eq "overdue" "$(case_field LOW state)" "LOW overdue"
assert_eq "777600000" "$(timer_of "$low")" "LOW's next timer in Redis: 1970-01-10T00:00:00Z (second_reminder)"

# (4) The padded invoice was refused, so a payment with the trimmed id waits as a payment
# before its invoice (documented), and meets the invoice once billing sends it trimmed.
payment_json pay-w INV-W cust-e 5000 | publish payment-received
wait_eq 30 "the payment for INV-W stored, not applied" "pay-w:false" psql_q \
    "SELECT payment_id || ':' || applied FROM payments WHERE tenant_id = '$TENANT' AND invoice_id = 'INV-W'"
assert_eq "LOW:overdue" "$(cases_summary)" "no case for INV-W yet"
inv INV-W 1970-01-01 1970-01-20 | publish invoice-issued
wait_eq 30 "INV-W, sent trimmed, resolved by the waiting payment" "INV-W:resolved LOW:overdue" cases_summary
assert_eq "5000" "$(case_field INV-W paid_minor)" "INV-W paid in full"
assert_eq "" "$(timer_of "$(case_field INV-W case_id)")" "no timer for the resolved case"
service_alive engine || fail "the engine died"
log "PASS"
