#!/usr/bin/env bash
# A COMMIT whose answer is lost: the server committed the batch, then the connection
# dropped before the engine heard so (pg_drop_commit_ack.py, a proxy in front of
# PostgreSQL, does that once). The engine retries the batch, finds its records already
# processed, and so makes no timer change of its own: the timer the first attempt created
# must reach Redis all the same, or the case's reminders never fire. (Found reading the
# engine's retry path for the chaos scenario postgres_restart; before the fix the timer
# stayed missing until the engine's next restart.)
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0

upstream=${DUNNING_PG_DSN#*@}
upstream=${upstream%%/*}
/usr/bin/python3 "$(dirname "$0")/pg_drop_commit_ack.py" --listen-port-file "$WORK/proxy.port" \
    --upstream "$upstream" --match "INSERT INTO cases" --done-file "$WORK/proxy.done" >>"$WORK/proxy.log" 2>&1 &
SERVICE_PIDS[proxy]=$!
wait_until 10 "the proxy listens" '[ -s "$WORK/proxy.port" ]'
start_service engine dunning-engine \
    "DUNNING_PG_DSN=postgresql://dunning@127.0.0.1:$(cat "$WORK/proxy.port")/dunning?sslmode=disable&gssencmode=disable"

invoice_json C1 cust-1 1000 2026-03-02 c1@example.com | publish invoice-issued
wait_until 30 "the proxy dropped the answer to the batch's COMMIT" '[ -f "$WORK/proxy.done" ]'
wait_eq 30 "the case, committed once" "C1:open" cases_summary
assert_eq 1 "$(audit_count opened)" "audit rows 'opened' (the retry changed nothing)"
case_id=$(case_field C1 case_id)
wait_eq 20 "C1's timer in Redis" "$(($(date -u -d 2026-03-04 +%s) * 1000))" \
    timer_of "$case_id"
step 2026-03-04T08:00:00Z
assert_eq "C1,1" "$(reminders | cut -d, -f1,2)" "the first reminder"
grep -q '"timer index rebuilt from postgres".*"reason":"a commit.s outcome is unknown"' "$WORK/engine.log" ||
    fail "the engine did not log why it rebuilt the index"
log "PASS"
