#!/usr/bin/env bash
# The SMS's short portal link (docs/portal.md): sender-sms with DUNNING_PORTAL_URL puts
# <portal>/s/<8 characters> into the text (one GSM-7 part) and stores the id with its
# token once per reminder (a redelivered reminder adds no row and no SMS); the portal
# answers the short id exactly as the long link (the same invoices), and refuses it the
# same neutral way when its key is retired, when it has expired, for an id nobody made, and
# once the customer is erased.
source "$(dirname "$0")/lib.sh"
[ -n "${DUNNING_KANNEL_URL:-}" ] && [ -f "${DUNNING_SMS_LOG:-}" ] || fail "the stack runs no Kannel (scripts/stack restart)"
reset_state
"$BIN/dunningctl" migrate >/dev/null
clock_start 2026-03-01T08:00:00Z 0
PHONE=+4916$(printf '%09d' $(($$ % 1000000000)))
SMS_START=$(wc -l <"$DUNNING_SMS_LOG")
KEYS="k1:$(printf 'portal-short-test-key-0123456789ab' | base64)"
start_service portal dunning-portal DUNNING_PORTAL_ADDR=127.0.0.1:0 DUNNING_PORTAL_ADDR_FILE="$WORK/portal.addr" \
    DUNNING_PORTAL_KEYS="$KEYS" DUNNING_PORTAL_RATE_ADDRESS=10000
wait_until 20 "the portal's address file" '[ -s "$WORK/portal.addr" ]'
P=http://$(cat "$WORK/portal.addr")
start_service engine dunning-engine
start_service sms sender-sms DUNNING_HTTP_ADDR=127.0.0.1:0 DUNNING_PORTAL_URL="$P" DUNNING_PORTAL_KEYS="$KEYS"

invoice_json SH1 cust-sh 100000 2026-03-10 sh@example.com | with_policy four_stage | reachable_everywhere |
    jq -c --arg p "$PHONE" '.contact.phone = $p | .payment_link = "https://pay.example.com/i/SH1"' | publish invoice-issued
wait_eq 30 "the open case" "SH1:open" cases_summary
step 2026-03-08T08:00:00Z
step 2026-03-12T08:00:00Z
step 2026-03-17T08:00:00Z # second reminder: e-mail and SMS
RD=$(consume_tenant reminder-due.sms | head -n 1)
EID=$(jq -r .event_id <<<"$RD")
wait_eq 30 "the SMS sent" delivered psql_q "SELECT status FROM deliveries WHERE event_id = '$EID'"
texts() { tail -n +$((SMS_START + 1)) "$DUNNING_SMS_LOG" | grep -F " $PHONE " | sed -E 's/.*Got message [0-9]+: <\S+ \S+ (\S+) (.*)>$/\1|\2/'; }
TEXT=$(texts)
ID=$(psql_q "SELECT short_id FROM portal_short_links WHERE reminder_id = '$EID'")
[ ${#ID} = 8 ] || fail "no short id stored for the reminder: '$ID'"
assert_eq "text|Second reminder: invoice N-SH1 is 7 days overdue. Amount due: €1,006.53 incl. €5.00 fees. Pay now: $P/s/$ID" \
    "$TEXT" "the SMS carries the short link"
grep "\"msg\":\"sms sent\"" "$WORK/sms.log" | grep -q "\"event_id\":\"$EID\".*\"coding\":\"gsm7\",\"parts\":\"1\"" ||
    fail "the SMS is not one GSM-7 part"
TOKEN=$(psql_q "SELECT token FROM portal_short_links WHERE short_id = '$ID'")
assert_eq "$TENANT cust-sh 2026-04-16" \
    "$(DUNNING_PORTAL_KEYS=$KEYS "$BIN/dunningctl" portal verify "$P/p/$TOKEN" | jq -r '.tenant_id + " " + .customer_id + " " + .expires_at[0:10]')" \
    "the short id's token: this customer, 30 days after the reminder was due"

# Redelivered: no second row, no second SMS.
publish reminder-due.sms <<<"$RD"
wait_until 20 "the redelivery consumed" "grep -c '\"event_id\":\"$EID\"' '$WORK/sms.log' | grep -qv '^1$'"
assert_eq "1 1" "$(psql_q "SELECT count(*) FROM portal_short_links WHERE reminder_id = '$EID'") $(texts | wc -l)" "one id, one SMS"

# The portal: the short id is the long link.
assert_eq "$(curl -s "$P/api/p/$TOKEN" | jq -c .invoices)" "$(curl -s "$P/api/p/$ID" | jq -c .invoices)" "the same page data"
assert_eq "SH1 100653" "$(curl -s "$P/api/p/$ID" | jq -r '.invoices[] | .invoice_id + " " + (.total_due_minor | tostring)')" "the customer's invoice"
curl -s "$P/s/$ID" | grep -q '<script type="module" src="/portal.js"></script>' || fail "/s/<id> is not the page"
R=$(curl -s "$P/api/p/$ID")
FORM=$(jq -r .form_token <<<"$R")
assert_eq 202 "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H "X-Form-Token: $FORM" \
    --data '{"invoice_id":"SH1","reason":"other","text":"via SMS"}' "$P/api/p/$ID/dispute")" "an action through the short link"

NEUTRAL='404 {"error":"This link is not valid or has expired."}'
neutral() { echo "$(curl -s -o "$WORK/neutral.json" -w '%{http_code}' "$P/api/p/$1") $(jq -c . "$WORK/neutral.json")"; }
assert_eq "$NEUTRAL" "$(neutral ZZZZ9999)" "an id nobody made"
clock_set 2026-04-17T00:00:00Z
assert_eq "$NEUTRAL $NEUTRAL" "$(neutral "$ID") $(neutral "$TOKEN")" "expired, short and long alike"
clock_set 2026-03-18T08:00:00Z
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "$P/api/p/$ID")" "valid again before the expiry"
stop_service portal
start_service portal2 dunning-portal DUNNING_PORTAL_ADDR=127.0.0.1:0 DUNNING_PORTAL_ADDR_FILE="$WORK/portal2.addr" \
    DUNNING_PORTAL_KEYS="k2:$(printf 'portal-short-test-key-the-next-one' | base64)" DUNNING_PORTAL_RATE_ADDRESS=10000
wait_until 20 "the second portal's address file" '[ -s "$WORK/portal2.addr" ]'
P=http://$(cat "$WORK/portal2.addr")
assert_eq "$NEUTRAL $NEUTRAL" "$(neutral "$ID") $(neutral "$TOKEN")" "k1 retired: short and long alike"
stop_service portal2
start_service portal3 dunning-portal DUNNING_PORTAL_ADDR=127.0.0.1:0 DUNNING_PORTAL_ADDR_FILE="$WORK/portal3.addr" \
    DUNNING_PORTAL_KEYS="$KEYS" DUNNING_PORTAL_RATE_ADDRESS=10000
wait_until 20 "the third portal's address file" '[ -s "$WORK/portal3.addr" ]'
P=http://$(cat "$WORK/portal3.addr")
"$BIN/dunningctl" customer erase "$TENANT" cust-sh >/dev/null
assert_eq "$NEUTRAL 0" "$(neutral "$ID") $(psql_q "SELECT count(*) FROM portal_short_links WHERE tenant_id = '$TENANT'")" \
    "erased: refused, and the short ids are gone"
log "PASS"
