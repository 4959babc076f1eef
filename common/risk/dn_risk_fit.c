/* Fitting and checking the logistic model (see dn_risk_fit.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit.h>

#include "dn_risk_fit.h"

enum { P = DN_RISK_NFEATURES + 1, MAX_ITER = 100 };
static const double RIDGE = 1e-6, TOL = 1e-9;

int dn_risk_fit_logit(const double *x, const int *y, size_t n, double *intercept, double coef[DN_RISK_NFEATURES],
                      int *iterations, char *errstr, size_t errstr_size)
{
    int rc = -1;
    size_t npos = 0;
    for (size_t i = 0; i < n; i++)
        npos += y[i] != 0;
    if (n < 2 || npos == 0 || npos == n) {
        snprintf(errstr, errstr_size, "need outcomes of both kinds (%zu cases, %zu paid)", n, npos);
        return -1;
    }
    /* Standardised features: mean 0, standard deviation 1; a constant one is left out (0). */
    double mean[DN_RISK_NFEATURES] = {0}, sd[DN_RISK_NFEATURES] = {0};
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < DN_RISK_NFEATURES; j++)
            mean[j] += x[i * DN_RISK_NFEATURES + j] / (double)n;
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < DN_RISK_NFEATURES; j++) {
            double d = x[i * DN_RISK_NFEATURES + j] - mean[j];
            sd[j] += d * d / (double)n;
        }
    for (int j = 0; j < DN_RISK_NFEATURES; j++)
        sd[j] = sqrt(sd[j]);
    gsl_error_handler_t *old = gsl_set_error_handler_off();
    /* n rows of data and P ridge rows (sqrt(ridge * n) on the diagonal, target 0; none for
     * the intercept), which is how a penalty enters a weighted least-squares solve. */
    size_t rows = n + P;
    gsl_matrix *X = gsl_matrix_calloc(rows, P), *cov = gsl_matrix_alloc(P, P);
    gsl_vector *w = gsl_vector_alloc(rows), *z = gsl_vector_calloc(rows), *b = gsl_vector_calloc(P),
               *nb = gsl_vector_alloc(P);
    gsl_multifit_linear_workspace *ws = gsl_multifit_linear_alloc(rows, P);
    if (!X || !cov || !w || !z || !b || !nb || !ws) {
        snprintf(errstr, errstr_size, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        gsl_matrix_set(X, i, 0, 1.0);
        for (int j = 0; j < DN_RISK_NFEATURES; j++)
            gsl_matrix_set(X, i, (size_t)j + 1, sd[j] > 0 ? (x[i * DN_RISK_NFEATURES + j] - mean[j]) / sd[j] : 0.0);
    }
    for (size_t j = 1; j < P; j++) {
        gsl_matrix_set(X, n + j, j, sqrt(RIDGE * (double)n));
        gsl_vector_set(w, n + j, 1.0);
    }
    gsl_vector_set(w, n, 0.0); /* the intercept's row: no penalty */
    gsl_vector_set(b, 0, log((double)npos / (double)(n - npos)));
    int it;
    for (it = 1; it <= MAX_ITER; it++) {
        for (size_t i = 0; i < n; i++) {
            double eta = 0;
            for (size_t j = 0; j < P; j++)
                eta += gsl_matrix_get(X, i, j) * gsl_vector_get(b, j);
            double mu = 1.0 / (1.0 + exp(-eta));
            double v = mu * (1.0 - mu);
            if (v < 1e-10)
                v = 1e-10;
            gsl_vector_set(w, i, v);
            gsl_vector_set(z, i, eta + ((y[i] ? 1.0 : 0.0) - mu) / v);
        }
        double chisq;
        if (gsl_multifit_wlinear(X, w, z, nb, cov, &chisq, ws) != GSL_SUCCESS) {
            snprintf(errstr, errstr_size, "the weighted least-squares step failed");
            goto out;
        }
        double step = 0;
        for (size_t j = 0; j < P; j++) {
            double d = fabs(gsl_vector_get(nb, j) - gsl_vector_get(b, j));
            step = d > step ? d : step;
        }
        gsl_vector_memcpy(b, nb);
        if (step < TOL)
            break;
    }
    if (it > MAX_ITER) {
        snprintf(errstr, errstr_size, "no convergence after %d iterations", MAX_ITER);
        goto out;
    }
    /* Back to the raw scale: b_j / sd_j, the intercept less each mean's share. */
    double b0 = gsl_vector_get(b, 0);
    for (int j = 0; j < DN_RISK_NFEATURES; j++) {
        coef[j] = sd[j] > 0 ? gsl_vector_get(b, (size_t)j + 1) / sd[j] : 0.0;
        b0 -= coef[j] * mean[j];
    }
    *intercept = b0;
    if (iterations)
        *iterations = it;
    rc = 0;
out:
    gsl_multifit_linear_free(ws);
    gsl_vector_free(nb);
    gsl_vector_free(b);
    gsl_vector_free(z);
    gsl_vector_free(w);
    gsl_matrix_free(cov);
    gsl_matrix_free(X);
    gsl_set_error_handler(old);
    return rc;
}

typedef struct {
    double p;
    int y;
} pair_t;

static int by_p(const void *a, const void *b)
{
    double x = ((const pair_t *)a)->p, y = ((const pair_t *)b)->p;
    return (x > y) - (x < y);
}

double dn_risk_auc(const double *p, const int *y, size_t n)
{
    pair_t *v = malloc(n * sizeof(*v) + 1);
    if (!v)
        return -1;
    size_t npos = 0;
    for (size_t i = 0; i < n; i++) {
        v[i] = (pair_t){p[i], y[i] != 0};
        npos += v[i].y;
    }
    if (npos == 0 || npos == n) {
        free(v);
        return -1;
    }
    qsort(v, n, sizeof(*v), by_p);
    /* Mann-Whitney: the positives' ranks (ties get their average rank). */
    double ranks = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && v[j].p == v[i].p)
            j++;
        double rank = ((double)(i + 1) + (double)j) / 2.0;
        for (size_t k = i; k < j; k++)
            ranks += v[k].y ? rank : 0;
        i = j;
    }
    free(v);
    double np = (double)npos, nn = (double)(n - npos);
    return (ranks - np * (np + 1) / 2.0) / (np * nn);
}

double dn_risk_brier(const double *p, const int *y, size_t n)
{
    if (n == 0)
        return -1;
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = p[i] - (y[i] ? 1.0 : 0.0);
        s += d * d;
    }
    return s / (double)n;
}
