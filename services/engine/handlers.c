/* What the engine does with each input record (invoices, payments, failed charges, case
 * commands, reminder outcomes) and each due timer. Every handler runs inside the caller's
 * transaction; effects leave only through the outbox and the timer ops applied after
 * COMMIT. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_currency.h"
#include "dn_log.h"
#include "dn_outbox.h"
#include "dn_pgarray.h"
#include "dn_topics.h"
#include "effects.h"
#include "engine.h"
#include "dn_fsm.h"
#include "dn_rules.h"
#include "validate.h"

typedef struct case_row {
    char case_id[DN_UUID_STR_LEN];
    char tenant_id[ID_MAX + 1], invoice_id[ID_MAX + 1], customer_id[ID_MAX + 1];
    char policy[ID_MAX + 1], state[32], currency[4];
    int stage, next_stage;
    int64_t amount, paid, outstanding, fee, interest;
    int64_t next_action_ms; /* -1 = none */
    int32_t due_date;
    int64_t fees_charged, interest_micro, interest_paid, credited, overpaid;
    int32_t interest_through; /* -1 = not yet accrued (counts from the due date) */
    char next_action[16];     /* stage, retry, retry_result, resume */
    int retry_attempt;
    int64_t retry_base_ms; /* -1 = none */
    char last_decline[65];
    char retry_payment[ID_MAX + 1]; /* the charge that failed first */
    char retry_from[32];            /* the state the retries started in */
    char paused_from[32], pause_reason[32];
    int32_t paused_until; /* -1 = none */
} case_row_t;

static const char *const case_columns =
    "c.case_id, c.tenant_id, c.invoice_id, c.customer_id, c.policy, c.state, c.stage, c.amount_minor, "
    "c.paid_minor, c.outstanding_minor, c.fee_minor, c.interest_minor, c.currency, coalesce(c.next_stage, 0), "
    "coalesce((extract(epoch from c.next_action_at) * 1000)::bigint, -1), (i.due_date - date '1970-01-01'), "
    "c.fees_charged_minor, c.interest_micro, coalesce(c.interest_through - date '1970-01-01', -1), "
    "c.interest_paid_minor, c.credited_minor, c.overpaid_minor, c.next_action, c.retry_attempt, "
    "coalesce((extract(epoch from c.retry_base_at) * 1000)::bigint, -1), coalesce(c.last_decline_code, ''), "
    "coalesce(c.paused_from, ''), coalesce(c.pause_reason, ''), coalesce(c.paused_until - date '1970-01-01', -1), "
    "coalesce(c.retry_payment_id, ''), coalesce(c.retry_from, '')";

static case_state_t state_of(const case_row_t *c)
{
    case_state_t s = ST_OPEN;
    dn_fsm_state_parse(c->state, &s);
    return s;
}

static void set_state(case_row_t *c, case_state_t s)
{
    snprintf(c->state, sizeof(c->state), "%s", dn_fsm_state_name(s));
}

static int is_resolved(const char *state)
{
    return strcmp(state, "resolved") == 0;
}

static void fmt_i64(char *buf, size_t size, int64_t v)
{
    snprintf(buf, size, "%" PRId64, v);
}

static void case_id_for(const char *tenant, const char *invoice, char out[DN_UUID_STR_LEN])
{
    const char *parts[] = {"case", tenant, invoice};
    dn_uuid_derive(out, parts, 3);
}

static int64_t col_i64(PGresult *r, int col)
{
    return strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

static int64_t col_at(PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static void case_from_row(PGresult *r, int row, case_row_t *c)
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
}

/* ---- set-based answers for the batch in hand (engine.h: handle_prefetch, fire_prefetch) ---- */

enum { CASE_ABSENT = -1, CASE_UNKNOWN = -2, CASE_CHANGED = -3 };
enum { CASE_SOURCE_COL = 31 }; /* load_cases' rows: case_columns, then the invoice's source */
/* INV_PAYMENTS: the lookup found payments waiting (their rows are in e->batch_lookup);
 * INV_PAYMENTS_NEW: the batch itself held a payment for the invoice (ask the database). */
enum { INV_EXISTS = 1, INV_PAYMENTS = 2, INV_HELD = 4, INV_PAYMENTS_NEW = 8 };
enum { LOOKUP_PAYMENT_COL = 3 }; /* batch_lookup's 'p' rows: payment_id, amount, currency, event_id */

/* Map keys: "e:<event id>", "c:<case id>" (UUIDs in lower case, as PostgreSQL prints
 * them), "i:<tenant length>:<tenant>:<invoice>" and "p:<tenant length>:<tenant>:<payment>". */
static void uuid_key(char *out, size_t size, char kind, const char *id)
{
    snprintf(out, size, "%c:%s", kind, id);
    for (char *p = out + 2; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
}

static void invoice_key(char *out, size_t size, const char *tenant, const char *invoice)
{
    snprintf(out, size, "i:%zu:%s:%s", strlen(tenant), tenant, invoice);
}

/* The prefetched row of a case, CASE_ABSENT (asked, no such case) or CASE_UNKNOWN (not
 * asked, or changed by the batch since: ask the database). */
static int cached_case(engine_t *e, const char *case_id)
{
    char key[64];
    int row;
    if (!e->prefetched || !e->batch_cases || strlen(case_id) != DN_UUID_STR_LEN - 1)
        return CASE_UNKNOWN;
    uuid_key(key, sizeof(key), 'c', case_id);
    if (!batch_map_get(e->batch, key, &row))
        return CASE_UNKNOWN;
    return row >= 0 || row == CASE_ABSENT ? row : CASE_UNKNOWN;
}

/* The batch wrote the case: from now on it is read from the database (which has the
 * batch's earlier statements) rather than from the prefetched row. */
static void forget_case(engine_t *e, const char *case_id)
{
    char key[64];
    int row;
    if (!e->prefetched || strlen(case_id) != DN_UUID_STR_LEN - 1)
        return;
    uuid_key(key, sizeof(key), 'c', case_id);
    if (batch_map_get(e->batch, key, &row) && batch_map_put(e->batch, key, CASE_CHANGED) < 0)
        e->batch_failed = 1; /* out of memory: the batch is done again record by record */
}

static void payment_key(char *out, size_t size, const char *tenant, const char *payment)
{
    snprintf(out, size, "p:%zu:%s:%s", strlen(tenant), tenant, payment);
}

/* What the batch's lookup said about a payment id: 1 known, 0 new, -1 not asked. */
static int payment_known(engine_t *e, const char *tenant, const char *payment)
{
    char key[2 * ID_MAX + 32];
    int known;
    if (!e->prefetched || strlen(tenant) > ID_MAX || strlen(payment) > ID_MAX)
        return -1;
    payment_key(key, sizeof(key), tenant, payment);
    return batch_map_get(e->batch, key, &known) ? known : -1;
}

/* What the batch's lookup said about an invoice (INV_* bits), or -1 if it was not asked. */
static int invoice_flags(engine_t *e, const char *tenant, const char *invoice)
{
    char key[2 * ID_MAX + 32];
    int flags;
    if (!e->prefetched || strlen(tenant) > ID_MAX || strlen(invoice) > ID_MAX)
        return -1;
    invoice_key(key, sizeof(key), tenant, invoice);
    return batch_map_get(e->batch, key, &flags) ? flags : -1;
}

/* Something this batch wrote about an invoice it asked about. */
static void invoice_mark(engine_t *e, const char *tenant, const char *invoice, int bit)
{
    int flags = invoice_flags(e, tenant, invoice);
    char key[2 * ID_MAX + 32];
    if (flags < 0)
        return;
    invoice_key(key, sizeof(key), tenant, invoice);
    if (batch_map_put(e->batch, key, flags | bit) < 0)
        e->batch_failed = 1; /* out of memory: the batch is done again record by record */
}

/* The row of batch_lookup where an invoice's waiting payments start (INV_PAYMENTS), or -1. */
static int lookup_payments(engine_t *e, const char *tenant, const char *invoice)
{
    char key[2 * ID_MAX + 32];
    int row;
    invoice_key(key, sizeof(key), tenant, invoice);
    key[0] = 'P';
    return e->batch_lookup && batch_map_get(e->batch, key, &row) ? row : -1;
}

static int lookup_row_is(PGresult *r, int row, char kind, const char *tenant, const char *invoice)
{
    return PQgetvalue(r, row, 0)[0] == kind && strcmp(PQgetvalue(r, row, 1), tenant) == 0 &&
           strcmp(PQgetvalue(r, row, 2), invoice) == 0;
}

static void drop_writes(void);

void batch_reset(engine_t *e)
{
    drop_writes();
    if (e->batch)
        batch_map_clear(e->batch);
    PQclear(e->batch_cases);
    e->batch_cases = NULL;
    PQclear(e->batch_lookup);
    e->batch_lookup = NULL;
    e->prefetched = 0;
    e->batch_failed = 0;
}

/* ---- multi-row writes: the rows of the batch in hand ----
 *
 * On the fast path (e->buffering) the handlers append their rows here instead of sending
 * one statement each: new invoices, payments, audit and outbox rows, and the cases'
 * final states (one entry per case, however often the batch changed it: a new case is
 * inserted as it ends up, a known one updated once). engine_flush_writes sends one
 * statement per table (deferred, in order: invoices, new cases, changed cases, payments,
 * audit, outbox), before any statement that reads or writes those tables (query() and
 * query_bin() below) and before COMMIT. The careful path writes row by row as before. */

enum { AUDIT_COLS = 12, OUTBOX_COLS = 4, INVOICE_COLS = 15, PAYMENT_COLS = 10, APPLIED_COLS = 2 };
enum { CASE_UPDATE_COLS = 26, CASE_INSERT_COLS = 33, MAX_COLS = 33 };
static dn_pgarray_t audit_rows[AUDIT_COLS], outbox_rows[OUTBOX_COLS], invoice_rows[INVOICE_COLS],
    payment_rows[PAYMENT_COLS], applied_rows[APPLIED_COLS], case_cols[MAX_COLS];

/* A case the batch wrote: its latest state, found by "w:<case id>" in the batch map. It
 * stays after a flush (the batch holds the row's lock, so it is what the database has)
 * and answers load_case without a round trip. */
typedef struct case_write {
    case_row_t c;
    int is_new;        /* not in the database yet: inserted at the flush */
    int dirty;         /* changed since the last flush */
    int64_t at;        /* updated_at */
    int64_t opened;    /* opened_at, for a new case */
    char resolved[48]; /* resolved_reason to set ("" = keep) */
} case_write_t;
static case_write_t *case_writes;
static size_t n_case_writes, cap_case_writes, n_dirty_cases;

static void drop_writes(void)
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

static int writes_pending(void)
{
    return audit_rows[0].n || outbox_rows[0].n || invoice_rows[0].n || payment_rows[0].n || applied_rows[0].n ||
           n_dirty_cases;
}

static int buffer_row(engine_t *e, dn_pgarray_t *cols, size_t ncols, const char *const *values)
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

/* save_case's parameters ($1..$26 of its UPDATE) for a case; the strings live in `t`. */
typedef struct case_text {
    char stage[16], paid[24], outstanding[24], fee[24], interest[24], next_stage[16], next_at[40], upd[40];
    char fees_charged[24], micro[24], through[16], ipaid[24], credited[24], overpaid[24], attempt[16], base[40],
        until[16];
} case_text_t;

static void case_params(const case_row_t *c, const char *resolved_reason, int64_t now, case_text_t *t,
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
                                       c->retry_from[0] ? c->retry_from : NULL};
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
        if (is_new ? flush_table(e, case_cols, CASE_INSERT_COLS,
                                 "INSERT INTO cases (case_id, state, stage, paid_minor, outstanding_minor, fee_minor, "
                                 "interest_minor, next_stage, next_action_at, resolved_reason, updated_at, "
                                 "fees_charged_minor, interest_micro, interest_through, interest_paid_minor, "
                                 "credited_minor, overpaid_minor, next_action, retry_attempt, retry_base_at, "
                                 "last_decline_code, paused_from, pause_reason, paused_until, retry_payment_id, "
                                 "retry_from, tenant_id, invoice_id, customer_id, policy, amount_minor, currency, "
                                 "opened_at) SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bigint[], "
                                 "$5::bigint[], $6::bigint[], $7::bigint[], $8::int[], $9::timestamptz[], $10::text[], "
                                 "$11::timestamptz[], $12::bigint[], $13::bigint[], $14::date[], $15::bigint[], "
                                 "$16::bigint[], $17::bigint[], $18::text[], $19::int[], $20::timestamptz[], "
                                 "$21::text[], $22::text[], $23::text[], $24::date[], $25::text[], $26::text[], "
                                 "$27::text[], $28::text[], $29::text[], $30::text[], $31::bigint[], $32::text[], "
                                 "$33::timestamptz[])") < 0
                   : flush_table(e, case_cols, CASE_UPDATE_COLS,
                                 "UPDATE cases c SET state = u.st, stage = u.sg, paid_minor = u.pd, "
                                 "outstanding_minor = u.os, fee_minor = u.fe, interest_minor = u.im, next_stage = "
                                 "u.ns, next_action_at = u.na, resolved_reason = coalesce(u.rr, c.resolved_reason), "
                                 "updated_at = u.up, fees_charged_minor = u.fc, interest_micro = u.mi, "
                                 "interest_through = u.it, interest_paid_minor = u.ip, credited_minor = u.cr, "
                                 "overpaid_minor = u.op, next_action = u.nx, retry_attempt = u.ra, retry_base_at = "
                                 "u.rb, last_decline_code = u.ld, paused_from = u.pf, pause_reason = u.pr, "
                                 "paused_until = u.pu, retry_payment_id = u.rp, retry_from = u.rf "
                                 "FROM unnest($1::uuid[], $2::text[], $3::int[], $4::bigint[], $5::bigint[], "
                                 "$6::bigint[], $7::bigint[], $8::int[], $9::timestamptz[], $10::text[], "
                                 "$11::timestamptz[], $12::bigint[], $13::bigint[], $14::date[], $15::bigint[], "
                                 "$16::bigint[], $17::bigint[], $18::text[], $19::int[], $20::timestamptz[], "
                                 "$21::text[], $22::text[], $23::text[], $24::date[], $25::text[], $26::text[]) "
                                 "AS u (id, st, sg, pd, os, fe, im, ns, na, rr, up, fc, mi, it, ip, cr, op, nx, ra, "
                                 "rb, ld, pf, pr, pu, rp, rf) WHERE c.case_id = u.id") < 0)
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

int engine_flush_writes(engine_t *e)
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
                    "WHERE p.tenant_id = u.t AND p.payment_id = u.id") < 0 ||
        flush_table(e, audit_rows, AUDIT_COLS,
                    "INSERT INTO audit (tenant_id, customer_id, invoice_id, case_id, at, kind, from_state, to_state, "
                    "stage, outstanding_minor, caused_by, detail) SELECT t, cu, i, ca, a, k, f, s, st, o, cb, d "
                    "FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::timestamptz[], $6::text[], "
                    "$7::text[], $8::text[], $9::int[], $10::bigint[], $11::uuid[], $12::jsonb[]) WITH ORDINALITY "
                    "AS u (t, cu, i, ca, a, k, f, s, st, o, cb, d, n) ORDER BY n") < 0) {
        e->batch_failed = 1;
        return -1;
    }
    if (flush_table(e, outbox_rows, OUTBOX_COLS,
                    "INSERT INTO outbox (event_id, topic, key, payload) SELECT ev, t, k, p "
                    "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[]) WITH ORDINALITY "
                    "AS u (ev, t, k, p, n) ORDER BY n ON CONFLICT (event_id) DO NOTHING") < 0) {
        e->batch_failed = 1;
        return -1;
    }
    return 0;
}

