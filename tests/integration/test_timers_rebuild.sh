#!/usr/bin/env bash
# Redis is only an index: when it loses the timers, `dunningctl timers rebuild` (or the
# engine, at start and whenever it finds the index gone) restores them from PostgreSQL,
# and no reminder is lost.
source "$(dirname "$0")/lib.sh"
pending_timers() { "$BIN/dunningctl" timers stats --json | jq .pending; }
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine
for i in 1 2 3; do invoice_json "R$i" "cust-$i" 1000 2026-03-02 "r$i@example.com"; done | publish invoice-issued
wait_eq 30 "three cases" "R1:open R2:open R3:open" cases_summary
stop_service engine

redis-cli -u "$DUNNING_REDIS_URL" FLUSHDB >/dev/null
assert_eq 0 "$(pending_timers)" "timers after the loss"
assert_eq "3 timers restored from PostgreSQL into dunning:timers" "$("$BIN/dunningctl" timers rebuild)" "rebuild"
assert_eq 3 "$(pending_timers)" "timers after the rebuild"
assert_eq "$(($(date -u -d 2026-03-04 +%s) * 1000))" \
    "$(timer_of "$(case_field R1 case_id)")" "R1's timer: due + 2 days"

# Lost again while the engine runs: it notices the missing index and rebuilds it itself.
start_service engine dunning-engine DUNNING_RECONCILE_INTERVAL=500ms
# The engine rebuilds the index once at start; lose it only after that, so that what
# restores it below is the engine noticing the loss, not its start-up rebuild.
start_rebuilt() { grep -c '"timer index rebuilt from postgres".*"reason":"start"' "$WORK/engine.log"; }
wait_eq 20 "the engine's start-up rebuild (its second start)" 2 start_rebuilt
redis-cli -u "$DUNNING_REDIS_URL" FLUSHDB >/dev/null
wait_eq 20 "the engine rebuilt the index" 3 pending_timers
step 2026-03-04T08:00:00Z
assert_eq "R1,1 R2,1 R3,1" "$(reminders | cut -d, -f1,2 | tr '\n' ' ' | sed 's/ $//')" "first reminders"
grep -q '"timer index rebuilt from postgres".*"reason":"index marker missing"' "$WORK/engine.log" ||
    fail "the engine did not log the rebuild"
log "PASS"
