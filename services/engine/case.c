/* The case store (case.h): a case is loaded from the batch's buffered writes, the batch's
 * prefetched rows or PostgreSQL (locked), saved into the batch's buffer (fast path) or with
 * one deferred UPDATE (careful path), and every change leaves an audit row and a
 * DunningCaseEvent in the outbox. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answers.h"
#include "case.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_topics.h"
#include "effects.h"
#include "writes.h"

const char *const case_columns =
    "c.case_id, c.tenant_id, c.invoice_id, c.customer_id, c.policy, c.state, c.stage, c.amount_minor, "
    "c.paid_minor, c.outstanding_minor, c.fee_minor, c.interest_minor, c.currency, coalesce(c.next_stage, 0), "
    "coalesce((extract(epoch from c.next_action_at) * 1000)::bigint, -1), (i.due_date - date '1970-01-01'), "
    "c.fees_charged_minor, c.interest_micro, coalesce(c.interest_through - date '1970-01-01', -1), "
    "c.interest_paid_minor, c.credited_minor, c.overpaid_minor, c.next_action, c.retry_attempt, "
    "coalesce((extract(epoch from c.retry_base_at) * 1000)::bigint, -1), coalesce(c.last_decline_code, ''), "
    "coalesce(c.paused_from, ''), coalesce(c.pause_reason, ''), coalesce(c.paused_until - date '1970-01-01', -1), "
    "coalesce(c.retry_payment_id, ''), coalesce(c.retry_from, ''), coalesce(c.offer_until - date '1970-01-01', -1), "
    "coalesce(c.offer_due_minor, 0), coalesce(c.risk_score, -1), coalesce(array_to_string(c.risk_reasons, E'\\n'), "
    "''), "
    "coalesce(c.risk_track, '')";

static int64_t col_at(PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

void case_from_row(PGresult *r, int row, case_row_t *c)
{
    snprintf(c->case_id, sizeof(c->case_id), "%s", PQgetvalue(r, row, 0));
    snprintf(c->tenant_id, sizeof(c->tenant_id), "%s", PQgetvalue(r, row, 1));
    snprintf(c->invoice_id, sizeof(c->invoice_id), "%s", PQgetvalue(r, row, 2));
    snprintf(c->customer_id, sizeof(c->customer_id), "%s", PQgetvalue(r, row, 3));
    snprintf(c->policy, sizeof(c->policy), "%s", PQgetvalue(r, row, 4));
    snprintf(c->state, sizeof(c->state), "%s", PQgetvalue(r, row, 5));
    c->stage = (int)col_at(r, row, 6);
    c->amount = col_at(r, row, 7);
    c->paid = col_at(r, row, 8);
    c->outstanding = col_at(r, row, 9);
    c->fee = col_at(r, row, 10);
    c->interest = col_at(r, row, 11);
    snprintf(c->currency, sizeof(c->currency), "%s", PQgetvalue(r, row, 12));
    c->next_stage = (int)col_at(r, row, 13);
    c->next_action_ms = col_at(r, row, 14);
    c->due_date = (int32_t)col_at(r, row, 15);
    c->fees_charged = col_at(r, row, 16);
    c->interest_micro = col_at(r, row, 17);
    c->interest_through = (int32_t)col_at(r, row, 18);
    c->interest_paid = col_at(r, row, 19);
    c->credited = col_at(r, row, 20);
    c->overpaid = col_at(r, row, 21);
    snprintf(c->next_action, sizeof(c->next_action), "%s", PQgetvalue(r, row, 22));
    c->retry_attempt = (int)col_at(r, row, 23);
    c->retry_base_ms = col_at(r, row, 24);
    snprintf(c->last_decline, sizeof(c->last_decline), "%s", PQgetvalue(r, row, 25));
    snprintf(c->paused_from, sizeof(c->paused_from), "%s", PQgetvalue(r, row, 26));
    snprintf(c->pause_reason, sizeof(c->pause_reason), "%s", PQgetvalue(r, row, 27));
    c->paused_until = (int32_t)col_at(r, row, 28);
    snprintf(c->retry_payment, sizeof(c->retry_payment), "%s", PQgetvalue(r, row, 29));
    snprintf(c->retry_from, sizeof(c->retry_from), "%s", PQgetvalue(r, row, 30));
    c->offer_until = (int32_t)col_at(r, row, 31);
    c->offer_due = col_at(r, row, 32);
    c->risk_score = (int)col_at(r, row, 33);
    snprintf(c->risk_reasons, sizeof(c->risk_reasons), "%s", PQgetvalue(r, row, 34));
    snprintf(c->risk_track, sizeof(c->risk_track), "%s", PQgetvalue(r, row, 35));
}

void case_id_for(const char *tenant, const char *invoice, char out[DN_UUID_STR_LEN])
{
    const char *parts[] = {"case", tenant, invoice};
    dn_uuid_derive(out, parts, 3);
}

/* Loads and row-locks a case. 1 found, 0 none, -1 database error. */
int load_case(engine_t *e, const char *case_id, case_row_t *c)
{
    const case_write_t *w = case_written(e, case_id);
    if (w) { /* the batch changed it (or opened it): its state is the buffered one */
        *c = w->c;
        return 1;
    }
    int row = cached_case(e, case_id);
    if (row >= 0) {
        case_from_row(e->batch_cases, row, c);
        return 1;
    }
    if (row == CASE_ABSENT)
        return 0;
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM cases c JOIN invoices i USING (tenant_id, invoice_id) WHERE c.case_id = $1 "
             "FOR UPDATE OF c",
             case_columns);
    const char *params[] = {case_id};
    PGresult *r = query(e, sql, 1, params);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found)
        case_from_row(r, 0, c);
    PQclear(r);
    return found;
}

