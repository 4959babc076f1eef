#!/usr/bin/env bash
# sender-letter: the final notice of policy four_stage (e-mail + letter) becomes exactly one
# print-ready PDF in the spool folder, with its manifest line, a delivered deliveries row and
# a ReminderOutcome on channel letter; a redelivered reminder writes nothing new; a reminder
# for a customer without a postal address fails permanently; a reminder for a paid case is
# suppressed by the last-mile check and writes no file. A replay after a simulated crash
# between the file and the outcome rewrites the same file. (tests/integration/policy.yaml)
# The operations endpoint: /healthz, /readyz (kafka, postgres, spool; 503 while the spool
# folder is gone) and /metrics, whose counters say exactly what the test did (changes from
# a baseline taken once the sender has worked off other tests' records).
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is not installed (scripts/deps)"
reset_state
clock_start 2026-03-01T08:00:00Z 0
SPOOL=$WORK/spool
export DUNNING_LETTER_SPOOL_DIR=$SPOOL
start_service engine dunning-engine
start_service letter sender-letter "DUNNING_LETTER_FROM_NAME=Beispiel AG" \
    "DUNNING_LETTER_FROM_ADDRESS=Musterweg 5; 10115 Berlin" "DUNNING_LETTER_PAYMENT_DETAILS=IBAN DE02 1203 0000 0000 2020 51" \
    DUNNING_HTTP_ADDR=127.0.0.1:0 DUNNING_HTTP_ADDR_FILE="$WORK/letter.addr" DUNNING_METRICS_INTERVAL=200ms

# The operations endpoint.
wait_until 20 "the sender's address file" '[ -s "$WORK/letter.addr" ]'
HTTP=$(cat "$WORK/letter.addr")
grep -q "\"msg\":\"http listening\",\"addr\":\"$HTTP\"" "$WORK/letter.log" || fail "the sender did not log its address"
# code URL [CURL ARGS...]: the HTTP status.
code() { curl -s -o /dev/null -w '%{http_code}' "${@:2}" "$1"; }
# value FILE 'NAME{LABELS}': the sample's value in a saved scrape, 0 when absent.
value() { awk -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? 0 : v) }' "$1"; }
# metric 'NAME{LABELS}': the current value.
metric() {
    local f
    f=$(mktemp "$WORK/scrape.XXXXXX")
    curl -sf "http://$HTTP/metrics" >"$f" && value "$f" "$1"
    rm -f "$f"
}
# delta 'NAME{LABELS}': the change since the baseline.
delta() {
    local now
    now=$(metric "$1")
    awk -v a="$now" -v b="$(value "$WORK/letter.base" "$1")" 'BEGIN { print a - b }'
}
assert_eq 200 "$(code "http://$HTTP/healthz")" "/healthz"
assert_eq ok "$(curl -sf "http://$HTTP/healthz")" "/healthz body"
wait_eq 20 "sender ready" 200 code "http://$HTTP/readyz"
assert_eq ready "$(curl -sf "http://$HTTP/readyz")" "/readyz body"
assert_eq 404 "$(code "http://$HTTP/nope")" "/nope"
assert_eq 405 "$(code "http://$HTTP/metrics" -X POST -d x=1)" "POST /metrics"

# Settled: partitions assigned, the record counters stay put for three scrapes a second
# apart and the consumer does not lag. Then the baseline.
wait_until 30 "the sender's partitions" 'grep -q "\"partitions assigned\"" "$WORK/letter.log"'
same=0 previous=
for _ in $(seq 1 60); do
    current=$(curl -sf "http://$HTTP/metrics" | grep -E '^dunning_(events_consumed_total|deliveries_total|consumer_lag)\{') ||
        true
    if [ -n "$current" ] && [ "$current" = "$previous" ] &&
        ! grep -q '^dunning_consumer_lag{.*} [1-9]' <<<"$current"; then
        same=$((same + 1))
        [ $same -ge 2 ] && break
    else
        same=0
    fi
    previous=$current
    sleep 1
