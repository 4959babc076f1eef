#!/usr/bin/env bash
# Template fallback: the tenant's own templates first (customer locale, its language, the
# tenant's default locale), then the default templates (same, then English). A tenant's
# folder can also give its own From and Reply-To.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
TPL=$WORK/templates
cp -r "$ROOT/config/templates" "$TPL"
mkdir -p "$TPL/$TENANT"
echo de >"$TPL/$TENANT/default_locale"
echo 'Acme Forderungen <forderungen@acme.example>' >"$TPL/$TENANT/email.from"
echo 'Acme Buchhaltung <buchhaltung@acme.example>' >"$TPL/$TENANT/email.reply_to"
echo 'Mahnung des Mandanten: {{invoice.number}}' >"$TPL/$TENANT/first_reminder.email.de.subject"
echo 'Hallo {{customer.name}}, bitte zahlen Sie {{amounts.total_due}}.' >"$TPL/$TENANT/first_reminder.email.de.txt"
echo '<p>Hallo {{customer.name}}, bitte zahlen Sie {{amounts.total_due}}.</p>' >"$TPL/$TENANT/first_reminder.email.de.html"
start_service engine dunning-engine
start_service sender sender-email DUNNING_TEMPLATE_DIR="$TPL"
OTHER="$TENANT-other"
with_locale() { jq -c --arg l "$1" '.contact.locale = $l'; }
{
    invoice_json T1 c1 1000 2026-03-02 t1@example.com | with_locale de-AT # tenant folder, de
    invoice_json T2 c2 1000 2026-03-02 t2@example.com | with_locale fr    # tenant folder, tenant default de
    invoice_json O1 c3 1000 2026-03-02 o1@example.com | with_locale de-AT | jq -c --arg t "$OTHER" '.tenant_id = $t'
    invoice_json O2 c4 1000 2026-03-02 o2@example.com | with_locale fr | jq -c --arg t "$OTHER" '.tenant_id = $t'
} | publish invoice-issued
wait_eq 30 "four cases" 4 psql_q "SELECT count(*) FROM cases WHERE tenant_id IN ('$TENANT', '$OTHER')"
clock_set 2026-03-04T09:00:00Z
wait_eq 30 "four mails" 4 eval 'ls "$DUNNING_MAIL_DIR"/*.eml 2>/dev/null | wc -l'

subject_to() { grep -l -i "^To: .*$1" "$DUNNING_MAIL_DIR"/*.eml | xargs grep -h '^Subject:' | cut -c10- | tr -d '\r'; }
assert_eq "Mahnung des Mandanten: N-T1" "$(subject_to t1@example.com)" "de-AT customer of the tenant: tenant's de"
assert_eq "Mahnung des Mandanten: N-T2" "$(subject_to t2@example.com)" "fr customer of the tenant: tenant's default locale"
assert_eq "Zahlungserinnerung: Rechnung N-O1" "$(subject_to o1@example.com)" "de-AT customer of another tenant: default de"
assert_eq "Payment reminder: invoice N-O2" "$(subject_to o2@example.com)" "fr customer of another tenant: default en"
grep -q "bitte zahlen Sie" "$(grep -l -i '^To: .*t1@example.com' "$DUNNING_MAIL_DIR"/*.eml)" || fail "T1's body is not the tenant's"
assert_eq "default/first_reminder.email.en $TENANT/first_reminder.email.de" \
    "$(grep -o '"template":"[^"]*"' "$WORK/sender.log" | cut -d'"' -f4 | sort -u | grep -E "^($TENANT/first_reminder.email.de|default/first_reminder.email.en)$" | tr '\n' ' ' | sed 's/ $//')" \
    "templates named in the sender's log"
header_of() { grep -l -i "^To: .*$1" "$DUNNING_MAIL_DIR"/*.eml | xargs grep -h "^$2:" | cut -d' ' -f2- | tr -d '\r'; }
assert_eq "Acme Forderungen <forderungen@acme.example>" "$(header_of t1@example.com From)" "the tenant's From"
assert_eq "Acme Buchhaltung <buchhaltung@acme.example>" "$(header_of t1@example.com Reply-To)" "the tenant's Reply-To"
assert_eq "" "$(header_of o1@example.com Reply-To)" "no Reply-To for the other tenant"
[ -n "$(header_of o1@example.com From)" ] && [ "$(header_of o1@example.com From)" != "$(header_of t1@example.com From)" ] ||
    fail "the other tenant should have the default From"
log "PASS"
