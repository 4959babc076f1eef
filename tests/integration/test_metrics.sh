#!/usr/bin/env bash
# The operations endpoint of dunning-engine and sender-email (/healthz, /readyz, /metrics):
# two invoices, a duplicate and a malformed record go through the pipeline, the clock moves
# to the first reminder, and the counters say exactly that. Other paths 404, other methods 405.
#
# The consumer groups are the shared ones of every test, so a service may first work off
# records earlier tests left behind: the counts asserted are the changes from a baseline
# taken once both services have settled.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is not installed (scripts/deps)"
reset_state
clock_start 2026-03-02T00:00:00Z 0 # frozen: the test moves time itself
start_service engine dunning-engine DUNNING_HTTP_ADDR=127.0.0.1:0 DUNNING_HTTP_ADDR_FILE="$WORK/engine.addr" \
    DUNNING_METRICS_INTERVAL=200ms
start_service sender sender-email DUNNING_HTTP_ADDR=127.0.0.1:0 DUNNING_HTTP_ADDR_FILE="$WORK/sender.addr" \
    DUNNING_METRICS_INTERVAL=200ms
wait_until 20 "the engine's address file" '[ -s "$WORK/engine.addr" ]'
wait_until 20 "the sender's address file" '[ -s "$WORK/sender.addr" ]'
ENGINE=$(cat "$WORK/engine.addr")
SENDER=$(cat "$WORK/sender.addr")
log "engine on $ENGINE, sender on $SENDER"
grep -q "\"msg\":\"http listening\",\"addr\":\"$ENGINE\"" "$WORK/engine.log" || fail "the engine did not log its address"
grep -q "\"msg\":\"http listening\",\"addr\":\"$SENDER\"" "$WORK/sender.log" || fail "the sender did not log its address"

# code URL [CURL ARGS...]: the HTTP status.
code() { curl -s -o /dev/null -w '%{http_code}' "${@:2}" "$1"; }
# scrape ADDR FILE: saves the metrics text.
scrape() { curl -sf "http://$1/metrics" >"$2"; }
# value FILE 'NAME{LABELS}': the sample's value in a saved scrape, 0 when absent.
value() { awk -v k="$2" '$1 == k { v = $2 } END { print (v == "" ? 0 : v) }' "$1"; }
# metric ADDR 'NAME{LABELS}': the current value.
metric() {
    local f
    f=$(mktemp "$WORK/scrape.XXXXXX")
    scrape "$1" "$f" && value "$f" "$2"
    rm -f "$f"
}
# delta SERVICE 'NAME{LABELS}': the change since the baseline.
delta() {
    local addr=$ENGINE
    [ "$1" = sender ] && addr=$SENDER
    local now base
    now=$(metric "$addr" "$2")
    base=$(value "$WORK/$1.base" "$2")
    awk -v a="$now" -v b="$base" 'BEGIN { print a - b }'
}

assert_eq 200 "$(code "http://$ENGINE/healthz")" "engine /healthz"
assert_eq ok "$(curl -sf "http://$ENGINE/healthz")" "engine /healthz body"
assert_eq 200 "$(code "http://$SENDER/healthz")" "sender /healthz"
wait_eq 20 "engine ready" 200 code "http://$ENGINE/readyz"
wait_eq 20 "sender ready" 200 code "http://$SENDER/readyz"
assert_eq ready "$(curl -sf "http://$ENGINE/readyz")" "engine /readyz body"
assert_eq 404 "$(code "http://$ENGINE/nope")" "engine /nope"
assert_eq 404 "$(code "http://$SENDER/nope")" "sender /nope"
assert_eq 405 "$(code "http://$ENGINE/metrics" -X POST -d x=1)" "engine POST /metrics"
assert_eq "text/plain; version=0.0.4; charset=utf-8" \
    "$(curl -s -o /dev/null -w '%{content_type}' "http://$ENGINE/metrics")" "content type of /metrics"

# Settled: both consumers have their partitions, the record counters of both services
# stay put for three scrapes a second apart, and neither consumer lags.
wait_until 30 "the engine's partitions" 'grep -q "\"partitions assigned\"" "$WORK/engine.log"'
wait_until 30 "the sender's partitions" 'grep -q "\"partitions assigned\"" "$WORK/sender.log"'
counters() {
    for a in "$ENGINE" "$SENDER"; do
        curl -sf "http://$a/metrics" | grep -E '^dunning_(events_consumed_total|deliveries_total|consumer_lag)\{'
    done
}
same=0 previous=
for _ in $(seq 1 60); do
    current=$(counters) || true
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
[ $same -ge 2 ] || fail "the services did not settle"
scrape "$ENGINE" "$WORK/engine.base"
scrape "$SENDER" "$WORK/sender.base"

