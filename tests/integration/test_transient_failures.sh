#!/usr/bin/env bash
# A transient failure on each channel is retried until it goes through, and then the reminder
# is delivered exactly once: outcomes failed_transient (one per failed round) then one
# delivered, a delivered deliveries row with attempts >= 2, one mail / SMS / PDF.
#   email:  the SMTP sink answers 451 to this test's recipient while $DUNNING_RUN_DIR/smtp.tempfail
#           lists it (scripts/smtp-sink.py), then the file is removed;
#   sms:    the stack's smsbox is stopped (sendsms refused), then started again on the same
#           configuration and port (the trap restarts it whatever happens);
#   letter: the spool folder is moved away, then moved back.
# Small retry settings (1 retry, 50 ms backoff, pauses of at most 1 s) keep it short. Every
# sender runs in a consumer group of its own (named after the tenant), so no sender of
# another test in the default group takes this test's reminders away; it reads its topic
# from the beginning, so the checks are limited to this tenant.
source "$(dirname "$0")/lib.sh"
[ -n "${DUNNING_KANNEL_URL:-}" ] && [ -f "${DUNNING_SMS_LOG:-}" ] || fail "the stack runs no Kannel (scripts/stack restart)"
grep '"msg": "listening"' "$DUNNING_RUN_DIR/logs/smtp.log" 2>/dev/null | tail -n 1 | grep -q tempfail_file ||
    fail "the running SMTP sink has no tempfail control file (restart it: scripts/stack restart)"

TEMPFAIL=$DUNNING_MAIL_DIR/../smtp.tempfail
KANNEL_DIR=$DUNNING_RUN_DIR/kannel
SPOOL=$WORK/spool
smsbox_alive() {
    local pid
    pid=$(head -1 "$KANNEL_DIR/smsbox.pid" 2>/dev/null) && [ -n "$pid" ] &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q smsbox
}
sendsms_listening() { ss -Hltn "sport = :$(cat "$DUNNING_RUN_DIR/kannel.port")" | grep -q .; }
# As scripts/stack starts it: same configuration, so the same sendsms port.
smsbox_start() {
    setsid nohup "${DUNNING_KANNEL_BIN:-/usr/sbin}/smsbox" -v 1 "$KANNEL_DIR/kannel.conf" \
        >>"$DUNNING_RUN_DIR/logs/kannel-smsbox.out" 2>&1 </dev/null &
    echo $! >"$KANNEL_DIR/smsbox.pid"
}
smsbox_stop() {
    local pid
    pid=$(head -1 "$KANNEL_DIR/smsbox.pid")
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}
SMSBOX_STOPPED=0
restore() {
    rm -f "$TEMPFAIL"
    [ -d "$SPOOL.away" ] && mv "$SPOOL.away" "$SPOOL"
    if [ $SMSBOX_STOPPED = 1 ] && ! smsbox_alive; then
        smsbox_start
        for _ in $(seq 1 100); do sendsms_listening && break; sleep 0.1; done
    fi
    return 0
}
trap 'rc=$?; restore; set +e; (exit $rc); cleanup' EXIT

reset_state
clock_start 2026-03-01T08:00:00Z 0
RUN_ID=$$-$RANDOM
EMAIL=tf-$RUN_ID@example.com
PHONE=+4915$(printf '%09d' $((($$ * 32768 + RANDOM) % 1000000000)))
SMS_START=$(wc -l <"$DUNNING_SMS_LOG")
start_service engine dunning-engine

