/* dn_uuid, dn_currency and dn_topics: ids, currency exponents and record keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "dn_currency.h"
#include "dn_topics.h"
#include "dn_uuid.h"

static void test_derived_ids_are_stable(void **state)
{
    (void)state;
    char a[DN_UUID_STR_LEN], b[DN_UUID_STR_LEN], c[DN_UUID_STR_LEN];
    const char *p1[] = {"reminder", "case-1", "1", "email"};
    const char *p2[] = {"reminder", "case-1", "1", "sms"};
    const char *p3[] = {"reminder", "case-1", "1email"}; /* joining must not make these equal */
    dn_uuid_derive(a, p1, 4);
    dn_uuid_derive(b, p1, 4);
    assert_string_equal(a, b);
    assert_true(dn_uuid_valid(a));
    assert_int_equal(a[14], '5'); /* version 5 */
    dn_uuid_derive(c, p2, 4);
    assert_string_not_equal(a, c);
    dn_uuid_derive(c, p3, 3);
    assert_string_not_equal(a, c);
}

static void test_uuid_validation(void **state)
{
    (void)state;
    char r[DN_UUID_STR_LEN];
    dn_uuid_random(r);
    assert_true(dn_uuid_valid(r));
    assert_true(dn_uuid_valid("123E4567-e89b-12d3-a456-426614174000"));
    assert_false(dn_uuid_valid("123e4567e89b12d3a456426614174000"));
    assert_false(dn_uuid_valid("123e4567-e89b-12d3-a456-42661417400g"));
    assert_false(dn_uuid_valid("123e4567-e89b-12d3-a456-4266141740000"));
    assert_false(dn_uuid_valid(""));
    assert_false(dn_uuid_valid(NULL));
}

static void test_currency_exponents(void **state)
{
    (void)state;
    assert_int_equal(dn_currency_exponent("EUR"), 2);
    assert_int_equal(dn_currency_exponent("JPY"), 0);
    assert_int_equal(dn_currency_exponent("BHD"), 3);
    assert_int_equal(dn_currency_exponent("KWD"), 3);
    assert_int_equal(dn_currency_exponent("AED"), 2);
    assert_int_equal(dn_currency_exponent("ZWL"), 2);
    assert_int_equal(dn_currency_exponent("eur"), -1);
    assert_int_equal(dn_currency_exponent("XXX"), -1);
    assert_int_equal(dn_currency_exponent("EURO"), -1);
    assert_int_equal(dn_currency_exponent(""), -1);
}

static void test_topics_and_keys(void **state)
{
    (void)state;
    dn_topic_id_t id;
    char key[64];
    dn_topics_init("prod.");
    assert_string_equal(dn_topic_name(DN_TOPIC_INVOICE_ISSUED), "prod.invoice-issued");
    assert_string_equal(dn_topic_name(DN_TOPIC_REMINDER_DUE_EMAIL), "prod.reminder-due.email");
    assert_string_equal(dn_topic_schema(DN_TOPIC_REMINDER_DUE_SMS), "ReminderDue");
    assert_int_equal(dn_topic_lookup("prod.payment-received", &id), 0);
    assert_int_equal(id, DN_TOPIC_PAYMENT_RECEIVED);
    assert_int_equal(dn_topic_lookup("payment-received", &id), 0);
    assert_int_equal(id, DN_TOPIC_PAYMENT_RECEIVED);
    assert_int_equal(dn_topic_lookup("payments", &id), -1);
    assert_int_equal(dn_topic_key("acme", "c-42", key, sizeof(key)), 0);
    assert_string_equal(key, "acme/c-42");
    assert_int_equal(dn_topic_key("acme", "c-42", key, 5), -1);
    dn_topics_init("");
    assert_string_equal(dn_topic_name(DN_TOPIC_DEAD_LETTER), "dead-letter");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_derived_ids_are_stable),
        cmocka_unit_test(test_uuid_validation),
        cmocka_unit_test(test_currency_exponents),
        cmocka_unit_test(test_topics_and_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
