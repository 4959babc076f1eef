#!/usr/bin/env bash
# Regenerates the seed corpus of fuzz_decode (valid encodings from `dunningctl encode` of
# every schema, with the hostile values of issue 7, plus broken framings) and of
# fuzz_template (the senders' template shapes). Minimised crashers found later are added
# by hand as crash-<what>; encodings with an older schema version (cmd-*-v1: CaseCommand id 9,
# reminder-due*-v1: ReminderDue id 4) were made by this script before the new version and are
# kept by hand, since `dunningctl encode` writes the current one. Usage: tests/fuzz/make-corpus.sh [BIN_DIR]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-${DUNNING_BIN:-$HERE/../../build/bin}}
export DUNNING_HOME=$HERE/../..
D=$HERE/corpus/fuzz_decode
T=$HERE/corpus/fuzz_template
mkdir -p "$D" "$T"
U=0b0f3a52-3c1e-4d59-9a41-5b7c2f1e8d10
C='{"name": "Ada Muster", "email": "ada@example.com", "phone": "+4917612345678", "locale": "de-DE",
    "time_zone": "Europe/Berlin", "address": {"line1": "Hauptstr. 1", "postal_code": "10115", "city": "Berlin", "country": "DE"}}'
inv() { jq -c "$1" <<<"{\"event_id\": \"$U\", \"tenant_id\": \"acme\", \"customer_id\": \"c-1\", \"invoice_id\": \"inv-1\",
    \"invoice_number\": \"N-1\", \"amount_minor\": 5000, \"currency\": \"EUR\", \"issue_date\": \"2026-03-01\",
    \"due_date\": \"2026-03-20\", \"payment_link\": \"https://pay.example.com/inv-1\", \"contact\": $C}"; }
# seed NAME SCHEMA JSON: the framed encoding, as raw bytes.
seed() { tr "\n" " " <<<"$3" | "$BIN/dunningctl" encode "$2" | xxd -r -p >"$D/$1"; }

seed invoice InvoiceIssued "$(inv .)"
seed invoice-min InvoiceIssued "$(inv '.contact = {name: "B"} | del(.payment_link, .invoice_number)')"
seed invoice-sql InvoiceIssued "$(inv '.contact.name = "Robert'"'"'); DROP TABLE cases; --"')"
seed invoice-markup InvoiceIssued "$(inv '.contact.name = "<script>alert(1)</script> {{customer.name}}"')"
seed invoice-crlf InvoiceIssued "$(inv '.contact.name = "Eve\r\nBcc: all@example.com"')"
seed invoice-zero InvoiceIssued "$(inv '.amount_minor = 0')"
seed invoice-huge InvoiceIssued "$(inv '.amount_minor = 4242' | sed 's/4242/9223372036854775807/')"
seed invoice-jpy InvoiceIssued "$(inv '.currency = "JPY"')"
seed invoice-badcur InvoiceIssued "$(inv '.currency = "XYZ"')"
seed invoice-phone InvoiceIssued "$(inv '.contact.phone = "call me maybe"')"
seed invoice-policy InvoiceIssued "$(inv '.policy = "no-such-policy"')"
seed invoice-emptyid InvoiceIssued "$(inv '.customer_id = ""')"
seed invoice-unicode InvoiceIssued "$(inv '.contact.name = "Zoë Ødegård 山田"')"
seed invoice-address-crlf InvoiceIssued "$(inv '.contact.address.line2 = "c/o Eve\r\nBcc: x"')"
seed invoice-optouts InvoiceIssued "$(inv '.contact.opted_out_channels = ["sms", "letter", "email"]')"
PAY="{\"event_id\": \"$U\", \"tenant_id\": \"acme\", \"customer_id\": \"c-1\", \"invoice_id\": \"inv-1\", \"payment_id\": \"p-1\",
    \"amount_minor\": 2500, \"currency\": \"EUR\", \"method\": \"card\"}"
seed payment PaymentReceived "$PAY"
seed payment-neg PaymentReceived "$(jq -c '.amount_minor = -1' <<<"$PAY")"
FAIL="{\"event_id\": \"$U\", \"tenant_id\": \"acme\", \"customer_id\": \"c-1\", \"invoice_id\": \"inv-1\", \"payment_id\": \"p-2\",
    \"amount_minor\": 5000, \"currency\": \"EUR\", \"decline_code\": \"insufficient_funds\", \"attempt\": 1}"
