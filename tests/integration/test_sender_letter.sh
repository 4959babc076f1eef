#!/usr/bin/env bash
# sender-letter: the final notice of policy four_stage (e-mail + letter) becomes exactly one
# print-ready PDF in the spool folder, with its manifest line, a delivered deliveries row and
# a ReminderOutcome on channel letter; a redelivered reminder writes nothing new; a reminder
# for a customer without a postal address fails permanently; a reminder for a paid case is
# suppressed by the last-mile check and writes no file. A replay after a simulated crash
# between the file and the outcome rewrites the same file. (tests/integration/policy.yaml)
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-01T08:00:00Z 0
SPOOL=$WORK/spool
export DUNNING_LETTER_SPOOL_DIR=$SPOOL
start_service engine dunning-engine
start_service letter sender-letter "DUNNING_LETTER_FROM_NAME=Beispiel AG" \
    "DUNNING_LETTER_FROM_ADDRESS=Musterweg 5; 10115 Berlin" "DUNNING_LETTER_PAYMENT_DETAILS=IBAN DE02 1203 0000 0000 2020 51"

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
stop_service letter TERM
grep -q '"msg":"stopped"' "$WORK/letter.log" || fail "sender-letter did not log a clean stop"
log "PASS"
