/* The multi-row write buffer (see writes.h): the rows of the batch in hand.
 *
 * On the fast path (e->buffering) the handlers append their rows here instead of sending
 * one statement each: new invoices, payments, audit and outbox rows, and the cases'
 * final states (one entry per case, however often the batch changed it: a new case is
 * inserted as it ends up, a known one updated once). engine_flush_writes sends one
 * statement per table (deferred, in order: invoices, new cases, changed cases, payments,
 * outbox, audit: the audit insert takes the append lock held until COMMIT, sql/011), before any statement that reads or
 * writes those tables (query() and query_bin()) and before COMMIT. The careful path writes row by row as before. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answers.h"
#include "dn_clock.h"
#include "dn_outbox.h"
#include "writes.h"

dn_pgarray_t audit_rows[AUDIT_COLS], invoice_rows[INVOICE_COLS], payment_rows[PAYMENT_COLS], applied_rows[APPLIED_COLS];
static dn_pgarray_t outbox_rows[OUTBOX_COLS], case_cols[MAX_COLS];

static case_write_t *case_writes;
static size_t n_case_writes, cap_case_writes, n_dirty_cases;

void drop_writes(void)
{
    for (size_t i = 0; i < AUDIT_COLS; i++)
        dn_pgarray_clear(&audit_rows[i]);
    for (size_t i = 0; i < OUTBOX_COLS; i++)
        dn_pgarray_clear(&outbox_rows[i]);
    for (size_t i = 0; i < INVOICE_COLS; i++)
        dn_pgarray_clear(&invoice_rows[i]);
    for (size_t i = 0; i < PAYMENT_COLS; i++)
        dn_pgarray_clear(&payment_rows[i]);
    for (size_t i = 0; i < APPLIED_COLS; i++)
        dn_pgarray_clear(&applied_rows[i]);
    for (size_t i = 0; i < MAX_COLS; i++)
        dn_pgarray_clear(&case_cols[i]);
    n_case_writes = n_dirty_cases = 0;
}

/* Buffered rows other than audit rows (which nothing on the fast path reads but the
 * fallback, which flushes them itself). */
static int writes_pending(void)
{
    return outbox_rows[0].n || invoice_rows[0].n || payment_rows[0].n || applied_rows[0].n || n_dirty_cases;
}

int buffer_row(engine_t *e, dn_pgarray_t *cols, size_t ncols, const char *const *values)
{
    for (size_t i = 0; i < ncols; i++)
        if (dn_pgarray_add(&cols[i], values[i]) < 0) {
            e->batch_failed = 1; /* the columns no longer line up: never flush them */
            return -1;
        }
    return 0;
}

static int flush_table(engine_t *e, dn_pgarray_t *cols, size_t ncols, const char *sql)
{
    if (cols[0].n == 0)
        return 0;
    const char *params[MAX_COLS];
    int rc = 0;
    for (size_t i = 0; i < ncols; i++)
        if (!(params[i] = dn_pgarray_text(&cols[i])))
            rc = -1; /* out of memory: never send a column short */
    if (rc == 0)
        rc = dn_pg_defer(e->pg, sql, (int)ncols, params, NULL, NULL);
    else
        e->batch_failed = 1;
    for (size_t i = 0; i < ncols; i++)
        dn_pgarray_clear(&cols[i]);
    return rc;
}

