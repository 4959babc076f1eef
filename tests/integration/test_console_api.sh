#!/usr/bin/env bash
# The console's JSON API against the real stack (docs/console.md): users of every role and
# two tenants; invoices published through Kafka and turned into cases by the engine; then
# login, the worklist's order and reasons (the collection strategy of the policy file), its
# CSV, filters and paging, the case view's timeline, actions published as CaseCommands and
# applied by the engine (case event caused by the command, state changed), and the refusals:
# bad password 401, viewer 403, another tenant's case 404, missing CSRF 403, bad JSON 400,
# a session after logout 401. Every action and denial is in console_access_log.
source "$(dirname "$0")/lib.sh"
reset_state
psql_q "TRUNCATE console_assignments, console_notes" >/dev/null
clock_start 2026-06-01T08:00:00Z 0

TA=$TENANT-a
TB=$TENANT-b
export DUNNING_POLICY_FILE=$WORK/policy.yaml
cat >"$DUNNING_POLICY_FILE" <<'YAML'
tenants:
  default:
    default_policy: p
    policies:
      p:
        stages:
          - {name: first_reminder, offset: 2d, channels: [email], template: first_reminder}
          - {name: second_reminder, offset: 5d, channels: [email], template: second_reminder}
    strategy:
      min_amount: {EUR: 5000}
      rules:
        - {when: broken_promise, points: 40}
        - {when: days_overdue, over: 60, points: 30}
        - {when: amount, over: {EUR: 1000000}, points: 20}
        - {when: callback_requested, points: 15}
        - {when: disputed, points: -50}
YAML
# Tenant B has a strategy of its own (the worklist query picks each case's by its tenant).
cat >>"$DUNNING_POLICY_FILE" <<YAML
  $TB:
    default_policy: p
    policies:
      p:
        stages:
          - {name: first_reminder, offset: 2d, channels: [email], template: first_reminder}
          - {name: second_reminder, offset: 5d, channels: [email], template: second_reminder}
    strategy:
      include_not_due: true
      rules:
        - {when: days_overdue, over: 30, points: 7}
        - {when: risk_score, below: 100, points: 1000}
YAML
start_service engine dunning-engine
# The console runs as a member of dunning_console (sql/013, sql/017), as in production: what
# it may not read or write fails here.
console_role
start_service console dunning-console DUNNING_CONSOLE_ADDR=127.0.0.1:0 DUNNING_CONSOLE_ADDR_FILE="$WORK/console.addr" \
    DUNNING_CONSOLE_LOGIN_MAX=5 DUNNING_PG_DSN="$CONSOLE_DSN"
wait_until 10 "console listening" '[ -s "$WORK/console.addr" ]'
URL=http://$(cat "$WORK/console.addr")
wait_eq 10 "healthz" '{"status":"ok"}' curl -sf "$URL/healthz"
assert_eq 1 "$(psql_q "SELECT count(*) > 0 FROM pg_stat_activity WHERE usename = 'sec_console'" | tr t 1)" \
    "the console is connected as sec_console"

# ---- users: one of each role on tenant A, a collector of tenant B, an admin of all ----
PW=correct-horse-battery
adduser() { echo "$PW" | "$BIN/dunningctl" user add "$1" --role "$2" --tenants "$3" >/dev/null 2>&1 || fail "user add $1"; }
U=$$
# A login left by an earlier run with the same process id goes first, with its log rows.
psql_q "DELETE FROM console_users WHERE login ~ '^(col|mgr|view|colb|adm)-$U\$';
        DELETE FROM console_access_log WHERE login ~ '^(col|mgr|view|colb|adm)-$U\$'" >/dev/null
adduser "col-$U" collector "$TA"
adduser "mgr-$U" manager "$TA"
adduser "view-$U" viewer "$TA"
adduser "colb-$U" collector "$TB"
adduser "adm-$U" admin '*'

