/* The points table and its calibration (common/risk, docs/risk.md): hand-built customers
 * with their exact scores and reasons, each worked out in the comment next to it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <cmocka.h>

#include "dn_risk.h"

static dn_risk_score_t score_of(const dn_risk_inputs_t *in)
{
    char err[128];
    dn_risk_score_t s;
    dn_risk_model_t *m = dn_risk_points_new();
    assert_non_null(m);
    assert_string_equal(dn_risk_model_name(m), "points");
    assert_int_equal(dn_risk_score(m, in, &s, err, sizeof(err)), 0);
    dn_risk_model_destroy(m);
    return s;
}

static void test_calibration(void **state)
{
    (void)state;
    assert_int_equal(dn_risk_points_probability(-100), 3); /* below the first knot: flat */
    assert_int_equal(dn_risk_points_probability(-80), 3);
    assert_int_equal(dn_risk_points_probability(-49), 11); /* 10 + 1 * 10 / 20 = 10.5 -> 11 (half up) */
    assert_int_equal(dn_risk_points_probability(-22), 28); /* 20 + 8 * 15 / 15 */
    assert_int_equal(dn_risk_points_probability(-15), 35);
    assert_int_equal(dn_risk_points_probability(0), 60); /* the neutral customer */
    assert_int_equal(dn_risk_points_probability(1), 61); /* 60 + 1.2 */
    assert_int_equal(dn_risk_points_probability(3), 64); /* 60 + 3.6 */
    assert_int_equal(dn_risk_points_probability(40), 95);
    assert_int_equal(dn_risk_points_probability(100), 95); /* above the last knot: flat */
}

static void test_late_update(void **state)
{
    (void)state;
    assert_int_equal(dn_risk_late_update(0, 0, 12), 1200);    /* the first case sets it */
    assert_int_equal(dn_risk_late_update(1200, 1, 0), 600);   /* (1200 + 0) / 2 */
    assert_int_equal(dn_risk_late_update(600, 2, 30), 1800);  /* (600 + 3000) / 2 */
    assert_int_equal(dn_risk_late_update(1, 1, 0), 1);        /* 0.5 -> 1, half up */
    assert_int_equal(dn_risk_late_update(500, 3, -4), 250);   /* early counts as 0 days */
    assert_int_equal(dn_risk_late_update(0, 0, 9999), 36500); /* capped at a year */
}

static void test_new_customer(void **state)
{
    (void)state;
    dn_risk_inputs_t in = {0};
    dn_risk_score_t s = score_of(&in);
    assert_int_equal(s.points, 0);
    assert_int_equal(s.score, 60);
    assert_int_equal(s.nreasons, 1);
    assert_string_equal(s.reasons[0].code, "no_history");
    assert_string_equal(s.reasons[0].text, "no payment history yet");
}

static void test_good_payer(void **state)
{
    (void)state;
    /* 5 of 5 on time: +20; under a day late: +5; 1 promise kept: +3; balance at the usual: 0.
     * 28 points: 85 + 3 * 10 / 15 = 87. */
    dn_risk_inputs_t in = {
        .invoices = 5, .paid_on_time = 5, .promises_kept = 1, .open_minor = 10000, .usual_minor = 10000};
    dn_risk_score_t s = score_of(&in);
    assert_int_equal(s.points, 28);
    assert_int_equal(s.score, 87);
    assert_int_equal(s.nreasons, 3);
    assert_string_equal(s.reasons[0].text, "paid 5 of 5 invoices on time");
    assert_int_equal(s.reasons[0].points, 20);
    assert_string_equal(s.reasons[1].text, "pays on the due date on recent invoices");
    assert_int_equal(s.reasons[1].points, 5);
    assert_string_equal(s.reasons[2].text, "kept 1 promise to pay");
    assert_int_equal(s.reasons[2].points, 3);
}

static void test_two_broken_promises(void **state)
{
    (void)state;
    /* No history, 2 promises broken: -24 points: 20 + 6 * 15 / 15 = 26 (the strict track's
     * customer of tests/integration/test_risk_tracks.sh). */
    dn_risk_inputs_t in = {.promises_broken = 2};
    dn_risk_score_t s = score_of(&in);
    assert_int_equal(s.points, -24);
    assert_int_equal(s.score, 26);
    assert_int_equal(s.nreasons, 2);
    assert_string_equal(s.reasons[0].code, "promises_broken");
    assert_string_equal(s.reasons[0].text, "broke 2 promises to pay");
    assert_string_equal(s.reasons[1].text, "no payment history yet");
}