done
[ $same -ge 2 ] || fail "the sender did not settle"
curl -sf "http://$HTTP/metrics" >"$WORK/letter.base"

{
    invoice_json W cust-w 100000 2026-03-10 w@example.com | with_policy four_stage | reachable_everywhere |
        jq -c '.contact.name = "Jürgen Weiß GmbH" | .payment_link = "https://pay.example.com/i/W" |
               .contact.address = {line1: "Hohe Straße 12", line2: "c/o Łukasz Kowalski", postal_code: "50667",
                                   city: "Köln", country: "DE"}'
    invoice_json N cust-n 100000 2026-03-10 n@example.com | with_policy four_stage # no postal address
} | publish invoice-issued
wait_eq 30 "two open cases" "N:open W:open" cases_summary

step 2026-03-08T08:00:00Z # friendly reminder
step 2026-03-12T08:00:00Z # first reminder
step 2026-03-17T08:00:00Z # second reminder
step 2026-03-24T08:00:00Z # final notice: e-mail and letter (W); e-mail only (N)

letter_of() { consume_tenant reminder-due.letter | jq -c --arg i "$1" 'select(.invoice_id == $i)'; }
assert_eq "W,4,final_notice,final_notice,100000,2500,307,102807" \
    "$(consume_tenant reminder-due.letter | jq -r '[.invoice_id, .stage, .stage_name, .template_key,
        .outstanding_minor, .fee_minor, .interest_minor, .total_due_minor] | join(",")')" "the one letter reminder"
EID=$(letter_of W | jq -r .event_id)
PDF=letter-$EID.pdf
delivery() { psql_q "SELECT status || '|' || channel || '|' || attempts || '|' || coalesce(provider_message_id, '') || '|' || coalesce(last_error, '') FROM deliveries WHERE event_id = '$1'"; }
wait_eq 30 "W's letter spooled" "delivered|letter|1|$PDF|" delivery "$EID"

# The spool: this tenant has exactly one letter, the PDF of that event; no temporary file is
# left, and every PDF has its manifest line. (The sender also works the letter reminders of
# other tenants still on the topic: the checks count this tenant's.)
mine() { jq -r --arg t "$TENANT" 'select(.tenant_id == $t) | .file' "$SPOOL/manifest.jsonl" | tr '\n' ' ' | sed 's/ $//'; }
spool_ok() {
    [ -z "$(ls -A "$SPOOL" | grep '^\.')" ] || fail "temporary files left in the spool: $(ls -A "$SPOOL")"
    assert_eq "$(wc -l <"$SPOOL/manifest.jsonl")" "$(ls "$SPOOL" | grep -c '\.pdf$')" "PDFs in the spool = manifest lines"
    assert_eq "$PDF" "$(mine)" "this tenant's letters in the manifest$1"
    [ -f "$SPOOL/$PDF" ] || fail "$PDF is not in the spool"
}
spool_ok ""
assert_eq 1 "$(pdfinfo "$SPOOL/$PDF" | awk '/^Pages:/ {print $2}')" "pages of the PDF"
TEXT=$(pdftotext "$SPOOL/$PDF" -)
for s in "Jürgen Weiß GmbH" "Hohe Straße 12" "c/o Łukasz Kowalski" "50667 Köln" "Beispiel AG · Musterweg 5 · 10115 Berlin" \
    "24 March 2026" "Final notice: invoice N-W" "Dear Jürgen Weiß GmbH," "Invoice N-W" "1 Mar 2026" "10 Mar 2026" \
    "€1,000.00" "€25.00" "€3.07" "€1,028.07" "Total due" "Reference: N-W" "IBAN DE02 1203 0000 0000 2020 51" \
    "Pay online: https://pay.example.com/i/W" "Page 1 of 1"; do
    grep -qF -- "$s" <<<"$TEXT" || fail "the PDF does not show '$s'; its text: $TEXT"
