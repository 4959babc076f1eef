#!/usr/bin/env bash
# dunningctl risk fit (issue 21; docs/risk.md "The logistic model"): the tenant's history is
# made by hand in the tables the fit reads (cases with a known outcome and the inputs of
# their `opened` audit row), then:
#   A: 400 customers, paid within 30 days exactly when they have no bounced reminder and
#      fewer than 2 broken promises; the points table weighs bounces little and mixes in a
#      balance that says nothing here, the fit separates them: version 1 is active, beats the
#      points table on both figures, is audited with its actor; an invoice opened after is
#      scored by it ("logit v1" in the opened row and its case event, and a score the points
#      table would not give).
#   B: paid exactly when no promise was broken, nothing else varies: the points table ranks
#      them perfectly too, so the fit does not beat its AUC: stored as rejected, the tenant
#      keeps the points table.
#   Too little history and bad arguments: clear errors, exit 1 / 2, nothing stored.
source "$(dirname "$0")/lib.sh"
reset_state
A=$TENANT-a
B=$TENANT-b
psql_q "DELETE FROM risk_models WHERE tenant_id IN ('$A', '$B', '$TENANT')" >/dev/null

# history TENANT LABEL_SQL: 400 resolved or written-off cases due 2026-01-10, customers
# c1..c400 with inputs [invoices, on_time, late_x100, kept, broken, plans, bounces,
# disputes, open, usual] made from g; paid (resolved on 2026-01-20) when LABEL_SQL holds.
history() {
    psql_q "
    WITH g AS (SELECT g, (g % 4) + 1 AS inv, (g * 7) % 3 AS broken, (g / 3) % 3 AS bounces,
                      100 + (g * 37) % 900 AS open FROM generate_series(1, 400) g),
    c AS (SELECT g.*, gen_random_uuid() AS case_id, ($2) AS paid FROM g)
    , i AS (INSERT INTO invoices (tenant_id, invoice_id, customer_id, amount_minor, currency, issue_date, due_date,
                                  contact, source, issued_event_id, issued_at)
            SELECT '$1', 'I' || g, 'c' || g, 10000, 'EUR', '2026-01-01', '2026-01-10', '{}', '\\x00',
                   gen_random_uuid(), '2026-01-01' FROM c RETURNING 1)
    , k AS (INSERT INTO cases (case_id, tenant_id, invoice_id, customer_id, policy, state, resolved_reason,
                               amount_minor, outstanding_minor, currency, opened_at, updated_at)
            SELECT case_id, '$1', 'I' || g, 'c' || g, 'standard', CASE WHEN paid THEN 'resolved' ELSE 'written_off' END,
                   CASE WHEN paid THEN 'paid' END, 10000, CASE WHEN paid THEN 0 ELSE 10000 END, 'EUR',
                   '2026-01-01', '2026-01-20' FROM c RETURNING 1)
    INSERT INTO audit (tenant_id, customer_id, invoice_id, case_id, at, kind, detail)
    SELECT '$1', 'c' || g, 'I' || g, case_id, '2026-01-01'::timestamptz, 'opened',
           jsonb_build_object('risk_inputs', jsonb_build_array(inv, inv, 0, 0, broken, 0, bounces, 0, open * 100, 10000))
    FROM c UNION ALL
    SELECT '$1', 'c' || g, 'I' || g, case_id, '2026-01-20'::timestamptz, 'resolved', '{}'::jsonb FROM c WHERE paid" >/dev/null
}
history "$A" "bounces = 0 AND broken < 2"
history "$B" "broken = 0"
# B: everything but the broken promises the same.
psql_q "UPDATE audit SET detail = jsonb_set(jsonb_set(detail, '{risk_inputs,6}', '0'), '{risk_inputs,8}', '10000')
        WHERE tenant_id = '$B' AND kind = 'opened'" >/dev/null
psql_q "UPDATE audit SET detail = jsonb_set(jsonb_set(detail, '{risk_inputs,0}', '3'), '{risk_inputs,1}', '3')
        WHERE tenant_id = '$B' AND kind = 'opened'" >/dev/null

clock_start 2026-03-01T08:00:00Z 0
ctl() { "$BIN/dunningctl" "$@"; }

# Bad arguments and too little history.
set +e
ctl risk fit >/dev/null 2>&1; rc_usage=$?
ctl risk fit --tenant "$A" --holdout 0.9 >/dev/null 2>"$WORK/err1"; rc_holdout=$?
ctl risk fit --tenant "$TENANT" >/dev/null 2>"$WORK/err2"; rc_empty=$?
set -e
assert_eq "2 2 1" "$rc_usage $rc_holdout $rc_empty" "exit status of: no tenant, --holdout 0.9, no history"
assert_eq "dunningctl risk fit: --holdout takes a share 0.05..0.5" "$(cat "$WORK/err1")" "the --holdout error"
assert_eq "dunningctl risk fit: not enough history (need 20 cases to fit and some held out)" "$(cat "$WORK/err2")" \
    "the error without history"

