#!/usr/bin/env bash
# The engine's side of the voice channel (issue 18), under the simulated clock with policy
# `voice` (stage 3 `call` at due+8d on channel voice; voice.promise_days 7, verify_days 3):
#   V1 and V3 (phone numbers) get their calls as ReminderDue on reminder-due.voice at stage
#   3; V2 and V4 (no phone number) cannot be called: the stage falls back to e-mail;
#   the call's outcome (answered, key 1, 42 s) is recorded with the call in the audit
#   detail, and key 1 becomes a promise from actor voice: the total due by today + 7 days;
#   key 2 (V3) is recorded as callback_requested, the case unchanged; a redelivered outcome
#   does nothing more; a promise command from a call without amount or date is completed
#   the same way; claim_paid (key 3, or the portal) holds V4 until today + 3 days, then it
#   resumes. A callback for a resolved case is refused (dead letter).
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

# The calls' outcomes, as sender-voice reports them: V1 pressed 1, V3 pressed 2.
outcome_of() { # INVOICE DIGIT SECONDS EVENT_ID
    jq -cn --arg t "$TENANT" --argjson rd "$(consume_tenant reminder-due.voice | jq -c --arg i "$1" 'select(.invoice_id == $i)')" \
        --arg d "$2" --argjson ms "$(($3 * 1000))" --arg eid "$4" '{event_id: $eid, tenant_id: $t,
        customer_id: $rd.customer_id, reminder_event_id: $rd.event_id, case_id: $rd.case_id, invoice_id: $rd.invoice_id,
        channel: "voice", outcome: "delivered", attempt: 1, reason: ("answered, key " + $d),
        call: {result: "answered", digit: $d, duration_ms: $ms, ring_ms: 3500}}'
}
O1=$(cat /proc/sys/kernel/random/uuid) O3=$(cat /proc/sys/kernel/random/uuid)
{ outcome_of V1 1 42 "$O1"; outcome_of V3 2 35 "$O3"; } | publish reminder-outcomes
wait_eq 20 "V1's outcome recorded with the call" "voice|answered|1|42000" psql_q "SELECT detail->>'channel' || '|' || (detail->'call'->>'result')
    || '|' || (detail->'call'->>'digit') || '|' || (detail->'call'->>'duration_ms') FROM audit
    WHERE tenant_id = '$TENANT' AND invoice_id = 'V1' AND kind = 'reminder_delivered'"
# Key 1 is a promise from actor voice: the total due, today + voice.promise_days.
wait_eq 20 "V1 promised" promised case_field V1 state
assert_eq "12000|2026-03-18|open|voice|voice" \
    "$(psql_q "SELECT amount_minor || '|' || promised_for || '|' || state || '|' || channel || '|' || actor FROM promises WHERE tenant_id = '$TENANT'")" \
    "the promise: the total due, today + voice.promise_days"
# Key 2: call me back, for the collector's worklist; the case goes on.
wait_eq 20 "V3's callback recorded" "voice|voice|requested on a call" psql_q "SELECT (detail->>'actor') || '|' ||
    (detail->>'channel') || '|' || (detail->>'reason') FROM audit WHERE tenant_id = '$TENANT' AND kind = 'callback_requested'"
assert_eq "overdue" "$(case_field V3 state)" "a callback changes nothing else"
# The same outcomes again (redelivered) add nothing; each is followed on its partition by
# a later call's outcome with key 9 (repeat: no action), which shows it was consumed.
for inv in "V1 1 42 $O1" "V3 2 35 $O3"; do
    set -- $inv
    { outcome_of "$1" "$2" "$3" "$4"; outcome_of "$1" 9 20 "$(cat /proc/sys/kernel/random/uuid)"; } |
        publish reminder-outcomes
done
wait_eq 20 "the key-9 outcomes recorded" "V1:9 V3:9" psql_q "SELECT string_agg(invoice_id || ':' || (detail->'call'->>'digit'),
    ' ' ORDER BY invoice_id) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'reminder_delivered' AND detail->'call'->>'digit' = '9'"
assert_eq "V1:2 V3:2" "$(psql_q "SELECT string_agg(invoice_id || ':' || n, ' ' ORDER BY invoice_id) FROM (SELECT invoice_id,
    count(*) AS n FROM audit WHERE tenant_id = '$TENANT' AND kind = 'reminder_delivered' GROUP BY invoice_id) s")" \
    "one delivered row per distinct outcome"
assert_eq "1|1" "$(psql_q "SELECT (SELECT count(*) FROM promises WHERE tenant_id = '$TENANT') || '|' ||
    (SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'callback_requested')")" \
    "one promise and one callback, however often the outcome came"
# A promise from a call without amount or date, as a CaseCommand (how a voice system
# outside this one would send it), for a case already promised: it replaces the promise.
jq -cn --arg t "$TENANT" '{tenant_id: $t, customer_id: "cust-v1", invoice_id: "V1", command: "promise",
    channel: "voice", actor: "ivr"}' | publish case-commands
wait_eq 20 "the second promise replaces the first" "withdrawn:voice open:ivr" \
    psql_q "SELECT string_agg(state || ':' || actor, ' ' ORDER BY made_at, state DESC) FROM promises WHERE tenant_id = '$TENANT'"

# Key 3 (here from the portal's "I have already paid" with a note): a hold.
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
