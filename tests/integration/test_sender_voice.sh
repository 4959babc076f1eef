#!/usr/bin/env bash
# sender-voice on the embedded stack's SIP peer (SIPp; docs/stack.md "Voice: the SIP test
# peer"), policy `voice` (stage 3 `call` at due+8d on channel voice; tests/integration/policy.yaml):
#   V1 (+493099000001, the peer presses 1): answered, key 1; the message is heard in full
#     (the peer's calls.log: outcome=answered, RTP received, audio_s within 10% of the WAV
#     the sender wrote); the engine turns key 1 into a promise: V1 promised;
#   V2 (+493099000002, presses 2): answered, key 2 -> callback_requested;
#   V4 (+493099000004, 404 Not Found): invalid_number, failed_permanent, and the engine
#     falls back to e-mail (reminder_fallback);
#   V8 (+493099000086, 486 Busy Here; due a day later so that its held record is last):
#     busy, failed_transient;
#   VM (+493099000088, an answering machine: an ~8 s announcement and a beep; due two days
#     later): detected as a machine, which gets the voicemail (voicemail.voice.en.txt) after
#     its beep and not the reminder: delivered as answering_machine, no key, the peer heard
#     as much audio as the voicemail WAV and much less than the reminder's.
# Every answered call is listened to first (answering-machine detection): the people of
# V1 and V2 say "Hello?" and are told apart from the machine (the sender logs amd=).
# The calls are placed at 10:00Z (11:00 in Berlin: inside the default calling hours).
source "$(dirname "$0")/lib.sh"
[ -n "${DUNNING_VOICE_PEER:-}" ] && [ -f "${DUNNING_VOICE_LOG:-}" ] || fail "the stack runs no SIP peer (scripts/stack restart)"
command -v python3 >/dev/null || fail "python3 is not installed (scripts/deps)"
reset_state
clock_start 2026-03-02T10:00:00Z 0
LOG_START=$(wc -l <"$DUNNING_VOICE_LOG")
AUDIO=$WORK/voice
start_service engine dunning-engine
start_service voice sender-voice DUNNING_HTTP_ADDR=127.0.0.1:0 DUNNING_HTTP_ADDR_FILE="$WORK/voice.addr" \
    DUNNING_METRICS_INTERVAL=200ms DUNNING_VOICE_OPTIONS_INTERVAL=1s DUNNING_VOICE_PROXY="$DUNNING_VOICE_PEER" \
    DUNNING_VOICE_CALLER=+4930123456 DUNNING_VOICE_AUDIO_DIR="$AUDIO" DUNNING_VOICE_KEY_TIMEOUT=4s \
    DUNNING_VOICE_RING_TIMEOUT=10s DUNNING_VOICE_RETRIES=0 DUNNING_VOICE_PAUSE_MAX=1m

wait_until 20 "the sender's address file" '[ -s "$WORK/voice.addr" ]'
HTTP=$(cat "$WORK/voice.addr")
code() { curl -s -o /dev/null -w '%{http_code}' "$1"; }
metric() { curl -sf "http://$HTTP/metrics" | awk -v k="$1" '$1 == k { v = $2 } END { print (v == "" ? 0 : v) }'; }
# /readyz asks the trunk: the peer answers OPTIONS (SIPp -aa).
wait_eq 20 "sender-voice ready (the peer answers OPTIONS)" 200 code "http://$HTTP/readyz"
assert_eq 1 "$(metric dunning_voice_trunk_up)" "the trunk's gauge"

phone() { jq -c --arg p "$1" '.contact.phone = $p'; }
invoice_json V1 cust-v1 12000 2026-03-03 v1@example.com | with_policy voice | phone +493099000001 | publish invoice-issued
invoice_json V2 cust-v2 8000 2026-03-03 v2@example.com | with_policy voice | phone +493099000002 | publish invoice-issued
invoice_json V4 cust-v4 7000 2026-03-03 v4@example.com | with_policy voice | phone +493099000004 | publish invoice-issued
invoice_json V8 cust-v8 6000 2026-03-04 v8@example.com | with_policy voice | phone +493099000086 | publish invoice-issued
invoice_json VM cust-vm 5000 2026-03-05 vm@example.com | with_policy voice | phone +493099000088 | publish invoice-issued
wait_eq 30 "cases open" "V1:open V2:open V4:open V8:open VM:open" cases_summary
step 2026-03-05T10:00:00Z
step 2026-03-08T10:00:00Z
step 2026-03-11T10:00:00Z # the call stage of V1, V2, V4