seed failed PaymentFailed "$FAIL"
seed failed-msg PaymentFailed "$(jq -c '.decline_message = "Do not honor" | .decline_code = "do_not_honor"' <<<"$FAIL")"
CMD="{\"event_id\": \"$U\", \"tenant_id\": \"acme\", \"customer_id\": \"c-1\", \"invoice_id\": \"inv-1\", \"actor\": \"ops\"}"
seed cmd-pause CaseCommand "$(jq -c '.command = "pause" | .reason = "dispute" | .until = "2026-04-01"' <<<"$CMD")"
seed cmd-credit CaseCommand "$(jq -c '.command = "credit" | .amount_minor = 100 | .reason = "goodwill"' <<<"$CMD")"
seed cmd-resume CaseCommand "$(jq -c '.command = "resume"' <<<"$CMD")"
seed cmd-promise CaseCommand "$(jq -c '.command = "promise" | .amount_minor = 5000 | .promise_date = "2026-04-10" | .channel = "portal" | .scope = "customer"' <<<"$CMD")"
seed cmd-plan CaseCommand "$(jq -c '.command = "plan" | .channel = "collector" | .instalments = [{amount_minor: 2500, due_date: "2026-04-01"}, {amount_minor: 3012, due_date: "2026-05-01"}]' <<<"$CMD")"
OUT="{\"event_id\": \"$U\", \"tenant_id\": \"acme\", \"customer_id\": \"c-1\", \"invoice_id\": \"inv-1\", \"case_id\": \"$U\",
    \"reminder_event_id\": \"$U\", \"channel\": \"email\", \"outcome\": \"delivered\", \"attempt\": 1,
    \"provider_message_id\": \"<m1@example.com>\"}"
seed outcome ReminderOutcome "$OUT"
seed outcome-failed ReminderOutcome "$(jq -c '.outcome = "failed_transient" | .reason = "smtp 451" | .next_attempt_at = 1775000000000 | .channel = "sms"' <<<"$OUT")"
RD="{\"event_id\": \"$U\", \"tenant_id\": \"acme\", \"customer_id\": \"c-1\", \"case_id\": \"$U\", \"invoice_id\": \"inv-1\",
    \"invoice_number\": \"N-1\", \"channel\": \"email\", \"stage\": 1, \"stage_name\": \"first_reminder\", \"template_key\": \"first_reminder\",
    \"policy\": \"default\", \"issue_date\": \"2026-03-01\", \"due_date\": \"2026-03-20\", \"days_overdue\": 3, \"amount_minor\": 5000,
    \"outstanding_minor\": 5000, \"fee_minor\": 500, \"interest_minor\": 12, \"total_due_minor\": 5512, \"currency\": \"EUR\",
    \"due_at\": 1774000000000, \"contact\": $C}"
seed reminder-due ReminderDue "$RD"
seed reminder-due-letter ReminderDue "$(jq -c '.channel = "letter" | .action = "final_notice"' <<<"$RD")"
seed reminder-due-instalment ReminderDue "$(jq -c '.notice_kind = "instalment" | .instalment = {number: 2, count: 3, amount_minor: 2000, due_date: "2026-04-01", paid_minor: 500}' <<<"$RD")"
seed reminder-due-notice ReminderDue "$(jq -c '.notice_kind = "customer_notice" | .discount = {pay_by: "2026-03-30", discount_minor: 138, total_minor: 5374, percent_e4: 25000}
    | .items = [{invoice_id: "inv-1", invoice_number: "N-1", due_date: "2026-03-20", days_overdue: 3, stage: 1, stage_name: "first_reminder",
      outstanding_minor: 5000, fee_minor: 500, interest_minor: 12, total_due_minor: 5512, dunned: true},
     {invoice_id: "inv-2", due_date: "2026-03-25", days_overdue: -2, stage: 0, stage_name: "", outstanding_minor: 900, fee_minor: 0,
      interest_minor: 0, total_due_minor: 900, dunned: false, not_dunned_reason: "promise"}]' <<<"$RD")"
seed reminder-due-card ReminderDue "$(jq -c '.notice_kind = "card_expiry" | .invoice_id = "" | .stage = 0 | .card = {brand: "visa", last4: "4242", exp_month: 4, exp_year: 2026}
    | .update_link = "https://pay.example.com/card"' <<<"$RD")"
PM="{\"event_id\": \"$U\", \"occurred_at\": \"2026-03-01T10:00:00Z\", \"tenant_id\": \"acme\", \"customer_id\": \"c-1\",
    \"payment_method_id\": \"pm-1\", \"change\": \"expiring\", \"brand\": \"visa\", \"last4\": \"4242\", \"exp_month\": 4, \"exp_year\": 2026}"
