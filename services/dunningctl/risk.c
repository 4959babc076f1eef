/* dunningctl risk fit|show|list: the tenants' fitted risk models (docs/risk.md, sql/022).
 *
 * fit: a logistic regression of "paid within 30 days of the due date" on the points table's
 * features, learnt from the tenant's cases whose outcome is known (closed, or more than 30
 * days past their due date), with the inputs the engine scored them with at open (the
 * `opened` audit row's risk_inputs). A share of the customers (--holdout, chosen by a stable
 * hash of the customer and --seed) is kept out of the fit; on their cases both the fitted
 * model and the points table are scored (AUC, Brier score). The fit becomes the tenant's
 * active model only if it beats the points table on both; else it is stored as rejected.
 * Either way a new version, with its figures, and an audit row with the actor. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "dn_clock.h"
#include "dn_pg.h"
#include "dn_risk.h"
#include "dn_risk_fit.h"

static const char *const feature_names[DN_RISK_NFEATURES] = {
    "on_time", "late_days", "promises_kept", "promises_broken", "plans_broken", "bounces", "disputes", "balance"};

enum { MIN_TRAIN = 20 };

/* The cases of the tenant whose outcome is known on `today`, with the inputs at open. */
// clang-format off
static const char cases_sql[] =
    "SELECT c.customer_id, (SELECT string_agg(v, ',' ORDER BY o) FROM "
    "jsonb_array_elements_text(a.detail->'risk_inputs') WITH ORDINALITY t(v, o)), "
    "(c.state = 'resolved' AND c.resolved_reason IN ('paid', 'paid_within_tolerance', 'settled_with_discount') "
    "AND coalesce((SELECT max(x.at) FROM audit x WHERE x.case_id = c.case_id AND x.kind = 'resolved'), "
    "c.updated_at)::date <= i.due_date + 30)::int "
    "FROM cases c JOIN invoices i USING (tenant_id, invoice_id) "
    "JOIN LATERAL (SELECT y.detail FROM audit y WHERE y.case_id = c.case_id AND y.kind = 'opened' "
    "AND jsonb_typeof(y.detail->'risk_inputs') = 'array' ORDER BY y.id LIMIT 1) a ON true "
    "WHERE c.tenant_id = $1 AND (c.state IN ('resolved', 'written_off') OR i.due_date + 30 < $2::date) "
    "ORDER BY c.case_id";
// clang-format on

static int parse_inputs(const char *csv, dn_risk_inputs_t *in)
{
    long long v[10];
    if (!csv || sscanf(csv, "%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld", &v[0], &v[1], &v[2], &v[3], &v[4],
                       &v[5], &v[6], &v[7], &v[8], &v[9]) != 10)
        return -1;
    *in = (dn_risk_inputs_t){(int32_t)v[0], (int32_t)v[1], (int32_t)v[2], (int32_t)v[3], (int32_t)v[4],
                             (int32_t)v[5], (int32_t)v[6], (int32_t)v[7], v[8],          v[9]};
    return 0;
}

static double probability(const dn_risk_model_t *m, const dn_risk_inputs_t *in)
{
    dn_risk_score_t s;
    char err[128];
    return dn_risk_score(m, in, &s, err, sizeof(err)) == 0 ? s.score / 100.0 : 0.5;
}

static int fit_usage(void)
{
    fprintf(stderr, "usage: dunningctl risk fit --tenant T [--holdout 0.2] [--seed N] [--actor WHO]\n"
                    "  --holdout: share of the customers kept out of the fit to check it (0.05..0.5)\n");
    return 2;
}

