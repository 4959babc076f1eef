#!/usr/bin/env bash
# A dispute pauses dunning until an end date; the case resumes by itself on that day and
# the stage that fell due during the pause is sent then, once. Commands that make no
# sense for the case are dead letters with the reason.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine

invoice_json D cust-d 30000 2026-03-03 d@example.com | publish invoice-issued # two_step: 03-05, 03-08
wait_eq 30 "case open" "D:open" cases_summary
step 2026-03-05T08:00:00Z
command_json D cust-d pause dispute 2026-03-12 | publish case-commands
wait_eq 20 "D paused" "paused|overdue|dispute|2026-03-12" case_field D "state || '|' || paused_from || '|' || pause_reason || '|' || paused_until"
command_json D cust-d pause vacation | publish case-commands  # not a pause reason
command_json D cust-d credit | publish case-commands          # a credit without an amount
step 2026-03-09T08:00:00Z # the second stage was due 03-08: held back
assert_eq 1 "$(audit_count reminder_emitted)" "reminders during the pause"
step 2026-03-12T08:00:00Z # the pause ends: resumes, sends the stage that fell due
assert_eq "overdue|2|" "$(case_field D "state || '|' || stage || '|' || coalesce(paused_from, '')")" "D resumed"
command_json D cust-d resume | publish case-commands         # not paused any more
wait_eq 20 "three dead letters" 3 eval 'dead_letters "$TENANT/cust-d" | wc -l'

assert_eq "opened reminder_emitted paused resumed reminder_emitted" "$(audit_trail D)" "audit trail of D"
assert_eq "D,1,first_reminder,email,first_reminder,30000,0,0,30000
D,2,second_reminder,email,second_reminder,30000,0,0,30000" "$(reminders)" "reminders of D"
assert_eq "invalid_field field amount_minor: a credit needs a positive amount
invalid_field field reason: a pause needs dispute, promise_to_pay or manual_hold
invalid_state case of invoice D is overdue, not paused" \
    "$(dead_letters "$TENANT/cust-d" | jq -r '.value | .error_code + " " + .reason' | sort)" "dead letters"
# Manual pause without an end date, then write-off: no timer, terminal.
command_json D cust-d pause manual_hold | publish case-commands
wait_eq 20 "D paused again" "paused|" case_field D "state || '|' || coalesce(next_action_at::text, '')"
command_json D cust-d write_off "uncollectable" | publish case-commands
wait_eq 20 "D written off" "written_off|" case_field D "state || '|' || coalesce(next_action_at::text, '')"
log "PASS"
