/* The logistic model's fit and the model checks (common/risk/dn_risk_fit.h): known
 * coefficients recovered from generated data, AUC and Brier score on hand cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "dn_risk_fit.h"

static uint64_t rng = 42;

static double uniform(void) /* splitmix64, [0, 1) */
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}

static void test_fit_recovers_coefficients(void **state)
{
    (void)state;
    enum { N = 60000 };
    const double b0 = 0.5, b[DN_RISK_NFEATURES] = {0.02, -0.0004, 0.3, -0.8, -0.6, -0.4, -0.5, -0.003};
    double *x = malloc(sizeof(double) * N * DN_RISK_NFEATURES);
    int *y = malloc(sizeof(int) * N);
    assert_non_null(x);
    assert_non_null(y);
    for (int i = 0; i < N; i++) {
        double *r = &x[i * DN_RISK_NFEATURES];
        r[0] = floor(uniform() * 101);      /* share on time, percent */
        r[1] = floor(uniform() * 4000);     /* days late x100 */
        r[2] = floor(uniform() * 4);        /* promises kept */
        r[3] = floor(uniform() * 3);        /* promises broken */
        r[4] = floor(uniform() * 2);        /* plans broken */
        r[5] = floor(uniform() * 3);        /* bounces */
        r[6] = floor(uniform() * 2);        /* disputes */
        r[7] = 50 + floor(uniform() * 400); /* balance over usual, percent */
        double z = b0;
        for (int j = 0; j < DN_RISK_NFEATURES; j++)
            z += b[j] * r[j];
        y[i] = uniform() < 1.0 / (1.0 + exp(-z));
    }
    double c0, c[DN_RISK_NFEATURES];
    int it = 0;
    char err[128];
    assert_int_equal(dn_risk_fit_logit(x, y, N, &c0, c, &it, err, sizeof(err)), 0);
    assert_true(it > 1 && it < 30);
    /* Within 15% of each coefficient (about four standard errors at this size), the
     * intercept within 0.15. */
    assert_true(fabs(c0 - b0) < 0.15);
    for (int j = 0; j < DN_RISK_NFEATURES; j++)
        assert_true(fabs(c[j] - b[j]) < 0.15 * fabs(b[j]));
    free(x);
    free(y);
}

static void test_fit_constant_feature_and_bad_input(void **state)
{
    (void)state;
    /* One class only: refused with the counts. */
    double x[4 * DN_RISK_NFEATURES] = {0};
    int y1[4] = {1, 1, 1, 1}, y2[4] = {1, 0, 1, 0};
    double c0, c[DN_RISK_NFEATURES];
    char err[128];
    assert_int_equal(dn_risk_fit_logit(x, y1, 4, &c0, c, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "need outcomes of both kinds (4 cases, 4 paid)");
    /* Every feature constant: only the intercept moves, to the log-odds of the share paid. */
    assert_int_equal(dn_risk_fit_logit(x, y2, 4, &c0, c, NULL, err, sizeof(err)), 0);
    assert_true(fabs(c0) < 1e-9);
    for (int j = 0; j < DN_RISK_NFEATURES; j++)
        assert_true(c[j] == 0.0);
}

static void test_auc_brier(void **state)
{
    (void)state;
    /* Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ranked right. */
    const double p[] = {0.1, 0.4, 0.35, 0.8};
    const int y[] = {0, 0, 1, 1};
    assert_true(fabs(dn_risk_auc(p, y, 4) - 0.75) < 1e-12);
    /* (0.01 + 0.16 + 0.4225 + 0.04) / 4 */
    assert_true(fabs(dn_risk_brier(p, y, 4) - 0.158125) < 1e-12);
    /* A tie counts half; a perfect and a reversed ranking. */
    const double t[] = {0.5, 0.5};
    const int ty[] = {0, 1};
    assert_true(fabs(dn_risk_auc(t, ty, 2) - 0.5) < 1e-12);
    const double q[] = {0.9, 0.1, 0.2};
    const int qy[] = {1, 0, 0}, ry[] = {0, 1, 1};
    assert_true(fabs(dn_risk_auc(q, qy, 3) - 1.0) < 1e-12);
    assert_true(fabs(dn_risk_auc(q, ry, 3) - 0.0) < 1e-12);
    /* Ties across classes: positives {0.5, 0.9}, negatives {0.5, 0.2}: 0.5 vs 0.5 half, the
     * rest right: 3.5 / 4. */
    const double u[] = {0.5, 0.9, 0.5, 0.2};
    const int uy[] = {1, 1, 0, 0};
    assert_true(fabs(dn_risk_auc(u, uy, 4) - 0.875) < 1e-12);
    /* One class only: no AUC; no rows: no Brier score. */
    const int same[] = {1, 1};
    assert_true(dn_risk_auc(p, same, 2) < 0);
    assert_true(dn_risk_brier(p, y, 0) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fit_recovers_coefficients),
        cmocka_unit_test(test_fit_constant_feature_and_bad_input),
        cmocka_unit_test(test_auc_brier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
