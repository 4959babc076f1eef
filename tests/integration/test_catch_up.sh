#!/usr/bin/env bash
# The engine was stopped while several stages fell due. catch_up: latest (two_step)
# sends only the stage that applies now and records the skipped one; catch_up: each
# (catch_each) sends every stage, one a day, never a burst.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
start_service engine dunning-engine

{
    invoice_json L cust-l 1000 2026-03-02 l@example.com                        # stages 03-04, 03-07
    invoice_json E cust-e 1000 2026-03-02 e@example.com | with_policy catch_each # 03-04, 03-06, 03-08
} | publish invoice-issued
wait_eq 30 "cases open" "E:open L:open" cases_summary
stop_service engine
clock_set 2026-03-10T08:00:00Z # a week later, every stage is due
start_service engine dunning-engine
wait_eq 30 "L caught up" "overdue|2" case_field L "state || '|' || stage"
wait_eq 20 "E sent its first stage" "overdue|1" case_field E "state || '|' || stage"
wait_eq 20 "outbox drained" 0 outbox_empty
assert_eq "2026-03-11 08:00:00+00" "$(case_field E next_action_at)" "E's next stage a day later"
step 2026-03-11T08:00:00Z
step 2026-03-12T08:00:00Z

assert_eq "E,1,first_reminder,email,first_reminder,1000,0,0,1000
E,2,second_reminder,email,second_reminder,1000,0,0,1000
E,3,final_notice,email,final_notice,1000,0,0,1000
L,2,second_reminder,email,second_reminder,1000,0,0,1000" "$(reminders)" "reminders"
assert_eq "opened stage_skipped reminder_emitted" "$(audit_trail L)" "audit trail of L"
assert_eq "opened reminder_emitted reminder_emitted reminder_emitted final_notice" "$(audit_trail E)" "audit trail of E"
log "PASS"