audit_call() { # INVOICE KIND: channel|result|digit|reason of the audit rows of that kind
    psql_q "SELECT string_agg((detail->>'channel') || '|' || coalesce(detail->'call'->>'result', '-') || '|' ||
        coalesce(detail->'call'->>'digit', '-'), ' ' ORDER BY id) FROM audit
        WHERE tenant_id = '$TENANT' AND invoice_id = '$1' AND kind = '$2'"
}
wait_eq 90 "V1's call delivered with key 1" "voice|answered|1" audit_call V1 reminder_delivered
wait_eq 30 "V1 promised" promised case_field V1 state
assert_eq "12000|2026-03-18|voice" \
    "$(psql_q "SELECT amount_minor || '|' || promised_for || '|' || actor FROM promises WHERE tenant_id = '$TENANT'")" \
    "the promise from key 1: the total due by today + 7 days"
wait_eq 60 "V2's call delivered with key 2" "voice|answered|2" audit_call V2 reminder_delivered
wait_eq 20 "V2's callback" "1" psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'V2'
    AND kind = 'callback_requested'"
assert_eq overdue "$(case_field V2 state)" "a callback changes nothing else"
wait_eq 30 "V4 failed permanently" "voice|invalid_number|-" audit_call V4 reminder_failed_permanent
wait_eq 20 "V4 falls back to e-mail" 1 psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT'
    AND invoice_id = 'V4' AND kind = 'reminder_fallback'"
assert_eq "V1:delivered V2:delivered V4:failed_permanent" \
    "$(psql_q "SELECT string_agg(invoice_id || ':' || status, ' ' ORDER BY invoice_id) FROM deliveries
        WHERE tenant_id = '$TENANT' AND channel = 'voice'")" "the voice deliveries"
assert_eq "invalid number: 404 Not Found" \
    "$(psql_q "SELECT last_error FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = 'V4' AND channel = 'voice'")" \
    "V4's reason"

# The peer's record of V1's call: answered, the message as RTP, as long as the WAV.
V1_EVENT=$(psql_q "SELECT event_id FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = 'V1' AND channel = 'voice'")
WAV=$AUDIO/$V1_EVENT.wav
[ -s "$WAV" ] || fail "no WAV for V1's call at $WAV"
wav_s() { python3 -c 'import sys, wave; w = wave.open(sys.argv[1]); print("%.2f" % (w.getnframes() / w.getframerate()))' "$1"; } # a WAV's seconds
WAV_S=$(wav_s "$WAV")
LINE=$(tail -n +$((LOG_START + 1)) "$DUNNING_VOICE_LOG" | grep ' number=+493099000001 ' | tail -1)
[ -n "$LINE" ] || fail "no line in the peer's calls.log for V1's number"
field() { tr ' ' '\n' <<<"$LINE" | sed -n "s/^$1=//p"; }
assert_eq "answered|1|caller" "$(field outcome)|$(field digits_sent)|$(field hangup)" "the peer's view of V1's call"
[ "$(field rtp_packets)" -gt 0 ] || fail "the peer got no RTP from V1's call: $LINE"
python3 -c 'import sys; a, w = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if w > 1 and abs(a - w) <= 0.1 * w else 1)' \
    "$(field audio_s)" "$WAV_S" || fail "V1's audio_s $(field audio_s) is not within 10% of the WAV's $WAV_S s"
log "V1: $WAV_S s of message, the peer counted $(field audio_s) s in $(field rtp_packets) packets"

step 2026-03-12T10:00:00Z # V8's call stage: busy
wait_until 60 "V8's call failed (busy)" '[ -n "$(audit_call V8 reminder_failed_transient)" ]'
assert_eq "voice|busy|-" "$(audit_call V8 reminder_failed_transient | cut -d' ' -f1)" "V8's first outcome"
assert_eq "0" "$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'V8'
    AND kind IN ('reminder_delivered', 'reminder_failed_permanent', 'reminder_fallback')")" "busy is neither delivered nor final"
