#!/usr/bin/env bash
# The engine's side of the voice channel (issue 18), under the simulated clock with policy
# `voice` (stage 3 `call` at due+8d on channel voice; voice.promise_days 7, verify_days 3):
#   V1 (a phone number) gets its call as a ReminderDue on reminder-due.voice at stage 3;
#   V2 (no phone number) cannot be called: the stage falls back to e-mail (channel_order);
#   the call's outcome (answered, key 1, 42 s) is recorded with the call in the audit
#   detail; key 1 is a CaseCommand promise from actor voice without amount or date: the
#   engine takes the total due and today + 7 days; key 2 (callback) is recorded as
#   callback_requested, the case unchanged; key 3 (claim_paid) holds the case until today +
#   3 days, then it resumes. A callback for a resolved case is refused (dead letter).
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine

invoice_json V1 cust-v1 12000 2026-03-03 v1@example.com | with_policy voice | jq -c '.contact.phone = "+4930990000101"' |
    publish invoice-issued
invoice_json V2 cust-v2 8000 2026-03-03 v2@example.com | with_policy voice | publish invoice-issued
invoice_json V3 cust-v3 9000 2026-03-03 v3@example.com | with_policy voice | jq -c '.contact.phone = "+4930990000103"' |
    publish invoice-issued
invoice_json V4 cust-v4 7000 2026-03-03 v4@example.com | with_policy voice | publish invoice-issued
wait_eq 30 "cases open" "V1:open V2:open V3:open V4:open" cases_summary
step 2026-03-05T08:00:00Z
step 2026-03-08T08:00:00Z
step 2026-03-11T08:00:00Z # the call stage
voice_lines() {
    consume_tenant reminder-due.voice | jq -r '[.invoice_id, .channel, .stage, .stage_name, .template_key,
        .total_due_minor, .contact.phone] | map(tostring) | join(",")' | sort
}
assert_eq "V1,voice,3,call,voice_reminder,12000,+4930990000101
V3,voice,3,call,voice_reminder,9000,+4930990000103" "$(voice_lines)" "the calls on reminder-due.voice"
assert_eq "V2,email,3,call V4,email,3,call" \
    "$(consume_tenant reminder-due.email | jq -r 'select(.stage == 3) | [.invoice_id, .channel, .stage, .stage_name] | join(",")' | sort | tr '\n' ' ' | sed 's/ $//')" \
    "no phone: the call stage falls back to e-mail"

# The call's outcome, as sender-voice reports it.
V1_CALL=$(consume_tenant reminder-due.voice | jq -c 'select(.invoice_id == "V1")')
jq -cn --arg t "$TENANT" --argjson rd "$V1_CALL" '{tenant_id: $t, customer_id: $rd.customer_id,
    reminder_event_id: $rd.event_id, case_id: $rd.case_id, invoice_id: $rd.invoice_id, channel: "voice",
    outcome: "delivered", attempt: 1, reason: "answered, key 1",
    call: {result: "answered", digit: "1", duration_ms: 42000, ring_ms: 3500}}' | publish reminder-outcomes
wait_eq 20 "the outcome recorded" "voice|answered|1|42000" psql_q "SELECT detail->>'channel' || '|' || (detail->'call'->>'result')
    || '|' || (detail->'call'->>'digit') || '|' || (detail->'call'->>'duration_ms') FROM audit
    WHERE tenant_id = '$TENANT' AND invoice_id = 'V1' AND kind = 'reminder_delivered'"

# Key 1: a promise from the call, without amount or date.
jq -cn --arg t "$TENANT" '{tenant_id: $t, customer_id: "cust-v1", invoice_id: "V1", command: "promise",
    channel: "voice", actor: "voice"}' | publish case-commands
wait_eq 20 "V1 promised" promised case_field V1 state
assert_eq "12000|2026-03-18|open|voice|voice" \
    "$(psql_q "SELECT amount_minor || '|' || promised_for || '|' || state || '|' || channel || '|' || actor FROM promises WHERE tenant_id = '$TENANT'")" \
    "the promise: the total due, today + voice.promise_days"

# Key 2: call me back. Key 3: already paid.
command_json V3 cust-v3 callback | jq -c '.channel = "voice" | .actor = "voice"' | publish case-commands
wait_eq 20 "V3's callback recorded" 1 audit_count callback_requested
assert_eq "overdue" "$(case_field V3 state)" "a callback changes nothing else"
command_json V4 cust-v4 claim_paid "paid on 03-10, ref 4711" | publish case-commands
wait_eq 20 "V4 held for the payment" "paused|payment_claimed|2026-03-14" \
    case_field V4 "state || '|' || pause_reason || '|' || paused_until"
assert_eq "paid on 03-10, ref 4711|2026-03-14" \
    "$(psql_q "SELECT (detail->>'reason') || '|' || (detail->>'until') FROM audit WHERE tenant_id = '$TENANT' AND kind = 'payment_claimed'")" \
    "the claim and its note in the audit trail"
step 2026-03-14T08:00:00Z # no payment came: the hold ends
assert_eq "overdue" "$(case_field V4 state)" "V4 resumed after voice.verify_days"
assert_eq "opened reminder_emitted reminder_emitted reminder_emitted payment_claimed resumed" "$(audit_trail V4)" \
    "V4's audit trail"

# Bad input: a callback for a paid invoice is refused.
payment_json pay-v2 V2 cust-v2 8000 | publish payment-received
wait_eq 20 "V2 paid" resolved case_field V2 state
command_json V2 cust-v2 callback | publish case-commands
wait_until 20 "the callback for V2 dead-lettered" '[ -n "$(dead_letters "$TENANT/cust-v2")" ]'
assert_eq "invalid_state cannot callback the case of invoice V2: it is resolved" "$(dead_letter_reasons "$TENANT/cust-v2")" \
    "the rejection"
assert_eq 0 "$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'V2' AND kind = 'callback_requested'")" \
    "nothing recorded for V2"
log "PASS"
