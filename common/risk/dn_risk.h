/* dn_risk: the payment-behaviour score of a case (docs/risk.md).
 *
 * A score is the probability, 0-100, that the customer pays the case within 30 days of its
 * due date, with the three reasons that moved it most, in words. A model turns a customer's
 * behaviour (dn_risk_inputs_t, kept by the engine in customer_behaviour) into a score.
 * Two models sit behind one interface:
 *   - the points table (dn_risk_points_new): documented points per input, summed and mapped
 *     to a probability by a calibration table; needs no history (a new customer scores the
 *     table's neutral value);
 *   - a logistic regression (dn_risk_logit_new) with coefficients fitted on the tenant's own
 *     history (fitted by libdnriskfit, dn_risk_fit.h: `dunningctl risk fit`).
 * Everything here is integer arithmetic except the logistic model's evaluation. */
#ifndef DN_RISK_H
#define DN_RISK_H

#include <stddef.h>
#include <stdint.h>

/* What the score is computed from: one customer's history in one tenant. */
typedef struct dn_risk_inputs {
    int32_t invoices;        /* cases resolved (paid, on time or late): the history's length */
    int32_t paid_on_time;    /* of those, paid in full by their due date */
    int32_t late_days_x100;  /* days late, recent cases weighted more (dn_risk_late_update), 1/100 day */
    int32_t promises_kept;   /* promises kept in full */
    int32_t promises_broken; /* promises broken (partially kept counts as neither) */
    int32_t plans_broken;    /* instalment plans broken */
    int32_t bounces;         /* reminders that bounced (permanent delivery failures) */
    int32_t disputes;        /* cases disputed */
    int64_t open_minor;      /* what the customer owes now on open cases (this one included) */
    int64_t usual_minor;     /* the customer's usual invoice: paid amounts / invoices; 0 = unknown */
} dn_risk_inputs_t;

enum { DN_RISK_REASONS = 3, DN_RISK_REASON_LEN = 96 };

typedef struct dn_risk_reason {
    const char *code;              /* stable identifier: on_time, late_days, promises_broken, ... */
    int points;                    /* the points (or, logistic model, hundredths of log-odds) */
    char text[DN_RISK_REASON_LEN]; /* in words, e.g. "broke 2 promises to pay" */
} dn_risk_reason_t;

typedef struct dn_risk_score {
    int score;    /* 0-100: probability (percent) of paying within 30 days of the due date */
    int points;   /* the points total (points table) or log-odds x100 (logistic) */
    int nreasons; /* 0-3 */
    dn_risk_reason_t reasons[DN_RISK_REASONS]; /* largest effect first */
} dn_risk_score_t;

typedef struct dn_risk_model dn_risk_model_t;

/* The documented points table (docs/risk.md). NULL only when out of memory. */
dn_risk_model_t *dn_risk_points_new(void);
/* A logistic regression over the points table's features (dn_risk_features): intercept and
 * DN_RISK_NFEATURES coefficients, copied. NULL with errstr on a bad argument. */
enum { DN_RISK_NFEATURES = 8 };
dn_risk_model_t *dn_risk_logit_new(double intercept, const double coef[DN_RISK_NFEATURES], char *errstr,
                                   size_t errstr_size);
void dn_risk_model_destroy(dn_risk_model_t *m);
/* "points" or "logit". */
const char *dn_risk_model_name(const dn_risk_model_t *m);
/* Scores one customer. 0, or -1 with errstr when an input is out of range (a negative count,
 * more on-time than resolved cases). */
int dn_risk_score(const dn_risk_model_t *m, const dn_risk_inputs_t *in, dn_risk_score_t *out, char *errstr,
                  size_t errstr_size);

/* The features both models read, in this order: share on time (percent, 0 without history),
 * days late x100, promises kept, promises broken, plans broken, bounces, disputes, open
 * balance over usual (percent, 100 when unknown). */
void dn_risk_features(const dn_risk_inputs_t *in, int64_t out[DN_RISK_NFEATURES]);

/* The weighted days late after one more resolved case paid `days_late` days after its due
 * date (0 if on time): the first case sets it, each later one moves it half way
 * (new = (old + days x 100) / 2, rounded half up), so recent cases weigh more. */
int32_t dn_risk_late_update(int32_t late_days_x100, int32_t invoices_before, int32_t days_late);

/* The calibration of the points table: points -> probability percent (linear between the
 * knots of docs/risk.md, flat outside them, rounded half up). */
int dn_risk_points_probability(int points);

/* A stable bucket 0..9999 of the parts joined (FNV-1a 64 over each part and a separator,
 * then a 64-bit finaliser): the same parts give the same bucket on every machine and run.
 * Variants, the holdout and the fit's held-out customers are chosen with it. */
unsigned dn_risk_bucket(const char *const *parts, size_t nparts);

/* A score's reasons as one line, "; "-separated, into buf (always terminated). */
void dn_risk_reasons_join(const dn_risk_score_t *s, char *buf, size_t size);

#endif