eid=$(cat /proc/sys/kernel/random/uuid)
{
    invoice_json A cust-a 10000 2026-03-04 a@example.com
    invoice_json B cust-b 25050 2026-03-04 b@example.com "$eid"
    invoice_json B cust-b 25050 2026-03-04 b@example.com "$eid" # the same event again
} | publish invoice-issued
echo deadbeef | publish invoice-issued --raw --key "$TENANT/cust-x" # magic byte is not 0
wait_eq 30 "two open cases" "A:open B:open" cases_summary
wait_eq 20 "the malformed record dead-lettered" 1 delta engine 'dunning_events_consumed_total{topic="invoice-issued",result="dead_letter"}'

step 2026-03-06T08:00:00Z # first reminders (due date + 2 days)
wait_eq 20 "two deliveries counted" 2 delta sender 'dunning_deliveries_total{outcome="delivered"}'
assert_eq 2 "$(delivered_count)" "delivery rows of this test"

assert_eq 2 "$(delta engine 'dunning_events_consumed_total{topic="invoice-issued",result="ok"}')" "invoices consumed ok"
assert_eq 1 "$(delta engine 'dunning_events_consumed_total{topic="invoice-issued",result="duplicate"}')" "duplicates"
assert_eq 1 "$(delta engine 'dunning_events_consumed_total{topic="invoice-issued",result="dead_letter"}')" "dead-lettered"
assert_eq 0 "$(delta engine 'dunning_events_consumed_total{topic="invoice-issued",result="db_error"}')" "database errors"
assert_eq 1 "$(delta engine 'dunning_dead_letters_total{topic="invoice-issued",error_code="bad_framing"}')" \
    "dead letters by code"
assert_eq 2 "$(delta engine 'dunning_reminders_emitted_total{stage="first_reminder",channel="email"}')" \
    "first reminders emitted"
assert_eq 0 "$(delta engine 'dunning_reminders_emitted_total{stage="second_reminder",channel="email"}')" \
    "second reminders emitted"
assert_eq 0 "$(delta engine 'dunning_retry_requests_total')" "retry requests"
# The engine consumes the sender's outcomes and records them in the cases' audit trails.
wait_eq 20 "two delivered outcomes recorded" 2 delta engine 'dunning_outcomes_total{channel="email",outcome="delivered"}'
assert_eq 0 "$(delta engine 'dunning_outcomes_total{channel="email",outcome="failed_permanent"}')" "permanent failures"
assert_eq 2 "$(delta engine 'dunning_events_consumed_total{topic="reminder-outcomes",result="ok"}')" "outcomes consumed ok"
assert_eq 2 "$(delta sender 'dunning_events_consumed_total{topic="reminder-due.email",result="ok"}')" "reminders consumed"
assert_eq 2 "$(delta sender 'dunning_deliveries_total{outcome="delivered"}')" "delivered"
assert_eq 0 "$(delta sender 'dunning_deliveries_total{outcome="suppressed"}')" "suppressed"
assert_eq 2 "$(delta sender 'dunning_smtp_send_duration_seconds_count{result="ok"}')" "smtp sends timed"
# Any service's relay publishes any outbox row (the table is shared), so only the sum is
# certain: at least the 2 reminders and the 2 outcomes went out through the outbox.
published=$(($(delta engine 'dunning_outbox_published_total') + $(delta sender 'dunning_outbox_published_total')))
[ "$published" -ge 4 ] || fail "only $published outbox rows published by the engine and the sender together"

# Gauges the loop refreshes (every 200 ms here): both cases wait for their second reminder.
wait_eq 10 "timers pending" 2 metric "$ENGINE" 'dunning_timers_pending'
wait_eq 10 "no timer overdue" 0 metric "$ENGINE" 'dunning_timers_oldest_due_age_seconds'
wait_eq 10 "outbox empty" 0 metric "$ENGINE" 'dunning_outbox_pending'
wait_eq 10 "engine lag on invoice-issued" 0 metric "$ENGINE" 'dunning_consumer_lag{topic="invoice-issued"}'
curl -sf "http://$ENGINE/metrics" | grep -q '^dunning_consumer_lag{topic="invoice-issued"} ' ||
    fail "no consumer lag for invoice-issued"

# A histogram's +Inf bucket is its count.
scrape "$ENGINE" "$WORK/engine.now"
assert_eq "$(value "$WORK/engine.now" 'dunning_batch_size_count{work="records"}')" \
    "$(value "$WORK/engine.now" 'dunning_batch_size_bucket{work="records",le="+Inf"}')" "batch size +Inf = count"
[ "$(value "$WORK/engine.now" 'dunning_batch_duration_seconds_count{work="timers"}')" -ge 1 ] ||
    fail "no timer batch observed"

# Contact data never reaches the logs.
if grep -E 'a@example\.com|b@example\.com|Customer cust-' "$WORK/engine.log" "$WORK/sender.log"; then
    fail "contact data in the logs"
fi

# A clean stop (status 0, no leak under the sanitizers) removes the address files.
stop_service sender TERM
stop_service engine TERM
[ ! -e "$WORK/engine.addr" ] && [ ! -e "$WORK/sender.addr" ] || fail "address files left behind"
assert_eq 000 "$(code "http://$ENGINE/healthz")" "engine endpoint closed"
log "PASS"
