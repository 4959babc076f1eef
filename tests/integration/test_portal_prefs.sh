#!/usr/bin/env bash
# The customer's contact preferences (docs/portal.md, docs/policies.md "Contact
# preferences"), policy `prefs` (stage 1 e-mail at due + 2d, stage 2 SMS at + 5d with a
# 5.00 fee, stage 3 a call at + 8d), customers A (Q1, 70.00) and Z (Q0, 60.00, untouched
# control), both reachable on every channel:
#   - on the portal A opts out of SMS and corrects the e-mail address: the engine records a
#     consent event (actor portal, channel portal, e-mail changed but not the address) and
#     preferences_changed on A's case; the page shows the engine's answer and then the
#     preferences; the address is in no URL, log, audit row or consent row;
#   - stage 1 e-mail goes to the corrected address; stage 2 (SMS) goes out by e-mail
#     instead, same stage and amounts, and the audit says why; Z's goes by SMS;
#   - a set_preferences delivered twice (opt out of calls) is applied once, and A's call
#     at stage 3 becomes an e-mail while Z is called;
#   - bad commands are dead letters with their reason; bad form input is a 4xx;
#   - unticking "no SMS" on the page opts back in;
#   - a reminder emitted before its channel was opted out of is suppressed by the sender;
#   - dunningctl customer prefs shows them; erasure deletes them and the link stops working.
source "$(dirname "$0")/lib.sh"
reset_state
"$BIN/dunningctl" migrate >/dev/null
clock_start 2026-03-02T08:00:00Z 0
KEYS="k1:$(printf 'portal-prefs-test-key-0123456789ab' | base64)"
start_service engine dunning-engine
start_service sender sender-email
start_service portal dunning-portal DUNNING_PORTAL_ADDR=127.0.0.1:0 DUNNING_PORTAL_ADDR_FILE="$WORK/portal.addr" \
    DUNNING_PORTAL_KEYS="$KEYS" DUNNING_PORTAL_RATE_ADDRESS=10000