/* A statement that reads or writes a table the fast path buffers: the buffered rows go
 * first, so it sees (and orders after) everything the batch did. */
static PGresult *query(engine_t *e, const char *sql, int n, const char *const *params)
{
    if (e->buffering && writes_pending() && engine_flush_writes(e) < 0)
        return NULL;
    return dn_pg_query(e->pg, sql, n, params);
}

static PGresult *query_bin(engine_t *e, const char *sql, int n, const char *const *params, const int *lengths,
                           const int *formats)
{
    if (e->buffering && writes_pending() && engine_flush_writes(e) < 0)
        return NULL;
    return dn_pg_query_bin(e->pg, sql, n, params, lengths, formats);
}

/* The batch's buffered state of a case, or NULL. */
static case_write_t *case_written(engine_t *e, const char *case_id)
{
    char key[64];
    int i;
    if (!e->buffering || n_case_writes == 0 || strlen(case_id) != DN_UUID_STR_LEN - 1)
        return NULL;
    uuid_key(key, sizeof(key), 'w', case_id);
    return batch_map_get(e->batch, key, &i) && i >= 0 && (size_t)i < n_case_writes ? &case_writes[i] : NULL;
}

/* Buffers a case's new state (fast path). is_new: a case the batch opens. 0/-1. */
static int case_buffer(engine_t *e, const case_row_t *c, const char *resolved_reason, int64_t now, int is_new)
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
static int outbox_add(engine_t *e, const char *event_id, const char *topic, const char *key, const void *value,
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

/* Loads and row-locks a case. 1 found, 0 none, -1 database error. */
static int load_case(engine_t *e, const char *case_id, case_row_t *c)
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
static int save_case(engine_t *e, const case_row_t *c, const char *resolved_reason, int64_t now)
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
                "retry_from = $26 WHERE case_id = $1",
                CASE_UPDATE_COLS, params, NULL, NULL) < 0)
            return -1;
    }
    engine_timer_op(e, c->case_id, c->next_action_ms >= 0 ? c->next_action_ms : -1);
    forget_case(e, c->case_id);
    return 0;
}

/* One audit row and one DunningCaseEvent, in the caller's transaction. `detail` is stolen. */
static int record(engine_t *e, const case_row_t *c, const char *kind, const char *from, const char *reason,
                  const char *caused_by, int64_t now, json_t *detail)
{
    int rc = -1;
    char at[40], stage[16], outstanding[24];
    char *detail_txt = NULL, *buf = NULL;
    size_t len = 0;
    dn_time_format(now, at, sizeof(at));
    snprintf(stage, sizeof(stage), "%d", c->stage);
    fmt_i64(outstanding, sizeof(outstanding), c->outstanding);
    if (!detail)
        detail = json_object();
    if (reason)
        json_object_set_new(detail, "reason", json_string(reason));
    detail_txt = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    const char *params[] = {c->tenant_id, c->customer_id, c->invoice_id, c->case_id,  at,        kind,
                            from,         c->state,       stage,         outstanding, caused_by, detail_txt};
    if (e->buffering ? buffer_row(e, audit_rows, AUDIT_COLS, params) < 0
                     : dn_pg_defer(e->pg,
                                   "INSERT INTO audit (tenant_id, customer_id, invoice_id, case_id, at, kind, "
                                   "from_state, to_state, stage, outstanding_minor, caused_by, detail) "
                                   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                                   12, params, NULL, NULL) < 0)
        goto out;

    char event_id[DN_UUID_STR_LEN];
    const char *parts[] = {"case-event", c->case_id, kind, caused_by ? caused_by : "", stage};
    dn_uuid_derive(event_id, parts, 5);
    dn_dunning_case_event_t ev = {.event_id = event_id,
                                  .occurred_at = now,
                                  .tenant_id = (char *)c->tenant_id,
                                  .customer_id = (char *)c->customer_id,
                                  .case_id = (char *)c->case_id,
                                  .invoice_id = (char *)c->invoice_id,
                                  .event_type = (char *)kind,
                                  .from_state = (char *)from,
                                  .to_state = (char *)c->state,
                                  .stage = c->stage,
                                  .outstanding_minor = c->outstanding,
                                  .fee_minor = c->fee,
                                  .interest_minor = c->interest,
                                  .currency = (char *)c->currency,
                                  .reason = (char *)reason,
                                  .caused_by_event_id = (char *)caused_by};
    char key[2 * ID_MAX + 2];
    dn_topic_key(c->tenant_id, c->customer_id, key, sizeof(key));
    if (dn_dunning_case_event_encode(&ev, &buf, &len) < 0) {
        dn_log_error("cannot encode case event", "case_id", c->case_id, NULL);
        goto out;
    }
    if (outbox_add(e, event_id, dn_topic_name(DN_TOPIC_CASE_EVENTS), key, buf, len) < 0)
        goto out;
    rc = 0;
out:
    json_decref(detail);
    free(detail_txt);
    free(buf);
    return rc;
}

/* Marks an input event processed. 1 = first time, 0 = already processed, -1 = error. */
static int first_time(engine_t *e, const char *event_id, const char *topic)
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

static const policy_t *case_policy(engine_t *e, const case_row_t *c)
{
    const policy_t *p = dn_policy_find(e->policies, c->tenant_id, c->policy);
    if (!p) {
        dn_log_warn("case policy no longer configured, using the tenant default", "case_id", c->case_id, "policy",
                    c->policy, NULL);
        p = dn_policy_select(e->policies, c->tenant_id, NULL, NULL);
    }
    return p;
}

static int64_t stage_time_ms(const case_row_t *c, const policy_t *p, int stage)
{
    return dn_rules_stage_time_ms(c->due_date, p->stages[stage - 1].offset_ms, p->grace_days);
}

/* Brings interest up to `now`: simple daily interest on the principal still owed, for
 * every day after the due date; no interest accrues while paused or once terminal. */
static void accrue(case_row_t *c, const policy_t *p, int64_t now)
{
    interest_acc_t acc = {.micro = c->interest_micro,
                          .through = c->interest_through >= 0 ? c->interest_through : c->due_date};
    case_state_t s = state_of(c);
    if (dn_fsm_is_terminal(s))
        return; /* settled, written off or handed over: the amounts are final */
    int64_t rate = s == ST_PAUSED ? 0 : p->interest_rate_e4;
    dn_rules_accrue(&acc, c->outstanding, rate, dn_date_from_ms(now));
    c->interest_micro = acc.micro;
    c->interest_through = acc.through;
    c->interest = dn_rules_interest_minor(&acc) - c->interest_paid;
    if (c->interest < 0)
        c->interest = 0;
}

static int64_t total_due(const case_row_t *c)
{
    return c->outstanding + c->fee + c->interest;
}

/* Sets the one pending timer from the case's state: the next stage, the next retry,
 * the end of a pause, or nothing. */
static void schedule_next(case_row_t *c, const policy_t *p, int64_t now)
{
    case_state_t s = state_of(c);
    /* Under catch_up: each a pending stage may have been moved later than its policy time
     * (one stage a day, fire_stage); a payment or credit in between keeps that. */
    int64_t spaced = strcmp(c->next_action, "stage") == 0 ? c->next_action_ms : -1;
    c->next_action_ms = -1;
    snprintf(c->next_action, sizeof(c->next_action), "stage");
    if (dn_fsm_is_terminal(s))
        return;
    if (s == ST_PAUSED) {
        if (c->paused_until >= 0) {
            snprintf(c->next_action, sizeof(c->next_action), "resume");
            c->next_action_ms = dn_date_to_ms(c->paused_until);
        }
        return;
    }
    if (s == ST_RETRYING) {
        if ((size_t)c->retry_attempt < p->retries.nschedule) {
            snprintf(c->next_action, sizeof(c->next_action), "retry");
            c->next_action_ms = c->retry_base_ms + p->retries.schedule_ms[c->retry_attempt];
        } else {
            snprintf(c->next_action, sizeof(c->next_action), "retry_result");
            c->next_action_ms = now + p->retries.result_wait_ms;
        }
        return;
    }
    if (c->next_stage >= 1 && c->next_stage <= (int)p->nstages) {
        c->next_action_ms = stage_time_ms(c, p, c->next_stage);
        if (p->catch_up == CATCH_UP_EACH && spaced > c->next_action_ms)
            c->next_action_ms = spaced;
    }
}

