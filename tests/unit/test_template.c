/* dn_template: the strict Mustache renderer and money formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dn_clock.h"
#include "dn_template.h"

static json_t *ctx_from(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    if (!j)
        fail_msg("bad test json: %s", jerr.text);
    return j;
}

/* Renders and compares; the context is given as JSON text. */
static void expect(const char *tmpl, const char *ctx_json, dn_template_mode_t mode, const char *want)
{
    char err[256];
    json_t *ctx = ctx_from(ctx_json);
    char *got = dn_template_render(tmpl, ctx, mode, err, sizeof(err));
    if (!got)
        fail_msg("render failed: %s (template %s)", err, tmpl);
    assert_string_equal(got, want);
    free(got);
    json_decref(ctx);
}

static void expect_error(const char *tmpl, const char *ctx_json, const char *want_err)
{
    char err[256];
    json_t *ctx = ctx_from(ctx_json);
    char *got = dn_template_render(tmpl, ctx, DN_TEMPLATE_TEXT, err, sizeof(err));
    if (got)
        fail_msg("expected an error, rendered: %s", got);
    assert_string_equal(err, want_err);
    json_decref(ctx);
}

static void test_variables(void **state)
{
    (void)state;
    expect("Hello {{name}}!", "{\"name\":\"Ada\"}", DN_TEMPLATE_TEXT, "Hello Ada!");
    expect("{{ name }} and {{name}}", "{\"name\":\"x\"}", DN_TEMPLATE_TEXT, "x and x");
    expect("no tags at all\n", "{}", DN_TEMPLATE_TEXT, "no tags at all\n");
    expect("", "{}", DN_TEMPLATE_TEXT, "");
    expect("{{n}} days, {{r}}, {{t}}/{{f}}, [{{z}}]", "{\"n\":-14,\"r\":2.5,\"t\":true,\"f\":false,\"z\":null}",
           DN_TEMPLATE_TEXT, "-14 days, 2.5, true/false, []");
    expect("{{a}}{{b}}", "{\"a\":\"1\",\"b\":\"2\"}", DN_TEMPLATE_TEXT, "12");
    expect("single { and } braces", "{}", DN_TEMPLATE_TEXT, "single { and } braces");
}

static void test_dotted(void **state)
{
    (void)state;
    const char *ctx = "{\"customer\":{\"name\":\"Muster GmbH\",\"address\":{\"city\":\"Wien\"}},\"tenant\":\"acme\"}";
    expect("{{customer.name}} in {{customer.address.city}}", ctx, DN_TEMPLATE_TEXT, "Muster GmbH in Wien");
    /* Inside a section the first part is looked up through the stack, the rest exactly. */
    expect("{{#customer}}{{name}} of {{tenant}}, {{address.city}}{{/customer}}", ctx, DN_TEMPLATE_TEXT,
           "Muster GmbH of acme, Wien");
    expect_error("{{customer.address.zip}}", ctx, "line 1: {{customer.address.zip}} is not defined");
    expect_error("{{customer.name.first}}", ctx, "line 1: {{customer.name.first}} is not defined");
}

