/* Risk scores and policy tracks (see risk.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answers.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_risk.h"
#include "risk.h"

struct risk_fitted {
    char tenant[ID_MAX + 1];
    int version;
    dn_risk_model_t *model;
};

void risk_models_free(engine_t *e)
{
    for (size_t i = 0; i < e->nrisk_fitted; i++)
        dn_risk_model_destroy(e->risk_fitted[i].model);
    free(e->risk_fitted);
    e->risk_fitted = NULL;
    e->nrisk_fitted = 0;
}

enum { RISK_MODELS_REFRESH_MS = 2000 };

void risk_models_refresh(engine_t *e, int64_t *next_ms)
{
    int64_t real = dn_clock_real_now_ms();
    if (real < *next_ms)
        return;
    *next_ms = real + RISK_MODELS_REFRESH_MS;
    PGresult *r = dn_pg_query(e->pg,
                              "SELECT tenant_id, version, intercept, array_to_string(coefficients, ',') "
                              "FROM risk_models WHERE status = 'active'",
                              0, NULL);
    if (!r)
        return; /* before migration 022, or the database away: keep what we have */
    int n = PQntuples(r);
    struct risk_fitted *v = calloc((size_t)n + 1, sizeof(*v));
    size_t nv = 0;
    for (int i = 0; v && i < n; i++) {
        double coef[DN_RISK_NFEATURES];
        char err[128], *p = PQgetvalue(r, i, 3), *end;
        int k = 0;
        for (; k < DN_RISK_NFEATURES; k++, p = *end == ',' ? end + 1 : end) {
            coef[k] = strtod(p, &end);
            if (end == p)
                break;
        }
        dn_risk_model_t *m = k == DN_RISK_NFEATURES
                                 ? dn_risk_logit_new(strtod(PQgetvalue(r, i, 2), NULL), coef, err, sizeof(err))
                                 : NULL;
        if (!m) {
            dn_log_warn("risk model not usable, the tenant keeps the points table", "tenant_id", PQgetvalue(r, i, 0),
                        NULL);
            continue;
        }
        snprintf(v[nv].tenant, sizeof(v[nv].tenant), "%s", PQgetvalue(r, i, 0));
        v[nv].version = atoi(PQgetvalue(r, i, 1));
        v[nv++].model = m;
    }
    PQclear(r);
    if (!v)
        return;
    risk_models_free(e);
    e->risk_fitted = v;
    e->nrisk_fitted = nv;
}

/* The inputs column (RISK_INPUTS_SQL) and the open balance into `in`. 0, or -1 if malformed. */
static int parse_inputs(const char *csv, const char *open, dn_risk_inputs_t *in)
{
    long long v[9];
    if (sscanf(csv, "%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
               &v[7], &v[8]) != 9)
        return -1;
    *in = (dn_risk_inputs_t){.invoices = (int32_t)v[0],
                             .paid_on_time = (int32_t)v[1],
                             .late_days_x100 = (int32_t)v[2],
                             .promises_kept = (int32_t)v[3],
                             .promises_broken = (int32_t)v[4],
                             .plans_broken = (int32_t)v[5],
                             .bounces = (int32_t)v[6],
                             .disputes = (int32_t)v[7],
                             .open_minor = strtoll(open, NULL, 10),
                             .usual_minor = v[0] > 0 ? v[8] / v[0] : 0};
    return 0;
}

/* One customer's inputs and open balance ($1 tenant, $2 customer, $3 currency), the case $4
 * left out of the balance (the caller adds it with its state in hand). */
// clang-format off
static const char score_sql[] =
    "SELECT " RISK_INPUTS_SQL ", (" RISK_OPEN_SQL("$1", "$2", "$3") " - coalesce(("
    "SELECT y.outstanding_minor FROM cases y WHERE y.case_id = $4::uuid AND "
    "y.state NOT IN ('resolved', 'written_off')), 0))::text "
    "FROM (SELECT 1) one LEFT JOIN customer_behaviour b ON b.tenant_id = $1 AND b.customer_id = $2";
