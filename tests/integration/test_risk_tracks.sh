#!/usr/bin/env bash
# Risk scores and policy tracks (issue 21; docs/risk.md, docs/policies.md "Policy tracks"),
# under the simulated clock. The tenant maps scores of 70 and more to `gentle` (a later first
# reminder) and of 29 and less to `strict` (earlier stages, SMS and letter); in between its
# cases follow `standard` (stages at due+3d, +10d, +20d, +30d).
#   G1-G3 (cust-g) are paid before their due date: three invoices on time. G4, opened after,
#      scores 85 and opens on the gentle track: its first reminder at due+7d, none at due+3d.
#   B1 (cust-b) breaks two promises to pay: after the second its next stage fires at once,
#      the score falls to 26 and the case moves to strict (track_changed): its last stage is
#      strict's final notice by letter, at strict's time.
#   B2 (cust-b), opened after, is on strict from the start: SMS at due+1d, SMS and letter with
#      a 5.00 fee at due+4d.
#   L1, L2 (cust-l) are paid 3 and 11 days late: the days late fold, recent weighted more
#      (3.00, then (3.00 + 11.00) / 2 = 7.00 days: late_days_x100 700).
#   D1 (cust-d) is paused for a dispute: one dispute counted, the case scored again at once.
# Asserted exactly: the reminders (stage, channel, amounts), the track_changed rows with
# score, reasons, from and to, the score on the cases, in the case events and in ReminderDue.
source "$(dirname "$0")/lib.sh"
reset_state
psql_q "DELETE FROM customer_behaviour WHERE tenant_id = '$TENANT'" >/dev/null

POLICY=$WORK/policy.yaml
cat >"$POLICY" <<YAML
tenants:
  default:
    default_policy: p
    policies:
      p:
        stages: [{name: first_reminder, offset: 2d, channels: [email], template: first_reminder}]
  $TENANT:
    default_policy: standard
    tracks:
      - {min: 70, policy: gentle}
      - {max: 29, policy: strict}
    policies:
      standard:
        promise: {grace: 1d, max_days: 20, max_per_case: 3}
        stages:
          - {name: first_reminder, offset: 3d, channels: [email], template: first_reminder}
          - {name: second_reminder, offset: 10d, channels: [email], template: second_reminder}
          - {name: third_reminder, offset: 20d, channels: [email], template: second_reminder}
          - {name: final_notice, offset: 30d, channels: [email], template: final_notice, action: final_notice}
      gentle:
        stages:
          - {name: gentle_reminder, offset: 7d, channels: [email], template: first_reminder}
          - {name: second_reminder, offset: 21d, channels: [email], template: second_reminder}
      strict:
        promise: {grace: 1d, max_days: 20, max_per_case: 3}
        stages:
          - {name: early_reminder, offset: 1d, channels: [sms], template: first_reminder}
          - {name: second_reminder, offset: 4d, channels: [sms, letter], template: second_reminder,
             fee: {fixed: {EUR: 500}}}
          - {name: third_reminder, offset: 8d, channels: [sms], template: second_reminder}
          - {name: final_notice, offset: 12d, channels: [letter], template: final_notice, action: final_notice}
YAML

clock_start 2026-03-01T08:00:00Z 0
start_service engine dunning-engine DUNNING_POLICY_FILE="$POLICY"

{
    for i in 1 2 3; do invoice_json "G$i" cust-g 20000 2026-03-05 g@example.com; done
    invoice_json B1 cust-b 30000 2026-03-05 b@example.com | reachable_everywhere
    invoice_json L1 cust-l 10000 2026-03-05 l@example.com
    invoice_json L2 cust-l 30000 2026-03-05 l@example.com
    invoice_json D1 cust-d 10000 2026-03-05 d@example.com
} | publish invoice-issued
wait_eq 30 "seven open cases" "B1:open D1:open G1:open G2:open G3:open L1:open L2:open" cases_summary
command_json D1 cust-d pause dispute | publish case-commands
wait_eq 20 "D1 paused" paused case_field D1 state
assert_eq "47|disputed 1 invoice;no payment history yet|1" \
    "$(psql_q "SELECT c.risk_score || '|' || array_to_string(c.risk_reasons, ';') || '|' || b.disputes FROM cases c JOIN customer_behaviour b USING (tenant_id, customer_id) WHERE c.tenant_id = '$TENANT' AND c.invoice_id = 'D1'")" \
    "D1 disputed: counted and scored again (-8 points: 47)"
