#!/usr/bin/env bash
# The customer portal's API (services/portal, docs/portal.md) on the stack, with the engine:
#   - a link (dunningctl portal link) shows exactly that customer's open invoices with that
#     tenant (not the same customer id at another tenant), with the right amounts;
#   - a tampered link, a link for a customer without cases and an erased customer's link
#     all get the same neutral 404; the page itself carries a strict CSP and no-referrer;
#   - a promise needs the form token (403 without), bad JSON is a 400 with the reason, a
#     date beyond the limit a 422; the promise reaches the engine as a CaseCommand from
#     `portal` (case promised, promise row with the total due) and the answer endpoint shows
#     the engine's audit row; the same form sent twice is a 409;
#   - a dispute pauses the case (reason dispute) and keeps the customer's text for the
#     console; another customer's invoice or answer is a 404;
#   - a link used too often gets 429; the portal's log never holds a token.
source "$(dirname "$0")/lib.sh"
reset_state
"$BIN/dunningctl" migrate >/dev/null
clock_start 2026-03-02T08:00:00Z 0
KEYS="k1:$(printf 'portal-api-test-key-0123456789abc' | base64)"
start_service engine dunning-engine
start_service portal dunning-portal DUNNING_PORTAL_ADDR=127.0.0.1:0 DUNNING_PORTAL_ADDR_FILE="$WORK/portal.addr" \
    DUNNING_PORTAL_KEYS="$KEYS" DUNNING_PORTAL_RATE_ADDRESS=10000 DUNNING_PORTAL_RATE_LINK=25
wait_until 20 "the portal's address file" '[ -s "$WORK/portal.addr" ]'
P=http://$(cat "$WORK/portal.addr")
assert_eq "200 200" "$(curl -s -o /dev/null -w '%{http_code}' "$P/healthz") $(curl -s -o /dev/null -w '%{http_code}' "$P/readyz")" \
    "healthz and readyz"
OTHER="$TENANT-other"
{
    invoice_json A1 cust-a 10000 2026-03-05 a@example.com
    invoice_json A2 cust-a 25000 2026-03-10 a@example.com
    invoice_json B1 cust-b 7000 2026-03-05 b@example.com
    invoice_json OT1 cust-a 99900 2026-03-05 a@example.com | jq -c --arg t "$OTHER" '.tenant_id = $t'
} | publish invoice-issued
wait_eq 30 "four cases" 4 psql_q "SELECT count(*) FROM cases WHERE tenant_id IN ('$TENANT', '$OTHER')"

link() { DUNNING_PORTAL_URL=$P DUNNING_PORTAL_KEYS=$KEYS "$BIN/dunningctl" portal link --tenant "$1" --customer "$2" ${3:+--days "$3"}; }
LA=$(link "$TENANT" cust-a)
TA=${LA##*/p/}
LB=$(link "$TENANT" cust-b)
TB=${LB##*/p/}
get() { curl -s -w '\n%{http_code}' "$P/api/p/$1"; }
status_of() { tail -1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }

# The overview: A1 and A2, not OT1 (same customer id, other tenant), not B1.
R=$(get "$TA")
assert_eq 200 "$(status_of "$R")" "A's overview"
assert_eq "A1|N-A1|2026-03-05|open|10000|0|0|10000|EUR|0 A2|N-A2|2026-03-10|open|25000|0|0|25000|EUR|0" \
    "$(body_of "$R" | jq -r '[.invoices[] | [.invoice_id, .number, .due_date, .state, .outstanding_minor, .fee_minor,
        .interest_minor, .total_due_minor, .currency, .reminders_sent] | map(tostring) | join("|")] | join(" ")')" \
    "A's invoices with their amounts"
assert_eq "Customer cust-a|en|$TENANT" "$(body_of "$R" | jq -r '.customer_name + "|" + .locale + "|" + .tenant_id')" "whose page"
FORM=$(body_of "$R" | jq -r .form_token)

# Neutral answers: tampered, no such customer, another tenant's key space, erased (below).
NEUTRAL='{"error":"This link is not valid or has expired."}'
PAY=$(cut -d. -f2 <<<"$TA")
FLIP=$([ "${PAY:3:1}" = A ] && echo B || echo A)
TAMPERED="k1.${PAY:0:3}$FLIP${PAY:4}.$(cut -d. -f3 <<<"$TA")"
for t in "$TAMPERED" "${LA##*/p/}x" "$(link "$TENANT" cust-nobody | sed 's|.*/p/||')" "$(link "$TENANT-nobody" cust-a | sed 's|.*/p/||')" "garbage"; do
    R=$(get "$t")
    assert_eq "404 $NEUTRAL" "$(status_of "$R") $(body_of "$R" | jq -c .)" "a link that is not valid"
done

# The page: its headers.
HDRS=$(curl -s -D - -o "$WORK/page.html" "$P/p/$TA")
grep -qi "^Content-Security-Policy: default-src 'self'" <<<"$HDRS" || fail "no strict CSP on the page: $HDRS"
grep -qi "^Referrer-Policy: no-referrer" <<<"$HDRS" || fail "no Referrer-Policy: no-referrer on the page"
grep -q '<script type="module" src="/portal.js"></script>' "$WORK/page.html" || fail "the page does not load portal.js"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "$P/portal.js")" "portal.js is served"

