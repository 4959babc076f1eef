#!/usr/bin/env bash
# The portal link on a letter (docs/portal.md): sender-letter with DUNNING_PORTAL_URL prints,
# under the payment details of the final notice, a QR code of the customer's signed link
# and the link itself. Checked on the PDF: pdftotext finds the label and the whole link,
# zbarimg reads the QR code back from a 200 dpi rendering (pdftoppm) and gets exactly that
# link, and the link verifies for this tenant and customer; the portal's page behind that
# link lists the letter and downloads exactly its PDF (DUNNING_PORTAL_LETTER_DIR), and no
# other customer's. Without the setting the letter has neither.
source "$(dirname "$0")/lib.sh"
command -v zbarimg >/dev/null && command -v pdftoppm >/dev/null || fail "zbar-tools and poppler-utils are needed (scripts/deps)"
reset_state
clock_start 2026-03-01T08:00:00Z 0
KEYS="k1:$(printf 'portal-letter-test-key-0123456789' | base64)"
URL=https://portal.example.com
export DUNNING_LETTER_SPOOL_DIR=$WORK/spool
start_service engine dunning-engine
start_service letter sender-letter "DUNNING_LETTER_FROM_NAME=Beispiel AG" "DUNNING_LETTER_FROM_ADDRESS=Musterweg 5; 10115 Berlin" \
    DUNNING_PORTAL_URL="$URL" DUNNING_PORTAL_KEYS="$KEYS"
{
    invoice_json L1 cust-l1 100000 2026-03-02 l1@example.com | with_policy four_stage | reachable_everywhere
    invoice_json L2 cust-l2 100000 2026-03-02 l2@example.com | with_policy four_stage | reachable_everywhere
} | publish invoice-issued
wait_eq 30 "two cases" 2 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT'"
clock_set 2026-03-16T09:00:00Z # the final notice: e-mail and letter
wait_until 60 "two letters in the spool" '[ "$(ls "$DUNNING_LETTER_SPOOL_DIR"/*.pdf 2>/dev/null | wc -l)" = 2 ]'
pdf_of() { # INVOICE: its letter
    local ev
    ev=$(psql_q "SELECT event_id FROM deliveries WHERE tenant_id = '$TENANT' AND invoice_id = '$1' AND channel = 'letter'")
    echo "$DUNNING_LETTER_SPOOL_DIR/letter-$ev.pdf"
}
PDF=$(pdf_of L1)
[ -s "$PDF" ] || fail "no letter for L1 at $PDF"
TEXT=$(pdftotext -layout "$PDF" -)
grep -q "Your invoices online: promise a date, pay in instalments" <<<"$TEXT" || fail "no portal paragraph on the letter"
# The printed link (wrapped over lines by the layout): the text from the URL's start on,
# without white space, begins with the QR code's content.
pdftoppm -r 200 -png -f 1 -l 1 "$PDF" "$WORK/page"
QR=$(zbarimg --raw -q "$WORK"/page-1.png) || fail "no QR code readable on the letter's first page"
mkdir -p "$ROOT/build/screenshots" && cp "$WORK/page-1.png" "$ROOT/build/screenshots/letter-portal-qr.png" # for review
case "$QR" in "$URL/p/"*) ;; *) fail "the QR code holds '$QR', not a portal link" ;; esac
PRINTED=$(tr -d ' \n' <<<"$TEXT" | grep -o "$URL/p/[A-Za-z0-9._-]*" | head -1)
assert_eq "$QR" "${PRINTED:0:${#QR}}" "the printed link and the QR code's"
assert_eq "cust-l1|$TENANT" "$(DUNNING_PORTAL_KEYS=$KEYS "$BIN/dunningctl" portal verify "$QR" | jq -r '.customer_id + "|" + .tenant_id')" \
    "the link on L1's letter is L1's customer's"
QR2=$(pdftoppm -r 200 -png -f 1 -l 1 "$(pdf_of L2)" "$WORK/other" && zbarimg --raw -q "$WORK"/other-1.png)
assert_eq "cust-l2" "$(DUNNING_PORTAL_KEYS=$KEYS "$BIN/dunningctl" portal verify "$QR2" | jq -r .customer_id)" "L2's letter"

# The portal lists the letters of the customer's invoices and hands out each PDF as it was
# sent: the QR code's link is the customer's page; another customer's letter, an id that is
# not a delivery's and a path are 404.
start_service portal dunning-portal DUNNING_PORTAL_ADDR=127.0.0.1:0 DUNNING_PORTAL_ADDR_FILE="$WORK/portal.addr" \
    DUNNING_PORTAL_KEYS="$KEYS" DUNNING_PORTAL_RATE_ADDRESS=10000 DUNNING_PORTAL_LETTER_DIR="$DUNNING_LETTER_SPOOL_DIR"
wait_until 20 "the portal's address file" '[ -s "$WORK/portal.addr" ]'
P=http://$(cat "$WORK/portal.addr")
T1=${QR##*/p/}
EV1=$(basename "$(pdf_of L1)" .pdf)
EV1=${EV1#letter-}
EV2=$(basename "$(pdf_of L2)" .pdf)
EV2=${EV2#letter-}
assert_eq "L1 $EV1" "$(curl -s "$P/api/p/$T1" | jq -r '.invoices[] | .invoice_id + " " + ([.letters[].id] | join(","))')" \
    "the QR code's page lists L1's letter"
HDR=$(curl -s -D - -o "$WORK/download.pdf" "$P/api/p/$T1/letters/$EV1")
cmp -s "$WORK/download.pdf" "$(pdf_of L1)" || fail "the download is not the letter that was sent"
grep -qi '^Content-Type: application/pdf' <<<"$HDR" || fail "the download is not application/pdf"
grep -qi '^Content-Disposition: attachment; filename="letter-N-L1.pdf"' <<<"$HDR" || fail "no attachment name: $HDR"
code() { curl -s -o /dev/null -w '%{http_code}' "$P/api/p/$T1/letters/$1"; }
assert_eq "404 404 404" "$(code "$EV2") $(code 00000000-0000-0000-0000-000000000000) $(code ..%2F..%2Fetc%2Fpasswd)" \
    "another customer's letter, no such letter, a path"

# Off: no paragraph, no code.
stop_service letter
rm -f "$DUNNING_LETTER_SPOOL_DIR"/*.pdf
start_service letter2 sender-letter "DUNNING_LETTER_FROM_NAME=Beispiel AG" "DUNNING_LETTER_FROM_ADDRESS=Musterweg 5; 10115 Berlin"
invoice_json L3 cust-l3 100000 2026-03-10 l3@example.com | with_policy four_stage | reachable_everywhere | publish invoice-issued
wait_eq 30 "L3's case" 1 psql_q "SELECT count(*) FROM cases WHERE tenant_id = '$TENANT' AND invoice_id = 'L3'"
clock_set 2026-03-24T09:00:00Z
wait_until 60 "L3's letter" '[ -s "$(pdf_of L3)" ]'
pdftotext -layout "$(pdf_of L3)" - | grep -q "Your invoices online" && fail "a portal paragraph without DUNNING_PORTAL_URL"
pdftoppm -r 200 -png -f 1 -l 1 "$(pdf_of L3)" "$WORK/off"
zbarimg --raw -q "$WORK"/off-1.png >/dev/null 2>&1 && fail "a QR code without DUNNING_PORTAL_URL"
log "PASS"
