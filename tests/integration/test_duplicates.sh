#!/usr/bin/env bash
# Duplicates are normal traffic: the same event twice, the same invoice under a new
# event id, the same payment twice, the same reminder redelivered to the sender.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T00:00:00Z 0
start_service engine dunning-engine
start_service sender sender-email

eid=$(cat /proc/sys/kernel/random/uuid)
inv=$(invoice_json D cust-d 40000 2026-03-03 d@example.com "$eid")
{ echo "$inv"; echo "$inv"; } | publish invoice-issued                      # same event twice
invoice_json D cust-d 40000 2026-03-03 d@example.com | publish invoice-issued # same invoice, new event id
invoice_json D cust-d 45000 2026-03-03 d@example.com | publish invoice-issued # conflicting copy
pay=$(payment_json pay-d1 D cust-d 15000)
{ echo "$pay"; echo "$pay"; } | publish payment-received                    # same payment event twice
payment_json pay-d1 D cust-d 15000 | publish payment-received                 # same payment id, new event

fail_ev=$(failed_json ch-d1 D cust-d 25000 insufficient_funds | jq -c --arg id "$(cat /proc/sys/kernel/random/uuid)" '.event_id = $id')
{ echo "$fail_ev"; echo "$fail_ev"; } | publish payment-failed              # the same failed charge twice
cmd=$(command_json D cust-d pause promise_to_pay 2026-03-04 | jq -c --arg id "$(cat /proc/sys/kernel/random/uuid)" '.event_id = $id')
{ echo "$cmd"; echo "$cmd"; } | publish case-commands                       # the same command twice
wait_eq 30 "the conflicting copy dead-lettered" 1 eval 'dead_letters "$TENANT/cust-d" | wc -l'
wait_eq 20 "D paid once" "15000|25000" case_field D "paid_minor || '|' || outstanding_minor"
wait_eq 20 "the failed charge recorded once" 1 audit_count payment_failed
wait_eq 20 "the pause applied once" 1 audit_count paused
clock_set 2026-03-05T08:00:00Z # the pause ended 03-04; first reminder: due 03-03 + 2 days
wait_eq 20 "first reminder of D mailed" 1 mail_count_to d@example.com
assert_eq 1 "$(psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'")" "cases"
assert_eq 1 "$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'opened'")" "opened rows"
assert_eq "1 1 1" "$(audit_count payment_failed) $(audit_count paused) $(audit_count resumed)" \
    "failed charge, pause and resume recorded once each"
assert_eq "15000|25000" "$(case_field D "paid_minor || '|' || outstanding_minor")" "paid once"
assert_eq conflicting_duplicate \
    "$(dead_letters "$TENANT/cust-d" | jq -r .value.error_code)" "the conflicting copy"

# Redeliver the reminder to the sender: no second mail.
reminder=$(consume_tenant reminder-due.email | head -1)
assert_eq 25000 "$(jq -r .outstanding_minor <<<"$reminder")" "outstanding in the reminder"
{ echo "$reminder"; echo "$reminder"; } | publish reminder-due.email
wait_eq 20 "the redeliveries seen by the sender" 2 eval 'grep -c "reminder already handled, skipped" "$WORK/sender.log"'
assert_eq 1 "$(mail_count_to d@example.com)" "mails for D after the redelivery"
assert_eq 1 "$(psql_q "SELECT count(*) FROM deliveries WHERE tenant_id = '$TENANT' AND status = 'delivered'")" "deliveries"
log "PASS"