static void test_late_payer(void **state)
{
    (void)state;
    /* 0 of 1 on time: -15, halved for a short history (< 3): -7; 12 days late: -10; 2 broken:
     * -24; owes 2.0 times the usual: -5. -46 points: 10 + 4 * 10 / 20 = 12. */
    dn_risk_inputs_t in = {
        .invoices = 1, .late_days_x100 = 1200, .promises_broken = 2, .open_minor = 20000, .usual_minor = 10000};
    dn_risk_score_t s = score_of(&in);
    assert_int_equal(s.points, -46);
    assert_int_equal(s.score, 12);
    assert_int_equal(s.nreasons, 3);
    assert_string_equal(s.reasons[0].text, "broke 2 promises to pay");
    assert_string_equal(s.reasons[1].text, "pays 12 days late on average, recent invoices weighted more");
    assert_string_equal(s.reasons[2].text, "paid 0 of 1 invoice on time");
    assert_int_equal(s.reasons[2].points, -7);
    char line[512];
    dn_risk_reasons_join(&s, line, sizeof(line));
    assert_string_equal(line, "broke 2 promises to pay; pays 12 days late on average, recent invoices weighted "
                              "more; paid 0 of 1 invoice on time");
}

static void test_caps(void **state)
{
    (void)state;
    /* 5 broken: -36 (cap); 3 plans: -30 (cap); 4 bounces: -15 (cap); 3 disputes: -16 (cap);
     * -97 points: 3. The bounces (15) are the fourth effect and not named. */
    dn_risk_inputs_t in = {.promises_broken = 5, .plans_broken = 3, .bounces = 4, .disputes = 3};
    dn_risk_score_t s = score_of(&in);
    assert_int_equal(s.points, -97);
    assert_int_equal(s.score, 3);
    assert_int_equal(s.nreasons, 3);
    assert_string_equal(s.reasons[0].text, "broke 5 promises to pay");
    assert_string_equal(s.reasons[1].text, "broke 3 instalment plans");
    assert_string_equal(s.reasons[2].text, "disputed 3 invoices");
}

static void test_ties_and_balance(void **state)
{
    (void)state;
    /* 3 of 4 on time (75%): +10; 5 days late: 0; 1 bounce: -5; owes 2.5 times the usual: -5.
     * 0 points: 60. The two -5s come in the table's order. */
    dn_risk_inputs_t in = {.invoices = 4,
                           .paid_on_time = 3,
                           .late_days_x100 = 500,
                           .bounces = 1,
                           .open_minor = 25000,
                           .usual_minor = 10000};
    dn_risk_score_t s = score_of(&in);
    assert_int_equal(s.points, 0);
    assert_int_equal(s.score, 60);
    assert_int_equal(s.nreasons, 3);
    assert_string_equal(s.reasons[0].text, "paid 3 of 4 invoices on time");
    assert_string_equal(s.reasons[1].text, "1 reminder bounced");
    assert_string_equal(s.reasons[2].text, "owes 2.5 times the usual invoice");
}

static void test_bad_inputs(void **state)
{
    (void)state;
    char err[128];
    dn_risk_score_t s;
    dn_risk_model_t *m = dn_risk_points_new();
    dn_risk_inputs_t in = {.invoices = 1, .paid_on_time = 2};
    assert_int_equal(dn_risk_score(m, &in, &s, err, sizeof(err)), -1);
    assert_string_equal(err, "behaviour counts out of range");
    dn_risk_model_destroy(m);
    dn_risk_model_destroy(NULL);
}

static void test_logit(void **state)
{
    (void)state;
    char err[128];
    dn_risk_score_t s;
    double coef[DN_RISK_NFEATURES] = {0};
    coef[3] = -1.0; /* promises broken */
    dn_risk_model_t *m = dn_risk_logit_new(2.0, coef, err, sizeof(err));
    assert_non_null(m);
    assert_string_equal(dn_risk_model_name(m), "logit");
    dn_risk_inputs_t in = {.promises_broken = 2};
    assert_int_equal(dn_risk_score(m, &in, &s, err, sizeof(err)), 0);
    assert_int_equal(s.score, 50); /* z = 2 - 2 = 0 */
    assert_int_equal(s.points, 0);
    assert_string_equal(s.reasons[0].text, "broke 2 promises to pay");
    assert_int_equal(s.reasons[0].points, -200);
    in.promises_broken = 0; /* z = 2: 1 / (1 + e^-2) = 0.881 */
    assert_int_equal(dn_risk_score(m, &in, &s, err, sizeof(err)), 0);
    assert_int_equal(s.score, 88);
    dn_risk_model_destroy(m);
    coef[0] = NAN;
    assert_null(dn_risk_logit_new(0, coef, err, sizeof(err)));
    assert_string_equal(err, "coefficient of on_time is not a finite number");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calibration),
        cmocka_unit_test(test_late_update),
        cmocka_unit_test(test_new_customer),
        cmocka_unit_test(test_good_payer),
        cmocka_unit_test(test_two_broken_promises),
        cmocka_unit_test(test_late_payer),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_ties_and_balance),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_logit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
