#!/usr/bin/env bash
# `dunningctl customer erase TENANT CUSTOMER` (GDPR erasure, docs/privacy.md): afterwards
# no trace of the customer's name, e-mail, phone or address is left anywhere in PostgreSQL
# (a full pg_dump, and inside the binary Avro columns), the audit trail is all still there
# plus one contact_erased row, another customer's data is untouched, --dry-run changes
# nothing, a second run changes nothing, a reminder already on its topic is not delivered,
# and the open case's next stage finds no channel (undeliverable) instead of a contact.
source "$(dirname "$0")/lib.sh"
[ -n "${DUNNING_KANNEL_URL:-}" ] && [ -f "${DUNNING_SMS_LOG:-}" ] || fail "the stack runs no Kannel (scripts/stack restart)"
reset_state
clock_start 2026-03-02T00:00:00Z 0
NAME="Erika Mustermann-Löschmich"
EMAIL=reject-erika.$$@example.com # the capture sink answers 550 for reject*@: the e-mail fails
PHONE=+4915$(printf '%09d' $(($$ % 1000000000)))
STREET="Vergessenstraße 77"
SMS_START=$(wc -l <"$DUNNING_SMS_LOG")
start_service engine dunning-engine
start_service email sender-email

erika() {
    invoice_json "$1" cust-e 7000 2026-03-03 "$EMAIL" | jq -c --arg n "$NAME" --arg p "$PHONE" --arg s "$STREET" \
        '.contact.name = $n | .contact.phone = $p |
         .contact.address = {line1: $s, postal_code: "10115", city: "Berlin", country: "DE"}'
}
{
    erika E1
    erika E2 | with_policy far
    invoice_json K1 cust-k 5000 2026-03-03 keep@example.com | jq -c '.contact.name = "Karl Keepme"'
} | publish invoice-issued
wait_eq 30 "three open cases" "E1:open E2:open K1:open" cases_summary
step 2026-03-05T08:00:00Z # stage 1: e-mail; E1's bounces and falls back to SMS (no SMS sender runs yet)
wait_eq 30 "E1: e-mail failed, the stage went to SMS" \
    "opened reminder_emitted reminder_failed_permanent reminder_fallback" audit_trail E1
wait_eq 30 "K1: delivered" "opened reminder_emitted reminder_delivered" audit_trail K1
wait_eq 20 "outbox drained" 0 outbox_empty
# A relay that quotes the address in its answer (the capture sink does not): a second,
# later failure of the same e-mail, and the same text in the delivery's error.
email_e1=$(consume_tenant reminder-due.email | jq -r 'select(.invoice_id == "E1") | .event_id')
consume_tenant reminder-outcomes | jq -c --arg e "$(cat /proc/sys/kernel/random/uuid)" --arg a "$EMAIL" \
    'select(.invoice_id == "E1") | .event_id = $e | .attempt = 2 | .reason = ("smtp 550 5.1.1 <" + $a + ">: unknown")' |
    publish reminder-outcomes
wait_eq 20 "the quoting outcome recorded" 2 audit_count reminder_failed_permanent
psql_q "UPDATE deliveries SET last_error = 'smtp 550 5.1.1 <$EMAIL>: unknown' WHERE event_id = '$email_e1'" >/dev/null
# A reminder the engine wrote but no relay published yet (as if the engine had stopped right
# after its commit): its outbox row and its audit row, written together as the engine does.
stop_service engine
stop_service email
rd=$(consume_tenant reminder-due.email | jq -c 'select(.invoice_id == "E1")' |
    jq -c --arg e "$(cat /proc/sys/kernel/random/uuid)" '.event_id = $e | .channel = "letter"')
hex=$("$BIN/dunningctl" encode ReminderDue <<<"$rd")
psql_q "INSERT INTO outbox (event_id, topic, key, payload) VALUES ('$(jq -r .event_id <<<"$rd")', 'reminder-due.letter',
        '$TENANT/cust-e', decode('$hex', 'hex'));
        INSERT INTO audit (tenant_id, customer_id, invoice_id, case_id, at, kind, stage, detail)
        SELECT tenant_id, customer_id, invoice_id, case_id, now(), 'reminder_fallback', 1,
               jsonb_build_object('reminders', jsonb_build_array(jsonb_build_object('channel', 'letter',
                                  'event_id', '$(jq -r .event_id <<<"$rd")')))
        FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = 'E1'" >/dev/null

# Their payment behaviour (the risk score's inputs): Erika's row goes with the erasure, Karl's stays.
psql_q "INSERT INTO customer_behaviour (tenant_id, customer_id, invoices, paid_on_time, promises_broken)
        VALUES ('$TENANT', 'cust-e', 3, 1, 2), ('$TENANT', 'cust-k', 4, 4, 0)
        ON CONFLICT (tenant_id, customer_id) DO UPDATE SET invoices = EXCLUDED.invoices" >/dev/null