wait_until 20 "the portal's address file" '[ -s "$WORK/portal.addr" ]'
P=http://$(cat "$WORK/portal.addr")
OLD=a-old-$$@example.com NEW=anna.new-$$@example.com
{
    invoice_json Q1 cust-a 7000 2026-03-03 "$OLD" | with_policy prefs | reachable_everywhere
    invoice_json Q0 cust-z 6000 2026-03-03 "z-$$@example.com" | with_policy prefs | reachable_everywhere
} | publish invoice-issued
wait_eq 30 "two cases" "Q0:open Q1:open" cases_summary
L=$(DUNNING_PORTAL_URL=$P DUNNING_PORTAL_KEYS=$KEYS "$BIN/dunningctl" portal link --tenant "$TENANT" --customer cust-a)
T=${L##*/p/}
overview() { curl -s "$P/api/p/$T"; }
post() { curl -s -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' -H "X-Form-Token: $1" --data "$3" "$P/api/p/$T$2"; }
status_error() { echo "$(tail -1 <<<"$1") $(sed '$d' <<<"$1" | jq -r .error)"; }

assert_eq '{"no_sms":false,"no_calls":false,"opted_out":[],"email_masked":"a***@example.com","email_corrected":false}' \
    "$(overview | jq -c .preferences)" "the page's preferences before: none, the invoice's address (masked)"

# Bad form input: a 4xx with the reason, nothing sent.
R=$(post "$(overview | jq -r .form_token)" /preferences '{"invoice_id":"Q1","email":"anna at example"}')
assert_eq "400 email: not an e-mail address" "$(status_error "$R")" "a malformed address"
R=$(post "$(overview | jq -r .form_token)" /preferences '{"invoice_id":"Q1","no_sms":"yes"}')
assert_eq "400 no_sms, no_calls: true or false" "$(status_error "$R")" "a checkbox that is not a boolean"
R=$(post "$(overview | jq -r .form_token)" /preferences '{"invoice_id":"Q1","no_sms":false,"no_calls":false}')
assert_eq "422 Nothing to change: these are your current preferences." "$(status_error "$R")" "a form that changes nothing"
R=$(post "not.a-token" /preferences '{"invoice_id":"Q1","no_sms":true}')
assert_eq 403 "$(tail -1 <<<"$R")" "no valid form token (CSRF)"
assert_eq 0 "$(psql_q "SELECT count(*) FROM portal_actions WHERE tenant_id = '$TENANT'")" "none of them recorded"

# Opt out of SMS and correct the address.
FT=$(overview | jq -r .form_token)
R=$(post "$FT" /preferences "{\"invoice_id\":\"Q1\",\"no_sms\":true,\"no_calls\":false,\"email\":\"$NEW\"}")
assert_eq 202 "$(tail -1 <<<"$R")" "the preferences form"
CMD=$(sed '$d' <<<"$R" | jq -r .command_id)
R=$(post "$FT" /preferences '{"invoice_id":"Q1","no_calls":true}')
assert_eq "409 This form was already sent. Please reload the page." "$(status_error "$R")" "the same form again (single use)"
wait_eq 30 "the engine's answer" "answered preferences_changed:Q1" \
    eval "curl -s '$P/api/p/$T/answers/$CMD' | jq -r '.status + \" \" + ([.answers[] | .kind + \":\" + .invoice_id] | join(\",\"))'"
assert_eq 'portal|portal|["sms"]|[]|["sms"]|true' \
    "$(psql_q "SELECT detail FROM audit WHERE tenant_id = '$TENANT' AND caused_by = '$CMD'" | jq -r '[.actor, .channel, (.opt_out | tojson), (.opt_in | tojson), (.opted_out | tojson), .email_changed] | join("|")')" \
    "preferences_changed: actor, channel, what changed"
assert_eq "Q1|portal|portal|{sms}|{}|true|{sms}" \
    "$(psql_q "SELECT invoice_id || '|' || actor || '|' || channel || '|' || opted_out::text || '|' || opted_in::text || '|' || email_changed || '|' || result::text FROM consent_events WHERE tenant_id = '$TENANT' AND customer_id = 'cust-a'")" \
    "the consent event"
assert_eq "{sms}|$NEW|$CMD" \
    "$(psql_q "SELECT opted_out::text || '|' || email || '|' || event_id FROM contact_preferences WHERE tenant_id = '$TENANT' AND customer_id = 'cust-a'")" \
    "the current preferences"
assert_eq '{"no_sms":true,"no_calls":false,"opted_out":["sms"],"email_masked":"a***@example.com","email_corrected":true}' \
    "$(overview | jq -c .preferences)" "the page shows them"
no_address() {
    psql_q "SELECT (SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND detail::text LIKE '%anna.new%')
          + (SELECT count(*) FROM consent_events WHERE tenant_id = '$TENANT' AND row(consent_events.*)::text LIKE '%anna.new%')
          + (SELECT count(*) FROM portal_actions WHERE tenant_id = '$TENANT' AND row(portal_actions.*)::text LIKE '%anna.new%')"
}
assert_eq 0 "$(no_address)" "the address in no audit row, consent event or portal action"

# Another customer's preferences (Z opts out of letters): kept by A's erasure below.
command_json Q0 cust-z set_preferences | jq -c '.opt_out = ["letter"]' | publish case-commands
wait_eq 30 "Z's preferences" "{letter}" psql_q "SELECT opted_out FROM contact_preferences WHERE tenant_id = '$TENANT' AND customer_id = 'cust-z'"

# Stage 1 (e-mail): to the corrected address.
step 2026-03-05T08:00:00Z
wait_eq 30 "stage 1 at the corrected address" 1 mail_count_to "$NEW"
assert_eq 0 "$(mail_count_to "$OLD")" "nothing to the invoice's old address"
assert_eq "$NEW" "$(consume_tenant reminder-due.email | jq -r 'select(.invoice_id == "Q1" and .stage == 1) | .contact.email')" \
    "the ReminderDue's contact e-mail"

# Stage 2 (SMS): A's by e-mail instead, Z's by SMS.
step 2026-03-08T08:00:00Z
wait_eq 30 "stage 2 at the corrected address" 2 mail_count_to "$NEW"
assert_eq "Q0,1,first_reminder,email,first_reminder,6000,0,0,6000
Q0,2,sms_reminder,sms,second_reminder,6000,500,0,6500
Q1,1,first_reminder,email,first_reminder,7000,0,0,7000
Q1,2,sms_reminder,email,second_reminder,7000,500,0,7500" "$(reminders)" \
    "reminders: A's SMS stage by e-mail (stage, amounts, fee), Z's by SMS"
assert_eq "2|email|sms|opted out by the customer (contact preferences)" \
    "$(psql_q "SELECT detail || jsonb_build_object('row_stage', stage) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'Q1' AND kind = 'reminder_emitted' AND stage = 2" | jq -r '[.row_stage, .reminders[0].channel, .reminders[0].instead_of, .reminders[0].why] | join("|")')" \
    "the audit says why"

# A set_preferences delivered twice: applied once. Then three bad ones: dead letters.
E=$(cat /proc/sys/kernel/random/uuid)
DUP=$(command_json Q1 cust-a set_preferences | jq -c --arg e "$E" '.event_id = $e | .opt_out = ["voice"] | .channel = "api"')
printf '%s\n%s\n' "$DUP" "$DUP" | publish case-commands
{
    command_json Q1 cust-a set_preferences | jq -c '.opt_out = ["fax"]'
    command_json Q1 cust-a set_preferences | jq -c '.opt_out = ["email", "letter"]'
    command_json Q1 cust-a set_preferences | jq -c '.email = "anna@@example.com"'
    command_json Q1 cust-a set_preferences
} | publish case-commands
wait_eq 30 "four dead letters" "invalid_field field email: not an e-mail address
invalid_field field opt_out: fax is no channel (email, sms, letter or voice)
invalid_field set_preferences changes nothing: opt_out, opt_in and email are all empty
opt_out_refused opting out of every channel is not possible: at least one must remain" \
    dead_letter_reasons "$TENANT/cust-a"
assert_eq "1 1" "$(psql_q "SELECT (SELECT count(*) FROM consent_events WHERE event_id = '$E') || ' ' || (SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'preferences_changed' AND caused_by = '$E')")" \
    "the redelivered command: one consent event, one audit row"
assert_eq "{sms,voice}" "$(psql_q "SELECT opted_out FROM contact_preferences WHERE tenant_id = '$TENANT' AND customer_id = 'cust-a'")" \
    "A's opt-outs now (the refused ones changed nothing)"

# Stage 3 (a call): A's by e-mail instead, Z is called.
step 2026-03-11T08:00:00Z
wait_eq 30 "stage 3 at the corrected address" 3 mail_count_to "$NEW"
assert_eq "Q0,3,call,voice" "$(consume_tenant reminder-due.voice | jq -r '[.invoice_id, .stage, .stage_name, .channel] | join(",")')" \
    "only Z is called"
assert_eq "Q1,3,call,email,voice_reminder,7000,500,0,7500" "$(reminders | grep '^Q1,3,')" "A's call stage by e-mail"
assert_eq 0 "$(grep -c 'anna.new' "$WORK/portal.log" "$WORK/engine.log" "$WORK/sender.log" | awk -F: '{s += $2} END {print s}')" \
    "the address in no log line"

# Unticking "no SMS" on the page opts back in (calls stay off; the address unchanged).
R=$(post "$(overview | jq -r .form_token)" /preferences '{"invoice_id":"Q1","no_sms":false,"no_calls":true,"email":""}')
assert_eq 202 "$(tail -1 <<<"$R")" "the opt-in form"
CMD2=$(sed '$d' <<<"$R" | jq -r .command_id)
wait_eq 30 "the opt-in applied" "{voice}" psql_q "SELECT opted_out FROM contact_preferences WHERE tenant_id = '$TENANT' AND customer_id = 'cust-a'"
assert_eq '[]|["sms"]|["voice"]|false' \
    "$(psql_q "SELECT detail FROM audit WHERE tenant_id = '$TENANT' AND caused_by = '$CMD2'" | jq -r '[(.opt_out | tojson), (.opt_in | tojson), (.opted_out | tojson), .email_changed] | join("|")')" \
    "preferences_changed of the opt-in"
assert_eq '{"no_sms":false,"no_calls":true,"opted_out":["voice"],"email_masked":"a***@example.com","email_corrected":true}' \
    "$(overview | jq -c .preferences)" "the page after the opt-in"

assert_eq "customer cust-a of tenant $TENANT
  opted out of: voice
  e-mail: $NEW
  changed: 2026-03-11T08:00:00Z (command $CMD2)
consent history (3):
  2026-03-02T08:00:00Z  portal via portal (invoice Q1): opted out of sms; opted in to none; e-mail changed; now opted out of sms
  2026-03-08T08:00:00Z  test via api (invoice Q1): opted out of voice; opted in to none; e-mail unchanged; now opted out of sms, voice
  2026-03-11T08:00:00Z  portal via portal (invoice Q1): opted out of none; opted in to sms; e-mail unchanged; now opted out of voice" \
    "$("$BIN/dunningctl" customer prefs "$TENANT" cust-a)" "dunningctl customer prefs"

# A reminder already emitted when the customer opts out of its channel: the sender's
# last-mile check suppresses it. Stage 4 (e-mail) waits on its topic while sender-email is
# stopped; Z then opts out of e-mail (SMS and calls still reach Z).
stop_service sender
step 2026-03-15T08:00:00Z
command_json Q0 cust-z set_preferences | jq -c '.opt_out = ["email"]' | publish case-commands
wait_eq 30 "Z's opt-out of e-mail" "{email,letter}" psql_q "SELECT opted_out FROM contact_preferences WHERE tenant_id = '$TENANT' AND customer_id = 'cust-z'"
start_service sender2 sender-email
wait_eq 30 "Z's final notice suppressed at the last mile" "email|suppressed|the customer opted out of email (contact preferences)" \
    psql_q "SELECT channel || '|' || status || '|' || last_error FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = 'Q0' AND stage = 4"
wait_eq 30 "A's final notice at the corrected address" 4 mail_count_to "$NEW"
assert_eq 1 "$(mail_count_to "z-$$@example.com")" "Z's mails: stage 1 only"
wait_eq 30 "the suppression in Z's audit" "reminder_suppressed|the customer opted out of email (contact preferences)" \
    psql_q "SELECT kind || '|' || (detail->>'reason') FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'Q0' AND kind = 'reminder_suppressed'"

# Erasure: A's preferences and consent history are gone, Z's stay; A's link is dead.
"$BIN/dunningctl" customer erase "$TENANT" cust-a >/dev/null
assert_eq "0 0 1" "$(psql_q "SELECT (SELECT count(*) FROM contact_preferences WHERE tenant_id = '$TENANT' AND customer_id = 'cust-a') || ' ' || (SELECT count(*) FROM consent_events WHERE tenant_id = '$TENANT' AND customer_id = 'cust-a') || ' ' || (SELECT count(*) FROM contact_preferences WHERE tenant_id = '$TENANT' AND customer_id = 'cust-z')")" \
    "erasure: A's preferences and history deleted, Z's kept"
assert_eq 4 "$(psql_q "SELECT detail->>'preferences_rows_deleted' FROM audit WHERE tenant_id = '$TENANT' AND kind = 'contact_erased'")" \
    "contact_erased counts them (one preferences row, three consent events)"
assert_eq 0 "$(no_address)" "the address nowhere after erasure"
assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "$P/api/p/$T")" "the erased customer's link"
assert_eq "customer cust-a of tenant $TENANT
  no contact preferences: every channel of the policy, the invoices' contact e-mail
consent history (0):" "$("$BIN/dunningctl" customer prefs "$TENANT" cust-a)" "dunningctl customer prefs after erasure"
log "PASS"