for i in 1 2 3; do payment_json "pay-g$i" "G$i" cust-g 20000; done | publish payment-received
wait_eq 30 "G1-G3 paid on time" "B1:open D1:paused G1:resolved G2:resolved G3:resolved L1:open L2:open" cases_summary
assert_eq "cust-g|3|3|0|60000" \
    "$(psql_q "SELECT customer_id || '|' || invoices || '|' || paid_on_time || '|' || late_days_x100 || '|' || paid_amount_minor FROM customer_behaviour WHERE tenant_id = '$TENANT' AND customer_id = 'cust-g'")" \
    "the behaviour of cust-g: three invoices, all on time"
assert_eq "60|no payment history yet|" "$(case_field B1 "risk_score || '|' || array_to_string(risk_reasons, ';') || '|' || coalesce(risk_track, '')")" \
    "B1 opened without history: the neutral score, no track"

step 2026-03-08T08:00:00Z # due+3: B1's first reminder (standard)
payment_json pay-l1 L1 cust-l 10000 | publish payment-received # 3 days late (03-08)
wait_eq 20 "L1 paid late" resolved case_field L1 state
promise_json B1 cust-b 30000 2026-03-10 | publish case-commands
wait_eq 20 "B1 promised" promised case_field B1 state
step 2026-03-12T08:00:00Z # the day after 03-10 + 1d: broken, the next stage at once
assert_eq "40|standard|" "$(case_field B1 "risk_score || '|' || policy || '|' || coalesce(risk_track, '')")" \
    "B1 after one broken promise: 40, still standard"
promise_json B1 cust-b 30000 2026-03-14 | publish case-commands
wait_eq 20 "B1 promised again" promised case_field B1 state
step 2026-03-16T08:00:00Z # broken again: the third stage at once, then strict
payment_json pay-l2 L2 cust-l 30000 | publish payment-received # 11 days late (03-16)
wait_eq 20 "L2 paid late" resolved case_field L2 state

{
    invoice_json G4 cust-g 20000 2026-03-20 g@example.com
    invoice_json B2 cust-b 30000 2026-03-20 b@example.com | reachable_everywhere
} | publish invoice-issued
wait_eq 30 "G4 and B2 open" "B1:overdue B2:open D1:paused G1:resolved G2:resolved G3:resolved G4:open L1:resolved L2:resolved" cases_summary
step 2026-03-17T08:00:00Z # B1: strict's final notice (due+12d), already due
step 2026-03-21T08:00:00Z # B2: strict's early reminder (due+1d)
step 2026-03-23T08:00:00Z # G4: nothing at standard's due+3d
step 2026-03-24T08:00:00Z # B2: strict's second reminder (due+4d)
step 2026-03-27T08:00:00Z # G4: gentle's first reminder (due+7d)

assert_eq "B1,1,first_reminder,email,first_reminder,30000,0,0,30000
B1,2,second_reminder,email,second_reminder,30000,0,0,30000
B1,3,third_reminder,email,second_reminder,30000,0,0,30000
B1,4,final_notice,letter,final_notice,30000,0,0,30000
B2,1,early_reminder,sms,first_reminder,30000,0,0,30000
B2,2,second_reminder,letter,second_reminder,30000,500,0,30500
B2,2,second_reminder,sms,second_reminder,30000,500,0,30500
G4,1,gentle_reminder,email,first_reminder,20000,0,0,20000" "$(reminders | grep -E '^(B1|B2|G4),')" \
    "reminders of B1, B2 and G4 (stage, channel, amounts): gentle later, strict earlier by SMS and letter"
assert_eq "" "$(reminders | grep '^G[123],' || true)" "no reminder for G1-G3 (paid before their due date)"

# The cases: the policy they opened with, the track they follow, the score and its reasons.
assert_eq "B1|final_notice|4|standard|strict|26|broke 2 promises to pay;no payment history yet
B2|overdue|2|standard|strict|26|broke 2 promises to pay;no payment history yet
G4|overdue|1|standard|gentle|85|paid 3 of 3 invoices on time;pays on the due date on recent invoices" \
    "$(psql_q "SELECT invoice_id || '|' || state || '|' || stage || '|' || policy || '|' || coalesce(risk_track, '') || '|' || risk_score || '|' || array_to_string(risk_reasons, ';') FROM cases WHERE tenant_id = '$TENANT' AND invoice_id IN ('B1', 'B2', 'G4') ORDER BY invoice_id")" \
    "the cases' policy, track and score"

