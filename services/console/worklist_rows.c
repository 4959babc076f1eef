/* The worklist's rows (sql/024_console_worklist_rows.sql): one row per open case with the
 * facts the collection strategy reads and the priority they give, kept by following the
 * audit trail, so that GET /api/worklist reads the first rows of an index instead of
 * scoring every open case per request.
 *
 * worklist_sync brings the rows up to date, in one transaction under the row lock of
 * console_worklist_sync (several consoles may share a database):
 *   - the strategies changed (another policy file) or the rows were never built: every
 *     open case is scored again (TRUNCATE, then one INSERT ... SELECT);
 *   - the day changed: the days overdue of every row moved, so each row's priority and
 *     listing are computed again from its stored facts, and the rows that changed written;
 *   - the audit rows past the cursor (their ids are in commit order, sql/011): the cases
 *     they are about are read again (deleted when no longer open).
 * It runs before every worklist request (so a page loaded after a case event shows it) and
 * every WORKLIST_SYNC_MS in the loop, so that a request rarely finds much to do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dn_buf.h"
#include "dn_clock.h"
#include "dn_log.h"

#define WORKLIST_SYNC_MS    1000
#define WORKLIST_SYNC_BATCH "20000" /* audit rows per step */

/* The facts of the open cases, as aliases the priority expression (worklist.c) reads:
 * all of them ($1 NULL) or those of the uuid[] $1; $2 is today. The per-case counts come
 * from grouped joins (a hash join each for all cases, index lookups for a few). */
static const char facts_sql[] =
    "SELECT c.case_id, c.tenant_id, c.invoice_id, i.invoice_number, c.customer_id, c.state, c.stage, "
    "c.outstanding_minor + c.fee_minor + c.interest_minor AS owed, c.outstanding_minor, c.currency, i.due_date, "
    "$2::date - i.due_date AS days, coalesce(pr.broken, 0) AS broken, pr.due AS promise_due, "
    "coalesce(cb.n, 0) AS callbacks, coalesce(c.state = 'paused' AND c.pause_reason = 'dispute', false) AS disputed, "
    "coalesce(c.risk_score, -1) AS risk, c.pause_reason, c.paused_until, coalesce(ch.channels, '{}') AS channels "
    "FROM cases c JOIN invoices i USING (tenant_id, invoice_id) "
    "LEFT JOIN (SELECT pc.case_id, count(*) FILTER (WHERE p.state = 'broken') AS broken, "
    "  min(p.promised_for) FILTER (WHERE p.state = 'open') AS due "
    "  FROM promise_cases pc JOIN promises p USING (promise_id) WHERE ($1::uuid[] IS NULL OR pc.case_id = ANY ($1)) "
    "  GROUP BY pc.case_id) pr ON pr.case_id = c.case_id "
    "LEFT JOIN (SELECT case_id, count(*) AS n FROM audit WHERE kind = 'callback_requested' "
    "  AND ($1::uuid[] IS NULL OR case_id = ANY ($1)) GROUP BY case_id) cb ON cb.case_id = c.case_id "
    "LEFT JOIN (SELECT a.case_id, array_agg(DISTINCT x.ch ORDER BY x.ch) AS channels FROM audit a, "
    "  LATERAL (SELECT e->>'channel' AS ch FROM jsonb_array_elements(CASE WHEN jsonb_typeof(a.detail->'reminders') = "
    "  'array' THEN a.detail->'reminders' ELSE '[]' END) e) x "
    "  WHERE a.kind = 'reminder_emitted' AND x.ch IS NOT NULL AND ($1::uuid[] IS NULL OR a.case_id = ANY ($1)) "
    "  GROUP BY a.case_id) ch ON ch.case_id = c.case_id "
    "WHERE c.state NOT IN ('resolved', 'written_off', 'handed_over') AND ($1::uuid[] IS NULL OR c.case_id = ANY ($1))";

/* The strategies as SQL (the facts' aliases, w.*): the same sums as dn_priority_score. */
/* {EUR: 500, ...} as SQL on w.currency (currency codes are checked ISO 4217 codes). */
static void sql_money(dn_buf_t *b, const money_map_t *m)
{
    dn_buf_add(b, "(CASE w.currency");
    for (size_t i = 0; i < m->n; i++)
        dn_buf_printf(b, " WHEN '%s' THEN %lld", m->currency[i], (long long)m->minor[i]);
    dn_buf_printf(b, " ELSE %lld END)", (long long)m->fallback);
}

