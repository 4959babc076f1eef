#!/usr/bin/env bash
# The calling rules and the redials of sender-voice and the engine, on the stack's SIP peer
# (policies voice_* of tests/integration/policy.yaml; docs/voice.md "The calling rules"):
#   R1 (+493099000087: busy, then unanswered), voice_redial (retries 1, retry_after 1h):
#     the call at 03-11 10:00Z is busy, the redial at 11:00Z rings out, then the reminder
#     falls back to e-mail ("not reached by phone in 2 calls");
#   R2 (+493099000086, always busy), voice_limit (retries 10, max 7 calls in 7 days): seven
#     calls 10:00Z-16:00Z, the 8th at 17:00Z is refused (no INVITE) and falls back to e-mail;
#   R3 (+493099000002, answers with key 2), voice_twice: the second call two days later is
#     refused (no call for 7 days after a conversation) and falls back to e-mail;
#   R4 (+493099000001), paid after its ReminderDue was emitted and before the sender dialled:
#     suppressed, never called (the last-mile check);
#   R5 (+493099000000), policy voice, its call due at 22:00 in Berlin: held until 08:00;
#   R6 (+493099000000), voice_weekend (Saturday 10:00-14:00, no Sunday; a contact without a
#     time zone, so the policy's voice.time_zone Europe/Berlin applies): due on a Saturday
#     at 15:30 in Berlin, held until Monday 08:00.
source "$(dirname "$0")/lib.sh"
[ -n "${DUNNING_VOICE_PEER:-}" ] && [ -f "${DUNNING_VOICE_LOG:-}" ] || fail "the stack runs no SIP peer (scripts/stack restart)"
# The peer alternates +493099000087 between busy and ringing; this test makes two such
# calls, so an even count so far means the next one is busy.
n87=$(grep -c ' number=+493099000087 ' "$DUNNING_VOICE_LOG" || true)
[ $((n87 % 2)) -eq 0 ] || fail "the peer's +493099000087 is not at its busy turn ($n87 calls so far): scripts/stack voice stop; scripts/stack voice start"
reset_state
psql_q "DELETE FROM voice_calls" >/dev/null
clock_start 2026-03-02T10:00:00Z 0
LOG_START=$(wc -l <"$DUNNING_VOICE_LOG")
AUDIO=$WORK/voice
# This test is about when calls are placed, not what they say: the tenant's own (short)
# reminder keeps each answered call to a few seconds of audio (templates: <tenant>/ first).
mkdir -p "$WORK/templates"
cp -r "$ROOT/config/templates/default" "$WORK/templates/"
mkdir -p "$WORK/templates/$TENANT"
echo 'Invoice {{invoice.number}}, {{amounts.total_due}}, is open. Press 1 to promise, 2 for a call back.' \
    >"$WORK/templates/$TENANT/voice_reminder.voice.en.txt"
VOICE_ENV=(DUNNING_HTTP_ADDR=127.0.0.1:0 DUNNING_VOICE_PROXY="$DUNNING_VOICE_PEER" DUNNING_VOICE_CALLER=+4930123456
    DUNNING_VOICE_AUDIO_DIR="$AUDIO" DUNNING_VOICE_KEY_TIMEOUT=3s DUNNING_VOICE_RING_TIMEOUT=3s
    DUNNING_VOICE_RETRIES=0 DUNNING_VOICE_PAUSE_MAX=1m DUNNING_TEMPLATE_DIR="$WORK/templates")
start_service engine dunning-engine
start_service voice sender-voice "${VOICE_ENV[@]}"

phone() { jq -c --arg p "$1" '.contact.phone = $p'; }
invoice_json R1 cust-r1 11000 2026-03-03 r1@example.com | with_policy voice_redial | phone +493099000087 | publish invoice-issued
invoice_json R2 cust-r2 12000 2026-03-03 r2@example.com | with_policy voice_limit | phone +493099000086 | publish invoice-issued
invoice_json R3 cust-r3 13000 2026-03-03 r3@example.com | with_policy voice_twice | phone +493099000002 | publish invoice-issued
invoice_json R4 cust-r4 14000 2026-03-05 r4@example.com | with_policy voice_twice | phone +493099000001 | publish invoice-issued
invoice_json R5 cust-r5 15000 2026-03-07 r5@example.com | with_policy voice | phone +493099000000 | publish invoice-issued
invoice_json R6 cust-r6 16000 2026-03-13 r6@example.com | with_policy voice_weekend | phone +493099000000 |
    jq -c 'del(.contact.time_zone)' | publish invoice-issued # no zone of its own: the policy's (voice.time_zone)
