#!/usr/bin/env bash
# Credentials passed through configuration work, and never show: the engine keeps its timers
# in a redis-server that requires AUTH (redis://:password@), connects to PostgreSQL with a
# password in the DSN and has a (here unused) SASL password for librdkafka; sender-email
# delivers through an SMTP server that requires AUTH (smtp://user:password@); sender-sms
# passes its Kannel password. A case runs (three e-mails, one SMS) and a broken record is
# dead-lettered; then no password appears in any log, dead letter, delivery row, audit row,
# /metrics or /readyz. The failure paths leak nothing either: a wrong Redis password, an
# unsupported rediss:// URL, a DSN libpq cannot parse (it quotes the bad part), an
# unreachable PostgreSQL, a wrong SMTP password (the reminder fails, the error is logged),
# and DUNNING_SMTP_TLS=required against a server without STARTTLS (nothing is sent).
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is not installed (scripts/deps)"
[ -n "${DUNNING_KANNEL_URL:-}" ] || fail "the stack runs no Kannel (scripts/stack restart)"
reset_state
clock_start 2026-03-01T08:00:00Z 0

free_port() {
    local p
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 40000))
        ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
    done
    fail "no free port"
}
REDIS_PW=rpw-$RANDOM$RANDOM-secret PG_PW=pgpw-$RANDOM$RANDOM-secret KAFKA_PW=kpw-$RANDOM$RANDOM-secret
SMTP_PW=spw-$RANDOM$RANDOM-secret WRONG_PW=wrong-$RANDOM$RANDOM-secret
SECRETS=("$REDIS_PW" "$PG_PW" "$KAFKA_PW" "$SMTP_PW" "$WRONG_PW" "$DUNNING_KANNEL_PASSWORD")

# A redis-server of this test that requires AUTH.
# A free port can be taken by a test on another stack before redis binds it: a new one then.
mkdir -p "$WORK/redis"
for _ in 1 2 3 4 5; do
    RPORT=$(free_port)
    redis-server --port "$RPORT" --bind 127.0.0.1 --requirepass "$REDIS_PW" --save '' --appendonly no \
        --dir "$WORK/redis" --logfile "$WORK/redis-server.out" &
    REDIS_PID=$!
    for _ in $(seq 1 50); do
        kill -0 "$REDIS_PID" 2>/dev/null || break
        REDISCLI_AUTH="$REDIS_PW" redis-cli -p "$RPORT" ping 2>/dev/null | grep -q PONG && break 2
        sleep 0.1
    done
    kill "$REDIS_PID" 2>/dev/null || true
done
# An SMTP server of this test that requires AUTH.
SPORT=$(free_port)
mkdir -p "$WORK/mail"
echo "$SMTP_PW" >"$WORK/smtp.pw"
/usr/bin/python3 "$ROOT/tests/integration/test_security_smtp_server.py" --port "$SPORT" --dir "$WORK/mail" \
    --user dunning --password-file "$WORK/smtp.pw" 2>"$WORK/smtp-server.log" &
SMTP_PID=$!
# lib.sh's cleanup (stops the services) runs last, with the test's exit status in $?.
stop_helpers() {
    local rc=$?
    kill "$REDIS_PID" "$SMTP_PID" 2>/dev/null || true
    status() { return "$rc"; }
    status || cleanup
    cleanup
}
trap stop_helpers EXIT
wait_until 10 "the test's redis-server" 'REDISCLI_AUTH="$REDIS_PW" redis-cli -p "$RPORT" ping | grep -q PONG'
wait_until 10 "the test's SMTP server" 'grep -q listening "$WORK/smtp-server.log"'
assert_eq "NOAUTH" "$(redis-cli -p "$RPORT" ping 2>&1 | grep -o NOAUTH)" "redis without the password"

REDIS_URL=redis://:$REDIS_PW@127.0.0.1:$RPORT/0
PG_DSN=$(sed "s|://\([^@/:]*\)@|://\1:$PG_PW@|" <<<"$DUNNING_PG_DSN")
[[ $PG_DSN == *":$PG_PW@"* ]] || fail "could not put a password into $DUNNING_PG_DSN"
SMTP_URL=smtp://dunning:$SMTP_PW@127.0.0.1:$SPORT