static int cmd_fit(ctl_cfg_t *cfg, int argc, char **argv)
{
    const char *tenant = NULL, *actor = "dunningctl";
    double holdout = 0.2;
    long long seed = 1;
    for (int i = 0; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(argv[i], "--tenant") == 0 && next)
            tenant = argv[++i];
        else if (strcmp(argv[i], "--actor") == 0 && next)
            actor = argv[++i];
        else if (strcmp(argv[i], "--holdout") == 0 && next) {
            holdout = strtod(argv[++i], &end);
            if (*end || !(holdout >= 0.05 && holdout <= 0.5)) {
                fprintf(stderr, "dunningctl risk fit: --holdout takes a share 0.05..0.5\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--seed") == 0 && next) {
            seed = strtoll(argv[++i], &end, 10);
            if (*end || seed < 0) {
                fprintf(stderr, "dunningctl risk fit: --seed takes a number >= 0\n");
                return 2;
            }
        } else
            return fit_usage();
    }
    if (!tenant)
        return fit_usage();
    int rc = 1;
    char errstr[512], today[16], seed_txt[24];
    dn_pg_t *pg = dn_pg_new(cfg->common.pg_dsn, errstr, sizeof(errstr));
    if (!pg) {
        fprintf(stderr, "dunningctl risk fit: %s\n", errstr);
        return 1;
    }
    PGresult *r = NULL;
    double *x = NULL, *ptest_fit = NULL, *ptest_points = NULL;
    int *y = NULL, *ytest = NULL;
    dn_risk_inputs_t *test_in = NULL;
    dn_risk_model_t *points = dn_risk_points_new(), *fitted = NULL;
    dn_date_format(dn_date_from_ms(dn_clock_now_ms()), today, sizeof(today));
    snprintf(seed_txt, sizeof(seed_txt), "%lld", seed);
    const char *p[] = {tenant, today};
    if (!(r = dn_pg_query(pg, cases_sql, 2, p))) {
        fprintf(stderr, "dunningctl risk fit: %s\n", dn_pg_errstr(pg));
        goto out;
    }
    size_t n = (size_t)PQntuples(r), ntrain = 0, ntest = 0, bad = 0;
    x = malloc((n + 1) * DN_RISK_NFEATURES * sizeof(*x));
    y = malloc((n + 1) * sizeof(*y));
    ytest = malloc((n + 1) * sizeof(*ytest));
    test_in = malloc((n + 1) * sizeof(*test_in));
    ptest_fit = malloc((n + 1) * sizeof(*ptest_fit));
    ptest_points = malloc((n + 1) * sizeof(*ptest_points));
    if (!points || !x || !y || !ytest || !test_in || !ptest_fit || !ptest_points) {
        fprintf(stderr, "dunningctl risk fit: out of memory\n");
        goto out;
    }
    unsigned cut = (unsigned)lround(holdout * 10000);
    for (size_t i = 0; i < n; i++) {
        dn_risk_inputs_t in;
        if (parse_inputs(PQgetvalue(r, (int)i, 1), &in) < 0) {
            bad++;
            continue;
        }
        int paid = atoi(PQgetvalue(r, (int)i, 2));
        const char *parts[] = {"risk-fit", seed_txt, PQgetvalue(r, (int)i, 0)};
        if (dn_risk_bucket(parts, 3) < cut) {
            test_in[ntest] = in;
            ytest[ntest++] = paid;
        } else {
            int64_t f[DN_RISK_NFEATURES];
            dn_risk_features(&in, f);
            for (int j = 0; j < DN_RISK_NFEATURES; j++)
                x[ntrain * DN_RISK_NFEATURES + (size_t)j] = (double)f[j];
            y[ntrain++] = paid;
        }
    }
    printf("tenant %s: %zu cases with a known outcome (%zu to fit, %zu held out; %zu without inputs)\n", tenant,
           n - bad, ntrain, ntest, bad);
    if (ntrain < MIN_TRAIN || ntest < 2) {
        fprintf(stderr, "dunningctl risk fit: not enough history (need %d cases to fit and some held out)\n",
                MIN_TRAIN);
        goto out;
    }
    double b0, b[DN_RISK_NFEATURES];
    int iterations = 0;
    if (dn_risk_fit_logit(x, y, ntrain, &b0, b, &iterations, errstr, sizeof(errstr)) < 0) {
        fprintf(stderr, "dunningctl risk fit: %s\n", errstr);
        goto out;
    }
    if (!(fitted = dn_risk_logit_new(b0, b, errstr, sizeof(errstr)))) {
        fprintf(stderr, "dunningctl risk fit: %s\n", errstr);
        goto out;
    }
    for (size_t i = 0; i < ntest; i++) {
        ptest_fit[i] = probability(fitted, &test_in[i]);
        ptest_points[i] = probability(points, &test_in[i]);
    }
    double auc = dn_risk_auc(ptest_fit, ytest, ntest), brier = dn_risk_brier(ptest_fit, ytest, ntest);
    double pauc = dn_risk_auc(ptest_points, ytest, ntest), pbrier = dn_risk_brier(ptest_points, ytest, ntest);
    /* Both figures better on the held-out customers; no AUC (one class held out) never wins. */
    int wins = auc >= 0 && pauc >= 0 && auc > pauc && brier < pbrier;
    char b0_txt[40], coef_txt[400], auc_txt[4][32], counts[2][24], hold_txt[24], at[40];
    snprintf(b0_txt, sizeof(b0_txt), "%.17g", b0);
    size_t used = 0;
    used += (size_t)snprintf(coef_txt, sizeof(coef_txt), "{");
    for (int j = 0; j < DN_RISK_NFEATURES; j++)
        used += (size_t)snprintf(coef_txt + used, sizeof(coef_txt) - used, "%s%.17g", j ? "," : "", b[j]);
    snprintf(coef_txt + used, sizeof(coef_txt) - used, "}");
    const double figs[4] = {auc, brier, pauc, pbrier};
    for (int k = 0; k < 4; k++)
        snprintf(auc_txt[k], sizeof(auc_txt[k]), "%.6f", figs[k]);
    snprintf(counts[0], sizeof(counts[0]), "%zu", ntrain);
    snprintf(counts[1], sizeof(counts[1]), "%zu", ntest);
    snprintf(hold_txt, sizeof(hold_txt), "%.4f", holdout);
    dn_time_format(dn_clock_now_ms(), at, sizeof(at));
    const char *status = wins ? "active" : "rejected";
    const char *ip[] = {tenant,   status,     b0_txt,     coef_txt,   counts[0],  counts[1], hold_txt,
                        seed_txt, auc_txt[0], auc_txt[1], auc_txt[2], auc_txt[3], at,        actor};
    PQclear(r);
    r = NULL;
    /* One transaction: the new version (the tenant's rows locked for its number), the old
     * active one retired if this one wins, the audit row. */
    if (dn_pg_begin(pg) < 0 ||
        !(r = dn_pg_query(pg, "SELECT 1 FROM risk_models WHERE tenant_id = $1 FOR UPDATE", 1, p)))
        goto db_failed;
    PQclear(r);
    r = NULL;
    if (wins &&
        !(r = dn_pg_query(pg, "UPDATE risk_models SET status = 'retired' WHERE tenant_id = $1 AND status = 'active'", 1,
                          p)))
        goto db_failed;
    PQclear(r);
    // clang-format off
    r = dn_pg_query(pg,
        "WITH v AS (INSERT INTO risk_models (tenant_id, version, status, intercept, coefficients, features, "
        "train_cases, test_cases, holdout, seed, auc, brier, points_auc, points_brier, fitted_at, fitted_by) "
        "SELECT $1, coalesce((SELECT max(version) FROM risk_models WHERE tenant_id = $1), 0) + 1, $2, "
        "$3::float8, $4::float8[], ARRAY['on_time', 'late_days', 'promises_kept', 'promises_broken', "
        "'plans_broken', 'bounces', 'disputes', 'balance'], $5::int, $6::int, $7::float8, $8::bigint, "
        "$9::float8, $10::float8, $11::float8, $12::float8, $13::timestamptz, $14 RETURNING version) "
        "INSERT INTO audit (tenant_id, at, kind, detail) SELECT $1, $13::timestamptz, 'risk_model_fitted', "
        "jsonb_build_object('version', v.version, 'status', $2::text, 'actor', $14::text, 'auc', $9::float8, "
        "'brier', $10::float8, 'points_auc', $11::float8, 'points_brier', $12::float8, 'train_cases', $5::int, "
        "'test_cases', $6::int) FROM v RETURNING (detail->>'version')",
        14, ip);
    // clang-format on
    if (!r || PQntuples(r) != 1 || dn_pg_commit(pg) < 0)
        goto db_failed;
    printf("version %s: %s (%d iterations)\n", PQgetvalue(r, 0, 0),
           wins ? "active: it beats the points table on the held-out customers"
                : "rejected: it does not beat the points table on the held-out customers",
           iterations);
    printf("  %-14s %10s %10s\n", "held out", "AUC", "Brier");
    printf("  %-14s %10.4f %10.4f\n", "fitted", auc, brier);
    printf("  %-14s %10.4f %10.4f\n", "points table", pauc, pbrier);
    printf("  intercept %.6g\n", b0);
    for (int j = 0; j < DN_RISK_NFEATURES; j++)
        printf("  %-16s %.6g\n", feature_names[j], b[j]);
    rc = 0;
    goto out;
db_failed:
    fprintf(stderr, "dunningctl risk fit: %s\n", dn_pg_errstr(pg));
    dn_pg_rollback(pg);
out:
    PQclear(r);
    free(x);
    free(y);
    free(ytest);
    free(test_in);
    free(ptest_fit);
    free(ptest_points);
    dn_risk_model_destroy(points);
    dn_risk_model_destroy(fitted);
    dn_pg_destroy(pg);
    return rc;
}

