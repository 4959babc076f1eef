#!/usr/bin/env bash
# sender-email's batched path: one poll batch that mixes every kind of record the sender
# meets gets exactly the results the per-record path gives, with one claim, one last-mile
# query and one outcome transaction for all of it:
#   G1, G2  good reminders                      -> delivered, one mail each, attempts 1
#   G1      the same record again (same batch)  -> skipped as a duplicate, no second mail
#   P       its case was paid meanwhile         -> suppressed (last-mile check), no mail
#   D       delivered by an earlier run         -> skipped as a duplicate, no second mail
#   garbage bytes, a case_id that is no UUID    -> two dead letters, the rest goes on
# Every record has one key (one partition), so a fresh sender polls them as one batch
# (its debug line "batch handled" says how many records the batched path finished).
source "$(dirname "$0")/lib.sh"
# The reminder locks of sender-email; not the outbox relays' lock (key 727002, dn_outbox.c),
# which any service's relay takes for a moment inside its own transaction at any time, nor
# the audit trail's append lock (key 727003, sql/011), which the engine holds while it
# commits a batch with audit rows (seen here once, while the engine wrote a batch).
NOT_RELAY="AND NOT (classid = 0 AND objid IN (727002, 727003) AND objsubid = 1)"
reset_state
clock_start 2026-03-02T00:00:00Z 0
start_service engine dunning-engine
C=cust-b
K="$TENANT/$C"
{
    invoice_json D $C 6000 2026-03-03 d-batch@example.com
    invoice_json G1 $C 7000 2026-04-30 g1-batch@example.com # due later: the engine emits nothing
    invoice_json G2 $C 8000 2026-04-30 g2-batch@example.com # for them; the test publishes their
    invoice_json P $C 9000 2026-04-30 p-batch@example.com   # reminders itself
} | publish invoice-issued
wait_eq 30 "four open cases" "D:open G1:open G2:open P:open" cases_summary
step 2026-03-05T08:00:00Z # D's first reminder (two_step: due + 2 days)

# ---- an earlier run delivers D's reminder
start_service sender sender-email
wait_eq 30 "D's reminder delivered" delivered psql_q "SELECT status FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = 'D'"
wait_eq 20 "D's outcome published" 1 eval 'consume_tenant reminder-outcomes | wc -l'
stop_service sender TERM
assert_eq 1 "$(mail_count_to d-batch@example.com)" "mails to D after the first run"

# ---- P is paid; then the batch is published while no sender runs
payment_json pay-p P $C 9000 | publish payment-received
wait_eq 30 "P resolved" resolved case_field P state
D_RD=$(consume_tenant reminder-due.email | jq -c 'select(.invoice_id == "D")')
[ -n "$D_RD" ] || fail "no reminder for D"
# reminder_for INVOICE EMAIL: D's reminder made into one for INVOICE's case, with a new event id.
reminder_for() {
    jq -c --arg e "$(cat /proc/sys/kernel/random/uuid)" --arg i "$1" --arg c "$(case_field "$1" case_id)" \
        --arg m "$2" '.event_id = $e | .invoice_id = $i | .invoice_number = ("N-" + $i) | .case_id = $c |
                      .contact.email = $m' <<<"$D_RD"
}
G1_RD=$(reminder_for G1 g1-batch@example.com)
G2_RD=$(reminder_for G2 g2-batch@example.com)
P_RD=$(reminder_for P p-batch@example.com)
BAD_RD=$(reminder_for G2 bad-batch@example.com | jq -c '.case_id = "not-a-uuid"')
hexof() { "$BIN/dunningctl" encode ReminderDue; }
# One publish call (one produce request): the broker hands them out in one fetch.
{
    printf '%s\n' "$G1_RD" "$G2_RD" | hexof
    echo deadbeef
    printf '%s\n' "$G1_RD" "$P_RD" "$D_RD" "$BAD_RD" | hexof
} | publish reminder-due.email --raw --key "$K"

start_service sender2 sender-email DUNNING_LOG_LEVEL=debug
wait_eq 30 "four deliveries rows final" \
"D|delivered|1|
G1|delivered|1|
G2|delivered|1|
P|suppressed|1|case resolved (paid, credited or cancelled)" \
    psql_q "SELECT invoice_id || '|' || status || '|' || attempts || '|' || coalesce(last_error, '') FROM deliveries
            WHERE tenant_id = '$TENANT' ORDER BY invoice_id"
