#!/usr/bin/env bash
# The worklist's rows (sql/024_console_worklist_rows.sql, services/console/worklist_rows.c):
# the console keeps one row per open case with its priority, following the audit trail, so
# that a page is an index scan. Checked exactly:
#   - the rows of cases the engine opened, in the strategy's order;
#   - events while the console is down (a payment in full, a new invoice) are caught up at
#     its start from the audit cursor: the paid case is gone, the new one is there;
#   - a new day moves the days overdue without any event: the priorities follow;
#   - another strategy (policy file) rebuilds every row with its points.
# The console runs as a member of dunning_console, so its grants on the new tables count.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-06-01T08:00:00Z 0

export DUNNING_POLICY_FILE=$WORK/policy.yaml
policy() { # POINTS-OVER-60
    cat >"$DUNNING_POLICY_FILE" <<YAML
tenants:
  default:
    default_policy: p
    policies:
      p:
        stages:
          - {name: first_reminder, offset: 2d, channels: [email], template: first_reminder}
    strategy:
      min_amount: {EUR: 5000}
      rules:
        - {when: days_overdue, over: 60, points: $1}
        - {when: days_overdue, over: 30, points: 10}
YAML
}
policy 30
start_service engine dunning-engine
console_role
console_up() {
    rm -f "$WORK/console.addr"
    start_service console dunning-console DUNNING_CONSOLE_ADDR=127.0.0.1:0 DUNNING_CONSOLE_ADDR_FILE="$WORK/console.addr" \
        DUNNING_PG_DSN="$CONSOLE_DSN"
    wait_until 20 "console listening" '[ -s "$WORK/console.addr" ]'
    URL=http://$(cat "$WORK/console.addr")
    curl -sf -c "$WORK/jar" -H 'Content-Type: application/json' -d "{\"login\":\"wr-$$\",\"password\":\"$PW\"}" \
        "$URL/api/login" >/dev/null || fail "login"
}
PW=worklist-rows-password
psql_q "DELETE FROM console_users WHERE login = 'wr-$$'" >/dev/null
echo "$PW" | "$BIN/dunningctl" user add "wr-$$" --role viewer --tenants "$TENANT" >/dev/null 2>&1 || fail "user add"

inv() { invoice_json "$1" "cust-$1" "$2" "$3" "$1@example.com" | publish invoice-issued; }
inv W1 100000 2026-05-01 # 31 days overdue: +10
inv W2 100000 2026-04-02 # 60 days: +10 (not over 60)
inv W3 100000 2026-06-10 # not yet due: a row, not listed
ours="tenant_id = '$TENANT'"
wait_eq 30 "three cases" 3 psql_q "SELECT count(*) FROM cases WHERE $ours"
wait_eq 30 "outbox drained" 0 outbox_empty
console_up
wl() { curl -sf -b "$WORK/jar" "$URL/api/worklist" | jq -r '"\(.total): " + ([.items[] | "\(.invoice_id):\(.priority)"] | join(" "))'; }
rows() { psql_q "SELECT string_agg(invoice_id || ':' || priority || ':' || listed, ' ' ORDER BY invoice_id) FROM console_worklist WHERE $ours"; }
assert_eq "2: W2:10 W1:10" "$(wl)" "the worklist from the rows (equal points: the longer overdue first)"
assert_eq "W1:10:true W2:10:true W3:0:false" "$(rows)" "a row per open case, the one not yet due not listed"

# ---- events while the console is down: caught up from the audit cursor at its start ----
stop_service console
payment_json pay-W1 W1 cust-W1 100000 | publish payment-received
inv W4 100000 2026-05-15 # 17 days: no points
wait_eq 30 "W1 paid" resolved psql_q "SELECT state FROM cases WHERE $ours AND invoice_id = 'W1'"
wait_eq 30 "four cases" 4 psql_q "SELECT count(*) FROM cases WHERE $ours"
wait_eq 30 "outbox drained" 0 outbox_empty
assert_eq "W1:10:true W2:10:true W3:0:false" "$(rows)" "the rows while the console is down: unchanged"
console_up
assert_eq "W2:10:true W3:0:false W4:0:true" "$(rows)" "at the start: the paid case gone, the new one there"
assert_eq "2: W2:10 W4:0" "$(wl)" "the worklist after the catch-up"

# ---- a new day: W2 61 days overdue, +30 more, without any event about it ----
before=$(psql_q "SELECT count(*) FROM audit WHERE case_id = (SELECT case_id FROM cases WHERE $ours AND invoice_id = 'W2')")
clock_set 2026-06-02T08:00:00Z 0
wait_eq 30 "the stages of the day" 0 psql_q "SELECT count(*) FROM cases WHERE $ours AND next_action_at <= '2026-06-02T08:00:00Z'"
wait_eq 30 "outbox drained" 0 outbox_empty
assert_eq "$before" "$(psql_q "SELECT count(*) FROM audit WHERE case_id = (SELECT case_id FROM cases WHERE $ours AND invoice_id = 'W2')")" \
    "no audit row about W2 on the new day"
# No request yet: the console's own once-a-second sync scores the rows for the day.
wait_eq 10 "the rows scored for the new day" "W2:40:true W3:0:false W4:0:true" rows
assert_eq "2: W2:40 W4:0" "$(wl)" "the new day's priorities"
assert_eq 1 "$(grep -c '"msg":"worklist priorities of a new day","day":"2026-06-02"' "$WORK/console.log")" \
    "the console says it scored the rows for the new day"

# ---- another strategy: every row scored again ----
stop_service console
rebuilt=$(grep -c '"msg":"worklist rows rebuilt"' "$WORK/console.log" || true)
policy 50
console_up
assert_eq "2: W2:60 W4:0" "$(wl)" "the rebuilt rows, with the new strategy's points"
assert_eq "W2:60:true W3:0:false W4:0:true" "$(rows)" "the rebuilt rows"
assert_eq $((rebuilt + 1)) "$(grep -c '"msg":"worklist rows rebuilt"' "$WORK/console.log")" \
    "the console says it rebuilt the rows"
log "PASS"
