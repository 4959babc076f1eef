/* dn_risk_fit: fitting and checking the logistic model of libdnrisk (docs/risk.md).
 *
 * A separate library (libdnriskfit) because it needs GSL: `dunningctl risk fit`, the
 * simulator and the unit tests link it; the engine, which only evaluates a model
 * (dn_risk.h), does not. */
#ifndef DN_RISK_FIT_H
#define DN_RISK_FIT_H

#include <stddef.h>

#include "dn_risk.h"

/* Fits P(y = 1) = 1 / (1 + e^-(intercept + coef . x)) by iteratively reweighted least
 * squares (gsl_multifit_wlinear) on n rows of DN_RISK_NFEATURES raw features (row-major, as
 * dn_risk_features gives them) and their outcomes y (0/1). The features are standardised
 * for the fit and the coefficients given back on the raw scale; a feature that never varies
 * gets 0; a tiny ridge penalty (1e-6 per row on the standardised scale) keeps a separable
 * sample finite. 0, or -1 with errstr (fewer than 2 rows, one class only, no convergence). */
int dn_risk_fit_logit(const double *x, const int *y, size_t n, double *intercept, double coef[DN_RISK_NFEATURES],
                      int *iterations, char *errstr, size_t errstr_size);

/* The area under the ROC curve of predictions p (any scale, higher = more likely 1) for
 * outcomes y: the share of (positive, negative) pairs ranked right, ties counting half.
 * -1 when y has one class only. */
double dn_risk_auc(const double *p, const int *y, size_t n);

/* The Brier score: the mean of (p - y)^2, p a probability in [0, 1]. -1 when n is 0. */
double dn_risk_brier(const double *p, const int *y, size_t n);

#endif