done
log "ok: the PDF shows the address, the invoice number, the amounts and 'Page 1 of 1'"
grep -q "GERMANY" <<<"$TEXT" && fail "a domestic letter shows a country line"
assert_eq "$EID|$TENANT|W|N-W|$(case_field W case_id)|$PDF|1|DE|2026-03-24T08:00:00.000Z" \
    "$(jq -r --arg t "$TENANT" 'select(.tenant_id == $t) | [.event_id, .tenant_id, .invoice_id, .invoice_number,
        .case_id, .file, .pages, .country, .created_at] | join("|")' "$SPOOL/manifest.jsonl")" \
    "the manifest line of this letter"
outcomes() {
    consume_tenant reminder-outcomes | jq -r 'select(.channel == "letter") |
        [.invoice_id, .outcome, (.reason // ""), (.provider_message_id // "")] | join(",")' | sort
}
wait_eq 20 "W's outcome published" "W,delivered,,$PDF" outcomes

# Redelivery: skipped, nothing rendered or written again.
SUM=$(md5sum <"$SPOOL/$PDF")
letter_of W | publish reminder-due.letter
wait_eq 20 "the redelivery seen by the sender" 1 eval 'grep "reminder already handled, skipped" "$WORK/letter.log" | grep -c "$EID"'
spool_ok " after the redelivery"
assert_eq "$SUM" "$(md5sum <"$SPOOL/$PDF")" "the PDF after the redelivery (not rewritten)"
assert_eq "delivered|letter|1|$PDF|" "$(delivery "$EID")" "W's delivery row after the redelivery"

# The crash window: as if the process had died after writing the file but before recording
# the outcome (row still 'attempting', offset not committed). The record comes back: the
# same file is written again (same name, same content: the clock stands still) and the
# manifest keeps its one line.
psql_q "UPDATE deliveries SET status = 'attempting' WHERE event_id = '$EID'"
letter_of W | head -n 1 | publish reminder-due.letter
wait_eq 20 "W's letter written again" "delivered|letter|2|$PDF|" delivery "$EID"
assert_eq 1 "$(grep "previous attempt did not finish; writing the letter again" "$WORK/letter.log" | grep -c "$EID")" \
    "warnings about the unfinished attempt"
spool_ok " after the replay"
assert_eq "$SUM" "$(md5sum <"$SPOOL/$PDF")" "the PDF after the replay (the same letter)"

# A customer without a postal address: N's final notice, as a letter (published by hand).
NEID=$(cat /proc/sys/kernel/random/uuid)
consume_tenant reminder-due.email | jq -c --arg e "$NEID" 'select(.invoice_id == "N" and .stage == 4) |
    .channel = "letter" | .event_id = $e' | publish reminder-due.letter
wait_eq 20 "N's letter failed" "failed_permanent|letter|1||no postal address" delivery "$NEID"

# A paid case: W is paid in full, then a reminder for it arrives (published by hand).
payment_json PAY-W W cust-w 102807 | publish payment-received
wait_eq 20 "W resolved" "N:final_notice W:resolved" cases_summary
PEID=$(cat /proc/sys/kernel/random/uuid)
letter_of W | head -n 1 | jq -c --arg e "$PEID" '.event_id = $e | .stage = 5 | .stage_name = "collections"' |
    publish reminder-due.letter
wait_eq 20 "the paid case's letter suppressed" "suppressed|letter|1||case resolved (paid, credited or cancelled)" \
    delivery "$PEID"

# A record that is not a ReminderDue at all (magic byte is not 0): dead-lettered.
echo deadbeef | publish reminder-due.letter --raw --key "$TENANT/cust-x"
wait_eq 20 "the malformed record dead-lettered" 1 \
    delta 'dunning_events_consumed_total{topic="reminder-due.letter",result="dead_letter"}'

wait_eq 20 "four letter outcomes" "N,failed_permanent,no postal address,
W,delivered,,$PDF
W,delivered,,$PDF
W,suppressed,case resolved (paid, credited or cancelled)," outcomes
spool_ok " at the end"
for e in "$NEID" "$PEID"; do
    [ ! -e "$SPOOL/letter-$e.pdf" ] || fail "a letter was written for $e"
done
assert_eq 0 "$(grep -c -e "Köln" -e "Hohe Stra" -e "Kowalski" -e "50667" "$WORK/letter.log")" \
    "log lines with address data"

# The counters: W delivered twice (first time, after the replay), the redelivery skipped, N
# failed for good, the paid case suppressed, one record dead-lettered; two letters rendered.
L='topic="reminder-due.letter"'
wait_eq 10 "letter reminders consumed ok" 4 delta "dunning_events_consumed_total{$L,result=\"ok\"}"
assert_eq 1 "$(delta "dunning_events_consumed_total{$L,result=\"duplicate\"}")" "reminders consumed as duplicates"
assert_eq 1 "$(delta "dunning_events_consumed_total{$L,result=\"dead_letter\"}")" "reminders dead-lettered"
assert_eq 0 "$(delta "dunning_events_consumed_total{$L,result=\"db_error\"}")" "database errors"
assert_eq 0 "$(delta "dunning_events_consumed_total{$L,result=\"spool_unavailable\"}")" "spool holds"
assert_eq 1 "$(delta "dunning_dead_letters_total{$L,error_code=\"bad_framing\"}")" "dead letters by code"
assert_eq 2 "$(delta 'dunning_deliveries_total{outcome="delivered"}')" "delivered"
assert_eq 1 "$(delta 'dunning_deliveries_total{outcome="failed_permanent"}')" "failed_permanent"
assert_eq 1 "$(delta 'dunning_deliveries_total{outcome="suppressed"}')" "suppressed"
assert_eq 0 "$(delta 'dunning_deliveries_total{outcome="failed_transient"}')" "failed_transient"
assert_eq 2 "$(delta 'dunning_letter_render_duration_seconds_count{result="ok"}')" "letters rendered"
assert_eq 0 "$(delta 'dunning_letter_render_duration_seconds_count{result="permanent"}')" "renders failed"
[ "$(delta 'dunning_outbox_published_total')" -gt 0 ] || fail "the sender published nothing from the outbox"
wait_eq 10 "no consumer lag" 0 metric "dunning_consumer_lag{$L}"
wait_eq 10 "outbox empty" 0 metric 'dunning_outbox_pending'
curl -sf "http://$HTTP/metrics" >"$WORK/letter.now"
assert_eq "$(value "$WORK/letter.now" 'dunning_batch_size_count{work="records"}')" \
    "$(value "$WORK/letter.now" 'dunning_batch_size_bucket{work="records",le="+Inf"}')" "batch size +Inf = count"
[ "$(delta 'dunning_batch_duration_seconds_count{work="records"}')" -ge 1 ] || fail "no batch timed"

# Readiness follows the spool folder: gone -> 503 naming it; back -> ready again.
mv "$SPOOL" "$SPOOL.away"
wait_eq 10 "not ready without the spool folder" 503 code "http://$HTTP/readyz"
curl -s "http://$HTTP/readyz" | grep -q '^spool: ' || fail "/readyz does not name the spool: $(curl -s "http://$HTTP/readyz")"
mv "$SPOOL.away" "$SPOOL"
wait_eq 10 "ready with the spool folder back" 200 code "http://$HTTP/readyz"

# A clean stop (status 0, no leak under the sanitizers) closes the endpoint and removes the
# address file.
stop_service letter TERM
grep -q '"msg":"stopped"' "$WORK/letter.log" || fail "sender-letter did not log a clean stop"
[ ! -e "$WORK/letter.addr" ] || fail "address file left behind"
assert_eq 000 "$(code "http://$HTTP/healthz")" "endpoint closed"
log "PASS"
