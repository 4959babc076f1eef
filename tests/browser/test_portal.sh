#!/usr/bin/env bash
# The customer portal in a real headless Chromium (tests/browser/portal.py): the link is
# taken from the reminder e-mail the SMTP capture received; the page shows the customer's
# two invoices with their amounts; a promise to pay and a dispute made on the page reach
# the engine (case promised with the total due, case paused for a dispute) and the page
# shows the engine's answers; the page works phone-sized; a tampered link gets the neutral
# page. Screenshots: build/screenshots/portal-*.png.
source "$(dirname "$0")/../integration/lib.sh"
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || fail "chromium and chromium-driver are not installed (scripts/deps)"
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
{
    invoice_json X1 cust-x 12000 2026-03-02 x@example.com
    invoice_json X2 cust-x 35050 2026-03-09 x@example.com
} | publish invoice-issued
wait_eq 30 "two cases" 2 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'"
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
/usr/bin/python3 "$ROOT/tests/browser/portal.py" "$LINK" "$TAMPERED" "$SHOTS" >"$WORK/browser.log" 2>&1 ||
    fail "the browser run failed: $(tail -3 "$WORK/browser.log")"

assert_eq "promised|12000|2026-03-20|portal" \
    "$(psql_q "SELECT c.state || '|' || p.amount_minor || '|' || p.promised_for || '|' || p.channel FROM cases c
        JOIN promises p USING (tenant_id, invoice_id) WHERE c.tenant_id = '$TENANT' AND c.invoice_id = 'X1'")" \
    "X1 after the promise on the page"
assert_eq "paused|dispute" "$(psql_q "SELECT state || '|' || pause_reason FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = 'X2'")" \
    "X2 after the dispute on the page"
assert_eq "dispute|wrong_amount|We were charged for 3 licences, we have 2." \
    "$(psql_q "SELECT action || '|' || (detail->>'reason') || '|' || (detail->>'text') FROM portal_actions WHERE tenant_id = '$TENANT' AND invoice_id = 'X2'")" \
    "the dispute's text"
for f in 1-overview 2-promise-form 3-promise-answered 4-after-dispute 5-phone 6-invalid-link; do
    [ -s "$SHOTS/portal-$f.png" ] || fail "no screenshot portal-$f.png"
done
log "PASS"