// clang-format on

int risk_score_case(engine_t *e, case_row_t *c, int opening)
{
    int rc = -1, row = -1;
    PGresult *r = NULL;
    dn_risk_inputs_t in;
    char key[3 * ID_MAX + 40];
    behaviour_key(key, sizeof(key), c->tenant_id, c->customer_id, c->currency);
    char stale[2 * ID_MAX + 32];
    int v;
    snprintf(stale, sizeof(stale), "B:%zu:%s:%s", strlen(c->tenant_id), c->tenant_id, c->customer_id);
    if (e->prefetched && e->batch_lookup && e->behaviour_rows == (opening ? 'i' : 'f') &&
        !batch_map_get(e->batch, stale, &v) && batch_map_get(e->batch, key, &row) && row >= 0 &&
        row < PQntuples(e->batch_lookup)) {
        /* The batch's lookup, as the customer stood before the batch: a case being opened is
         * not in its open balance yet, a claimed one is (a timer does not change what is owed). */
        if (parse_inputs(PQgetvalue(e->batch_lookup, row, 3), PQgetvalue(e->batch_lookup, row, 4), &in) < 0)
            goto out;
        if (opening)
            in.open_minor += c->outstanding;
    } else {
        /* Read as the database has it (not through query(): a batch's buffered writes are
         * not sent for it); the case itself counts with its state in hand. */
        const char *p[] = {c->tenant_id, c->customer_id, c->currency, c->case_id};
        r = dn_pg_query(e->pg, score_sql, 4, p);
        if (!r || PQntuples(r) != 1 || parse_inputs(PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), &in) < 0)
            goto out;
        in.open_minor += is_resolved(c->state) || strcmp(c->state, "written_off") == 0 ? 0 : c->outstanding;
    }
    dn_risk_score_t s;
    char err[160];
    const dn_risk_model_t *model = e->risk_model;
    snprintf(c->risk_model, sizeof(c->risk_model), "points");
    for (size_t i = 0; i < e->nrisk_fitted; i++)
        if (strcmp(e->risk_fitted[i].tenant, c->tenant_id) == 0) {
            model = e->risk_fitted[i].model;
            snprintf(c->risk_model, sizeof(c->risk_model), "logit v%d", e->risk_fitted[i].version);
        }
    snprintf(c->risk_inputs, sizeof(c->risk_inputs), "%d,%d,%d,%d,%d,%d,%d,%d,%lld,%lld", in.invoices, in.paid_on_time,
             in.late_days_x100, in.promises_kept, in.promises_broken, in.plans_broken, in.bounces, in.disputes,
             (long long)in.open_minor, (long long)in.usual_minor);
    if (dn_risk_score(model, &in, &s, err, sizeof(err)) < 0) {
        /* Counts the engine did not keep consistent: say so, leave the case unscored. */
        dn_log_warn("cannot score the case", "case_id", c->case_id, "tenant_id", c->tenant_id, "detail", err, NULL);
        c->risk_score = -1;
        c->risk_reasons[0] = c->risk_model[0] = c->risk_inputs[0] = '\0';
        rc = 0;
        goto out;
    }
    c->risk_score = s.score;
    size_t used = 0;
    c->risk_reasons[0] = '\0';
    for (int i = 0; i < s.nreasons && used < sizeof(c->risk_reasons); i++)
        used += (size_t)snprintf(c->risk_reasons + used, sizeof(c->risk_reasons) - used, "%s%s", i ? "\n" : "",
                                 s.reasons[i].text);
    rc = 0;
out:
    if (rc < 0 && !r)
        dn_log_error("cannot read the customer's behaviour", "case_id", c->case_id, "detail", dn_pg_errstr(e->pg),
                     NULL);
    PQclear(r);
    return rc;
}

void risk_behaviour_changed(engine_t *e, const char *tenant, const char *customer)
{
    char stale[2 * ID_MAX + 32];
    if (!e->prefetched || !e->batch)
        return;
    snprintf(stale, sizeof(stale), "B:%zu:%s:%s", strlen(tenant), tenant, customer);
    if (batch_map_put(e->batch, stale, 1) < 0)
        e->batch_failed = 1; /* out of memory: the batch is done again record by record */
}

