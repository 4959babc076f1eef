/* dn_buf: the growing buffer the mail writer, the template renderer and the PDF stream share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dn_buf.h"

static void test_appends_grow_and_stay_terminated(void **state)
{
    (void)state;
    dn_buf_t b = {0};
    for (int i = 0; i < 1000; i++)
        assert_int_equal(dn_buf_add(&b, "abc"), 0);
    assert_int_equal(b.len, 3000);
    assert_int_equal(strlen(b.p), 3000);
    assert_memory_equal(b.p + 2997, "abc", 4);
    assert_int_equal(dn_buf_addn(&b, "x\0y", 3), 0); /* bytes, NUL included */
    assert_int_equal(b.len, 3003);
    assert_int_equal(b.p[3001], '\0');
    assert_int_equal(b.p[3002], 'y');
    size_t len = 0;
    char *p = dn_buf_take(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 3003);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    free(p);
}

static void test_printf_longer_than_any_fixed_buffer(void **state)
{
    (void)state;
    dn_buf_t b = {0};
    assert_int_equal(dn_buf_add(&b, "Subject: "), 0);
    char long_name[2000];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    assert_int_equal(dn_buf_printf(&b, "%s <%d>", long_name, 42), 0);
    assert_int_equal(b.len, 9 + 1999 + 5);
    assert_string_equal(b.p + b.len - 5, " <42>");
    assert_int_equal(dn_buf_printf(&b, "%s", ""), 0);
    assert_int_equal(b.len, 9 + 1999 + 5);
    dn_buf_free(&b);
    assert_null(b.p);
}

static void test_out_of_memory_is_sticky(void **state)
{
    (void)state;
    dn_buf_t b = {0};
    assert_int_equal(dn_buf_add(&b, "ok"), 0);
    b.oom = 1; /* as after a failed realloc */
    assert_int_equal(dn_buf_add(&b, "more"), -1);
    assert_int_equal(dn_buf_printf(&b, "%d", 1), -1);
    assert_int_equal(b.len, 2);
    size_t len = 99;
    assert_null(dn_buf_take(&b, &len)); /* and the memory is released */
    assert_int_equal(len, 99);
    assert_null(b.p);
    dn_buf_t empty = {0};
    assert_null(dn_buf_take(&empty, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_appends_grow_and_stay_terminated),
        cmocka_unit_test(test_printf_longer_than_any_fixed_buffer),
        cmocka_unit_test(test_out_of_memory_is_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
