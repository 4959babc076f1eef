#!/usr/bin/env bash
# Template variants and the holdout (issue 21; docs/risk.md "Variants and the holdout").
# 1,000 invoices of 500 customers (two each), all past the first stage's time when they
# open, so each case fires its first stage at once:
#   - the stage has variants {a: 50, b: 50}: each case's variant comes from a stable hash
#     of the case and the stage; the split is 50 +- 5%; the ReminderDue's template_key is
#     "first_reminder--a" or "--b" and the reminder_emitted row names the variant, the
#     template and the policy (the ReminderDue of each case carries the same template).
#   - risk.holdout 0.2 with a track that takes every score (0-100 -> adaptive): the held-out
#     customers' cases keep their policy (no track_changed) and their rows say
#     risk_holdout; the others switch. 20 +- 4% of the customers, and both cases of a
#     customer are on the same side.
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
    default_policy: static
    tracks: [{min: 0, max: 100, policy: adaptive}]
    risk: {holdout: 0.2}
    policies:
      static:
        stages:
          - {name: first_reminder, offset: 3d, channels: [email], template: first_reminder,
             variants: {a: 50, b: 50}}
      adaptive:
        stages:
          - {name: first_reminder, offset: 3d, channels: [email], template: first_reminder,
             variants: {a: 50, b: 50}}
YAML
"$BIN/dunningctl" policy check "$POLICY" >/dev/null || fail "the policy does not validate"

clock_start 2026-03-10T08:00:00Z 0
start_service engine dunning-engine DUNNING_POLICY_FILE="$POLICY"
jq -cn --arg t "$TENANT" 'range(1000) | {event_id: ("00000000-0000-4000-8000-" + ("000000000000" + tostring)[-12:]),
    tenant_id: $t, customer_id: ("c" + (. % 500 | tostring)), invoice_id: ("I" + tostring),
    invoice_number: ("N-" + tostring), amount_minor: 10000, currency: "EUR", issue_date: "2026-02-20",
    due_date: "2026-03-05", contact: {name: "Customer", email: "x@example.com", locale: "en"}}' |
    publish invoice-issued
wait_eq 90 "1,000 first reminders" 1000 audit_count reminder_emitted

split=$(psql_q "SELECT detail->>'variant', count(*) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'reminder_emitted'
    GROUP BY 1 ORDER BY 1" | tr '\n' ' ')
log "variants: $split"
a=$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'reminder_emitted' AND detail->>'variant' = 'a'")
b=$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'reminder_emitted' AND detail->>'variant' = 'b'")
assert_eq 1000 "$((a + b))" "every reminder has variant a or b"
[ "$a" -ge 450 ] && [ "$a" -le 550 ] || fail "variant a has $a of 1000 cases, not 50 +- 5%"
log "ok: variant a on $a of 1000 cases (50 +- 5%)"
assert_eq 0 "$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'reminder_emitted'
    AND detail->>'template' <> 'first_reminder--' || (detail->>'variant')")" "the rows' template is first_reminder--<variant>"

# The ReminderDue records carry the same template as the case's row.
wait_eq 30 "the outbox published" 0 outbox_empty
consume_tenant reminder-due.email | jq -r '[.case_id, .template_key] | @tsv' | sort >"$WORK/due.tsv"
psql_q "SELECT case_id, detail->>'template' FROM audit WHERE tenant_id = '$TENANT' AND kind = 'reminder_emitted'" |
    tr '|' '\t' | sort >"$WORK/rows.tsv"
assert_eq 1000 "$(wc -l <"$WORK/due.tsv")" "ReminderDue records"
cmp -s "$WORK/due.tsv" "$WORK/rows.tsv" || fail "ReminderDue template_key differs from the audit rows"
log "ok: every ReminderDue's template_key is its case's variant"

# The holdout: per customer, stable, audited; the others on the adaptive track.
held=$(psql_q "SELECT count(DISTINCT customer_id) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'opened'
    AND (detail->>'risk_holdout')::boolean")
log "held-out customers: $held of 500"
[ "$held" -ge 80 ] && [ "$held" -le 120 ] || fail "$held of 500 customers held out, not 20 +- 4%"
assert_eq 0 "$(psql_q "SELECT count(*) FROM (SELECT customer_id FROM cases WHERE tenant_id = '$TENANT'
    GROUP BY customer_id HAVING count(DISTINCT coalesce(risk_track, '')) > 1) x")" \
    "customers with one case held out and the other not"
assert_eq "$((2 * held))|$((1000 - 2 * held))" "$(psql_q "SELECT count(*) FILTER (WHERE risk_track IS NULL OR risk_track = ''),
    count(*) FILTER (WHERE risk_track = 'adaptive') FROM cases WHERE tenant_id = '$TENANT'")" \
    "held-out cases keep their policy, the others follow the track"
assert_eq "$((1000 - 2 * held))" "$(audit_count track_changed)" "track_changed rows (none for the held out)"
assert_eq "$((2 * held))" "$(psql_q "SELECT count(*) FROM audit WHERE tenant_id = '$TENANT' AND kind = 'reminder_emitted'
    AND detail->>'policy' = 'static' AND (detail->>'risk_holdout')::boolean")" \
    "the held-out cases' reminders: static policy, risk_holdout"
log PASS