/* Applies a transition or explains why it is not allowed. */
static int transition(case_row_t *c, case_event_t ev)
{
    case_state_t from = state_of(c), to, pf = ST_OPEN;
    dn_fsm_state_parse(c->paused_from, &pf);
    if (dn_fsm_next(from, ev, pf, &to) < 0)
        return -1;
    set_state(c, to);
    return 0;
}

/* Applies money (a payment or a credit note) to a case: fees first, then interest, then
 * principal; resolves the case when what is left is within the policy's tolerance. */
static int apply_money(engine_t *e, case_row_t *c, const policy_t *pol, int64_t amount, int is_credit, const char *ref,
                       const char *caused_by, int64_t now)
{
    char from[32];
    snprintf(from, sizeof(from), "%s", c->state);
    accrue(c, pol, now);
    allocation_t a = dn_rules_allocate(amount, c->fee, c->interest, c->outstanding);
    c->fee -= a.to_fees;
    c->interest_paid += a.to_interest;
    c->interest -= a.to_interest;
    c->outstanding -= a.to_principal;
    c->overpaid += a.overpaid;
    if (is_credit)
        c->credited += amount;
    else
        c->paid += amount;
    int64_t left = total_due(c);
    int settles = !is_resolved(c->state) && dn_rules_settled(left, dn_policy_money_for(&pol->tolerance, c->currency));
    transition(c, settles ? EV_SETTLED : EV_PARTIAL_PAYMENT);
    const char *reason = NULL;
    if (settles) {
        reason = is_credit ? "credited" : left > 0 ? "paid_within_tolerance" : "paid";
        c->outstanding = c->fee = c->interest = 0; /* a remainder within tolerance is forgiven */
        c->next_stage = 0;
        c->paused_from[0] = c->pause_reason[0] = '\0';
        c->paused_until = -1;
    }
    schedule_next(c, pol, now);
    json_t *detail =
        json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", is_credit ? "credit_id" : "payment_id", ref, "amount_minor",
                  (json_int_t)amount, "to_fees", (json_int_t)a.to_fees, "to_interest", (json_int_t)a.to_interest,
                  "to_principal", (json_int_t)a.to_principal, "overpaid_minor", (json_int_t)a.overpaid);
    if (save_case(e, c, reason, now) < 0 ||
        record(e, c, is_credit ? "credit_applied" : "payment_applied", from, NULL, caused_by, now, detail) < 0)
        return H_DBERR;
    if (settles && record(e, c, "resolved", from, reason, caused_by, now,
                          left > 0 ? json_pack("{s:I}", "written_off_minor", (json_int_t)left) : NULL) < 0)
        return H_DBERR;
    return H_OK;
}

/* Input about an invoice not seen yet: kept, and replayed when the invoice arrives. */
static int hold_event(engine_t *e, const char *tenant, const char *customer, const char *invoice, const char *event_id,
                      dn_topic_id_t topic, const void *payload, size_t len, int64_t now)
{
    const char *params[] = {tenant, invoice, event_id, dn_topic_name(topic), payload};
    int lengths[5] = {0, 0, 0, 0, (int)len}, formats[5] = {0, 0, 0, 0, 1};
    PGresult *r = dn_pg_query_bin(e->pg,
                                  "INSERT INTO held_events (tenant_id, invoice_id, event_id, topic, payload) "
                                  "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
                                  5, params, lengths, formats);
    if (!r)
        return H_DBERR;
    PQclear(r);
    invoice_mark(e, tenant, invoice, INV_HELD);
    case_row_t held = {.interest_through = -1, .paused_until = -1, .retry_base_ms = -1};
    case_id_for(tenant, invoice, held.case_id);
    snprintf(held.tenant_id, sizeof(held.tenant_id), "%s", tenant);
    snprintf(held.invoice_id, sizeof(held.invoice_id), "%s", invoice);
    snprintf(held.customer_id, sizeof(held.customer_id), "%s", customer);
    snprintf(held.state, sizeof(held.state), "awaiting_invoice");
    dn_log_info("event held for unknown invoice", "event_id", event_id, "tenant_id", tenant, "invoice_id", invoice,
                "topic", dn_topic_name(topic), NULL);
    return record(e, &held, "event_held", NULL, "invoice not yet known", event_id, now,
                  json_pack("{s:s}", "topic", dn_topic_name(topic))) < 0
               ? H_DBERR
               : H_OK;
}

static int handle_bytes(engine_t *e, dn_topic_id_t topic, const void *payload, size_t len, int replay);

/* Replays held input in arrival order once its invoice exists. A held record that turns
 * out to be invalid for the case is recorded in the audit trail, not dead-lettered. */
static int replay_held(engine_t *e, const case_row_t *c, int64_t now)
{
    int flags = invoice_flags(e, c->tenant_id, c->invoice_id);
    if (flags >= 0 && !(flags & INV_HELD))
        return H_OK; /* the batch's lookup found none, and the batch held none */
    const char *params[] = {c->tenant_id, c->invoice_id};
    PGresult *r = dn_pg_query_bin(e->pg,
                                  "DELETE FROM held_events WHERE tenant_id = $1 AND invoice_id = $2 "
                                  "RETURNING id, topic, payload, event_id",
                                  2, params, NULL, NULL);
    if (!r)
        return H_DBERR;
    int n = PQntuples(r), rc = H_OK;
    /* RETURNING has no order: replay by id. */
    int *order = calloc((size_t)(n ? n : 1), sizeof(int));
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && atoll(PQgetvalue(r, order[j], 0)) < atoll(PQgetvalue(r, order[j - 1], 0)); j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int k = 0; k < n && rc == H_OK; k++) {
        int i = order[k];
        dn_topic_id_t topic;
        size_t blen;
        unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 2), &blen);
        if (!bytes || dn_topic_lookup(PQgetvalue(r, i, 1), &topic) < 0) {
            PQfreemem(bytes);
            continue;
        }
        int hr = handle_bytes(e, topic, bytes, blen, 1);
        PQfreemem(bytes);
        if (hr == H_REJECT) {
            case_row_t note = *c;
            hr = record(e, &note, "held_event_rejected", NULL, e->reject_reason, PQgetvalue(r, i, 3), now,
                        json_pack("{s:s, s:s}", "topic", PQgetvalue(r, i, 1), "error_code", e->reject_code)) < 0
                     ? H_DBERR
                     : H_OK;
            e->reject_code = NULL;
        }
        rc = hr;
    }
    free(order);
    PQclear(r);
    return rc;
}

static int handle_invoice(engine_t *e, const void *payload, size_t len)
{
    dn_invoice_issued_t v = {0};
    dn_avro_err_t err;
    int rc = H_OK;
    json_t *whole = NULL;
    char *contact = NULL;
    if (dn_invoice_issued_decode(payload, len, &v, &err) < 0)
        return reject(e, dn_avro_code_str(err.code), "%s", err.msg);
    if ((rc = validate_invoice(e, &v)) != H_OK)
        goto out;
    int first = first_time(e, v.event_id, dn_topic_name(DN_TOPIC_INVOICE_ISSUED));
    if (first <= 0) {
        if (first == 0)
            engine_note_duplicate(e);
        rc = first < 0 ? H_DBERR : H_OK;
        goto out;
    }
    const policy_t *pol = dn_policy_select(e->policies, v.tenant_id, v.policy, v.customer_segment);
    int64_t now = dn_clock_now_ms();
    char amount[24], issue[16], due[16], at[40];
    fmt_i64(amount, sizeof(amount), v.amount_minor);
    dn_date_format(v.issue_date, issue, sizeof(issue));
    dn_date_format(v.due_date, due, sizeof(due));
    dn_time_format(v.occurred_at, at, sizeof(at));
    whole = dn_avro_to_json(payload, len, &err);
    contact = whole ? json_dumps(json_object_get(whole, "contact"), JSON_COMPACT) : NULL;
    if (!contact) {
        rc = reject(e, "invalid_field", "field contact: cannot be represented as JSON");
        goto out;
    }
    const char *params[] = {v.tenant_id,    v.invoice_id, v.customer_id, v.invoice_number, amount,
                            v.currency,     issue,        due,           v.policy,         v.customer_segment,
                            v.payment_link, contact,      payload,       v.event_id,       at};
    int lengths[15] = {0};
    int formats[15] = {0};
    lengths[12] = (int)len;
    formats[12] = 1;
    PGresult *r = NULL;
    int inserted = 1, flags = invoice_flags(e, v.tenant_id, v.invoice_id);
    if (flags >= 0 && !(flags & INV_EXISTS)) {
        /* The batch's lookup says it is new: no answer to wait for. Should it exist after
         * all, the insert fails and the batch is done again record by record. */
        for (size_t i = 0; i < INVOICE_COLS; i++)
            if ((i == 12 ? dn_pgarray_add_bytea(&invoice_rows[i], payload, len)
                         : dn_pgarray_add(&invoice_rows[i], params[i])) < 0) {
                e->batch_failed = 1;
                rc = H_DBERR;
                goto out;
            }
        invoice_mark(e, v.tenant_id, v.invoice_id, INV_EXISTS);
    } else
        r = query_bin(e,
                      "INSERT INTO invoices (tenant_id, invoice_id, customer_id, invoice_number, "
                      "amount_minor, currency, issue_date, due_date, policy, customer_segment, "
                      "payment_link, contact, source, issued_event_id, issued_at) VALUES ($1, $2, $3, $4, "
                      "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING RETURNING 1",
                      15, params, lengths, formats);
    if (flags < 0 || (flags & INV_EXISTS)) {
        if (!r) {
            rc = H_DBERR;
            goto out;
        }
        inserted = PQntuples(r) == 1;
        PQclear(r);
    }
    if (!inserted) {
        /* The same invoice under another event id: harmless if identical, a billing bug if not. */
        const char *kp[] = {v.tenant_id, v.invoice_id, amount, v.currency, due};
        r = query(e,
                  "SELECT amount_minor = $3::bigint AND currency = $4 AND due_date = $5::date FROM invoices "
                  "WHERE tenant_id = $1 AND invoice_id = $2",
                  5, kp);
        if (!r) {
            rc = H_DBERR;
            goto out;
        }
        int same = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        if (!same)
            rc = reject(e, "conflicting_duplicate",
                        "invoice %.64s was already issued with another amount, currency or due date", v.invoice_id);
        else {
            engine_note_duplicate(e);
            dn_log_info("invoice already known, ignored", "event_id", v.event_id, "tenant_id", v.tenant_id,
                        "invoice_id", v.invoice_id, NULL);
        }
        goto out;
    }

    case_row_t c = {.stage = 0,
                    .amount = v.amount_minor,
                    .outstanding = v.amount_minor,
                    .due_date = v.due_date,
                    .next_stage = 1,
                    .interest_through = -1,
                    .retry_base_ms = -1,
                    .paused_until = -1};
    case_id_for(v.tenant_id, v.invoice_id, c.case_id);
    snprintf(c.tenant_id, sizeof(c.tenant_id), "%s", v.tenant_id);
    snprintf(c.invoice_id, sizeof(c.invoice_id), "%s", v.invoice_id);
    snprintf(c.customer_id, sizeof(c.customer_id), "%s", v.customer_id);
    snprintf(c.policy, sizeof(c.policy), "%s", pol->name);
    snprintf(c.currency, sizeof(c.currency), "%s", v.currency);
    set_state(&c, ST_OPEN);
    schedule_next(&c, pol, now);
    char now_txt[40];
    dn_time_format(now, now_txt, sizeof(now_txt));
    const char *cp[] = {c.case_id, c.tenant_id, c.invoice_id, c.customer_id, c.policy, amount, c.currency, now_txt};
    /* On the fast path the case is buffered and inserted as the batch leaves it. */
    if (e->buffering ? case_buffer(e, &c, NULL, now, 1) < 0
                     : dn_pg_defer(e->pg,
                                   "INSERT INTO cases (case_id, tenant_id, invoice_id, customer_id, policy, state, "
                                   "amount_minor, outstanding_minor, currency, opened_at, updated_at) "
                                   "VALUES ($1, $2, $3, $4, $5, 'open', $6, $6, $7, $8, $8)",
                                   8, cp, NULL, NULL) < 0) {
        rc = H_DBERR;
        goto out;
    }
    if (save_case(e, &c, NULL, now) < 0 || record(e, &c, "opened", NULL, NULL, v.event_id, now,
                                                  json_pack("{s:s, s:s, s:I}", "policy", c.policy, "due_date", due,
                                                            "amount_minor", (json_int_t)v.amount_minor)) < 0) {
        rc = H_DBERR;
        goto out;
    }

    /* Payments that arrived before their invoice: the batch's lookup has them (none, if it
     * found none and the batch held none); they are marked applied with the batch's
     * writes. Only if the batch held one itself, or on the careful path, is the database
     * asked (and they are marked at once). */
    const char *hp[] = {c.tenant_id, c.invoice_id};
    flags = invoice_flags(e, c.tenant_id, c.invoice_id);
    int row = 0, col = 0;
    if (flags >= 0 && !(flags & INV_PAYMENTS_NEW)) {
        if (flags & INV_PAYMENTS) {
            r = e->batch_lookup;
            row = lookup_payments(e, c.tenant_id, c.invoice_id);
            col = LOOKUP_PAYMENT_COL;
        }
    } else if (!(r = query(e,
                           "UPDATE payments SET applied = true WHERE tenant_id = $1 AND invoice_id = $2 AND NOT "
                           "applied RETURNING payment_id, amount_minor, currency, event_id",
                           2, hp))) {
        rc = H_DBERR;
        goto out;
    }
    for (int i = row; r && i >= 0 && i < PQntuples(r) && rc == H_OK; i++) {
        if (col && !lookup_row_is(r, i, 'p', c.tenant_id, c.invoice_id))
            break;
        const char *pid = PQgetvalue(r, i, col), *cur = PQgetvalue(r, i, col + 2), *pev = PQgetvalue(r, i, col + 3);
        if (col) {
            const char *ap[] = {c.tenant_id, pid};
            if (buffer_row(e, applied_rows, APPLIED_COLS, ap) < 0) {
                rc = H_DBERR;
                break;
            }
        }
        if (strcmp(cur, c.currency) != 0) {
            if (record(e, &c, "payment_rejected", c.state, "currency mismatch", pev, now,
                       json_pack("{s:s, s:s}", "payment_id", pid, "currency", cur)) < 0)
                rc = H_DBERR;
            continue;
        }
        if (apply_money(e, &c, pol, strtoll(PQgetvalue(r, i, col + 1), NULL, 10), 0, pid, pev, now) != H_OK)
            rc = H_DBERR;
    }
    if (r == e->batch_lookup)
        r = NULL; /* the batch's, not ours */
    PQclear(r);
    if (rc == H_OK)
        rc = replay_held(e, &c, now);
    dn_log_info("case opened", "event_id", v.event_id, "tenant_id", v.tenant_id, "invoice_id", v.invoice_id, "case_id",
                c.case_id, "policy", c.policy, NULL);
out:
    json_decref(whole);
    free(contact);
    dn_invoice_issued_free(&v);
    return rc;
}