static const char *sql_cmp(prio_cmp_t cmp)
{
    return cmp == PRIO_CMP_OVER ? ">" : cmp == PRIO_CMP_AT_LEAST ? ">=" : "<";
}

/* The points of s (NULL: none) as SQL over the facts' aliases (worklist_rows.c): the same sum as
 * dn_priority_score, which gives the reasons of each row of the page. */
static void sql_points(dn_buf_t *b, const strategy_t *s)
{
    dn_buf_add(b, "(0");
    for (size_t i = 0; s && i < s->nrules; i++) {
        const prio_rule_t *r = &s->rules[i];
        dn_buf_add(b, " + CASE WHEN ");
        switch (r->when) {
        case PRIO_BROKEN_PROMISE:
            dn_buf_add(b, "w.broken > 0");
            break;
        case PRIO_CALLBACK:
            dn_buf_add(b, "w.callbacks > 0");
            break;
        case PRIO_DISPUTED:
            dn_buf_add(b, "w.disputed");
            break;
        case PRIO_DAYS_OVERDUE:
            dn_buf_printf(b, "w.days %s %lld", sql_cmp(r->cmp), (long long)r->value);
            break;
        case PRIO_AMOUNT:
            dn_buf_printf(b, "w.owed %s ", sql_cmp(r->cmp));
            sql_money(b, r->amount);
            break;
        case PRIO_STAGE:
            dn_buf_printf(b, "w.stage %s %lld", sql_cmp(r->cmp), (long long)r->value);
            break;
        case PRIO_RISK_SCORE:
            dn_buf_printf(b, "w.risk >= 0 AND w.risk %s %lld", sql_cmp(r->cmp), (long long)r->value);
            break;
        case PRIO_COND_COUNT:
            dn_buf_add(b, "false");
            break;
        }
        dn_buf_printf(b, " THEN %d ELSE 0 END", (int)r->points);
    }
    dn_buf_add(b, ")");
}

/* Whether s lists the row (dn_priority_listed), as SQL. */
static void sql_listed(dn_buf_t *b, const strategy_t *s)
{
    if (!s) {
        dn_buf_add(b, "(w.days >= 0)");
        return;
    }
    dn_buf_add(b, "(true");
    if (s->min_amount) {
        dn_buf_add(b, " AND w.owed >= ");
        sql_money(b, s->min_amount);
    }
    if (!s->include_not_due)
        dn_buf_add(b, " AND w.days >= 0");
    dn_buf_add(b, ")");
}

/* CASE w.tenant_id WHEN <a tenant with a strategy of its own> THEN ... ELSE <the default's> END */
static int sql_by_tenant(dn_buf_t *b, PGconn *conn, const policy_set_t *ps,
                         void (*part)(dn_buf_t *, const strategy_t *))
{
    dn_buf_add(b, "(CASE WHEN false THEN NULL"); /* a CASE needs a WHEN, even with no tenant of its own */
    for (size_t i = 0; i < ps->ntenants; i++) {
        const tenant_policies_t *t = &ps->tenants[i];
        if (strcmp(t->tenant, "default") == 0 || !t->strategy.defined)
            continue;
        char *lit = PQescapeLiteral(conn, t->tenant, strlen(t->tenant));
        if (!lit)
            return -1;
        dn_buf_printf(b, " WHEN w.tenant_id = %s THEN ", lit);
        PQfreemem(lit);
        part(b, &t->strategy);
    }
    dn_buf_add(b, " ELSE ");
    part(b, dn_policy_strategy(ps, "default"));
    dn_buf_add(b, " END)");
    return 0;
}

/* Appends "<points> AS priority, <listed> AS listed" over the facts' aliases: 0/-1. */
static int worklist_sql_scoring(console_t *c, dn_buf_t *b)
{
    PGconn *conn = dn_pg_conn(c->pg);
    if (!conn || sql_by_tenant(b, conn, c->policies, sql_points) < 0)
        return -1;
    dn_buf_add(b, " AS priority, ");
    if (sql_by_tenant(b, conn, c->policies, sql_listed) < 0)
        return -1;
    dn_buf_add(b, " AS listed");
    return 0;
}

