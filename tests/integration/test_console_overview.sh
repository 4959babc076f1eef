#!/usr/bin/env bash
# The console's overview (GET /api/overview, docs/console.md#overview) against hand-computed
# cases: the rows the engine and the senders would have written (invoices, cases, their audit
# trail, promises, deliveries) are put into the database directly, for one tenant and,
# to be left out, another; the clock is frozen at 2026-06-30; every figure is checked exactly.
#
#   case  cur  amount issued     due        state        outstanding  audit (at: to_state outstanding)
#   C1    EUR  10000  2026-06-10 2026-07-10 open         10000        06-10 open 10000
#   C2    EUR  20000  2026-05-01 2026-06-15 overdue      15000        05-01 open 20000; 06-16 reminder s1 email (delivered) overdue; 06-20 paid 5000 -> 15000
#   C3    EUR  30000  2026-03-01 2026-04-15 final_notice 30000        03-01 open; 05-10 final_notice; 06-05 reminder s2 email (suppressed) + letter (no delivery yet)
#   C4    EUR  40000  2026-01-01 2026-02-01 paused       40000        01-01 open; 03-01 paused
#   C5    EUR   5000  2026-06-05 2026-06-12 resolved (paid)  0        06-05 open; 06-13 reminder s1 email (delivered); 06-14 resolved 0
#   C6    USD   7000  2026-06-20 2026-06-25 overdue       7000        06-20 open; 06-27 reminder s1 sms (failed_permanent)
#   C7    EUR   8000  2026-04-01 2026-05-20 overdue       8000        04-01 open; 05-22 reminder s1 email (before the period)
#   C8    EUR   6000  2026-02-01 2026-03-01 written_off   6000        02-01 open; 06-05 written_off 6000
#   C9    EUR   9000  2026-06-01 2026-06-02 resolved (paid)  0        06-01 open; 06-04 reminder s1 email (delivered); 06-14 resolved 0
#   X1 (the other tenant) EUR 99900, issued 06-10, due 06-11, open, with a reminder and a promise due today.
#
# Period 2026-06-01..2026-06-30, dso_days 30:
#   aging EUR: current C1 10000; 1-30 C2 15000; 31-60 C7 8000; 61-90 C3 30000; 90+ C4 40000; USD 1-30 C6 7000
#   DSO EUR: receivables 103000, current 10000, sales (issued 06-01..06-30) C1+C5+C9 = 24000:
#            103000 * 30 / 24000 = 128.75; best possible 10000 * 30 / 24000 = 12.5
#   DSO USD: 7000 * 30 / 7000 = 30; best possible 0
#   CEI EUR: beginning (06-01 00:00) C2 20000 + C3 30000 + C4 40000 + C7 8000 + C8 6000 = 104000; sales 24000;
#            ending (07-01 00:00) 103000; ending current (due on or after 06-30) C1 10000:
#            (104000 + 24000 - 103000) / (104000 + 24000 - 10000) * 100 = 21.1864...
#   CEI USD: (0 + 7000 - 7000) / (0 + 7000 - 0) * 100 = 0
#   promises: due today P1 15000 (open, 06-30); kept rate of those due in June: P2 kept, P3 broken,
#            P4 partially kept (P5 kept in May, P6 withdrawn: not counted) = 1/3
#   reminders: email 4 sent (C2, C3, C5, C9), 3 delivered, 1 suppressed; letter 1 pending; sms 1 failed
#   recovery: stage 1 email 3 reminded (C2, C5, C9): paid within 7 days C5, within 14 C5 + C9;
#             stage 1 sms C6 0; stage 2 email and letter C3 0
#   dead letters (published to their topic): engine/invoice-issued/invalid_field 2 (06-07, 06-20;
#             05-31 23:59:59 is before the period), sender-email/reminder-due-email/decode_error 1
#             (06-30 23:59:59); X's one not at all
source "$(dirname "$0")/lib.sh"
reset_state
psql_q "TRUNCATE promises, promise_cases" >/dev/null
clock_start 2026-06-30T12:00:00Z 0
T=$TENANT
X=$TENANT-x
psql "$DUNNING_PG_DSN" -v ON_ERROR_STOP=1 -q -v T="$T" -v X="$X" <<'SQL'
CREATE TEMP TABLE k (tenant text, name text, cur text, amount bigint, issued date, due date, state text,
                     outstanding bigint, reason text);