static int handle_payment(engine_t *e, const void *payload, size_t len)
{
    dn_payment_received_t v = {0};
    dn_avro_err_t err;
    int rc;
    if (dn_payment_received_decode(payload, len, &v, &err) < 0)
        return reject(e, dn_avro_code_str(err.code), "%s", err.msg);
    if ((rc = validate_payment(e, &v)) != H_OK)
        goto out;
    int first = first_time(e, v.event_id, dn_topic_name(DN_TOPIC_PAYMENT_RECEIVED));
    if (first <= 0) {
        if (first == 0)
            engine_note_duplicate(e);
        rc = first < 0 ? H_DBERR : H_OK;
        goto out;
    }
    int64_t now = dn_clock_now_ms();
    case_row_t c;
    char case_id[DN_UUID_STR_LEN];
    case_id_for(v.tenant_id, v.invoice_id, case_id);
    int found = load_case(e, case_id, &c);
    if (found < 0) {
        rc = H_DBERR;
        goto out;
    }
    if (found && strcmp(c.currency, v.currency) != 0) {
        rc = reject(e, "currency_mismatch", "payment in %.8s for invoice %.64s in %s", v.currency, v.invoice_id,
                    c.currency);
        goto out;
    }
    char amount[24], at[40];
    fmt_i64(amount, sizeof(amount), v.amount_minor);
    dn_time_format(v.occurred_at, at, sizeof(at));
    const char *pp[] = {v.tenant_id, v.payment_id, v.invoice_id, v.customer_id,    amount, v.currency,
                        v.method,    v.event_id,   at,           found ? "t" : "f"};
    int inserted;
    if (payment_known(e, v.tenant_id, v.payment_id) == 0) {
        /* New, says the batch's lookup: no answer to wait for (a conflict after all fails
         * the batch, which is then done record by record). */
        char key[2 * ID_MAX + 32];
        if (buffer_row(e, payment_rows, PAYMENT_COLS, pp) < 0) {
            rc = H_DBERR;
            goto out;
        }
        payment_key(key, sizeof(key), v.tenant_id, v.payment_id);
        if (batch_map_put(e->batch, key, 1) < 0)
            e->batch_failed = 1;
        inserted = 1;
    } else {
        PGresult *r = query(e,
                            "INSERT INTO payments (tenant_id, payment_id, invoice_id, customer_id, "
                            "amount_minor, currency, method, event_id, received_at, applied) VALUES ($1, $2, "
                            "$3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING 1",
                            10, pp);
        if (!r) {
            rc = H_DBERR;
            goto out;
        }
        inserted = PQntuples(r) == 1;
        PQclear(r);
    }
    if (!inserted) {
        engine_note_duplicate(e);
        dn_log_info("payment already known, ignored", "event_id", v.event_id, "tenant_id", v.tenant_id, "invoice_id",
                    v.invoice_id, "payment_id", v.payment_id, NULL);
        rc = H_OK;
        goto out;
    }
    if (!found) {
        /* Held until the invoice arrives; recorded against the case id the invoice will get. */
        invoice_mark(e, v.tenant_id, v.invoice_id, INV_PAYMENTS_NEW);
        case_row_t held = {.interest_through = -1, .paused_until = -1, .retry_base_ms = -1};
        snprintf(held.case_id, sizeof(held.case_id), "%s", case_id);
        snprintf(held.tenant_id, sizeof(held.tenant_id), "%s", v.tenant_id);
        snprintf(held.invoice_id, sizeof(held.invoice_id), "%s", v.invoice_id);
        snprintf(held.customer_id, sizeof(held.customer_id), "%s", v.customer_id);
        snprintf(held.currency, sizeof(held.currency), "%s", v.currency);
        snprintf(held.state, sizeof(held.state), "awaiting_invoice");
        rc = record(e, &held, "payment_held", NULL, "invoice not yet known", v.event_id, now,
                    json_pack("{s:s, s:I}", "payment_id", v.payment_id, "amount_minor", (json_int_t)v.amount_minor)) < 0
                 ? H_DBERR
                 : H_OK;
        dn_log_info("payment held for unknown invoice", "event_id", v.event_id, "tenant_id", v.tenant_id, "invoice_id",
                    v.invoice_id, NULL);
        goto out;
    }
    rc = apply_money(e, &c, case_policy(e, &c), v.amount_minor, 0, v.payment_id, v.event_id, now);
    dn_log_info("payment applied", "event_id", v.event_id, "tenant_id", v.tenant_id, "invoice_id", v.invoice_id,
                "case_id", c.case_id, "state", c.state, NULL);
out:
    dn_payment_received_free(&v);
    return rc;
}

static int contact_has(const dn_customer_contact_t *ct, channel_t ch)
{
    for (size_t i = 0; i < ct->opted_out_channels_n; i++)
        if (strcmp(ct->opted_out_channels[i], dn_policy_channel_name(ch)) == 0)
            return 0;
    switch (ch) {
    case CH_EMAIL:
        return ct->email && *ct->email;
    case CH_SMS:
        return ct->phone && *ct->phone;
    case CH_LETTER:
        return ct->address != NULL;
    }
    return 0;
}

static const dn_topic_id_t channel_topics[] = {DN_TOPIC_REMINDER_DUE_EMAIL, DN_TOPIC_REMINDER_DUE_SMS,
                                               DN_TOPIC_REMINDER_DUE_LETTER};
static const dn_channel_t channel_enums[] = {DN_CHANNEL_EMAIL, DN_CHANNEL_SMS, DN_CHANNEL_LETTER};

/* What one reminder says: a stage of the policy, or the "update your payment method"
 * message after a hard decline. */
typedef struct reminder_spec {
    int stage;
    const char *stage_name, *template_key, *action;
    const channel_t *channels;
    size_t nchannels;
    int64_t due_ms;      /* when it was due (days_overdue counts to it) */
    const char *id_salt; /* makes the event ids: "stage N" or the causing event id */
    int first_only;      /* a fallback: only the first of `channels` that reaches the customer, if any */
} reminder_spec_t;

/* Writes one ReminderDue per channel of `rs` that reaches the customer (contact known,
 * not opted out) into the outbox; when none does, the first channel of the policy's
 * channel_order that does (with rs->first_only: only the first of `channels` that reaches
 * the customer, and no channel_order). Returns the number emitted, or -1. */