/* Writes a case's state: buffered on the fast path (case_buffer), else one deferred
 * (pipelined) UPDATE whose failure surfaces at the next statement or COMMIT. */
int save_case(engine_t *e, const case_row_t *c, const char *resolved_reason, int64_t now)
{
    if (e->buffering) {
        if (case_buffer(e, c, resolved_reason, now, 0) < 0)
            return -1;
    } else {
        case_text_t t;
        const char *params[CASE_UPDATE_COLS];
        case_params(c, resolved_reason, now, &t, params);
        if (dn_pg_defer(
                e->pg,
                "UPDATE cases SET state = $2, stage = $3, paid_minor = $4, outstanding_minor = $5, fee_minor = "
                "$6, interest_minor = $7, next_stage = $8, next_action_at = $9, resolved_reason = coalesce($10, "
                "resolved_reason), updated_at = $11, fees_charged_minor = $12, interest_micro = $13, "
                "interest_through = $14, interest_paid_minor = $15, credited_minor = $16, overpaid_minor = "
                "$17, next_action = $18, retry_attempt = $19, retry_base_at = $20, last_decline_code = $21, "
                "paused_from = $22, pause_reason = $23, paused_until = $24, retry_payment_id = $25, "
                "retry_from = $26, offer_until = $27, offer_due_minor = $28, risk_score = $29, risk_reasons = "
                "string_to_array($30, E'\\n'), risk_track = $31 WHERE case_id = $1",
                CASE_UPDATE_COLS, params, NULL, NULL) < 0)
            return -1;
    }
    /* A case waiting for its customer's notice has no timer of its own (consolidate.h). */
    engine_timer_op(e, c->case_id,
                    c->next_action_ms >= 0 && strcmp(c->next_action, "notice") != 0 ? c->next_action_ms : -1);
    forget_case(e, c->case_id);
    return 0;
}

/* The audit kinds that carry the case's risk score (DunningCaseEvent.risk_score). */
static int risk_carried(const char *kind)
{
    static const char *const kinds[] = {"opened", "reminder_emitted", "reminder_undeliverable", "track_changed"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(kind, kinds[i]) == 0)
            return 1;
    return 0;
}