static void test_sections(void **state)
{
    (void)state;
    /* object: entered once */
    expect("{{#invoice}}#{{number}} due {{due_date}}{{/invoice}}",
           "{\"invoice\":{\"number\":\"R-1\",\"due_date\":\"2026-11-24\"}}", DN_TEMPLATE_TEXT, "#R-1 due 2026-11-24");
    /* array: once per element; {{.}} is the element */
    expect("{{#items}}<{{name}}>{{/items}}", "{\"items\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}]}",
           DN_TEMPLATE_TEXT, "<a><b><c>");
    expect("{{#xs}}{{.}},{{/xs}}", "{\"xs\":[1,2,3]}", DN_TEMPLATE_TEXT, "1,2,3,");
    /* booleans and the other falsy values */
    expect("{{#t}}yes{{/t}}{{#f}}no{{/f}}", "{\"t\":true,\"f\":false}", DN_TEMPLATE_TEXT, "yes");
    expect("[{{#n}}x{{/n}}{{#e}}x{{/e}}{{#s}}x{{/s}}{{#z}}x{{/z}}{{#r}}x{{/r}}]",
           "{\"n\":null,\"e\":[],\"s\":\"\",\"z\":0,\"r\":0.0}", DN_TEMPLATE_TEXT, "[]");
    /* a truthy string or number is entered once, {{.}} is the value */
    expect("{{#link}}Pay at {{.}}{{/link}}", "{\"link\":\"https://pay.example/1\"}", DN_TEMPLATE_TEXT,
           "Pay at https://pay.example/1");
    expect("{{#fee}}fee {{fee}}{{/fee}}", "{\"fee\":500}", DN_TEMPLATE_TEXT, "fee 500");
    /* nested sections */
    expect("{{#a}}{{#b}}{{x}}{{y}}{{/b}}{{/a}}", "{\"a\":{\"x\":\"1\",\"b\":{\"y\":\"2\"}}}", DN_TEMPLATE_TEXT, "12");
}

static void test_inverted(void **state)
{
    (void)state;
    expect("{{^link}}no link{{/link}}", "{\"link\":null}", DN_TEMPLATE_TEXT, "no link");
    expect("{{^link}}no link{{/link}}", "{\"link\":\"x\"}", DN_TEMPLATE_TEXT, "");
    expect("{{^items}}none{{/items}}", "{\"items\":[]}", DN_TEMPLATE_TEXT, "none");
    expect("{{#fee}}fee{{/fee}}{{^fee}}no fee{{/fee}}", "{\"fee\":0}", DN_TEMPLATE_TEXT, "no fee");
}

static void test_standalone_lines(void **state)
{
    (void)state;
    /* Block tags alone on their line remove the line; inline ones do not. */
    expect("Items:\n{{#items}}\n- {{.}}\n{{/items}}\nEnd\n", "{\"items\":[\"a\",\"b\"]}", DN_TEMPLATE_TEXT,
           "Items:\n- a\n- b\nEnd\n");
    expect("  {{! a comment\n  over two lines }}  \nText\n", "{}", DN_TEMPLATE_TEXT, "Text\n");
    expect("a {{#t}}b{{/t}} c\n", "{\"t\":true}", DN_TEMPLATE_TEXT, "a b c\n");
    expect("x\r\n{{#t}}\r\ny\r\n{{/t}}\r\n", "{\"t\":true}", DN_TEMPLATE_TEXT, "x\r\ny\r\n");
    expect("{{^t}}\nnone\n{{/t}}", "{\"t\":false}", DN_TEMPLATE_TEXT, "none\n");
}

static void test_escaping(void **state)
{
    (void)state;
    const char *ctx = "{\"v\":\"<b>Tom & Jerry's \\\"shop\\\"</b>\"}";
    expect("{{v}}", ctx, DN_TEMPLATE_HTML, "&lt;b&gt;Tom &amp; Jerry&#39;s &quot;shop&quot;&lt;/b&gt;");
    expect("{{v}}", ctx, DN_TEMPLATE_TEXT, "<b>Tom & Jerry's \"shop\"</b>");
    /* raw: never escaped */
    expect("{{{v}}}", ctx, DN_TEMPLATE_HTML, "<b>Tom & Jerry's \"shop\"</b>");
    expect("{{& v}}", ctx, DN_TEMPLATE_HTML, "<b>Tom & Jerry's \"shop\"</b>");
    /* the template's own text is not touched */
    expect("<p>{{v}}</p>", "{\"v\":\"a&b\"}", DN_TEMPLATE_HTML, "<p>a&amp;b</p>");
    /* UTF-8 passes through */
    expect("{{v}}", "{\"v\":\"Grüße, €\"}", DN_TEMPLATE_HTML, "Grüße, €");
}

