/* dn_render: the render context of consolidated customer notices and card-expiry notices,
 * and the shipped templates rendered with it (exact text). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dn_render.h"

#define TEMPLATES "config/templates"

static char *render(const dn_reminder_due_t *rd, const char *channel, const char *ext)
{
    char err[512];
    dn_render_source_t src;
    char *out = dn_render_text(TEMPLATES, channel, ext, NULL, rd, NULL, NULL, 1 << 20, &src, err, sizeof(err));
    if (!out)
        fail_msg("render failed: %s", err);
    return out;
}

static void sample(dn_render_sample_t *s, const char *key, const char *locale)
{
    dn_render_sample(s, DN_CHANNEL_EMAIL, 1, "default", key, locale);
    s->rd.notice_kind = (char *)key;
    s->rd.invoice_id = "";
    s->rd.invoice_number = NULL;
    /* the notice's totals: the two dunned items */
    s->rd.outstanding_minor = 12250000;
    s->rd.fee_minor = 1500;
    s->rd.interest_minor = 32100;
    s->rd.total_due_minor = 12283600;
}

static void test_items_context(void **state)
{
    (void)state;
    dn_render_sample_t s;
    sample(&s, "customer_notice", "de-DE");
    json_t *ctx = dn_render_context(&s.rd, "de-DE");
    assert_non_null(ctx);
    assert_true(json_is_true(json_object_get(ctx, "has_items")));
    assert_int_equal(json_integer_value(json_object_get(ctx, "item_count")), 3);
    assert_int_equal(json_integer_value(json_object_get(ctx, "dunned_count")), 2);
    json_t *items = json_object_get(ctx, "items");
    assert_int_equal(json_array_size(items), 3);
    json_t *a = json_array_get(items, 0), *c = json_array_get(items, 2);
    assert_string_equal(json_string_value(json_object_get(a, "number")), "RE-2026-000001");
    assert_string_equal(json_string_value(json_object_get(a, "total_due")), "120.336,00 €");
    assert_int_equal(json_integer_value(json_object_get(a, "total_due_minor")), 12033600);
    assert_string_equal(json_string_value(json_object_get(a, "due_date_iso")), "2026-11-07");
    assert_true(json_is_null(json_object_get(a, "not_dunned_text")));
    assert_true(json_is_false(json_object_get(c, "dunned")));
    assert_string_equal(json_string_value(json_object_get(c, "not_dunned_reason")), "promise");
    assert_string_equal(json_string_value(json_object_get(c, "not_dunned_text")), "Zahlungszusage liegt vor");
    json_t *card = json_object_get(ctx, "card");
    assert_string_equal(json_string_value(json_object_get(card, "expiry")), "03/2027");
    assert_string_equal(json_string_value(json_object_get(card, "last4")), "4242");
    assert_string_equal(json_string_value(json_object_get(ctx, "update_link")),
                        "https://pay.example.com/card/0123456789abcdef");
    json_decref(ctx);

    /* the minimal sample: no items, no card */
    dn_render_sample(&s, DN_CHANNEL_EMAIL, 0, "default", "customer_notice", "en");
    ctx = dn_render_context(&s.rd, "en");
    assert_true(json_is_false(json_object_get(ctx, "has_items")));
    assert_int_equal(json_array_size(json_object_get(ctx, "items")), 0);
    assert_true(json_is_null(json_object_get(ctx, "card")));
    assert_true(json_is_null(json_object_get(ctx, "update_link")));
    json_decref(ctx);
}

static void test_not_dunned_texts(void **state)
{
    (void)state;
    assert_string_equal(dn_render_not_dunned_text("promise", "en"), "promise to pay made");
    assert_string_equal(dn_render_not_dunned_text("plan", "en-GB"), "on an instalment plan");
    assert_string_equal(dn_render_not_dunned_text("dispute", "de-AT"), "in Klärung");
    assert_string_equal(dn_render_not_dunned_text("paused", "de"), "angehalten");
    assert_string_equal(dn_render_not_dunned_text("paused", "fr"), "on hold");
    assert_string_equal(dn_render_not_dunned_text("other", "en"), "not dunned");
    assert_null(dn_render_not_dunned_text(NULL, "en"));
}

static void test_update_link_web_only(void **state)
{
    (void)state;
    dn_render_sample_t s;
    sample(&s, "card_expiry", "en");
    s.rd.update_link = "javascript:alert(1)";
    json_t *ctx = dn_render_context(&s.rd, "en");
    assert_true(json_is_null(json_object_get(ctx, "update_link")));
    json_decref(ctx);
    s.rd.card->brand = NULL;
    ctx = dn_render_context(&s.rd, "en");
    assert_true(json_is_null(json_object_get(json_object_get(ctx, "card"), "brand")));
    json_decref(ctx);
}

