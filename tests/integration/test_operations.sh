#!/usr/bin/env bash
# The operator's tools against a running engine: the aging report's buckets for cases
# placed at known ages, cases list with filters and paging, pause and resume for every
# case of a customer (timers and case events follow), timers stats, and a dead letter
# replayed after the cause was fixed.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-06-30T08:00:00Z 0
cp "$ROOT/tests/integration/policy.yaml" "$WORK/policy.yaml"
export DUNNING_POLICY_FILE=$WORK/policy.yaml
start_service engine dunning-engine
ctl() { "$BIN/dunningctl" "$@"; }

inv() { # ID CUSTOMER AMOUNT DUE [CURRENCY]
    invoice_json "$1" "$2" "$3" "$4" "$1@example.com" | with_policy far |
        jq -c --arg cur "${5:-EUR}" '.issue_date = "2026-01-01" | .currency = $cur'
}
{
    inv A0 cust-a 1000 2026-06-30 # due today: current
    inv A1 cust-b 2000 2026-06-15 # 15 days: 1-30
    inv A2 cust-m 3000 2026-05-15 # 46 days: 31-60
    inv A3 cust-m 4000 2026-04-15 # 76 days: 61-90
    inv A4 cust-c 5000 2026-01-15 # 166 days: 90+
    inv A5 cust-d 6000 2026-01-20 # 161 days: 90+
    inv U1 cust-u 7000 2026-06-01 USD # 29 days: 1-30
    inv R cust-r 8000 2026-03-01  # paid: not a receivable any more
    invoice_json LATE cust-l 900 2026-06-20 late@example.com | with_policy late_fix # no such policy (yet)
} | publish invoice-issued
wait_eq 30 "eight cases" 8 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'"
payment_json pay-r R cust-r 8000 | publish payment-received
wait_eq 20 "R resolved" resolved case_field R state

# Pause every open case of customer cust-m (A2, A3): their timers go, case events follow.
ctl pause --customer cust-m --tenant "$TENANT" --reason dispute 2>>"$WORK/dunningctl.log"
wait_eq 20 "A2 and A3 paused" "A2:paused A3:paused" eval 'cases_summary | tr " " "\n" | grep -E "^A[23]:" | tr "\n" " " | sed "s/ $//"'
assert_eq "" "$(timer_of "$(case_field A2 case_id)")" \
    "A2's timer removed while paused"

assert_eq "as_of,currency,bucket,count,amount_minor
2026-06-30,EUR,current,1,1000
2026-06-30,EUR,1-30,1,2000
2026-06-30,EUR,31-60,1,3000
2026-06-30,EUR,61-90,1,4000
2026-06-30,EUR,90+,2,11000
2026-06-30,USD,1-30,1,7000" "$(ctl aging --tenant "$TENANT" --as-of 2026-06-30 --csv)" "aging buckets"
assert_eq "open,0,5,71.4 paused,0,2,28.6" \
    "$(ctl aging --tenant "$TENANT" --as-of 2026-06-30 --json | jq -r '.stages[] | [.state, .stage, .count, .percent] | join(",")' | tr '\n' ' ' | sed 's/ $//')" \
    "share of each state and stage"
assert_eq "EUR,90+,2,11000" "$(ctl aging --tenant "$TENANT" --as-of 2026-06-30 --json | jq -r '.buckets[] | select(.bucket == "90+") | [.currency, .bucket, .count, .amount_minor] | join(",")')" \
    "aging as JSON"

assert_eq "A4 A5 A3" "$(ctl cases list --tenant "$TENANT" --overdue-more-than 60d --json | jq -r '[.cases[].invoice_id] | join(" ")')" \
    "cases overdue more than 60 days, oldest first"
assert_eq "A4 A5|2" "$(ctl cases list --tenant "$TENANT" --overdue-more-than 60d --limit 2 --json | jq -r '([.cases[].invoice_id] | join(" ")) + "|" + (.next_offset | tostring)')" \
    "first page of two"
assert_eq "A3|null" "$(ctl cases list --tenant "$TENANT" --overdue-more-than 60d --limit 2 --offset 2 --json | jq -r '([.cases[].invoice_id] | join(" ")) + "|" + (.next_offset | tostring)')" \
    "second page"
assert_eq "A2 A3" "$(ctl cases list --tenant "$TENANT" --status paused --json | jq -r '[.cases[].invoice_id] | sort | join(" ")')" \
    "paused cases"
# Output captured before grep: `grep -q` stops reading early, and under pipefail the
# writer's SIGPIPE would fail the test once the listing outgrows a pipe buffer.
table=$(ctl cases list --tenant "$TENANT")
grep -q "^$TENANT .*A4 .*cust-c .*open .*166d .*50.00 EUR" <<<"$table" || fail "the table shows A4"

ctl resume --customer cust-m --tenant "$TENANT" 2>>"$WORK/dunningctl.log"
wait_eq 20 "A2 and A3 resumed" "A2:open A3:open" eval 'cases_summary | tr " " "\n" | grep -E "^A[23]:" | tr "\n" " " | sed "s/ $//"'
a2_due=$(($(date -u -d "2026-05-15 + 400 days" +%s) * 1000)) # policy far: first stage 400 days after the due date
assert_eq "$a2_due" "$(psql_q "SELECT (extract(epoch from next_action_at) * 1000)::bigint FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = 'A2'")" \
    "A2's next stage after the resume"
assert_eq "$a2_due" "$(timer_of "$(case_field A2 case_id)")" "A2's timer back in Redis"
wait_eq 20 "outbox drained" 0 outbox_empty
assert_eq "paused paused resumed resumed" \
    "$(consume_tenant dunning-case-events | jq -r 'select(.invoice_id == "A2" or .invoice_id == "A3") | select(.event_type == "paused" or .event_type == "resumed") | .event_type' | tr '\n' ' ' | sed 's/ $//')" \
    "pause and resume case events (A2, A3)"

stats=$(ctl timers stats --json)
assert_eq "7|0|true" "$(jq -r '[.pending, .due, .index_built] | map(tostring) | join("|")' <<<"$stats")" "timers stats"

# The invoice naming an unknown policy was dead-lettered; add the policy, restart, replay.
late_dls() { ctl dlq list --code invalid_field --json | jq -c --arg t "$TENANT" '.[] | select(.reason | contains("late_fix") and contains($t))'; }
wait_eq 20 "LATE dead-lettered" 1 eval 'late_dls | wc -l'
dl_id=$(late_dls | jq -r .event_id)
dlq=$(ctl dlq list --code invalid_field)
grep -q "$dl_id .*invoice-issued.*invalid_field: field policy: 'late_fix' is not a policy" <<<"$dlq" ||
    fail "dlq list does not show the reason"
cat >>"$WORK/policy.yaml" <<'YAML'
      late_fix:
        stages:
          - {name: first_reminder, offset: 3d, channels: [email], template: first_reminder}
YAML
"$BIN/dunningctl" policy check "$WORK/policy.yaml" >/dev/null || fail "the fixed policy file does not validate"
stop_service engine
start_service engine dunning-engine
assert_eq "replayed $dl_id to invoice-issued" "$(ctl dlq replay --id "$dl_id" 2>/dev/null)" "replay"
wait_eq 30 "LATE opened after the replay, its first stage (06-23) sent" "overdue|late_fix|1" case_field LATE "state || '|' || policy || '|' || stage"
log "PASS"
