#!/usr/bin/env bash
# The portal's instalment plans (docs/portal.md) with the engine, policy `workflow` (at most
# 4 instalments, interval 31d, plan fee 3.00, first at least 10.00, auto-approval up to 3):
#   - the page offers 2, 3 and 4 instalments for P1 (900.00): every 31 days from today, the
#     cost split equally, the remainder on the first; 4 needs a collector;
#   - a 3-instalment plan from the page is agreed by the engine (on_plan, audit plan_agreed
#     with actor portal, the plan's rows exactly the offer), and the page then shows it;
#   - a 4-instalment plan for P2 (120.01) is recorded as a request (plan_requested, plans
#     row pending) and the page says it waits; a count the policy refuses is a 422 with
#     the engine's reason; no plan is offered for a case the policy gives none;
#   - the pay button goes to the invoice's payment_link, else to the tenant's payment_url
#     with the amount, currency and reference filled in.
source "$(dirname "$0")/lib.sh"
reset_state
"$BIN/dunningctl" migrate >/dev/null
clock_start 2026-03-02T08:00:00Z 0
KEYS="k1:$(printf 'portal-plan-test-key-0123456789abc' | base64)"
start_service engine dunning-engine
start_service portal dunning-portal DUNNING_PORTAL_ADDR=127.0.0.1:0 DUNNING_PORTAL_ADDR_FILE="$WORK/portal.addr" \
    DUNNING_PORTAL_KEYS="$KEYS" DUNNING_PORTAL_RATE_ADDRESS=10000
wait_until 20 "the portal's address file" '[ -s "$WORK/portal.addr" ]'
P=http://$(cat "$WORK/portal.addr")
{
    invoice_json P1 cust-p 90000 2026-03-03 p@example.com | with_policy workflow
    invoice_json P2 cust-p 12001 2026-03-04 p@example.com | with_policy workflow
    invoice_json P3 cust-p 5000 2026-03-05 p@example.com | jq -c '.payment_link = "https://billing.example.com/pay/P3"'
} | publish invoice-issued
wait_eq 30 "three cases" 3 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'"
L=$(DUNNING_PORTAL_URL=$P DUNNING_PORTAL_KEYS=$KEYS "$BIN/dunningctl" portal link --tenant "$TENANT" --customer cust-p)
T=${L##*/p/}
overview() { curl -s "$P/api/p/$T"; }
post() { curl -s -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' -H "X-Form-Token: $1" --data "$3" "$P/api/p/$T$2"; }

O=$(overview)
assert_eq "2:true:90300:45150,45150:2026-04-02,2026-05-03 3:true:90300:30100,30100,30100:2026-04-02,2026-05-03,2026-06-03 4:false:90300:22575,22575,22575,22575:2026-04-02,2026-05-03,2026-06-03,2026-07-04" \
    "$(jq -r '[.invoices[] | select(.invoice_id == "P1") | .plans[] | "\(.count):\(.auto_approved):\(.total_minor):\([.instalments[].amount_minor] | map(tostring) | join(",")):\([.instalments[].due_date] | join(","))"] | join(" ")' <<<"$O")" \
    "P1's offers"
assert_eq "3076,3075,3075,3075" \
    "$(jq -r '.invoices[] | select(.invoice_id == "P2") | .plans[] | select(.count == 4) | [.instalments[].amount_minor] | map(tostring) | join(",")' <<<"$O")" \
    "P2's 4 instalments: the remainder on the first"
assert_eq 0 "$(jq '.invoices[] | select(.invoice_id == "P3") | .plans | length' <<<"$O")" "no plans where the policy offers none"
# The pay button: the tenant's payment_url (policy file) where the billing system sent no link.
assert_eq "P1 https://pay.example.com/checkout?ref=N-P1&amount=900.00&currency=EUR P2 https://pay.example.com/checkout?ref=N-P2&amount=120.01&currency=EUR P3 https://billing.example.com/pay/P3" \
    "$(jq -r '[.invoices[] | .invoice_id + " " + .pay_url] | join(" ")' <<<"$O")" "the pay targets"

R=$(post "$(jq -r .form_token <<<"$O")" /plan '{"invoice_id":"P1","count":5}')
assert_eq "422 This plan is not available for this invoice: field instalments: 5 instalments, the policy allows 4 (plan.max_instalments)." \
    "$(tail -1 <<<"$R") $(sed '$d' <<<"$R" | jq -r .error)" "5 instalments"
R=$(post "$(overview | jq -r .form_token)" /plan '{"invoice_id":"P3","count":2}')
assert_eq 422 "$(tail -1 <<<"$R")" "a plan where the policy offers none"
R=$(post "$(overview | jq -r .form_token)" /plan '{"invoice_id":"P1","count":"x"}')
assert_eq 400 "$(tail -1 <<<"$R")" "a count that is not a number"

R=$(post "$(overview | jq -r .form_token)" /plan '{"invoice_id":"P1","count":3}')
assert_eq 202 "$(tail -1 <<<"$R")" "the 3-instalment plan"
CMD=$(sed '$d' <<<"$R" | jq -r .command_id)
wait_eq 30 "P1 on its plan" on_plan case_field P1 state
assert_eq "plan_agreed portal" "$(psql_q "SELECT kind || ' ' || (detail->>'actor') FROM audit WHERE tenant_id = '$TENANT' AND caused_by = '$CMD'")" \
    "the engine's answer, audited with actor portal"
assert_eq "active|90300|portal|portal|1:2026-04-02:30100 2:2026-05-03:30100 3:2026-06-03:30100" \
    "$(psql_q "SELECT p.state || '|' || p.total_minor || '|' || p.channel || '|' || p.actor || '|' || (SELECT string_agg(number || ':' || due_date || ':' || amount_minor, ' ' ORDER BY number) FROM plan_instalments i WHERE i.plan_id = p.plan_id) FROM plans p WHERE p.tenant_id = '$TENANT' AND p.invoice_id = 'P1'")" \
    "the plan the engine made of it"
wait_eq 20 "the answer" "answered plan_agreed" eval "curl -s '$P/api/p/$T/answers/$CMD' | jq -r '.status + \" \" + ([.answers[].kind] | join(\",\"))'"

R=$(post "$(overview | jq -r .form_token)" /plan '{"invoice_id":"P2","count":4}')
assert_eq 202 "$(tail -1 <<<"$R")" "the 4-instalment request"
wait_eq 30 "P2's request recorded" 1 psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'P2' AND kind = 'plan_requested'"
O=$(overview)
assert_eq "P1:on_plan:active:3:0 P2:open:pending:4:3 P3:open::0:0" \
    "$(jq -r '[.invoices[] | "\(.invoice_id):\(.state):\(.plan.state // ""):\(.plan.instalments // [] | length):\(.plans | length)"] | join(" ")' <<<"$O")" \
    "the page shows the plan and the request"
log "PASS"
