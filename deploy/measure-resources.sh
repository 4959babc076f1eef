#!/usr/bin/env bash
# deploy/measure-resources.sh [INVOICES]: measures what the services need, for the resource
# requests in deploy/k8s and the sizing in docs/deploy.md. Against the embedded stack
# (scripts/stack start), with an optimised build (DUNNING_BIN, e.g. build-release/bin, not a
# sanitizer build): starts the engine and the three senders, records their resident memory
# (VmRSS) and CPU use (millicores) over 20 s idle, then publishes INVOICES (default 300) invoices on policy
# four_stage of tests/integration/policy.yaml (e-mail, SMS and letter stages), moves the
# simulated clock through every stage and records peak memory (VmHWM) and CPU seconds used.
# Prints one line per service. Stops what it started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-300}
eval "$("$ROOT/scripts/stack" env)"
BIN=${DUNNING_BIN:?set DUNNING_BIN to an optimised build}
WORK=$(mktemp -d "${DUNNING_RUN_DIR:-/tmp}/measure.XXXXXX")
export DUNNING_HOME=$ROOT DUNNING_POLICY_FILE=$ROOT/tests/integration/policy.yaml DUNNING_HTTP_ADDR=127.0.0.1:0
export DUNNING_CLOCK_FILE=$WORK/clock DUNNING_LETTER_SPOOL_DIR=$WORK/spool DUNNING_SMS_QUIET_HOURS=
export DUNNING_ENGINE_GROUP=measure-engine-$$ DUNNING_SENDER_GROUP=measure-email-$$
export DUNNING_SMS_GROUP=measure-sms-$$ DUNNING_LETTER_GROUP=measure-letter-$$
echo "0 $(($(date -u -d 2026-03-01T08:00:00Z +%s) * 1000)) $(($(date +%s%N) / 1000000))" >"$DUNNING_CLOCK_FILE"
declare -A PID
for s in dunning-engine sender-email sender-sms sender-letter; do
    "$BIN/$s" >"$WORK/$s.log" 2>&1 &
    PID[$s]=$!
done
trap 'for p in "${PID[@]}"; do kill "$p" 2>/dev/null || true; done; wait' EXIT
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system, in clock ticks
mem() { awk -v k="$2:" '$1 == k {print int($2 / 1024)}' "/proc/$1/status"; }
sleep 5
declare -A IDLE_RSS CPU0 CPUI
for s in "${!PID[@]}"; do CPUI[$s]=$(cpu "${PID[$s]}"); done
sleep 20 # idle: CPU over these 20 s
for s in "${!PID[@]}"; do IDLE_RSS[$s]=$(mem "${PID[$s]}" VmRSS); CPU0[$s]=$(cpu "${PID[$s]}"); done
TENANT=measure-$$
START=$SECONDS
for i in $(seq 1 "$N"); do
    jq -cn --arg t "$TENANT" --arg id "M$i" --arg c "c$i" \
        '{tenant_id: $t, customer_id: $c, invoice_id: $id, invoice_number: $id, amount_minor: 100000, currency: "EUR",
          issue_date: "2026-03-01", due_date: "2026-03-10", policy: "four_stage",
          contact: {name: "Customer", email: "m@example.com", phone: "+4917612345678", locale: "en", time_zone: "Europe/Berlin",
                    address: {line1: "Hauptstr. 1", postal_code: "10115", city: "Berlin", country: "DE"}}}'
done | "$BIN/dunningctl" publish invoice-issued >/dev/null 2>&1
q() { psql "$DUNNING_PG_DSN" -qAt -c "$1"; }
until [ "$(q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'")" = "$N" ]; do sleep 0.5; done
for day in 2026-03-08 2026-03-12 2026-03-17 2026-03-24; do
    DUNNING_CLOCK_FILE=$DUNNING_CLOCK_FILE "$BIN/dunningctl" clock set "${day}T08:00:00Z"
    until [ "$(q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT' AND next_action_at <= '${day}T08:00:00Z'")" = 0 ] &&
        [ "$(q "SELECT count(*) FROM outbox")" = 0 ]; do sleep 0.5; done
done
want=$((N * 6)) # 4 e-mails, 1 SMS, 1 letter per invoice
until [ "$(q "SELECT count(*) FROM deliveries WHERE tenant_id = '$TENANT' AND status = 'delivered'")" -ge "$want" ]; do sleep 0.5; done
ELAPSED=$((SECONDS - START))
TCK=$(getconf CLK_TCK)
printf '%-15s %9s %9s %14s %9s\n' service idle_MiB peak_MiB idle_millicpu load_cpu_s
for s in dunning-engine sender-email sender-sms sender-letter; do
    printf '%-15s %9s %9s %14.1f %9.2f\n' "$s" "${IDLE_RSS[$s]}" "$(mem "${PID[$s]}" VmHWM)" \
        "$(awk -v a="${CPU0[$s]}" -v b="${CPUI[$s]}" -v t="$TCK" 'BEGIN { print (a - b) / t / 20 * 1000 }')" \
        "$(awk -v a="$(cpu "${PID[$s]}")" -v b="${CPU0[$s]}" -v t="$TCK" 'BEGIN { print (a - b) / t }')"
done
echo "$N invoices, $want deliveries (4 e-mails, 1 SMS, 1 letter each) in $ELAPSED s of wall time"
