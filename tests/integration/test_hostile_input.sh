#!/usr/bin/env bash
# Hostile input (issue 7): every bad record gets a dead letter with an exact reason while
# the engine keeps running and processes what comes after it; legal but hostile data (SQL,
# markup and Mustache tags in names, non-ASCII) is stored verbatim and rendered safely
# (escaped in HTML, never expanded as a template, no header injection in the .eml); a phone
# number that is not a number fails on SMS for good and the reminder falls back to e-mail.
# test_dead_letter.sh covers bad magic, unknown schema ids, a PaymentReceived on the invoice
# topic, a truncated body, a negative amount, an unknown currency, CR/LF in an e-mail
# address and a payment in the wrong currency; this test covers the rest of the list.
source "$(dirname "$0")/lib.sh"
[ -n "${DUNNING_KANNEL_URL:-}" ] && [ -f "${DUNNING_SMS_LOG:-}" ] || fail "the stack runs no Kannel (scripts/stack restart)"
reset_state
clock_start 2026-03-02T00:00:00Z 0
# The integration policies plus one that reminds by SMS first.
POLICY=$WORK/policy.yaml
cat "$ROOT/tests/integration/policy.yaml" - >"$POLICY" <<'EOF'
      sms_first:
        stages:
          - {name: first_reminder, offset: 2d, channels: [sms], template: first_reminder}
EOF
start_service engine dunning-engine DUNNING_POLICY_FILE="$POLICY"
start_service email sender-email
start_service sms sender-sms DUNNING_SMS_FROM=Dunning

K="$TENANT/cust-h"
hexof() { "$BIN/dunningctl" encode "$1"; }
good=$(invoice_json OK cust-h 5000 2026-03-20 ok@example.com | hexof InvoiceIssued)
body=${good:10}

