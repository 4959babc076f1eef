#!/usr/bin/env bash
# Partial payments: each is allocated to fees, then interest, then principal; later
# interest and percentage fees are computed on the lower principal; the last payment
# settles the case exactly.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-01T08:00:00Z 0
start_service engine dunning-engine

invoice_json P cust-p 100000 2026-03-10 p@example.com | with_policy four_stage | publish invoice-issued
wait_eq 30 "case open" "P:open" cases_summary
step 2026-03-08T08:00:00Z
step 2026-03-12T08:00:00Z
step 2026-03-17T08:00:00Z # second reminder: fee 500
clock_set 2026-03-20T08:00:00Z
# 10 days of interest on 100000: 219.18 -> 219. 60000 pays the fee 500, the interest 219
# and 59281 of the principal, leaving 40719.
payment_json pay-p1 P cust-p 60000 | publish payment-received
wait_eq 20 "first payment applied" "overdue|40719|0|0" case_field P "state || '|' || outstanding_minor || '|' || fee_minor || '|' || interest_minor"
step 2026-03-24T08:00:00Z # final notice
# Interest 03-21..03-24 on 40719: 4 x 8.924712 = 35.70; accrued in all 254.876928 -> 255,
# 219 of it paid: 36 owed. Fee 1000 + 1 % of 40719 (407.19 -> 407) = 1407.
assert_eq "P,4,final_notice,email,final_notice,40719,1407,36,42162" \
    "$(reminders | grep '^P,4,')" "final notice after the partial payment"
clock_set 2026-03-24T12:00:00Z
payment_json pay-p2 P cust-p 42162 | publish payment-received
wait_eq 20 "P resolved" "resolved|paid|0|0|0" case_field P "state || '|' || resolved_reason || '|' || outstanding_minor || '|' || fee_minor || '|' || interest_minor"
assert_eq "102162|1907|255" "$(case_field P "paid_minor || '|' || fees_charged_minor || '|' || interest_paid_minor")" \
    "paid in all: 100000 principal + 1907 fees + 255 interest"
assert_eq "opened reminder_emitted reminder_emitted reminder_emitted payment_applied reminder_emitted final_notice payment_applied resolved" \
    "$(audit_trail P)" "audit trail of P"
log "PASS"
