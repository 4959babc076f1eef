#!/usr/bin/env bash
# Card-expiry notices (issue 17), under the simulated clock with policy `cards`
# (card_expiry: notices 30d and 7d before expiry, on e-mail and SMS). Three customers'
# default cards expire 04/2026, so each is valid through 30 April and "expires" on 1 May:
#   cust-k keeps the card and gets both notices, on 1 April (30d) and 24 April (7d), by
#     e-mail and SMS, with the card's last four digits, expiry and update link;
#   cust-m updates the card (new expiry 12/2029) on 10 March: both notices are cancelled
#     and two for the new expiry are scheduled (2 and 25 December 2029); a stale copy of
#     the first event, arriving late, changes nothing; no message goes out;
#   cust-n's first notice is emitted on 1 April while the sender is down and the card is
#     updated before the sender is back: the sender's last-mile check suppresses it, and the
#     7-day notice is cancelled.
#   cust-r is retrying a failed charge when it adds a card: the retry is asked for at once.
# (tests/integration/policy.yaml)
source "$(dirname "$0")/lib.sh"
[ -n "${DUNNING_KANNEL_URL:-}" ] && [ -f "${DUNNING_SMS_LOG:-}" ] || fail "the stack runs no Kannel (scripts/stack restart)"
reset_state
clock_start 2026-03-01T08:00:00Z 0
# A number of this run only: the fake SMSC's log is shared with every earlier run.
PHONE=+4916$(printf '%09d' $(($$ % 1000000000)))
SMS_START=$(wc -l <"$DUNNING_SMS_LOG")
start_service engine dunning-engine
start_service sender sender-email
start_service sms sender-sms DUNNING_HTTP_ADDR=127.0.0.1:0 DUNNING_HTTP_ADDR_FILE="$WORK/sms.addr" DUNNING_SMS_FROM=Dunning

# sms_to NUMBER: the texts the fake SMSC received for NUMBER since the test began.
sms_to() {
    tail -n +$((SMS_START + 1)) "$DUNNING_SMS_LOG" | /usr/bin/python3 -c '
import re, sys, urllib.parse
for line in sys.stdin:
    m = re.search(r"Got message \d+: <(\S*) (\S+) (\S+) (.*)>$", line.rstrip("\n"))
    if m and m.group(2) == sys.argv[1]:
        print(urllib.parse.unquote_plus(m.group(4)) if m.group(3) == "text" else m.group(3))
' "$1"
}
ms() { echo $(($(date -u -d "$1" +%s) * 1000)); }
# card_json CUSTOMER PM CHANGE LAST4 EXP_MONTH EXP_YEAR OCCURRED_AT [EVENT_ID]: a PaymentMethodUpdated.
card_json() {
    jq -cn --arg t "$TENANT" --arg c "$1" --arg pm "$2" --arg ch "$3" --arg l4 "$4" --argjson m "$5" --argjson y "$6" \
        --argjson at "$(ms "$7")" --arg eid "${8:-$(cat /proc/sys/kernel/random/uuid)}" \
        '{event_id: $eid, occurred_at: $at, tenant_id: $t, customer_id: $c, payment_method_id: $pm, change: $ch,
          brand: "visa", last4: $l4, exp_month: $m, exp_year: $y, is_default: true,
          update_link: ("https://billing.example.com/cards/" + $pm)}'
}
# notices CUSTOMER: "notice_date:state" of the customer's card notices, by date.
notices() {
    psql_q "SELECT coalesce(string_agg(notice_date || ':' || state, ' ' ORDER BY notice_date), '') FROM notices
            WHERE tenant_id = '$TENANT' AND customer_id = '$1' AND kind = 'card_expiry'"
}
card_audit() {
    psql_q "SELECT coalesce(string_agg(kind, ' ' ORDER BY id), '') FROM audit WHERE tenant_id = '$TENANT'
            AND customer_id = '$1' AND kind LIKE 'card_notice_%'"
}

# Each customer has an invoice (it gives the contact and the policy), due long after the test.
for c in k m n; do
    invoice_json "${c^^}1" "cust-$c" 10000 2026-06-01 "cust-$c@example.com" | with_policy cards |
        jq -c --arg p "$([ $c = k ] && echo "$PHONE")" 'if $p != "" then .contact.phone = $p else . end' |
        publish invoice-issued
