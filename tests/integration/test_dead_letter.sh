#!/usr/bin/env bash
# Malformed and invalid records go to the dead-letter topic with the reason, and the
# engine keeps running and processing what comes after them.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T00:00:00Z 0
start_service engine dunning-engine

good=$(invoice_json OK cust-1 5000 2026-03-20 ok@example.com | "$BIN/dunningctl" encode InvoiceIssued)
payment_hex=$(payment_json pay-1 OK cust-1 5000 | "$BIN/dunningctl" encode PaymentReceived)
{
    echo "deadbeef"                                  # magic byte is not 0
    echo "0000000063020406"                          # schema id 99 is unknown
    echo "$payment_hex"                              # a PaymentReceived on the invoice topic
    echo "${good:0:$((${#good} - 16))}"              # truncated body
    echo "00"                                        # too short for the framing
} | publish invoice-issued --raw --key "$TENANT/cust-1"
{
    invoice_json NEG cust-1 -5 2026-03-20 neg@example.com
    invoice_json CUR cust-1 5000 2026-03-20 cur@example.com | jq -c '.currency = "XYZ"'
    invoice_json INJ cust-1 5000 2026-03-20 $'evil@example.com\r\nBcc: all@example.com'
} | publish invoice-issued
publish invoice-issued --raw --key "$TENANT/cust-1" <<<"$good"
wait_eq 30 "the valid invoice after the bad ones has its case" open case_field OK state
# Topics are not ordered against each other: the payment goes once its invoice is known.
payment_json pay-usd OK cust-1 5000 USD | publish payment-received
wait_eq 20 "nine dead letters" 9 eval 'dead_letters "$TENANT/cust-1" | wc -l'
service_alive engine || fail "the engine died"

codes=$(dead_letters "$TENANT/cust-1" | jq -r '.value | [.source_topic, .error_code, .service] | join(",")' | sort)
expected="invoice-issued,bad_framing,dunning-engine
invoice-issued,bad_framing,dunning-engine
invoice-issued,decode_error,dunning-engine
invoice-issued,invalid_field,dunning-engine
invoice-issued,invalid_field,dunning-engine
invoice-issued,invalid_field,dunning-engine
invoice-issued,unknown_schema,dunning-engine
invoice-issued,wrong_record_type,dunning-engine
payment-received,currency_mismatch,dunning-engine"
# The first line of the raw batch has magic 0xde, the last is a single byte: both bad_framing.
assert_eq "$expected" "$codes" "dead letters by topic and code"
reasons=$(dead_letters "$TENANT/cust-1" | jq -r .value.reason)
grep -q "field amount_minor: -5 is not a positive amount" <<<"$reasons" || fail "no reason for the negative amount"
grep -q "field currency: 'XYZ' is not a currency that can be dunned" <<<"$reasons" || fail "no reason for the currency"
grep -q "field contact.email: contains a line break" <<<"$reasons" || fail "no reason for the header injection"
grep -q "payment in USD for invoice OK in EUR" <<<"$reasons" || fail "no reason for the currency mismatch"
# The dead letter keeps the original bytes.
assert_eq "3q2+7w==" "$(dead_letters "$TENANT/cust-1" | jq -r 'select(.value.error_code == "bad_framing") | .value.payload' | head -1)" \
    "payload of the first dead letter (base64 of deadbeef)"
assert_eq 1 "$(psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'")" "cases (only the valid invoice)"
assert_eq 0 "$(psql_q "SELECT count(*) FROM payments WHERE tenant_id = '$TENANT'")" "payments (the mismatched one was not kept)"
log "PASS"