# ---- A. records the engine must dead-letter (all on key $K) ----
# The amount 5000 is the varint 90 4e; once in the record (checked), so it can be replaced.
[ "$(grep -o 904e <<<"$good" | wc -l)" = 1 ] || fail "the amount's encoding is not unique in the record"
name_hex=$(printf 'Customer' | xxd -p) # "Customer cust-h": its first byte becomes an invalid sequence
{
    echo "0000000001ffffffffffffffffffffffff"       # garbage body: a varint that never ends
    echo "${good/904e/ffffffffffffffffffffff01}"   # the amount as an 11-byte varint (beyond 64 bits)
    echo "${good/$name_hex/c328${name_hex:4}}"      # contact.name: C3 28 is not UTF-8
    echo "00000000010000"                          # a body that ends after two empty strings
    # An array block of -2^63 items (-n overflows; found by tests/fuzz/fuzz_decode, which crashed
    # the sanitizer build): tests/fuzz/corpus/fuzz_decode/crash-array-block-int64-min.
    xxd -p "$ROOT/tests/fuzz/corpus/fuzz_decode/crash-array-block-int64-min" | tr -d '\n'
    echo
} | publish invoice-issued --raw --key "$K"
big=$(head -c 1048576 /dev/zero | tr '\0' 'A')
{
    invoice_json ZERO cust-h 0 2026-03-20 zero@example.com
    invoice_json HUGE cust-h 4242 2026-03-20 huge@example.com | sed 's/"amount_minor":4242/"amount_minor":9223372036854775807/'
    invoice_json EMPTY cust-h 5000 2026-03-20 e@example.com | jq -c '.contact.name = ""'
    invoice_json NL cust-h 5000 2026-03-20 nl@example.com | jq -c '.contact.name = "Eve\r\nBcc: all@example.com"'
    invoice_json SUBJ cust-h 5000 2026-03-20 s@example.com | jq -c '.invoice_number = "N-1\r\nBcc: all@example.com"'
    invoice_json TAB cust-h 5000 2026-03-20 t@example.com | jq -c '.invoice_id = "TAB\tX"'
    # The contact's other fields travel in every ReminderDue: bounded too.
    invoice_json ADNL cust-h 5000 2026-03-20 a@example.com | reachable_everywhere |
        jq -c '.contact.address.line2 = "c/o Eve\r\nBcc: all@example.com"'
    invoice_json TZ cust-h 5000 2026-03-20 tz@example.com | jq -c --arg z "$(printf 'Europe/%.0s' $(seq 1 20))" '.contact.time_zone = $z'
    invoice_json OPT cust-h 5000 2026-03-20 o@example.com | jq -c '.contact.opted_out_channels = [range(0; 100) | "sms"]'
} | publish invoice-issued
# A megabyte-long name, alone (1 MiB of 'A'): the producer's limit is raised for it.
{
    invoice_json MEGA cust-h 5000 2026-03-20 m@example.com | jq -c --rawfile n <(printf %s "$big") '.contact.name = $n'
    invoice_json ADDR cust-h 5000 2026-03-20 ad@example.com | reachable_everywhere |
        jq -c --rawfile n <(printf %s "$big") '.contact.address.line1 = $n'
} | DUNNING_RDKAFKA_PRODUCER_message_max_bytes=4000000 publish invoice-issued
# An InvoiceIssued on the payment topic, payments with bad amounts and currencies.
publish payment-received --raw --key "$K" <<<"$good"
{
    payment_json pay-neg OK cust-h -100
    payment_json pay-zero OK cust-h 0
    payment_json pay-low OK cust-h 100 eur
    payment_json pay-ok OK cust-h 1000 # valid, after the bad ones
} | publish payment-received
# Then a valid invoice, after every bad one on the same key.
publish invoice-issued --raw --key "$K" <<<"$good"
wait_eq 30 "the valid invoice after the bad ones has its case" open case_field OK state
# A failed charge in the wrong currency (after the invoice: the engine checks it against the case).
failed_json pf-usd OK cust-h 5000 insufficient_funds | jq -c '.currency = "USD"' | publish payment-failed
wait_eq 30 "twenty-one dead letters" 21 eval 'dead_letters "$K" | wc -l'
service_alive engine || fail "the engine died"

# source_topic|error_code|reason, sorted.
got=$(dead_letters "$K" | jq -r '.value | [.source_topic, .error_code, .reason] | join("|")' |
    sed -E 's/ of [0-9]{7} bytes\)$/ of N bytes)/' | sort)
expected=$(sort <<'EOF'
invoice-issued|decode_error|body does not decode as InvoiceIssued: a length or value runs past the end
invoice-issued|decode_error|body does not decode as InvoiceIssued: a length or value runs past the end
invoice-issued|invalid_field|field contact.name: not valid UTF-8
invoice-issued|decode_error|body does not decode as InvoiceIssued: a length or value runs past the end
invoice-issued|decode_error|body does not decode as InvoiceIssued: a length or value runs past the end
invoice-issued|invalid_field|field amount_minor: 0 is not a positive amount
invoice-issued|invalid_field|field amount_minor: 9223372036854775807 is too large
invoice-issued|invalid_field|field contact.name: must not be empty
invoice-issued|invalid_field|field contact.name: contains a line break
invoice-issued|invalid_field|field invoice_number: contains a line break
invoice-issued|invalid_field|field invoice_id: contains a control character
invoice-issued|invalid_field|field contact.name: longer than 1000 bytes (payload cut to the first 262144 of N bytes)
invoice-issued|invalid_field|field contact.address.line1: longer than 1000 bytes (payload cut to the first 262144 of N bytes)
invoice-issued|invalid_field|field contact.address.line2: contains a line break
invoice-issued|invalid_field|field contact.time_zone: longer than 64 bytes
invoice-issued|invalid_field|field contact.opted_out_channels: more than 8 entries
payment-received|wrong_record_type|record is a InvoiceIssued (schema id 1), this topic carries PaymentReceived
payment-received|invalid_field|field amount_minor: -100 is not a positive amount
payment-received|invalid_field|field amount_minor: 0 is not a positive amount
payment-received|invalid_field|field currency: 'eur' is not a currency that can be dunned
payment-failed|currency_mismatch|failed charge in USD for invoice OK in EUR
EOF
)
assert_eq "$expected" "$got" "dead letters: topic, code and reason of each hostile record"
# A dead letter keeps the original bytes, the megabyte one its first 256 KiB: a whole one would not
# fit a Kafka message and would block the outbox for every service (found by this test).
assert_eq 262144 "$(dead_letters "$K" | jq -r 'select(.value.reason | contains("name: longer than 1000")) | .value.payload' |
    base64 -d | wc -c)" "bytes of the megabyte record kept in its dead letter"