wait_eq 30 "cases open" "R1:open R2:open R3:open R4:open R5:open R6:open" cases_summary
# R5's policy has e-mail stages first; their reminders go nowhere here (no sender-email).

# kinds INVOICE: the case's audit kinds from the call on, with the call's result.
kinds() {
    psql_q "SELECT string_agg(kind || coalesce(':' || (detail->'call'->>'result'), ''), ' ' ORDER BY id) FROM audit
        WHERE tenant_id = '$TENANT' AND invoice_id = '$1' AND kind NOT IN ('invoice_issued', 'case_opened')
        AND id >= (SELECT min(id) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = '$1'
                   AND kind = 'reminder_emitted' AND detail->'reminders' @> '[{\"channel\": \"voice\"}]')"
}
calls() { # INVOICE: the ledger's results for its case, in order
    psql_q "SELECT coalesce(string_agg(v.result, ' ' ORDER BY v.id), '') FROM voice_calls v JOIN cases c ON c.case_id = v.case_id
        WHERE c.tenant_id = '$TENANT' AND c.invoice_id = '$1'"
}
unreached() { # INVOICE: its unreached call outcomes so far
    psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = '$1'
        AND kind = 'reminder_failed_transient' AND detail->'call' IS NOT NULL"
}

# ---- R1 and R2: the calls at 03-11 10:00Z ----
step 2026-03-05T10:00:00Z
step 2026-03-11T10:00:00Z
wait_eq 60 "R1's first call busy" 1 unreached R1
wait_eq 30 "R1's redial scheduled" "2026-03-11T11:00:00.000Z|2|2" psql_q "SELECT (detail->>'at') || '|' ||
    (detail->>'call') || '|' || (detail->>'calls') FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'R1'
    AND kind = 'redial_scheduled'"
assert_eq "redial|2026-03-11 11:00:00+00" "$(case_field R1 "next_action || '|' || next_action_at")" "R1's timer"
wait_eq 60 "R2's first call busy" 1 unreached R2
for h in 11 12 13 14 15 16; do
    step 2026-03-11T$h:00:00Z
    wait_eq 60 "R2's call at $h:00 busy" $((h - 9)) unreached R2
done
wait_eq 60 "R1's redial unanswered" 2 unreached R1
wait_eq 30 "R1 falls back to e-mail" \
    "reminder_emitted reminder_failed_transient:busy redial_scheduled redial reminder_failed_transient:no_answer reminder_fallback" \
    kinds R1
assert_eq "not reached by phone in 2 calls (no_answer)|email" "$(psql_q "SELECT (detail->>'reason') || '|' || (detail->>'to_channel')
    FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'R1' AND kind = 'reminder_fallback'")" "R1's fallback"
assert_eq "busy no_answer" "$(calls R1)" "R1's calls in the ledger"
assert_eq "unreached unreached" "$(psql_q "SELECT string_agg(status, ' ' ORDER BY created_at, event_id) FROM deliveries
    WHERE tenant_id = '$TENANT' AND invoice_id = 'R1' AND channel = 'voice'")" "R1's voice deliveries (final)"
assert_eq "busy noanswer" "$(tail -n +$((LOG_START + 1)) "$DUNNING_VOICE_LOG" | grep ' number=+493099000087 ' |
    tr ' ' '\n' | sed -n 's/^outcome=//p' | paste -sd' ')" "the peer's view of R1's calls"

step 2026-03-11T17:00:00Z # R2's 8th call in 7 days
wait_eq 60 "R2's 8th call refused" 1 psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'R2'
    AND kind = 'reminder_failed_permanent'"
assert_eq "call rule: 7 calls to this case in the last 7 days (voice.max_attempts_per_7d: 7)" \
    "$(psql_q "SELECT detail->>'reason' FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'R2' AND kind = 'reminder_failed_permanent'")" \
    "R2's refusal"
wait_eq 30 "R2 falls back to e-mail" email psql_q "SELECT detail->>'to_channel' FROM audit WHERE tenant_id = '$TENANT'
    AND invoice_id = 'R2' AND kind = 'reminder_fallback'"
