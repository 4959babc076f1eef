#!/usr/bin/env bash
# Process lifecycle: a bad setting stops a service at once with status 2 and names the
# variable; SIGTERM finishes the batch in hand and exits 0 within the shutdown bound.
# (A second signal exits at once: tests/unit/test_signal.c.)
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0

for bin in dunning-engine sender-email; do
    rc=0
    out=$(DUNNING_BATCH_MAX=0 "$BIN/$bin" 2>&1) || rc=$?
    assert_eq 2 "$rc" "$bin exit status with DUNNING_BATCH_MAX=0"
    grep -q 'DUNNING_BATCH_MAX: 0 is outside \[1, 100000\]' <<<"$out" || fail "$bin does not name the variable: $out"
    rc=0
    out=$(DUNNING_SHUTDOWN_TIMEOUT=soon "$BIN/$bin" 2>&1) || rc=$?
    assert_eq 2 "$rc" "$bin exit status with DUNNING_SHUTDOWN_TIMEOUT=soon"
    grep -q 'DUNNING_SHUTDOWN_TIMEOUT' <<<"$out" || fail "$bin does not name the variable: $out"
done

# A template with an undefined variable stops each sender at start, before it consumes
# anything; dunningctl templates check finds it for every channel.
BAD=$WORK/bad-templates
cp -r "$ROOT/config/templates" "$BAD"
echo 'Dear {{customer.nickname}}' >"$BAD/default/first_reminder.email.en.txt"
echo 'Pay {{amounts.tip}}' >"$BAD/default/first_reminder.sms.en.txt"
echo 'Re: {{invoice.colour}}' >"$BAD/default/first_reminder.letter.en.txt"
echo 'Hello {{customer.shoe_size}}' >"$BAD/default/voice_reminder.voice.en.txt"
for bin in sender-email sender-sms sender-letter sender-voice; do
    rc=0
    out=$(DUNNING_TEMPLATE_DIR=$BAD DUNNING_LETTER_SPOOL_DIR=$WORK/spool "$BIN/$bin" 2>&1) || rc=$?
    assert_eq 2 "$rc" "$bin exit status with a broken template"
    grep -q '"msg":"templates invalid".*_reminder\.[a-z]*\.en\.txt.*is not defined' <<<"$out" || fail "$bin does not say which template: $out"
done
rc=0
out=$("$BIN/dunningctl" templates check "$BAD" 2>&1) || rc=$?
assert_eq 1 "$rc" "dunningctl templates check exit status"
assert_eq 8 "$(grep -c 'is not defined' <<<"$out")" "problems found (4 channels x full and minimal sample)"

# SIGTERM while records stream in: exit 0, and every record before the stop is kept.
start_service engine dunning-engine DUNNING_SHUTDOWN_TIMEOUT=5s
for i in $(seq 1 50); do invoice_json "G$i" "cust-$i" 1000 2026-03-10 "g$i@example.com"; done | publish invoice-issued
sleep 1
pid=${SERVICE_PIDS[engine]}
start=$SECONDS
stop_service engine TERM # fails the test unless the exit status is 0
assert_eq 1 "$((SECONDS - start <= 6))" "stopped within the 5 s bound"
grep -q '"msg":"stopped"' "$WORK/engine.log" || fail "no 'stopped' line in the engine log"
start_service engine dunning-engine
wait_eq 30 "all 50 cases after the restart" 50 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'"
assert_eq 50 "$(audit_count opened)" "each case opened once"

log "PASS"
