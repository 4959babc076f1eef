# Sourced by every integration test. Runs against the stack of scripts/stack (which
# scripts/test starts); each test resets the state, fixes its own simulated clock,
# starts the services it needs and stops them on exit, whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK_ENV=$("$ROOT/scripts/stack" env) || { echo "FAIL: the stack is not running (scripts/stack start)"; exit 1; }
eval "$STACK_ENV"
BIN=${DUNNING_BIN:-$ROOT/build/bin}
export DUNNING_HOME=$ROOT
TEST=$(basename "$0" .sh)
WORK=$(mktemp -d "${DUNNING_RUN_DIR:-/tmp}/$TEST.XXXXXX")
TENANT="t-$TEST-$$"
declare -A SERVICE_PIDS=()
# Faster consumer-group recovery after a SIGKILLed member (the mock broker honours it).
export DUNNING_RDKAFKA_CONSUMER_session_timeout_ms=6000
export DUNNING_RDKAFKA_CONSUMER_heartbeat_interval_ms=500
export DUNNING_POLICY_FILE=${DUNNING_POLICY_FILE:-$ROOT/tests/integration/policy.yaml}
# Any free port for the services' HTTP endpoints: tests run several instances at once.
export DUNNING_HTTP_ADDR=${DUNNING_HTTP_ADDR:-127.0.0.1:0}

