#!/usr/bin/env bash
# The sender core with a scripted driver (tests/integration/fake_sender.c): what the core
# does for every channel, checked send by send (the driver logs each send it is asked for):
#   OK-1 twice in one batch, and again after a restart  -> one send, delivered, attempts 1
#   OK-P   its case was paid before the batch           -> suppressed, no send (last mile)
#   PERM-1                                              -> one send, failed_permanent
#   FLAKY2-1  transient twice                           -> three sends (attempts 1, 2, 3), delivered
#   NOADDR-1  decided at prepare                        -> no send, failed_permanent "no address"
#   QUIET-1   deferred until due + 1 day                -> failed_transient with next_attempt_at,
#                                                          consumption held, sent once the clock passes
#   DOWN-1, then OK-2 behind it, while the provider is down -> failed_transient, consumption
#             paused (OK-2 not sent meanwhile), both delivered in order once it is back
source "$(dirname "$0")/lib.sh"
FAKE=$(dirname "$BIN")/tests/dn-fake-sender
[ -x "$FAKE" ] || fail "no $FAKE (build the tree)"
export DUNNING_FAKE_LOG=$WORK/sends.log DUNNING_FAKE_DOWN=$WORK/down
touch "$DUNNING_FAKE_LOG"
reset_state
clock_start 2026-03-02T00:00:00Z 0
start_service engine dunning-engine
C=cust-core
K="$TENANT/$C"
{
    invoice_json D $C 6000 2026-03-03 d-core@example.com
    for i in OK-1 OK-P PERM-1 FLAKY2-1 NOADDR-1 QUIET-1 DOWN-1 OK-2; do
        invoice_json "$i" $C 7000 2026-04-30 "x-core@example.com" # due later: their reminders come from the test
    done
} | publish invoice-issued
wait_eq 30 "nine open cases" 9 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT' AND state = 'open'"
step 2026-03-05T08:00:00Z # D's first reminder (two_step: due + 2 days)
D_RD=$(consume_tenant reminder-due.email | jq -c 'select(.invoice_id == "D")')
[ -n "$D_RD" ] || fail "no reminder for D"
reminder_for() { # INVOICE: D's reminder made into one for INVOICE's case, with its own event id
    jq -c --arg e "$(cat /proc/sys/kernel/random/uuid)" --arg i "$1" --arg c "$(case_field "$1" case_id)" \
        '.event_id = $e | .invoice_id = $i | .case_id = $c' <<<"$D_RD"
}
hexof() { "$BIN/dunningctl" encode ReminderDue; }
payment_json pay-p OK-P $C 7000 | publish payment-received
wait_eq 30 "OK-P resolved" resolved case_field OK-P state
sends() { grep -c "^$1 " "$DUNNING_FAKE_LOG" || true; }
delivery() { psql_q "SELECT status || '|' || attempts || '|' || coalesce(last_error, '') FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = '$1'"; }

# ---- one batch: duplicates, last mile, permanent, transient then delivered, decided at prepare
OK1=$(reminder_for OK-1)
printf '%s\n' "$OK1" "$OK1" "$(reminder_for OK-P)" "$(reminder_for PERM-1)" "$(reminder_for FLAKY2-1)" \
    "$(reminder_for NOADDR-1)" | hexof | publish reminder-due.email --raw --key "$K"
