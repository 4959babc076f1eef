/* The payment-behaviour score (see dn_risk.h; the table is documented in docs/risk.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_risk.h"

typedef enum { MODEL_POINTS, MODEL_LOGIT } model_kind_t;

struct dn_risk_model {
    model_kind_t kind;
    double intercept;
    double coef[DN_RISK_NFEATURES];
};

enum { F_ON_TIME, F_LATE, F_KEPT, F_BROKEN, F_PLANS, F_BOUNCES, F_DISPUTES, F_BALANCE };

static const char *const feature_code[DN_RISK_NFEATURES] = {
    "on_time", "late_days", "promises_kept", "promises_broken", "plans_broken", "bounces", "disputes", "balance",
};

/* The calibration: points -> percent, linear between knots (docs/risk.md). */
static const struct {
    int points, percent;
} knots[] = {{-80, 3}, {-50, 10}, {-30, 20}, {-15, 35}, {0, 60}, {10, 72}, {25, 85}, {40, 95}};
enum { NKNOTS = sizeof(knots) / sizeof(knots[0]) };

dn_risk_model_t *dn_risk_points_new(void)
{
    dn_risk_model_t *m = calloc(1, sizeof(*m));
    if (m)
        m->kind = MODEL_POINTS;
    return m;
}

dn_risk_model_t *dn_risk_logit_new(double intercept, const double coef[DN_RISK_NFEATURES], char *errstr,
                                   size_t errstr_size)
{
    if (!isfinite(intercept)) {
        snprintf(errstr, errstr_size, "intercept is not a finite number");
        return NULL;
    }
    for (int i = 0; i < DN_RISK_NFEATURES; i++)
        if (!isfinite(coef[i])) {
            snprintf(errstr, errstr_size, "coefficient of %s is not a finite number", feature_code[i]);
            return NULL;
        }
    dn_risk_model_t *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    m->kind = MODEL_LOGIT;
    m->intercept = intercept;
    memcpy(m->coef, coef, sizeof(m->coef));
    return m;
}

void dn_risk_model_destroy(dn_risk_model_t *m)
{
    free(m);
}

const char *dn_risk_model_name(const dn_risk_model_t *m)
{
    return m->kind == MODEL_POINTS ? "points" : "logit";
}

int dn_risk_points_probability(int points)
{
    if (points <= knots[0].points)
        return knots[0].percent;
    for (int i = 1; i < NKNOTS; i++)
        if (points <= knots[i].points) {
            int64_t num = (int64_t)(points - knots[i - 1].points) * (knots[i].percent - knots[i - 1].percent);
            int64_t den = knots[i].points - knots[i - 1].points;
            return knots[i - 1].percent + (int)((2 * num + den) / (2 * den));
        }
    return knots[NKNOTS - 1].percent;
}

int32_t dn_risk_late_update(int32_t late_days_x100, int32_t invoices_before, int32_t days_late)
{
    int64_t d = days_late > 0 ? (int64_t)days_late * 100 : 0;
    if (d > 365 * 100)
        d = 365 * 100; /* a year late is as bad as it gets; keeps the sum in range */
    if (invoices_before <= 0)
        return (int32_t)d;
    return (int32_t)((late_days_x100 + d + 1) / 2);
}

void dn_risk_features(const dn_risk_inputs_t *in, int64_t out[DN_RISK_NFEATURES])
{
    out[F_ON_TIME] = in->invoices > 0 ? (int64_t)in->paid_on_time * 100 / in->invoices : 0;
    out[F_LATE] = in->invoices > 0 ? in->late_days_x100 : 0;
    out[F_KEPT] = in->promises_kept;
    out[F_BROKEN] = in->promises_broken;
    out[F_PLANS] = in->plans_broken;
    out[F_BOUNCES] = in->bounces;
    out[F_DISPUTES] = in->disputes;
    out[F_BALANCE] = in->usual_minor > 0 && in->open_minor > 0 ? in->open_minor * 100 / in->usual_minor : 100;
}

static int capped(int64_t n, int each, int cap)
{
    int64_t p = n * each;
    return (int)(each < 0 ? (p < cap ? cap : p) : (p > cap ? cap : p));
}

