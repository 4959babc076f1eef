#!/usr/bin/env bash
# Least-privilege database roles (sql/003_roles.sql): the engine runs as a member of
# dunning_engine, the three senders as members of dunning_sender, dunningctl's read commands
# as a member of dunning_reader, while the stack's owner role keeps the migrations. Under
# those roles whole cases run: a payment, a failed card charge and a dispute held before
# their invoices are applied when the invoices arrive (retry requests follow), and a
# four-stage case sends four e-mails, one SMS and one letter, with no "permission denied"
# anywhere. Then each role is refused what it must not do: DROP, TRUNCATE, ALTER, CREATE,
# DELETE of cases, writes to the other services' tables.
source "$(dirname "$0")/lib.sh"
[ -n "${DUNNING_KANNEL_URL:-}" ] || fail "the stack runs no Kannel (scripts/stack restart)"
reset_state
clock_start 2026-03-01T08:00:00Z 0

# Login roles of this test, members of the group roles (the stack trusts loopback, so no
# passwords here; production sets them, docs/deploy.md).
psql_q "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sec_engine') THEN CREATE ROLE sec_engine LOGIN IN ROLE dunning_engine; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sec_sender') THEN CREATE ROLE sec_sender LOGIN IN ROLE dunning_sender; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sec_reader') THEN CREATE ROLE sec_reader LOGIN IN ROLE dunning_reader; END IF;
END \$\$" >/dev/null
as_role() { sed "s|://[^@/]*@|://$1@|" <<<"$DUNNING_PG_DSN"; }
ENGINE_DSN=$(as_role sec_engine) SENDER_DSN=$(as_role sec_sender) READER_DSN=$(as_role sec_reader)
assert_eq "sec_engine f f" "$(psql "$ENGINE_DSN" -qAt -F' ' -c "SELECT current_user, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user")" \
    "the engine's role (no superuser, no CREATEROLE)"

SPOOL=$WORK/spool
start_service engine dunning-engine DUNNING_PG_DSN="$ENGINE_DSN"
start_service email sender-email DUNNING_PG_DSN="$SENDER_DSN"
start_service sms sender-sms DUNNING_PG_DSN="$SENDER_DSN"
start_service letter sender-letter DUNNING_PG_DSN="$SENDER_DSN" DUNNING_LETTER_SPOOL_DIR="$SPOOL"

# Before their invoices: P's full payment (held, then settles P on arrival), a failed card
# charge of K and a dispute of Q (held events, replayed on arrival). W: four stages.
payment_json pay-p P cust-p 5000 | publish payment-received
failed_json ch-k K cust-k 5000 insufficient_funds | publish payment-failed
command_json Q cust-q pause dispute | publish case-commands
wait_eq 20 "the payment held" 1 psql_q "SELECT count(*) FROM payments WHERE tenant_id = '$TENANT' AND NOT applied"
wait_eq 20 "two events held" 2 audit_count event_held
{
    invoice_json P cust-p 5000 2026-03-10 p@example.com
    invoice_json K cust-k 5000 2026-04-30 k@example.com | with_policy card
    invoice_json Q cust-q 5000 2026-03-10 q@example.com | with_policy far
    invoice_json W cust-w 100000 2026-03-10 w@example.com | with_policy four_stage | reachable_everywhere
} | publish invoice-issued
wait_eq 30 "P settled on arrival, K retrying, Q paused, W open" "K:retrying P:resolved Q:paused W:open" cases_summary
assert_eq 0 "$(psql_q "SELECT count(*) FROM held_events WHERE tenant_id = '$TENANT'")" "held events left"

step 2026-03-08T08:00:00Z # friendly reminder (e-mail)
step 2026-03-12T08:00:00Z # first reminder (e-mail)
step 2026-03-17T08:00:00Z # second reminder (e-mail + SMS)
step 2026-03-24T08:00:00Z # final notice (e-mail + letter)
deliveries() {
    psql_q "SELECT coalesce(string_agg(channel || ':' || n, ' ' ORDER BY channel), '') FROM (SELECT channel, count(*) AS n
            FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = 'W' AND status = 'delivered' GROUP BY channel) d"
}
wait_eq 30 "every reminder of W delivered" "email:4 letter:1 sms:1" deliveries
assert_eq 3 "$(consume_tenant payment-retry-due | jq -r 'select(.invoice_id == "K") | .attempt' | wc -l)" \
    "K's retry requests (card policy: 1, 3 and 5 days after the failure)"
wait_eq 20 "the senders' outbox drained" 0 outbox_empty
assert_eq "W:final_notice" "$(psql "$READER_DSN" -qAt -c "SELECT invoice_id || ':' || state FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = 'W'")" \
    "the reader role reads cases"
assert_eq "W final_notice 4 4" "$(DUNNING_PG_DSN="$READER_DSN" "$BIN/dunningctl" case show W --tenant "$TENANT" --json |
    jq -r '[.case.invoice_id, .case.state, .case.stage, ([.deliveries[] | select(.channel == "email")] | length)] | join(" ")')" \
    "dunningctl case show as the reader role (case and its e-mail deliveries)"
grep -il "permission denied\|must be owner" "$WORK"/*.log && fail "a service was refused by PostgreSQL"
log "ok: no service was refused a privilege"

# What each role must not do. refused ROLE_DSN SQL: the statement fails with a privilege error.
refused() {
    local out
    if out=$(psql "$1" -v ON_ERROR_STOP=1 -qAt -c "$2" 2>&1); then
        fail "allowed: $2 (as $(sed 's|.*://\([^@]*\)@.*|\1|' <<<"$1"))"
    fi
    grep -qE "permission denied|must be owner" <<<"$out" || fail "'$2' failed, but not for lack of a privilege: $out"
}
n=0
for dsn in "$ENGINE_DSN" "$SENDER_DSN" "$READER_DSN"; do
    for sql in "DROP TABLE cases" "TRUNCATE cases" "TRUNCATE deliveries, outbox" "DELETE FROM cases" \
        "ALTER TABLE cases ADD COLUMN x int" "CREATE TABLE evil (x int)" "DROP TABLE schema_migrations" \
        "DELETE FROM schema_migrations" "DELETE FROM audit" "UPDATE audit SET kind = 'x'"; do
        refused "$dsn" "$sql"
        n=$((n + 1))
    done
done
refused "$ENGINE_DSN" "UPDATE deliveries SET status = 'x'"
refused "$SENDER_DSN" "UPDATE cases SET state = 'resolved'"
refused "$SENDER_DSN" "INSERT INTO audit (tenant_id, at, kind) VALUES ('x', now(), 'x')"
refused "$SENDER_DSN" "SELECT count(*) FROM invoices"
refused "$READER_DSN" "INSERT INTO outbox (event_id, topic, key, payload) VALUES (gen_random_uuid(), 't', 'k', '')"
refused "$READER_DSN" "UPDATE cases SET state = 'resolved'"
log "ok: $((n + 6)) forbidden statements refused"
assert_eq 1 "$(psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = 'W'")" "W's case still there"