ctl risk fit --tenant "$A" --holdout 0.25 --seed 7 --actor analyst >"$WORK/fit-a.txt" || fail "fit A failed"
ctl risk fit --tenant "$B" --seed 7 >"$WORK/fit-b.txt" || fail "fit B failed"
cat "$WORK/fit-a.txt" "$WORK/fit-b.txt"
assert_eq "$A|1|active|t|t
$B|1|rejected|f|t" "$(psql_q "SELECT tenant_id, version, status, auc > points_auc, train_cases + test_cases = 400
    FROM risk_models WHERE tenant_id IN ('$A', '$B') ORDER BY 1")" "the stored versions"
assert_eq "t|t" "$(psql_q "SELECT brier < points_brier, auc > 0.99 FROM risk_models WHERE tenant_id = '$A'")" \
    "A's fit: lower Brier score than the points table, near-perfect ranking"
assert_eq "1|1" "$(psql_q "SELECT auc, points_auc FROM risk_models WHERE tenant_id = '$B'")" \
    "B: both rank the held-out cases perfectly (a tie is no win)"
assert_eq "analyst active 1" "$(psql_q "SELECT detail->>'actor', detail->>'status', detail->>'version' FROM audit
    WHERE tenant_id = '$A' AND kind = 'risk_model_fitted'" | tr '|' ' ')" "the audit row of A's fit"
assert_eq "rejected" "$(ctl risk show --tenant "$B" --json | jq -r .status)" "risk show B"
assert_eq "2" "$(ctl risk list --json | jq --arg a "$A" --arg b "$B" '[.[] | select(.tenant_id == $a or .tenant_id == $b)] | length')" \
    "risk list"

# A second fit of A with the same seed: version 2, active, version 1 retired.
ctl risk fit --tenant "$A" --holdout 0.25 --seed 7 >/dev/null || fail "second fit of A failed"
assert_eq "1:retired 2:active" "$(psql_q "SELECT string_agg(version || ':' || status, ' ' ORDER BY version)
    FROM risk_models WHERE tenant_id = '$A'")" "A's versions after a second fit"
assert_eq "t" "$(psql_q "SELECT (SELECT array_to_string(coefficients, ',') FROM risk_models WHERE tenant_id = '$A'
    AND version = 1) = (SELECT array_to_string(coefficients, ',') FROM risk_models WHERE tenant_id = '$A' AND version = 2)")" \
    "the same seed gives the same coefficients"

# The engine scores A's new invoice with version 2 (a customer with 2 bounces and no
# history: the points table says -10 points: 35 + 5 x 25 / 15 = 43; the fit, which
# learnt that bounces mean no payment, far less), B's with the points table.
POLICY=$WORK/policy.yaml
cat >"$POLICY" <<YAML
tenants:
  default:
    default_policy: p
    policies:
      p:
        stages: [{name: first_reminder, offset: 2d, channels: [email], template: first_reminder}]
YAML
psql_q "INSERT INTO customer_behaviour (tenant_id, customer_id, bounces) VALUES ('$A', 'new', 2), ('$B', 'new', 2)
        ON CONFLICT (tenant_id, customer_id) DO UPDATE SET bounces = 2" >/dev/null
start_service engine dunning-engine DUNNING_POLICY_FILE="$POLICY"
for t in "$A" "$B"; do
    TENANT=$t invoice_json N1 new 5000 2026-03-10 new@example.com | publish invoice-issued
done
wait_eq 30 "both invoices opened" 2 psql_q "SELECT count(*) FROM cases WHERE tenant_id IN ('$A', '$B') AND invoice_id = 'N1'"
got=$(psql_q "SELECT tenant_id, detail->>'risk_model', (detail->>'risk_score')::int < 20, detail->'risk_inputs'
    FROM audit WHERE tenant_id IN ('$A', '$B') AND invoice_id = 'N1' AND kind = 'opened' ORDER BY 1")
assert_eq "$A|logit v2|t|[0, 0, 0, 0, 0, 0, 2, 0, 5000, 0]
$B|points|f|[0, 0, 0, 0, 0, 0, 2, 0, 5000, 0]" "$got" "the opened rows: model, score, inputs"
assert_eq "43|2 reminders bounced;no payment history yet" "$(psql_q "SELECT risk_score, array_to_string(risk_reasons, ';') FROM cases
    WHERE tenant_id = '$B' AND invoice_id = 'N1'")" "B's score and reasons (points table)"
# The case event of A's opened row carries the fitted model's reasons (the relay publishes
# the audit rows, the hand-made history's too).
wait_until 20 "A's opened case event" '[ -n "$(TENANT=$A consume_tenant dunning-case-events | jq -r "select(.invoice_id == \"N1\") | .risk_score")" ]'
assert_eq "2 reminders bounced" "$(TENANT=$A consume_tenant dunning-case-events | jq -r 'select(.invoice_id == "N1") | .risk_reasons[0]')" \
    "A's opened case event: the fitted model's first reason"
log PASS
