#!/usr/bin/env bash
# "Resend last reminder" from the console (docs/console.md#actions, CaseCommand resend): a
# stage reminder e-mailed and delivered; the collector resends it through the console's API;
# the engine emits a second ReminderDue with the same stage, template and amounts and a new
# reminder id, audits reminder_resent with the user as actor, publishes the case event, and
# the sender delivers the mail (SMTP capture). The same command redelivered is applied once.
# Refused: a paid case (409 from the console; the engine's own refusal dead-lettered with its
# reason), a case with no reminder yet (409), a channel the stage does not have (dead letter),
# a viewer (403), another tenant's case (404), no CSRF token (403), a bad channel (400).
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-06-01T08:00:00Z 0
export DUNNING_POLICY_FILE=$WORK/policy.yaml
cat >"$DUNNING_POLICY_FILE" <<'YAML'
tenants:
  default:
    default_policy: p
    policies:
      p:
        stages:
          - {name: first_reminder, offset: 2d, channels: [email], template: first_reminder, fee: {fixed: {EUR: 500}}}
          - {name: second_reminder, offset: 30d, channels: [email], template: second_reminder}
YAML
start_service engine dunning-engine
start_service sender sender-email
start_service console dunning-console DUNNING_CONSOLE_ADDR=127.0.0.1:0 DUNNING_CONSOLE_ADDR_FILE="$WORK/console.addr"
wait_until 10 "console listening" '[ -s "$WORK/console.addr" ]'
URL=http://$(cat "$WORK/console.addr")
TB=$TENANT-b

PW=correct-horse-battery
U=$$
psql_q "DELETE FROM console_users WHERE login ~ '^(rcol|rview|rcolb)-$U\$';
        DELETE FROM console_access_log WHERE login ~ '^(rcol|rview|rcolb)-$U\$'" >/dev/null
adduser() { echo "$PW" | "$BIN/dunningctl" user add "$1" --role "$2" --tenants "$3" >/dev/null 2>&1 || fail "user add $1"; }
adduser "rcol-$U" collector "$TENANT"
adduser "rview-$U" viewer "$TENANT"
adduser "rcolb-$U" collector "$TB"
COL=rcol-$U VIEW=rview-$U COLB=rcolb-$U

# R1: 12 days overdue, its first stage fires at once; R2 the same, then paid; R3 not due yet.
inv() { invoice_json "$1" "cust-$1" "$2" "$3" "$1@example.com" | publish invoice-issued; }
inv R1 120000 2026-05-20
inv R2 80000 2026-05-20
inv R3 50000 2026-07-01
wait_eq 30 "three cases" 3 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'"
wait_eq 30 "the first reminders e-mailed" "1 1" eval 'echo "$(mail_count_to R1@example.com) $(mail_count_to R2@example.com)"'
publish payment-received <<<"$(payment_json pay-r2 R2 cust-R2 80500)"
wait_eq 30 "R2 paid" resolved case_field R2 state
case_id() { psql_q "SELECT case_id FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = '$1'"; }
R1=$(case_id R1) R2=$(case_id R2) R3=$(case_id R3)

login() {
    curl -s -c "$WORK/$1.jar" -o "$WORK/$1.login" -H 'Content-Type: application/json' \
        -d "$(jq -cn --arg l "$1" --arg p "$PW" '{login: $l, password: $p}')" "$URL/api/login"
    jq -r .csrf_token "$WORK/$1.login"
}
declare -A CSRF=()
for u in "$COL" "$VIEW" "$COLB"; do CSRF[$u]=$(login "$u"); done
act() {
    local code
    code=$(curl -s -b "$WORK/$1.jar" -o "$WORK/act.body" -w '%{http_code}' -H 'Content-Type: application/json' \
        -H "X-CSRF-Token: ${CSRF[$1]}" --data "$3" "$URL/api/cases/$2/actions")
    echo "$code $(cat "$WORK/act.body")"
}
# ReminderDue of R1: event id and what it says, one line each, in order.
r1_reminders() {
    consume_tenant reminder-due.email | jq -r 'select(.invoice_id == "R1")
        | [.event_id, .stage, .stage_name, .template_key, .amount_minor, .outstanding_minor, .fee_minor,
           .interest_minor, .total_due_minor, .days_overdue] | map(tostring) | join(",")'
}

# ---- refusals: nothing reaches the engine ----
assert_eq '403 {"error":"role viewer may not resend (needs collector)"}' "$(act "$VIEW" "$R1" '{"action":"resend"}')" \
    "a viewer may not resend"
assert_eq '404 {"error":"no such case"}' "$(act "$COLB" "$R1" '{"action":"resend"}')" "another tenant's case: 404"
assert_eq 403 "$(curl -s -o /dev/null -w '%{http_code}' -b "$WORK/$COL.jar" -H 'Content-Type: application/json' \
    --data '{"action":"resend"}' "$URL/api/cases/$R1/actions")" "no CSRF token: 403"
assert_eq '400 {"error":"target_channel: email, sms, letter or voice, or null (the last reminder'"'"'s)"}' \
    "$(act "$COL" "$R1" '{"action":"resend","target_channel":"fax"}')" "a channel that does not exist: 400"
assert_eq '409 {"error":"cannot resend the last reminder: the case is resolved"}' \
    "$(act "$COL" "$R2" '{"action":"resend"}')" "a paid case: 409 with the reason"
assert_eq '409 {"error":"cannot resend the last reminder: no reminder was sent yet"}' \
    "$(act "$COL" "$R3" '{"action":"resend"}')" "no reminder yet: 409"

