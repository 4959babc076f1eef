#!/usr/bin/env bash
# sender-sms: the second reminder of policy four_stage (e-mail + SMS) becomes exactly one SMS
# at Kannel's fake SMSC (the stack's fakesmsc prints what it receives into $DUNNING_SMS_LOG)
# with the exact rendered text, a delivered deliveries row and a ReminderOutcome on channel
# sms; a redelivered reminder sends nothing; a reminder at 23:00 Berlin time is deferred
# (failed_transient, next attempt 08:00 local = 07:00Z) and sent once the clock passes
# 08:00; a German text with characters outside GSM-7 goes as UCS-2; a text longer than
# DUNNING_SMS_MAX_PARTS parts and a customer without a phone number fail permanently; the
# metrics count exactly that. (tests/integration/policy.yaml)
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is not installed (scripts/deps)"
[ -n "${DUNNING_KANNEL_URL:-}" ] && [ -f "${DUNNING_SMS_LOG:-}" ] || fail "the stack runs no Kannel (scripts/stack restart)"
reset_state
clock_start 2026-03-01T08:00:00Z 0
# A number of this run only: the fake SMSC's log is shared with every earlier run.
PHONE=+4915$(printf '%09d' $(($$ % 1000000000)))
SMS_START=$(wc -l <"$DUNNING_SMS_LOG")
# The default templates, plus two of this tenant's own (a German text with typographic
# quotes, outside GSM-7; a text too long for three parts).
export DUNNING_TEMPLATE_DIR=$WORK/templates
cp -r "$ROOT/config/templates" "$DUNNING_TEMPLATE_DIR"
mkdir -p "$DUNNING_TEMPLATE_DIR/$TENANT"
echo 'Mahnung „{{invoice.number}}“: bitte {{amounts.total_due}} zahlen.' >"$DUNNING_TEMPLATE_DIR/$TENANT/quoted.sms.de.txt"
for _ in $(seq 1 12); do printf 'Invoice {{invoice.number}} is overdue, please pay {{amounts.total_due}}. '; done \
    >"$DUNNING_TEMPLATE_DIR/$TENANT/long.sms.en.txt"

start_service engine dunning-engine
start_service sms sender-sms DUNNING_HTTP_ADDR=127.0.0.1:0 DUNNING_HTTP_ADDR_FILE="$WORK/sms.addr" \
    DUNNING_METRICS_INTERVAL=200ms DUNNING_SMS_FROM=Dunning

wait_until 20 "the sender's address file" '[ -s "$WORK/sms.addr" ]'
HTTP=$(cat "$WORK/sms.addr")
code() { curl -s -o /dev/null -w '%{http_code}' "${@:2}" "$1"; }
value() { awk -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? 0 : v) }' "$1"; }
metric() {
    local f
    f=$(mktemp "$WORK/scrape.XXXXXX")
    curl -sf "http://$HTTP/metrics" >"$f" && value "$f" "$1"
    rm -f "$f"
}
delta() { awk -v a="$(metric "$1")" -v b="$(value "$WORK/sms.base" "$1")" 'BEGIN { print a - b }'; }
assert_eq ok "$(curl -sf "http://$HTTP/healthz")" "/healthz body"
wait_eq 20 "sender ready" 200 code "http://$HTTP/readyz"
assert_eq ready "$(curl -sf "http://$HTTP/readyz")" "/readyz body"

# Settled (other tests' SMS reminders still on the topic are worked off), then the baseline.
wait_until 30 "the sender's partitions" 'grep -q "\"partitions assigned\"" "$WORK/sms.log"'
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
curl -sf "http://$HTTP/metrics" >"$WORK/sms.base"

# sms_to NUMBER: what the fake SMSC received for NUMBER since the test began, one line per
# message: "TYPE|TEXT" (UCS-2 decoded; fakesmsc prints it URL-encoded).
sms_to() {
    tail -n +$((SMS_START + 1)) "$DUNNING_SMS_LOG" | python3 -c '
import re, sys, urllib.parse
for line in sys.stdin:
    m = re.search(r"Got message \d+: <(\S*) (\S+) (\S+) (.*)>$", line.rstrip("\n"))
    if not m or m.group(2) != sys.argv[1]:
        continue
    kind, text = m.group(3), m.group(4)
    if kind == "ucs-2":
        text = urllib.parse.unquote_to_bytes(text.replace("+", "%20")).decode("utf-16-be")
    print(kind + "|" + text)' "$1"
}
sms_count() { sms_to "$1" | wc -l; }

