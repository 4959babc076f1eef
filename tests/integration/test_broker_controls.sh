#!/usr/bin/env bash
# The broker's fault controls (`scripts/stack broker ...`, applied by dunning-devbroker with
# librdkafka's mock cluster API; the chaos scenarios broker_outage and broker_errors use
# them): every command is answered with one JSON line, a bad one is refused (exit 1), and
# the faults do what they say: pushed request errors are retried by the idempotent
# producer, and with every broker down a publish waits until the broker is back, then
# lands exactly once.
source "$(dirname "$0")/lib.sh"
STACK=$ROOT/scripts/stack
restore() { "$STACK" broker up -1 >/dev/null 2>&1 || true; "$STACK" broker clear Produce >/dev/null 2>&1 || true; }
trap 'rc=$?; restore; (exit $rc); cleanup' EXIT

info=$("$STACK" broker info)
assert_eq true "$(jq -r .ok <<<"$info")" "info answered"
[ "$(jq -r .brokers <<<"$info")" -ge 1 ] || fail "info: no brokers in $info"
if out=$("$STACK" broker leader no-such-topic 0 1); then fail "an unknown topic was accepted: $out"; fi
assert_eq "unknown topic (a registry topic or all)" "$(jq -r .error <<<"$out")" "unknown topic refused"
if out=$("$STACK" broker errors Produce 3 NO_SUCH_ERROR); then fail "an unknown error name was accepted: $out"; fi
assert_eq false "$(jq -r .ok <<<"$out")" "unknown error name refused"

# Retriable errors on the next Produce requests: the publish still succeeds, once.
"$STACK" broker errors Produce 3 NOT_LEADER_FOR_PARTITION >/dev/null
invoice_json E1 cust-e 1000 2026-03-02 e1@example.com | publish invoice-issued
"$STACK" broker clear Produce >/dev/null

# Every broker down: the publish waits; up again: it lands, once.
"$STACK" broker down -1 >/dev/null
invoice_json D1 cust-d 1000 2026-03-02 d1@example.com | publish invoice-issued &
pub=$!
sleep 3
kill -0 "$pub" 2>/dev/null || fail "the publish finished while every broker was down"
"$STACK" broker up -1 >/dev/null
wait "$pub" || fail "the publish failed after the broker came back"
got=$(consume invoice-issued | jq -r --arg t "$TENANT" 'select(.value.tenant_id == $t) | .value.invoice_id' | sort | tr '\n' ' ')
assert_eq "D1 E1 " "$got" "records on invoice-issued"
grep -q '"control command applied","command":"down -1"' "$DUNNING_RUN_DIR/logs/devbroker.log" ||
    fail "the devbroker did not log the command"
log "PASS"