# ---- cases: published through Kafka, opened by the engine ----
inv() { TENANT=$1 invoice_json "$2" "cust-$2" "$3" "$4" "$2@example.com" | publish invoice-issued; }
inv "$TA" A1 2000000 2026-03-01 # 92 days overdue, 20,000.00 EUR: +30 +20
inv "$TA" A2 500000 2026-03-20  # 73 days overdue: +30
inv "$TA" A3 300000 2026-05-20  # 12 days overdue: 0
inv "$TA" A4 4000 2026-03-01    # 40.00 EUR, below the strategy's min_amount: not listed
inv "$TA" A5 800000 2026-07-01  # not yet due: not listed
inv "$TB" B1 700000 2026-04-01  # tenant B
ours="tenant_id IN ('$TA', '$TB')"
settled() { psql_q "SELECT count(*) FROM cases WHERE $ours AND next_action_at <= to_timestamp($(sim_now_ms) / 1000.0)"; }
wait_eq 30 "six cases" 6 psql_q "SELECT count(*) FROM cases WHERE $ours"
wait_eq 30 "due stages fired" 0 settled
wait_eq 30 "outbox drained" 0 outbox_empty
case_id() { psql_q "SELECT case_id FROM cases WHERE tenant_id = '${2:-$TA}' AND invoice_id = '$1'"; }
A1=$(case_id A1) A2=$(case_id A2) A3=$(case_id A3) B1=$(case_id B1 "$TB")

# ---- login ----
# login USER: logs in with a cookie jar $WORK/USER.jar; prints the CSRF token.
login() {
    curl -s -c "$WORK/$1.jar" -D "$WORK/$1.headers" -o "$WORK/$1.login" -w '%{http_code}' \
        -H 'Content-Type: application/json' -d "$(jq -cn --arg l "$1" --arg p "$PW" '{login: $l, password: $p}')" \
        "$URL/api/login" >"$WORK/$1.status"
    [ "$(cat "$WORK/$1.status")" = 200 ] || fail "login $1: $(cat "$WORK/$1.status") $(cat "$WORK/$1.login")"
    jq -r .csrf_token "$WORK/$1.login"
}
# api USER METHOD PATH [BODY]: prints "STATUS BODY" (with the user's cookie and CSRF token).
api() {
    local u=$1 m=$2 p=$3 body=${4:-}
    local args=(-s -b "$WORK/$u.jar" -X "$m" -o "$WORK/last.body" -w '%{http_code}')
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' -H "X-CSRF-Token: ${CSRF[$u]}" --data "$body")
    [ -z "$body" ] && [ "$m" != GET ] && args+=(-H "X-CSRF-Token: ${CSRF[$u]}")
    local code
    code=$(curl "${args[@]}" "$URL$p")
    echo "$code $(cat "$WORK/last.body")"
}
declare -A CSRF=()
for u in "col-$U" "mgr-$U" "view-$U" "colb-$U" "adm-$U"; do CSRF[$u]=$(login "$u"); done
COL=col-$U MGR=mgr-$U VIEW=view-$U COLB=colb-$U ADM=adm-$U

assert_eq 1 "$(tr -d '\r' <"$WORK/$COL.headers" | grep -ci '^set-cookie: dn_console=[0-9a-f]\{64\}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200$')" \
    "session cookie HttpOnly, SameSite=Strict"
[[ ${CSRF[$COL]} =~ ^[0-9a-f]{64}$ ]] || fail "csrf token: '${CSRF[$COL]}'"
assert_eq "{\"login\":\"$COL\",\"role\":\"collector\",\"tenants\":[\"$TA\"]}" \
    "$(api "$COL" GET /api/me | cut -d' ' -f2- | jq -c 'del(.csrf_token)')" "me"
assert_eq "${CSRF[$COL]}" "$(api "$COL" GET /api/me | cut -d' ' -f2- | jq -r .csrf_token)" "me gives the session's CSRF token"
bad_login() {
    curl -s -o "$WORK/bad.body" -w '%{http_code}' -H 'Content-Type: application/json' \
        -d "$(jq -cn --arg l "$1" --arg p "$2" '{login: $l, password: $p}')" "$URL/api/login"
    echo " $(cat "$WORK/bad.body")"
}
assert_eq '401 {"error":"wrong login or password"}' "$(bad_login "$COL" wrong-password-123)" "bad password"
assert_eq '401 {"error":"wrong login or password"}' "$(bad_login "nobody-$U" "$PW")" "unknown login"
# raw CURL-ARGS...: "STATUS BODY" of a request made without the helpers' cookie and token.
raw() { local code; code=$(curl -s -o "$WORK/raw.body" -w '%{http_code}' "$@"); echo "$code $(cat "$WORK/raw.body")"; }
assert_eq '401 {"error":"not logged in"}' "$(raw "$URL/api/me")" "no session"

