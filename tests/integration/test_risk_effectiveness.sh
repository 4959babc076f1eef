#!/usr/bin/env bash
# dunningctl report effectiveness (issue 21; docs/risk.md "Effectiveness") on hand-made
# cases through the engine, under the simulated clock (frozen; each step moves it). Four
# invoices due 2026-03-05; the first reminder (email) at 03-08 08:00, the second at 03-15:
#   E1 10000: paid in full 03-10 (2 days after the first reminder)
#   E2 20000: 5000 on 03-12, the rest 03-25 (17 days after the first, 10 after the second)
#   E3 30000: never pays; its second reminder is delivered
#   E4 40000: paid 03-09 (1 day after the first); its first reminder is delivered, as E1's
# Expected, first_reminder: sent 4, delivered 2, paid within 7 days 2 (E1, E4), within 14
# days 2, median days to pay of E1 2, E2 17, E4 1 = 2.0, recovered 100 + 50 + 0 + 400 =
# 550.00 (E2's second payment belongs to the second reminder).
# second_reminder: sent 2, delivered 1, paid within 7 days 0, within 14 days 1 (E2),
# median 10.0, recovered 150.00.
source "$(dirname "$0")/lib.sh"
reset_state

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
    policies:
      standard:
        stages:
          - {name: first_reminder, offset: 3d, channels: [email], template: first_reminder}
          - {name: second_reminder, offset: 10d, channels: [email], template: second_reminder}
YAML
clock_start 2026-03-01T08:00:00Z 0
start_service engine dunning-engine DUNNING_POLICY_FILE="$POLICY"
{
    invoice_json E1 c1 10000 2026-03-05 e1@example.com
    invoice_json E2 c2 20000 2026-03-05 e2@example.com
    invoice_json E3 c3 30000 2026-03-05 e3@example.com
    invoice_json E4 c4 40000 2026-03-05 e4@example.com
} | publish invoice-issued
wait_eq 30 "four open cases" "E1:open E2:open E3:open E4:open" cases_summary

# delivered INVOICE STAGE: the ReminderOutcome "delivered" of the case's reminder of STAGE.
delivered() {
    consume_tenant reminder-due.email | jq -c --arg i "$1" --argjson s "$2" --arg e "$(cat /proc/sys/kernel/random/uuid)" \
        'select(.invoice_id == $i and .stage == $s) | {event_id: $e, tenant_id, customer_id, reminder_event_id: .event_id,
          case_id, invoice_id, channel: "email", outcome: "delivered", attempt: 1}' | publish reminder-outcomes
}
pay() { payment_json "pay-$1-$3" "$1" "$2" "$3" | publish payment-received; }

step 2026-03-08T08:00:00Z
delivered E1 1
delivered E4 1
clock_set 2026-03-09T08:00:00Z
pay E4 c4 40000
wait_eq 20 "E4 paid" resolved case_field E4 state
clock_set 2026-03-10T08:00:00Z
pay E1 c1 10000
wait_eq 20 "E1 paid" resolved case_field E1 state
clock_set 2026-03-12T08:00:00Z
pay E2 c2 5000
wait_eq 20 "E2 part-paid" 15000 case_field E2 outstanding_minor
step 2026-03-15T08:00:00Z
delivered E3 2
clock_set 2026-03-25T08:00:00Z
pay E2 c2 15000
wait_eq 20 "E2 paid" resolved case_field E2 state
wait_eq 20 "the deliveries recorded" 3 audit_count reminder_delivered

report() { "$BIN/dunningctl" report effectiveness --tenant "$TENANT" "$@"; }
assert_eq "tenant_id,policy,stage,stage_name,channel,template,variant,currency,sent,delivered,paid_7d,paid_14d,median_days_to_pay,recovered_minor
$TENANT,standard,1,first_reminder,email,first_reminder,,EUR,4,2,2,2,2.0,55000
$TENANT,standard,2,second_reminder,email,second_reminder,,EUR,2,1,0,1,10.0,15000" "$(report --csv)" \
    "the effectiveness report (CSV)"
assert_eq "$TENANT,standard,2,second_reminder,email,second_reminder,,EUR,2,1,0,1,10.0,15000" \
    "$(report --from 2026-03-15 --to 2026-03-15 --csv | tail -n +2)" "only the reminders sent on 03-15"
assert_eq "" "$(report --from 2026-03-16 --csv | tail -n +2)" "none sent after 03-15"
assert_eq "550.00 EUR" "$(report | awk 'NR == 2 {print $(NF - 1), $NF}')" "the table's amount recovered"
set +e
report --from 2026-13-01 >/dev/null 2>"$WORK/err"; rc=$?
set -e
assert_eq "2|dunningctl report effectiveness: --from takes a date YYYY-MM-DD" "$rc|$(cat "$WORK/err")" "a bad date"
log PASS
