#!/usr/bin/env bash
# The last-mile check after a late payment, on every channel: reminders are emitted while no
# sender runs (policy four_stage up to the final notice: e-mail stages 1-4, the SMS of stage 3,
# the letter of stage 4), then the invoice is paid in full and its case resolved; then the
# three senders start, and each must publish the outcome suppressed with the reason
# "case resolved (paid, credited or cancelled)" and send nothing: no mail file for the
# address, no SMS for the number at the fake SMSC, no PDF in the spool.
# Every sender runs in a consumer group of its own (named after the tenant), so no sender of
# another test in the default group takes these reminders; it reads its topic from the
# beginning, so the checks are limited to this tenant. (tests/integration/policy.yaml)
source "$(dirname "$0")/lib.sh"
[ -n "${DUNNING_KANNEL_URL:-}" ] && [ -f "${DUNNING_SMS_LOG:-}" ] || fail "the stack runs no Kannel (scripts/stack restart)"
reset_state
clock_start 2026-03-01T08:00:00Z 0
RUN_ID=$$-$RANDOM
EMAIL=late-$RUN_ID@example.com
PHONE=+4915$(printf '%09d' $((($$ * 32768 + RANDOM) % 1000000000)))
SMS_START=$(wc -l <"$DUNNING_SMS_LOG")
SPOOL=$WORK/spool
REASON="case resolved (paid, credited or cancelled)"
start_service engine dunning-engine

invoice_json W cust-w 100000 2026-03-10 "$EMAIL" | with_policy four_stage | reachable_everywhere |
    jq -c --arg p "$PHONE" '.contact.phone = $p' | publish invoice-issued
wait_eq 30 "the open case" "W:open" cases_summary
step 2026-03-08T08:00:00Z # friendly reminder (e-mail)
step 2026-03-12T08:00:00Z # first reminder (e-mail)
step 2026-03-17T08:00:00Z # second reminder: e-mail and SMS
step 2026-03-24T08:00:00Z # final notice: e-mail and letter
# channel,stage of every reminder of W.
assert_eq "email,1
email,2
email,3
email,4
letter,4
sms,3" "$(reminders | cut -d, -f1,2,4 | awk -F, '{print $3 "," $2}' | sort)" "the reminders emitted"

# Paid in full (outstanding, fees and interest of the final notice) while no sender ran.
TOTAL=$(consume_tenant reminder-due.letter | jq -r 'select(.invoice_id == "W") | .total_due_minor')
payment_json PAY-W W cust-w "$TOTAL" | publish payment-received
wait_eq 30 "W resolved" "W:resolved" cases_summary
log "ok: W paid ($TOTAL) and resolved before any sender ran"
assert_eq 0 "$(psql_q "SELECT count(*) FROM deliveries WHERE tenant_id = '$TENANT'")" "delivery rows before the senders start"

# Now the senders start and find the six reminders on their topics.
start_service email sender-email DUNNING_SENDER_GROUP="$TENANT-email"
start_service sms sender-sms DUNNING_SMS_GROUP="$TENANT-sms"
start_service letter sender-letter DUNNING_LETTER_GROUP="$TENANT-letter" DUNNING_LETTER_SPOOL_DIR="$SPOOL"

outcomes() {
    consume_tenant reminder-outcomes | jq -r '[.channel, .outcome, (.reason // "")] | join(",")' | sort
}
EXPECTED="email,suppressed,$REASON
email,suppressed,$REASON
email,suppressed,$REASON
email,suppressed,$REASON
letter,suppressed,$REASON
sms,suppressed,$REASON"
wait_eq 60 "six suppressed outcomes" "$EXPECTED" outcomes
# One outcome per reminder, each for its own reminder.
ids() { for t in reminder-due.email reminder-due.sms reminder-due.letter; do consume_tenant "$t" | jq -r .event_id; done | sort; }
assert_eq "$(ids)" "$(consume_tenant reminder-outcomes | jq -r .reminder_event_id | sort)" "the reminders the outcomes are for"
assert_eq "email,suppressed,1,$REASON:4
letter,suppressed,1,$REASON:1
sms,suppressed,1,$REASON:1" \
    "$(psql_q "SELECT channel || ',' || status || ',' || attempts || ',' || coalesce(last_error, '') || ':' || count(*)
               FROM deliveries WHERE tenant_id = '$TENANT' GROUP BY channel, status, attempts, last_error ORDER BY 1")" "delivery rows (channel,status,attempts,reason:count)"
sleep 1.5 # anything sent after all would show by now
assert_eq 0 "$(mail_count_to "$EMAIL")" "mails to the customer"
assert_eq 0 "$(tail -n +$((SMS_START + 1)) "$DUNNING_SMS_LOG" | grep -c " $PHONE " || true)" "SMS to the customer's number"
LEID=$(consume_tenant reminder-due.letter | jq -r 'select(.invoice_id == "W") | .event_id')
[ ! -e "$SPOOL/letter-$LEID.pdf" ] || fail "the letter was written: $SPOOL/letter-$LEID.pdf"
assert_eq 0 "$(jq -r --arg t "$TENANT" 'select(.tenant_id == $t) | .file' "$SPOOL/manifest.jsonl" 2>/dev/null | wc -l)" \
    "this tenant's letters in the manifest"
for s in email sms letter; do
    grep -q '"msg":"reminder suppressed"' "$WORK/$s.log" || fail "sender-$s did not log a suppression"
done
grep -q '"msg":"sms sent"' "$WORK/sms.log" && grep '"msg":"sms sent"' "$WORK/sms.log" | grep -q "\"tenant_id\":\"$TENANT\"" &&
    fail "sender-sms logged an SMS of this tenant as sent"
stop_service email TERM
stop_service sms TERM
stop_service letter TERM
log "PASS"