# ---- worklist: order, priorities and reasons exact ----
# The engine scores every case (libdnrisk, docs/risk.md); the strategy's risk rule is
# tested below with scores the test sets itself, so none to begin with.
psql_q "UPDATE cases SET risk_score = NULL, risk_reasons = NULL WHERE tenant_id IN ('$TA', '$TB')" >/dev/null
wl() { api "$1" GET "/api/worklist$2" | cut -d' ' -f2-; }
summary() { jq -r '[.items[] | "\(.invoice_id):\(.priority):\([.reasons[].text] | join("|"))"] | join(" ")'; }
assert_eq "A1:50:92 days overdue (over 60)|owes 20000.00 EUR (over 10000.00 EUR) A2:30:73 days overdue (over 60) A3:0:" \
    "$(wl "$COL" "" | summary)" "collector's worklist: order, priorities and reasons"
assert_eq "3 2026-06-01" "$(wl "$COL" "" | jq -r '"\(.total) \(.today)"')" "total (A4 below min_amount, A5 not due, B1 other tenant)"
assert_eq "20,20000.00" "$(wl "$COL" "" | jq -r '.items[0] | "\(.reasons[1].points),\(.owed_minor / 100 | tostring).00"')" \
    "reason points, owed in minor units"
assert_eq "A1 A2 B1 A3" "$(wl "$ADM" "" | jq -r '[.items[].invoice_id] | join(" ")')" "admin (*) sees both tenants (B1: 7 by B's strategy)"
assert_eq "B1:7:61 days overdue (over 30)" "$(wl "$COLB" "" | summary)" \
    "tenant B's collector sees only B, by B's own strategy (no risk score: no risk points)"
# a risk score (what libdnrisk stores on the case; set here directly): B's rule on it fires
psql_q "UPDATE cases SET risk_score = 40 WHERE case_id = '$B1'" >/dev/null
assert_eq "B1:1007:61 days overdue (over 30)|risk score 40 (below 100)" "$(wl "$COLB" "" | summary)" "the risk score rule"
assert_eq "B1 A1 A2 A3" "$(wl "$ADM" "" | jq -r '[.items[].invoice_id] | join(" ")')" "admin's order, B1 first now"
psql_q "UPDATE cases SET risk_score = NULL WHERE case_id = '$B1'" >/dev/null
assert_eq "B1" "$(wl "$ADM" "?tenant=$TB" | jq -r '[.items[].invoice_id] | join(" ")')" "tenant filter"
assert_eq "" "$(wl "$COL" "?tenant=$TB" | jq -r '[.items[].invoice_id] | join(" ")')" "tenant filter outside one's tenants: nothing"
assert_eq "A2 2 3" "$(wl "$COL" "?limit=1&offset=1" | jq -r '"\([.items[].invoice_id] | join(" ")) \(.next_offset) \(.total)"')" "paging"
assert_eq "A3 null" "$(wl "$COL" "?limit=2&offset=2" | jq -r '"\([.items[].invoice_id] | join(" ")) \(.next_offset)"')" "last page"
assert_eq "A1 A2 A3" "$(wl "$COL" "?state=overdue&stage=2" | jq -r '[.items[].invoice_id] | join(" ")')" "state and stage filters"
assert_eq "" "$(wl "$COL" "?stage=1" | jq -r '[.items[].invoice_id] | join(" ")')" "stage filter"
assert_eq "A1 A2 A3" "$(wl "$COL" "?channel=email&disputed=false" | jq -r '[.items[].invoice_id] | join(" ")')" "channel filter"
assert_eq "" "$(wl "$COL" "?channel=sms" | jq -r '[.items[].invoice_id] | join(" ")')" "no sms sent"
assert_eq '400 {"error":"state: one of open, pre_due_reminded, overdue, final_notice, retrying, paused, promised, on_plan (the worklist lists open cases only)"}' \
    "$(api "$COL" GET '/api/worklist?state=resolved')" "bad filter: 400 with the reason"