int risk_track_choose(engine_t *e, case_row_t *c, char *from, size_t from_size)
{
    if (c->risk_score < 0 || !dn_policy_has_tracks(e->policies, c->tenant_id))
        return 0;
    /* The tenant's holdout: the static policy, whatever the score (the control group). */
    if ((c->risk_holdout = dn_policy_holdout(e->policies, c->tenant_id, c->customer_id)))
        return 0;
    const char *to = dn_policy_track(e->policies, c->tenant_id, c->risk_score);
    const char *was = c->risk_track[0] ? c->risk_track : c->policy;
    int changed = strcmp(to ? to : c->policy, was) != 0;
    snprintf(from, from_size, "%s", was);
    snprintf(c->risk_track, sizeof(c->risk_track), "%s", to ? to : "");
    return changed;
}

int risk_track_record(engine_t *e, const case_row_t *c, const char *from, const char *caused_by, int64_t now)
{
    /* record() adds the score and its reasons to a track_changed row. */
    return record(
        e, c, "track_changed", c->state, NULL, caused_by, now,
        json_pack("{s:s, s:s}", "from_policy", from, "to_policy", c->risk_track[0] ? c->risk_track : c->policy));
}

int risk_note_paid(engine_t *e, const case_row_t *c, int64_t now)
{
    int32_t late = dn_date_from_ms(now) - c->due_date;
    char at[40], on_time[4], late_x100[16], amount[24];
    dn_time_format(now, at, sizeof(at));
    snprintf(on_time, sizeof(on_time), "%d", late <= 0);
    snprintf(late_x100, sizeof(late_x100), "%d", dn_risk_late_update(0, 0, late)); /* the first case's value */
    fmt_i64(amount, sizeof(amount), c->amount);
    const char *p[] = {c->tenant_id, c->customer_id, on_time, late_x100, amount, at};
    risk_behaviour_changed(e, c->tenant_id, c->customer_id);
    /* Pipelined (its failure surfaces at the next statement or COMMIT). The fold of
     * dn_risk_late_update: the first case sets the days late, each later moves them half way. */
    return dn_pg_defer(e->pg,
                       "INSERT INTO customer_behaviour (tenant_id, customer_id, invoices, paid_on_time, "
                       "late_days_x100, paid_amount_minor, updated_at) VALUES ($1, $2, 1, $3::int, $4::int, "
                       "$5::bigint, $6) ON CONFLICT (tenant_id, customer_id) DO UPDATE SET invoices = "
                       "customer_behaviour.invoices + 1, paid_on_time = customer_behaviour.paid_on_time + "
                       "EXCLUDED.paid_on_time, late_days_x100 = CASE WHEN customer_behaviour.invoices = 0 THEN "
                       "EXCLUDED.late_days_x100 ELSE (customer_behaviour.late_days_x100 + EXCLUDED.late_days_x100 + "
                       "1) / 2 END, paid_amount_minor = customer_behaviour.paid_amount_minor + "
                       "EXCLUDED.paid_amount_minor, updated_at = EXCLUDED.updated_at",
                       6, p, NULL, NULL);
}

int risk_note_dispute(engine_t *e, const case_row_t *c, int64_t now)
{
    char at[40];
    dn_time_format(now, at, sizeof(at));
    const char *p[] = {c->tenant_id, c->customer_id, at};
    risk_behaviour_changed(e, c->tenant_id, c->customer_id);
    return dn_pg_defer(e->pg,
                       "INSERT INTO customer_behaviour (tenant_id, customer_id, disputes, updated_at) VALUES ($1, $2, "
                       "1, $3) ON CONFLICT (tenant_id, customer_id) DO UPDATE SET disputes = "
                       "customer_behaviour.disputes + 1, updated_at = EXCLUDED.updated_at",
                       3, p, NULL, NULL);
}
