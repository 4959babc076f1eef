/* Engine rules: interest, fees, thresholds, grace, allocation, e4 parsing. Every expected
 * value is worked out by hand in the comment next to it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dn_rules.h"

#define DUE_2026_03_04 20516           /* 2026-01-01 is day 20454; + 31 (Jan) + 28 (Feb) + 3 */
#define DUE_MS         1772582400000LL /* 20516 * 86400000 */
#define DAY            RULES_DAY_MS

static int64_t accrue_days(int64_t outstanding, int64_t rate_e4, int32_t days)
{
    interest_acc_t acc = {.micro = 0, .through = DUE_2026_03_04};
    dn_rules_accrue(&acc, outstanding, rate_e4, DUE_2026_03_04 + days);
    assert_int_equal(acc.through, DUE_2026_03_04 + days);
    return dn_rules_interest_minor(&acc);
}

static void test_div_round(void **state)
{
    (void)state;
    assert_int_equal(dn_rules_div_round(0, 5), 0);
    assert_int_equal(dn_rules_div_round(4, 2), 2);
    assert_int_equal(dn_rules_div_round(5, 2), 3);     /* 2.5 -> 3, away from zero (not to even) */
    assert_int_equal(dn_rules_div_round(7, 2), 4);     /* 3.5 -> 4 */
    assert_int_equal(dn_rules_div_round(1, 3), 0);     /* 0.33 */
    assert_int_equal(dn_rules_div_round(2, 3), 1);     /* 0.67 */
    assert_int_equal(dn_rules_div_round(149, 100), 1); /* 1.49 */
    assert_int_equal(dn_rules_div_round(150, 100), 2); /* 1.50 */
    /* (2^62 * 1000) / 1000 = 2^62: the intermediate is beyond int64 */
    assert_int_equal(dn_rules_div_round((__int128)(1LL << 62) * 1000, 1000), 1LL << 62);
}

static void test_daily_interest(void **state)
{
    (void)state;
    /* 100000 * 80000 / 365 = 8000000000 / 365 = 21917808.2 -> 21917808 (truncated) */
    assert_int_equal(dn_rules_daily_interest_micro(100000, 80000), 21917808);
    /* 1 minor at 0.0001 %: 1 * 1 / 365 = 0.0027 -> 0 */
    assert_int_equal(dn_rules_daily_interest_micro(1, 1), 0);
    assert_int_equal(dn_rules_daily_interest_micro(0, 80000), 0);
    assert_int_equal(dn_rules_daily_interest_micro(-100, 80000), 0);
    assert_int_equal(dn_rules_daily_interest_micro(100000, 0), 0);
    assert_int_equal(dn_rules_daily_interest_micro(100000, -5), 0);
}

static void test_interest_eur_30_days(void **state)
{
    (void)state;
    /* 1000.00 EUR at 8 %, 30 days: daily 21917808 micro; 30 * 21917808 = 657534240 micro
     * = 657.534240 minor -> 658 (6.58 EUR). Exact: 100000 * 0.08 * 30 / 365 = 657.53. */
    assert_int_equal(accrue_days(100000, 80000, 30), 658);
}

static void test_interest_partial_payment(void **state)
{
    (void)state;
    /* Days 1-10 on 100000: 10 * 21917808 = 219178080 micro.
     * 600.00 paid on day 10, days 11-30 on 40000: 40000 * 80000 / 365 = 3200000000 / 365
     * = 8767123.3 -> 8767123 a day; 20 * 8767123 = 175342460 micro.
     * Total 219178080 + 175342460 = 394520540 micro = 394.520540 -> 395. */
    interest_acc_t acc = {.micro = 0, .through = DUE_2026_03_04};
    dn_rules_accrue(&acc, 100000, 80000, DUE_2026_03_04 + 10);
    assert_int_equal(acc.micro, 219178080);
    dn_rules_accrue(&acc, 40000, 80000, DUE_2026_03_04 + 30);
    assert_int_equal(acc.micro, 394520540);
    assert_int_equal(acc.through, DUE_2026_03_04 + 30);
    assert_int_equal(dn_rules_interest_minor(&acc), 395);
}

