#!/usr/bin/env bash
# What was sent, in the console's case view (docs/console.md#what-was-sent): a stage on
# e-mail and letter fires for S1; the case view lists both reminders with the e-mail's
# subject and text as the customer got them (the same as the mail SMTP captured) and the
# template file, and serves the letter's PDF byte for byte from sender-letter's spool; a
# call's WAV from the voice sender's folder (a voice reminder of S2 whose delivery row and
# file are written here: no SIP peer in this test). Nothing is reachable from another case
# or tenant by guessing ids (404), each file fetched is in the access log, and the erasure
# of the customer deletes the kept texts.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-06-01T08:00:00Z 0
export DUNNING_POLICY_FILE=$WORK/policy.yaml
cat >"$DUNNING_POLICY_FILE" <<'YAML'
tenants:
  default:
    default_policy: p
    policies:
      p:
        stages:
          - {name: first_reminder, offset: 2d, channels: [email, letter], template: first_reminder}
          - {name: second_reminder, offset: 30d, channels: [email], template: second_reminder}
YAML
export DUNNING_LETTER_SPOOL_DIR=$WORK/spool DUNNING_VOICE_AUDIO_DIR=$WORK/voice
mkdir -p "$DUNNING_VOICE_AUDIO_DIR"
start_service engine dunning-engine
start_service email sender-email
start_service letter sender-letter
start_service console dunning-console DUNNING_CONSOLE_ADDR=127.0.0.1:0 DUNNING_CONSOLE_ADDR_FILE="$WORK/console.addr"
wait_until 10 "console listening" '[ -s "$WORK/console.addr" ]'
URL=http://$(cat "$WORK/console.addr")
TB=$TENANT-b
PW=correct-horse-battery
U=$$
psql_q "DELETE FROM console_users WHERE login ~ '^(sview|scolb)-$U\$';
        DELETE FROM console_access_log WHERE login ~ '^(sview|scolb)-$U\$'" >/dev/null
adduser() { echo "$PW" | "$BIN/dunningctl" user add "$1" --role "$2" --tenants "$3" >/dev/null 2>&1 || fail "user add $1"; }
adduser "sview-$U" viewer "$TENANT"
adduser "scolb-$U" collector "$TB"
VIEW=sview-$U COLB=scolb-$U
for u in "$VIEW" "$COLB"; do
    curl -s -c "$WORK/$u.jar" -o /dev/null -H 'Content-Type: application/json' \
        -d "$(jq -cn --arg l "$u" --arg p "$PW" '{login: $l, password: $p}')" "$URL/api/login"
done
get() { curl -s -b "$WORK/$1.jar" -o "$WORK/$3" -w '%{http_code}' "$URL$2"; }

invoice_json S1 cust-S1 120000 2026-05-20 S1@example.com | reachable_everywhere | publish invoice-issued
invoice_json S2 cust-S2 50000 2026-07-01 S2@example.com | publish invoice-issued
wait_eq 30 "two cases" 2 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'"
wait_eq 30 "S1's e-mail and letter delivered" "email:delivered letter:delivered" psql_q \
    "SELECT string_agg(channel || ':' || status, ' ' ORDER BY channel) FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = 'S1'"
case_id() { psql_q "SELECT case_id FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = '$1'"; }
S1=$(case_id S1) S2=$(case_id S2)
MAIL=$(psql_q "SELECT event_id FROM deliveries WHERE invoice_id = 'S1' AND tenant_id = '$TENANT' AND channel = 'email'")
LETTER=$(psql_q "SELECT event_id FROM deliveries WHERE invoice_id = 'S1' AND tenant_id = '$TENANT' AND channel = 'letter'")

# ---- the e-mail: what the customer got ----
assert_eq 200 "$(get "$VIEW" "/api/cases/$S1" s1.json)" "the case view"
assert_eq "email:$MAIL letter:$LETTER" \
    "$(jq -r '[.deliveries[] | "\(.channel):\(.event_id)"] | sort | join(" ")' "$WORK/s1.json")" "both reminders listed"
assert_eq "$(mail_part S1@example.com subject)" \
    "$(jq -r '.deliveries[] | select(.channel == "email") | .subject' "$WORK/s1.json")" "the subject as sent"
