#!/usr/bin/env bash
# Two engine instances in one consumer group share the partitions and the timers: every
# reminder is emitted exactly once, whichever instance claims its timer.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
N=${SCALE_INVOICES:-200}
start_service engine1 dunning-engine DUNNING_BATCH_MAX=5 # small batches: both claim at once
start_service engine2 dunning-engine DUNNING_BATCH_MAX=5
for i in $(seq 1 "$N"); do
    invoice_json "I$i" "cust-$i" $((1000 + i)) 2026-03-02 "i$i@example.com"
done | publish invoice-issued
wait_eq 60 "all $N cases opened" "$N" psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'"
step 2026-03-04T08:00:00Z
step 2026-03-07T08:00:00Z

assert_eq "$((2 * N))" "$(reminders | wc -l)" "reminders"
assert_eq "$((2 * N))" "$(reminders | cut -d, -f1,2 | sort -u | wc -l)" "distinct (invoice, stage)"
assert_eq "$((2 * N))" "$(audit_count reminder_emitted)" "reminder_emitted rows"
fired1=$(grep -c '"stage fired"' "$WORK/engine1.log" || true)
fired2=$(grep -c '"stage fired"' "$WORK/engine2.log" || true)
log "stages fired: engine1 $fired1, engine2 $fired2"
assert_eq "$((2 * N))" "$((fired1 + fired2))" "stages fired by the two instances together"
log "PASS"