/* list [--tenant T] [--json] | show --tenant T [--version N] [--json]: the versions, or one
 * (default: the active one, else the latest) with its coefficients. */
static int cmd_list_show(ctl_cfg_t *cfg, int show, int argc, char **argv)
{
    const char *tenant = NULL, *version = NULL;
    int json = 0;
    for (int i = 0; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--tenant") == 0 && next)
            tenant = argv[++i];
        else if (show && strcmp(argv[i], "--version") == 0 && next)
            version = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else {
            fprintf(stderr, "usage: dunningctl risk list [--tenant T] [--json]\n"
                            "       dunningctl risk show --tenant T [--version N] [--json]\n");
            return 2;
        }
    }
    if (show && !tenant) {
        fprintf(stderr, "dunningctl risk show: --tenant is required\n");
        return 2;
    }
    if (version && strspn(version, "0123456789") != strlen(version)) {
        fprintf(stderr, "dunningctl risk show: --version takes a number\n");
        return 2;
    }
    char errstr[512];
    dn_pg_t *pg = dn_pg_new(cfg->common.pg_dsn, errstr, sizeof(errstr));
    if (!pg) {
        fprintf(stderr, "dunningctl risk: %s\n", errstr);
        return 1;
    }
    const char *p[] = {tenant, version};
    PGresult *r = dn_pg_query(
        pg,
        "SELECT tenant_id, version, status, round(auc::numeric, 4) AS auc, round(brier::numeric, 4) AS brier, "
        "round(points_auc::numeric, 4) AS points_auc, round(points_brier::numeric, 4) AS points_brier, "
        "train_cases, test_cases, holdout, seed, to_char(fitted_at AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS fitted_at, fitted_by, intercept, "
        "array_to_string(features, ',') AS features, array_to_string(coefficients, ',') AS coefficients "
        "FROM risk_models WHERE ($1::text IS NULL OR tenant_id = $1) AND ($2::int IS NULL OR version = $2::int) "
        "ORDER BY tenant_id, version",
        2, p);
    if (!r) {
        fprintf(stderr, "dunningctl risk: %s\n", dn_pg_errstr(pg));
        dn_pg_destroy(pg);
        return 1;
    }
    int n = PQntuples(r), rc = 0, pick = n - 1;
    if (show) {
        for (int i = 0; !version && i < n; i++)
            if (strcmp(PQgetvalue(r, i, 2), "active") == 0)
                pick = i;
        if (n == 0) {
            fprintf(stderr, "dunningctl risk show: no fitted model for tenant %s%s%s (it uses the points table)\n",
                    tenant, version ? " version " : "", version ? version : "");
            rc = 1;
        }
    }
    if (rc == 0 && json) {
        json_t *rows = ctl_rows_json(r);
        json_t *out = show ? json_incref(json_array_get(rows, (size_t)pick)) : json_incref(rows);
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(out);
        json_decref(rows);
    } else if (rc == 0 && show) {
        printf("tenant %s, version %s: %s (fitted %s by %s)\n", PQgetvalue(r, pick, 0), PQgetvalue(r, pick, 1),
               PQgetvalue(r, pick, 2), PQgetvalue(r, pick, 11), PQgetvalue(r, pick, 12));
        printf("  %zu cases fitted, %s held out (share %s, seed %s)\n", (size_t)atol(PQgetvalue(r, pick, 7)),
               PQgetvalue(r, pick, 8), PQgetvalue(r, pick, 9), PQgetvalue(r, pick, 10));
        printf("  held out: AUC %s, Brier %s; points table AUC %s, Brier %s\n", PQgetvalue(r, pick, 3),
               PQgetvalue(r, pick, 4), PQgetvalue(r, pick, 5), PQgetvalue(r, pick, 6));
        printf("  intercept %s\n", PQgetvalue(r, pick, 13));
        char feats[256], coefs[512], *s1 = NULL, *s2 = NULL;
        snprintf(feats, sizeof(feats), "%s", PQgetvalue(r, pick, 14));
        snprintf(coefs, sizeof(coefs), "%s", PQgetvalue(r, pick, 15));
        for (char *f = strtok_r(feats, ",", &s1), *c = strtok_r(coefs, ",", &s2); f && c;
             f = strtok_r(NULL, ",", &s1), c = strtok_r(NULL, ",", &s2))
            printf("  %-16s %s\n", f, c);
    } else if (rc == 0) {
        printf("%-12s %7s %-9s %8s %8s %10s %12s %7s %6s  %s\n", "tenant", "version", "status", "auc", "brier",
               "points_auc", "points_brier", "fitted", "held", "fitted_at");
        for (int i = 0; i < n; i++)
            printf("%-12s %7s %-9s %8s %8s %10s %12s %7s %6s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
                   PQgetvalue(r, i, 6), PQgetvalue(r, i, 7), PQgetvalue(r, i, 8), PQgetvalue(r, i, 11));
    }
    PQclear(r);
    dn_pg_destroy(pg);
    return rc;
}

int ctl_risk(ctl_cfg_t *cfg, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "fit") == 0)
        return cmd_fit(cfg, argc - 1, argv + 1);
    if (argc >= 1 && (strcmp(argv[0], "show") == 0 || strcmp(argv[0], "list") == 0))
        return cmd_list_show(cfg, strcmp(argv[0], "show") == 0, argc - 1, argv + 1);
    fprintf(stderr, "usage: dunningctl risk fit|show|list ... (dunningctl --help)\n");
    return 2;
}
