/* dn_pgarray: the array literals of the engine's and sender-email's multi-row statements. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "dn_pgarray.h"

static void test_elements_quoted_escaped_and_null(void **state)
{
    (void)state;
    dn_pgarray_t a = {0};
    assert_string_equal(dn_pgarray_text(&a), "{}");
    assert_int_equal(dn_pgarray_add(&a, "plain"), 0);
    assert_int_equal(dn_pgarray_add(&a, NULL), 0);
    assert_int_equal(dn_pgarray_add(&a, "say \"hi\" \\ {x,y}"), 0);
    assert_int_equal(dn_pgarray_add(&a, ""), 0);
    assert_string_equal(dn_pgarray_text(&a), "{\"plain\",NULL,\"say \\\"hi\\\" \\\\ {x,y}\",\"\"}");
    assert_int_equal(a.n, 4);
    dn_pgarray_free(&a);
}

static void test_text_then_more_elements(void **state)
{
    (void)state;
    dn_pgarray_t a = {0};
    dn_pgarray_add(&a, "a");
    assert_string_equal(dn_pgarray_text(&a), "{\"a\"}");
    dn_pgarray_add(&a, "b");
    assert_string_equal(dn_pgarray_text(&a), "{\"a\",\"b\"}");
    dn_pgarray_clear(&a);
    assert_int_equal(a.n, 0);
    assert_string_equal(dn_pgarray_text(&a), "{}");
    dn_pgarray_add(&a, "c");
    assert_string_equal(dn_pgarray_text(&a), "{\"c\"}");
    dn_pgarray_free(&a);
}

static void test_bytea_as_hex_in_long_runs(void **state)
{
    (void)state;
    dn_pgarray_t a = {0};
    const unsigned char bytes[] = {0x00, 0x7f, 0xff, '"', '\\'};
    dn_pgarray_add_bytea(&a, bytes, sizeof(bytes));
    dn_pgarray_add_bytea(&a, "", 0);
    assert_string_equal(dn_pgarray_text(&a), "{\"\\\\x007fff225c\",\"\\\\x\"}");
    dn_pgarray_clear(&a);
    unsigned char big[1000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)i;
    dn_pgarray_add_bytea(&a, big, sizeof(big)); /* more than one chunk */
    const char *t = dn_pgarray_text(&a);
    assert_int_equal(strlen(t), 5 + 2000 + 2); /* {"\\x, the hex, "} */
    assert_memory_equal(t + 5 + 2 * 255, "ff0001", 6);
    assert_memory_equal(t + 5 + 2 * 999, "e7\"}", 4);
    dn_pgarray_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_elements_quoted_escaped_and_null),
        cmocka_unit_test(test_text_then_more_elements),
        cmocka_unit_test(test_bytea_as_hex_in_long_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