assert_eq "$(printf '\x00\x00\x00\x00\x01' | base64)" "$(dead_letters "$K" | jq -r 'select(.value.reason | contains("name: longer than 1000")) |
    .value.payload' | base64 -d | head -c 5 | base64)" "the kept part starts with the record's framing"
assert_eq "OK" "$(psql_q "SELECT string_agg(invoice_id, ' ') FROM invoices WHERE tenant_id = '$TENANT'")" \
    "invoices stored (only the valid one)"
assert_eq "pay-ok" "$(psql_q "SELECT string_agg(payment_id, ' ') FROM payments WHERE tenant_id = '$TENANT'")" \
    "payments stored (only the valid one)"
wait_eq 20 "the valid payment applied to OK" 1000 case_field OK paid_minor

# ---- B. legal but hostile data: stored verbatim, rendered safely ----
SQLNAME="Robert'); DROP TABLE cases; --"
MARKUP='<script>alert("x")</script> {{customer.name}} {{#a}}&amp;'
SUBJECT='<b>{{invoice.number}}</b> & {{{x}}}'
{
    invoice_json SQL cust-sql 3000 2026-03-03 sql@example.com | jq -c --arg n "$SQLNAME" \
        '.contact.name = $n | .invoice_number = "N-'"'"'; DROP TABLE invoices; --"'
    invoice_json XSS cust-xss 3000 2026-03-03 xss@example.com | jq -c --arg n "$MARKUP" --arg s "$SUBJECT" \
        '.contact.name = $n | .invoice_number = $s'
    invoice_json UNI cust-uni 3000 2026-03-03 uni@example.com | jq -c '.contact.name = "Zoë Ødegård 山田"'
    invoice_json PHONE cust-phone 3000 2026-03-03 phone@example.com | with_policy sms_first |
        jq -c '.contact.phone = "call me maybe"'
} | publish invoice-issued
wait_eq 30 "four more open cases" "OK:open PHONE:open SQL:open UNI:open XSS:open" cases_summary
assert_eq "$SQLNAME" "$(psql_q "SELECT contact->>'name' FROM invoices WHERE tenant_id = '$TENANT' AND invoice_id = 'SQL'")" \
    "the SQL name stored verbatim"
assert_eq "$MARKUP" "$(psql_q "SELECT contact->>'name' FROM invoices WHERE tenant_id = '$TENANT' AND invoice_id = 'XSS'")" \
    "the markup name stored verbatim"
# Garbage for the senders too, on the key (so the partition) of the reminders that follow.
printf '%s\n' deadbeef 0000000004ffffffffffffffffffffffff 00000000010000 |
    publish reminder-due.email --raw --key "$TENANT/cust-xss"
printf '%s\n' 0000000004ffffffffffffffffffffffff | publish reminder-due.sms --raw --key "$TENANT/cust-phone"
# and 1 MiB of garbage: its dead letter is cut too (sender-email's own dead-letter path).
{ printf 0000000004; head -c 1048576 /dev/zero | tr '\0' '\377' | xxd -p | tr -d '\n'; echo; } |
    DUNNING_RDKAFKA_PRODUCER_message_max_bytes=4000000 publish reminder-due.email --raw --key "$TENANT/cust-xss"