static const char *plural(int64_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* The reason's words for feature f (the same for both models). */
static void reason_text(int f, const dn_risk_inputs_t *in, const int64_t x[DN_RISK_NFEATURES], char *buf, size_t size)
{
    switch (f) {
    case F_ON_TIME:
        snprintf(buf, size, "paid %d of %d %s on time", in->paid_on_time, in->invoices,
                 plural(in->invoices, "invoice", "invoices"));
        break;
    case F_LATE:
        if (x[F_LATE] < 100)
            snprintf(buf, size, "pays on the due date on recent invoices");
        else
            snprintf(buf, size, "pays %lld days late on average, recent invoices weighted more",
                     (long long)((x[F_LATE] + 50) / 100));
        break;
    case F_KEPT:
        snprintf(buf, size, "kept %lld %s to pay", (long long)x[F_KEPT], plural(x[F_KEPT], "promise", "promises"));
        break;
    case F_BROKEN:
        snprintf(buf, size, "broke %lld %s to pay", (long long)x[F_BROKEN], plural(x[F_BROKEN], "promise", "promises"));
        break;
    case F_PLANS:
        snprintf(buf, size, "broke %lld instalment %s", (long long)x[F_PLANS], plural(x[F_PLANS], "plan", "plans"));
        break;
    case F_BOUNCES:
        snprintf(buf, size, "%lld %s bounced", (long long)x[F_BOUNCES], plural(x[F_BOUNCES], "reminder", "reminders"));
        break;
    case F_DISPUTES:
        snprintf(buf, size, "disputed %lld %s", (long long)x[F_DISPUTES], plural(x[F_DISPUTES], "invoice", "invoices"));
        break;
    default:
        snprintf(buf, size, "owes %lld.%lld times the usual invoice", (long long)(x[F_BALANCE] / 100),
                 (long long)(x[F_BALANCE] % 100 / 10));
        break;
    }
}

/* The points of each feature (docs/risk.md, "The points table"). */
static void points_of(const dn_risk_inputs_t *in, const int64_t x[DN_RISK_NFEATURES], int pts[DN_RISK_NFEATURES])
{
    memset(pts, 0, sizeof(int) * DN_RISK_NFEATURES);
    if (in->invoices > 0) {
        int64_t share = x[F_ON_TIME];
        int p = share >= 90 ? 20 : share >= 70 ? 10 : share >= 40 ? 0 : -15;
        pts[F_ON_TIME] = in->invoices < 3 ? p / 2 : p; /* a short history counts half */
        int64_t late = x[F_LATE];
        pts[F_LATE] = late < 100 ? 5 : late <= 700 ? 0 : late <= 3000 ? -10 : -20;
    }
    pts[F_KEPT] = capped(x[F_KEPT], 3, 9);
    pts[F_BROKEN] = capped(x[F_BROKEN], -12, -36);
    pts[F_PLANS] = capped(x[F_PLANS], -15, -30);
    pts[F_BOUNCES] = capped(x[F_BOUNCES], -5, -15);
    pts[F_DISPUTES] = capped(x[F_DISPUTES], -8, -16);
    int64_t ratio = x[F_BALANCE];
    pts[F_BALANCE] = ratio <= 150 ? 0 : ratio <= 300 ? -5 : ratio <= 600 ? -10 : -15;
}

/* The three largest effects (by size, the table's order on a tie), non-zero ones only; a
 * customer without history and without any other effect gets "no payment history yet". */
static void top_reasons(const dn_risk_inputs_t *in, const int64_t x[DN_RISK_NFEATURES],
                        const int eff[DN_RISK_NFEATURES], dn_risk_score_t *out)
{
    int used[DN_RISK_NFEATURES] = {0};
    out->nreasons = 0;
    while (out->nreasons < DN_RISK_REASONS) {
        int best = -1;
        for (int f = 0; f < DN_RISK_NFEATURES; f++)
            if (!used[f] && eff[f] != 0 && (best < 0 || abs(eff[f]) > abs(eff[best])))
                best = f;
        if (best < 0)
            break;
        used[best] = 1;
        dn_risk_reason_t *r = &out->reasons[out->nreasons++];
        r->code = feature_code[best];
        r->points = eff[best];
        reason_text(best, in, x, r->text, sizeof(r->text));
    }
    if (in->invoices == 0 && out->nreasons < DN_RISK_REASONS) {
        dn_risk_reason_t *r = &out->reasons[out->nreasons++];
        r->code = "no_history";
        r->points = 0;
        snprintf(r->text, sizeof(r->text), "no payment history yet");
    }
}

int dn_risk_score(const dn_risk_model_t *m, const dn_risk_inputs_t *in, dn_risk_score_t *out, char *errstr,
                  size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    if (in->invoices < 0 || in->paid_on_time < 0 || in->paid_on_time > in->invoices || in->late_days_x100 < 0 ||
        in->promises_kept < 0 || in->promises_broken < 0 || in->plans_broken < 0 || in->bounces < 0 ||
        in->disputes < 0 || in->open_minor < 0 || in->usual_minor < 0) {
        snprintf(errstr, errstr_size, "behaviour counts out of range");
        return -1;
    }
    int64_t x[DN_RISK_NFEATURES];
    int eff[DN_RISK_NFEATURES];
    dn_risk_features(in, x);
    if (m->kind == MODEL_POINTS) {
        points_of(in, x, eff);
        out->points = 0;
        for (int f = 0; f < DN_RISK_NFEATURES; f++)
            out->points += eff[f];
        out->score = dn_risk_points_probability(out->points);
    } else {
        double z = m->intercept;
        for (int f = 0; f < DN_RISK_NFEATURES; f++) {
            double c = m->coef[f] * (double)x[f];
            z += c;
            eff[f] = (int)lround(c * 100);
        }
        out->points = (int)lround(z * 100);
        out->score = (int)lround(100.0 / (1.0 + exp(-z)));
    }
    top_reasons(in, x, eff, out);
    return 0;
}

void dn_risk_reasons_join(const dn_risk_score_t *s, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < s->nreasons && at < size; i++) {
        int n = snprintf(buf + at, size - at, "%s%s", i ? "; " : "", s->reasons[i].text);
        if (n < 0)
            break;
        at += (size_t)n;
    }
}

unsigned dn_risk_bucket(const char *const *parts, size_t nparts)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < nparts; i++) {
        for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
            h = (h ^ *p) * 0x100000001b3ULL;
        h = (h ^ 0x1f) * 0x100000001b3ULL; /* the separator: ("ab","c") is not ("a","bc") */
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (unsigned)(h % 10000);
}
