#!/usr/bin/env bash
# The case timeline exported for legal use (docs/console.md#get-apicasescase_idtimelinecsv):
# a known case written into the database directly (invoice, case, four audit rows, two notes,
# one starting with "=" and one with a comma and quotes), and another tenant's case; the CSV
# checked byte for byte, the PDF by its text (pdftotext): the header (tenant, invoice, customer,
# case, generated at, by whom) and every entry; each export in the access log (who, what,
# when, which format); a viewer may export, another tenant's collector gets 404, so does a
# case id that is not one; no session: 401.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-06-10T12:00:00Z 0
T=$TENANT
X=$TENANT-x
psql "$DUNNING_PG_DSN" -v ON_ERROR_STOP=1 -q -v T="$T" -v X="$X" <<'SQL'
INSERT INTO invoices (tenant_id, invoice_id, customer_id, invoice_number, amount_minor, currency, issue_date, due_date,
                      contact, source, issued_event_id, issued_at)
  VALUES (:'T', 'E1', 'cust-E1', 'N-E1', 120000, 'EUR', '2026-05-01', '2026-05-31', '{}', '\x00',
          md5(:'T' || 'inv')::uuid, '2026-05-01T08:00Z'),
         (:'X', 'X1', 'cust-X1', 'N-X1', 5000, 'EUR', '2026-05-01', '2026-05-31', '{}', '\x00',
          md5(:'X' || 'inv')::uuid, '2026-05-01T08:00Z');
INSERT INTO cases (case_id, tenant_id, invoice_id, customer_id, policy, state, stage, amount_minor, outstanding_minor,
                   fee_minor, paid_minor, currency, opened_at, updated_at)
  VALUES (md5(:'T' || 'E1')::uuid, :'T', 'E1', 'cust-E1', 'p', 'paused', 1, 120000, 120000, 500, 0, 'EUR',
          '2026-05-01T08:00Z', '2026-06-05T10:00Z'),
         (md5(:'X' || 'X1')::uuid, :'X', 'X1', 'cust-X1', 'p', 'open', 0, 5000, 5000, 0, 0, 'EUR',
          '2026-05-01T08:00Z', '2026-05-01T08:00Z');
INSERT INTO audit (tenant_id, customer_id, invoice_id, case_id, at, kind, from_state, to_state, stage, outstanding_minor, detail)
  VALUES (:'T', 'cust-E1', 'E1', md5(:'T' || 'E1')::uuid, '2026-05-01T08:00:00.123Z', 'opened', NULL, 'open', 0, 120000,
          '{"policy": "p"}'),
         (:'T', 'cust-E1', 'E1', md5(:'T' || 'E1')::uuid, '2026-06-02T09:00Z', 'reminder_emitted', 'open', 'overdue', 1, 120000,
          '{"stage_name": "first_reminder", "template": "first_reminder", "fee_minor": 500, "reminders": [{"channel": "email", "event_id": "00000000-0000-4000-8000-0000000000e1"}]}'),
         (:'T', 'cust-E1', 'E1', md5(:'T' || 'E1')::uuid, '2026-06-02T09:05Z', 'reminder_delivered', 'overdue', 'overdue', 1, 120000,
          '{"channel": "email", "reminder_event_id": "00000000-0000-4000-8000-0000000000e1"}'),
         (:'T', 'cust-E1', 'E1', md5(:'T' || 'E1')::uuid, '2026-06-05T10:00Z', 'paused', 'overdue', 'paused', 1, 120000,
          '{"actor": "user:alice", "until": "2026-06-20"}'),
         (:'X', 'cust-X1', 'X1', md5(:'X' || 'X1')::uuid, '2026-05-01T08:00Z', 'opened', NULL, 'open', 0, 5000, '{}');
INSERT INTO console_notes (case_id, tenant_id, author, at, text)
  VALUES (md5(:'T' || 'E1')::uuid, :'T', 'user:alice', '2026-06-05T10:00Z', 'customer says, "goods never came"'),
         (md5(:'T' || 'E1')::uuid, :'T', 'user:bob', '2026-06-06T11:30Z', '=HYPERLINK("x")');