static void test_interest_jpy_bhd(void **state)
{
    (void)state;
    /* JPY, exponent 0: 150000 yen at 5 % for 45 days.
     * Daily 150000 * 50000 / 365 = 7500000000 / 365 = 20547945.2 -> 20547945;
     * 45 * 20547945 = 924657525 micro = 924.657525 -> 925 yen. */
    assert_int_equal(accrue_days(150000, 50000, 45), 925);
    /* BHD, exponent 3: 1.234 BHD = 1234 minor at 12 % for 365 days.
     * Daily 1234 * 120000 / 365 = 148080000 / 365 = 405698.6 -> 405698;
     * 365 * 405698 = 148079770 micro = 148.079770 -> 148 (0.148 BHD; exact 148.08). */
    assert_int_equal(accrue_days(1234, 120000, 365), 148);
}

static void test_interest_idempotent_and_zero(void **state)
{
    (void)state;
    interest_acc_t acc = {.micro = 0, .through = DUE_2026_03_04};
    dn_rules_accrue(&acc, 100000, 80000, DUE_2026_03_04 + 1);
    assert_int_equal(acc.micro, 21917808);
    /* Same day again, and an earlier day: nothing added, `through` does not go back. */
    dn_rules_accrue(&acc, 100000, 80000, DUE_2026_03_04 + 1);
    dn_rules_accrue(&acc, 100000, 80000, DUE_2026_03_04);
    assert_int_equal(acc.micro, 21917808);
    assert_int_equal(acc.through, DUE_2026_03_04 + 1);

    /* Rate 0: nothing accrues, but `through` still advances. */
    interest_acc_t zero = {.micro = 0, .through = DUE_2026_03_04};
    dn_rules_accrue(&zero, 100000, 0, DUE_2026_03_04 + 30);
    assert_int_equal(zero.micro, 0);
    assert_int_equal(zero.through, DUE_2026_03_04 + 30);
    assert_int_equal(dn_rules_interest_minor(&zero), 0);

    /* Nothing outstanding: nothing accrues, `through` advances. */
    dn_rules_accrue(&acc, 0, 80000, DUE_2026_03_04 + 5);
    assert_int_equal(acc.micro, 21917808);
    assert_int_equal(acc.through, DUE_2026_03_04 + 5);
}

static void test_interest_large(void **state)
{
    (void)state;
    /* 1e15 minor at 100 % (1000000 e4) for 1 day: 1e15 * 1e6 / 365 = 1e21 / 365
     * = 2739726027397260273.97 -> 2739726027397260273 micro (fits in int64, 9.22e18);
     * / 1e6 = 2739726027397.260273 -> 2739726027397. The product 1e21 needs __int128. */
    assert_int_equal(dn_rules_daily_interest_micro(1000000000000000LL, 1000000), 2739726027397260273LL);
    assert_int_equal(accrue_days(1000000000000000LL, 1000000, 1), 2739726027397LL);
}

