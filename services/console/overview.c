/* GET /api/overview: the credit team's figures for the user's tenants, each computed by one
 * query in PostgreSQL (docs/console.md#overview has every definition):
 *   aging            open receivables (outstanding principal of open cases) by days past the
 *                    invoice's due date, per currency: current (not yet due), 1-30, 31-60,
 *                    61-90, 90+
 *   dso              receivables / credit sales of the last `dso_days` days x dso_days, and the
 *                    best possible (current receivables only), per currency
 *   cei              collection effectiveness index over [from, to], per currency, from the
 *                    receivables at the period's start and end (the audit trail's last
 *                    outstanding amount of each case before that moment)
 *   promises_due_today, promise_kept (promises due in [from, to] and closed)
 *   reminders        reminders emitted in [from, to] per channel, with their deliveries' outcome
 *   recovery         per stage and channel: the cases reminded in [from, to], and how many of them
 *                    were paid in full within 7 and 14 days of the reminder
 *   dead_letters     the dead letters of [from, to] by service, source topic and error code
 *                    (deadletters.c: from the topic, not the database)
 *   consumer_lag     per consumer group of the pipeline, the records not yet processed now
 *                    (lag.c: from the broker, not per tenant)
 * The open cases' figures read the worklist's rows (console_worklist, worklist_rows.c:
 * one row per open case with its outstanding amount and due date), brought up to date first.
 * Query: from, to (YYYY-MM-DD; default the 30 days up to today), dso_days (1-730, default 90),
 * tenant (one of the user's). "Today" is the dunning clock's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dn_clock.h"

/* $1 the user's tenants, $2 today, $3 from, $4 to, $5 dso_days, $6 one tenant or NULL */
#define SCOPE(a)                                                                                                       \
    "(($1::text[] @> '{*}' OR " a ".tenant_id = ANY ($1::text[])) AND ($6::text IS NULL OR " a ".tenant_id = $6))"
#define OPEN_CASE(a) a ".state NOT IN ('resolved', 'written_off', 'handed_over')"
/* The start of a date (UTC). */
#define DAY_START(d) "((" d ")::timestamp AT TIME ZONE 'UTC')"
/* Receivables of each currency at moment T (a timestamptz expression), and the part of them not
 * yet due on date D: for each case the last audit row before T with an amount and a state; the
 * case counts if that state is an open one. Read in two parts, so that only the period's audit
 * rows are walked (a BRIN index on audit.at finds them, sql/024): a case with audit rows at or
 * after T by its last row before T; a case without any by its row now (the engine writes an
 * audit row with every change of a case's amount or state, so the two agree). */
#define CHANGED_SINCE(T) "(SELECT DISTINCT s.case_id FROM audit s WHERE s.at >= " T " AND s.case_id IS NOT NULL)"
#define RECEIVABLES_AT(T, D)                                                                                           \
    "SELECT l.currency, sum(l.outstanding_minor) AS total, "                                                           \
    "  sum(l.outstanding_minor) FILTER (WHERE l.due_date >= " D ") AS current_part FROM ("                             \
    "  (SELECT DISTINCT ON (a.case_id) a.case_id, a.to_state, a.outstanding_minor, c.currency, i.due_date "            \
    "   FROM audit a JOIN cases c ON c.case_id = a.case_id JOIN invoices i ON i.tenant_id = c.tenant_id "              \
    "   AND i.invoice_id = c.invoice_id WHERE a.case_id IN " CHANGED_SINCE(                                            \
        T) " AND a.at < " T " "                                                                                        \
           "   AND a.outstanding_minor IS NOT NULL AND a.to_state IS NOT NULL AND " SCOPE(                             \
               "a") " "                                                                                                \
                    "   ORDER BY a.case_id, a.id DESC) "                                                               \
                    "  UNION ALL "                                                                                     \
                    "  (SELECT w.case_id, w.state, w.outstanding_minor, w.currency, w.due_date FROM console_worklist " \
                    "w "                                                                                               \
                    "   LEFT JOIN " CHANGED_SINCE(T) " n ON n.case_id = w.case_id WHERE n.case_id IS NULL AND " SCOPE( \
                        "w") ")"                                                                                       \
                             ") l WHERE l.to_state NOT IN ('resolved', 'written_off', 'handed_over') GROUP BY "        \
                             "l.currency"