log() { printf '[%s %s] %s\n' "$TEST" "$(date +%T)" "$*"; }
fail() {
    printf '[%s] FAIL: %s\n' "$TEST" "$*"
    for f in "$WORK"/*.log; do [ -f "$f" ] && { echo "--- last lines of $f"; tail -n 15 "$f"; }; done
    exit 1
}

cleanup() {
    local rc=$?
    for name in "${!SERVICE_PIDS[@]}"; do stop_service "$name" TERM || true; done
    [ $rc -eq 0 ] && rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT

# clock_start ISO SPEED: this test's own clock file; simulated time starts now at ISO and
# runs SPEED times real time (0 = frozen until clock_set moves it).
clock_start() {
    export DUNNING_CLOCK_FILE=$WORK/clock
    echo "$2 $(($(date -u -d "$1" +%s) * 1000)) $(($(date +%s%N) / 1000000))" >"$DUNNING_CLOCK_FILE"
}
# clock_set ISO [SPEED]: moves every service's clock to ISO (services re-read the file).
clock_set() { "$BIN/dunningctl" clock set "$1" ${2:+--speed "$2"}; }
# Simulated now in ms.
sim_now_ms() {
    local speed epoch origin real=$(($(date +%s%N) / 1000000))
    read -r speed epoch origin <"$DUNNING_CLOCK_FILE"
    echo $((epoch + (real - origin) * speed))
}
# wait_sim ISO: sleeps until the simulated clock passes ISO.
wait_sim() {
    local target=$(($(date -u -d "$1" +%s) * 1000))
    while [ "$(sim_now_ms)" -lt "$target" ]; do sleep 0.1; done
}

psql_q() { psql "$DUNNING_PG_DSN" -v ON_ERROR_STOP=1 -qAt -c "$1"; }

reset_state() {
    psql_q "TRUNCATE processed_events, invoices, cases, payments, audit, outbox, deliveries, held_events, notices, payment_methods, console_notes, console_assignments, portal_actions, sent_messages, console_worklist, contact_preferences, consent_events" >/dev/null
    redis-cli -u "$DUNNING_REDIS_URL" FLUSHDB >/dev/null
    rm -f "$DUNNING_MAIL_DIR"/*.eml 2>/dev/null || true
}

# console_role: sets CONSOLE_DSN to $DUNNING_PG_DSN as the role sec_console, a member of
# dunning_console (sql/013, sql/017, sql/024), so that the console runs with its production
# grants: what it may not read or write fails in the test.
console_role() {
    psql_q "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sec_console') THEN CREATE ROLE sec_console LOGIN IN ROLE dunning_console; END IF;
END \$\$" >/dev/null
    CONSOLE_DSN=$(sed "s|://[^@/]*@|://sec_console@|" <<<"$DUNNING_PG_DSN")
    [ "$CONSOLE_DSN" != "$DUNNING_PG_DSN" ] || fail "cannot put the console's role into $DUNNING_PG_DSN"
}

# start_service NAME BINARY [ENV=VALUE...]: runs it in the background, logs in $WORK/NAME.log.
start_service() {
    local name=$1 binary=$2
    shift 2
    env "$@" "$BIN/$binary" >>"$WORK/$name.log" 2>&1 &
    SERVICE_PIDS[$name]=$!
    sleep 0.2
    kill -0 "${SERVICE_PIDS[$name]}" 2>/dev/null || fail "$name exited at start"
}
# stop_service NAME [SIGNAL]: TERM waits for a clean exit (status 0); KILL just kills.
stop_service() {
    local name=$1 sig=${2:-TERM} pid=${SERVICE_PIDS[$1]:-}
    [ -n "$pid" ] || return 0
    unset "SERVICE_PIDS[$name]"
    kill -s "$sig" "$pid" 2>/dev/null || return 0
    local rc=0
    wait "$pid" 2>/dev/null || rc=$?
    if [ "$sig" = TERM ] && [ $rc -ne 0 ]; then fail "$name exited with status $rc after SIGTERM"; fi
    return 0
}
service_alive() { kill -0 "${SERVICE_PIDS[$1]}" 2>/dev/null; }

# wait_until SECONDS DESCRIPTION 'SHELL CONDITION': evaluates the condition (single-quote
# it, so that it is evaluated afresh each time) until it holds.
wait_until() {
    local limit=$1 what=$2 cond=$3
    local deadline=$((SECONDS + limit))
    until eval "$cond" >/dev/null 2>&1; do
        [ $SECONDS -lt $deadline ] || fail "timed out after ${limit}s waiting for: $what"
        sleep 0.2
    done
}
# wait_eq SECONDS DESCRIPTION EXPECTED COMMAND...: polls until COMMAND prints EXPECTED.
wait_eq() {
    local limit=$1 what=$2 expected=$3 got=
    shift 3
    local deadline=$((SECONDS + limit))
    while :; do
        got=$("$@" 2>/dev/null) || true
        [ "$got" = "$expected" ] && return 0
        [ $SECONDS -lt $deadline ] || fail "timed out after ${limit}s waiting for: $what (expected '$expected', last '$got')"
        sleep 0.2
    done
}

publish() { "$BIN/dunningctl" publish "$@" 2>>"$WORK/dunningctl.log"; }
# consume TOPIC: every record of the topic (all tests' records; filter by tenant).
consume() { "$BIN/dunningctl" consume "$1"; }
# Records of this test's tenant on TOPIC, as JSON lines of their values.
consume_tenant() { consume "$1" | jq -c --arg t "$TENANT" 'select(.value.tenant_id == $t) | .value'; }

assert_eq() {
    [ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
    log "ok: $3 = $1"
}

mail_count_to() { grep -l -i "^To: .*<\?$1>\?" "$DUNNING_MAIL_DIR"/*.eml 2>/dev/null | wc -l; }

# invoice_json ID CUSTOMER AMOUNT DUE_DATE EMAIL: an InvoiceIssued for this test's tenant.
invoice_json() {
    jq -cn --arg t "$TENANT" --arg id "$1" --arg c "$2" --argjson amt "$3" --arg due "$4" --arg email "$5" \
        --arg eid "${6:-$(cat /proc/sys/kernel/random/uuid)}" \
        '{event_id: $eid, tenant_id: $t, customer_id: $c, invoice_id: $id, invoice_number: ("N-" + $id),
          amount_minor: $amt, currency: "EUR", issue_date: "2026-03-01", due_date: $due,
          contact: {name: ("Customer " + $c), email: $email, locale: "en", time_zone: "Europe/Berlin"}}'
}
# payment_json PAYMENT_ID INVOICE CUSTOMER AMOUNT [CURRENCY]
payment_json() {
    jq -cn --arg t "$TENANT" --arg p "$1" --arg id "$2" --arg c "$3" --argjson amt "$4" --arg cur "${5:-EUR}" \
        '{tenant_id: $t, customer_id: $c, payment_id: $p, invoice_id: $id, amount_minor: $amt, currency: $cur,
          method: "bank_transfer"}'
}
# cases_summary: "INVOICE:STATE ..." of this tenant's cases, by invoice id.
cases_summary() {
    psql_q "SELECT coalesce(string_agg(invoice_id || ':' || state, ' ' ORDER BY invoice_id), '') FROM cases WHERE tenant_id = '$TENANT'"
}
audit_count() { psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND kind = '$1'"; }
delivered_count() { psql_q "SELECT count(*) FROM deliveries WHERE tenant_id = '$TENANT' AND status = 'delivered'"; }
# dead_letters KEY: dead-letter records with that key, as JSON lines.
dead_letters() { consume dead-letter | jq -c --arg k "$1" 'select(.key == $k)'; }
# with_policy NAME: sets the policy of the invoice JSON on stdin.
with_policy() { jq -c --arg p "$1" '.policy = $p'; }
# reachable_everywhere: adds a phone number and a postal address to the invoice's contact.
reachable_everywhere() {
    jq -c '.contact.phone = "+4917612345678" |
           .contact.address = {line1: "Hauptstr. 1", postal_code: "10115", city: "Berlin", country: "DE"}'
}
# failed_json PAYMENT_ID INVOICE CUSTOMER AMOUNT CODE [ATTEMPT]: a PaymentFailed.
failed_json() {
    jq -cn --arg t "$TENANT" --arg p "$1" --arg id "$2" --arg c "$3" --argjson amt "$4" --arg code "$5" \
        --argjson att "${6:-1}" \
        '{tenant_id: $t, customer_id: $c, payment_id: $p, invoice_id: $id, amount_minor: $amt, currency: "EUR",
          decline_code: $code, attempt: $att}'
}
# command_json INVOICE CUSTOMER COMMAND [REASON] [UNTIL] [AMOUNT]: a CaseCommand.
command_json() {
    jq -cn --arg t "$TENANT" --arg id "$1" --arg c "$2" --arg cmd "$3" --arg r "${4:-}" --arg u "${5:-}" \
        --arg a "${6:-}" \
        '{tenant_id: $t, customer_id: $c, invoice_id: $id, command: $cmd, actor: "test"}
         + (if $r != "" then {reason: $r} else {} end) + (if $u != "" then {until: $u} else {} end)
         + (if $a != "" then {amount_minor: ($a | tonumber)} else {} end)'
}
# audit_trail INVOICE: the kinds of the invoice's audit rows, in order.
audit_trail() {
    psql_q "SELECT string_agg(kind, ' ' ORDER BY id) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = '$1'"
}
# reminders: every ReminderDue of this tenant on all three channel topics, one line each:
# invoice,stage,stage_name,channel,template,outstanding,fee,interest,total (sorted).
reminders() {
    for t in reminder-due.email reminder-due.sms reminder-due.letter; do consume_tenant "$t"; done |
        jq -r '[.invoice_id, .stage, .stage_name, .channel, .template_key, .outstanding_minor, .fee_minor,
                .interest_minor, .total_due_minor] | join(",")' | sort
}
# outbox_empty: everything the engine wrote has been published.
outbox_empty() { psql_q "SELECT outbox + case_events FROM publish_pending"; }
# step ISO: moves the clock and waits until the engine has fired what fell due and published it.
step() {
    clock_set "$1"
    local target=$(($(date -u -d "$1" +%s) * 1000))
    wait_eq 20 "timers due by $1 fired" 0 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT' AND next_action IS DISTINCT FROM 'notice' AND next_action_at <= to_timestamp($target / 1000.0)"
    wait_eq 20 "notices due by $1 fired" 0 psql_q "SELECT count(*) FROM notices WHERE tenant_id = '$TENANT' AND state = 'pending' AND due_at <= to_timestamp($target / 1000.0)"
    wait_eq 20 "outbox drained" 0 outbox_empty
}
case_field() { psql_q "SELECT $2 FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = '$1'"; }
# timer_of CASE_ID: the case's due time (ms) in the Redis timer index, empty when it has no
# timer; prints "ERROR ..." (which no assertion expects) when Redis does not answer.
timer_of() {
    local out rc=0
    out=$("$BIN/dunningctl" timers get "$1" 2>"$WORK/timer_of.err") || rc=$?
    if [ $rc -ne 0 ] && [ -s "$WORK/timer_of.err" ]; then echo "ERROR $(cat "$WORK/timer_of.err")"; else echo "$out"; fi
}
# promise_json INVOICE CUSTOMER AMOUNT DATE [SCOPE]: a CaseCommand promise (a collector's).
promise_json() {
    jq -cn --arg t "$TENANT" --arg id "$1" --arg c "$2" --argjson a "$3" --arg d "$4" --arg s "${5:-invoice}" \
        '{tenant_id: $t, customer_id: $c, invoice_id: $id, command: "promise", amount_minor: $a, promise_date: $d,
          scope: $s, channel: "collector", actor: "test"}'
}
# plan_json INVOICE CUSTOMER CHANNEL AMOUNT@DATE...: a CaseCommand plan with its instalments.
plan_json() {
    local id=$1 c=$2 ch=$3
    shift 3
    printf '%s\n' "$@" | jq -R 'split("@") | {amount_minor: (.[0] | tonumber), due_date: .[1]}' | jq -cs \
        --arg t "$TENANT" --arg id "$id" --arg c "$c" --arg ch "$ch" \
        '{tenant_id: $t, customer_id: $c, invoice_id: $id, command: "plan", instalments: ., channel: $ch, actor: "test"}'
}
# dead_letter_reasons KEY: "error_code reason" of the key's dead letters, sorted.
dead_letter_reasons() { dead_letters "$1" | jq -r '.value | .error_code + " " + .reason' | sort; }
# mail_part ADDRESS subject|text|html: that part, decoded, of the one mail to ADDRESS in the
# mail folder (fails when there is not exactly one).
mail_part() {
    /usr/bin/python3 - "$DUNNING_MAIL_DIR" "$1" "$2" <<'PYEOF'
import email, email.policy, glob, sys
found = []
for f in sorted(glob.glob(sys.argv[1] + '/*.eml')):
    m = email.message_from_bytes(open(f, 'rb').read(), policy=email.policy.default)
    if m['To'] is not None and m['To'].addresses[0].addr_spec == sys.argv[2]:
        found.append(m)
if len(found) != 1:
    sys.exit('%d mails to %s' % (len(found), sys.argv[2]))
m = found[0]
if sys.argv[3] == 'subject':
    print(str(m['Subject']))
else:
    want = 'text/plain' if sys.argv[3] == 'text' else 'text/html'
    print(''.join(p.get_content() for p in m.walk() if p.get_content_type() == want).replace('\r\n', '\n'), end='')
PYEOF
}