INSERT INTO k VALUES
  (:'T', 'C1', 'EUR', 10000, '2026-06-10', '2026-07-10', 'open', 10000, NULL),
  (:'T', 'C2', 'EUR', 20000, '2026-05-01', '2026-06-15', 'overdue', 15000, NULL),
  (:'T', 'C3', 'EUR', 30000, '2026-03-01', '2026-04-15', 'final_notice', 30000, NULL),
  (:'T', 'C4', 'EUR', 40000, '2026-01-01', '2026-02-01', 'paused', 40000, NULL),
  (:'T', 'C5', 'EUR', 5000, '2026-06-05', '2026-06-12', 'resolved', 0, 'paid'),
  (:'T', 'C6', 'USD', 7000, '2026-06-20', '2026-06-25', 'overdue', 7000, NULL),
  (:'T', 'C7', 'EUR', 8000, '2026-04-01', '2026-05-20', 'overdue', 8000, NULL),
  (:'T', 'C8', 'EUR', 6000, '2026-02-01', '2026-03-01', 'written_off', 6000, NULL),
  (:'T', 'C9', 'EUR', 9000, '2026-06-01', '2026-06-02', 'resolved', 0, 'paid'),
  (:'X', 'X1', 'EUR', 99900, '2026-06-10', '2026-06-11', 'overdue', 99900, NULL);
INSERT INTO invoices (tenant_id, invoice_id, customer_id, invoice_number, amount_minor, currency, issue_date, due_date,
                      contact, source, issued_event_id, issued_at)
  SELECT tenant, name, 'cust-' || name, 'N-' || name, amount, cur, issued, due, '{}', '\x00',
         md5(tenant || name || 'inv')::uuid, issued::timestamptz FROM k;
INSERT INTO cases (case_id, tenant_id, invoice_id, customer_id, policy, state, amount_minor, outstanding_minor,
                   paid_minor, currency, resolved_reason, opened_at, updated_at)
  SELECT md5(tenant || name)::uuid, tenant, name, 'cust-' || name, 'p', state, amount, outstanding,
         CASE WHEN state = 'resolved' THEN amount ELSE amount - outstanding END, cur, reason, issued::timestamptz,
         issued::timestamptz FROM k;
CREATE TEMP TABLE a (tenant text, name text, at timestamptz, kind text, to_state text, stage int, outstanding bigint,
                     reminders jsonb);
INSERT INTO a SELECT tenant, name, issued + time '08:00' AT TIME ZONE 'UTC', 'opened', 'open', 0, amount, NULL FROM k;
INSERT INTO a VALUES
  (:'T', 'C2', '2026-06-16T09:00Z', 'reminder_emitted', 'overdue', 1, 20000, '[{"channel": "email", "event_id": "00000000-0000-4000-8000-000000000002"}]'),
  (:'T', 'C2', '2026-06-20T10:00Z', 'payment_applied', 'overdue', 1, 15000, NULL),
  (:'T', 'C3', '2026-05-10T09:00Z', 'final_notice', 'final_notice', 1, 30000, NULL),
  (:'T', 'C3', '2026-06-05T09:00Z', 'reminder_emitted', 'final_notice', 2, 30000,
   '[{"channel": "email", "event_id": "00000000-0000-4000-8000-00000000003a"}, {"channel": "letter", "event_id": "00000000-0000-4000-8000-00000000003b"}]'),
  (:'T', 'C4', '2026-03-01T09:00Z', 'paused', 'paused', 0, 40000, NULL),
  (:'T', 'C5', '2026-06-13T09:00Z', 'reminder_emitted', 'overdue', 1, 5000, '[{"channel": "email", "event_id": "00000000-0000-4000-8000-000000000005"}]'),
  (:'T', 'C5', '2026-06-14T09:00Z', 'resolved', 'resolved', 1, 0, NULL),
  (:'T', 'C6', '2026-06-27T09:00Z', 'reminder_emitted', 'overdue', 1, 7000, '[{"channel": "sms", "event_id": "00000000-0000-4000-8000-000000000006"}]'),
  (:'T', 'C7', '2026-05-22T09:00Z', 'reminder_emitted', 'overdue', 1, 8000, '[{"channel": "email", "event_id": "00000000-0000-4000-8000-000000000007"}]'),
  (:'T', 'C8', '2026-06-05T09:00Z', 'written_off', 'written_off', 0, 6000, NULL),
  (:'T', 'C9', '2026-06-04T09:00Z', 'reminder_emitted', 'overdue', 1, 9000, '[{"channel": "email", "event_id": "00000000-0000-4000-8000-000000000009"}]'),
  (:'T', 'C9', '2026-06-14T09:00Z', 'resolved', 'resolved', 1, 0, NULL),
  (:'X', 'X1', '2026-06-12T09:00Z', 'reminder_emitted', 'overdue', 1, 99900, '[{"channel": "email", "event_id": "00000000-0000-4000-8000-0000000000ff"}]');
