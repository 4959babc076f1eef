#!/usr/bin/env bash
# The engine consumes the senders' outcomes: every outcome lands in the case's audit trail,
# and a permanent failure sends the same stage again on the next channel of the policy's
# channel_order that reaches the customer and was not used for it yet (no second fee, the
# case's current amounts); with none left the reminder is undeliverable. A redelivered or a
# second failure never sends a channel twice. The SMTP sink rejects mailboxes reject*@ with
# 550 (failed_permanent); no SMS or letter sender runs here, so fallbacks end on their topic.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T00:00:00Z 0
start_service engine dunning-engine
start_service sender sender-email

{
    invoice_json F cust-f 7000 2026-03-03 reject-f@example.com | reachable_everywhere # email, sms, letter
    invoice_json U cust-u 8000 2026-03-03 reject-u@example.com                        # e-mail only
    invoice_json D cust-d 9000 2026-03-03 d@example.com                               # e-mail only, delivered
    invoice_json L cust-l 6000 2026-03-03 reject-l@example.com |                      # e-mail and letter, no phone
        jq -c '.contact.address = {line1: "Hauptstr. 1", postal_code: "10115", city: "Berlin", country: "DE"}'
} | publish invoice-issued
wait_eq 30 "four open cases" "D:open F:open L:open U:open" cases_summary
step 2026-03-05T08:00:00Z # two_step, stage 1 (due + 2 days): e-mail only

wait_eq 30 "F: the e-mail bounced, the stage went to SMS" \
    "opened reminder_emitted reminder_failed_permanent reminder_fallback" audit_trail F
wait_eq 30 "U: the e-mail bounced, nothing left" \
    "opened reminder_emitted reminder_failed_permanent reminder_undeliverable" audit_trail U
wait_eq 30 "D: delivered" "opened reminder_emitted reminder_delivered" audit_trail D
wait_eq 30 "L: the e-mail bounced, the stage went to a letter (no phone)" \
    "opened reminder_emitted reminder_failed_permanent reminder_fallback" audit_trail L
wait_eq 20 "outbox drained" 0 outbox_empty
# Each bounce is one bounced contact in the customer's behaviour (the risk score's input).
assert_eq "cust-f|1 cust-l|1 cust-u|1" \
    "$(psql_q "SELECT string_agg(customer_id || '|' || bounces, ' ' ORDER BY customer_id) FROM customer_behaviour WHERE tenant_id = '$TENANT'")" \
    "bounces counted per customer"

assert_eq "D,email,delivered
F,email,failed_permanent
L,email,failed_permanent
U,email,failed_permanent" \
    "$(consume_tenant reminder-outcomes | jq -r '[.invoice_id, .channel, .outcome] | join(",")' | sort)" \
    "outcomes published by sender-email"
assert_eq "D,1,first_reminder,email,first_reminder,9000,0,0,9000
F,1,first_reminder,email,first_reminder,7000,0,0,7000
F,1,first_reminder,sms,first_reminder,7000,0,0,7000
L,1,first_reminder,email,first_reminder,6000,0,0,6000
L,1,first_reminder,letter,first_reminder,6000,0,0,6000
U,1,first_reminder,email,first_reminder,8000,0,0,8000" "$(reminders)" \
    "reminders: F's stage 1 again on SMS, L's (e-mail to letter) on paper, same amounts"

# The audit rows say what happened, on which channel, for which stage and reminder.
email_id() { consume_tenant reminder-due.email | jq -r --arg i "$1" 'select(.invoice_id == $i) | .event_id'; }
sms_f=$(consume_tenant reminder-due.sms | jq -r 'select(.invoice_id == "F") | .event_id')
# row INVOICE KIND 'JQ FIELDS': the audit row's stage and the detail's fields, joined by |.
row() {
    psql_q "SELECT detail || jsonb_build_object('row_stage', stage) FROM audit WHERE tenant_id = '$TENANT'
            AND invoice_id = '$1' AND kind = '$2' ORDER BY id LIMIT 1" | jq -r "[.row_stage, $3] | join(\"|\")"
}
assert_eq "1|email|1|1|$(email_id D)|" "$(row D reminder_delivered '.channel, .stage, .attempt, .reminder_event_id, .reason')" \
    "reminder_delivered: row stage, channel, stage, attempt, reminder, no reason"
assert_eq "1|email|1|$(email_id F)|smtp 550" \
    "$(row F reminder_failed_permanent '.channel, .stage, .reminder_event_id, .reason[0:8]')" \
    "reminder_failed_permanent of F"
assert_eq "1|email|sms|smtp 550|$(email_id F)|first_reminder|sms:$sms_f" \
    "$(row F reminder_fallback '.from_channel, .to_channel, .reason[0:8], .reminder_event_id, .stage_name,
                                (.reminders | map(.channel + ":" + .event_id) | join(","))')" \
    "reminder_fallback of F"
assert_eq "1|every channel failed|email|0|" \
    "$(row U reminder_undeliverable '.reason, .from_channel, .fee_minor, (.reminders | map(.channel) | join(","))')" \
    "reminder_undeliverable of U"
assert_eq "0 0 0" "$(case_field F fee_minor) $(case_field U fee_minor) $(case_field D fee_minor)" "no fee charged"
assert_eq "reminder_failed_permanent reminder_fallback" \
    "$(consume_tenant dunning-case-events | jq -r 'select(.invoice_id == "F" and (.event_type | startswith("reminder_f"))) | .event_type' |
        tr '\n' ' ' | sed 's/ $//')" "case events of F's outcome and fallback"