static int emit_reminders(engine_t *e, const case_row_t *c, const policy_t *pol, const reminder_spec_t *rs, int64_t now,
                          json_t *emitted)
{
    int n = -1;
    PGresult *r = NULL;
    dn_invoice_issued_t inv = {0};
    dn_avro_err_t err;
    const char *params[] = {c->tenant_id, c->invoice_id};
    const char *source;
    int row = cached_case(e, c->case_id);
    if (row >= 0 && !PQgetisnull(e->batch_cases, row, CASE_SOURCE_COL)) {
        source = PQgetvalue(e->batch_cases, row, CASE_SOURCE_COL); /* locked and read with the case */
    } else {
        r = query_bin(e, "SELECT source FROM invoices WHERE tenant_id = $1 AND invoice_id = $2", 2, params, NULL, NULL);
        if (!r || PQntuples(r) != 1)
            goto out;
        source = PQgetvalue(r, 0, 0);
    }
    size_t srclen;
    unsigned char *src = PQunescapeBytea((const unsigned char *)source, &srclen);
    int bad = !src || dn_invoice_issued_decode(src, srclen, &inv, &err) < 0;
    PQfreemem(src);
    if (bad) {
        dn_log_error("stored invoice does not decode", "case_id", c->case_id, "detail", bad && src ? err.msg : "",
                     NULL);
        goto out;
    }
    channel_t use[POLICY_MAX_CHANNELS];
    size_t nuse = 0;
    for (size_t i = 0; i < rs->nchannels && !(rs->first_only && nuse > 0); i++)
        if (contact_has(&inv.contact, rs->channels[i]))
            use[nuse++] = rs->channels[i];
    for (size_t i = 0; nuse == 0 && !rs->first_only && i < pol->nchannel_order; i++)
        if (contact_has(&inv.contact, pol->channel_order[i]))
            use[nuse++] = pol->channel_order[i];
    char key[2 * ID_MAX + 2];
    dn_topic_key(c->tenant_id, c->customer_id, key, sizeof(key));
    n = 0;
    for (size_t i = 0; i < nuse; i++) {
        channel_t ch = use[i];
        char event_id[DN_UUID_STR_LEN];
        const char *parts[] = {"reminder", c->case_id, rs->id_salt, dn_policy_channel_name(ch)};
        dn_uuid_derive(event_id, parts, 4);
        dn_reminder_due_t rd = {.event_id = event_id,
                                .occurred_at = now,
                                .tenant_id = (char *)c->tenant_id,
                                .customer_id = (char *)c->customer_id,
                                .case_id = (char *)c->case_id,
                                .invoice_id = (char *)c->invoice_id,
                                .invoice_number = inv.invoice_number,
                                .channel = channel_enums[ch],
                                .stage = rs->stage,
                                .stage_name = (char *)rs->stage_name,
                                .template_key = (char *)rs->template_key,
                                .policy = pol->name,
                                .issue_date = inv.issue_date,
                                .due_date = inv.due_date,
                                .days_overdue = dn_date_from_ms(rs->due_ms) - inv.due_date, /* < 0 before it */
                                .amount_minor = c->amount,
                                .outstanding_minor = c->outstanding,
                                .fee_minor = c->fee,
                                .interest_minor = c->interest,
                                .total_due_minor = total_due(c),
                                .currency = (char *)c->currency,
                                .action = (char *)rs->action,
                                .payment_link = inv.payment_link,
                                .due_at = rs->due_ms,
                                .contact = inv.contact};
        char *buf = NULL;
        size_t len = 0;
        int ok = dn_reminder_due_encode(&rd, &buf, &len) == 0 &&
                 outbox_add(e, event_id, dn_topic_name(channel_topics[ch]), key, buf, len) == 0;
        free(buf);
        if (!ok) {
            n = -1;
            goto out;
        }
        json_array_append_new(emitted,
                              json_pack("{s:s, s:s}", "channel", dn_policy_channel_name(ch), "event_id", event_id));
        engine_note(e, EM_REMINDER, rs->stage_name, dn_policy_channel_name(ch));
        n++;
    }
out:
    PQclear(r);
    dn_invoice_issued_free(&inv);
    return n;
}

static case_event_t stage_event(const stage_t *st)
{
    if (st->action && strcmp(st->action, "final_notice") == 0)
        return EV_STAGE_FINAL;
    return st->offset_ms < 0 ? EV_STAGE_PRE_DUE : EV_STAGE_OVERDUE;
}

static int fire_stage(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now)
{
    int stage = c->next_stage;
    char from[32];
    snprintf(from, sizeof(from), "%s", c->state);
    if (stage < 1 || stage > (int)pol->nstages) {
        c->next_action_ms = -1;
        return save_case(e, c, NULL, now) < 0 ? H_DBERR : H_OK;
    }
    accrue(c, pol, now);
    if (!dn_rules_above_minimum(c->outstanding, dn_policy_money_for(&pol->min_amount, c->currency))) {
        /* Too little left to be worth dunning: stop, say so once. */
        c->next_stage = 0;
        c->next_action_ms = -1;
        if (save_case(e, c, NULL, now) < 0 ||
            record(e, c, "below_minimum", from, "outstanding amount below the policy minimum", NULL, now,
                   json_pack("{s:I}", "min_amount_minor",
                             (json_int_t)dn_policy_money_for(&pol->min_amount, c->currency))) < 0)
            return H_DBERR;
        return H_OK;
    }
    /* Catch-up (catch_up: latest): if the engine was away past several stages, fire only
     * the latest that applies now and record the ones passed over; never a burst. With
     * catch_up: each, every stage is sent, one per day at most. */
    if (pol->catch_up == CATCH_UP_LATEST) {
        while (stage < (int)pol->nstages && stage_time_ms(c, pol, stage + 1) <= now) {
            c->stage = stage;
            if (record(e, c, "stage_skipped", from, "a later stage is already due", NULL, now,
                       json_pack("{s:s}", "stage_name", pol->stages[stage - 1].name)) < 0)
                return H_DBERR;
            stage++;
        }
    }
    const stage_t *st = &pol->stages[stage - 1];
    if (transition(c, stage_event(st)) < 0) {
        case_state_t s = state_of(c);
        if (s != ST_PAUSED && s != ST_RETRYING) {
            /* The case is past this stage (a reminder before the due date for a case
             * already overdue, after retries ran out): skip it, once. */
            c->stage = stage;
            c->next_stage = stage < (int)pol->nstages ? stage + 1 : 0;
            schedule_next(c, pol, now);
            return save_case(e, c, NULL, now) < 0 ||
                           record(e, c, "stage_skipped", from, "the case is already past this stage", NULL, now,
                                  json_pack("{s:s}", "stage_name", st->name)) < 0
                       ? H_DBERR
                       : H_OK;
        }
        schedule_next(c, pol, now); /* paused or retrying: their own timer applies */
        return save_case(e, c, NULL, now) < 0 ? H_DBERR : H_OK;
    }
    int64_t due_ms = stage_time_ms(c, pol, stage);
    c->stage = stage;
    int64_t fee =
        dn_rules_stage_fee(c->outstanding, dn_policy_money_for(&st->fee_fixed, c->currency), st->fee_percent_e4);
    c->fee += fee;
    c->fees_charged += fee;
    char salt[24];
    snprintf(salt, sizeof(salt), "stage %d", stage);
    reminder_spec_t rs = {.stage = stage,
                          .stage_name = st->name,
                          .template_key = st->template_key,
                          .action = st->action,
                          .channels = st->channels,
                          .nchannels = st->nchannels,
                          .due_ms = due_ms,
                          .id_salt = salt};
    json_t *emitted = json_array();
    int n = emit_reminders(e, c, pol, &rs, now, emitted);
    if (n < 0) {
        json_decref(emitted);
        return H_DBERR;
    }
    if (n == 0) { /* nothing reached the customer: no fee for it */
        c->fee -= fee;
        c->fees_charged -= fee;
        fee = 0;
    }
    c->next_stage = stage < (int)pol->nstages ? stage + 1 : 0;
    if (st->action && strcmp(st->action, "collections_handover") == 0)
        transition(c, EV_HANDOVER);
    schedule_next(c, pol, now);
    if (pol->catch_up == CATCH_UP_EACH && c->next_action_ms >= 0 && c->next_action_ms < now + RULES_DAY_MS)
        c->next_action_ms = now + RULES_DAY_MS;
    char caused_by[DN_UUID_STR_LEN], stage_txt[16];
    snprintf(stage_txt, sizeof(stage_txt), "%d", stage);
    const char *parts[] = {"timer", c->case_id, stage_txt};
    dn_uuid_derive(caused_by, parts, 3);
    if (save_case(e, c, NULL, now) < 0 ||
        record(e, c, n > 0 ? "reminder_emitted" : "reminder_undeliverable", from,
               n > 0 ? NULL : "no channel reaches the customer", caused_by, now,
               json_pack("{s:s, s:s, s:o, s:I}", "stage_name", st->name, "template", st->template_key, "reminders",
                         emitted, "fee_minor", (json_int_t)fee)) < 0)
        return H_DBERR;
    if (st->action && record(e, c, st->action, from, NULL, caused_by, now, NULL) < 0)
        return H_DBERR;
    dn_log_info("stage fired", "tenant_id", c->tenant_id, "invoice_id", c->invoice_id, "case_id", c->case_id,
                "stage_name", st->name, "state", c->state, NULL);
    return H_OK;
}

/* Asks the billing system to charge the card again (PaymentRetryDue), on the policy's schedule. */
static int fire_retry(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now)
{
    accrue(c, pol, now);
    int attempt = c->retry_attempt + 1;
    char event_id[DN_UUID_STR_LEN], att[16], base[24], key[2 * ID_MAX + 2];
    snprintf(att, sizeof(att), "%d", attempt);
    /* The series (its base time) is part of the id: a case that starts retrying again after
     * an earlier series ended asks for new charges, not for the old ones a second time. */
    fmt_i64(base, sizeof(base), c->retry_base_ms);
    const char *parts[] = {"retry", c->case_id, base, att};
    dn_uuid_derive(event_id, parts, 4);
    dn_payment_retry_due_t rd = {.event_id = event_id,
                                 .occurred_at = now,
                                 .tenant_id = c->tenant_id,
                                 .customer_id = c->customer_id,
                                 .case_id = c->case_id,
                                 .invoice_id = c->invoice_id,
                                 .payment_id = c->retry_payment[0] ? c->retry_payment : NULL,
                                 .attempt = attempt,
                                 .max_attempts = (int32_t)pol->retries.nschedule,
                                 .amount_minor = total_due(c),
                                 .currency = c->currency,
                                 .last_decline_code = c->last_decline[0] ? c->last_decline : NULL};
    char *buf = NULL;
    size_t len = 0;
    dn_topic_key(c->tenant_id, c->customer_id, key, sizeof(key));
    int ok = dn_payment_retry_due_encode(&rd, &buf, &len) == 0 &&
             outbox_add(e, event_id, dn_topic_name(DN_TOPIC_PAYMENT_RETRY_DUE), key, buf, len) == 0;
    free(buf);
    if (!ok)
        return H_DBERR;
    c->retry_attempt = attempt;
    schedule_next(c, pol, now);
    if (c->next_action_ms >= 0 && c->next_action_ms < now && (size_t)attempt < pol->retries.nschedule) {
        /* Late (the case was paused, or the engine away): keep the schedule's spacing
         * rather than asking for every missed retry at once. */
        c->next_action_ms = now + pol->retries.schedule_ms[attempt] - pol->retries.schedule_ms[attempt - 1];
    }
    if (save_case(e, c, NULL, now) < 0 ||
        record(e, c, "retry_requested", c->state, NULL, event_id, now,
               json_pack("{s:i, s:i, s:I}", "attempt", attempt, "max_attempts", (int)pol->retries.nschedule,
                         "amount_minor", (json_int_t)total_due(c))) < 0)
        return H_DBERR;
    engine_note(e, EM_RETRY_REQUEST, NULL, NULL);
    return H_OK;
}

/* The retry schedule ran out without a payment: back into the overdue stages. */
static int exhaust_retries(engine_t *e, case_row_t *c, const policy_t *pol, const char *caused_by, const char *why,
                           int64_t now)
{
    char from[32];
    snprintf(from, sizeof(from), "%s", c->state);
    if (transition(c, EV_RETRIES_EXHAUSTED) < 0)
        return H_OK;
    if (strcmp(c->retry_from, "final_notice") == 0)
        set_state(c, ST_FINAL_NOTICE); /* into the stages, but never back down */
    schedule_next(c, pol, now);
    if (save_case(e, c, NULL, now) < 0 || record(e, c, "retries_exhausted", from, why, caused_by, now,
                                                 json_pack("{s:i}", "attempts", c->retry_attempt)) < 0)
        return H_DBERR;
    return H_OK;
}

static int fire_resume(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now, const char *caused_by,
                       const char *why)
{
    char from[32];
    snprintf(from, sizeof(from), "%s", c->state);
    accrue(c, pol, now); /* closes the paused days without interest */
    if (transition(c, EV_RESUME) < 0)
        return H_REJECT;
    c->paused_from[0] = c->pause_reason[0] = '\0';
    c->paused_until = -1;
    schedule_next(c, pol, now);
    if (save_case(e, c, NULL, now) < 0 || record(e, c, "resumed", from, why, caused_by, now, NULL) < 0)
        return H_DBERR;
    return H_OK;
}