static const char columns[] =
    "case_id, tenant_id, invoice_id, invoice_number, customer_id, state, stage, owed_minor, outstanding_minor, "
    "currency, due_date, broken, promise_due, callbacks, disputed, risk, pause_reason, paused_until, channels, "
    "priority, listed";

int worklist_rows_build(console_t *c)
{
    dn_buf_t score = {0}, ins = {0}, rep = {0};
    if (worklist_sql_scoring(c, &score) < 0)
        goto fail;
    size_t slen = 0;
    char *scoring = dn_buf_take(&score, &slen);
    if (!scoring)
        goto fail;
    /* INSERT: the facts, scored. */
    dn_buf_printf(&ins,
                  "INSERT INTO console_worklist (%s) SELECT w.case_id, w.tenant_id, w.invoice_id, "
                  "w.invoice_number, w.customer_id, w.state, w.stage, w.owed, w.outstanding_minor, w.currency, "
                  "w.due_date, w.broken, w.promise_due, w.callbacks, w.disputed, w.risk, w.pause_reason, "
                  "w.paused_until, w.channels, ",
                  columns);
    dn_buf_add(&ins, scoring);
    dn_buf_add(&ins, " FROM (");
    dn_buf_add(&ins, facts_sql);
    dn_buf_add(&ins, ") w ON CONFLICT (case_id) DO UPDATE SET (");
    dn_buf_add(&ins, columns);
    dn_buf_add(&ins, ") = (SELECT EXCLUDED.*) WHERE (console_worklist.*) IS DISTINCT FROM (EXCLUDED.*)");
    /* The day's update: the stored facts scored for today ($1); only changed rows written. */
    dn_buf_add(&rep, "UPDATE console_worklist t SET priority = s.priority, listed = s.listed FROM (SELECT w.case_id, ");
    dn_buf_add(&rep, scoring);
    dn_buf_add(&rep, " FROM (SELECT t.case_id, t.tenant_id, t.currency, t.owed_minor AS owed, $1::date - t.due_date AS "
                     "days, t.stage, t.broken, t.callbacks, t.disputed, t.risk FROM console_worklist t) w) s "
                     "WHERE t.case_id = s.case_id AND (t.priority, t.listed) IS DISTINCT FROM (s.priority, s.listed)");
    c->wl_strategies = scoring;
    if (!(c->wl_insert_sql = dn_buf_take(&ins, NULL)) || !(c->wl_reprice_sql = dn_buf_take(&rep, NULL)))
        goto fail;
    return 0;
fail:
    dn_buf_free(&score);
    dn_buf_free(&ins);
    dn_buf_free(&rep);
    return -1;
}

void worklist_rows_free(console_t *c)
{
    free(c->wl_strategies);
    free(c->wl_insert_sql);
    free(c->wl_reprice_sql);
}

static int step_query(console_t *c, const char *sql, int n, const char *const *p, PGresult **out)
{
    PGresult *r = dn_pg_query(c->pg, sql, n, p);
    if (!r)
        return -1;
    if (out)
        *out = r;
    else
        PQclear(r);
    return 0;
}