void case_params(const case_row_t *c, const char *resolved_reason, int64_t now, case_text_t *t,
                 const char *params[CASE_UPDATE_COLS])
{
    snprintf(t->stage, sizeof(t->stage), "%d", c->stage);
    fmt_i64(t->paid, sizeof(t->paid), c->paid);
    fmt_i64(t->outstanding, sizeof(t->outstanding), c->outstanding);
    fmt_i64(t->fee, sizeof(t->fee), c->fee);
    fmt_i64(t->interest, sizeof(t->interest), c->interest);
    snprintf(t->next_stage, sizeof(t->next_stage), "%d", c->next_stage);
    dn_time_format(c->next_action_ms, t->next_at, sizeof(t->next_at));
    dn_time_format(now, t->upd, sizeof(t->upd));
    fmt_i64(t->fees_charged, sizeof(t->fees_charged), c->fees_charged);
    fmt_i64(t->micro, sizeof(t->micro), c->interest_micro);
    dn_date_format(c->interest_through, t->through, sizeof(t->through));
    fmt_i64(t->ipaid, sizeof(t->ipaid), c->interest_paid);
    fmt_i64(t->credited, sizeof(t->credited), c->credited);
    fmt_i64(t->overpaid, sizeof(t->overpaid), c->overpaid);
    snprintf(t->attempt, sizeof(t->attempt), "%d", c->retry_attempt);
    dn_time_format(c->retry_base_ms, t->base, sizeof(t->base));
    dn_date_format(c->paused_until, t->until, sizeof(t->until));
    dn_date_format(c->offer_until, t->offer_until, sizeof(t->offer_until));
    fmt_i64(t->offer_due, sizeof(t->offer_due), c->offer_due);
    snprintf(t->risk_score, sizeof(t->risk_score), "%d", c->risk_score);
    const char *v[CASE_UPDATE_COLS] = {c->case_id,
                                       c->state,
                                       t->stage,
                                       t->paid,
                                       t->outstanding,
                                       t->fee,
                                       t->interest,
                                       c->next_stage > 0 ? t->next_stage : NULL,
                                       c->next_action_ms >= 0 ? t->next_at : NULL,
                                       resolved_reason,
                                       t->upd,
                                       t->fees_charged,
                                       t->micro,
                                       c->interest_through >= 0 ? t->through : NULL,
                                       t->ipaid,
                                       t->credited,
                                       t->overpaid,
                                       c->next_action[0] ? c->next_action : "stage",
                                       t->attempt,
                                       c->retry_base_ms >= 0 ? t->base : NULL,
                                       c->last_decline[0] ? c->last_decline : NULL,
                                       c->paused_from[0] ? c->paused_from : NULL,
                                       c->pause_reason[0] ? c->pause_reason : NULL,
                                       c->paused_until >= 0 ? t->until : NULL,
                                       c->retry_payment[0] ? c->retry_payment : NULL,
                                       c->retry_from[0] ? c->retry_from : NULL,
                                       c->offer_until >= 0 ? t->offer_until : NULL,
                                       c->offer_until >= 0 ? t->offer_due : NULL,
                                       c->risk_score >= 0 ? t->risk_score : NULL,
                                       c->risk_score >= 0 ? c->risk_reasons : NULL,
                                       c->risk_track[0] ? c->risk_track : NULL};
    memcpy(params, v, sizeof(v));
}