int fire_timer(engine_t *e, const char *case_id, int64_t now)
{
    case_row_t c;
    if (!dn_uuid_valid(case_id)) {
        engine_timer_op(e, case_id, -1);
        return H_OK;
    }
    int found = load_case(e, case_id, &c);
    if (found < 0)
        return H_DBERR;
    if (!found || dn_fsm_is_terminal(state_of(&c)) || c.next_action_ms < 0) {
        engine_timer_op(e, case_id, -1); /* stale index entry */
        return H_OK;
    }
    if (c.next_action_ms > now) {
        engine_timer_op(e, case_id, c.next_action_ms); /* claimed early or moved: put the true time back */
        return H_OK;
    }
    const policy_t *pol = case_policy(e, &c);
    char caused_by[DN_UUID_STR_LEN], at[24];
    fmt_i64(at, sizeof(at), c.next_action_ms);
    const char *parts[] = {"timer", c.case_id, c.next_action, at};
    dn_uuid_derive(caused_by, parts, 4);
    if (strcmp(c.next_action, "retry") == 0)
        return fire_retry(e, &c, pol, now);
    if (strcmp(c.next_action, "retry_result") == 0)
        return exhaust_retries(e, &c, pol, caused_by, "no successful payment after the last retry", now);
    if (strcmp(c.next_action, "resume") == 0) {
        int rc = fire_resume(e, &c, pol, now, caused_by, "pause ended");
        return rc == H_REJECT ? H_OK : rc;
    }
    return fire_stage(e, &c, pol, now);
}

/* Marks a failed charge (payment id, attempt) seen. 1 = first time, 0 = seen, -1 = error. */
static int first_failure(engine_t *e, const dn_payment_failed_t *v)
{
    char att[16];
    snprintf(att, sizeof(att), "%d", (int)v->attempt);
    const char *params[] = {v->tenant_id, v->payment_id, att, v->event_id};
    PGresult *r = dn_pg_query(e->pg,
                              "INSERT INTO payment_failures (tenant_id, payment_id, attempt, event_id) "
                              "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
                              4, params);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n == 1;
}

/* A card charge failed. Soft declines start (or continue) the policy's retry schedule;
 * hard declines are never retried: the customer is asked to update the payment method. */
static int handle_failed(engine_t *e, const void *payload, size_t len, int replay)
{
    dn_payment_failed_t v = {0};
    dn_avro_err_t err;
    int rc;
    if (dn_payment_failed_decode(payload, len, &v, &err) < 0)
        return reject(e, dn_avro_code_str(err.code), "%s", err.msg);
    if ((rc = validate_failed(e, &v)) != H_OK)
        goto out;
    if (!replay) {
        int first = first_time(e, v.event_id, dn_topic_name(DN_TOPIC_PAYMENT_FAILED));
        /* The same failed charge reported again under a new event id is the same failure. */
        if (first > 0)
            first = first_failure(e, &v);
        if (first <= 0) {
            if (first == 0)
                engine_note_duplicate(e);
            rc = first < 0 ? H_DBERR : H_OK;
            goto out;
        }
    }
    int64_t now = dn_clock_now_ms();
    case_row_t c;
    char case_id[DN_UUID_STR_LEN];
    case_id_for(v.tenant_id, v.invoice_id, case_id);
    int found = load_case(e, case_id, &c);
    if (found <= 0) {
        rc = found < 0 ? H_DBERR
                       : hold_event(e, v.tenant_id, v.customer_id, v.invoice_id, v.event_id, DN_TOPIC_PAYMENT_FAILED,
                                    payload, len, now);
        goto out;
    }
    if (strcmp(c.currency, v.currency) != 0) {
        rc = reject(e, "currency_mismatch", "failed charge in %.8s for invoice %.64s in %s", v.currency, v.invoice_id,
                    c.currency);
        goto out;
    }
    const policy_t *pol = case_policy(e, &c);
    char from[32];
    snprintf(from, sizeof(from), "%s", c.state);
    case_state_t s = state_of(&c);
    json_t *detail = json_pack("{s:s, s:s, s:i, s:I}", "payment_id", v.payment_id, "decline_code", v.decline_code,
                               "attempt", (int)v.attempt, "amount_minor", (json_int_t)v.amount_minor);
    if (dn_fsm_is_terminal(s) || s == ST_PAUSED) {
        rc = record(e, &c, "payment_failed", from, s == ST_PAUSED ? "case is paused" : "case is closed", v.event_id,
                    now, detail) < 0
                 ? H_DBERR
                 : H_OK;
        goto out;
    }
    accrue(&c, pol, now);
    snprintf(c.last_decline, sizeof(c.last_decline), "%s", v.decline_code);
    if (dn_policy_is_hard_decline(pol, v.decline_code)) {
        /* No retry can succeed: ask for a new payment method now, and dun as usual. */
        json_t *emitted = json_array();
        reminder_spec_t rs = {.stage = c.stage,
                              .stage_name = "update_payment_method",
                              .template_key =
                                  pol->retries.update_template ? pol->retries.update_template : "update_payment_method",
                              .channels = pol->channel_order,
                              .nchannels = 1,
                              .due_ms = now,
                              .id_salt = v.event_id};
        int n = emit_reminders(e, &c, pol, &rs, now, emitted);
        json_object_set_new(detail, "reminders", emitted);
        if (n < 0 || save_case(e, &c, NULL, now) < 0 ||
            record(e, &c, "hard_decline", from, "the card cannot be charged again", v.event_id, now, detail) < 0) {
            rc = H_DBERR;
            goto out;
        }
        rc = s == ST_RETRYING ? exhaust_retries(e, &c, pol, v.event_id, "hard decline", now) : H_OK;
        goto out;
    }
    if (pol->retries.nschedule == 0) {
        rc = save_case(e, &c, NULL, now) < 0 || record(e, &c, "payment_failed", from,
                                                       "the policy has no retry schedule", v.event_id, now, detail) < 0
                 ? H_DBERR
                 : H_OK;
        goto out;
    }
    if (s != ST_RETRYING) {
        transition(&c, EV_SOFT_DECLINE);
        c.retry_attempt = 0;
        c.retry_base_ms = now;
        snprintf(c.retry_payment, sizeof(c.retry_payment), "%s", v.payment_id);
        snprintf(c.retry_from, sizeof(c.retry_from), "%s", from);
        schedule_next(&c, pol, now);
        rc = save_case(e, &c, NULL, now) < 0 ||
                     record(e, &c, "retrying", from, "card declined, retries scheduled", v.event_id, now, detail) < 0
                 ? H_DBERR
                 : H_OK;
        goto out;
    }
    /* A retry failed. After the last one there is nothing left to try. */
    if (save_case(e, &c, NULL, now) < 0 || record(e, &c, "retry_failed", from, NULL, v.event_id, now, detail) < 0) {
        rc = H_DBERR;
        goto out;
    }
    rc = (size_t)c.retry_attempt >= pol->retries.nschedule
             ? exhaust_retries(e, &c, pol, v.event_id, "the last retry failed", now)
             : H_OK;
out:
    dn_payment_failed_free(&v);
    return rc;
}

static int handle_command(engine_t *e, const void *payload, size_t len, int replay)
{
    dn_case_command_t v = {0};
    dn_avro_err_t err;
    int rc;
    if (dn_case_command_decode(payload, len, &v, &err) < 0)
        return reject(e, dn_avro_code_str(err.code), "%s", err.msg);
    if ((rc = validate_command(e, &v)) != H_OK)
        goto out;
    const char *cmd = dn_case_command_kind_str(v.command);
    if (!replay) {
        int first = first_time(e, v.event_id, dn_topic_name(DN_TOPIC_CASE_COMMANDS));
        if (first <= 0) {
            if (first == 0)
                engine_note_duplicate(e);
            rc = first < 0 ? H_DBERR : H_OK;
            goto out;
        }
    }
    int64_t now = dn_clock_now_ms();
    if (v.command == DN_CASE_COMMAND_KIND_PAUSE && v.has_until && dn_date_to_ms(v.until) <= now) {
        rc = reject(e, "invalid_field", "field until: the pause would end before it starts");
        goto out;
    }
    case_row_t c;
    char case_id[DN_UUID_STR_LEN];
    case_id_for(v.tenant_id, v.invoice_id, case_id);
    int found = load_case(e, case_id, &c);
    if (found <= 0) {
        rc = found < 0 ? H_DBERR
                       : hold_event(e, v.tenant_id, v.customer_id, v.invoice_id, v.event_id, DN_TOPIC_CASE_COMMANDS,
                                    payload, len, now);
        goto out;
    }
    const policy_t *pol = case_policy(e, &c);
    char from[32];
    snprintf(from, sizeof(from), "%s", c.state);
    json_t *detail = json_object();
    if (v.actor)
        json_object_set_new(detail, "actor", json_string(v.actor));
    const char *kind = NULL, *resolved = NULL;
    accrue(&c, pol, now);
    switch (v.command) {
    case DN_CASE_COMMAND_KIND_PAUSE:
        if (transition(&c, EV_PAUSE) < 0)
            break;
        if (strcmp(from, "paused") != 0)
            snprintf(c.paused_from, sizeof(c.paused_from), "%s", from);
        snprintf(c.pause_reason, sizeof(c.pause_reason), "%s", v.reason);
        c.paused_until = v.has_until ? v.until : -1;
        if (v.has_until) {
            char until[16];
            dn_date_format(v.until, until, sizeof(until));
            json_object_set_new(detail, "until", json_string(until));
        }
        kind = "paused";
        break;
    case DN_CASE_COMMAND_KIND_RESUME:
        json_decref(detail);
        rc = fire_resume(e, &c, pol, now, v.event_id, v.reason ? v.reason : "resumed by command");
        if (rc == H_REJECT)
            rc = reject(e, "invalid_state", "case of invoice %.64s is %s, not paused", v.invoice_id, from);
        goto out;
    case DN_CASE_COMMAND_KIND_CREDIT:
        json_decref(detail);
        rc = apply_money(e, &c, pol, v.amount_minor, 1, v.event_id, v.event_id, now);
        goto out;
    case DN_CASE_COMMAND_KIND_CANCEL:
        if (transition(&c, EV_CANCELLED) == 0) {
            kind = "cancelled";
            resolved = "cancelled";
        }
        break;
    case DN_CASE_COMMAND_KIND_WRITE_OFF:
        if (transition(&c, EV_WRITE_OFF) == 0) {
            kind = "written_off";
            json_object_set_new(detail, "written_off_minor", json_integer(total_due(&c)));
        }
        break;
    case DN_CASE_COMMAND_KIND_HAND_OVER:
        if (transition(&c, EV_HANDOVER) == 0)
            kind = "collections_handover";
        break;
    }
    if (!kind) {
        json_decref(detail);
        rc = reject(e, "invalid_state", "cannot %s the case of invoice %.64s: it is %s", cmd, v.invoice_id, from);
        goto out;
    }
    if (dn_fsm_is_terminal(state_of(&c))) {
        c.next_stage = 0;
        c.paused_from[0] = c.pause_reason[0] = '\0';
        c.paused_until = -1;
    }
    schedule_next(&c, pol, now);
    rc = save_case(e, &c, resolved, now) < 0 || record(e, &c, kind, from, v.reason, v.event_id, now, detail) < 0
             ? H_DBERR
             : H_OK;
    if (rc == H_OK)
        dn_log_info("case command applied", "event_id", v.event_id, "tenant_id", v.tenant_id, "invoice_id",
                    v.invoice_id, "command", cmd, "state", c.state, NULL);
out:
    dn_case_command_free(&v);
    return rc;
}

/* The reminder an outcome is about, as recorded when it was emitted: the audit row
 * (reminder_emitted, hard_decline or reminder_fallback) whose "reminders" list it. */