LINE=$(tail -n +$((LOG_START + 1)) "$DUNNING_VOICE_LOG" | grep ' number=+493099000086 ' | head -1)
assert_eq "busy" "$(field outcome)" "the peer's view of V8's call"
# The channel's metrics: exactly these four calls.
assert_eq "2|1|1|1" "$(metric 'dunning_voice_calls_total{result="answered"}')|$(metric 'dunning_voice_calls_total{result="invalid_number"}')|$(metric 'dunning_voice_calls_total{result="busy"}')|$(metric 'dunning_voice_keypad_choices_total{digit="1"}')" \
    "calls by result (answered, invalid_number, busy) and key 1"
assert_eq 1 "$(metric 'dunning_voice_keypad_choices_total{digit="2"}')" "key 2"
assert_eq 0.5 "$(metric dunning_voice_answer_ratio)" "answer ratio (2 of 4)"
python3 -c 'import sys; a, w = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if 1.8 * w < a < 3 * w else 1)' \
    "$(metric dunning_voice_call_seconds_total)" "$WAV_S" || fail "call seconds $(metric dunning_voice_call_seconds_total) are not those of two calls of about $WAV_S s (the message heard in full)"
# Both people were told apart from a machine by their short greeting.
assert_eq "V1:human:short_greeting V2:human:short_greeting" \
    "$(jq -r 'select(.msg == "call made" and .amd != null) | .invoice_id + ":" + .amd + ":" + .amd_reason' "$WORK/voice.log" |
        sort | paste -sd' ')" "the detector's view of V1's and V2's calls"

step 2026-03-13T10:00:00Z # VM's call stage: an answering machine
wait_eq 90 "VM's call delivered to the machine" "voice|answering_machine|-" audit_call VM reminder_delivered
VM_EVENT=$(psql_q "SELECT event_id FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = 'VM' AND channel = 'voice'")
VM_WAV=$AUDIO/$VM_EVENT.voicemail.wav
[ -s "$VM_WAV" ] || fail "no voicemail WAV for VM's call at $VM_WAV"
VM_S=$(wav_s "$VM_WAV")
wait_until 20 "the peer's line for VM's call" "tail -n +$((LOG_START + 1)) '$DUNNING_VOICE_LOG' | grep -q ' number=+493099000088 '"
LINE=$(tail -n +$((LOG_START + 1)) "$DUNNING_VOICE_LOG" | grep ' number=+493099000088 ' | tail -1)
assert_eq "answered|machine|-|-|caller" "$(field outcome)|$(field greeting)|$(field digits_sent)|$(field dtmf_in)|$(field hangup)" \
    "the peer's view of VM's call"
python3 -c 'import sys; a, w, full = map(float, sys.argv[1:]); sys.exit(0 if w > 1 and abs(a - w) <= 0.1 * w and w < 0.7 * full else 1)' \
    "$(field audio_s)" "$VM_S" "$WAV_S" ||
    fail "VM: the machine got $(field audio_s) s of audio, want the voicemail's $VM_S s (+-10%), shorter than the reminder's $WAV_S s"
VM_LOG=$(jq -c 'select(.msg == "call made" and .call_result == "answering_machine")' "$WORK/voice.log" | tail -1)
assert_eq "VM|machine|long_greeting" "$(jq -r '.invoice_id + "|" + .amd + "|" + .amd_reason' <<<"$VM_LOG")" \
    "the detector's view of VM's call"
GREET_MS=$(jq -r .greeting_ms <<<"$VM_LOG")
[ "$GREET_MS" -ge 7000 ] && [ "$GREET_MS" -le 12000 ] || fail "VM: greeting_ms=$GREET_MS, want the peer's ~8.5 s announcement and beep"
# Six calls by now (V8 was redialled, busy again, when the clock passed 2026-03-12T12:00):
# a machine is a call placed, not one the customer answered.
assert_eq "1|2" "$(metric 'dunning_voice_calls_total{result="answering_machine"}')|$(metric 'dunning_voice_calls_total{result="busy"}')" \
    "calls to the machine and busy calls"
python3 -c 'import sys; sys.exit(0 if abs(float(sys.argv[1]) - 2 / 6) < 1e-9 else 1)' "$(metric dunning_voice_answer_ratio)" ||
    fail "answer ratio $(metric dunning_voice_answer_ratio), want 2 of 6 calls"
log "VM: voicemail of $VM_S s left after a greeting of $GREET_MS ms; the reminder is $WAV_S s"

log "PASS"