# The switches, audited with the score, the reasons, from and to.
assert_eq 'B1|overdue|3|standard|strict|26|["broke 2 promises to pay", "no payment history yet"]
B2|open|0|standard|strict|26|["broke 2 promises to pay", "no payment history yet"]
G4|open|0|standard|gentle|85|["paid 3 of 3 invoices on time", "pays on the due date on recent invoices"]' \
    "$(psql_q "SELECT invoice_id || '|' || to_state || '|' || stage || '|' || (detail->>'from_policy') || '|' || (detail->>'to_policy') || '|' || (detail->>'risk_score') || '|' || (detail->'risk_reasons')::text FROM audit WHERE tenant_id = '$TENANT' AND kind = 'track_changed' ORDER BY invoice_id")" \
    "track_changed rows (score, reasons, from, to)"
assert_eq "opened reminder_emitted promise_made promise_broken reminder_emitted promise_made promise_broken reminder_emitted track_changed reminder_emitted final_notice" \
    "$(audit_trail B1)" "audit trail of B1"
assert_eq "opened track_changed reminder_emitted reminder_emitted" "$(audit_trail B2)" "audit trail of B2"
assert_eq "opened track_changed reminder_emitted" "$(audit_trail G4)" "audit trail of G4"

# Published: the score and reasons in the case events that carry them, and in ReminderDue.
assert_eq '["B1","opened",60,["no payment history yet"]]
["B1","reminder_emitted",26,["broke 2 promises to pay","no payment history yet"]]
["B1","reminder_emitted",26,["broke 2 promises to pay","no payment history yet"]]
["B1","reminder_emitted",40,["broke 1 promise to pay","no payment history yet"]]
["B1","reminder_emitted",60,["no payment history yet"]]
["B1","track_changed",26,["broke 2 promises to pay","no payment history yet"]]
["B2","opened",26,["broke 2 promises to pay","no payment history yet"]]
["B2","reminder_emitted",26,["broke 2 promises to pay","no payment history yet"]]
["B2","reminder_emitted",26,["broke 2 promises to pay","no payment history yet"]]
["B2","track_changed",26,["broke 2 promises to pay","no payment history yet"]]
["G4","opened",85,["paid 3 of 3 invoices on time","pays on the due date on recent invoices"]]
["G4","reminder_emitted",85,["paid 3 of 3 invoices on time","pays on the due date on recent invoices"]]
["G4","track_changed",85,["paid 3 of 3 invoices on time","pays on the due date on recent invoices"]]' \
    "$(consume_tenant dunning-case-events | jq -c 'select(.risk_score != null and (.invoice_id | test("^(B|G4)"))) | [.invoice_id, .event_type, .risk_score, .risk_reasons]' | sort)" \
    "case events with the score (B1, B2, G4)"
assert_eq "0" "$(consume_tenant dunning-case-events | jq -c 'select(.event_type == "promise_broken" and .risk_score != null)' | wc -l)" \
    "events that do not carry the score have none"
assert_eq '["B1",1,"email","standard",60,["no payment history yet"]]
["B1",2,"email","standard",40,["broke 1 promise to pay","no payment history yet"]]
["B1",3,"email","standard",26,["broke 2 promises to pay","no payment history yet"]]
["B1",4,"letter","strict",26,["broke 2 promises to pay","no payment history yet"]]
["B2",1,"sms","strict",26,["broke 2 promises to pay","no payment history yet"]]
["B2",2,"letter","strict",26,["broke 2 promises to pay","no payment history yet"]]
["B2",2,"sms","strict",26,["broke 2 promises to pay","no payment history yet"]]
["G4",1,"email","gentle",85,["paid 3 of 3 invoices on time","pays on the due date on recent invoices"]]' \
    "$(for t in reminder-due.email reminder-due.sms reminder-due.letter; do consume_tenant "$t"; done | jq -c 'select(.invoice_id | test("^(B|G4)")) | [.invoice_id, .stage, .channel, .policy, .risk_score, .risk_reasons]' | sort)" \
    "ReminderDue: policy, score and reasons"
assert_eq "cust-b|0|0|0|0|2 cust-d|0|0|0|0|0 cust-g|3|3|0|60000|0 cust-l|2|0|700|40000|0" \
    "$(psql_q "SELECT string_agg(customer_id || '|' || invoices || '|' || paid_on_time || '|' || late_days_x100 || '|' || paid_amount_minor || '|' || promises_broken, ' ' ORDER BY customer_id) FROM customer_behaviour WHERE tenant_id = '$TENANT'")" \
    "the customers' behaviour"
log "PASS"
