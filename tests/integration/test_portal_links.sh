#!/usr/bin/env bash
# Portal links in reminders (dn_portal_link, docs/portal.md): sender-email with
# DUNNING_PORTAL_URL and DUNNING_PORTAL_KEYS puts {{portal_link}} in the e-mail's text and
# HTML parts; the link verifies (dunningctl portal verify) for exactly that tenant and
# customer and expires 30 days after the reminder was due; the same reminder sent to two
# customers carries two different links; a changed character, a key taken off the list or
# a key that replaced it under the same id refuse it; after a rotation (new key first, old
# key still listed) old links stay valid and new links are signed by the new key. Without
# DUNNING_PORTAL_URL the mail has no portal paragraph at all; a bad key stops the sender at
# start with a reason and no key material.
source "$(dirname "$0")/lib.sh"
reset_state
clock_start 2026-03-02T08:00:00Z 0
OLD="k1:$(printf 'portal-test-key-one-0123456789ab' | base64)"
NEW="k2:$(printf 'portal-test-key-two-0123456789ab' | base64)"
URL=https://portal.example.com/acme
start_service engine dunning-engine
start_service sender sender-email DUNNING_PORTAL_URL="$URL" DUNNING_PORTAL_KEYS="$OLD"
{
    invoice_json P1 cust-p1 1000 2026-03-02 p1@example.com
    invoice_json P2 cust-p2 2000 2026-03-02 p2@example.com
} | publish invoice-issued
wait_eq 30 "two cases" 2 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'"
clock_set 2026-03-04T09:00:00Z
wait_eq 30 "two mails" 2 eval 'ls "$DUNNING_MAIL_DIR"/*.eml 2>/dev/null | wc -l'

link_in() { grep -o "$URL/p/[A-Za-z0-9._-]*" | head -1; }
L1=$(mail_part p1@example.com text | link_in)
L2=$(mail_part p2@example.com text | link_in)
[ -n "$L1" ] && [ -n "$L2" ] || fail "no portal link in the text parts: '$L1' '$L2'"
assert_eq "$L1" "$(mail_part p1@example.com html | link_in)" "the HTML part's button has the text part's link"
[ "$L1" != "$L2" ] || fail "two customers got the same link"
verify() { DUNNING_PORTAL_KEYS=$1 "$BIN/dunningctl" portal verify "$2" || true; }
assert_eq "{\"valid\":true,\"tenant_id\":\"$TENANT\",\"customer_id\":\"cust-p1\",\"expires_at\":\"2026-04-03T00:00:00.000Z\",\"key_id\":\"k1\"}" \
    "$(verify "$OLD" "$L1")" "P1's link: its tenant and customer, 30 days after the reminder was due (03-04 00:00)"
assert_eq "cust-p2" "$(verify "$OLD" "$L2" | jq -r .customer_id)" "P2's link is P2's"

# Tampering: one character of the payload changed; the old key off the list; another key
# under the same id.
T=${L1##*/p/}
PAY=$(cut -d. -f2 <<<"$T")
FLIP=$( [ "${PAY:5:1}" = A ] && echo B || echo A )
BAD="k1.${PAY:0:5}$FLIP${PAY:6}.$(cut -d. -f3 <<<"$T")"
assert_eq '{"valid":false,"why":"bad_mac"}' "$(verify "$OLD" "$BAD")" "a changed character"
assert_eq '{"valid":false,"why":"unknown_key"}' "$(verify "$NEW" "$L1")" "a key taken off the list revokes its links"
assert_eq '{"valid":false,"why":"bad_mac"}' "$(verify "k1:${NEW#k2:}" "$L1")" "another key under the same id"

# Rotation: the new key signs, the old one still verifies.
stop_service sender
rm -f "$DUNNING_MAIL_DIR"/*.eml
start_service sender sender-email DUNNING_PORTAL_URL="$URL" DUNNING_PORTAL_KEYS="$NEW,$OLD"
invoice_json P3 cust-p3 3000 2026-03-05 p3@example.com | publish invoice-issued
wait_eq 30 "P3's case" 1 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = 'P3'"
clock_set 2026-03-07T09:00:00Z
wait_eq 30 "P3's mail" 1 mail_count_to p3@example.com
L3=$(mail_part p3@example.com text | link_in)
assert_eq "k2|cust-p3" "$(verify "$NEW,$OLD" "$L3" | jq -r '.key_id + "|" + .customer_id')" "a new link is signed by the new key"
assert_eq "k1|cust-p1" "$(verify "$NEW,$OLD" "$L1" | jq -r '.key_id + "|" + .customer_id')" "an old link still verifies"

# Off: no portal paragraph at all.
stop_service sender
rm -f "$DUNNING_MAIL_DIR"/*.eml
start_service sender sender-email
invoice_json P4 cust-p4 4000 2026-03-08 p4@example.com | publish invoice-issued
wait_eq 30 "P4's case" 1 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = 'P4'"
clock_set 2026-03-10T09:00:00Z
wait_eq 30 "P4's mail" 1 mail_count_to p4@example.com
mail_part p4@example.com text | grep -q "promise to pay, instalments" && fail "a portal paragraph without DUNNING_PORTAL_URL"
mail_part p4@example.com html | grep -q "/p/" && fail "a portal button without DUNNING_PORTAL_URL"

# Expiry on the dunning clock: P1's link ends 2026-04-03T00:00Z, P3's three days later.
clock_set 2026-04-03T00:00:00Z
assert_eq '{"valid":false,"why":"expired"}' "$(verify "$NEW,$OLD" "$L1")" "P1's link at its expiry"
assert_eq "true" "$(verify "$NEW,$OLD" "$L3" | jq -r .valid)" "P3's link is still valid then"

# A key too short: the sender refuses to start, and says why without the key.
SHORT="k9:$(printf 'short' | base64)"
rc=0
DUNNING_PORTAL_URL="$URL" DUNNING_PORTAL_KEYS="$SHORT" "$BIN/sender-email" >"$WORK/bad.log" 2>&1 || rc=$?
assert_eq 2 "$rc" "exit status with a short key"
grep -q "key k9 has 5 bytes, at least 32 are needed" "$WORK/bad.log" || fail "no reason in the log: $(tail -2 "$WORK/bad.log")"
grep -q "$(printf 'short' | base64)" "$WORK/bad.log" && fail "key material in the log"
log "PASS"
