#!/usr/bin/env bash
# Consumer lag on the console's overview (docs/console.md#consumer-lag), against the dev
# broker: the engine and sender-email catch up (lag 0 for both groups); then, with the engine
# stopped, five invoices are published: the engine group's lag is exactly 5 and sender-email's
# still 0; the engine started again works them off (lag 0) and emits five reminders; with
# sender-email stopped meanwhile, its group's lag is exactly 5, then 0 once it runs again and
# the five mails are delivered. A group nobody runs (sender-voice here) counts what its topic
# retains. Every figure comes from librdkafka (committed offsets and high watermarks).
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-06-01T08:00:00Z 0
export DUNNING_POLICY_FILE=$WORK/policy.yaml
cat >"$DUNNING_POLICY_FILE" <<'YAML'
tenants:
  default:
    default_policy: p
    policies:
      p:
        stages:
          - {name: first_reminder, offset: 2d, channels: [email], template: first_reminder}
YAML
start_service engine dunning-engine
start_service email sender-email
start_service console dunning-console DUNNING_CONSOLE_ADDR=127.0.0.1:0 DUNNING_CONSOLE_ADDR_FILE="$WORK/console.addr"
wait_until 10 "console listening" '[ -s "$WORK/console.addr" ]'
URL=http://$(cat "$WORK/console.addr")
PW=correct-horse-battery
U=$$
psql_q "DELETE FROM console_users WHERE login = 'lview-$U'" >/dev/null
echo "$PW" | "$BIN/dunningctl" user add "lview-$U" --role viewer --tenants "$TENANT" >/dev/null 2>&1 || fail "user add"
curl -s -c "$WORK/jar" -o /dev/null -H 'Content-Type: application/json' \
    -d "$(jq -cn --arg l "lview-$U" --arg p "$PW" '{login: $l, password: $p}')" "$URL/api/login"
# lag GROUP: the group's lag on the overview ("null <error>" when it could not be read).
lag() {
    curl -sf -b "$WORK/jar" "$URL/api/overview" |
        jq -r --arg g "$1" '.consumer_lag[] | select(.group == $g) | if .lag == null then "null \(.error)" else .lag end'
}
assert_eq "dunning-engine sender-email sender-sms sender-letter sender-voice" \
    "$(curl -sf -b "$WORK/jar" "$URL/api/overview" | jq -r '[.consumer_lag[].group] | join(" ")')" "the groups shown"
assert_eq "invoice-issued,payment-received,payment-failed,case-commands,reminder-outcomes,payment-method-updated" \
    "$(curl -sf -b "$WORK/jar" "$URL/api/overview" | jq -r --arg p "${DUNNING_TOPIC_PREFIX:-}" \
        '.consumer_lag[0].topics | map(ltrimstr($p)) | join(",")')" "the engine's topics"
wait_eq 60 "the engine caught up" 0 lag dunning-engine
wait_eq 60 "sender-email caught up" 0 lag sender-email

stop_service engine
for i in 1 2 3 4 5; do invoice_json "L$i" "cust-L$i" 10000 2026-05-20 "l$i@example.com" | publish invoice-issued; done
wait_eq 10 "five invoices waiting for the engine" 5 lag dunning-engine
assert_eq 0 "$(lag sender-email)" "sender-email: nothing waiting"
stop_service email
start_service engine dunning-engine
wait_eq 60 "the engine worked them off" 0 lag dunning-engine
wait_eq 30 "five cases" 5 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'"
wait_eq 30 "outbox drained" 0 outbox_empty
wait_eq 10 "five reminders waiting for sender-email" 5 lag sender-email
start_service email sender-email
wait_eq 60 "sender-email worked them off" 0 lag sender-email
wait_eq 30 "the five mails delivered" 5 delivered_count
voice=$(lag sender-voice)
[[ $voice =~ ^[0-9]+$ ]] || fail "sender-voice's lag: '$voice'"
log "PASS"