post() { # TOKEN PATH FORM JSON
    curl -s -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' ${3:+-H "X-Form-Token: $3"} \
        --data "$4" "$P/api/p/$1$2"
}
R=$(post "$TA" /promise "" '{"invoice_id":"A1","date":"2026-03-20"}')
assert_eq "403 The form has expired. Please reload the page." "$(status_of "$R") $(body_of "$R" | jq -r .error)" "no form token"
R=$(post "$TA" /promise "$FORM" '{"invoice_id":"A1",')
assert_eq 400 "$(status_of "$R")" "bad JSON"
[ -n "$(body_of "$R" | jq -r .error)" ] || fail "bad JSON without a reason"
R=$(post "$TA" /promise "$FORM" '{"invoice_id":"A1","date":"2026-06-01"}')
assert_eq "422 The date must be between today and 30 days from today." "$(status_of "$R") $(body_of "$R" | jq -r .error)" "too far"
R=$(post "$TA" /promise "$FORM" '{"invoice_id":"B1","date":"2026-03-20"}')
assert_eq "404 There is no open invoice B1 here." "$(status_of "$R") $(body_of "$R" | jq -r .error)" "another customer's invoice"
R=$(post "$TA" /promise "$FORM" '{"invoice_id":"A1","date":"2026-03-20"}')
assert_eq 202 "$(status_of "$R")" "the promise"
CMD=$(body_of "$R" | jq -r .command_id)
R=$(post "$TA" /promise "$FORM" '{"invoice_id":"A1","date":"2026-03-21"}')
assert_eq "409 This form was already sent. Please reload the page." "$(status_of "$R") $(body_of "$R" | jq -r .error)" "the same form twice"
wait_eq 30 "A1 promised" promised case_field A1 state
assert_eq "10000|2026-03-20|portal|portal" \
    "$(psql_q "SELECT amount_minor || '|' || promised_for || '|' || channel || '|' || actor FROM promises WHERE tenant_id = '$TENANT' AND invoice_id = 'A1'")" \
    "the promise the engine made of it"
wait_eq 20 "the answer" "answered promise_made" eval "curl -s '$P/api/p/$TA/answers/$CMD' | jq -r '.status + \" \" + ([.answers[].kind] | join(\",\"))'"

# A dispute: the case pauses; the customer's text stays with the portal, for the console.
FORM=$(get "$TA" | sed '$d' | jq -r .form_token)
R=$(post "$TA" /dispute "$FORM" '{"invoice_id":"A2","reason":"wrong_amount","text":"We ordered 2, not 3."}')
assert_eq 202 "$(status_of "$R")" "the dispute"
wait_eq 30 "A2 paused (dispute)" "paused|dispute" eval "psql_q \"SELECT state || '|' || pause_reason FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = 'A2'\""
assert_eq "dispute|wrong_amount|We ordered 2, not 3." \
    "$(psql_q "SELECT action || '|' || (detail->>'reason') || '|' || (detail->>'text') FROM portal_actions WHERE tenant_id = '$TENANT' AND invoice_id = 'A2'")" \
    "the dispute's text for the console"
R=$(post "$TA" /dispute "$(get "$TA" | sed '$d' | jq -r .form_token)" '{"invoice_id":"A2","reason":"because"}')
assert_eq 400 "$(status_of "$R")" "an unknown dispute reason"
R=$(get "$TA")
assert_eq "A1:promised:2026-03-20 A2:paused:dispute" \
    "$(body_of "$R" | jq -r '[.invoices[] | .invoice_id + ":" + .state + ":" + (.promised_for // .paused.reason // "")] | join(" ")')" \
    "the page shows what the engine did"

# B claims to have paid; A's link cannot read B's answer.
FORM=$(get "$TB" | sed '$d' | jq -r .form_token)
R=$(post "$TB" /claim-paid "$FORM" '{"invoice_id":"B1","note":"paid 03-04, ref 123"}')
assert_eq 202 "$(status_of "$R")" "B's claim"
BCMD=$(body_of "$R" | jq -r .command_id)
assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "$P/api/p/$TA/answers/$BCMD")" "A's link and B's answer"

# The rate limit per link: B's link has been used twice; 25 a minute are allowed.
n=0
for i in $(seq 1 30); do
    c=$(curl -s -o /dev/null -w '%{http_code}' "$P/api/p/$TB")
    [ "$c" = 429 ] && break
    n=$((n + 1))
done
assert_eq "23 429" "$n $c" "requests on B's link before the limit"

# Erasure: B's link stops working, B's portal text is gone.
"$BIN/dunningctl" customer erase "$TENANT" cust-b >/dev/null
LB2=$(link "$TENANT" cust-b 2)
R=$(get "${LB2##*/p/}")
assert_eq "404 $NEUTRAL" "$(status_of "$R") $(body_of "$R" | jq -c .)" "an erased customer's link"
assert_eq 0 "$(psql_q "SELECT count(*) FROM portal_actions WHERE tenant_id = '$TENANT' AND customer_id = 'cust-b'")" "B's portal actions after erasure"

grep -qF "$TA" "$WORK/portal.log" && fail "a token in the portal's log"
grep -qF "$PAY" "$WORK/portal.log" && fail "a token's payload in the portal's log"
log "PASS"