assert_eq "busy busy busy busy busy busy busy" "$(calls R2)" "R2's calls in the ledger: seven, no eighth"
assert_eq 0 "$(psql_q "SELECT coalesce(sum(bounces), 0) FROM customer_behaviour WHERE tenant_id = '$TENANT'
    AND customer_id = 'cust-r2'")" "a call held back by the rules is no bounced contact"
assert_eq 7 "$(tail -n +$((LOG_START + 1)) "$DUNNING_VOICE_LOG" | grep -c ' number=+493099000086 ')" "the peer got 7 calls for R2"
wait_eq 30 "R3's call answered with key 2" 1 psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT'
    AND invoice_id = 'R3' AND kind = 'callback_requested'"

# ---- R3's second call and R4, paid between its ReminderDue and the dial ----
stop_service voice TERM
step 2026-03-13T10:00:00Z
wait_eq 30 "R4's call emitted" 1 psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'R4'
    AND kind = 'reminder_emitted'"
payment_json pay-r4 R4 cust-r4 14000 | publish payment-received
wait_eq 30 "R4 paid" resolved case_field R4 state
start_service voice sender-voice "${VOICE_ENV[@]}"
wait_eq 60 "R4's call suppressed" "suppressed|case resolved (paid, credited or cancelled)" psql_q "SELECT status || '|' ||
    last_error FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = 'R4' AND channel = 'voice'"
assert_eq "" "$(calls R4)" "R4 never dialled (ledger)"
assert_eq 0 "$(tail -n +$((LOG_START + 1)) "$DUNNING_VOICE_LOG" | grep -c ' number=+493099000001 ' || true)" "R4 never dialled (peer)"
wait_eq 60 "R3's second call refused" \
    "call rule: the customer answered a call at 2026-03-11T10:00Z; no call for 7 days after that (voice.quiet_after_answer)" \
    psql_q "SELECT detail->>'reason' FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'R3' AND kind = 'reminder_failed_permanent'"
wait_eq 30 "R3's second call falls back to e-mail" email psql_q "SELECT detail->>'to_channel' FROM audit
    WHERE tenant_id = '$TENANT' AND invoice_id = 'R3' AND kind = 'reminder_fallback'"
assert_eq "answered" "$(calls R3)" "R3's calls in the ledger: the answered one only"

# ---- R5: due at 22:00 in Berlin (21:00Z), called at 08:00 ----
step 2026-03-14T10:00:00Z
step 2026-03-15T21:00:00Z
wait_eq 60 "R5's call held" "outside calling hours (DUNNING_VOICE_CALLING_HOURS in Europe/Berlin) until 2026-03-16T07:00:00.000Z|2026-03-16T07:00:00.000Z" \
    psql_q "SELECT (detail->>'reason') || '|' || (detail->>'next_attempt_at') FROM audit WHERE tenant_id = '$TENANT'
        AND invoice_id = 'R5' AND kind = 'reminder_failed_transient'"
assert_eq "" "$(calls R5)" "R5 not dialled at 22:00"
clock_set 2026-03-16T07:00:00Z
wait_eq 150 "R5 called at 08:00 Berlin" "2026-03-16 07:00:00+00|no_response" psql_q "SELECT v.dialled_at || '|' || v.result
    FROM voice_calls v JOIN cases c USING (case_id) WHERE c.tenant_id = '$TENANT' AND c.invoice_id = 'R5'"

# ---- R6: Saturday 15:30 in Berlin, after the Saturday hours; no Sunday: Monday 08:00 ----
step 2026-03-16T07:00:00Z
step 2026-03-21T14:30:00Z
wait_eq 60 "R6's call held until Monday" "outside calling hours (voice.calling_hours in Europe/Berlin) until 2026-03-23T07:00:00.000Z" \
    psql_q "SELECT detail->>'reason' FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'R6' AND kind = 'reminder_failed_transient'"
clock_set 2026-03-23T07:00:00Z
wait_eq 150 "R6 called on Monday 08:00 Berlin" "2026-03-23 07:00:00+00|no_response" psql_q "SELECT v.dialled_at || '|' || v.result
    FROM voice_calls v JOIN cases c USING (case_id) WHERE c.tenant_id = '$TENANT' AND c.invoice_id = 'R6'"

log "PASS"
