#!/usr/bin/env bash
# The engine is killed with SIGKILL again and again while invoices stream in and
# reminders fall due: in the end every reminder exists exactly once, none is lost,
# and every one is mailed exactly once.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T00:00:00Z 0 # frozen; moved a day at a time below
N=${CRASH_INVOICES:-240}
start_service sender sender-email
start_service engine dunning-engine

for i in $(seq 1 "$N"); do
    # Due dates spread over 03-02 .. 03-05: reminders fall due from 03-04 to 03-10.
    invoice_json "I$i" "cust-$((i % 40))" $((1000 + i)) "2026-03-0$((2 + i % 4))" "i$i@example.com"
done >"$WORK/invoices.jsonl"
split -n l/3 "$WORK/invoices.jsonl" "$WORK/chunk."

# Kill the engine while invoices stream in ...
kills=0
for chunk in "$WORK"/chunk.*; do
    publish invoice-issued <"$chunk"
    sleep 1.3
    stop_service engine KILL
    kills=$((kills + 1))
    start_service engine dunning-engine
done
wait_eq 60 "all $N cases opened" "$N" psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'"
# ... and while reminders fall due, one simulated day at a time.
for day in 04 05 06 07 08 09 10; do
    clock_set "2026-03-${day}T08:00:00Z"
    sleep 0.$((RANDOM % 9 + 1))
    stop_service engine KILL
    kills=$((kills + 1))
    start_service engine dunning-engine
done
log "engine killed $kills times"
wait_eq 90 "all $((2 * N)) reminders delivered" "$((2 * N))" delivered_count
sleep 2 # a duplicate still in flight would land now

assert_eq "$N" "$(psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'")" "cases"
assert_eq "$((2 * N))" "$(consume_tenant reminder-due.email | jq -r .event_id | sort -u | wc -l)" "distinct reminders emitted"
assert_eq "$((2 * N))" "$(consume_tenant reminder-due.email | jq -r '[.invoice_id, .stage] | join(",")' | sort -u | wc -l)" \
    "distinct (invoice, stage) reminders"
assert_eq "$((2 * N))" "$(psql_q "SELECT count(*) FROM deliveries WHERE tenant_id = '$TENANT' AND status = 'delivered'")" "deliveries"
mails=$(grep -h "^Message-ID:" "$DUNNING_MAIL_DIR"/*.eml | wc -l)
assert_eq "$((2 * N))" "$mails" "mails"
assert_eq "$((2 * N))" "$(grep -h "^Message-ID:" "$DUNNING_MAIL_DIR"/*.eml | sort -u | wc -l)" "distinct Message-IDs"
assert_eq "$((2 * N))" "$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'reminder_emitted'")" \
    "reminder_emitted audit rows"
assert_eq 0 "$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'stage_skipped'")" "skipped stages"
log "PASS"