/* The cases' part of the flush: one INSERT for the new ones, one UPDATE for the others. */
static int flush_cases(engine_t *e)
{
    for (int pass = 0; pass < 2; pass++) {
        int is_new = pass == 0;
        for (size_t i = 0; i < n_case_writes; i++) {
            const case_write_t *w = &case_writes[i];
            if (!w->dirty || w->is_new != is_new)
                continue;
            case_text_t t;
            char amount[24], opened[40];
            const char *v[MAX_COLS];
            case_params(&w->c, w->resolved[0] ? w->resolved : NULL, w->at, &t, v);
            fmt_i64(amount, sizeof(amount), w->c.amount);
            dn_time_format(w->opened, opened, sizeof(opened));
            const char *extra[] = {w->c.tenant_id, w->c.invoice_id, w->c.customer_id, w->c.policy, amount,
                                   w->c.currency,  opened};
            memcpy(v + CASE_UPDATE_COLS, extra, sizeof(extra));
            if (buffer_row(e, case_cols, is_new ? CASE_INSERT_COLS : CASE_UPDATE_COLS, v) < 0)
                return -1;
        }
        if (is_new ? flush_table(
                         e, case_cols, CASE_INSERT_COLS,
                         "INSERT INTO cases (case_id, state, stage, paid_minor, outstanding_minor, fee_minor, "
                         "interest_minor, next_stage, next_action_at, resolved_reason, updated_at, "
                         "fees_charged_minor, interest_micro, interest_through, interest_paid_minor, "
                         "credited_minor, overpaid_minor, next_action, retry_attempt, retry_base_at, "
                         "last_decline_code, paused_from, pause_reason, paused_until, retry_payment_id, "
                         "retry_from, offer_until, offer_due_minor, risk_score, risk_reasons, risk_track, tenant_id, "
                         "invoice_id, customer_id, policy, amount_minor, currency, opened_at) SELECT u.c1, u.c2, "
                         "u.c3, u.c4, u.c5, u.c6, u.c7, u.c8, u.c9, u.c10, u.c11, u.c12, u.c13, u.c14, u.c15, u.c16, "
                         "u.c17, u.c18, u.c19, u.c20, u.c21, u.c22, u.c23, u.c24, u.c25, u.c26, u.c27, u.c28, "
                         "u.c29, string_to_array(u.c30, E'\\n'), u.c31, u.c32, u.c33, u.c34, u.c35, u.c36, u.c37, "
                         "u.c38 FROM unnest($1::uuid[], $2::text[], "
                         "$3::int[], $4::bigint[], "
                         "$5::bigint[], $6::bigint[], $7::bigint[], $8::int[], $9::timestamptz[], $10::text[], "
                         "$11::timestamptz[], $12::bigint[], $13::bigint[], $14::date[], $15::bigint[], "
                         "$16::bigint[], $17::bigint[], $18::text[], $19::int[], $20::timestamptz[], "
                         "$21::text[], $22::text[], $23::text[], $24::date[], $25::text[], $26::text[], "
                         "$27::date[], $28::bigint[], $29::smallint[], $30::text[], $31::text[], $32::text[], "
                         "$33::text[], $34::text[], $35::text[], $36::bigint[], $37::text[], "
                         "$38::timestamptz[]) AS u (c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, "
                         "c15, c16, c17, c18, c19, c20, c21, c22, c23, c24, c25, c26, c27, c28, c29, c30, c31, "
                         "c32, c33, c34, c35, c36, c37, c38)") < 0
                   : flush_table(
                         e, case_cols, CASE_UPDATE_COLS,
                         "UPDATE cases c SET state = u.st, stage = u.sg, paid_minor = u.pd, "
                         "outstanding_minor = u.os, fee_minor = u.fe, interest_minor = u.im, next_stage = "
                         "u.ns, next_action_at = u.na, resolved_reason = coalesce(u.rr, c.resolved_reason), "
                         "updated_at = u.up, fees_charged_minor = u.fc, interest_micro = u.mi, "
                         "interest_through = u.it, interest_paid_minor = u.ip, credited_minor = u.cr, "
                         "overpaid_minor = u.op, next_action = u.nx, retry_attempt = u.ra, retry_base_at = "
                         "u.rb, last_decline_code = u.ld, paused_from = u.pf, pause_reason = u.pr, "
                         "paused_until = u.pu, retry_payment_id = u.rp, retry_from = u.rf, offer_until = u.ou, "
                         "offer_due_minor = u.od, risk_score = u.rs, risk_reasons = string_to_array(u.rw, E'\\n'), "
                         "risk_track = u.rt "
                         "FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bigint[], $5::bigint[], "
                         "$6::bigint[], $7::bigint[], $8::int[], $9::timestamptz[], $10::text[], "
                         "$11::timestamptz[], $12::bigint[], $13::bigint[], $14::date[], $15::bigint[], "
                         "$16::bigint[], $17::bigint[], $18::text[], $19::int[], $20::timestamptz[], "
                         "$21::text[], $22::text[], $23::text[], $24::date[], $25::text[], $26::text[], "
                         "$27::date[], $28::bigint[], $29::smallint[], $30::text[], $31::text[]) AS u (id, st, sg, "
                         "pd, os, fe, im, ns, na, rr, up, fc, mi, it, ip, cr, op, nx, ra, rb, ld, pf, pr, pu, rp, "
                         "rf, ou, od, rs, rw, rt) WHERE c.case_id = u.id") < 0)
            return -1;
    }
    /* Sent: the database has them now; a later change is an UPDATE. */
    for (size_t i = 0; i < n_case_writes; i++) {
        case_write_t *w = &case_writes[i];
        w->is_new = w->dirty = 0;
        w->resolved[0] = '\0';
    }
    n_dirty_cases = 0;
    return 0;
}