static void test_stage_fee(void **state)
{
    (void)state;
    assert_int_equal(dn_rules_stage_fee(25050, 500, 0), 500); /* fixed only */
    /* 1.5 % of 25050: 25050 * 15000 / 1000000 = 375.75 -> 376 */
    assert_int_equal(dn_rules_stage_fee(25050, 0, 15000), 376);
    assert_int_equal(dn_rules_stage_fee(25050, 500, 15000), 876); /* 500 + 376 */
    /* 0.5 % of 500: 500 * 5000 / 1000000 = 2.5 -> 3 (half up, not to even) */
    assert_int_equal(dn_rules_stage_fee(500, 0, 5000), 3);
    /* 0.5 % of 100 = 0.5 -> 1 */
    assert_int_equal(dn_rules_stage_fee(100, 0, 5000), 1);
    /* 0.01 % of 4999: 4999 * 100 / 1000000 = 0.4999 -> 0 */
    assert_int_equal(dn_rules_stage_fee(4999, 0, 100), 0);
    /* Negative inputs count as 0. */
    assert_int_equal(dn_rules_stage_fee(-25050, 500, 15000), 500);
    assert_int_equal(dn_rules_stage_fee(25050, -500, 15000), 376);
    assert_int_equal(dn_rules_stage_fee(25050, 500, -15000), 500);
    assert_int_equal(dn_rules_stage_fee(0, 0, 0), 0);
}

static void test_thresholds(void **state)
{
    (void)state;
    assert_true(dn_rules_above_minimum(1000, 1000)); /* exactly the minimum */
    assert_false(dn_rules_above_minimum(999, 1000)); /* one below */
    assert_true(dn_rules_above_minimum(0, 0));       /* no minimum */
    assert_true(dn_rules_above_minimum(1, 0));
    assert_true(dn_rules_settled(0, 0));
    assert_true(dn_rules_settled(-50, 0));    /* overpaid */
    assert_true(dn_rules_settled(100, 100));  /* exactly the tolerance */
    assert_false(dn_rules_settled(101, 100)); /* one above */
    assert_false(dn_rules_settled(1, 0));
}

static void test_grace(void **state)
{
    (void)state;
    /* Offset 0, grace 3: due + 3 days at 00:00 = 1772582400000 + 259200000 = 1772841600000 */
    assert_int_equal(dn_rules_stage_time_ms(DUE_2026_03_04, 0, 3), 1772841600000LL);
    /* Offset 1 day, grace 3: grace wins, due + 3 days. */
    assert_int_equal(dn_rules_stage_time_ms(DUE_2026_03_04, 1 * DAY, 3), 1772841600000LL);
    /* Offset 5 days, grace 3: 1772582400000 + 432000000 = 1773014400000 */
    assert_int_equal(dn_rules_stage_time_ms(DUE_2026_03_04, 5 * DAY, 3), 1773014400000LL);
    /* Offset -2 days, grace 3: grace does not apply, 1772582400000 - 172800000 = 1772409600000 */
    assert_int_equal(dn_rules_stage_time_ms(DUE_2026_03_04, -2 * DAY, 3), 1772409600000LL);
    /* No grace, offset 0: exactly the due date. */
    assert_int_equal(dn_rules_stage_time_ms(DUE_2026_03_04, 0, 0), DUE_MS);
    /* Sub-day offset beyond the grace: 4 days and 1 ms. */
    assert_int_equal(dn_rules_stage_time_ms(DUE_2026_03_04, 4 * DAY + 1, 3), 1772928000001LL);
}

static void test_days_overdue(void **state)
{
    (void)state;
    assert_int_equal(dn_rules_days_overdue(DUE_2026_03_04, 1772841600000LL - 1), 2); /* due + 3d - 1 ms */
    assert_int_equal(dn_rules_days_overdue(DUE_2026_03_04, 1772841600000LL), 3);     /* due + 3d */
    assert_int_equal(dn_rules_days_overdue(DUE_2026_03_04, DUE_MS), 0);              /* on the due date */
    assert_int_equal(dn_rules_days_overdue(DUE_2026_03_04, DUE_MS + 1), 0);          /* 1 ms late */
    assert_int_equal(dn_rules_days_overdue(DUE_2026_03_04, DUE_MS - 1), 0);          /* before */
    assert_int_equal(dn_rules_days_overdue(DUE_2026_03_04, DUE_MS - 10 * DAY), 0);
    assert_int_equal(dn_rules_days_overdue(DUE_2026_03_04, 0), 0); /* epoch, far before */
}

