#!/usr/bin/env bash
# bench/profile-ingest.sh [--invoices N] [--perf FILE] [--storm]
#
# Where the engine's ingest time goes, statement by statement: starts a private stack
# ($DUNNING_RUN_DIR, default .run-profile) with pg_stat_statements loaded, publishes N
# invoices (default 50,000), payments for 60% and failed charges for 5% (the benchmark's
# ingest load), runs one engine until every event is processed, and prints
#   - wall time and events/s (engine start to the last event's row: processed_events,
#     invoices, payments or payment_failures),
#   - CPU seconds per process name over that time (PostgreSQL, the engine, the broker...),
#   - the statements by total execution time (pg_stat_statements).
# --perf FILE also records the engine's main thread (perf record -g) for 6 s into FILE.
# --storm profiles the timer storm instead: N invoices due at one instant are ingested
# first (not measured), then the clock is moved past it and the same figures are printed
# for the time until every case took its stage and everything was published.
# Uses the Release binaries of build-bench/ (DUNNING_BENCH_BUILD), building them if
# needed, and the engine settings scripts/bench uses (DUNNING_BATCH_MAX=1000). The stack is
# stopped at the end. Not part of scripts/test or scripts/bench: a tool for the profile
# numbers of docs/performance.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=50000 PERF= STORM=0
while [ $# -gt 0 ]; do
    case $1 in
    --storm) STORM=1 ;;
    --invoices) N=$2; shift ;;
    --perf) PERF=$2; shift ;;
    -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile-ingest: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
BUILD=${DUNNING_BENCH_BUILD:-$ROOT/build-bench}
export DUNNING_RUN_DIR=${DUNNING_RUN_DIR:-$ROOT/.run-profile}
export DUNNING_BIN=$BUILD/bin DUNNING_BROKER_PARTITIONS=${DUNNING_BROKER_PARTITIONS:-64}
export DUNNING_LOG_LEVEL=${DUNNING_LOG_LEVEL:-warn} DUNNING_BATCH_MAX=${DUNNING_BATCH_MAX:-1000}
export DUNNING_HOME=$ROOT
B=$DUNNING_BIN
say() { printf '[profile %s] %s\n' "$(date +%T)" "$*"; }

say "build (Release, ${BUILD#$ROOT/}/)"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DDN_SANITIZE=OFF >/dev/null
cmake --build "$BUILD" -j2 --target dunning-engine dunning-devbroker dunningctl dn-bench-load 2>&1 |
    grep -E "error|warning" || true

say "stack in $DUNNING_RUN_DIR, with pg_stat_statements"
"$ROOT/scripts/stack" stop --clean >/dev/null 2>&1 || true
DUNNING_CLOCK_SPEED=0 DUNNING_CLOCK_EPOCH_MS=$(($(date -u -d 2026-03-01 +%s) * 1000)) \
    "$ROOT/scripts/stack" start >/dev/null
trap '"$ROOT/scripts/stack" stop >/dev/null 2>&1 || true' EXIT
eval "$("$ROOT/scripts/stack" env)"
psql_q() { psql "$DUNNING_PG_DSN" -v ON_ERROR_STOP=1 -qAt -c "$1"; }
psql_q "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
"$ROOT/scripts/stack" pg stop >/dev/null
"$ROOT/scripts/stack" pg start >/dev/null
psql_q "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"

WORK=$DUNNING_RUN_DIR/profile
mkdir -p "$WORK"
cat >"$WORK/policy.yaml" <<'YAML'
tenants:
  default:
    default_policy: bench
    policies:
      bench:
        stages: [{name: first_reminder, offset: 0d, channels: [email], template: first_reminder}]
YAML
export DUNNING_POLICY_FILE=$WORK/policy.yaml
if [ $STORM = 1 ]; then
    EVENTS=$N
    say "publishing $N invoices due 2026-03-10"
    "$B/dn-bench-load" invoices --set storm --count "$N" --due 2026-03-10 >/dev/null
else
    EVENTS=$((N + (N / 100) * 65 + ((N % 100) < 65 ? N % 100 : 65)))
    say "publishing $N invoices, payments (60%) and failed charges (5%): $EVENTS events"
    "$B/dn-bench-load" invoices --set ingest --count "$N" --due 2026-03-10 >/dev/null
    "$B/dn-bench-load" payments --set ingest --count "$N" >/dev/null