/* with_audit: the audit rows too. Their insert takes the audit append lock (sql/011),
 * held until the transaction ends, so they go only with the last flush before COMMIT and
 * before a statement that reads the audit trail: two engines then serialize only on
 * their commits, not on whole batches. */
static int flush_writes(engine_t *e, int with_audit)
{
    if (e->batch_failed)
        return -1;
    if (flush_table(e, invoice_rows, INVOICE_COLS,
                    "INSERT INTO invoices (tenant_id, invoice_id, customer_id, invoice_number, amount_minor, "
                    "currency, issue_date, due_date, policy, customer_segment, payment_link, contact, source, "
                    "issued_event_id, issued_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], "
                    "$4::text[], $5::bigint[], $6::text[], $7::date[], $8::date[], $9::text[], $10::text[], "
                    "$11::text[], $12::jsonb[], $13::bytea[], $14::uuid[], $15::timestamptz[])") < 0 ||
        flush_cases(e) < 0 ||
        flush_table(e, payment_rows, PAYMENT_COLS,
                    "INSERT INTO payments (tenant_id, payment_id, invoice_id, customer_id, amount_minor, currency, "
                    "method, event_id, received_at, applied) SELECT * FROM unnest($1::text[], $2::text[], "
                    "$3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::uuid[], "
                    "$9::timestamptz[], $10::bool[])") < 0 ||
        flush_table(e, applied_rows, APPLIED_COLS,
                    "UPDATE payments p SET applied = true FROM unnest($1::text[], $2::text[]) AS u (t, id) "
                    "WHERE p.tenant_id = u.t AND p.payment_id = u.id") < 0) {
        e->batch_failed = 1;
        return -1;
    }
    /* The audit rows last: their insert takes the append lock, held until COMMIT. */
    if (flush_table(e, outbox_rows, OUTBOX_COLS,
                    "INSERT INTO outbox (event_id, topic, key, payload) SELECT ev, t, k, p "
                    "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[]) WITH ORDINALITY "
                    "AS u (ev, t, k, p, n) ORDER BY n ON CONFLICT (event_id) DO NOTHING") < 0 ||
        (with_audit &&
         flush_table(e, audit_rows, AUDIT_COLS,
                     "INSERT INTO audit (tenant_id, customer_id, invoice_id, case_id, at, kind, from_state, to_state, "
                     "stage, outstanding_minor, fee_minor, interest_minor, currency, caused_by, detail) SELECT t, cu, "
                     "i, ca, a, k, f, s, st, o, fe, it, cur, cb, d FROM unnest($1::text[], $2::text[], $3::text[], "
                     "$4::uuid[], $5::timestamptz[], $6::text[], $7::text[], $8::text[], $9::int[], $10::bigint[], "
                     "$11::bigint[], $12::bigint[], $13::text[], $14::uuid[], $15::jsonb[]) WITH ORDINALITY "
                     "AS u (t, cu, i, ca, a, k, f, s, st, o, fe, it, cur, cb, d, n) ORDER BY n") < 0)) {
        e->batch_failed = 1;
        return -1;
    }
    return 0;
}

int engine_flush_writes(engine_t *e)
{
    return flush_writes(e, 1);
}

int engine_push_writes(engine_t *e)
{
    return flush_writes(e, 0);
}

/* A statement that reads or writes a table the fast path buffers: the buffered rows go
 * first (all but the audit rows, see flush_writes), so it sees (and orders after)
 * everything the batch did. */
