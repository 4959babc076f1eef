#!/usr/bin/env bash
# bench/console.sh [--cases N] [--runs R] [--out FILE] [--keep]
#
# The console's query times with N cases in the database (default 1,000,000): starts a
# private stack ($DUNNING_RUN_DIR, default .run-console-bench), fills it with
# bench/console_fill.sql (the rows the engine and the senders would have written for N
# invoices of two tenants, 60 % of them still open), starts dunning-console on it and times
# each page's API call R times (default 7) after one warm-up call, as a manager who sees
# both tenants and as a collector who sees one:
#   worklist (first page, page 100, filtered by state, by channel, promise due, assigned to
#   me), the CSV export's first 1,000 rows, a case view, the overview over 30 days.
# Prints the median and the slowest of the R calls (curl's time_total: the whole HTTP
# request, the query being nearly all of it) and writes them as JSON to FILE (default
# build/console-bench.json). The stack is stopped at the end unless --keep.
# Not part of scripts/test: docs/console.md#performance quotes its numbers.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=1000000 RUNS=7 OUT= KEEP=0
while [ $# -gt 0 ]; do
    case $1 in
    --cases) N=$2; shift ;;
    --runs) RUNS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --keep) KEEP=1 ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "console-bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
export DUNNING_RUN_DIR=${DUNNING_RUN_DIR:-$ROOT/.run-console-bench}
BIN=${DUNNING_BIN:-$ROOT/build/bin}
OUT=${OUT:-$ROOT/build/console-bench.json}
T0=$SECONDS
step() { printf '\n[console-bench %s +%ds] %s\n' "$(date +%T)" $((SECONDS - T0)) "$*"; }
die() { echo "console-bench: $*" >&2; exit 1; }
[ -x "$BIN/dunning-console" ] || die "no $BIN/dunning-console: build first (cmake --build build)"