behaviour() { psql_q "SELECT coalesce(string_agg(customer_id, ' ' ORDER BY customer_id), '') FROM customer_behaviour WHERE tenant_id = '$TENANT'"; }
# A collector's notes in the console (free text naming the customer): Erika's go, Karl's stay.
psql_q "INSERT INTO console_notes (case_id, tenant_id, author, text)
        SELECT case_id, tenant_id, 'user:col', 'called ' || CASE invoice_id WHEN 'K1' THEN 'Karl' ELSE '$NAME' END
        FROM cases WHERE tenant_id = '$TENANT' AND invoice_id IN ('E1', 'K1')" >/dev/null
notes() { psql_q "SELECT coalesce(string_agg(c.invoice_id || ':' || n.text, ' ' ORDER BY c.invoice_id), '') FROM console_notes n JOIN cases c USING (case_id) WHERE c.tenant_id = '$TENANT'"; }

# traces: how often each contact value of Erika appears in the whole database (pg_dump, and
# inside the bytea columns, where pg_dump shows hex).
traces() {
    local dump
    dump=$(pg_dump --data-only "$DUNNING_PG_DSN")
    for v in "$NAME" "$EMAIL" "$PHONE" "$STREET" "Erika"; do
        local n b
        n=$(grep -cF -- "$v" <<<"$dump" || true)
        b=$(psql "$DUNNING_PG_DSN" -qAt -v v="$v" <<'EOF'
SELECT (SELECT count(*) FROM invoices WHERE position(convert_to(:'v', 'UTF8') IN source) > 0)
     + (SELECT count(*) FROM outbox WHERE position(convert_to(:'v', 'UTF8') IN payload) > 0)
     + (SELECT count(*) FROM held_events WHERE position(convert_to(:'v', 'UTF8') IN payload) > 0)
EOF
        )
        printf '%s ' "$((n + b))"
    done
}
before=$(traces)
log "traces of Erika before the erasure (name email phone street 'Erika'): $before"
[ "$before" != "0 0 0 0 0 " ] || fail "nothing to erase: the test set-up is wrong"
audit_before=$(psql_q "SELECT string_agg(id || ':' || kind, ' ' ORDER BY id) FROM audit WHERE tenant_id = '$TENANT'")

# The erasure runs as a member of dunning_privacy (sql/004_erasure.sql), not as the owner.
psql_q "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'erase_dpo') THEN CREATE ROLE erase_dpo LOGIN IN ROLE dunning_privacy; END IF;
END \$\$" >/dev/null
DPO_DSN=$(sed "s|://[^@/]*@|://erase_dpo@|" <<<"$DUNNING_PG_DSN")
erase() { DUNNING_PG_DSN=$DPO_DSN "$BIN/dunningctl" customer erase "$@"; }
# --dry-run: says what it would do, changes nothing.
out=$(erase "$TENANT" cust-e --dry-run)
assert_eq "would erase customer cust-e of tenant $TENANT: 2 invoices, 1 outbox record, 2 reminders suppressed, 1 audit row and 1 delivery scrubbed" \
    "$out" "dry run"
assert_eq "cust-e cust-k" "$(behaviour)" "customer behaviour after the dry run"
assert_eq "$before" "$(traces)" "traces after the dry run"

out=$(erase "$TENANT" cust-e --actor dpo@tenant)
assert_eq "erased customer cust-e of tenant $TENANT: 2 invoices, 1 outbox record, 2 reminders suppressed, 1 audit row and 1 delivery scrubbed" \
    "$out" "erasure"
assert_eq "0 0 0 0 0 " "$(traces)" "traces of Erika after the erasure (name email phone street 'Erika')"
# The audit trail: every row still there, in order, plus the erasure's own row.
assert_eq "$audit_before $(psql_q "SELECT max(id) FROM audit")" \
    "$(psql_q "SELECT string_agg(id || ':' || kind, ' ' ORDER BY id) FROM audit WHERE tenant_id = '$TENANT'" |
        sed -E 's/:contact_erased$//')" "audit rows kept, one added"
assert_eq 'cust-e|dpo@tenant|2|1|2|1|1' \
    "$(psql_q "SELECT customer_id || '|' || (detail->>'actor') || '|' || (detail->>'invoices') || '|' || (detail->>'outbox_records')
               || '|' || (detail->>'reminders_suppressed') || '|' || (detail->>'audit_rows_scrubbed') || '|'
               || (detail->>'deliveries_scrubbed') FROM audit WHERE tenant_id = '$TENANT' AND kind = 'contact_erased'")" \
    "the erasure's audit row"