INSERT INTO audit (tenant_id, customer_id, invoice_id, case_id, at, kind, from_state, to_state, stage, outstanding_minor, detail)
  SELECT a.tenant, 'cust-' || a.name, a.name, md5(a.tenant || a.name)::uuid, a.at, a.kind,
         lag(a.to_state) OVER (PARTITION BY a.tenant, a.name ORDER BY a.at), a.to_state, a.stage, a.outstanding,
         CASE WHEN a.reminders IS NULL THEN '{}' ELSE jsonb_build_object('reminders', a.reminders) END
  FROM a ORDER BY a.at;
INSERT INTO deliveries (event_id, channel, tenant_id, invoice_id, case_id, stage, status) VALUES
  ('00000000-0000-4000-8000-000000000002', 'email', :'T', 'C2', md5(:'T' || 'C2')::uuid, 1, 'delivered'),
  ('00000000-0000-4000-8000-00000000003a', 'email', :'T', 'C3', md5(:'T' || 'C3')::uuid, 2, 'suppressed'),
  ('00000000-0000-4000-8000-000000000005', 'email', :'T', 'C5', md5(:'T' || 'C5')::uuid, 1, 'delivered'),
  ('00000000-0000-4000-8000-000000000006', 'sms', :'T', 'C6', md5(:'T' || 'C6')::uuid, 1, 'failed_permanent'),
  ('00000000-0000-4000-8000-000000000009', 'email', :'T', 'C9', md5(:'T' || 'C9')::uuid, 1, 'delivered'),
  ('00000000-0000-4000-8000-0000000000ff', 'email', :'X', 'X1', md5(:'X' || 'X1')::uuid, 1, 'delivered');
INSERT INTO promises (promise_id, tenant_id, customer_id, invoice_id, scope, currency, amount_minor, promised_for,
                      hold_until, level, state, made_at)
  SELECT md5(t || n)::uuid, t, 'cust-' || inv, inv, 'invoice', 'EUR', amt, d::date, d::date, 1, st, '2026-05-01T00:00Z'
  FROM (VALUES (:'T', 'P1', 'C2', 15000, '2026-06-30', 'open'), (:'T', 'P2', 'C2', 1000, '2026-06-10', 'kept'),
               (:'T', 'P3', 'C3', 2000, '2026-06-15', 'broken'), (:'T', 'P4', 'C4', 3000, '2026-06-20', 'partially_kept'),
               (:'T', 'P5', 'C4', 4000, '2026-05-20', 'kept'), (:'T', 'P6', 'C3', 5000, '2026-06-12', 'withdrawn'),
               (:'X', 'PX', 'X1', 99900, '2026-06-30', 'open'), (:'X', 'PY', 'X1', 100, '2026-06-05', 'broken'))
       AS p (t, n, inv, amt, d, st);
SQL
# Dead letters (on their topic, not in a table): three of T in the period, one of T the second
# before it, one of X.
dl() { jq -cn --arg t "$1" --arg s "$3" --arg src "$4" --arg code "$5" --argjson at "$(($(date -u -d "$2" +%s) * 1000))" \
    '{occurred_at: $at, tenant_id: $t, customer_id: null, original_event_id: null, service: $s, source_topic: $src,
      source_partition: 0, source_offset: 1, schema_id: null, error_code: $code, reason: "test", key: null, payload: ""}'; }
{
    dl "$T" 2026-06-07T10:00:00Z dunning-engine invoice-issued invalid_field
    dl "$T" 2026-06-20T10:00:00Z dunning-engine invoice-issued invalid_field
    dl "$T" 2026-06-30T23:59:59Z sender-email reminder-due-email decode_error
    dl "$T" 2026-05-31T23:59:59Z dunning-engine invoice-issued invalid_field
    dl "$X" 2026-06-10T10:00:00Z dunning-engine invoice-issued invalid_field
} | publish dead-letter
start_service console dunning-console DUNNING_CONSOLE_ADDR=127.0.0.1:0 DUNNING_CONSOLE_ADDR_FILE="$WORK/console.addr"
wait_until 20 "the console's address file" '[ -s "$WORK/console.addr" ]'
URL=http://$(cat "$WORK/console.addr")
PW=overview-test-password
psql_q "DELETE FROM console_users WHERE login = 'ov-$$'" >/dev/null
echo "$PW" | "$BIN/dunningctl" user add "ov-$$" --role viewer --tenants "$T" >/dev/null 2>&1 || fail "user add"
curl -sf -c "$WORK/jar" -H 'Content-Type: application/json' -d "{\"login\":\"ov-$$\",\"password\":\"$PW\"}" \
    "$URL/api/login" >/dev/null || fail "login"