mail_part S1@example.com text >"$WORK/mail.txt"
jq -j '.deliveries[] | select(.channel == "email") | .body' "$WORK/s1.json" >"$WORK/kept.txt"
cmp "$WORK/mail.txt" "$WORK/kept.txt" || fail "the kept text differs from the mail: $(diff "$WORK/mail.txt" "$WORK/kept.txt" | head)"
log "ok: the text as sent, the same as the captured mail's"
grep -q "N-S1" "$WORK/kept.txt" || fail "the kept text does not name the invoice: $(head -5 "$WORK/kept.txt")"
assert_eq "default/first_reminder.email.en null" \
    "$(jq -r '.deliveries[] | select(.channel == "email") | "\(.template) \(.body | test("@example.com"))"' "$WORK/s1.json" | sed 's/ false$/ null/')" \
    "the template named; the address not in the text"
assert_eq "null" "$(jq -r '.deliveries[] | select(.channel == "letter") | .body' "$WORK/s1.json")" \
    "the letter has its PDF, not a kept text"

# ---- the letter's PDF, from the spool ----
assert_eq 200 "$(get "$VIEW" "/api/cases/$S1/sent/$LETTER/letter.pdf" letter.pdf)" "the letter's PDF"
cmp "$DUNNING_LETTER_SPOOL_DIR/letter-$LETTER.pdf" "$WORK/letter.pdf" || fail "the PDF served is not the spool's"
log "ok: the letter byte for byte as in the spool"
# ---- a call's message ----
VOICE=$(cat /proc/sys/kernel/random/uuid)
psql_q "INSERT INTO deliveries (event_id, channel, tenant_id, invoice_id, case_id, stage, status)
        VALUES ('$VOICE', 'voice', '$TENANT', 'S2', '$S2', 1, 'delivered')" >/dev/null
head -c 4000 /dev/urandom >"$DUNNING_VOICE_AUDIO_DIR/$VOICE.wav"
assert_eq 200 "$(get "$VIEW" "/api/cases/$S2/sent/$VOICE/audio.wav" call.wav)" "the call's message"
cmp "$DUNNING_VOICE_AUDIO_DIR/$VOICE.wav" "$WORK/call.wav" || fail "the WAV served is not the voice folder's"

# ---- nothing by guessing ids ----
assert_eq 404 "$(get "$COLB" "/api/cases/$S1/sent/$LETTER/letter.pdf" x)" "another tenant's collector: 404"
assert_eq 404 "$(get "$COLB" "/api/cases/$S1" x)" "another tenant's case view: 404"
assert_eq '{"error":"no such letter for this case"}' \
    "$(get "$VIEW" "/api/cases/$S2/sent/$LETTER/letter.pdf" x >/dev/null; cat "$WORK/x")" "S1's letter under S2: 404"
assert_eq 404 "$(get "$VIEW" "/api/cases/$S1/sent/$MAIL/letter.pdf" x)" "the e-mail's id as a letter: 404"
assert_eq 404 "$(get "$VIEW" "/api/cases/$S1/sent/$VOICE/audio.wav" x)" "S2's call under S1: 404"
assert_eq 404 "$(get "$VIEW" "/api/cases/$S1/sent/..%2F..%2Fetc%2Fpasswd/letter.pdf" x)" "a path for an id: 404"
rm "$DUNNING_LETTER_SPOOL_DIR/letter-$LETTER.pdf"
assert_eq '404 {"error":"the letter'"'"'s PDF is no longer in the print spool (collected by the print house)"}' \
    "$(get "$VIEW" "/api/cases/$S1/sent/$LETTER/letter.pdf" x) $(cat "$WORK/x")" "a letter collected by the print house"
assert_eq 401 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/cases/$S1/sent/$LETTER/letter.pdf")" "no session: 401"
assert_eq "letter $LETTER
audio $VOICE" "$(psql_q "SELECT (detail->>'export') || ' ' || (detail->>'event_id') FROM console_access_log WHERE login = '$VIEW' AND kind = 'export' ORDER BY id")" \
    "each file fetched in the access log"

# ---- the erasure deletes the kept texts ----
assert_eq 1 "$(psql_q "SELECT count(*) FROM sent_messages WHERE tenant_id = '$TENANT' AND invoice_id = 'S1'")" "S1's e-mail kept"
"$BIN/dunningctl" customer erase "$TENANT" cust-S1 >/dev/null 2>>"$WORK/dunningctl.log" || fail "erase"
assert_eq 0 "$(psql_q "SELECT count(*) FROM sent_messages WHERE tenant_id = '$TENANT' AND invoice_id = 'S1'")" "erased"
assert_eq 1 "$(psql_q "SELECT detail->>'sent_messages_deleted' FROM audit WHERE tenant_id = '$TENANT' AND kind = 'contact_erased'")" \
    "the erasure's count"
log "PASS"