wait_eq 20 "four outcomes (one per reminder)" \
"D,delivered,1
G1,delivered,1
G2,delivered,1
P,suppressed,1" eval \
    'consume_tenant reminder-outcomes | jq -r "[.invoice_id, .outcome, .attempt] | join(\",\")" | sort'
wait_eq 20 "two dead letters" \
"bad_framing|
invalid_field|field case_id: not a UUID" eval \
    'dead_letters "$K" | jq -r ".value | [.error_code, (if .error_code == \"invalid_field\" then .reason else \"\" end)] | join(\"|\")" | sort'
wait_until 20 "the batch logged" 'grep -q "\"batch handled\"" "$WORK/sender2.log"'
# Usually one poll batch; on a loaded machine the consumer may hand them over in two.
assert_eq '7 7' "$(grep '"batch handled"' "$WORK/sender2.log" | jq -rs '[(map(.records | tonumber) | add), (map(.batched | tonumber) | add)] | map(tostring) | join(" ")')" \
    "records of the batches, and how many the batched path finished"
assert_eq 0 "$(grep -c -E '"batch step failed|"batch outcomes (refused|not recorded)' "$WORK/sender2.log" || true)" \
    "batch steps that failed (every statement of the batched path ran)"
assert_eq 2 "$(grep -c '"reminder already handled, skipped"' "$WORK/sender2.log")" "duplicates skipped (G1's copy, D)"
assert_eq 2 "$(grep -c '"reminder delivered"' "$WORK/sender2.log")" "reminders delivered by the second run"
assert_eq 1 "$(grep -c '"reminder suppressed"' "$WORK/sender2.log")" "reminders suppressed"
sleep 1 # a second mail would be stored by now
for m in g1-batch g2-batch d-batch; do
    assert_eq 1 "$(mail_count_to $m@example.com)" "mails to $m@example.com"
done
assert_eq 0 "$(mail_count_to p-batch@example.com)" "mails to P (paid)"
assert_eq 0 "$(mail_count_to bad-batch@example.com)" "mails for the dead-lettered record"
assert_eq "<reminder-$(jq -r .event_id <<<"$G1_RD")@dunning>" \
    "$(grep -h -i '^Message-ID:' $(grep -l -i '^To: .*g1-batch@example.com' "$DUNNING_MAIL_DIR"/*.eml) | cut -d' ' -f2 | tr -d '\r')" \
    "G1's Message-ID"
assert_eq 0 "$(psql_q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted $NOT_RELAY")" \
    "advisory locks held after the batch"

# ---- the database refuses one record of a batch for good: the batch goes record by record,
# the refused record is dead-lettered (database_error), the others are delivered.
CHECK=sender_batch_refuses_$$
psql_q "ALTER TABLE deliveries ADD CONSTRAINT $CHECK CHECK (tenant_id <> '$TENANT' OR invoice_id <> 'BOOM')"
trap 'rc=$?; psql_q "ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS $CHECK" >/dev/null 2>&1; set +e; (exit $rc); cleanup' EXIT
G3_RD=$(reminder_for G1 g3-batch@example.com | jq -c '.stage = 2 | .stage_name = "second_reminder"')
G4_RD=$(reminder_for G2 g4-batch@example.com | jq -c '.stage = 2 | .stage_name = "second_reminder"')
BOOM_RD=$(reminder_for G2 boom-batch@example.com | jq -c '.invoice_id = "BOOM"')
printf '%s\n' "$G3_RD" "$BOOM_RD" "$G4_RD" | hexof | publish reminder-due.email --raw --key "$K"
wait_eq 30 "G3 and G4 delivered one by one" 2 psql_q \
    "SELECT count(*) FROM deliveries WHERE event_id IN ('$(jq -r .event_id <<<"$G3_RD")', '$(jq -r .event_id <<<"$G4_RD")') AND status = 'delivered'"
wait_eq 20 "BOOM dead-lettered" "database_error|claim: query: ERROR:  new row for relation \"deliveries\" violates check constraint \"$CHECK\"" eval \
    'dead_letters "$K" | jq -r "select(.value.original_event_id == \"$(jq -r .event_id <<<"$BOOM_RD")\") | .value | [.error_code, .reason] | join(\"|\")"'
assert_eq '"3" "0" "claim"' "$(grep '"batch handled"' "$WORK/sender2.log" | tail -1 | jq -r '[.records, .batched, .fallback_step] | map(tojson) | join(" ")')" \
    "the second batch: records, finished on the batched path, the step that failed"
assert_eq 1 "$(mail_count_to g3-batch@example.com)" "mails to G3"
assert_eq 1 "$(mail_count_to g4-batch@example.com)" "mails to G4"
assert_eq 0 "$(mail_count_to boom-batch@example.com)" "mails for the refused record"
assert_eq 0 "$(psql_q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted $NOT_RELAY")" \
    "advisory locks held after the fallback"
log "PASS"