delivery() { psql_q "SELECT status || '|' || channel || '|' || coalesce(last_error, '') FROM deliveries WHERE event_id = '$1'"; }
attempts() { psql_q "SELECT attempts FROM deliveries WHERE event_id = '$1'"; }
# outcomes EVENT_ID: the outcomes of that reminder in topic order (one key, one partition).
outcomes() { consume_tenant reminder-outcomes | jq -r --arg e "$1" 'select(.reminder_event_id == $e) | .outcome'; }
# check_outcomes CHANNEL EVENT_ID: one or more failed_transient, then exactly one delivered,
# attempt numbers increasing.
check_outcomes() {
    local seq
    seq=$(outcomes "$2" | uniq -c | awk '{print $2 "x" ($1 > 1 ? "n" : "1")}' | tr '\n' ' ')
    case "$seq" in
    "failed_transientx1 deliveredx1 " | "failed_transientxn deliveredx1 ") ;;
    *) fail "$1 outcomes: expected failed_transient (one or more) then one delivered, got: $(outcomes "$2" | tr '\n' ' ')" ;;
    esac
    log "ok: $1 outcomes = $(outcomes "$2" | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')"
    local att
    att=$(consume_tenant reminder-outcomes | jq -r --arg e "$2" 'select(.reminder_event_id == $e) | .attempt' | tr '\n' ' ')
    sort -n -C <<<"$(tr ' ' '\n' <<<"$att" | sed '/^$/d')" || fail "$1 outcome attempts not increasing: $att"
}

# ---- email: the SMTP server answers 451, then accepts.
echo "$EMAIL" >"$TEMPFAIL"
start_service email sender-email DUNNING_SENDER_GROUP="$TENANT-email" DUNNING_SMTP_RETRIES=1 \
    DUNNING_SMTP_BACKOFF=50ms DUNNING_SMTP_PAUSE_MAX=1s
invoice_json E cust-e 7000 2026-03-03 "$EMAIL" | publish invoice-issued
wait_eq 30 "E's case open" "E:open" cases_summary
step 2026-03-05T08:00:00Z # two_step's first reminder
EEID=$(consume_tenant reminder-due.email | jq -r 'select(.invoice_id == "E") | .event_id')
[ -n "$EEID" ] || fail "no email reminder for E"
wait_until 30 "E's reminder failed transiently" 'delivery "$EEID" | grep -q "^failed_transient|email|smtp 451"'
log "ok: E's row while deferred: $(delivery "$EEID")"
wait_until 20 "E's failed_transient outcome published" 'outcomes "$EEID" | grep -qx failed_transient'
assert_eq 0 "$(mail_count_to "$EMAIL")" "mails to E while the server defers"
rm -f "$TEMPFAIL"
wait_eq 30 "E's reminder delivered" "delivered|email|" delivery "$EEID"
wait_until 20 "E's delivered outcome published" 'outcomes "$EEID" | grep -qx delivered'
sleep 1.5 # a second send would come within a pause
assert_eq 1 "$(mail_count_to "$EMAIL")" "mails to E"
[ "$(attempts "$EEID")" -ge 2 ] || fail "E's attempts: $(attempts "$EEID")"
log "ok: E's attempts = $(attempts "$EEID")"
check_outcomes email "$EEID"
stop_service email TERM

# ---- sms: Kannel's smsbox is down (sendsms refused), then back on the same port.
invoice_json W cust-w 100000 2026-03-10 w-$RUN_ID@example.com | with_policy four_stage | reachable_everywhere |
    jq -c --arg p "$PHONE" '.contact.phone = $p' | publish invoice-issued
wait_eq 30 "W's case open" open case_field W state
start_service sms sender-sms DUNNING_SMS_GROUP="$TENANT-sms" DUNNING_SMS_RETRIES=1 DUNNING_SMS_BACKOFF=50ms \
    DUNNING_SMS_PAUSE_MAX=1s DUNNING_KANNEL_TIMEOUT=2s
