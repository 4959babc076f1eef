#!/usr/bin/env bash
# The customer portal in a real headless Chromium (tests/browser/portal.py): the link is
# taken from the reminder e-mail the SMTP capture received; the page shows the customer's
# invoices with their amounts; a promise to pay, a 3-instalment plan and a dispute made on
# the page reach the engine (case promised with the total due, case on_plan with audit
# plan_agreed, case paused for a dispute) and the page shows the engine's answers; the page
# works phone-sized; a tampered link gets the neutral page. Then, on the dunning clock, the
# SMS's short link (sender-sms, Kannel's fake SMSC) and the final notice's QR code
# (sender-letter, read with zbarimg) open the same page; an expired link and a retired
# key's get the neutral page; a German customer's page is in German.
# Contact preferences set on the page (no calls, a corrected address) reach the engine.
# Screenshots: build/screenshots/portal-*.png.
source "$(dirname "$0")/../integration/lib.sh"
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || fail "chromium and chromium-driver are not installed (scripts/deps)"
command -v zbarimg >/dev/null && command -v pdftoppm >/dev/null || fail "zbar-tools and poppler-utils are needed (scripts/deps)"
[ -n "${DUNNING_KANNEL_URL:-}" ] && [ -f "${DUNNING_SMS_LOG:-}" ] || fail "the stack runs no Kannel (scripts/stack restart)"
/usr/bin/python3 -c 'import selenium' 2>/dev/null || fail "python3-selenium is not installed (scripts/deps)"
reset_state
"$BIN/dunningctl" migrate >/dev/null
clock_start 2026-03-02T08:00:00Z 0
KEYS="k1:$(printf 'portal-browser-test-key-0123456789' | base64)"
start_service engine dunning-engine
start_service portal dunning-portal DUNNING_PORTAL_ADDR=127.0.0.1:0 DUNNING_PORTAL_ADDR_FILE="$WORK/portal.addr" \
    DUNNING_PORTAL_KEYS="$KEYS"
wait_until 20 "the portal's address file" '[ -s "$WORK/portal.addr" ]'
P=http://$(cat "$WORK/portal.addr")
start_service sender sender-email DUNNING_PORTAL_URL="$P" DUNNING_PORTAL_KEYS="$KEYS"
start_service sms sender-sms DUNNING_HTTP_ADDR=127.0.0.1:0 DUNNING_PORTAL_URL="$P" DUNNING_PORTAL_KEYS="$KEYS"
start_service letter sender-letter DUNNING_HTTP_ADDR=127.0.0.1:0 DUNNING_LETTER_SPOOL_DIR="$WORK/spool" \
    "DUNNING_LETTER_FROM_NAME=Beispiel AG" "DUNNING_LETTER_FROM_ADDRESS=Musterweg 5; 10115 Berlin" \
    DUNNING_PORTAL_URL="$P" DUNNING_PORTAL_KEYS="$KEYS"