assert_eq "smtp 550 5.1.1 <[erased]>: unknown" \
    "$(psql_q "SELECT detail->>'reason' FROM audit WHERE tenant_id = '$TENANT' AND kind = 'reminder_failed_permanent' ORDER BY id DESC LIMIT 1")" \
    "the quoted address cut out of the audit detail"
assert_eq '{"name": "erased", "email": null, "phone": null, "locale": "en", "address": null, "time_zone": "Europe/Berlin", "opted_out_channels": []}' \
    "$(psql_q "SELECT contact FROM invoices WHERE tenant_id = '$TENANT' AND invoice_id = 'E1'")" "E1's contact now"
assert_eq "cust-k" "$(behaviour)" "customer behaviour after the erasure (Erika's deleted, Karl's kept)"
assert_eq "K1:called Karl" "$(notes)" "console notes after the erasure (Erika's deleted, Karl's kept)"
assert_eq 1 "$(psql_q "SELECT detail->>'console_notes_deleted' FROM audit WHERE tenant_id = '$TENANT' AND kind = 'contact_erased'")" \
    "console notes deleted, in the erasure's audit row"
assert_eq 1 "$(psql_q "SELECT detail->>'behaviour_rows_deleted' FROM audit WHERE tenant_id = '$TENANT' AND kind = 'contact_erased'")" \
    "behaviour rows deleted, in the erasure's audit row"
# The cases, amounts and the other customer are untouched.
assert_eq "E1:overdue E2:open K1:overdue" "$(cases_summary)" "cases"
assert_eq '{"name": "Karl Keepme", "email": "keep@example.com", "phone": null, "locale": "en", "address": null, "time_zone": "Europe/Berlin", "opted_out_channels": []}' \
    "$(psql_q "SELECT contact FROM invoices WHERE tenant_id = '$TENANT' AND invoice_id = 'K1'")" "K1's contact"

# Idempotent: a second run finds nothing and writes nothing.
assert_eq "erased customer cust-e of tenant $TENANT: 0 invoices, 0 outbox records, 0 reminders suppressed, 0 audit rows and 0 deliveries scrubbed (nothing left to erase)" \
    "$(erase "$TENANT" cust-e)" "second erasure"
assert_eq 1 "$(audit_count contact_erased)" "contact_erased rows after two runs"
# The role rewrites details only: the trail itself can be neither changed nor deleted.
for sql in "DELETE FROM audit WHERE tenant_id = '$TENANT'" "UPDATE audit SET kind = 'x' WHERE tenant_id = '$TENANT'" \
    "DELETE FROM invoices WHERE tenant_id = '$TENANT'" "TRUNCATE deliveries"; do
    err=$(psql "$DPO_DSN" -v ON_ERROR_STOP=1 -qAt -c "$sql" 2>&1) && fail "dunning_privacy may: $sql"
    grep -q "permission denied" <<<"$err" || fail "$sql: $err"
done
log "ok: dunning_privacy may not delete or change the audit trail, delete invoices, truncate"

# The SMS already on its topic (the original contact inside) is not sent: its delivery is
# suppressed. The letter in the outbox goes out with the erased contact and is skipped too.
start_service engine dunning-engine
start_service sms sender-sms DUNNING_SMS_FROM=Dunning
start_service email sender-email
wait_eq 20 "outbox drained" 0 outbox_empty
sms_e1=$(consume_tenant reminder-due.sms | jq -r 'select(.invoice_id == "E1") | .event_id')
wait_until 30 "the SMS sender skipped Erika's reminder" \
    'grep "reminder already handled, skipped" "$WORK/sms.log" | grep -q "$sms_e1"'
assert_eq "letter:suppressed:contact data erased sms:suppressed:contact data erased" \
    "$(psql_q "SELECT string_agg(channel || ':' || status || ':' || coalesce(last_error, ''), ' ' ORDER BY channel)
               FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = 'E1' AND channel <> 'email'")" \
    "E1's SMS and letter deliveries"
assert_eq 0 "$(tail -n +$((SMS_START + 1)) "$DUNNING_SMS_LOG" | grep -c -- "${PHONE#+}" || true)" "SMS sent to Erika's phone"

# The open case goes on: its next stage finds no channel that reaches the customer.
step 2026-03-08T08:00:00Z # stage 2 of two_step (due + 5 days)
wait_eq 30 "E1's second stage is undeliverable" "reminder_undeliverable" \
    psql_q "SELECT kind FROM audit WHERE tenant_id = '$TENANT' AND invoice_id = 'E1' AND stage = 2 ORDER BY id LIMIT 1"
assert_eq 0 "$(consume_tenant reminder-due.email | jq -r 'select(.invoice_id == "E1" and .stage == 2)' | wc -l)" \
    "stage-2 e-mails for E1"
assert_eq "0 0 0 0 0 " "$(traces)" "traces of Erika at the end"
log "PASS"