smsbox_alive || fail "the stack's smsbox does not run (scripts/stack start)"
SMSBOX_STOPPED=1
smsbox_stop
log "smsbox stopped"
step 2026-03-08T08:00:00Z # friendly reminder (e-mail)
step 2026-03-12T08:00:00Z # first reminder (e-mail)
step 2026-03-17T08:00:00Z # second reminder: e-mail and SMS (09:00 in Berlin)
SEID=$(consume_tenant reminder-due.sms | jq -r 'select(.invoice_id == "W") | .event_id')
[ -n "$SEID" ] || fail "no SMS reminder for W"
wait_until 30 "W's SMS failed transiently" 'delivery "$SEID" | grep -q "^failed_transient|sms|kannel"'
log "ok: W's SMS row while smsbox is down: $(delivery "$SEID")"
wait_until 20 "W's failed_transient SMS outcome published" 'outcomes "$SEID" | grep -qx failed_transient'
smsbox_start
SMSBOX_STOPPED=0
wait_until 20 "smsbox listening again" sendsms_listening
log "smsbox started again"
wait_eq 30 "W's SMS delivered" "delivered|sms|" delivery "$SEID"
wait_until 20 "W's delivered SMS outcome published" 'outcomes "$SEID" | grep -qx delivered'
sms_count() { tail -n +$((SMS_START + 1)) "$DUNNING_SMS_LOG" | grep -c "Got message [0-9]*: <[^ ]* $1 " || true; }
wait_eq 20 "W's SMS at the fake SMSC" 1 sms_count "$PHONE"
sleep 1.5
assert_eq 1 "$(sms_count "$PHONE")" "SMS to W's number"
[ "$(attempts "$SEID")" -ge 2 ] || fail "W's SMS attempts: $(attempts "$SEID")"
log "ok: W's SMS attempts = $(attempts "$SEID")"
check_outcomes sms "$SEID"
stop_service sms TERM

# ---- letter: the spool folder is gone, then back.
start_service letter sender-letter DUNNING_LETTER_GROUP="$TENANT-letter" DUNNING_LETTER_SPOOL_DIR="$SPOOL" \
    DUNNING_LETTER_RETRIES=1 DUNNING_LETTER_BACKOFF=50ms DUNNING_LETTER_PAUSE_MAX=1s
wait_until 20 "the spool folder created" '[ -d "$SPOOL" ]'
wait_until 30 "the letter sender's partitions" 'grep -q "\"partitions assigned\"" "$WORK/letter.log"'
mv "$SPOOL" "$SPOOL.away"
step 2026-03-24T08:00:00Z # final notice: e-mail and letter
LEID=$(consume_tenant reminder-due.letter | jq -r 'select(.invoice_id == "W") | .event_id')
[ -n "$LEID" ] || fail "no letter reminder for W"
wait_until 30 "W's letter failed transiently" 'delivery "$LEID" | grep -q "^failed_transient|letter|spool"'
log "ok: W's letter row while the spool is gone: $(delivery "$LEID")"
wait_until 20 "W's failed_transient letter outcome published" 'outcomes "$LEID" | grep -qx failed_transient'
[ ! -e "$SPOOL" ] || fail "the spool folder was created again by the sender"
mv "$SPOOL.away" "$SPOOL"
wait_eq 30 "W's letter delivered" "delivered|letter|" delivery "$LEID"
wait_until 20 "W's delivered letter outcome published" 'outcomes "$LEID" | grep -qx delivered'
sleep 1.5
assert_eq "letter-$LEID.pdf" "$(jq -r --arg t "$TENANT" 'select(.tenant_id == $t) | .file' "$SPOOL/manifest.jsonl" |
    tr '\n' ' ' | sed 's/ $//')" "this tenant's letters in the manifest"
[ -f "$SPOOL/letter-$LEID.pdf" ] || fail "letter-$LEID.pdf is not in the spool"
assert_eq "" "$(ls -A "$SPOOL" | grep '^\.' || true)" "temporary files left in the spool"
[ "$(attempts "$LEID")" -ge 2 ] || fail "W's letter attempts: $(attempts "$LEID")"
log "ok: W's letter attempts = $(attempts "$LEID")"
check_outcomes letter "$LEID"
stop_service letter TERM
log "PASS"