# ---- the resend ----
first=$(r1_reminders)
assert_eq 1 "$(wc -l <<<"$first")" "one ReminderDue of R1 so far"
out=$(act "$COL" "$R1" '{"action":"resend","note":"customer lost the first mail"}')
assert_eq 202 "${out%% *}" "resend accepted"
eid=$(jq -r .event_id <<<"${out#* }")
assert_eq resend "$(jq -r .command <<<"${out#* }")" "a resend command"
wait_eq 30 "the engine's case event for the resend" "reminder_resent overdue overdue 1 the last reminder sent again" eval \
    'consume_tenant dunning-case-events | jq -r --arg e "$eid" "select(.caused_by_event_id == \$e) | \"\(.event_type) \(.from_state) \(.to_state) \(.stage) \(.reason)\""'
wait_eq 30 "a second ReminderDue of R1" 2 eval 'r1_reminders | wc -l'
both=$(r1_reminders)
assert_eq "$(cut -d, -f2- <<<"$first")" "$(tail -1 <<<"$both" | cut -d, -f2-)" \
    "the same stage, template and amounts (no second fee)"
assert_eq "1,first_reminder,first_reminder,120000,120000,500,0,120500,2" "$(tail -1 <<<"$both" | cut -d, -f2-)" \
    "what the resent reminder says"
[ "$(head -1 <<<"$both" | cut -d, -f1)" != "$(tail -1 <<<"$both" | cut -d, -f1)" ] || fail "the same reminder id: $both"
new_id=$(tail -1 <<<"$both" | cut -d, -f1)
wait_eq 30 "the resent reminder e-mailed" 2 mail_count_to R1@example.com
wait_eq 30 "its delivery recorded" delivered psql_q "SELECT status FROM deliveries WHERE event_id = '$new_id'"
assert_eq "reminder_resent|user:$COL|1|first_reminder|first_reminder|0|email:$new_id" \
    "$(psql_q "SELECT kind || '|' || (detail->>'actor') || '|' || stage || '|' || (detail->>'stage_name') || '|' ||
        (detail->>'template') || '|' || (detail->>'fee_minor') || '|' ||
        (SELECT string_agg((r->>'channel') || ':' || (r->>'event_id'), ' ') FROM jsonb_array_elements(detail->'reminders') r)
        FROM audit WHERE case_id = '$R1' AND kind = 'reminder_resent'")" "audited: reminder_resent, by the user"
assert_eq "$(head -1 <<<"$both" | cut -d, -f1)" \
    "$(psql_q "SELECT detail->'resent'->>0 FROM audit WHERE case_id = '$R1' AND kind = 'reminder_resent'")" \
    "the audit names the reminder it sent again"
assert_eq 120500 "$(case_field R1 'fee_minor + outstanding_minor')" "no second fee on the case"
assert_eq "reminder_delivered" "$(psql_q "SELECT kind FROM audit WHERE case_id = '$R1' AND detail->>'reminder_event_id' = '$new_id'")" \
    "the resent reminder's outcome recorded against the case"
assert_eq "action:resend $eid" \
    "$(psql_q "SELECT kind || ':' || (detail->>'action') || ' ' || (detail->>'event_id') FROM console_access_log WHERE login = '$COL' AND kind = 'action'")" \
    "the access log: who resent what"

# ---- the same command redelivered: applied once ----
consume case-commands | jq -c --arg e "$eid" 'select(.value.event_id == $e) | .value' >"$WORK/cmd.json"
assert_eq 1 "$(wc -l <"$WORK/cmd.json")" "the console's command on the topic"
assert_eq "resend user:$COL collector" "$(jq -r '"\(.command) \(.actor) \(.channel)"' "$WORK/cmd.json")" \
    "the command: resend, the user as actor"
publish case-commands <"$WORK/cmd.json"
# A later command of the same customer (same partition) shows the redelivery was handled.
publish case-commands <<<"$(command_json R1 cust-R1 callback)"
wait_eq 30 "the later command applied" 1 audit_count callback_requested
assert_eq 1 "$(audit_count reminder_resent)" "the redelivered command applied once"
assert_eq 2 "$(r1_reminders | wc -l)" "no third ReminderDue"
assert_eq 2 "$(mail_count_to R1@example.com)" "no third mail"

# ---- the engine's own refusals: dead letters with the reason ----
"$BIN/dunningctl" case resend R2 --tenant "$TENANT" --actor test 2>>"$WORK/dunningctl.log" || fail "dunningctl case resend"
"$BIN/dunningctl" case resend R3 --tenant "$TENANT" --actor test 2>>"$WORK/dunningctl.log" || fail "dunningctl case resend"
"$BIN/dunningctl" case resend R1 --tenant "$TENANT" --target-channel sms 2>>"$WORK/dunningctl.log" || fail "dunningctl case resend"
wait_eq 30 "three refusals dead-lettered" 3 eval 'consume dead-letter | jq -r --arg t "$TENANT" "select((.key // \"\") | startswith(\$t)) | .value.reason" | wc -l'
assert_eq "invalid_field field target_channel: sms is not one of the channels of stage first_reminder or of its last reminder
invalid_state cannot resend the last reminder of invoice R2: the case is resolved
invalid_state cannot resend the last reminder of invoice R3: no reminder was sent yet" \
    "$(consume dead-letter | jq -r --arg t "$TENANT" 'select((.key // "") | startswith($t)) | .value | "\(.error_code) \(.reason)"' | sort)" \
    "the engine's refusals, each with its reason"
assert_eq 1 "$(mail_count_to R2@example.com)" "never a reminder after the payment"
assert_eq 1 "$(audit_count reminder_resent)" "nothing refused was applied"
log "PASS"