PGresult *query(engine_t *e, const char *sql, int n, const char *const *params)
{
    if (e->buffering && writes_pending() && engine_push_writes(e) < 0)
        return NULL;
    return dn_pg_query(e->pg, sql, n, params);
}

PGresult *query_bin(engine_t *e, const char *sql, int n, const char *const *params, const int *lengths,
                    const int *formats)
{
    if (e->buffering && writes_pending() && engine_push_writes(e) < 0)
        return NULL;
    return dn_pg_query_bin(e->pg, sql, n, params, lengths, formats);
}

/* The batch's buffered state of a case, or NULL. */
case_write_t *case_written(engine_t *e, const char *case_id)
{
    char key[64];
    int i;
    if (!e->buffering || n_case_writes == 0 || strlen(case_id) != DN_UUID_STR_LEN - 1)
        return NULL;
    uuid_key(key, sizeof(key), 'w', case_id);
    return batch_map_get(e->batch, key, &i) && i >= 0 && (size_t)i < n_case_writes ? &case_writes[i] : NULL;
}

/* Buffers a case's new state (fast path). is_new: a case the batch opens. 0/-1. */
int case_buffer(engine_t *e, const case_row_t *c, const char *resolved_reason, int64_t now, int is_new)
{
    case_write_t *w = case_written(e, c->case_id);
    if (!w) {
        char key[64];
        if (n_case_writes == cap_case_writes) {
            size_t cap = cap_case_writes ? 2 * cap_case_writes : 256;
            case_write_t *grown = realloc(case_writes, cap * sizeof(*grown));
            if (!grown) {
                e->batch_failed = 1;
                return -1;
            }
            case_writes = grown;
            cap_case_writes = cap;
        }
        uuid_key(key, sizeof(key), 'w', c->case_id);
        if (batch_map_put(e->batch, key, (int)n_case_writes) < 0) {
            e->batch_failed = 1;
            return -1;
        }
        w = &case_writes[n_case_writes++];
        memset(w, 0, sizeof(*w));
        w->is_new = is_new;
        w->opened = now;
    }
    if (!w->dirty) {
        w->dirty = 1;
        n_dirty_cases++;
    }
    w->c = *c;
    w->at = now;
    if (resolved_reason)
        snprintf(w->resolved, sizeof(w->resolved), "%s", resolved_reason);
    return 0;
}

/* dn_outbox_add, or its row buffered on the fast path. */
int outbox_add(engine_t *e, const char *event_id, const char *topic, const char *key, const void *value,
               size_t value_len)
{
    if (!e->buffering)
        return dn_outbox_add(e->pg, event_id, topic, key, value, value_len);
    if (dn_pgarray_add(&outbox_rows[0], event_id) < 0 || dn_pgarray_add(&outbox_rows[1], topic) < 0 ||
        dn_pgarray_add(&outbox_rows[2], key) < 0 || dn_pgarray_add_bytea(&outbox_rows[3], value, value_len) < 0) {
        e->batch_failed = 1; /* the columns no longer line up: never flush them */
        return -1;
    }
    return 0;
}

void writes_destroy(void)
{
    for (size_t i = 0; i < AUDIT_COLS; i++)
        dn_pgarray_free(&audit_rows[i]);
    for (size_t i = 0; i < OUTBOX_COLS; i++)
        dn_pgarray_free(&outbox_rows[i]);
    for (size_t i = 0; i < INVOICE_COLS; i++)
        dn_pgarray_free(&invoice_rows[i]);
    for (size_t i = 0; i < PAYMENT_COLS; i++)
        dn_pgarray_free(&payment_rows[i]);
    for (size_t i = 0; i < APPLIED_COLS; i++)
        dn_pgarray_free(&applied_rows[i]);
    for (size_t i = 0; i < MAX_COLS; i++)
        dn_pgarray_free(&case_cols[i]);
    free(case_writes);
    case_writes = NULL;
    n_case_writes = cap_case_writes = 0;
}