invoice_json SMS1 cust-s 100000 2026-03-10 s@example.com | with_policy four_stage | reachable_everywhere |
    jq -c --arg p "$PHONE" '.contact.phone = $p | .payment_link = "https://pay.example.com/i/SMS1"' | publish invoice-issued
wait_eq 30 "the open case" "SMS1:open" cases_summary

step 2026-03-08T08:00:00Z # friendly reminder (e-mail)
step 2026-03-12T08:00:00Z # first reminder (e-mail)
step 2026-03-17T08:00:00Z # second reminder: e-mail and SMS, 09:00 in Berlin

assert_eq "SMS1,3,second_reminder,sms,second_reminder,100000,500,153,100653" \
    "$(consume_tenant reminder-due.sms | jq -r '[.invoice_id, .stage, .stage_name, .channel, .template_key,
        .outstanding_minor, .fee_minor, .interest_minor, .total_due_minor] | join(",")')" "the one SMS reminder"
RD=$(consume_tenant reminder-due.sms | head -n 1)
EID=$(jq -r .event_id <<<"$RD")
delivery() { psql_q "SELECT status || '|' || channel || '|' || attempts || '|' || coalesce(last_error, '') FROM deliveries WHERE event_id = '$1'"; }
wait_eq 30 "the SMS sent" "delivered|sms|1|" delivery "$EID"
TEXT="Second reminder: invoice N-SMS1 is 7 days overdue. Amount due: €1,006.53 incl. €5.00 fees. Pay now: https://pay.example.com/i/SMS1"
wait_eq 20 "the SMS at the fake SMSC" "text|$TEXT" sms_to "$PHONE"
grep -q "Got message [0-9]*: <Dunning $PHONE text " "$DUNNING_SMS_LOG" || fail "the SMS was not sent from 'Dunning'"
outcome_of() {
    consume_tenant reminder-outcomes | jq -r --arg e "$1" 'select(.reminder_event_id == $e) |
        [.channel, .outcome, (.reason // ""), .attempt, (.next_attempt_at // "")] | join(",")' | sort
}
wait_eq 20 "the outcome published" "sms,delivered,,1," outcome_of "$EID"
grep "\"msg\":\"sms sent\"" "$WORK/sms.log" | grep -q "\"event_id\":\"$EID\".*\"coding\":\"gsm7\",\"parts\":\"1\"" ||
    fail "the log does not say gsm7, 1 part"
grep -q -- "${PHONE#+}" "$WORK/sms.log" && fail "the phone number is in the sender's log"
log "ok: no phone number in the log"

# Redelivery: skipped, nothing sent.
publish reminder-due.sms <<<"$RD"
wait_eq 20 "the redelivery seen by the sender" 1 eval 'grep "reminder already handled, skipped" "$WORK/sms.log" | grep -c "$EID"'
assert_eq 1 "$(sms_count "$PHONE")" "SMS to the number after the redelivery"
assert_eq "delivered|sms|1|" "$(delivery "$EID")" "the delivery row after the redelivery"

# Hand-made reminders for the same (open) case: a new event id each.
variant() { jq -c --arg e "$(cat /proc/sys/kernel/random/uuid)" ".event_id = \$e | $1" <<<"$RD"; }

# No phone number.
NP=$(variant '.contact.phone = null')
publish reminder-due.sms <<<"$NP"
wait_eq 20 "no phone: failed" "failed_permanent|sms|1|no phone number" delivery "$(jq -r .event_id <<<"$NP")"
wait_eq 20 "no phone: outcome" "sms,failed_permanent,no phone number,1," outcome_of "$(jq -r .event_id <<<"$NP")"

# German, with „ and “ (not in GSM-7): UCS-2, one part (under 70 UTF-16 units).
DE=$(variant '.contact.locale = "de" | .template_key = "quoted"')
publish reminder-due.sms <<<"$DE"
wait_eq 20 "the German SMS sent" "delivered|sms|1|" delivery "$(jq -r .event_id <<<"$DE")"
wait_eq 20 "the UCS-2 SMS at the fake SMSC" 2 sms_count "$PHONE"
assert_eq "ucs-2|Mahnung „N-SMS1“: bitte 1.006,53 € zahlen." "$(sms_to "$PHONE" | tail -n 1)" "the German SMS (UCS-2)"
grep "\"msg\":\"sms sent\"" "$WORK/sms.log" | grep -q "\"event_id\":\"$(jq -r .event_id <<<"$DE")\".*\"coding\":\"ucs2\",\"parts\":\"1\"" ||
    fail "the log does not say ucs2, 1 part"

# Too long: 12 sentences of 50 septets (€ counts 2), 599 in all: 4 GSM-7 parts; at most 3 are allowed.
LONG=$(variant '.template_key = "long"')
publish reminder-due.sms <<<"$LONG"
wait_eq 20 "the long text failed" "failed_permanent|sms|1|text needs 4 parts, at most 3 allowed (gsm7, 599 septets)" \
    delivery "$(jq -r .event_id <<<"$LONG")"
assert_eq 2 "$(sms_count "$PHONE")" "SMS to the number after the long text"

# Quiet hours: 23:00 in Berlin (22:00Z, CET). Deferred to 08:00 local = 07:00Z, nothing sent;
# sent once the clock passes 08:00 Berlin.
clock_set 2026-03-17T22:00:00Z
QT=$(variant '.')
QEID=$(jq -r .event_id <<<"$QT")
publish reminder-due.sms <<<"$QT"
QREASON="quiet hours (21:00-08:00 in Europe/Berlin) until 2026-03-18T07:00:00.000Z"
wait_eq 20 "deferred" "failed_transient|sms|1|$QREASON" delivery "$QEID"
wait_eq 20 "deferred: outcome" "sms,failed_transient,$QREASON,1,2026-03-18T07:00:00.000Z" outcome_of "$QEID"
sleep 1
assert_eq 2 "$(sms_count "$PHONE")" "SMS to the number during quiet hours"
clock_set 2026-03-18T06:59:00Z # 07:59 in Berlin: still quiet
sleep 1.5
assert_eq 2 "$(sms_count "$PHONE")" "SMS to the number at 07:59 Berlin"
clock_set 2026-03-18T07:00:01Z
wait_eq 20 "sent after the quiet hours" "delivered|sms|2|" delivery "$QEID"
wait_eq 20 "the deferred SMS at the fake SMSC" 3 sms_count "$PHONE"
assert_eq "text|$TEXT" "$(sms_to "$PHONE" | tail -n 1)" "the deferred SMS"
wait_eq 20 "deferred: both outcomes" "$(printf '%s\n%s' "sms,delivered,,2," "sms,failed_transient,$QREASON,1,2026-03-18T07:00:00.000Z")" outcome_of "$QEID"

# The metrics: exactly what this test did.
wait_eq 10 "delivered counted" 3 delta 'dunning_deliveries_total{outcome="delivered"}'
assert_eq 2 "$(delta 'dunning_deliveries_total{outcome="failed_permanent"}')" "failed_permanent counted"
assert_eq 1 "$(delta 'dunning_deliveries_total{outcome="failed_transient"}')" "failed_transient counted"
assert_eq 0 "$(delta 'dunning_deliveries_total{outcome="suppressed"}')" "suppressed counted"
assert_eq 2 "$(delta 'dunning_sms_parts_total{coding="gsm7"}')" "GSM-7 parts sent"
assert_eq 1 "$(delta 'dunning_sms_parts_total{coding="ucs2"}')" "UCS-2 parts sent"
assert_eq 1 "$(delta 'dunning_sms_quiet_hours_deferrals_total')" "quiet-hours deferrals"
assert_eq 1 "$(delta 'dunning_events_consumed_total{topic="reminder-due.sms",result="duplicate"}')" "duplicates counted"
assert_eq 1 "$(delta 'dunning_events_consumed_total{topic="reminder-due.sms",result="quiet_hours"}')" "quiet-hours holds counted"

stop_service sms TERM
grep -q '"msg":"stopped"' "$WORK/sms.log" || fail "the sender did not log its clean stop"
log "PASS"
