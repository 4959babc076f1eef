/* dn_clock: calendar arithmetic, ISO 8601 parsing and the simulated clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "dn_clock.h"

static void test_date_round_trip(void **state)
{
    (void)state;
    int32_t d;
    char buf[16];
    assert_int_equal(dn_date_parse("1970-01-01", &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(dn_date_parse("2026-11-24", &d), 0);
    assert_int_equal(d, 20781);
    dn_date_format(d, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-24");
    assert_int_equal(dn_date_parse("2024-02-29", &d), 0); /* leap day */
    dn_date_format(d + 1, buf, sizeof(buf));
    assert_string_equal(buf, "2024-03-01");
    assert_int_equal(dn_date_parse("1969-12-31", &d), 0);
    assert_int_equal(d, -1);
    dn_date_format(-1, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31");
}

static void test_date_rejects(void **state)
{
    (void)state;
    int32_t d;
    assert_int_equal(dn_date_parse("2023-02-29", &d), -1); /* not a leap year */
    assert_int_equal(dn_date_parse("2026-13-01", &d), -1);
    assert_int_equal(dn_date_parse("2026-11-31", &d), -1);
    assert_int_equal(dn_date_parse("2026-11-2", &d), -1);
    assert_int_equal(dn_date_parse("2026-11-24x", &d), -1);
    assert_int_equal(dn_date_parse("", &d), -1);
}

static void test_time_parse(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(dn_time_parse("2026-11-24T10:00:00Z", &ms), 0);
    assert_int_equal(ms, 1795514400000LL);
    assert_int_equal(dn_time_parse("2026-11-24T11:00:00+01:00", &ms), 0);
    assert_int_equal(ms, 1795514400000LL);
    assert_int_equal(dn_time_parse("2026-11-24T05:30:00.5-0430", &ms), 0);
    assert_int_equal(ms, 1795514400500LL);
    assert_int_equal(dn_time_parse("2026-11-24", &ms), 0);
    assert_int_equal(ms, 1795478400000LL);
    assert_int_equal(dn_time_parse("2026-11-24T10:00:00", &ms), -1); /* no zone */
    assert_int_equal(dn_time_parse("2026-11-24T25:00:00Z", &ms), -1);
    assert_int_equal(dn_time_parse("2026-11-24T10:00:00Zjunk", &ms), -1);
}

static void test_time_format(void **state)
{
    (void)state;
    char buf[40];
    dn_time_format(1795514400123LL, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-24T10:00:00.123Z");
    dn_time_format(-1, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    /* Found by fuzz_decode: a timestamp near INT64_MAX overflowed the day arithmetic. */
    dn_time_format(INT64_MAX, buf, sizeof(buf));
    assert_string_equal(buf, "9223372036854775807");
    dn_time_format(INT64_MIN, buf, sizeof(buf));
    assert_string_equal(buf, "-9223372036854775808");
    dn_time_format(253402300799999LL, buf, sizeof(buf));
    assert_string_equal(buf, "9999-12-31T23:59:59.999Z");
}

static void test_simulated_clock(void **state)
{
    (void)state;
    int64_t real = dn_clock_real_now_ms();
    /* One simulated day per second, started 2 real seconds ago at 2026-01-01. */
    dn_clock_init(86400, 1767225600000LL, real - 2000);
    int64_t now = dn_clock_now_ms();
    assert_true(now >= 1767225600000LL + 2 * 86400000LL);
    assert_true(now < 1767225600000LL + 3 * 86400000LL);
    assert_int_equal(dn_clock_speed(), 86400);
    /* Ten simulated days ahead are about ten real seconds away. */
    int64_t delay = dn_clock_real_delay_ms(now + 10 * 86400000LL);
    assert_true(delay >= 9900 && delay <= 10000);
    assert_int_equal(dn_clock_real_delay_ms(now - 1000), 0);
    dn_clock_init(1, 0, 0); /* back to real time */
    assert_int_equal(dn_clock_speed(), 1);
    int64_t diff = dn_clock_now_ms() - dn_clock_real_now_ms();
    assert_true(diff >= -5 && diff <= 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date_round_trip), cmocka_unit_test(test_date_rejects),
        cmocka_unit_test(test_time_parse),      cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_simulated_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