PHONE=+4917$(printf '%09d' $(($$ % 1000000000)))
{
    invoice_json X1 cust-x 12000 2026-03-02 x@example.com
    invoice_json X2 cust-x 35050 2026-03-09 x@example.com
    invoice_json X3 cust-x 90000 2026-03-05 x@example.com | with_policy workflow
    # SMS and letter (four_stage: SMS at the second reminder, a letter with the final notice)
    invoice_json X4 cust-x 50000 2026-03-02 x4@example.com | with_policy four_stage | reachable_everywhere |
        jq -c --arg p "$PHONE" '.contact.phone = $p'
    invoice_json D1 cust-de 123456 2026-03-09 d@example.com | jq -c '.contact.locale = "de" | .policy = "workflow"'
} | publish invoice-issued
wait_eq 30 "five cases" 5 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'"
clock_set 2026-03-04T09:00:00Z
wait_eq 30 "X1's first reminder" 1 mail_count_to x@example.com
LINK=$(mail_part x@example.com text | grep -o "$P/p/[A-Za-z0-9._-]*" | head -1)
[ -n "$LINK" ] || fail "no portal link in the reminder e-mail"
T=${LINK##*/p/}
PAY=$(cut -d. -f2 <<<"$T")
FLIP=$([ "${PAY:4:1}" = A ] && echo B || echo A)
TAMPERED="$P/p/k1.${PAY:0:4}$FLIP${PAY:5}.$(cut -d. -f3 <<<"$T")"
SHOTS=$ROOT/build/screenshots
log "opening the link from the e-mail in Chromium (screenshots in $SHOTS)"
NEW_EMAIL=xavier.new-$$@example.com
/usr/bin/python3 "$ROOT/tests/browser/portal.py" "$LINK" "$TAMPERED" "$SHOTS" "$NEW_EMAIL" >"$WORK/browser.log" 2>&1 ||
    fail "the browser run failed: $(tail -3 "$WORK/browser.log")"

assert_eq "promised|12000|2026-03-20|portal" \
    "$(psql_q "SELECT c.state || '|' || p.amount_minor || '|' || p.promised_for || '|' || p.channel FROM cases c
        JOIN promises p USING (tenant_id, invoice_id) WHERE c.tenant_id = '$TENANT' AND c.invoice_id = 'X1'")" \
    "X1 after the promise on the page"
assert_eq "on_plan|plan_agreed portal|3" \
    "$(psql_q "SELECT c.state || '|' || (SELECT a.kind || ' ' || (a.detail->>'actor') FROM audit a WHERE a.case_id = c.case_id AND a.kind = 'plan_agreed') || '|' ||
        (SELECT count(*) FROM plan_instalments i JOIN plans p USING (plan_id) WHERE p.case_id = c.case_id) FROM cases c WHERE c.tenant_id = '$TENANT' AND c.invoice_id = 'X3'")" \
    "X3 after the plan on the page"
assert_eq "paused|dispute" "$(psql_q "SELECT state || '|' || pause_reason FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = 'X2'")" \
    "X2 after the dispute on the page"
assert_eq "dispute|wrong_amount|We were charged for 3 licences, we have 2." \
    "$(psql_q "SELECT action || '|' || (detail->>'reason') || '|' || (detail->>'text') FROM portal_actions WHERE tenant_id = '$TENANT' AND invoice_id = 'X2'")" \
    "the dispute's text"
assert_eq "{voice}|$NEW_EMAIL|portal|portal|{voice}|true" \
    "$(psql_q "SELECT p.opted_out::text || '|' || p.email || '|' || e.actor || '|' || e.channel || '|' || e.opted_out::text || '|' || e.email_changed FROM contact_preferences p JOIN consent_events e USING (tenant_id, customer_id) WHERE p.tenant_id = '$TENANT' AND p.customer_id = 'cust-x'")" \
    "the preferences set on the page: no calls, the corrected address, one consent event"
assert_eq "4" "$(psql_q "SELECT count(DISTINCT case_id) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'preferences_changed'")" \
    "preferences_changed on each of cust-x's four open cases"

# The SMS's short link and the letter's QR code: the final notice of X4 (email, letter) and
# its second reminder (SMS) are due by 2026-03-16.
EXPIRED=$(DUNNING_PORTAL_URL=$P DUNNING_PORTAL_KEYS=$KEYS "$BIN/dunningctl" portal link --tenant "$TENANT" --customer cust-x --days 1)
RETIRED=$(DUNNING_PORTAL_URL=$P DUNNING_PORTAL_KEYS="k0:$(printf 'portal-browser-retired-key-0123456' | base64)" \
    "$BIN/dunningctl" portal link --tenant "$TENANT" --customer cust-x)
GERMAN=$(DUNNING_PORTAL_URL=$P DUNNING_PORTAL_KEYS=$KEYS "$BIN/dunningctl" portal link --tenant "$TENANT" --customer cust-de)
sent() { psql_q "SELECT string_agg(channel || ':' || status, ' ' ORDER BY channel) FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = 'X4' AND channel IN ('sms', 'letter')"; }
clock_set 2026-03-10T09:00:00Z
wait_eq 30 "X4's SMS sent" "sms:delivered" sent
clock_set 2026-03-16T09:00:00Z
wait_eq 30 "X4's letter sent" "letter:delivered sms:delivered" sent
ID=$(psql_q "SELECT short_id FROM portal_short_links WHERE tenant_id = '$TENANT' AND customer_id = 'cust-x'")
grep -F " $PHONE " "$DUNNING_SMS_LOG" | grep -qF "$P/s/$ID" || fail "the SMS to X4's phone does not carry $P/s/$ID"
LETTER=$WORK/spool/letter-$(psql_q "SELECT event_id FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = 'X4' AND channel = 'letter'").pdf
pdftoppm -r 200 -png -f 1 -l 1 "$LETTER" "$WORK/letter"
QR=$(zbarimg --raw -q "$WORK"/letter-1.png) || fail "no QR code readable on X4's letter"
/usr/bin/python3 "$ROOT/tests/browser/portal.py" same "$SHOTS" "$LINK" "$P/s/$ID" "$QR" "$EXPIRED" "$RETIRED" "$GERMAN" \
    >"$WORK/browser-same.log" 2>&1 || fail "the second browser run failed: $(tail -3 "$WORK/browser-same.log")"
for f in 1-overview 2-promise-form 3-promise-answered 4-after-dispute 5-phone 6-invalid-link 7-plan-form 8-email-link \
    9-sms-short-link 10-letter-qr-link 11-expired-link 12-retired-key 13-german 14-preferences-form \
    15-preferences-saved; do
    [ -s "$SHOTS/portal-$f.png" ] || fail "no screenshot portal-$f.png"
done
log "PASS"
