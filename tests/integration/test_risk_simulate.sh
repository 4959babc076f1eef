#!/usr/bin/env bash
# The risk simulator's smoke run (issue 21; docs/risk.md "The simulator"): 100 customers,
# 20 days of invoices and 10 more, through the real engine. Checks the run's shape: both
# tenants got the same invoices, the static one never switched track, every figure is
# there. The full run (10,000 customers, a year) is not part of the test suite.
source "$(dirname "$0")/lib.sh"
"$ROOT/scripts/simulate" --customers 100 --days 20 --tail 10 --seed 3 >"$WORK/figures.json" 2>"$WORK/simulate.log" ||
    fail "scripts/simulate failed: $(tail -3 "$WORK/simulate.log")"
f=$WORK/figures.json
assert_eq "100" "$(jq '[.types[]] | add' "$f")" "customers over the latent types"
assert_eq "true" "$(jq '.policies.static.invoices == .policies.adaptive.invoices and .policies.static.invoices > 0' "$f")" \
    "both tenants got the same invoices"
assert_eq "0" "$(jq '.policies.static.track_switches' "$f")" "the static tenant never switches track"
assert_eq "true" "$(jq '.policies.adaptive.collected > 0 and .policies.static.collected > 0 and
    (.effectiveness.static.first_reminder.sent > 0)' "$f")" "collected invoices and first reminders"
log PASS