curl -sf -b "$WORK/jar" "$URL/api/overview?from=2026-06-01&to=2026-06-30&dso_days=30" >"$WORK/overview.json" ||
    fail "GET /api/overview"
ov() { jq -c "$1" "$WORK/overview.json"; }

assert_eq '["2026-06-30","2026-06-01","2026-06-30",30]' "$(ov '[.today, .from, .to, .dso_days]')" "the period"
assert_eq '[["EUR","current",1,10000],["EUR","1-30",1,15000],["EUR","31-60",1,8000],["EUR","61-90",1,30000],["EUR","90+",1,40000],["USD","1-30",1,7000]]' \
    "$(ov '[.aging[] | [.currency, .bucket, .cases, .outstanding_minor]]')" "aging"
assert_eq '[["EUR",103000,10000,24000,128.75,12.5],["USD",7000,0,7000,30,0]]' \
    "$(ov '[.dso[] | [.currency, .receivables_minor, .current_minor, .sales_minor, .dso, .best_possible_dso]]')" "DSO"
assert_eq '[["EUR",104000,24000,103000,10000,21.1864],["USD",0,7000,7000,0,0]]' \
    "$(ov '[.cei[] | [.currency, .beginning_minor, .sales_minor, .ending_minor, .ending_current_minor, .cei]]')" "CEI"
assert_eq '[["EUR",1,15000]]' "$(ov '[.promises_due_today[] | [.currency, .promises, .amount_minor]]')" "promises due today"
assert_eq '[1,1,1,0.3333]' "$(ov '.promise_kept | [.kept, .partially_kept, .broken, .rate]')" "promise-kept rate"
assert_eq '[["email",4,3,0,1,0],["letter",1,0,0,0,1],["sms",1,0,1,0,0]]' \
    "$(ov '[.reminders[] | [.channel, .sent, .delivered, .failed, .suppressed, .pending]]')" "reminders by channel"
assert_eq '[[1,"email",3,1,2,0.3333,0.6667],[1,"sms",1,0,0,0,0],[2,"email",1,0,0,0,0],[2,"letter",1,0,0,0,0]]' \
    "$(ov '[.recovery[] | [.stage, .channel, .reminded, .paid_7d, .paid_14d, .share_7d, .share_14d]]')" "recovery"
# The dead letters: read from the topic as the console catches up with it.
dead() {
    curl -sf -b "$WORK/jar" "$URL/api/overview?from=2026-06-01&to=2026-06-30" |
        jq -c '[.dead_letters.groups | sort_by(.service)[] | [.service, .source_topic, .error_code, .count]]'
}
wait_eq 30 "the dead letters of the period" \
    '[["dunning-engine","invoice-issued","invalid_field",2],["sender-email","reminder-due-email","decode_error",1]]' dead

# Another tenant's figures are not there even when asked for; bad parameters are a 400 with the reason.
assert_eq '[[],[],[],[]]' "$(curl -sf -b "$WORK/jar" "$URL/api/overview?tenant=$X&from=2026-06-01" |
    jq -c '[.aging, .dso, .promises_due_today, .dead_letters.groups]')" \
    "the overview of another tenant"
assert_eq '400 {"error":"from: on or before to, at most 10 years before it"}' \
    "$(curl -s -b "$WORK/jar" -w '%{http_code}' -o "$WORK/bad.json" "$URL/api/overview?from=2026-07-01&to=2026-06-30") $(cat "$WORK/bad.json")" \
    "a period the wrong way round"
assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/overview")" "the overview without a session"
log "PASS"