/* One audit row and one DunningCaseEvent, in the caller's transaction. `detail` is stolen. */
int record(engine_t *e, const case_row_t *c, const char *kind, const char *from, const char *reason,
           const char *caused_by, int64_t now, json_t *detail)
{
    int rc = -1;
    char at[40], stage[16], outstanding[24], fee[24], interest[24];
    char *detail_txt = NULL;
    dn_time_format(now, at, sizeof(at));
    snprintf(stage, sizeof(stage), "%d", c->stage);
    fmt_i64(outstanding, sizeof(outstanding), c->outstanding);
    fmt_i64(fee, sizeof(fee), c->fee);
    fmt_i64(interest, sizeof(interest), c->interest);
    if (!detail)
        detail = json_object();
    if (reason)
        json_object_set_new(detail, "reason", json_string(reason));
    if (c->risk_score >= 0 && risk_carried(kind)) {
        /* The score and its reasons (risk.h), published in the case event (dn_case_events). */
        json_t *why = json_array();
        for (const char *p = c->risk_reasons; *p;) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            json_array_append_new(why, json_stringn(p, n));
            p += n + (nl ? 1 : 0);
        }
        json_object_set_new(detail, "risk_score", json_integer(c->risk_score));
        json_object_set_new(detail, "risk_reasons", why);
        if (c->risk_model[0])
            json_object_set_new(detail, "risk_model", json_string(c->risk_model));
        if (c->risk_holdout)
            json_object_set_new(detail, "risk_holdout", json_true());
        if (c->risk_inputs[0] && strcmp(kind, "opened") == 0) {
            /* What the score was computed from, for the fit (dunningctl risk fit). */
            json_t *in = json_array();
            for (const char *p = c->risk_inputs; *p;) {
                char *end;
                json_array_append_new(in, json_integer(strtoll(p, &end, 10)));
                p = *end == ',' ? end + 1 : end + strlen(end);
            }
            json_object_set_new(detail, "risk_inputs", in);
        }
    }
    detail_txt = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    /* The row is the case event too: the relay publishes it (dn_case_events). */
    const char *params[] = {c->tenant_id, c->customer_id, c->invoice_id, c->case_id, at,
                            kind,         from,           c->state,      stage,      outstanding,
                            fee,          interest,       c->currency,   caused_by,  detail_txt};
    if (e->buffering ? buffer_row(e, audit_rows, AUDIT_COLS, params) < 0
                     : dn_pg_defer(e->pg,
                                   "INSERT INTO audit (tenant_id, customer_id, invoice_id, case_id, at, kind, "
                                   "from_state, to_state, stage, outstanding_minor, fee_minor, interest_minor, "
                                   "currency, caused_by, detail) "
                                   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                                   15, params, NULL, NULL) < 0)
        goto out;
    rc = 0;
out:
    json_decref(detail);
    free(detail_txt);
    return rc;
}

/* Marks an input event processed. 1 = first time, 0 = already processed, -1 = error. */
int first_time(engine_t *e, const char *event_id, const char *topic)
{
    char key[64];
    int seen;
    if (e->prefetched && strlen(event_id) == DN_UUID_STR_LEN - 1) {
        uuid_key(key, sizeof(key), 'e', event_id);
        if (batch_map_get(e->batch, key, &seen)) {
            /* The batch's one INSERT answered: 1 = inserted by it and not handled yet. */
            if (seen != 1)
                return 0;
            if (batch_map_put(e->batch, key, 2) < 0)
                return -1;
            return 1;
        }
    }
    const char *params[] = {event_id, topic};
    PGresult *r = dn_pg_query(e->pg,
                              "INSERT INTO processed_events (event_id, topic) VALUES ($1, $2) "
                              "ON CONFLICT DO NOTHING RETURNING 1",
                              2, params);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n == 1;
}

const policy_t *case_policy(engine_t *e, const case_row_t *c)
{
    /* A policy track (risk.h) overrides the policy the case opened with. */
    const policy_t *p = c->risk_track[0] ? dn_policy_find(e->policies, c->tenant_id, c->risk_track) : NULL;
    if (p)
        return p;
    p = dn_policy_find(e->policies, c->tenant_id, c->policy);
    if (!p) {
        dn_log_warn("case policy no longer configured, using the tenant default", "case_id", c->case_id, "policy",
                    c->policy, NULL);
        p = dn_policy_select(e->policies, c->tenant_id, NULL, NULL);
    }
    return p;
}

/* Applies a transition or explains why it is not allowed. */
int transition(case_row_t *c, case_event_t ev)
{
    case_state_t from = state_of(c), to, pf = ST_OPEN;
    dn_fsm_state_parse(c->paused_from, &pf);
    if (dn_fsm_next(from, ev, pf, &to) < 0)
        return -1;
    set_state(c, to);
    return 0;
}