wait_eq 30 "five dead letters from the senders" \
"reminder-due.email|bad_framing|sender-email|4
reminder-due.email|decode_error|sender-email|17
reminder-due.email|decode_error|sender-email|262144
reminder-due.email|wrong_record_type|sender-email|7
reminder-due.sms|decode_error|sender-sms|17" eval \
    '{ dead_letters "$TENANT/cust-xss"; dead_letters "$TENANT/cust-phone"; } |
     jq -r ".value | [.source_topic, .error_code, .service, (.payload | length / 4 * 3 - (.[-2:] | [scan(\"=\")] | length))] | join(\"|\")" | sort'
assert_eq "body does not decode as ReminderDue: a length or value runs past the end (payload cut to the first 262144 of 1048581 bytes)" \
    "$(dead_letters "$TENANT/cust-xss" | jq -r 'select(.value.reason | contains("cut")) | .value.reason')" \
    "reason of the megabyte garbage's dead letter"
step 2026-03-05T08:00:00Z # stage 1 of two_step and of sms_first (due + 2 days)

wait_eq 30 "SQL, XSS, UNI: e-mail delivered" 3 eval \
    'psql_q "SELECT count(*) FROM deliveries WHERE tenant_id = '"'$TENANT'"' AND status = '"'delivered'"' AND invoice_id IN ('"'SQL','XSS','UNI'"')"'
# The phone number is not a number: sender-sms fails it for good, the engine falls back to e-mail.
wait_eq 30 "PHONE: SMS failed for good, the reminder went by e-mail" \
    "opened reminder_emitted reminder_failed_permanent reminder_fallback reminder_delivered" audit_trail PHONE
assert_eq "sms|failed_permanent|phone number is not in E.164 format (+ and up to 15 digits)" \
    "$(consume_tenant reminder-outcomes | jq -r 'select(.invoice_id == "PHONE" and .channel == "sms") |
        [.channel, .outcome, .reason] | join("|")')" "the SMS outcome of the phone that is not a number"
assert_eq 1 "$(mail_count_to phone@example.com)" "e-mails to PHONE's address"

# The captured mail to ADDRESS (exactly one), parsed: To, Subject, text and HTML part, header names.
mail_json() {
    /usr/bin/python3 - "$DUNNING_MAIL_DIR" "$1" <<'EOF'
import email, email.policy, glob, json, sys
found = []
for f in sorted(glob.glob(sys.argv[1] + '/*.eml')):
    raw = open(f, 'rb').read()
    m = email.message_from_bytes(raw, policy=email.policy.default)
    if m['To'] is None or m['To'].addresses[0].addr_spec != sys.argv[2]:
        continue
    head = raw.split(b'\r\n\r\n', 1)[0].decode('ascii')
    parts = {p.get_content_type(): p.get_content() for p in m.walk() if not p.is_multipart()}
    found.append({'file': f, 'to': str(m['To']), 'raw_to': head.split('\r\nTo: ', 1)[1].split('\r\n')[0],
                  'subject': str(m['Subject']), 'text': parts.get('text/plain', ''),
                  'html': parts.get('text/html', ''),
                  'header_names': ' '.join(sorted({l.split(':', 1)[0] for l in head.split('\r\n') if l and l[0] not in ' \t'}))})
if len(found) != 1:
    sys.exit('%d mails to %s' % (len(found), sys.argv[2]))
print(json.dumps(found[0]))
EOF
}
sql=$(mail_json sql@example.com) || fail "the mail to sql@example.com"
xss=$(mail_json xss@example.com) || fail "the mail to xss@example.com"
uni=$(mail_json uni@example.com) || fail "the mail to uni@example.com"
assert_eq "\"$SQLNAME\" <sql@example.com>" "$(jq -r .to <<<"$sql")" "To of the SQL name (quoted, verbatim)"
assert_eq "Payment reminder: invoice N-'; DROP TABLE invoices; --" "$(jq -r .subject <<<"$sql")" "subject with SQL"
assert_eq 1 "$(jq -r .text <<<"$sql" | grep -cF "Dear $SQLNAME,")" "the SQL name verbatim in the text part"
assert_eq "Payment reminder: invoice $SUBJECT" "$(jq -r .subject <<<"$xss")" \
    "subject with markup and tags: verbatim, not expanded"