static void test_customer_notice_email(void **state)
{
    (void)state;
    dn_render_sample_t s;
    sample(&s, "customer_notice", "en");
    char *subject = render(&s.rd, "email", "subject");
    assert_string_equal(subject, "Statement of your overdue invoices: 2 to pay, €122,836.00 in total\n");
    free(subject);
    char *txt = render(&s.rd, "email", "txt");
    const char *want_items =
        "our records show the following invoices as overdue:\n\n"
        "- Invoice RE-2026-000001, due on 7 November 2026 (28 days overdue): €120,336.00\n"
        "- Invoice RE-2026-000007, due on 21 November 2026 (14 days overdue): €2,500.00\n"
        "- Invoice RE-2026-000009, due on 28 November 2026 (7 days overdue): €999.00 (promise to pay made, for "
        "your information)\n\n"
        "Total to pay now: €122,836.00\n";
    if (!strstr(txt, want_items))
        fail_msg("customer_notice.email.en.txt:\n%s", txt);
    assert_non_null(strstr(txt, "https://pay.example.com/i/0123456789abcdef0123456789"));
    free(txt);

    sample(&s, "customer_notice", "de");
    txt = render(&s.rd, "email", "txt");
    if (!strstr(txt, "- Rechnung RE-2026-000009, fällig am 28. November 2026 (7 Tage überfällig): 999,00 € "
                     "(Zahlungszusage liegt vor, zur Information)\n\nJetzt zu zahlen: 122.836,00 €\n"))
        fail_msg("customer_notice.email.de.txt:\n%s", txt);
    free(txt);
    char *sms = render(&s.rd, "sms", "txt");
    assert_string_equal(sms, "2 Ihrer Rechnungen sind überfällig, zusammen 122.836,00 €. Bitte zahlen Sie zeitnah. "
                             "Hier bezahlen: https://pay.example.com/i/0123456789abcdef0123456789\n");
    free(sms);

    /* HTML: the names are escaped, every item is a row */
    char err[512];
    dn_render_source_t src;
    assert_int_equal(dn_render_find(TEMPLATES, &s.rd, "email", "html", &src, err, sizeof(err)), 0);
    json_t *ctx = dn_render_context(&s.rd, src.locale);
    char *html = dn_render_file(TEMPLATES, &src, "html", ctx, DN_TEMPLATE_HTML, 1 << 20, err, sizeof(err));
    json_decref(ctx);
    assert_non_null(html);
    assert_non_null(strstr(html, "Muster &amp; Söhne GmbH"));
    assert_non_null(strstr(html, "Zahlungszusage liegt vor, zur Information"));
    int rows = 0;
    for (const char *p = html; (p = strstr(p, "RE-2026-0000")); p++)
        rows++;
    assert_int_equal(rows, 3);
    free(html);
}

static void test_card_expiry(void **state)
{
    (void)state;
    dn_render_sample_t s;
    sample(&s, "card_expiry", "en");
    char *sms = render(&s.rd, "sms", "txt");
    assert_string_equal(sms, "Your card ending in 4242 expires 03/2027. Please update your payment details: "
                             "https://pay.example.com/card/0123456789abcdef\n");
    free(sms);
    char *subject = render(&s.rd, "email", "subject");
    assert_string_equal(subject, "Your card ending in 4242 expires 03/2027: please update your payment details\n");
    free(subject);
    char *txt = render(&s.rd, "email", "txt");
    if (!strstr(txt, "the visa card ending in 4242 that we charge for your\nsubscription expires at the end of "
                     "03/2027.\n"))
        fail_msg("card_expiry.email.en.txt:\n%s", txt);
    free(txt);
    sample(&s, "card_expiry", "de");
    s.rd.update_link = NULL;
    sms = render(&s.rd, "sms", "txt");
    assert_string_equal(sms, "Ihre Karte mit der Endung 4242 läuft 03/2027 ab. Bitte aktualisieren Sie Ihre "
                             "Zahlungsdaten.\n");
    free(sms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_items_context),        cmocka_unit_test(test_not_dunned_texts),
        cmocka_unit_test(test_update_link_web_only), cmocka_unit_test(test_customer_notice_email),
        cmocka_unit_test(test_card_expiry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