fi
# applied_events, stage_taken: progress (the "progress" comment keeps them out of the
# statement list below); table statistics, not a count of the tables.
applied_events() {
    psql_q "/* progress */ SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables
            WHERE relname IN ('processed_events', 'invoices', 'payments', 'payment_failures')"
}
stage_taken() { # cases that took their stage, once everything is published; else 0
    psql_q "/* progress */ SELECT CASE WHEN (SELECT outbox + case_events FROM publish_pending) = 0
            THEN (SELECT count(*) FROM cases WHERE stage >= 1) ELSE 0 END"
}
if [ $STORM = 1 ]; then
    say "engine ingests the storm set (not measured) ..."
    DUNNING_HTTP_ADDR= "$B/dunning-engine" 2>"$WORK/engine-ingest.log" &
    EP=$!
    until [ "$(applied_events)" -ge "$EVENTS" ] && [ "$(psql_q "/* progress */ SELECT outbox + case_events FROM publish_pending")" = 0 ]; do
        kill -0 "$EP" 2>/dev/null || { echo "profile-ingest: the engine exited (see $WORK/engine-ingest.log)" >&2; exit 1; }
        sleep 0.5
    done
fi
psql_q "SELECT pg_stat_statements_reset()" >/dev/null

cpu_ticks() { # "comm ticks" per process (utime + stime), all processes
    for s in /proc/[0-9]*/stat; do
        awk '{ sub(/^[0-9]+ \(/, ""); split($0, a, ") "); n = split(a[2], f, " "); print a[1], f[12] + f[13] }' \
            "$s" 2>/dev/null || true
    done | awk '{ t[$1] += $NF } END { for (c in t) print c, t[c] }'
}
cpu_ticks >"$WORK/cpu-before"
T0=$(date +%s%N)
if [ $STORM = 1 ]; then
    say "storm: the clock moves past the due date"
    "$B/dunningctl" clock set 2026-03-10T00:00:01Z --speed 0 >/dev/null
else
    say "engine (DUNNING_BATCH_MAX=$DUNNING_BATCH_MAX) ..."
    DUNNING_HTTP_ADDR= "$B/dunning-engine" 2>"$WORK/engine.log" &
    EP=$!
fi
if [ -n "$PERF" ]; then
    (sleep 4 && perf record -F 2000 -e cpu-clock -g -t "$EP" -o "$PERF" -- sleep 6 >/dev/null 2>&1) &
fi
c=0
until [ "$c" -ge "$EVENTS" ]; do
    kill -0 "$EP" 2>/dev/null || { echo "profile-ingest: the engine exited (see $WORK/engine.log)" >&2; exit 1; }
    sleep 0.2
    if [ $STORM = 1 ]; then c=$(stage_taken); else c=$(applied_events); fi
    printf '\r    %d/%d events' "$c" "$EVENTS"
done
T1=$(date +%s%N)
printf '\r%40s\r' ''
cpu_ticks >"$WORK/cpu-after"
kill "$EP"
wait "$EP" 2>/dev/null || true
wait 2>/dev/null || true
SECS=$(awk -v a="$T0" -v b="$T1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
say "$EVENTS $([ $STORM = 1 ] && echo "timers fired and published" || echo "events") in $SECS s$([ $STORM = 1 ] || echo " (engine start included)"): $(awk -v n="$EVENTS" -v s="$SECS" 'BEGIN { printf "%.0f", n / s }') events/s"
echo "CPU seconds over that time, by process name:"
HZ=$(getconf CLK_TCK)
awk -v hz="$HZ" 'NR == FNR { b[$1] = $2; next } { d = $2 - b[$1]; if (d > 0) printf "  %-20s %7.2f\n", $1, d / hz }' \
    "$WORK/cpu-before" "$WORK/cpu-after" | sort -k2 -rn | head -8
echo "Statements by execution time (pg_stat_statements):"
psql "$DUNNING_PG_DSN" -c "SELECT calls, round(total_exec_time::numeric) AS ms, rows,
       round((total_exec_time / greatest(rows, 1) * 1000)::numeric, 1) AS us_per_row,
       left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS statement
FROM pg_stat_statements WHERE query NOT LIKE '%progress%'
ORDER BY total_exec_time DESC LIMIT 16"