typedef struct sent_reminder {
    int stage;
    char stage_name[ID_MAX + 1], template_key[ID_MAX + 1];
    char series[ID_MAX + 1]; /* the reminders it belongs to: "stage N", or the hard decline's event id */
    int64_t at_ms;           /* when it was emitted */
} sent_reminder_t;

/* 1 found, 0 not (a reminder this engine did not emit), -1 database error. */
static int find_reminder(engine_t *e, const case_row_t *c, const policy_t *pol, const char *reminder_event_id,
                         sent_reminder_t *out)
{
    if (engine_flush_writes(e) < 0) /* it reads the audit trail */
        return -1;
    const char *params[] = {c->case_id, reminder_event_id};
    PGresult *r = dn_pg_query(
        e->pg,
        "SELECT kind, coalesce(stage, 0), coalesce(detail->>'stage_name', ''), coalesce(detail->>'template', ''), "
        "CASE kind WHEN 'reminder_emitted' THEN 'stage ' || stage WHEN 'hard_decline' THEN caused_by::text "
        "ELSE coalesce(detail->>'series', '') END, (extract(epoch from at) * 1000)::bigint FROM audit "
        "WHERE case_id = $1 AND kind IN ('reminder_emitted', 'hard_decline', 'reminder_fallback') "
        "AND detail->'reminders' @> jsonb_build_array(jsonb_build_object('event_id', $2::text)) ORDER BY id LIMIT 1",
        2, params);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found) {
        out->stage = (int)col_i64(r, 1);
        if (strcmp(PQgetvalue(r, 0, 0), "hard_decline") == 0) {
            snprintf(out->stage_name, sizeof(out->stage_name), "update_payment_method");
            snprintf(out->template_key, sizeof(out->template_key), "%s",
                     pol->retries.update_template ? pol->retries.update_template : "update_payment_method");
        } else {
            snprintf(out->stage_name, sizeof(out->stage_name), "%s", PQgetvalue(r, 0, 2));
            snprintf(out->template_key, sizeof(out->template_key), "%s", PQgetvalue(r, 0, 3));
        }
        snprintf(out->series, sizeof(out->series), "%s", PQgetvalue(r, 0, 4));
        out->at_ms = col_i64(r, 5);
    }
    PQclear(r);
    return found;
}

/* A reminder failed for good on one channel: the same reminder goes out once more, on the
 * first channel of channel_order that reaches the customer and that its series has not
 * used yet (reminder_fallback); with none left, reminder_undeliverable. Never for a case
 * that is closed or paused, or handed over since the reminder's stage. No fee. */
static int fall_back(engine_t *e, case_row_t *c, const policy_t *pol, const dn_reminder_outcome_t *v,
                     const sent_reminder_t *sr, int64_t now)
{
    case_state_t s = state_of(c);
    if (s == ST_RESOLVED || s == ST_WRITTEN_OFF || s == ST_PAUSED || (s == ST_HANDED_OVER && sr->stage != c->stage)) {
        dn_log_info("no fallback: the case is no longer dunned at this stage", "event_id", v->event_id, "tenant_id",
                    c->tenant_id, "invoice_id", c->invoice_id, "state", c->state, NULL);
        return H_OK;
    }
    /* What the series used so far, and whether this reminder already had its fallback
     * (another outcome for it with a new event id). */
    if (engine_flush_writes(e) < 0) /* it reads the audit trail */
        return H_DBERR;
    const char *params[] = {c->case_id, sr->series, v->reminder_event_id};
    PGresult *r = dn_pg_query(
        e->pg,
        "SELECT ',' || coalesce(string_agg(DISTINCT r->>'channel', ','), '') || ',', "
        "coalesce(bool_or(a.kind IN ('reminder_fallback', 'reminder_undeliverable') AND "
        "a.detail->>'reminder_event_id' = $3), false) "
        "FROM audit a LEFT JOIN LATERAL jsonb_array_elements(coalesce(a.detail->'reminders', '[]')) r ON true "
        "WHERE a.case_id = $1 AND ((a.kind = 'reminder_emitted' AND 'stage ' || a.stage = $2) "
        "OR (a.kind = 'hard_decline' AND a.caused_by::text = $2) "
        "OR (a.kind IN ('reminder_fallback', 'reminder_undeliverable') AND a.detail->>'series' = $2))",
        3, params);
    if (!r)
        return H_DBERR;
    char used[64];
    snprintf(used, sizeof(used), "%s", PQgetvalue(r, 0, 0));
    int done = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);
    if (done)
        return H_OK;
    channel_t left[POLICY_MAX_CHANNELS];
    size_t nleft = 0;
    for (size_t i = 0; i < pol->nchannel_order; i++) {
        char tok[16];
        snprintf(tok, sizeof(tok), ",%s,", dn_policy_channel_name(pol->channel_order[i]));
        if (!strstr(used, tok))
            left[nleft++] = pol->channel_order[i];
    }
    /* The same stage once more: its action and due date, if the policy still has it. */
    const char *action = NULL;
    int64_t due_ms = sr->at_ms;
    if (strncmp(sr->series, "stage ", 6) == 0 && sr->stage >= 1 && sr->stage <= (int)pol->nstages &&
        strcmp(pol->stages[sr->stage - 1].name, sr->stage_name) == 0) {
        action = pol->stages[sr->stage - 1].action;
        due_ms = stage_time_ms(c, pol, sr->stage);
    }
    accrue(c, pol, now); /* the current amounts */
    reminder_spec_t rs = {.stage = sr->stage,
                          .stage_name = sr->stage_name,
                          .template_key = sr->template_key,
                          .action = action,
                          .channels = left,
                          .nchannels = nleft,
                          .due_ms = due_ms,
                          .id_salt = sr->series,
                          .first_only = 1};
    json_t *emitted = json_array();
    int n = emit_reminders(e, c, pol, &rs, now, emitted);
    if (n < 0) {
        json_decref(emitted);
        return H_DBERR;
    }
    const char *from_channel = dn_channel_str(v->channel);
    json_t *detail = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:o}", "reminder_event_id", v->reminder_event_id,
                               "from_channel", from_channel, "stage", sr->stage, "stage_name", sr->stage_name,
                               "template", sr->template_key, "series", sr->series, "reminders", emitted);
    if (n > 0)
        json_object_set(detail, "to_channel", json_object_get(json_array_get(emitted, 0), "channel"));
    else
        json_object_set_new(detail, "fee_minor", json_integer(0));
    case_row_t row = *c;
    row.stage = sr->stage; /* the row is about the reminder's stage */
    if (save_case(e, c, NULL, now) < 0 ||
        record(e, &row, n > 0 ? "reminder_fallback" : "reminder_undeliverable", c->state,
               n > 0 ? (v->reason ? v->reason : "permanent failure") : "every channel failed", v->event_id, now,
               detail) < 0)
        return H_DBERR;
    dn_log_info(n > 0 ? "reminder sent again on another channel" : "reminder undeliverable: every channel failed",
                "event_id", v->event_id, "tenant_id", c->tenant_id, "invoice_id", c->invoice_id, "case_id", c->case_id,
                "from_channel", from_channel, "stage_name", sr->stage_name, NULL);
    return H_OK;
}

/* What a sender did with a reminder: recorded in the case's audit trail; a permanent
 * failure sends the reminder on the next channel (fall_back). */
static int handle_outcome(engine_t *e, const void *payload, size_t len)
{
    dn_reminder_outcome_t v = {0};
    dn_avro_err_t err;
    int rc;
    if (dn_reminder_outcome_decode(payload, len, &v, &err) < 0)
        return reject(e, dn_avro_code_str(err.code), "%s", err.msg);
    if ((rc = validate_outcome(e, &v)) != H_OK)
        goto out;
    int first = first_time(e, v.event_id, dn_topic_name(DN_TOPIC_REMINDER_OUTCOMES));
    if (first <= 0) {
        if (first == 0)
            engine_note_duplicate(e);
        rc = first < 0 ? H_DBERR : H_OK;
        goto out;
    }
    const char *channel = dn_channel_str(v.channel), *outcome = dn_outcome_str(v.outcome);
    int64_t now = dn_clock_now_ms();
    case_row_t c;
    int found = load_case(e, v.case_id, &c);
    if (found <= 0) {
        if (found == 0) {
            /* Not malformed, so not a dead letter; but there is no trail to add it to. */
            engine_note(e, EM_OUTCOME_UNKNOWN, channel, outcome);
            dn_log_warn("outcome for an unknown case, ignored", "event_id", v.event_id, "tenant_id", v.tenant_id,
                        "invoice_id", v.invoice_id, "case_id", v.case_id, "outcome", outcome, NULL);
        }
        rc = found < 0 ? H_DBERR : H_OK;
        goto out;
    }
    if (strcmp(c.tenant_id, v.tenant_id) != 0 || strcmp(c.invoice_id, v.invoice_id) != 0) {
        rc = reject(e, "invalid_field", "field case_id: the case is not that of invoice %.64s of tenant %.64s",
                    v.invoice_id, v.tenant_id);
        goto out;
    }
    const policy_t *pol = case_policy(e, &c);
    sent_reminder_t sr = {0};
    int known = find_reminder(e, &c, pol, v.reminder_event_id, &sr);
    if (known < 0) {
        rc = H_DBERR;
        goto out;
    }
    char kind[48];
    snprintf(kind, sizeof(kind), "reminder_%s", outcome);
    json_t *detail = json_pack("{s:s, s:s, s:i}", "channel", channel, "reminder_event_id", v.reminder_event_id,
                               "attempt", (int)v.attempt);
    json_object_set_new(detail, "stage", known ? json_integer(sr.stage) : json_null());
    if (v.provider_message_id)
        json_object_set_new(detail, "provider_message_id", json_string(v.provider_message_id));
    if (v.has_next_attempt_at) {
        char next[40];
        dn_time_format(v.next_attempt_at, next, sizeof(next));
        json_object_set_new(detail, "next_attempt_at", json_string(next));
    }
    case_row_t row = c;
    if (known)
        row.stage = sr.stage; /* the row is about the reminder's stage */
    if (record(e, &row, kind, c.state, v.reason, v.event_id, now, detail) < 0) {
        rc = H_DBERR;
        goto out;
    }
    engine_note(e, EM_OUTCOME, channel, outcome);
    if (v.outcome != DN_OUTCOME_FAILED_PERMANENT) {
        rc = H_OK;
        goto out;
    }
    if (!known) {
        dn_log_warn("permanent failure of a reminder this engine did not emit, no fallback", "event_id", v.event_id,
                    "tenant_id", v.tenant_id, "invoice_id", v.invoice_id, "reminder_event_id", v.reminder_event_id,
                    NULL);
        rc = H_OK;
        goto out;
    }
    rc = fall_back(e, &c, pol, &v, &sr, now);
out:
    dn_reminder_outcome_free(&v);
    return rc;
}

static int handle_bytes(engine_t *e, dn_topic_id_t topic, const void *payload, size_t len, int replay)
{
    switch (topic) {
    case DN_TOPIC_INVOICE_ISSUED:
        return handle_invoice(e, payload, len);
    case DN_TOPIC_PAYMENT_RECEIVED:
        return handle_payment(e, payload, len);
    case DN_TOPIC_PAYMENT_FAILED:
        return handle_failed(e, payload, len, replay);
    case DN_TOPIC_CASE_COMMANDS:
        return handle_command(e, payload, len, replay);
    case DN_TOPIC_REMINDER_OUTCOMES:
        return handle_outcome(e, payload, len);
    default:
        return reject(e, "unknown_topic", "no handler for topic %s", dn_topic_name(topic));
    }
}

int handle_record(engine_t *e, const rd_kafka_message_t *m)
{
    dn_topic_id_t topic;
    e->reject_code = NULL;
    if (dn_topic_lookup(rd_kafka_topic_name(m->rkt), &topic) < 0)
        return reject(e, "unknown_topic", "no handler for topic %s", rd_kafka_topic_name(m->rkt));
    if (!m->payload || m->len == 0)
        return reject(e, "bad_framing", "empty record");
    return handle_bytes(e, topic, m->payload, m->len, 0);
}