seed payment-method PaymentMethodUpdated "$PM"
seed payment-method-removed PaymentMethodUpdated "$(jq -c '.change = "removed" | .is_default = false | .next_charge_date = "2026-04-01" | .update_link = "https://pay.example.com/card"' <<<"$PM")"
seed retry-due PaymentRetryDue "{\"event_id\": \"$U\", \"tenant_id\": \"acme\", \"customer_id\": \"c-1\", \"case_id\": \"$U\",
    \"invoice_id\": \"inv-1\", \"payment_id\": \"p-2\", \"attempt\": 2, \"max_attempts\": 4, \"amount_minor\": 5000, \"currency\": \"EUR\",
    \"last_decline_code\": \"insufficient_funds\"}"
seed case-event DunningCaseEvent "{\"event_id\": \"$U\", \"tenant_id\": \"acme\", \"customer_id\": \"c-1\", \"case_id\": \"$U\",
    \"invoice_id\": \"inv-1\", \"event_type\": \"stage_entered\", \"from_state\": \"open\", \"to_state\": \"reminded\", \"stage\": 1,
    \"outstanding_minor\": 5000, \"fee_minor\": 0, \"interest_minor\": 0, \"currency\": \"EUR\", \"caused_by_event_id\": \"$U\"}"
seed dead-letter DeadLetter "{\"event_id\": \"$U\", \"tenant_id\": \"acme\", \"customer_id\": \"c-1\", \"service\": \"dunning-engine\",
    \"source_topic\": \"invoice-issued\", \"source_partition\": 3, \"source_offset\": 42, \"schema_id\": 1, \"error_code\": \"decode_error\",
    \"reason\": \"body does not decode\", \"key\": \"YWNtZS9jLTE=\", \"payload\": \"AAAAAAE=\"}"
# Broken framings and bodies.
printf '\xde\xad\xbe\xef' >"$D/bad-magic"
printf '\x00\x00\x00\x00\x63\x02\x04\x06' >"$D/unknown-schema"
printf '\x00' >"$D/too-short"
head -c 40 "$D/invoice" >"$D/truncated"
{ cat "$D/payment"; printf '\x00'; } >"$D/trailing-byte"
printf '\x00\x00\x00\x00\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01' >"$D/overlong-varint"
printf '\x00\x00\x00\x00\x01\xfe\xff\xff\xff\x0f' >"$D/huge-length"
# Invalid UTF-8 in the customer's name: patch the encoded name ("Ada Muster") in place.
sed 's/Ada Muster/Ada M\xc3\x28ter/' "$D/invoice" >"$D/invoice-bad-utf8"
sed 's/Ada Muster/Ada M\xed\xa0\x80er/' "$D/invoice" >"$D/invoice-surrogate"

# Templates: the shapes the senders use ("===" then a JSON context, or the target's own).
printf '%s' 'Dear {{customer.name}}, invoice {{invoice.number}} of {{amount}} is due.' >"$T/text"
printf '%s' '<p>Dear {{customer.name}},</p><p>{{{invoice.link}}}</p>{{! comment }}' >"$T/html-raw"
printf '%s' '{{#items}}{{number}}: {{amount}}
{{/items}}{{^items}}none{{/items}}' >"$T/section"
printf '%s\n' '{{#paid}}' 'thanks' '{{/paid}}' '{{^list}}' 'empty' '{{/list}}' >"$T/standalone"
printf '%s' '{{customer.name}}' >"$T/name-only"
printf '%s' '{{& customer.name}} {{.}} {{none}} {{empty}} {{rate}} {{fee}}' >"$T/ampersand"
printf '%s' '{{#items}}{{#items}}{{/items}}' >"$T/unclosed"
printf '%s' '{{/x}}{{> partial}}{{=<% %>=}}' >"$T/unsupported"
printf '%s' '{{missing}} {{customer.missing}}' >"$T/undefined"
printf '%s' '{{a.b}} {{#a}}{{b}}{{c.d}}{{/a}}
===
{"a": {"b": "<&>\"'"'"'", "c": {"d": [1]}}}' >"$T/ctx-object"
printf '%s' '{{#l}}{{.}},{{/l}}
===
{"l": [1, 2.5, "x", true, null, {"y": 1}]}' >"$T/ctx-array"
printf '%s' '{{{{{{{{ }}}}}} {{ }} {{#}} {{/}}' >"$T/braces"
printf 'Sehr geehrte(r) {{customer.name}},\r\n{{amount}} \xe2\x82\xac' >"$T/crlf-utf8"
echo "corpus: $(ls "$D" | wc -l) fuzz_decode seeds, $(ls "$T" | wc -l) fuzz_template seeds"