start_service sender ../tests/dn-fake-sender DUNNING_SMTP_RETRIES=3 DUNNING_SMTP_BACKOFF=20ms DUNNING_LOG_LEVEL=debug
wait_eq 30 "FLAKY2-1 delivered" "delivered|3|" delivery FLAKY2-1
assert_eq "delivered|1|" "$(delivery OK-1)" "OK-1"
assert_eq "suppressed|1|case resolved (paid, credited or cancelled)" "$(delivery OK-P)" "OK-P (paid: last-mile check)"
assert_eq "failed_permanent|1|fake permanent" "$(delivery PERM-1)" "PERM-1"
assert_eq "failed_permanent|1|no address" "$(delivery NOADDR-1)" "NOADDR-1"
assert_eq "OK-1 1 ok" "$(grep '^OK-1 ' "$DUNNING_FAKE_LOG")" "OK-1's sends (the copy in the batch is skipped)"
assert_eq 0 "$(sends OK-P)" "sends for the paid case"
assert_eq "PERM-1 1 permanent" "$(grep '^PERM-1 ' "$DUNNING_FAKE_LOG")" "PERM-1's sends"
assert_eq "FLAKY2-1 1 transient
FLAKY2-1 2 transient
FLAKY2-1 3 ok" "$(grep '^FLAKY2-1 ' "$DUNNING_FAKE_LOG")" "FLAKY2-1's sends (attempt numbers)"
assert_eq 0 "$(sends NOADDR-1)" "sends for NOADDR-1"
wait_eq 20 "outcomes published (D: the engine's own reminder)" "D,delivered,1
FLAKY2-1,delivered,3
NOADDR-1,failed_permanent,1
OK-1,delivered,1
OK-P,suppressed,1
PERM-1,failed_permanent,1" eval \
    'consume_tenant reminder-outcomes | jq -r "[.invoice_id, .outcome, .attempt] | join(\",\")" | sort'

# ---- a restart, and the same record once more: nothing is sent again
stop_service sender TERM
printf '%s\n' "$OK1" | hexof | publish reminder-due.email --raw --key "$K"
start_service sender ../tests/dn-fake-sender DUNNING_SMTP_RETRIES=1 DUNNING_SMTP_BACKOFF=20ms
wait_until 20 "the copy skipped" 'grep -q "\"reminder already handled, skipped\"" "$WORK/sender.log"'
assert_eq 1 "$(sends OK-1)" "OK-1's sends after the restart"

# ---- deferral: failed_transient until the end of the quiet hours, then delivered
QUIET_RD=$(reminder_for QUIET-1)
UNTIL=$(($(date -u -d "$(jq -r .due_at <<<"$QUIET_RD")" +%s) + 86400)) # seconds
UNTIL_ISO=$(date -u -d "@$UNTIL" +%Y-%m-%dT%H:%M:%S.000Z)
printf '%s\n' "$QUIET_RD" | hexof | publish reminder-due.email --raw --key "$K"
wait_eq 20 "QUIET-1 deferred" "failed_transient|1|quiet hours until due + 1 day" delivery QUIET-1
wait_eq 20 "deferral outcome: next attempt at the end of the quiet hours" "failed_transient $UNTIL_ISO" eval \
    'consume_tenant reminder-outcomes | jq -r "select(.invoice_id == \"QUIET-1\") | [.outcome, .next_attempt_at] | join(\" \")"'
assert_eq 0 "$(sends QUIET-1)" "sends during the quiet hours"
clock_set "$(date -u -d "@$((UNTIL + 60))" +%Y-%m-%dT%H:%M:%SZ)"
wait_eq 20 "QUIET-1 delivered after the quiet hours" "delivered|2|" delivery QUIET-1
assert_eq 1 "$(sends QUIET-1)" "QUIET-1's sends"

# ---- the provider down: failed_transient, consumption paused (the record behind waits), then both
touch "$DUNNING_FAKE_DOWN"
printf '%s\n' "$(reminder_for DOWN-1)" "$(reminder_for OK-2)" | hexof | publish reminder-due.email --raw --key "$K"
wait_eq 20 "DOWN-1 failed transiently" failed_transient eval 'delivery DOWN-1 | cut -d"|" -f1'
wait_until 20 "consumption paused" 'grep -q "\"smtp failing, consumption paused\"" "$WORK/sender.log"'
assert_eq 0 "$(sends OK-2)" "sends of the record behind the held one while the provider is down"
assert_eq "attempting|0|" "$(delivery OK-2)" "OK-2: the batch's claim given back unsent (attempts 0) while the provider is down"
rm -f "$DUNNING_FAKE_DOWN"
wait_eq 60 "DOWN-1 delivered once the provider is back" delivered eval 'delivery DOWN-1 | cut -d"|" -f1'
wait_eq 20 "OK-2 delivered after it" "delivered|1|" delivery OK-2
assert_eq "DOWN-1 ok" "$(grep -E '^(DOWN-1|OK-2) ' "$DUNNING_FAKE_LOG" | grep -v transient | head -1 | cut -d' ' -f1,3)" \
    "the held record goes first"
assert_eq 1 "$(grep -c '^DOWN-1 .* ok$' "$DUNNING_FAKE_LOG")" "DOWN-1 delivered once"
assert_eq 1 "$(sends OK-2)" "OK-2's sends"
log "PASS"