/* ---- set-based prefetches (engine.h) ---- */

/* What a record names, decoded with its own decoder: its event id, tenant, invoice and
 * (payments) payment id. */
typedef struct record_ids {
    dn_topic_id_t topic;
    char id[DN_UUID_STR_LEN];
    char tenant[ID_MAX + 1], invoice[ID_MAX + 1], payment[ID_MAX + 1];
} record_ids_t;

static int ids_set(record_ids_t *out, const char *event_id, const char *tenant, const char *invoice,
                   const char *payment)
{
    if (!dn_uuid_valid(event_id) || !tenant || !invoice || strlen(tenant) > ID_MAX || strlen(invoice) > ID_MAX ||
        (payment && strlen(payment) > ID_MAX))
        return 0;
    snprintf(out->id, sizeof(out->id), "%s", event_id);
    snprintf(out->tenant, sizeof(out->tenant), "%s", tenant);
    snprintf(out->invoice, sizeof(out->invoice), "%s", invoice);
    snprintf(out->payment, sizeof(out->payment), "%s", payment ? payment : "");
    return 1;
}

/* 1 if the record has a well-formed event id (and ids within bounds), else 0: its
 * handler finds out what is wrong with it. */
static int record_ids(const rd_kafka_message_t *m, record_ids_t *out)
{
    dn_avro_err_t err;
    int ok = 0;
    if (!m->payload || m->len == 0 || dn_topic_lookup(rd_kafka_topic_name(m->rkt), &out->topic) < 0)
        return 0;
    switch (out->topic) {
    case DN_TOPIC_INVOICE_ISSUED: {
        dn_invoice_issued_t v = {0};
        ok = dn_invoice_issued_decode(m->payload, m->len, &v, &err) == 0 &&
             ids_set(out, v.event_id, v.tenant_id, v.invoice_id, NULL);
        dn_invoice_issued_free(&v);
        return ok;
    }
    case DN_TOPIC_PAYMENT_RECEIVED: {
        dn_payment_received_t v = {0};
        ok = dn_payment_received_decode(m->payload, m->len, &v, &err) == 0 && v.payment_id &&
             ids_set(out, v.event_id, v.tenant_id, v.invoice_id, v.payment_id);
        dn_payment_received_free(&v);
        return ok;
    }
    case DN_TOPIC_PAYMENT_FAILED: {
        dn_payment_failed_t v = {0};
        ok = dn_payment_failed_decode(m->payload, m->len, &v, &err) == 0 &&
             ids_set(out, v.event_id, v.tenant_id, v.invoice_id, NULL);
        dn_payment_failed_free(&v);
        return ok;
    }
    case DN_TOPIC_CASE_COMMANDS: {
        dn_case_command_t v = {0};
        ok = dn_case_command_decode(m->payload, m->len, &v, &err) == 0 &&
             ids_set(out, v.event_id, v.tenant_id, v.invoice_id, NULL);
        dn_case_command_free(&v);
        return ok;
    }
    case DN_TOPIC_REMINDER_OUTCOMES: {
        dn_reminder_outcome_t v = {0};
        ok = dn_reminder_outcome_decode(m->payload, m->len, &v, &err) == 0 &&
             ids_set(out, v.event_id, v.tenant_id, v.invoice_id, NULL);
        dn_reminder_outcome_free(&v);
        return ok;
    }
    default:
        return 0;
    }
}

/* Locks and loads the cases named in `ids` (a PostgreSQL uuid[] literal) into
 * e->batch_cases, with their invoices' source records (the contact snapshot) if
 * with_source (timers: each one emits a reminder; records rarely do, and emit_reminders
 * reads the source itself when the row has none), and maps "c:<case id>" to the rows. */
static int load_cases(engine_t *e, dn_pgarray_t *ids, int with_source)
{
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "SELECT %s, %s FROM cases c JOIN invoices i USING (tenant_id, invoice_id) "
             "WHERE c.case_id = ANY($1::uuid[]) ORDER BY c.case_id FOR UPDATE OF c",
             case_columns, with_source ? "i.source" : "NULL::bytea");
    const char *params[] = {dn_pgarray_text(ids)};
    if (!params[0] || !(e->batch_cases = dn_pg_query(e->pg, sql, 1, params)))
        return -1;
    for (int i = 0; i < PQntuples(e->batch_cases); i++) {
        char key[64];
        uuid_key(key, sizeof(key), 'c', PQgetvalue(e->batch_cases, i, 0));
        if (batch_map_put(e->batch, key, i) < 0)
            return -1;
    }
    return 0;
}

int handle_prefetch(engine_t *e, rd_kafka_message_t *const *msgs, size_t n)
{
    int rc = H_DBERR;
    dn_pgarray_t ids = {0}, topics = {0}, tenants = {0}, invoices = {0}, ptenants = {0}, payments = {0}, cases = {0};
    PGresult *r = NULL;
    batch_reset(e);
    if (!e->batch && !(e->batch = batch_map_new()))
        return H_DBERR;
    for (size_t i = 0; i < n; i++) {
        record_ids_t ri;
        char key[2 * ID_MAX + 32];
        int v;
        if (!record_ids(msgs[i], &ri))
            continue;
        uuid_key(key, sizeof(key), 'e', ri.id);
        if (!batch_map_get(e->batch, key, &v)) { /* the first copy names the topic, as one by one */
            if (batch_map_put(e->batch, key, 0) < 0 || dn_pgarray_add(&ids, key + 2) < 0 ||
                dn_pgarray_add(&topics, rd_kafka_topic_name(msgs[i]->rkt)) < 0)
                goto out;
        }
        if (ri.topic == DN_TOPIC_INVOICE_ISSUED) {
            invoice_key(key, sizeof(key), ri.tenant, ri.invoice);
            if (!batch_map_get(e->batch, key, &v) &&
                (batch_map_put(e->batch, key, 0) < 0 || dn_pgarray_add(&tenants, ri.tenant) < 0 ||
                 dn_pgarray_add(&invoices, ri.invoice) < 0))
                goto out;
            continue;
        }
        if (ri.topic == DN_TOPIC_REMINDER_OUTCOMES)
            continue; /* names its case directly; outcomes are few */
        char case_id[DN_UUID_STR_LEN];
        case_id_for(ri.tenant, ri.invoice, case_id);
        uuid_key(key, sizeof(key), 'c', case_id);
        if (!batch_map_get(e->batch, key, &v) &&
            (batch_map_put(e->batch, key, CASE_ABSENT) < 0 || dn_pgarray_add(&cases, key + 2) < 0))
            goto out;
        if (ri.topic != DN_TOPIC_PAYMENT_RECEIVED)
            continue;
        payment_key(key, sizeof(key), ri.tenant, ri.payment);
        if (!batch_map_get(e->batch, key, &v) &&
            (batch_map_put(e->batch, key, 0) < 0 || dn_pgarray_add(&ptenants, ri.tenant) < 0 ||
             dn_pgarray_add(&payments, ri.payment) < 0))
            goto out;
    }
    if (ids.n == 0) {
        rc = H_OK;
        goto out;
    }
    const char *params[] = {dn_pgarray_text(&ids),      dn_pgarray_text(&topics),   dn_pgarray_text(&tenants),
                            dn_pgarray_text(&invoices), dn_pgarray_text(&ptenants), dn_pgarray_text(&payments)};
    for (size_t i = 0; i < 6; i++)
        if (!params[i])
            goto out; /* out of memory */
    r = dn_pg_query(e->pg,
                    "WITH ins AS (INSERT INTO processed_events (event_id, topic) "
                    "SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING RETURNING event_id), "
                    "k AS (SELECT * FROM unnest($3::text[], $4::text[]) AS k (tenant_id, invoice_id)) "
                    "SELECT 'e', event_id::text, '', '', '', '', '', NULL::timestamptz FROM ins "
                    "UNION ALL SELECT 'i', tenant_id, invoice_id, '', '', '', '', NULL FROM invoices JOIN k "
                    "USING (tenant_id, invoice_id) "
                    "UNION ALL SELECT 'p', tenant_id, invoice_id, payment_id, amount_minor::text, currency::text, "
                    "event_id::text, received_at FROM payments JOIN k USING (tenant_id, invoice_id) WHERE NOT applied "
                    "UNION ALL SELECT DISTINCT 'h', tenant_id, invoice_id, '', '', '', '', NULL::timestamptz "
                    "FROM held_events JOIN k USING (tenant_id, invoice_id) "
                    "UNION ALL SELECT 'q', tenant_id, payment_id, '', '', '', '', NULL FROM payments "
                    "JOIN unnest($5::text[], $6::text[]) AS q (tenant_id, payment_id) USING (tenant_id, payment_id) "
                    "ORDER BY 1, 2, 3, 8, 4",
                    6, params);
    if (!r)
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *kind = PQgetvalue(r, i, 0);
        char key[2 * ID_MAX + 32];
        int v = 0;
        if (kind[0] == 'e' || kind[0] == 'q') {
            if (kind[0] == 'e')
                uuid_key(key, sizeof(key), 'e', PQgetvalue(r, i, 1));
            else
                payment_key(key, sizeof(key), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
            if (batch_map_put(e->batch, key, 1) < 0)
                goto out;
            continue;
        }
        invoice_key(key, sizeof(key), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
        batch_map_get(e->batch, key, &v);
        if (kind[0] == 'p' && !(v & INV_PAYMENTS)) { /* the invoice's first waiting payment */
            key[0] = 'P';
            if (batch_map_put(e->batch, key, i) < 0)
                goto out;
            key[0] = 'i';
        }
        if (batch_map_put(e->batch, key,
                          v | (kind[0] == 'i'   ? INV_EXISTS
                               : kind[0] == 'p' ? INV_PAYMENTS
                                                : INV_HELD)) < 0)
            goto out;
    }
    if (cases.n > 0 && load_cases(e, &cases, 0) < 0)
        goto out;
    e->batch_lookup = r; /* the waiting payments' rows, for handle_invoice */
    r = NULL;
    e->prefetched = 1;
    rc = H_OK;
out:
    if (rc != H_OK)
        batch_reset(e);
    PQclear(r);
    dn_pgarray_free(&ids);
    dn_pgarray_free(&topics);
    dn_pgarray_free(&tenants);
    dn_pgarray_free(&invoices);
    dn_pgarray_free(&ptenants);
    dn_pgarray_free(&payments);
    dn_pgarray_free(&cases);
    return rc;
}

int fire_prefetch(engine_t *e, char *const *case_ids, size_t n)
{
    int rc = H_DBERR;
    dn_pgarray_t ids = {0};
    batch_reset(e);
    if (!e->batch && !(e->batch = batch_map_new()))
        return H_DBERR;
    for (size_t i = 0; i < n; i++) {
        char key[64];
        int v;
        if (!dn_uuid_valid(case_ids[i]))
            continue;
        uuid_key(key, sizeof(key), 'c', case_ids[i]);
        if (!batch_map_get(e->batch, key, &v) &&
            (batch_map_put(e->batch, key, CASE_ABSENT) < 0 || dn_pgarray_add(&ids, key + 2) < 0))
            goto out;
    }
    if (ids.n == 0) {
        rc = H_OK;
        goto out;
    }
    if (load_cases(e, &ids, 1) < 0)
        goto out;
    e->prefetched = 1;
    rc = H_OK;
out:
    if (rc != H_OK)
        batch_reset(e);
    dn_pgarray_free(&ids);
    return rc;
}

void batch_destroy(engine_t *e)
{
    batch_reset(e);
    batch_map_destroy(e->batch);
    e->batch = NULL;
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