done
wait_eq 30 "cases open" "K1:open M1:open N1:open" cases_summary
M_ADDED=$(cat /proc/sys/kernel/random/uuid)
card_json cust-k pm-k added 4242 4 2026 2026-03-01T08:00:00Z | publish payment-method-updated
card_json cust-m pm-m added 5555 4 2026 2026-03-01T08:00:00Z "$M_ADDED" | publish payment-method-updated
card_json cust-n pm-n added 1111 4 2026 2026-03-01T08:00:00Z | publish payment-method-updated
wait_eq 30 "two notices scheduled for each card" "6" \
    psql_q "SELECT count(*) FROM notices WHERE tenant_id = '$TENANT' AND state = 'pending'"
for c in k m n; do
    assert_eq "2026-04-01:pending 2026-04-24:pending" "$(notices cust-$c)" "cust-$c's notices, 30 and 7 days before 1 May"
done
assert_eq "2026-04-01 00:00:00+00 2026-04-24 00:00:00+00" \
    "$(psql_q "SET TIME ZONE 'UTC'; SELECT string_agg(due_at::text, ' ' ORDER BY due_at) FROM notices WHERE tenant_id = '$TENANT' AND customer_id = 'cust-k'")" \
    "cust-k's notices fall due at the start of their days"

# cust-m updates the card; then the first event arrives again (redelivered) and a stale
# copy under a new id (reordered): neither brings the old notices back.
step 2026-03-10T08:00:00Z
card_json cust-m pm-m updated 5555 12 2029 2026-03-10T08:00:00Z | publish payment-method-updated
wait_eq 20 "cust-m's notices moved to the new expiry" \
    "2026-04-01:cancelled 2026-04-24:cancelled 2029-12-02:pending 2029-12-25:pending" notices cust-m
card_json cust-m pm-m added 5555 4 2026 2026-03-01T08:00:00Z "$M_ADDED" | publish payment-method-updated
card_json cust-m pm-m added 5555 4 2026 2026-03-01T07:00:00Z | publish payment-method-updated
card_json cust-k pm-k expiring 4242 4 2026 2026-03-10T08:00:00Z | publish payment-method-updated # no change for k
wait_until 20 "the late events consumed" "grep -c 'older than the one stored' '$WORK/engine.log' | grep -qx 1"
assert_eq "2026-04-01:cancelled 2026-04-24:cancelled 2029-12-02:pending 2029-12-25:pending" "$(notices cust-m)" \
    "the late events changed nothing"
assert_eq "2029|12|active" "$(psql_q "SELECT exp_year || '|' || exp_month || '|' || status FROM payment_methods WHERE tenant_id = '$TENANT' AND payment_method_id = 'pm-m'")" \
    "pm-m keeps the newer expiry"
assert_eq "2026-04-01:pending 2026-04-24:pending" "$(notices cust-k)" "an 'expiring' for the same card keeps cust-k's notices"

# A failed card charge is retrying (next retry 03-11); the customer adds a new card: the
# retry is brought forward to now (Stripe's behaviour) and asked for at once; then it succeeds.
invoice_json R1 cust-r 4990 2026-03-10 cust-r@example.com | with_policy card | publish invoice-issued
wait_eq 20 "R1 open" open case_field R1 state
failed_json ch-1 R1 cust-r 4990 insufficient_funds | publish payment-failed
wait_eq 20 "R1 retrying" "retrying|retry|2026-03-11 08:00:00+00" case_field R1 "state || '|' || next_action || '|' || next_action_at"
card_json cust-r pm-r added 9999 8 2028 2026-03-10T08:00:00Z | publish payment-method-updated
wait_eq 20 "the retry asked for at once" "1,2026-03-10T08:00:00.000Z" eval \
    "consume_tenant payment-retry-due | jq -r '[.attempt, .occurred_at] | join(\",\")'"
assert_eq "opened retrying retry_brought_forward retry_requested" "$(audit_trail R1)" "R1's audit trail"
assert_eq "2026-03-11T08:00:00.000Z|pm-r" \
    "$(psql_q "SELECT detail->>'scheduled_at' || '|' || (detail->>'payment_method_id') FROM audit WHERE tenant_id = '$TENANT' AND kind = 'retry_brought_forward'")" \
    "the retry it replaced, and the card that caused it"
payment_json ch-2 R1 cust-r 4990 | publish payment-received
wait_eq 20 "R1 paid" resolved case_field R1 state

# The sender is down when the 30-day notices go out; cust-n updates the card before it is back.
stop_service sender
step 2026-04-01T08:00:00Z
assert_eq "2026-04-01:sent 2026-04-24:pending" "$(notices cust-k)" "cust-k's first notice emitted"
assert_eq "2026-04-01:sent 2026-04-24:pending" "$(notices cust-n)" "cust-n's first notice emitted"
card_json cust-n pm-n updated 1111 12 2029 2026-04-01T08:00:00Z | publish payment-method-updated
wait_eq 20 "cust-n's 7-day notice cancelled" \
    "2026-04-01:sent 2026-04-24:cancelled 2029-12-02:pending 2029-12-25:pending" notices cust-n
