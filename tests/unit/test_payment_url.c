/* A tenant's payment page template (dn_payment_url): the checks and the URL-encoded values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dn_payment_url.h"

static void test_check(void **state)
{
    (void)state;
    char why[200] = "";
    assert_int_equal(
        dn_payment_url_check("https://pay.example.com/c?ref={reference}&a={amount}&c={currency}", why, sizeof(why)), 0);
    assert_int_equal(dn_payment_url_check("http://pay.example.com/{reference}", why, sizeof(why)), -1);
    assert_string_equal(why, "expected an https:// URL");
    assert_int_equal(dn_payment_url_check("https://{reference}.example.com/", why, sizeof(why)), -1);
    assert_string_equal(why, "expected a host name before the first placeholder");
    assert_int_equal(dn_payment_url_check("https://pay.example.com/?a={amt}&r={reference}", why, sizeof(why)), -1);
    assert_string_equal(why,
                        "unknown placeholder at character 28 (use {amount}, {amount_minor}, {currency}, {reference})");
    assert_int_equal(dn_payment_url_check("https://pay.example.com/?a={amount}", why, sizeof(why)), -1);
    assert_string_equal(why, "the template needs {reference} (the payment page must know the invoice)");
    assert_int_equal(dn_payment_url_check("https://pay.example.com/a b/{reference}", why, sizeof(why)), -1);
    assert_string_equal(why, "character 26 is not allowed in a URL");
}

static void test_expand(void **state)
{
    (void)state;
    char out[200];
    const char *tpl = "https://pay.example.com/c?ref={reference}&a={amount}&m={amount_minor}&c={currency}";
    assert_int_equal(dn_payment_url_expand(tpl, 12050, "EUR", "N-1/2 &x", out, sizeof(out)), 0);
    assert_string_equal(out, "https://pay.example.com/c?ref=N-1%2F2%20%26x&a=120.50&m=12050&c=EUR");
    assert_int_equal(dn_payment_url_expand(tpl, 500, "JPY", "R~1", out, sizeof(out)), 0);
    assert_string_equal(out, "https://pay.example.com/c?ref=R~1&a=500&m=500&c=JPY");
    assert_int_equal(dn_payment_url_expand(tpl, 5, "BHD", "r", out, sizeof(out)), 0);
    assert_string_equal(out, "https://pay.example.com/c?ref=r&a=0.005&m=5&c=BHD");
    assert_int_equal(dn_payment_url_expand(tpl, 12050, "EUR", "N-1", out, 40), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_check), cmocka_unit_test(test_expand)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