# The same outcome again (redelivered), a second failure of the same e-mail (new event id):
# recorded, no second fallback. Then the SMS fails for good too: the letter is next. All
# on one key, so the engine handles them in this order.
failed_f=$(consume_tenant reminder-outcomes | jq -c 'select(.invoice_id == "F")')
{
    echo "$failed_f"
    jq -c --arg e "$(cat /proc/sys/kernel/random/uuid)" '.event_id = $e | .attempt = 2' <<<"$failed_f"
    jq -c --arg e "$(cat /proc/sys/kernel/random/uuid)" --arg r "$sms_f" \
        '.event_id = $e | .reminder_event_id = $r | .channel = "sms" | .reason = "number unknown" |
         .provider_message_id = null' <<<"$failed_f"
} | publish reminder-outcomes
wait_eq 30 "F: a second e-mail failure recorded, then the SMS failure went to letter" \
    "opened reminder_emitted reminder_failed_permanent reminder_fallback reminder_failed_permanent reminder_failed_permanent reminder_fallback" \
    audit_trail F
wait_eq 20 "outbox drained" 0 outbox_empty
assert_eq "F,1,first_reminder,email,first_reminder,7000,0,0,7000
F,1,first_reminder,letter,first_reminder,7000,0,0,7000
F,1,first_reminder,sms,first_reminder,7000,0,0,7000" \
    "$(reminders | grep '^F,')" "F's reminders: each channel once"
assert_eq "sms|letter|number unknown" \
    "$(psql_q "SELECT detail->>'from_channel' || '|' || (detail->>'to_channel') || '|' || (detail->>'reason') FROM audit
               WHERE tenant_id = '$TENANT' AND invoice_id = 'F' AND kind = 'reminder_fallback' ORDER BY id DESC LIMIT 1")" \
    "the second fallback of F"
assert_eq 1 "$(consume_tenant dunning-case-events | jq -r 'select(.invoice_id == "F" and .event_type == "reminder_fallback" and .reason[0:8] == "smtp 550")' | jq -s length)" \
    "one fallback case event for the e-mail failure"

# A malformed outcome is dead-lettered; one for a case the engine does not have is not
# malformed: logged, recorded nowhere.
unknown_case=$(cat /proc/sys/kernel/random/uuid)
{
    jq -c --arg e "$(cat /proc/sys/kernel/random/uuid)" \
        '.event_id = $e | .customer_id = "cust-m" | .invoice_id = "M" | .case_id = "not-a-uuid"' <<<"$failed_f"
    jq -c --arg e "$(cat /proc/sys/kernel/random/uuid)" --arg c "$unknown_case" \
        '.event_id = $e | .customer_id = "cust-n" | .invoice_id = "N" | .case_id = $c' <<<"$failed_f"
} | publish reminder-outcomes
wait_eq 20 "the malformed outcome dead-lettered" "reminder-outcomes|invalid_field|field case_id: not a UUID" \
    eval 'dead_letters "$TENANT/cust-m" | jq -r ".value | [.source_topic, .error_code, .reason] | join(\"|\")"'
wait_until 20 "the outcome for an unknown case logged" \
    'grep "outcome for an unknown case, ignored" "$WORK/engine.log" | grep -q "$unknown_case"'
assert_eq 0 "$(dead_letters "$TENANT/cust-n" | wc -l)" "dead letters for the unknown case"
assert_eq 0 "$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id IN ('M', 'N')")" \
    "audit rows for the malformed and the unknown outcome"
log "PASS"