/* Reminders emitted in [from, to]: one row per reminder (a case's stage on one channel). */
#define REMINDERS                                                                                                      \
    "SELECT a.case_id, a.stage, a.at, x->>'channel' AS channel, CASE WHEN x->>'event_id' ~ '^[0-9a-fA-F-]{36}$' THEN " \
    "(x->>'event_id')::uuid END AS event_id "                                                                          \
    "FROM audit a, "                                                                                                   \
    "  jsonb_array_elements(CASE WHEN jsonb_typeof(a.detail->'reminders') = 'array' THEN a.detail->'reminders' "       \
    "  ELSE '[]' END) x WHERE a.kind = 'reminder_emitted' AND " SCOPE("a") " AND a.at >= " DAY_START(                  \
        "$3::date") "  AND a.at < " DAY_START("$4::date + 1")
#define RATIO(n, d) "CASE WHEN (" d ") = 0 THEN NULL ELSE round((" n ")::numeric / (" d "), 4) END"

static const char overview_sql[] =
    "SELECT "
    /* aging */
    "(SELECT coalesce(json_agg(g ORDER BY g.currency, g.ord), '[]') FROM (SELECT c.currency, b.bucket, b.ord, "
    "  count(*) AS cases, sum(c.outstanding_minor) AS outstanding_minor FROM console_worklist c, "
    "  LATERAL (SELECT CASE "
    "    WHEN $2::date - c.due_date <= 0 THEN 'current' WHEN $2::date - c.due_date <= 30 THEN '1-30' "
    "    WHEN $2::date - c.due_date <= 60 THEN '31-60' WHEN $2::date - c.due_date <= 90 THEN '61-90' "
    "    ELSE '90+' END AS bucket, CASE WHEN $2::date - c.due_date <= 0 THEN 0 WHEN $2::date - c.due_date <= 30 "
    "    THEN 1 WHEN $2::date - c.due_date <= 60 THEN 2 WHEN $2::date - c.due_date <= 90 THEN 3 ELSE 4 END AS ord) "
    "b "
    "  WHERE " SCOPE("c") " AND " OPEN_CASE("c") " AND c.outstanding_minor > 0 "
                                                 "  GROUP BY c.currency, b.bucket, b.ord) g)::text, "
                                                 /* dso */
                                                 "(SELECT coalesce(json_agg(d ORDER BY d.currency), '[]') FROM "
                                                 "(SELECT "
                                                 "cur.currency, "
                                                 "  coalesce(r.total, 0) AS receivables_minor, "
                                                 "coalesce(r.current_part, 0) AS "
                                                 "current_minor, "
                                                 "  coalesce(s.sales, 0) AS sales_minor, $5::int AS days, "
                                                 "  " RATIO("coalesce(r.total, 0) * $5::int", "coalesce(s.sales, 0)") " AS"
                                                                                                                      " ds"
                                                                                                                      "o, "
                                                                                                                      " "
                                                                                                                      " " RATIO("coalesce(r.current_part, 0) * $5::int",
                                                                                                                                "coalesce(s.sales, 0)") " AS best_possible_dso "
                                                                                                                                                        "  FROM (SELECT c.currency, sum(c.outstanding_minor) AS total, "
                                                                                                                                                        "        sum(c.outstanding_minor) FILTER (WHERE c.due_date >= $2::date) AS current_part FROM console_worklist c "
                                                                                                                                                        "        WHERE " SCOPE(
                                                                                                                                                            "c") " AND " OPEN_CASE("c") " GROUP BY c.currency) r "
                                                                                                                                                                                        "  FULL JOIN (SELECT i.currency, sum(i.amount_minor) AS sales FROM invoices i WHERE " SCOPE(
                                                                                                                                                                                            "i") " "
                                                                                                                                                                                                 "        AND i.issue_date > $2::date - $5::int AND i.issue_date <= $2::date GROUP BY i.currency) s "
                                                                                                                                                                                                 "    USING (currency) CROSS JOIN LATERAL (SELECT coalesce(r.currency, s.currency) AS currency) cur) d)::text, "
                                                                                                                                                                                                 /* cei */
                                                                                                                                                                                                 "(SELECT coalesce(json_agg(e ORDER BY e.currency), '[]') FROM (SELECT x.currency, x.beginning_minor, "
                                                                                                                                                                                                 "  x.sales_minor, x.ending_minor, x.ending_current_minor, "
                                                                                                                                                                                                 "  " RATIO("(x.beginning_minor + x.sales_minor - x.ending_minor) * 100", "x.beginning_minor + x.sales_minor - x.ending_current_minor") " AS cei "
                                                                                                                                                                                                                                                                                                                                        "  FROM (SELECT cur.currency, coalesce(b.total, 0) AS beginning_minor, coalesce(s.sales, 0) AS sales_minor, "
                                                                                                                                                                                                                                                                                                                                        "    coalesce(en.total, 0) AS ending_minor, coalesce(en.current_part, 0) AS ending_current_minor "
                                                                                                                                                                                                                                                                                                                                        "    FROM (" RECEIVABLES_AT(
                                                                                                                                                                                                                                                                                                                                            DAY_START("$3::date"), "$3::date") ") b "
                                                                                                                                                                                                                                                                                                                                                                               "    FULL JOIN (" RECEIVABLES_AT(DAY_START("$4::date + 1"),
                                                                                                                                                                                                                                                                                                                                                                                                                "$4::date") ") en USING (currency) "
                                                                                                                                                                                                                                                                                                                                                                                                                            "    FULL JOIN (SELECT i.currency, sum(i.amount_minor) AS sales FROM invoices i WHERE " SCOPE(
                                                                                                                                                                                                                                                                                                                                                                                                                                "i") " "
                                                                                                                                                                                                                                                                                                                                                                                                                                     "      AND i.issue_date >= $3::date AND i.issue_date <= $4::date GROUP BY i.currency) s USING (currency) "
                                                                                                                                                                                                                                                                                                                                                                                                                                     "    CROSS JOIN LATERAL (SELECT coalesce(b.currency, en.currency, s.currency) AS currency) cur) x) e)::text, "
                                                                                                                                                                                                                                                                                                                                                                                                                                     /* promises due today */
                                                                                                                                                                                                                                                                                                                                                                                                                                     "(SELECT coalesce(json_agg(p ORDER BY p.currency), '[]') FROM (SELECT p.currency, count(*) AS promises, "
                                                                                                                                                                                                                                                                                                                                                                                                                                     "  sum(p.amount_minor) AS amount_minor FROM promises p WHERE " SCOPE(
                                                                                                                                                                                                                                                                                                                                                                                                                                         "p") " AND p.state = 'open' "
                                                                                                                                                                                                                                                                                                                                                                                                                                              "  AND p.promised_for = $2::date GROUP BY p.currency) p)::text, "
                                                                                                                                                                                                                                                                                                                                                                                                                                              /* promise-kept rate */
                                                                                                                                                                                                                                                                                                                                                                                                                                              "(SELECT row_to_json(k) FROM (SELECT count(*) FILTER (WHERE state = 'kept') AS kept, "
                                                                                                                                                                                                                                                                                                                                                                                                                                              "  count(*) FILTER (WHERE state = 'partially_kept') AS partially_kept, "
                                                                                                                                                                                                                                                                                                                                                                                                                                              "  count(*) FILTER (WHERE state = 'broken') AS broken, "
                                                                                                                                                                                                                                                                                                                                                                                                                                              "  " RATIO(
                                                                                                                                                                                                                                                                                                                                                                                                                                                  "count(*) FILTER (WHERE state = 'kept')", "count(*)") " AS rate "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "  FROM promises p WHERE " SCOPE(
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            "p") " AND p.state IN ('kept', 'partially_kept', 'broken') "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "  AND p.promised_for >= $3::date AND p.promised_for <= $4::date) k)::text, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 /* reminders by channel */
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "(SELECT coalesce(json_agg(m ORDER BY m.channel), '[]') FROM (SELECT r.channel, count(*) AS sent, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "  count(*) FILTER (WHERE d.status = 'delivered') AS delivered, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "  count(*) FILTER (WHERE d.status IN ('failed_permanent', 'unreached')) AS failed, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "  count(*) FILTER (WHERE d.status = 'suppressed') AS suppressed, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "  count(*) FILTER (WHERE d.status IS NULL OR d.status NOT IN ('delivered', 'failed_permanent', 'unreached', "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "    'suppressed')) AS pending "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "  FROM (" REMINDERS
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 ") r LEFT JOIN deliveries d ON d.event_id = r.event_id GROUP BY r.channel) m)::text, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 /* recovery by stage and channel */
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "(SELECT coalesce(json_agg(v ORDER BY v.stage, v.channel), '[]') FROM (SELECT w.stage, w.channel, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "  count(*) AS reminded, count(*) FILTER (WHERE w.paid_at <= w.at + interval '7 days') AS paid_7d, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "  count(*) FILTER (WHERE w.paid_at <= w.at + interval '14 days') AS paid_14d, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "  " RATIO("count(*) FILTER (WHERE w.paid_at <= w.at + interval '7 days')",
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                            "count(*)") " AS share_7d, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                        "  " RATIO("count(*) FILTER (WHERE w.paid_at <= w.at + interval '14 days')", "count(*)") " AS share_14d "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "  FROM (SELECT DISTINCT ON (r.case_id, r.stage, r.channel) r.case_id, r.stage, r.channel, r.at, "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "    (SELECT min(b.at) FROM audit b JOIN cases c ON c.case_id = b.case_id WHERE b.case_id = r.case_id "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "      AND b.to_state = 'resolved' AND b.from_state IS DISTINCT FROM 'resolved' AND b.at > r.at "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "      AND c.resolved_reason IN ('paid', 'paid_within_tolerance', 'settled_with_discount')) AS paid_at "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "    FROM (" REMINDERS
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 ") r ORDER BY r.case_id, r.stage, r.channel, r.at) w "
                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                                 "  GROUP BY w.stage, w.channel) v)::text";

static int tenant_ok(const char *t)
{
    size_t n = strlen(t);
    return n > 0 && n <= 128 && strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static void overview(dn_web_req_t *req, void *arg)
{
    console_t *c = arg;
    const console_user_t *u = dn_web_user(req);
    char today[16], from[16], to[16], days[16];
    int32_t t = dn_date_from_ms(dn_clock_now_ms()), df, dt;
    dn_date_format(t, today, sizeof(today));
    worklist_sync(c, 1); /* the open cases' figures read the worklist's rows (worklist_rows.c) */
    const char *qf = dn_web_query(req, "from"), *qt = dn_web_query(req, "to"), *qd = dn_web_query(req, "dso_days");
    const char *tenant = dn_web_query(req, "tenant");
    if (qt && dn_date_parse(qt, &dt) < 0) {
        dn_web_error(req, 400, "to: a date YYYY-MM-DD");
        return;
    }
    if (!qt)
        dt = t;
    if (qf && dn_date_parse(qf, &df) < 0) {
        dn_web_error(req, 400, "from: a date YYYY-MM-DD");
        return;
    }
    if (!qf)
        df = dt - 29;
    if (df > dt || dt - df > 3660) {
        dn_web_error(req, 400, "from: on or before to, at most 10 years before it");
        return;
    }
    long dso_days = 90;
    if (qd) {
        char *end;
        dso_days = strtol(qd, &end, 10);
        if (*end || end == qd || dso_days < 1 || dso_days > 730) {
            dn_web_error(req, 400, "dso_days: 1 to 730");
            return;
        }
    }
    if (tenant && !tenant_ok(tenant)) {
        dn_web_error(req, 400, "tenant: a tenant id");
        return;
    }
    dn_date_format(df, from, sizeof(from));
    dn_date_format(dt, to, sizeof(to));
    snprintf(days, sizeof(days), "%ld", dso_days);
    const char *params[] = {u->tenants, today, from, to, days, tenant};
    PGresult *r = dn_pg_query(c->pg, overview_sql, 6, params);
    if (!r) {
        console_db_error(c, req);
        return;
    }
    static const char *const names[] = {"aging",        "dso",       "cei",     "promises_due_today",
                                        "promise_kept", "reminders", "recovery"};
    json_t *body =
        json_pack("{s:s, s:s, s:s, s:I}", "today", today, "from", from, "to", to, "dso_days", (json_int_t)dso_days);
    for (int i = 0; i < 7; i++) {
        json_t *v = json_loads(PQgetvalue(r, 0, i), JSON_DECODE_ANY, NULL);
        json_object_set_new(body, names[i], v ? v : json_null());
    }
    PQclear(r);
    json_object_set_new(body, "consumer_lag", lag_overview(c));
    json_object_set_new(body, "dead_letters",
                        dl_overview(c, u->tenants_json, tenant, (int64_t)df * 86400000, ((int64_t)dt + 1) * 86400000));
    dn_web_json(req, 200, body);
}

void overview_routes(console_t *c)
{
    dn_web_route(c->web, "GET", "/api/overview", overview, 0);
}