start_service sender sender-email
wait_eq 30 "cust-k's first notice e-mailed" 1 mail_count_to cust-k@example.com
wait_eq 30 "cust-n's notice suppressed" "suppressed|the card was updated since (new expiry date)" \
    psql_q "SELECT string_agg(d.status || '|' || coalesce(d.last_error, ''), ' ') FROM deliveries d JOIN notices n ON n.notice_id = d.case_id WHERE d.tenant_id = '$TENANT' AND n.customer_id = 'cust-n'"
assert_eq "Your card ending in 4242 expires 04/2026: please update your payment details" \
    "$(mail_part cust-k@example.com subject)" "cust-k's subject"
body=$(mail_part cust-k@example.com text) || fail "cust-k's notice"
for want in "the visa card ending in 4242 that we charge for your" "subscription expires at the end of 04/2026." \
    "https://billing.example.com/cards/pm-k"; do
    grep -qxF -- "$want" <<<"$body" || fail "cust-k's notice lacks the line '$want': $body"
done
grep -q "EUR\|€\|K1" <<<"$body" && fail "a card notice names an invoice or an amount: $body"
SMS="Your card ending in 4242 expires 04/2026. Please update your payment details: https://billing.example.com/cards/pm-k"
wait_eq 30 "cust-k's first SMS" "$SMS" sms_to "$PHONE"
assert_eq 0 "$(($(mail_count_to cust-m@example.com) + $(mail_count_to cust-n@example.com)))" "nothing to cust-m or cust-n"

rm -f "$DUNNING_MAIL_DIR"/*.eml
step 2026-04-24T08:00:00Z
assert_eq "2026-04-01:sent 2026-04-24:sent" "$(notices cust-k)" "cust-k's second notice emitted"
wait_eq 30 "cust-k's second notice e-mailed" 1 mail_count_to cust-k@example.com
wait_eq 30 "cust-k's second SMS" "$SMS
$SMS" sms_to "$PHONE"
assert_eq 0 "$(($(mail_count_to cust-m@example.com) + $(mail_count_to cust-n@example.com)))" "still nothing to cust-m or cust-n"

card_lines() { # the card notices on the channel topics, one line each
    for t in reminder-due.email reminder-due.sms; do consume_tenant "$t"; done |
        jq -r 'select(.notice_kind == "card_expiry") | [.customer_id, .channel, .occurred_at[0:10], .invoice_id, .stage,
            .template_key, .card.last4, .card.exp_month, .card.exp_year, .update_link] | map(tostring) | join(",")' | sort
}
assert_eq "cust-k,email,2026-04-01,,0,card_expiry,4242,4,2026,https://billing.example.com/cards/pm-k
cust-k,email,2026-04-24,,0,card_expiry,4242,4,2026,https://billing.example.com/cards/pm-k
cust-k,sms,2026-04-01,,0,card_expiry,4242,4,2026,https://billing.example.com/cards/pm-k
cust-k,sms,2026-04-24,,0,card_expiry,4242,4,2026,https://billing.example.com/cards/pm-k
cust-n,email,2026-04-01,,0,card_expiry,1111,4,2026,https://billing.example.com/cards/pm-n" "$(card_lines)" \
    "the card notices the engine emitted (cust-n has no phone: e-mail only)"
assert_eq "delivered:4 suppressed:1" \
    "$(psql_q "SELECT string_agg(status || ':' || n, ' ' ORDER BY status) FROM (SELECT status, count(*) AS n FROM deliveries WHERE tenant_id = '$TENANT' GROUP BY status) s")" \
    "four delivered, cust-n's suppressed"
assert_eq "card_notice_scheduled card_notice_scheduled card_notice_sent card_notice_sent" "$(card_audit cust-k)" "cust-k's audit"
assert_eq "card_notice_scheduled card_notice_scheduled card_notice_cancelled card_notice_cancelled card_notice_scheduled card_notice_scheduled" \
    "$(card_audit cust-m)" "cust-m's audit"
assert_eq "card_notice_scheduled card_notice_scheduled card_notice_sent card_notice_cancelled card_notice_scheduled card_notice_scheduled" \
    "$(card_audit cust-n)" "cust-n's audit"
assert_eq "K1:open M1:open N1:open R1:resolved" "$(cases_summary)" "the invoices' cases are untouched"
log "PASS"