static void test_comments(void **state)
{
    (void)state;
    /* a comment ends at the first }} (as in Mustache) */
    expect("a{{! not {{shown }}b", "{}", DN_TEMPLATE_TEXT, "ab");
    expect("a{{! x }} }}b", "{}", DN_TEMPLATE_TEXT, "a }}b");
    expect("a{{!}}b", "{}", DN_TEMPLATE_TEXT, "ab");
}

static void test_missing_variable(void **state)
{
    (void)state;
    expect_error("Dear {{name}},\n\nYour invoice\nhas a fee of {{fee}}.\n", "{\"name\":\"x\"}",
                 "line 4: {{fee}} is not defined");
    expect_error("{{{raw}}}", "{}", "line 1: {{{raw}}} is not defined");
    expect_error("{{&raw}}", "{}", "line 1: {{&raw}} is not defined");
    /* sections are strict too (typos in a section name do not silently hide text) */
    expect_error("a\n{{#paymnet_link}}x{{/paymnet_link}}", "{\"payment_link\":null}",
                 "line 2: {{#paymnet_link}} is not defined");
    expect_error("{{^nope}}x{{/nope}}", "{}", "line 1: {{^nope}} is not defined");
    /* inside an array, on the line of the tag */
    expect_error("{{#items}}\n{{name}}\n{{/items}}", "{\"items\":[{\"name\":\"a\"},{}]}",
                 "line 2: {{name}} is not defined");
    /* a skipped section is not evaluated: the missing name is not reached */
    expect("{{#f}}{{nope}}{{/f}}ok", "{\"f\":false}", DN_TEMPLATE_TEXT, "ok");
    /* lines are counted through multi-line comments */
    expect_error("{{!\n\n}}\n{{x}}", "{}", "line 4: {{x}} is not defined");
    expect_error("{{obj}}", "{\"obj\":{}}", "line 1: {{obj}} is an object, not a value");
    expect_error("{{arr}}", "{\"arr\":[1]}", "line 1: {{arr}} is an array, not a value");
}

static void test_unbalanced(void **state)
{
    (void)state;
    expect_error("a\n{{#items}}\nb\n", "{\"items\":[]}", "line 2: {{#items}} is not closed");
    expect_error("a\n\n{{/items}}", "{}", "line 3: {{/items}} has no matching {{#items}}");
    expect_error("{{#a}}\n{{^b}}\n{{/a}}\n{{/b}}", "{\"a\":1,\"b\":1}",
                 "line 3: {{/a}} does not close {{^b}} opened on line 2");
    /* found even when the data would skip the section */
    expect_error("{{#f}}{{#g}}{{/f}}", "{\"f\":false}", "line 1: {{/f}} does not close {{#g}} opened on line 1");
    expect_error("x\n{{name", "{}", "line 2: tag opened here is not closed with }}");
    expect_error("{{{name}}", "{}", "line 1: tag opened here is not closed with }}}");
    expect_error("{{}}", "{}", "line 1: empty tag");
    expect_error("{{> partial}}", "{}", "line 1: partials ({{> name}}) are not supported");
    expect_error("{{=<% %>=}}", "{}", "line 1: delimiter changes ({{=...=}}) are not supported");
    expect_error("{{a b}}", "{\"a\":1}", "line 1: invalid name in tag {{a b}}");
}

static void expect_money(int64_t minor, const char *cur, const char *loc, const char *want)
{
    char buf[64];
    assert_int_equal(dn_money_format(minor, cur, loc, buf, sizeof(buf)), 0);
    assert_string_equal(buf, want);
}