static void assert_alloc(allocation_t a, int64_t fees, int64_t interest, int64_t principal, int64_t over)
{
    assert_int_equal(a.to_fees, fees);
    assert_int_equal(a.to_interest, interest);
    assert_int_equal(a.to_principal, principal);
    assert_int_equal(a.overpaid, over);
}

static void test_allocate(void **state)
{
    (void)state;
    /* Owed: fees 100, interest 200, principal 500 (total 800). */
    assert_alloc(dn_rules_allocate(0, 100, 200, 500), 0, 0, 0, 0);
    assert_alloc(dn_rules_allocate(50, 100, 200, 500), 50, 0, 0, 0);     /* part of the fees */
    assert_alloc(dn_rules_allocate(100, 100, 200, 500), 100, 0, 0, 0);   /* exactly the fees */
    assert_alloc(dn_rules_allocate(101, 100, 200, 500), 100, 1, 0, 0);   /* one into interest */
    assert_alloc(dn_rules_allocate(300, 100, 200, 500), 100, 200, 0, 0); /* fees + interest */
    assert_alloc(dn_rules_allocate(301, 100, 200, 500), 100, 200, 1, 0); /* one into principal */
    assert_alloc(dn_rules_allocate(799, 100, 200, 500), 100, 200, 499, 0);
    assert_alloc(dn_rules_allocate(800, 100, 200, 500), 100, 200, 500, 0); /* exactly all */
    assert_alloc(dn_rules_allocate(801, 100, 200, 500), 100, 200, 500, 1); /* one over */
    assert_alloc(dn_rules_allocate(1000, 100, 200, 500), 100, 200, 500, 200);
    /* Nothing owed but principal: all of it goes there. */
    assert_alloc(dn_rules_allocate(300, 0, 0, 500), 0, 0, 300, 0);
    /* Negative inputs clamp at 0. */
    assert_alloc(dn_rules_allocate(-5, 100, 200, 500), 0, 0, 0, 0);
    assert_alloc(dn_rules_allocate(400, -100, 200, 500), 0, 200, 200, 0);
    assert_alloc(dn_rules_allocate(400, 100, -200, -500), 100, 0, 0, 300);
}

static void test_parse_e4(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(dn_rules_parse_e4("8", &v), 0);
    assert_int_equal(v, 80000);
    assert_int_equal(dn_rules_parse_e4("8.1", &v), 0);
    assert_int_equal(v, 81000);
    assert_int_equal(dn_rules_parse_e4("8.12", &v), 0);
    assert_int_equal(v, 81200);
    assert_int_equal(dn_rules_parse_e4("0.0375", &v), 0);
    assert_int_equal(v, 375);
    assert_int_equal(dn_rules_parse_e4("100", &v), 0);
    assert_int_equal(v, 1000000);
    assert_int_equal(dn_rules_parse_e4("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(dn_rules_parse_e4("1000000.0000", &v), 0); /* the maximum */
    assert_int_equal(v, 10000000000LL);

    const char *bad[] = {"",     "-1",   "+1",           "1e3",     "8.12345",
                         "8.",   ".5",   "abc",          " 8",      "8 ",
                         "8.1x", "8..1", "1000000.0001", "1000001", "99999999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dn_rules_parse_e4(bad[i], &v) != -1)
            fail_msg("accepted \"%s\"", bad[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_div_round),
        cmocka_unit_test(test_daily_interest),
        cmocka_unit_test(test_interest_eur_30_days),
        cmocka_unit_test(test_interest_partial_payment),
        cmocka_unit_test(test_interest_jpy_bhd),
        cmocka_unit_test(test_interest_idempotent_and_zero),
        cmocka_unit_test(test_interest_large),
        cmocka_unit_test(test_stage_fee),
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_grace),
        cmocka_unit_test(test_days_overdue),
        cmocka_unit_test(test_allocate),
        cmocka_unit_test(test_parse_e4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