# CSV: the header and the rows exact
assert_eq "priority,case_id,tenant_id,invoice_id,customer_id,state,stage,owed_minor,currency,due_date,days_overdue,disputed,assigned_to,promise_due,risk_score,reasons
50,$A1,$TA,A1,cust-A1,overdue,2,2000000,EUR,2026-03-01,92,false,,,,92 days overdue (over 60) (+30); owes 20000.00 EUR (over 10000.00 EUR) (+20)
30,$A2,$TA,A2,cust-A2,overdue,2,500000,EUR,2026-03-20,73,false,,,,73 days overdue (over 60) (+30)
0,$A3,$TA,A3,cust-A3,overdue,2,300000,EUR,2026-05-20,12,false,,,," \
    "$(curl -s -b "$WORK/$COL.jar" "$URL/api/worklist?format=csv" | tr -d '\r')" "CSV export"
assert_eq "text/csv; charset=utf-8" \
    "$(curl -s -o /dev/null -w '%{content_type}' -b "$WORK/$COL.jar" "$URL/api/worklist?format=csv")" "CSV content type"

# ---- case view: the case, its invoice, the timeline from the audit trail ----
view=$(api "$COL" GET "/api/cases/$A1")
assert_eq 200 "${view%% *}" "case view"
view=${view#* }
assert_eq "overdue 2 2000000 EUR 2026-03-01" \
    "$(jq -r '"\(.case.state) \(.case.stage) \(.case.owed_minor) \(.case.currency) \(.invoice.due_date)"' <<<"$view")" "case"
trail=$(psql_q "SELECT string_agg(kind, ' ' ORDER BY at, id) FROM audit WHERE tenant_id = '$TA' AND invoice_id = 'A1'")
[[ $trail == opened* ]] || fail "audit trail of A1: '$trail'"
assert_eq "$trail" "$(jq -r '[.timeline[].kind] | join(" ")' <<<"$view")" "timeline = the audit trail"
assert_eq "opened engine" "$(jq -r '.timeline[0] | "\(.kind) \(.actor)"' <<<"$view")" "timeline entries say who"

# ---- refusals ----
assert_eq '404 {"error":"no such case"}' "$(api "$COLB" GET "/api/cases/$A1")" "another tenant's case: 404"
assert_eq '404 {"error":"no such case"}' "$(api "$COLB" GET "/api/cases/$(cat /proc/sys/kernel/random/uuid)")" \
    "an unknown case: the same 404"
assert_eq '404 {"error":"no such case"}' "$(api "$COLB" POST "/api/cases/$A1/actions" '{"action":"pause","reason":"dispute"}')" \
    "another tenant's case: no action, 404"
assert_eq '403 {"error":"role viewer may not pause (needs collector)"}' \
    "$(api "$VIEW" POST "/api/cases/$A1/actions" '{"action":"pause","reason":"dispute"}')" "viewer: 403"
assert_eq '403 {"error":"role collector may not write_off (needs manager)"}' \
    "$(api "$COL" POST "/api/cases/$A1/actions" '{"action":"write_off"}')" "collector may not write off"
assert_eq '403 {"error":"missing or wrong X-CSRF-Token"}' \
    "$(raw -b "$WORK/$COL.jar" -H 'Content-Type: application/json' -d '{"action":"resume"}' "$URL/api/cases/$A1/actions")" \
    "no CSRF token: 403"
status=$(api "$COL" POST "/api/cases/$A1/actions" '{"action": "pause",')
assert_eq "400" "${status%% *}" "bad JSON: 400"
[[ ${status#* } == '{"error":"invalid JSON: '* ]] || fail "bad JSON reason: $status"
assert_eq '400 {"error":"reason: dispute, promise_to_pay or manual_hold"}' \
    "$(api "$COL" POST "/api/cases/$A1/actions" '{"action":"pause","reason":"vacation"}')" "bad pause reason: 400"
assert_eq '400 {"error":"currency: the case is in EUR"}' \
    "$(api "$MGR" POST "/api/cases/$A1/actions" '{"action":"credit","amount_minor":100,"currency":"USD"}')" "currency mismatch: 400"
TENANT=$TA
assert_eq "overdue" "$(case_field A1 state)" "nothing refused reached the engine"

# ---- actions: CaseCommands with the user as actor, applied by the engine ----
act() { api "$1" POST "/api/cases/$2/actions" "$3"; }
# The pages' event streams (GET /api/events): tenant A's collector's and tenant B's.
assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/events")" "events without a session: 401"
wait_until 30 "the console reading the case events" "curl -sf '$URL/readyz' >/dev/null"
curl -sN -b "$WORK/$COL.jar" "$URL/api/events" >"$WORK/events-a" 2>/dev/null &
SSE_A=$!
curl -sN -b "$WORK/$COLB.jar" "$URL/api/events" >"$WORK/events-b" 2>/dev/null &
SSE_B=$!
wait_until 10 "both streams open" '[ -s "$WORK/events-a" ] && [ -s "$WORK/events-b" ]'
out=$(act "$COL" "$A2" '{"action":"dispute","until":"2026-06-20","note":"customer says the goods never came"}')
assert_eq 202 "${out%% *}" "dispute accepted"
eid=$(jq -r .event_id <<<"${out#* }")
assert_eq "pause" "$(jq -r .command <<<"${out#* }")" "a dispute is a pause command"
# The engine's case event for it, caused by the console's command:
wait_eq 30 "the engine's case event for the dispute" "paused overdue paused dispute" eval \
    'consume_tenant dunning-case-events | jq -r --arg e "$eid" "select(.caused_by_event_id == \$e) | \"\(.event_type) \(.from_state) \(.to_state) \(.reason)\""'
sse_event() { sed -n 's/^data: //p' "$WORK/events-$1" | jq -c --arg e "$eid" 'select(.caused_by_event_id == $e)
    | [.event_type, .case_id, .tenant_id, .invoice_id, .from_state, .to_state, .currency]'; }
wait_eq 10 "the dispute's case event on tenant A's stream" "[\"paused\",\"$A2\",\"$TA\",\"A2\",\"overdue\",\"paused\",\"EUR\"]" sse_event a
assert_eq "event: case" "$(grep -m1 '^event:' "$WORK/events-a")" "the stream's event name"
assert_eq "" "$(sed -n 's/^data: //p' "$WORK/events-b" | jq -r --arg t "$TA" 'select(.tenant_id == $t) | .case_id')" \
    "no tenant A event on tenant B's stream"
kill "$SSE_A" "$SSE_B" 2>/dev/null || true
wait_eq 20 "A2 paused in the case view" "paused dispute 2026-06-20" eval \
    'api "$COL" GET "/api/cases/$A2" | cut -d" " -f2- | jq -r "\"\(.case.state) \(.case.pause_reason) \(.case.paused_until)\""'
view=$(api "$COL" GET "/api/cases/$A2" | cut -d' ' -f2-)
assert_eq "paused user:$COL 2026-06-20" "$(jq -r '.timeline[] | select(.kind == "paused") | "\(.kind) \(.actor) \(.detail.until)"' <<<"$view")" \
    "timeline: the pause, by the user"
assert_eq "note user:$COL customer says the goods never came" \
    "$(jq -r '.timeline[] | select(.kind == "note") | "\(.kind) \(.actor) \(.detail.text)"' <<<"$view")" "timeline: the note"
# the timeline as CSV (for legal use): the same entries, one row each
csv=$(curl -s -b "$WORK/$COL.jar" "$URL/api/cases/$A2?format=csv" | tr -d '\r')
assert_eq "at,source,kind,from_state,to_state,stage,outstanding_minor,actor,detail" "$(head -1 <<<"$csv")" "timeline CSV header"
assert_eq "$(jq -r '[.timeline[] | "\(.source):\(.kind)"] | join(" ")' <<<"$view")" \
    "$(tail -n +2 <<<"$csv" | cut -d, -f2,3 | tr , : | paste -sd' ')" "timeline CSV rows = the timeline"
assert_eq "2026-06-01T08:00:00.000Z,audit,paused,overdue,paused,2,500000,user:$COL" \
    "$(grep ',audit,paused,' <<<"$csv" | cut -d, -f1-8)" "timeline CSV: the pause"
assert_eq "2026-06-01T08:00:00.000Z,note,note,,,,,user:$COL,\"{\"\"text\"\": \"\"customer says the goods never came\"\"}\"" \
    "$(grep ',note,note,' <<<"$csv")" "timeline CSV: the note, quoted"
assert_eq '415 {"error":"the body must be application/json"}' \
    "$(raw -b "$WORK/$COL.jar" -H "X-CSRF-Token: ${CSRF[$COL]}" -H 'Content-Type: text/plain' -d 'note' "$URL/api/cases/$A2/actions")" \
    "a body that is not JSON: 415"
out=$(act "$COL" "$A3" '{"action":"callback"}')
assert_eq 202 "${out%% *}" "callback accepted"
wait_eq 30 "A3's callback recorded by the engine" 1 audit_count callback_requested
assert_eq "A1:50:92 days overdue (over 60)|owes 20000.00 EUR (over 10000.00 EUR) A3:15:callback requested A2:-20:73 days overdue (over 60)|disputed" \
    "$(wl "$COL" "" | summary)" "worklist after the actions"
assert_eq "A2" "$(wl "$COL" "?disputed=true" | jq -r '[.items[].invoice_id] | join(" ")')" "disputed filter"
assert_eq "A2" "$(wl "$COL" "?state=paused" | jq -r '[.items[].invoice_id] | join(" ")')" "paused filter"

# assignment: a collector to themselves, a manager to others; assigned=me
assert_eq '403 {"error":"role collector may assign cases only to themselves"}' \
    "$(act "$COL" "$A1" "{\"action\":\"assign\",\"to\":\"$MGR\"}")" "collector assigns to someone else: 403"
assert_eq 200 "$(act "$MGR" "$A3" "{\"action\":\"assign\",\"to\":\"$COL\"}" | cut -d' ' -f1)" "manager assigns A3 to the collector"
assert_eq '400 {"error":"to: no enabled collector, manager or admin of this tenant has that login"}' \
    "$(act "$MGR" "$A1" "{\"action\":\"assign\",\"to\":\"$COLB\"}")" "assign to another tenant's collector: 400"
assert_eq "A3:$COL" "$(wl "$COL" "?assigned=me" | jq -r '[.items[] | "\(.invoice_id):\(.assigned_to)"] | join(" ")')" "assigned=me"
assert_eq "" "$(wl "$MGR" "?assigned=me" | jq -r '[.items[].invoice_id] | join(" ")')" "the manager has none"

# a manager's write-off: terminal, off the worklist
out=$(act "$MGR" "$A1" '{"action":"write_off"}')
assert_eq 202 "${out%% *}" "manager writes off A1"
wait_eq 30 "A1 written off" written_off case_field A1 state
assert_eq "A3 A2" "$(wl "$COL" "" | jq -r '[.items[].invoice_id] | join(" ")')" "written off: off the worklist"
assert_eq "user:$MGR" "$(api "$COL" GET "/api/cases/$A1" | cut -d' ' -f2- | jq -r '.timeline[] | select(.kind == "written_off") | .actor')" \
    "write-off by the manager"

# a promise through the console, broken when its day passes: the strategy's +40
out=$(act "$COL" "$A3" '{"action":"promise","amount_minor":300000,"currency":"EUR","promise_date":"2026-06-05"}')
assert_eq 202 "${out%% *}" "promise accepted"
wait_eq 30 "A3 promised" "promised open user:$COL" psql_q "SELECT c.state || ' ' || p.state || ' ' || p.actor
    FROM cases c JOIN promise_cases pc USING (case_id) JOIN promises p USING (promise_id) WHERE c.case_id = '$A3'"
assert_eq "A3:promised:2026-06-05" "$(wl "$COL" "?promise_due=2026-06-05" | jq -r '[.items[] | "\(.invoice_id):\(.state):\(.promise_due)"] | join(" ")')" \
    "promise_due filter"
assert_eq "" "$(wl "$COL" "?promise_due=2026-06-04" | jq -r '[.items[].invoice_id] | join(" ")')" "promise due later"
clock_set 2026-06-09T08:00:00Z # past the promised day + the 2 days' grace: broken
wait_eq 30 "A3's promise broken" "overdue broken" psql_q "SELECT c.state || ' ' || p.state
    FROM cases c JOIN promise_cases pc USING (case_id) JOIN promises p USING (promise_id) WHERE c.case_id = '$A3'"
assert_eq "A3:55:broken promise|callback requested A2:-20:81 days overdue (over 60)|disputed" \
    "$(wl "$COL" "" | summary)" "a broken promise: +40"

# the viewer reads (worklist, CSV, case view) but acts on nothing
assert_eq "200 A3 A2" "$(api "$VIEW" GET /api/worklist | { read -r code body; echo "$code $(jq -r '[.items[].invoice_id] | join(" ")' <<<"$body")"; })" \
    "the viewer's worklist"
assert_eq 200 "$(api "$VIEW" GET "/api/cases/$A2" | cut -d' ' -f1)" "the viewer's case view"
assert_eq '403 {"error":"role viewer may not note (needs collector)"}' \
    "$(act "$VIEW" "$A2" '{"action":"note","text":"hello"}')" "the viewer may not even write a note"
assert_eq 200 "$(act "$MGR" "$A3" '{"action":"unassign"}' | cut -d' ' -f1)" "a manager unassigns"
assert_eq "A3" "$(wl "$COL" "?assigned=none" | jq -r '[.items[] | select(.invoice_id == "A3") | .invoice_id] | join(" ")')" \
    "unassigned again"

# ---- sessions end: idle, disabled user, logout ----
psql_q "UPDATE console_sessions SET last_seen = now() - interval '31 minutes'
        WHERE user_id = (SELECT user_id FROM console_users WHERE login = '$VIEW')" >/dev/null
assert_eq '401 {"error":"not logged in"}' "$(api "$VIEW" GET /api/me)" "a session idle for more than DUNNING_CONSOLE_IDLE"
"$BIN/dunningctl" user disable "$MGR" >/dev/null 2>&1 || fail "user disable"
assert_eq '401 {"error":"not logged in"}' "$(api "$MGR" GET /api/worklist)" "a disabled user's session"
assert_eq '200 {"logged_out":true}' "$(api "$COL" POST /api/logout)" "logout"
assert_eq '401 {"error":"not logged in"}' "$(api "$COL" GET /api/me)" "the old cookie after logout"
assert_eq 0 "$(psql_q "SELECT count(*) FROM console_sessions s JOIN console_users u USING (user_id) WHERE u.login = '$COL'")" \
    "session row gone"

# ---- the access log: every login, action and denial ----
assert_eq "action:dispute action:callback action:promise denied:403 role collector may not write_off (needs manager) denied:403 missing or wrong X-CSRF-Token denied:403 role collector may assign cases only to themselves export:- login:- login_failed:- logout:-" \
    "$(psql_q "SELECT string_agg(kind || ':' || coalesce(detail->>'action', CASE WHEN kind = 'denied' THEN (detail->>'status') || ' ' || (detail->>'reason') END, '-'), ' ' ORDER BY kind, id) FROM console_access_log WHERE login = '$COL'")" \
    "access log of the collector"
assert_eq "denied:403 role viewer may not pause (needs collector) denied:403 role viewer may not note (needs collector)" \
    "$(psql_q "SELECT string_agg(kind || ':' || (detail->>'status') || ' ' || (detail->>'reason'), ' ' ORDER BY id) FROM console_access_log WHERE login = '$VIEW' AND kind = 'denied'")" \
    "the viewer's denials"
assert_eq "login_failed:wrong password" \
    "$(psql_q "SELECT string_agg(kind || ':' || (detail->>'reason'), ' ') FROM console_access_log WHERE login = '$COL' AND kind = 'login_failed'")" \
    "failed login logged"
assert_eq "$eid" "$(psql_q "SELECT detail->>'event_id' FROM console_access_log WHERE login = '$COL' AND detail->>'action' = 'dispute'")" \
    "the action's CaseCommand id in the access log"

# ---- login throttling: DUNNING_CONSOLE_LOGIN_MAX=5 failed logins per address (2 so far) ----
assert_eq '401 {"error":"wrong login or password"}' "$(bad_login "$COL" wrong-password-3)" "3rd failed login"
assert_eq '401 {"error":"wrong login or password"}' "$(bad_login "$COL" wrong-password-4)" "4th failed login"
assert_eq '401 {"error":"wrong login or password"}' "$(bad_login "$COL" wrong-password-5)" "5th failed login"
assert_eq '429 {"error":"too many login attempts; try again later"}' "$(bad_login "$COL" "$PW")" \
    "then refused, even with the right password"
assert_eq 1 "$(psql_q "SELECT count(*) FROM console_access_log WHERE login = '$COL' AND kind = 'denied' AND path = '/api/login' AND detail->>'status' = '429'")" \
    "the refusal logged"
assert_eq 0 "$(grep -c 'permission denied\|database error\|access log not written\|priority differs' "$WORK/console.log")" \
    "the console needed no privilege beyond dunning_console's"
log "PASS"