/* Rebuilds every row (the strategies changed, or the first start): 0/-1. */
static int rebuild(console_t *c, const char *today, char *cursor, size_t cursor_size)
{
    PGresult *r;
    if (step_query(c, "SELECT coalesce(max(id), 0) FROM audit", 0, NULL, &r) < 0)
        return -1;
    snprintf(cursor, cursor_size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    const char *p[] = {NULL, today};
    int64_t t0 = dn_clock_real_now_ms();
    if (dn_pg_exec(c->pg, "TRUNCATE console_worklist") < 0 || step_query(c, c->wl_insert_sql, 2, p, &r) < 0)
        return -1;
    char ms[24];
    snprintf(ms, sizeof(ms), "%lld", (long long)(dn_clock_real_now_ms() - t0));
    dn_log_info("worklist rows rebuilt", "rows", PQcmdTuples(r), "day", today, "ms", ms, NULL);
    PQclear(r);
    return 0;
}

/* Reads the cases of the uuid[] literal ids again: the number of rows that changed, or -1. */
static long refresh(console_t *c, const char *ids, const char *today)
{
    const char *q[] = {ids, today};
    PGresult *d = NULL, *u = NULL;
    if (step_query(c,
                   "DELETE FROM console_worklist w WHERE w.case_id = ANY ($1::uuid[]) AND NOT EXISTS (SELECT 1 FROM "
                   "cases c WHERE c.case_id = w.case_id AND c.state NOT IN ('resolved', 'written_off', 'handed_over'))",
                   1, q, &d) < 0 ||
        step_query(c, c->wl_insert_sql, 2, q, &u) < 0) {
        PQclear(d);
        return -1;
    }
    long n = atol(PQcmdTuples(d)) + atol(PQcmdTuples(u));
    PQclear(d);
    PQclear(u);
    return n;
}

long worklist_refresh(console_t *c, const char *ids)
{
    char today[16];
    dn_date_format(dn_date_from_ms(dn_clock_now_ms()), today, sizeof(today));
    long n = refresh(c, ids, today);
    if (n < 0)
        dn_log_error("worklist rows not checked", "detail", dn_pg_errstr(c->pg), NULL);
    return n;
}

/* The cases of the audit rows after cursor, one batch: 1 if there were any (cursor moved), 0, -1. */
static int follow(console_t *c, const char *today, char *cursor, size_t cursor_size)
{
    PGresult *r;
    const char *p[] = {cursor};
    if (step_query(c,
                   "SELECT max(id), array_agg(DISTINCT case_id) FILTER (WHERE case_id IS NOT NULL) "
                   "FROM (SELECT id, case_id FROM audit WHERE id > $1::bigint ORDER BY id LIMIT " WORKLIST_SYNC_BATCH
                   ") a",
                   1, p, &r) < 0)
        return -1;
    if (PQgetisnull(r, 0, 0)) {
        PQclear(r);
        return 0;
    }
    snprintf(cursor, cursor_size, "%s", PQgetvalue(r, 0, 0));
    int rc = 1;
    if (!PQgetisnull(r, 0, 1) && refresh(c, PQgetvalue(r, 0, 1), today) < 0)
        rc = -1;
    PQclear(r);
    return rc;
}

int worklist_sync(console_t *c, int all)
{
    char today[16], cursor[32];
    dn_date_format(dn_date_from_ms(dn_clock_now_ms()), today, sizeof(today));
    c->wl_synced_ms = dn_clock_real_now_ms();
    const char *fp[] = {c->wl_strategies};
    PGresult *r = NULL;
    if (step_query(c,
                   "INSERT INTO console_worklist_sync (audit_id, day, strategies) VALUES (-1, '1970-01-01', '') "
                   "ON CONFLICT DO NOTHING",
                   0, NULL, NULL) < 0 ||
        dn_pg_begin(c->pg) < 0)
        goto fail;
    if (step_query(c, "SELECT audit_id, day::text, strategies = md5($1) FROM console_worklist_sync FOR UPDATE", 1, fp,
                   &r) < 0)
        goto fail;
    snprintf(cursor, sizeof(cursor), "%s", PQgetvalue(r, 0, 0));
    int same_strategies = PQgetvalue(r, 0, 2)[0] == 't', same_day = strcmp(PQgetvalue(r, 0, 1), today) == 0;
    PQclear(r);
    r = NULL;
    if (!same_strategies || strcmp(cursor, "-1") == 0) {
        if (rebuild(c, today, cursor, sizeof(cursor)) < 0)
            goto fail;
    } else if (!same_day) {
        const char *p[] = {today};
        if (step_query(c, c->wl_reprice_sql, 1, p, &r) < 0)
            goto fail;
        dn_log_info("worklist priorities of a new day", "day", today, "rows_changed", PQcmdTuples(r), NULL);
        PQclear(r);
        r = NULL;
    }
    int moved;
    do {
        if ((moved = follow(c, today, cursor, sizeof(cursor))) < 0)
            goto fail;
    } while (moved && all);
    const char *up[] = {cursor, today, c->wl_strategies};
    if (step_query(c,
                   "UPDATE console_worklist_sync SET audit_id = $1::bigint, day = $2::date, strategies = md5($3), "
                   "updated_at = now()",
                   3, up, NULL) < 0 ||
        dn_pg_commit(c->pg) < 0)
        goto fail;
    return 0;
fail:
    PQclear(r);
    dn_log_error("worklist rows not brought up to date", "detail", dn_pg_errstr(c->pg), NULL);
    dn_pg_rollback(c->pg);
    return -1;
}

void worklist_sync_poll(console_t *c)
{
    if (dn_clock_real_now_ms() - c->wl_synced_ms >= WORKLIST_SYNC_MS)
        worklist_sync(c, 0);
}