start_service engine dunning-engine DUNNING_REDIS_URL="$REDIS_URL" DUNNING_PG_DSN="$PG_DSN" \
    DUNNING_RDKAFKA_sasl_password="$KAFKA_PW" DUNNING_HTTP_ADDR_FILE="$WORK/engine.addr"
start_service email sender-email DUNNING_PG_DSN="$PG_DSN" DUNNING_SMTP_URL="$SMTP_URL" DUNNING_SMTP_TLS=none \
    DUNNING_RDKAFKA_sasl_password="$KAFKA_PW" DUNNING_HTTP_ADDR_FILE="$WORK/email.addr"
start_service sms sender-sms DUNNING_PG_DSN="$PG_DSN" DUNNING_HTTP_ADDR_FILE="$WORK/sms.addr"

DL_BEFORE=$(consume dead-letter | grep -c . || true)
invoice_json W cust-w 100000 2026-03-10 w@example.com | with_policy four_stage | reachable_everywhere |
    publish invoice-issued
echo "00000000630000" | publish --raw invoice-issued # magic 0, schema id 99: dead-lettered
wait_eq 30 "W open" "W:open" cases_summary
step 2026-03-08T08:00:00Z # friendly reminder (e-mail)
step 2026-03-12T08:00:00Z # first reminder (e-mail)
step 2026-03-17T08:00:00Z # second reminder (e-mail + SMS)
deliveries() {
    psql_q "SELECT coalesce(string_agg(channel || ':' || n, ' ' ORDER BY channel), '') FROM (SELECT channel, count(*) AS n
            FROM deliveries WHERE tenant_id = '$TENANT' AND status = 'delivered' GROUP BY channel) d"
}
wait_eq 30 "three e-mails and one SMS delivered" "email:3 sms:1" deliveries
# my_mails: messages the AUTH-only SMTP server accepted for this tenant's reminders.
my_mails() {
    psql_q "SELECT event_id FROM deliveries WHERE tenant_id = '$TENANT' AND channel = 'email'" |
        while read -r id; do grep -lF "<reminder-$id@" "$WORK"/mail/*.eml 2>/dev/null || true; done | wc -l
}
assert_eq 3 "$(my_mails)" "messages the AUTH-only SMTP server accepted"
assert_eq 0 "$(grep -c '"ok": false' "$WORK/smtp-server.log")" "failed SMTP logins"
grep -q '"msg": "auth".*"user": "dunning".*"ok": true' "$WORK/smtp-server.log" || fail "sender-email did not log in"
# The engine's timer index lives in the AUTH-only Redis: W's one pending timer.
assert_eq 1 "$(DUNNING_REDIS_URL="$REDIS_URL" "$BIN/dunningctl" timers stats --json | jq .pending)" \
    "timers in the password-protected redis"
wait_until 20 "the dead letter" '[ "$(consume dead-letter | grep -c .)" -gt "$DL_BEFORE" ]'

# Where secrets must not be: logs, dead letters, database rows, the HTTP endpoints.
for name in engine email sms; do
    addr=$(cat "$WORK/$name.addr")
    curl -s "http://$addr/metrics" >"$WORK/$name.metrics.out"
    curl -s "http://$addr/readyz" >"$WORK/$name.readyz.out"
    [ -s "$WORK/$name.metrics.out" ] || fail "no /metrics from $name"
done
consume dead-letter >"$WORK/dead-letter.out"
grep -q '"error_code"' "$WORK/dead-letter.out" || fail "no dead letter to look into"
psql_q "SELECT * FROM deliveries WHERE tenant_id = '$TENANT'" >"$WORK/deliveries.out"
psql_q "SELECT * FROM audit WHERE tenant_id = '$TENANT'" >"$WORK/audit.out"
no_secret() { # WHAT: no secret in the files of $WORK (logs and captures so far)
    local s
    for s in "${SECRETS[@]}"; do
        if grep -rlF -- "$s" "$WORK"/*.log "$WORK"/*.out 2>/dev/null | grep -v smtp-server.log; then
            fail "a secret appears in $1 (files above)"
        fi
    done
    log "ok: no secret in $1 ($(ls "$WORK"/*.log "$WORK"/*.out | wc -l) files)"
}
no_secret "logs, dead letters, deliveries, audit, /metrics, /readyz"

# Failure paths: each must fail and say nothing secret.
stop_service engine
must_fail() { # NAME ENV=VALUE...: the engine stops at start (within 20 s), output in $WORK/NAME.log
    local name=$1 rc=0
    shift
    env "$@" DUNNING_HTTP_ADDR=127.0.0.1:0 timeout 20 "$BIN/dunning-engine" >"$WORK/$name.log" 2>&1 || rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "$name: the engine did not stop with an error (status $rc)"
    grep -q '"level":"error"' "$WORK/$name.log" || fail "$name: no error logged"
    log "ok: $name: stopped with status $rc: $(grep -o '"detail":"[^"]*"' "$WORK/$name.log" | head -1)"
}
must_fail wrong-redis-password DUNNING_REDIS_URL="redis://:$WRONG_PW@127.0.0.1:$RPORT/0" DUNNING_PG_DSN="$PG_DSN"
must_fail rediss DUNNING_REDIS_URL="rediss://:$REDIS_PW@127.0.0.1:$RPORT/0" DUNNING_PG_DSN="$PG_DSN"
must_fail bad-dsn DUNNING_PG_DSN="$(sed "s|:$PG_PW@|:%zz$PG_PW@|" <<<"$PG_DSN")"
must_fail bad-dsn-query DUNNING_PG_DSN="$PG_DSN?sslmode=$PG_PW"
must_fail pg-unreachable DUNNING_PG_DSN="postgresql://dunning:$PG_PW@127.0.0.1:1/dunning"

# A wrong SMTP password: the final notice's e-mail fails, the error is logged, the password is not.
stop_service email
start_service email2 sender-email DUNNING_PG_DSN="$PG_DSN" DUNNING_SMTP_URL="smtp://dunning:$WRONG_PW@127.0.0.1:$SPORT" \
    DUNNING_SMTP_TLS=none DUNNING_SMTP_RETRIES=0
start_service engine2 dunning-engine DUNNING_REDIS_URL="$REDIS_URL" DUNNING_PG_DSN="$PG_DSN"
step 2026-03-24T08:00:00Z # final notice (e-mail + letter; no letter sender here)
wait_until 30 "the refused login" 'grep -q "\"ok\": false" "$WORK/smtp-server.log"'
wait_until 30 "the failed delivery recorded" \
    '[ "$(psql_q "SELECT count(*) FROM deliveries WHERE tenant_id = '"'$TENANT'"' AND channel = '"'email'"' AND status <> '"'delivered'"'")" = 1 ]'
assert_eq 3 "$(my_mails)" "messages accepted (none with the wrong password)"
stop_service email2
# STARTTLS required, but the server offers none: nothing is sent.
start_service email3 sender-email DUNNING_PG_DSN="$PG_DSN" DUNNING_SMTP_URL="$SMTP_URL" DUNNING_SMTP_TLS=required \
    DUNNING_SMTP_RETRIES=0
failed() {
    psql_q "SELECT status || ' ' || attempts FROM deliveries WHERE tenant_id = '$TENANT' AND channel = 'email' AND status <> 'delivered'"
}
BEFORE=$(failed)
consume_tenant reminder-due.email | jq -c 'select(.stage_name == "final_notice")' | publish reminder-due.email
wait_until 30 "another attempt of the final notice" '[ "$(failed)" != "$BEFORE" ]'
log "the failed delivery, before: $BEFORE, now: $(failed)"
grep -q '"msg":"[^"]*".*[Ss][Ss][Ll]\|STARTTLS\|TLS' "$WORK/email3.log" || fail "no TLS failure logged by sender-email"
log "ok: sender-email refused to send without STARTTLS: $(grep -o '"reason":"[^"]*"\|"detail":"[^"]*"' "$WORK/email3.log" | tail -1)"
assert_eq 3 "$(my_mails)" "messages accepted without STARTTLS"
stop_service email3
stop_service engine2
psql_q "SELECT * FROM deliveries WHERE tenant_id = '$TENANT'" >"$WORK/deliveries.out"
no_secret "the failure paths' logs"