static void test_money(void **state)
{
    (void)state;
    expect_money(123456, "EUR", "en",
                 "\xe2\x82\xac"
                 "1,234.56");
    expect_money(123456, "EUR", "de", "1.234,56 \xe2\x82\xac");
    expect_money(123456, "EUR", "de-AT", "1.234,56 \xe2\x82\xac");
    expect_money(123456, "USD", "en-US", "$1,234.56");
    expect_money(123456, "GBP", "en_GB",
                 "\xc2\xa3"
                 "1,234.56");
    expect_money(1235, "JPY", "en",
                 "\xc2\xa5"
                 "1,235");
    expect_money(1235, "JPY", "de", "1.235 \xc2\xa5");
    expect_money(1234567, "BHD", "en", "BHD 1,234.567");
    expect_money(1234567, "BHD", "de", "1.234,567 BHD");
    expect_money(123456, "CHF", "en", "CHF 1,234.56");
    expect_money(123456, "CHF", "de-CH", "1.234,56 CHF");
    /* small, zero, negative, group boundaries */
    expect_money(5, "EUR", "en",
                 "\xe2\x82\xac"
                 "0.05");
    expect_money(0, "EUR", "de", "0,00 \xe2\x82\xac");
    expect_money(0, "JPY", "en",
                 "\xc2\xa5"
                 "0");
    expect_money(-123456, "EUR", "en",
                 "-\xe2\x82\xac"
                 "1,234.56");
    expect_money(-500, "USD", "de", "-5,00 $");
    expect_money(99999, "EUR", "en",
                 "\xe2\x82\xac"
                 "999.99");
    expect_money(100000, "EUR", "en",
                 "\xe2\x82\xac"
                 "1,000.00");
    expect_money(123456789012, "USD", "en", "$1,234,567,890.12");
    expect_money(INT64_MIN, "USD", "en", "-$92,233,720,368,547,758.08");
    /* unknown locales format like en */
    expect_money(123456, "EUR", "fr-FR",
                 "\xe2\x82\xac"
                 "1,234.56");
    expect_money(123456, "EUR", NULL,
                 "\xe2\x82\xac"
                 "1,234.56");
    expect_money(123456, "EUR", "dex",
                 "\xe2\x82\xac"
                 "1,234.56");

    char buf[8];
    assert_int_equal(dn_money_format(100, "XYZ", "en", buf, sizeof(buf)), -1); /* not ISO 4217 */
    assert_int_equal(dn_money_format(100, "eur", "en", buf, sizeof(buf)), -1);
    assert_int_equal(dn_money_format(123456, "EUR", "en", buf, sizeof(buf)), -1); /* too small */
    assert_string_equal(buf, "");
}

static void test_long_dates(void **state)
{
    (void)state;
    char buf[64];
    int32_t d;
    assert_int_equal(dn_date_parse("2026-11-27", &d), 0);
    dn_date_format_long(d, "en", buf, sizeof(buf));
    assert_string_equal(buf, "27 November 2026");
    dn_date_format_long(d, "de-AT", buf, sizeof(buf));
    assert_string_equal(buf, "27. November 2026");
    assert_int_equal(dn_date_parse("2026-03-01", &d), 0);
    dn_date_format_long(d, "de", buf, sizeof(buf));
    assert_string_equal(buf, "1. März 2026");
    dn_date_format_long(d, "fr_FR", buf, sizeof(buf));
    assert_string_equal(buf, "1 mars 2026");
    dn_date_format_long(d, "es", buf, sizeof(buf));
    assert_string_equal(buf, "1 de marzo de 2026");
    dn_date_format_long(d, "ja", buf, sizeof(buf)); /* not known: English */
    assert_string_equal(buf, "1 March 2026");
    dn_date_format_long(d, "dem", buf, sizeof(buf)); /* "de" only as a whole language tag */
    assert_string_equal(buf, "1 March 2026");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_variables), cmocka_unit_test(test_dotted),           cmocka_unit_test(test_sections),
        cmocka_unit_test(test_inverted),  cmocka_unit_test(test_standalone_lines), cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_comments),  cmocka_unit_test(test_missing_variable), cmocka_unit_test(test_unbalanced),
        cmocka_unit_test(test_money),     cmocka_unit_test(test_long_dates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
