#!/usr/bin/env bash
# The credit-manager console in a real headless Chromium (tests/browser/console.py): two
# collectors of two tenants; the first logs in and keeps the worklist open while invoices
# are published through Kafka and become due: A1 appears on the page without a reload (the
# console's server-sent events from dunning-case-events); the case view; a pause for a
# dispute made on the page reaches the engine (state paused, the user as actor) and the page
# shows it without a reload; the phone-sized worklist; logout; the other tenant's collector
# sees only their own case and A1's URL is not found; the timeline's exports, the e-mail
# under "What was sent", "Resend last reminder" (a second e-mail delivered) and the overview's
# consumer lag. Screenshots: build/screenshots/console-*.png.
source "$(dirname "$0")/../integration/lib.sh"
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] || fail "chromium and chromium-driver are not installed (scripts/deps)"
/usr/bin/python3 -c 'import selenium' 2>/dev/null || fail "python3-selenium is not installed (scripts/deps)"
reset_state
"$BIN/dunningctl" migrate >/dev/null
clock_start 2026-03-02T08:00:00Z 0
TA=$TENANT-a
TB=$TENANT-b
start_service engine dunning-engine
start_service email sender-email
start_service console dunning-console DUNNING_CONSOLE_ADDR=127.0.0.1:0 DUNNING_CONSOLE_ADDR_FILE="$WORK/console.addr"
wait_until 20 "the console's address file" '[ -s "$WORK/console.addr" ]'
URL=http://$(cat "$WORK/console.addr")
# The console reads the case events from the end: it must have its partitions first.
wait_until 30 "the console reading the case events" "curl -sf '$URL/readyz' >/dev/null"

PW=browser-test-password
U=$$
psql_q "DELETE FROM console_users WHERE login IN ('bra-$U', 'brb-$U')" >/dev/null
echo "$PW" | "$BIN/dunningctl" user add "bra-$U" --role collector --tenants "$TA" >/dev/null 2>&1 || fail "user add bra-$U"
echo "$PW" | "$BIN/dunningctl" user add "brb-$U" --role collector --tenants "$TB" >/dev/null 2>&1 || fail "user add brb-$U"

SHOTS=$ROOT/build/screenshots
mkdir -p "$WORK/signal"
log "the worklist in Chromium (screenshots in $SHOTS)"
/usr/bin/python3 "$ROOT/tests/browser/console.py" "$URL" "bra-$U" "brb-$U" "$PW" "$SHOTS" "$WORK/signal" \
    >"$WORK/browser.log" 2>&1 &
BROWSER=$!
wait_until 60 "the worklist open in the browser" "[ -e '$WORK/signal/ready' ] || ! kill -0 $BROWSER 2>/dev/null"
[ -e "$WORK/signal/ready" ] || fail "the browser run failed: $(tail -3 "$WORK/browser.log")"
{
    TENANT=$TA invoice_json A1 cust-a1 12000 2026-03-02 a1@example.com
    TENANT=$TB invoice_json B1 cust-b1 34500 2026-03-02 b1@example.com
} | publish invoice-issued
wait_eq 30 "two cases" 2 psql_q "SELECT count(*) FROM cases WHERE tenant_id IN ('$TA', '$TB')"
clock_set 2026-03-04T09:00:00Z
wait "$BROWSER" || fail "the browser run failed: $(tail -3 "$WORK/browser.log")"

assert_eq "paused|dispute|2026-03-20" \
    "$(psql_q "SELECT state || '|' || pause_reason || '|' || paused_until FROM cases WHERE tenant_id = '$TA' AND invoice_id = 'A1'")" \
    "A1 after the pause on the page"
assert_eq "user:bra-$U" \
    "$(psql_q "SELECT detail->>'actor' FROM audit WHERE tenant_id = '$TA' AND invoice_id = 'A1' AND kind = 'paused'")" \
    "the pause's actor"
assert_eq "user:bra-$U|Customer disputes the quantity." \
    "$(psql_q "SELECT author || '|' || text FROM console_notes WHERE tenant_id = '$TA'")" "the note with the pause"
assert_eq "$(cat "$WORK/signal/case_id")" "$(psql_q "SELECT case_id FROM cases WHERE tenant_id = '$TA' AND invoice_id = 'A1'")" \
    "the case the page showed"
assert_eq "reminder_resent|user:bra-$U" \
    "$(psql_q "SELECT kind || '|' || (detail->>'actor') FROM audit WHERE tenant_id = '$TA' AND invoice_id = 'A1' AND kind = 'reminder_resent'")" \
    "the resend from the page, by the user"
assert_eq 2 "$(mail_count_to a1@example.com)" "two e-mails to A1: the reminder and its resend"
assert_eq "csv pdf" "$(psql_q "SELECT string_agg(detail->>'format', ' ' ORDER BY detail->>'format') FROM console_access_log WHERE login = 'bra-$U' AND kind = 'export'")" \
    "the exports fetched on the page, in the access log"
assert_eq 1 "$(psql_q "SELECT count(*) FROM console_access_log WHERE login = 'bra-$U' AND kind = 'login_failed'")" \
    "the wrong password on the page, logged"
for f in 1-login 2-worklist-empty 3-worklist-case 4-case 5-case-paused 6-phone-worklist 7-logged-out \
    8-other-tenant-worklist 9-other-tenant-case 10-overview 11-case-sent 12-case-resent; do
    [ -s "$SHOTS/console-$f.png" ] || fail "no screenshot console-$f.png"
done
log "PASS"