assert_eq 1 "$(jq -r .text <<<"$xss" | grep -cF "Dear $MARKUP,")" "the markup name verbatim in the text part (not expanded)"
escaped='&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; {{customer.name}} {{#a}}&amp;amp;'
assert_eq 1 "$(jq -r .html <<<"$xss" | grep -cF "Dear $escaped,")" "the markup name escaped in the HTML part"
assert_eq 0 "$(jq -r .html <<<"$xss" | grep -c '<script')" "no <script> in the HTML part"
assert_eq '&lt;b&gt;{{invoice.number}}&lt;/b&gt; &amp; {{{x}}}' \
    "$(jq -r .html <<<"$xss" | grep -o 'invoice <strong>[^<]*' | sed 's/^invoice <strong>//' | head -1)" \
    "the invoice number escaped in the HTML part"
assert_eq "\"Zoë Ødegård 山田\" <uni@example.com>" "$(jq -r .to <<<"$uni" | sed 's/^Zo/"Zo/; s/ </" </')" \
    "To of the non-ASCII name (encoded word, decodes back)"
assert_eq "=?UTF-8?B?" "$(jq -r .raw_to <<<"$uni" | head -c 10)" "the non-ASCII name as an encoded word"
# The capture sink adds X-Envelope-From and X-Envelope-To.
std='Auto-Submitted Content-Type Date From MIME-Version Message-ID Subject To X-Envelope-From X-Envelope-To'
for a in sql xss uni; do
    m=${!a}
    names=$(jq -r '.header_names | split(" ") | map(select(. != "List-Unsubscribe" and . != "Reply-To")) | join(" ")' <<<"$m")
    assert_eq "$std" "$names" "header names of the mail to $a@example.com"
done

# ---- C. the e-mail sender's own guard: CR/LF reaching it directly (not via the engine) ----
xss_rd=$(consume_tenant reminder-due.email | jq -c 'select(.invoice_id == "XSS")')
{
    jq -c --arg e "$(cat /proc/sys/kernel/random/uuid)" '.event_id = $e | .contact.name = "Eve\r\nBcc: all@example.com"' <<<"$xss_rd"
    jq -c --arg e "$(cat /proc/sys/kernel/random/uuid)" '.event_id = $e | .invoice_number = "N\r\nBcc: all@example.com"' <<<"$xss_rd"
} | publish reminder-due.email
wait_eq 30 "two injected reminders failed for good" \
    "failed_permanent|recipient name contains a line break
failed_permanent|template error: default/first_reminder.email.en.subject: the subject renders to more than one line" eval \
    'consume_tenant reminder-outcomes | jq -r '"'"'select(.invoice_id == "XSS" and .outcome == "failed_permanent") | [.outcome, .reason] | join("|")'"'"' | sort'
assert_eq 0 "$(grep -l -i '^Bcc:' "$DUNNING_MAIL_DIR"/*.eml 2>/dev/null | wc -l)" "mails with a Bcc header"
mail_json xss@example.com >/dev/null || fail "not exactly one e-mail to XSS's address"
log "ok: one e-mail to XSS's address (the injected ones were not sent)"

for s in engine email sms; do service_alive "$s" || fail "$s died"; done
assert_eq "cases invoices" "$(psql_q "SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE tablename IN ('cases', 'invoices')")" \
    "tables still there"
log "PASS"