SQL
E1=$(psql_q "SELECT md5('$T' || 'E1')::uuid") X1=$(psql_q "SELECT md5('$X' || 'X1')::uuid")

start_service console dunning-console DUNNING_CONSOLE_ADDR=127.0.0.1:0 DUNNING_CONSOLE_ADDR_FILE="$WORK/console.addr"
wait_until 10 "console listening" '[ -s "$WORK/console.addr" ]'
URL=http://$(cat "$WORK/console.addr")
PW=correct-horse-battery
U=$$
psql_q "DELETE FROM console_users WHERE login ~ '^(eview|ecolx)-$U\$';
        DELETE FROM console_access_log WHERE login ~ '^(eview|ecolx)-$U\$'" >/dev/null
adduser() { echo "$PW" | "$BIN/dunningctl" user add "$1" --role "$2" --tenants "$3" >/dev/null 2>&1 || fail "user add $1"; }
adduser "eview-$U" viewer "$T"
adduser "ecolx-$U" collector "$X"
VIEW=eview-$U COLX=ecolx-$U
login() {
    curl -s -c "$WORK/$1.jar" -o /dev/null -H 'Content-Type: application/json' \
        -d "$(jq -cn --arg l "$1" --arg p "$PW" '{login: $l, password: $p}')" "$URL/api/login"
}
login "$VIEW"
login "$COLX"
get() { curl -s -b "$WORK/$1.jar" -D "$WORK/headers" -o "$WORK/$3" -w '%{http_code}' "$URL$2"; }

# ---- CSV: byte for byte (CRLF line ends) ----
assert_eq 200 "$(get "$VIEW" "/api/cases/$E1/timeline.csv" e1.csv)" "the viewer exports the CSV"
printf '%s\r\n' \
    'at,source,kind,from_state,to_state,stage,outstanding_minor,actor,detail' \
    '2026-05-01T08:00:00.123Z,audit,opened,,open,0,120000,engine,"{""policy"": ""p""}"' \
    '2026-06-02T09:00:00.000Z,audit,reminder_emitted,open,overdue,1,120000,engine,"{""template"": ""first_reminder"", ""fee_minor"": 500, ""reminders"": [{""channel"": ""email"", ""event_id"": ""00000000-0000-4000-8000-0000000000e1""}], ""stage_name"": ""first_reminder""}"' \
    '2026-06-02T09:05:00.000Z,audit,reminder_delivered,overdue,overdue,1,120000,engine,"{""channel"": ""email"", ""reminder_event_id"": ""00000000-0000-4000-8000-0000000000e1""}"' \
    '2026-06-05T10:00:00.000Z,audit,paused,overdue,paused,1,120000,user:alice,"{""actor"": ""user:alice"", ""until"": ""2026-06-20""}"' \
    '2026-06-05T10:00:00.000Z,note,note,,,,,user:alice,"{""text"": ""customer says, \""goods never came\""""}"' \
    '2026-06-06T11:30:00.000Z,note,note,,,,,user:bob,"{""text"": ""=HYPERLINK(\""x\"")""}"' >"$WORK/want.csv"
cmp "$WORK/want.csv" "$WORK/e1.csv" || fail "timeline CSV differs: $(diff "$WORK/want.csv" "$WORK/e1.csv" | head -20)"
log "ok: the CSV, byte for byte"
assert_eq "content-disposition: attachment; filename=\"timeline-$E1.csv\"|content-type: text/csv; charset=utf-8" \
    "$(tr -d '\r' <"$WORK/headers" | grep -i '^content-type:\|^content-disposition:' | sed 's/^[^:]*:/\L&/' | sort | paste -sd'|')" \
    "CSV content type and file name"
assert_eq 200 "$(get "$VIEW" "/api/cases/$E1?format=csv" old.csv)" "the older address ?format=csv"
cmp -s "$WORK/e1.csv" "$WORK/old.csv" || fail "?format=csv differs from timeline.csv"