step "stack in $DUNNING_RUN_DIR"
"$ROOT/scripts/stack" start >/dev/null
eval "$("$ROOT/scripts/stack" env)"
CONSOLE_PID=
cleanup() {
    [ -n "$CONSOLE_PID" ] && kill "$CONSOLE_PID" 2>/dev/null && wait "$CONSOLE_PID" 2>/dev/null
    [ "$KEEP" = 1 ] || "$ROOT/scripts/stack" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql_q() { psql "$DUNNING_PG_DSN" -v ON_ERROR_STOP=1 -qAt -c "$1"; }

# The stack's clock runs a day per second (scripts/stack); a console's day changes once a
# day, so the bench's clock runs at real time from now (the day's change is timed apart).
now_ms=$(($(date +%s%N) / 1000000))
echo "1 $now_ms $now_ms" >"$DUNNING_CLOCK_FILE"
TODAY=$(date -u +%F)
have=$(psql_q "SELECT n FROM bench_console_fill" 2>/dev/null || true)
if [ "$have" != "$N" ]; then
    step "filling: $N invoices, their cases, audit trail, deliveries, promises (bench/console_fill.sql)"
    psql_q "DROP TABLE IF EXISTS bench_console_fill; TRUNCATE invoices, cases, audit, deliveries, promises, promise_cases, console_assignments"
    psql "$DUNNING_PG_DSN" -q -v n="$N" -v today="$TODAY" -f "$ROOT/bench/console_fill.sql" | grep -E '^Time' |
        awk '{printf "    statement %d: %s\n", NR, $0}'
else
    step "the database already holds $N bench cases (from a --keep run): reused"
fi
psql_q "SELECT 'cases ' || (SELECT count(*) FROM cases) || ', open ' ||
        (SELECT count(*) FROM cases WHERE state NOT IN ('resolved', 'written_off', 'handed_over')) ||
        ', audit rows ' || (SELECT count(*) FROM audit) || ', deliveries ' || (SELECT count(*) FROM deliveries) ||
        ', promises ' || (SELECT count(*) FROM promises) || ', database ' ||
        pg_size_pretty(pg_database_size(current_database()))" | sed 's/^/    /'

step "console"
rm -f "$DUNNING_RUN_DIR/console-bench.addr"
DUNNING_CONSOLE_ADDR=127.0.0.1:0 DUNNING_CONSOLE_ADDR_FILE=$DUNNING_RUN_DIR/console-bench.addr \
    "$BIN/dunning-console" 2>"$DUNNING_RUN_DIR/console-bench.log" &
CONSOLE_PID=$!
for _ in $(seq 1 100); do [ -s "$DUNNING_RUN_DIR/console-bench.addr" ] && break; sleep 0.1; done
[ -s "$DUNNING_RUN_DIR/console-bench.addr" ] || die "the console did not start: $DUNNING_RUN_DIR/console-bench.log"
URL=http://$(cat "$DUNNING_RUN_DIR/console-bench.addr")
PW=console-bench-password
login() { # LOGIN ROLE TENANTS JAR
    psql_q "DELETE FROM console_users WHERE login = '$1'"
    echo "$PW" | "$BIN/dunningctl" user add "$1" --role "$2" --tenants "$3" >/dev/null
    curl -sf -c "$4" -H 'Content-Type: application/json' -d "{\"login\":\"$1\",\"password\":\"$PW\"}" \
        "$URL/api/login" >/dev/null || die "login $1"
}
login bench-manager manager bench-a,bench-b "$DUNNING_RUN_DIR/manager.jar"
login bench collector bench-a "$DUNNING_RUN_DIR/collector.jar"
CASE=$(psql_q "SELECT case_id FROM cases WHERE tenant_id = 'bench-a' AND state = 'final_notice' ORDER BY case_id LIMIT 1")
FROM=$(date -u -d "$TODAY - 29 days" +%F)

results=()
timed() { # NAME JAR PATH: RUNS timed calls after a warm-up; prints and records median, max (ms)
    local name=$1 jar=$2 path=$3 times=() t code
    if [ "${WARM:-1}" = 1 ]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" "$URL$path")
        [ "$code" = 200 ] || die "$name: GET $path answered $code"
    fi
    for _ in $(seq 1 "$RUNS"); do
        read -r code t < <(curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -b "$jar" "$URL$path")
        [ "$code" = 200 ] || die "$name: GET $path answered $code"
        times+=("$(awk -v t="$t" 'BEGIN { printf "%.1f", t * 1000 }')")
    done
    local sorted median max
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    median=$(sed -n "$(((RUNS + 1) / 2))p" <<<"$sorted")
    max=$(tail -1 <<<"$sorted")
    printf '    %-34s median %8s ms   slowest %8s ms\n' "$name" "$median" "$max"
    results+=("{\"name\":\"$name\",\"path\":\"${path%%\?*}\",\"median_ms\":$median,\"max_ms\":$max}")
}
step "timing $RUNS calls each (after one warm-up)"
timed "worklist, manager, first page" "$DUNNING_RUN_DIR/manager.jar" "/api/worklist?limit=50"
timed "worklist, manager, page 100" "$DUNNING_RUN_DIR/manager.jar" "/api/worklist?limit=50&offset=4950"
timed "worklist, collector, first page" "$DUNNING_RUN_DIR/collector.jar" "/api/worklist?limit=50"
timed "worklist, state promised" "$DUNNING_RUN_DIR/collector.jar" "/api/worklist?limit=50&state=promised"
timed "worklist, channel sms" "$DUNNING_RUN_DIR/collector.jar" "/api/worklist?limit=50&channel=sms"
timed "worklist, promise due by today" "$DUNNING_RUN_DIR/collector.jar" "/api/worklist?limit=50&promise_due=$TODAY"
timed "worklist, assigned to me" "$DUNNING_RUN_DIR/collector.jar" "/api/worklist?limit=50&assigned=me"
timed "worklist CSV, 1,000 rows" "$DUNNING_RUN_DIR/collector.jar" "/api/worklist?limit=1000&format=csv"
timed "case view" "$DUNNING_RUN_DIR/collector.jar" "/api/cases/$CASE"
timed "overview, manager, 30 days" "$DUNNING_RUN_DIR/manager.jar" "/api/overview?from=$FROM&to=$TODAY"
timed "overview, collector, 30 days" "$DUNNING_RUN_DIR/collector.jar" "/api/overview?from=$FROM&to=$TODAY"
# The first worklist request of a new day scores every row again (worklist_rows.c): once.
now_ms=$(($(date +%s%N) / 1000000))
echo "1 $((now_ms + 86400000)) $now_ms" >"$DUNNING_CLOCK_FILE"
sleep 0.1 # the services re-read the clock file every 20 ms
RUNS=1 WARM=0 timed "worklist, first call of a new day" "$DUNNING_RUN_DIR/collector.jar" "/api/worklist?limit=50"

mkdir -p "$(dirname "$OUT")"
{
    printf '{"date":"%s","cases":%s,"runs":%s,"machine":"%s cores, %s","git":"%s","timings":[' \
        "$(date -u +%FT%TZ)" "$N" "$RUNS" "$(nproc)" "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)" \
        "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    (IFS=,; printf '%s' "${results[*]}")
    printf ']}\n'
} >"$OUT"
step "written $OUT"
[ "$KEEP" = 1 ] && echo "    the stack stays up in $DUNNING_RUN_DIR; the console at $URL (login bench / $PW)"
exit 0
