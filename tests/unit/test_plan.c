/* Instalment plans (dn_plan): the cost, the engine's checks and the portal's offers.
 * Every expected value is worked out by hand in the comment next to it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dn_plan.h"
#include "dn_rules.h"

#define D_2026_03_05 20517 /* 2026-01-01 is day 20454; + 31 + 28 + 4 */

/* The `workflow` policy of the integration tests: plan fee 3.00 EUR, min first 10.00,
 * interval 31d, at most 6. */
static plan_policy_t workflow(void)
{
    static char fee_cur[1][4] = {"EUR"}, min_cur[1][4] = {"EUR"};
    static int64_t fee_minor[1] = {300}, min_minor[1] = {1000};
    plan_policy_t pp = {.offered = 1,
                        .max_instalments = 6,
                        .interval_ms = 31 * RULES_DAY_MS,
                        .fee = {.currency = fee_cur, .minor = fee_minor, .n = 1},
                        .min_first = {.currency = min_cur, .minor = min_minor, .n = 1},
                        .auto_approve_max = 3};
    return pp;
}

static void test_offer_three(void **state)
{
    (void)state;
    plan_policy_t pp = workflow();
    dn_plan_t p;
    dn_plan_cost_t cost;
    const char *code = NULL;
    char why[300] = "";
    /* owed 900.00 + fee 3.00 = 903.00 over 3: 301.00 each, no remainder */
    assert_int_equal(dn_plan_offer(&pp, "EUR", 90000, 90000, D_2026_03_05, 3, &p, &cost, &code, why, sizeof(why)), 0);
    assert_int_equal(cost.total, 90300);
    assert_int_equal(cost.fee, 300);
    assert_int_equal(cost.interest, 0);
    assert_int_equal(p.n, 3);
    assert_int_equal(p.amount[0], 30100);
    assert_int_equal(p.amount[1], 30100);
    assert_int_equal(p.amount[2], 30100);
    assert_int_equal(p.due[0], D_2026_03_05 + 31);
    assert_int_equal(p.due[2], D_2026_03_05 + 93);
    /* 120.00 + 3.00 = 12300 over 4: 3075 each, exact; 12301 over 4: 3076 + 3 x 3075 */
    assert_int_equal(dn_plan_offer(&pp, "EUR", 12001, 12001, D_2026_03_05, 4, &p, &cost, &code, why, sizeof(why)), 0);
    assert_int_equal(p.amount[0], 3076);
    assert_int_equal(p.amount[3], 3075);
    assert_int_equal(p.amount[0] + p.amount[1] + p.amount[2] + p.amount[3], 12301);
}

static void test_offer_limits(void **state)
{
    (void)state;
    plan_policy_t pp = workflow();
    dn_plan_t p;
    dn_plan_cost_t cost;
    const char *code = NULL;
    char why[300] = "";
    assert_int_equal(dn_plan_offer(&pp, "EUR", 90000, 90000, D_2026_03_05, 7, &p, &cost, &code, why, sizeof(why)), -1);
    assert_string_equal(code, "policy_limit");
    assert_string_equal(why, "field instalments: 7 instalments, the policy allows 6 (plan.max_instalments)");
    assert_int_equal(dn_plan_offer(&pp, "EUR", 90000, 90000, D_2026_03_05, 1, &p, &cost, &code, why, sizeof(why)), -1);
    assert_string_equal(code, "invalid_field");
    /* 30.00 + 3.00 over 6 = 5.50 each: below the first's 10.00 */
    assert_int_equal(dn_plan_offer(&pp, "EUR", 3000, 3000, D_2026_03_05, 6, &p, &cost, &code, why, sizeof(why)), -1);
    assert_string_equal(code, "policy_limit");
    assert_string_equal(why, "field instalments[0].amount_minor: 550 is below the policy's plan.min_first of 1000");
}

static void test_check(void **state)
{
    (void)state;
    plan_policy_t pp = workflow();
    dn_plan_cost_t cost;
    const char *code = NULL;
    char why[300] = "";
    dn_plan_t p = {
        .n = 3, .due = {D_2026_03_05 + 10, D_2026_03_05 + 40, D_2026_03_05 + 70}, .amount = {30300, 30000, 30000}};
    assert_int_equal(dn_plan_check(&pp, "EUR", 90000, 90000, D_2026_03_05, &p, &cost, &code, why, sizeof(why)), 0);
    p.amount[0] = 30000;
    assert_int_equal(dn_plan_check(&pp, "EUR", 90000, 90000, D_2026_03_05, &p, &cost, &code, why, sizeof(why)), -1);
    assert_string_equal(why, "field instalments: they add up to 90000, the plan must pay 90300 (owed 90000 + plan fee "
                             "300 + plan interest 0)");
    p.amount[0] = 30300;
    p.due[1] = D_2026_03_05 + 42; /* 32 days after the first */
    assert_int_equal(dn_plan_check(&pp, "EUR", 90000, 90000, D_2026_03_05, &p, &cost, &code, why, sizeof(why)), -1);
    assert_string_equal(code, "policy_limit");
    assert_string_equal(why, "field instalments[1].due_date: 2026-04-16 is more than 31 days after 2026-03-15 "
                             "(plan.interval)");
    p.due[1] = D_2026_03_05 + 10;
    assert_int_equal(dn_plan_check(&pp, "EUR", 90000, 90000, D_2026_03_05, &p, &cost, &code, why, sizeof(why)), -1);
    assert_string_equal(why, "field instalments[1].due_date: 2026-03-15 is not after instalment 1's 2026-03-15");
    p.due[0] = D_2026_03_05 - 1;
    assert_int_equal(dn_plan_check(&pp, "EUR", 90000, 90000, D_2026_03_05, &p, &cost, &code, why, sizeof(why)), -1);
    assert_string_equal(why, "field instalments[0].due_date: 2026-03-04 is in the past");
}

static void test_interest(void **state)
{
    (void)state;
    plan_policy_t pp = workflow();
    pp.interest_rate_e4 = 73000; /* 7.3 %: 0.02 % a day; 1000.00 -> 0.20 a day */
    dn_plan_t p;
    dn_plan_cost_t cost;
    const char *code = NULL;
    char why[300] = "";
    /* last due 62 days ahead: 62 x 20 = 1240 interest; 100000 + 300 + 1240 = 101540 over 2 = 50770 */
    assert_int_equal(dn_plan_offer(&pp, "EUR", 100000, 100000, D_2026_03_05, 2, &p, &cost, &code, why, sizeof(why)), 0);
    assert_int_equal(cost.interest, 1240);
    assert_int_equal(cost.total, 101540);
    assert_int_equal(p.amount[0], 50770);
    assert_int_equal(p.amount[1], 50770);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offer_three),
        cmocka_unit_test(test_offer_limits),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_interest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