# ---- PDF: its text ----
assert_eq 200 "$(get "$VIEW" "/api/cases/$E1/timeline.pdf" e1.pdf)" "the viewer exports the PDF"
assert_eq "application/pdf" "$(tr -d '\r' <"$WORK/headers" | sed -n 's/^[Cc]ontent-[Tt]ype: //p')" "PDF content type"
assert_eq "%PDF-" "$(head -c5 "$WORK/e1.pdf")" "a PDF"
assert_eq "1" "$(pdfinfo "$WORK/e1.pdf" | sed -n 's/^Pages: *//p')" "one page"
pdftotext -raw "$WORK/e1.pdf" "$WORK/e1.txt"
text=$(tr -s ' \n' ' ' <"$WORK/e1.txt")
for want in "Case timeline: invoice E1" "Tenant $T" "Invoice E1" "Invoice number N-E1" "Customer id cust-E1" \
    "Case id $E1" "Generated at 2026-06-10 12:00:00 UTC" "Generated by $VIEW" "Entries 6" \
    "Time (UTC) Event State Actor Detail" \
    "2026-05-01T08:00:00.123Z opened (stage 0) open engine {\"policy\": \"p\"}" \
    "2026-06-02T09:05:00.000Z reminder_delivered (stage 1) overdue engine {\"channel\": \"email\", \"reminder_event_id\": \"00000000-0000-4000-8000-0000000000e1\"}" \
    "2026-06-05T10:00:00.000Z paused (stage 1) overdue -> paused user:alice {\"actor\": \"user:alice\", \"until\": \"2026-06-20\"}" \
    "2026-06-05T10:00:00.000Z note user:alice {\"text\": \"customer says, \\\"goods never came\\\"\"}" \
    "2026-06-06T11:30:00.000Z note user:bob {\"text\": \"=HYPERLINK(\\\"x\\\")\"}" \
    "generated 2026-06-10 12:00:00 UTC by $VIEW" "Page 1"; do
    [[ $text == *"$want"* ]] || fail "the PDF's text lacks '$want': $text"
done
log "ok: the PDF's header and entries"
[[ $text != *"X1"* ]] || fail "the other tenant's case in the PDF"

# ---- scope and the access log ----
assert_eq 404 "$(get "$COLX" "/api/cases/$E1/timeline.pdf" x.pdf)" "another tenant's case: 404"
assert_eq 404 "$(get "$COLX" "/api/cases/$E1/timeline.csv" x.csv)" "another tenant's case (CSV): 404"
assert_eq 404 "$(get "$COLX" "/api/cases/not-a-case/timeline.pdf" x.pdf)" "not a case id: 404"
assert_eq 200 "$(get "$COLX" "/api/cases/$X1/timeline.csv" x1.csv)" "the other tenant's own case"
assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/cases/$E1/timeline.pdf")" "no session: 401"
assert_eq "export csv $E1 E1 6 GET /api/cases/$E1/timeline.csv
export csv $E1 E1 6 GET /api/cases/$E1
export pdf $E1 E1 6 GET /api/cases/$E1/timeline.pdf" \
    "$(psql_q "SELECT kind || ' ' || (detail->>'format') || ' ' || (detail->>'case_id') || ' ' || (detail->>'invoice_id') || ' ' ||
        (detail->>'entries') || ' ' || method || ' ' || path FROM console_access_log WHERE login = '$VIEW' AND kind = 'export' ORDER BY id")" \
    "every export in the access log: who, what, which format"
assert_eq "$T" "$(psql_q "SELECT DISTINCT detail->>'tenant_id' FROM console_access_log WHERE login = '$VIEW' AND kind = 'export'")" \
    "the export's tenant"
assert_eq 1 "$(psql_q "SELECT count(*) FROM console_access_log WHERE login = '$COLX' AND kind = 'export'")" \
    "a refused export is not an export"
log "PASS"
