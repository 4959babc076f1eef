/* GET /api/worklist: the open cases of the user's tenants, ordered by the priority of each
 * tenant's collection strategy (dn_priority.h, docs/policies.md), with its reasons; filters,
 * paging (offset/limit), and ?format=csv for the whole filtered list.
 *
 * The open cases that pass the filters are read in one query (at most
 * DUNNING_CONSOLE_WORKLIST_MAX), scored here and sorted; equal priorities by days overdue,
 * then owed, then case id, so that pages are stable while nothing changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dn_buf.h"
#include "dn_clock.h"
#include "dn_log.h"

#define REASONS_MAX 16

typedef struct item {
    int row;
    int64_t priority;
    int32_t days;
    int64_t owed;
    const char *case_id;
    prio_reason_t reasons[REASONS_MAX];
    size_t nreasons;
} item_t;

static int by_priority(const void *a, const void *b)
{
    const item_t *x = a, *y = b;
    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    if (x->days != y->days)
        return x->days > y->days ? -1 : 1;
    if (x->owed != y->owed)
        return x->owed > y->owed ? -1 : 1;
    return strcmp(x->case_id, y->case_id);
}

static const char *const open_states[] = {"open",     "pre_due_reminded", "overdue",  "final_notice",
                                          "retrying", "paused",           "promised", "on_plan"};

enum {
    COL_CASE = 0,
    COL_TENANT,
    COL_INVOICE,
    COL_NUMBER,
    COL_CUSTOMER,
    COL_STATE,
    COL_STAGE,
    COL_OWED,
    COL_OUTSTANDING,
    COL_CURRENCY,
    COL_DUE,
    COL_DAYS,
    COL_BROKEN,
    COL_CALLBACKS,
    COL_DISPUTED,
    COL_RISK,
    COL_ASSIGNED,
    COL_PROMISE_DUE,
    COL_PAUSE_REASON,
    COL_PAUSED_UNTIL,
};

/* The facts of the open cases: the per-case counts come from grouped joins (a hash join
 * each), not from subqueries per case; the callbacks through a partial index (sql/017). */
static const char worklist_sql[] =
    "SELECT c.case_id, c.tenant_id, c.invoice_id, i.invoice_number, c.customer_id, c.state, c.stage, "
    "c.outstanding_minor + c.fee_minor + c.interest_minor, c.outstanding_minor, c.currency, i.due_date::text, "
    "coalesce($2::date - i.due_date, 0), coalesce(pr.broken, 0), coalesce(cb.n, 0), "
    "(c.state = 'paused' AND c.pause_reason = 'dispute'), coalesce(c.risk_score, -1), ca.login, pr.due::text, "
    "c.pause_reason, c.paused_until::text "
    "FROM cases c LEFT JOIN invoices i USING (tenant_id, invoice_id) "
    "LEFT JOIN console_assignments ca ON ca.case_id = c.case_id "
    "LEFT JOIN (SELECT pc.case_id, count(*) FILTER (WHERE p.state = 'broken') AS broken, "
    "  min(p.promised_for) FILTER (WHERE p.state = 'open') AS due "
    "  FROM promise_cases pc JOIN promises p USING (promise_id) GROUP BY pc.case_id) pr ON pr.case_id = c.case_id "
    "LEFT JOIN (SELECT case_id, count(*) AS n FROM audit WHERE kind = 'callback_requested' GROUP BY case_id) cb "
    "  ON cb.case_id = c.case_id "
    "WHERE c.state NOT IN ('resolved', 'written_off', 'handed_over') "
    "AND ($1::text[] @> '{*}' OR c.tenant_id = ANY ($1::text[])) "
    "AND ($3::text IS NULL OR c.tenant_id = $3) "
    "AND ($4::text IS NULL OR c.state = $4) "
    "AND ($5::int IS NULL OR c.stage = $5) "
    "AND ($6::text IS NULL OR EXISTS (SELECT 1 FROM audit a WHERE a.case_id = c.case_id "
    "  AND a.kind = 'reminder_emitted' AND a.detail->'reminders' @> jsonb_build_array(jsonb_build_object('channel', "
    "$6::text)))) "
    "AND ($7::boolean IS NULL OR (c.state = 'paused' AND c.pause_reason IS NOT DISTINCT FROM 'dispute') = $7) "
    "AND ($8::text IS NULL OR ($8 = '' AND ca.login IS NULL) OR ca.login = $8) "
    "AND ($9::date IS NULL OR pr.due <= $9) "
    "LIMIT $10";

static int is_digits(const char *s)
{
    return s && *s && strspn(s, "0123456789") == strlen(s) && strlen(s) < 10;
}

/* Reads the filters into params[2..9]; 0, or -1 after a 400 reply. */
static int read_filters(dn_web_req_t *req, const console_user_t *u, const char **params, char *today, size_t tsize)
{
    int32_t d;
    dn_date_format(dn_date_from_ms(dn_clock_now_ms()), today, tsize);
    params[2] = dn_web_query(req, "tenant");
    params[3] = dn_web_query(req, "state");
    if (params[3]) {
        int ok = 0;
        for (size_t i = 0; i < sizeof(open_states) / sizeof(open_states[0]); i++)
            ok |= strcmp(params[3], open_states[i]) == 0;
        if (!ok) {
            dn_web_error(req, 400,
                         "state: one of open, pre_due_reminded, overdue, final_notice, retrying, paused, promised, "
                         "on_plan (the worklist lists open cases only)");
            return -1;
        }
    }
    params[4] = dn_web_query(req, "stage");
    if (params[4] && !is_digits(params[4])) {
        dn_web_error(req, 400, "stage: a stage number (0, 1, 2, ...)");
        return -1;
    }
    params[5] = dn_web_query(req, "channel");
    if (params[5] && strcmp(params[5], "email") != 0 && strcmp(params[5], "sms") != 0 &&
        strcmp(params[5], "letter") != 0 && strcmp(params[5], "voice") != 0) {
        dn_web_error(req, 400, "channel: email, sms, letter or voice");
        return -1;
    }
    params[6] = dn_web_query(req, "disputed");
    if (params[6] && strcmp(params[6], "true") != 0 && strcmp(params[6], "false") != 0) {
        dn_web_error(req, 400, "disputed: true or false");
        return -1;
    }
    params[7] = dn_web_query(req, "assigned");
    if (params[7]) {
        if (strcmp(params[7], "me") == 0)
            params[7] = u->login;
        else if (strcmp(params[7], "none") == 0)
            params[7] = "";
        else {
            dn_web_error(req, 400, "assigned: me or none");
            return -1;
        }
    }
    params[8] = dn_web_query(req, "promise_due");
    if (params[8]) {
        if (strcmp(params[8], "today") == 0)
            params[8] = today;
        else if (dn_date_parse(params[8], &d) < 0) {
            dn_web_error(req, 400, "promise_due: today or a date YYYY-MM-DD (open promises due by then)");
            return -1;
        }
    }
    return 0;
}

static long query_long(dn_web_req_t *req, const char *name, long def, long max, int *bad)
{
    const char *v = dn_web_query(req, name);
    if (!v)
        return def;
    if (!is_digits(v) || strtol(v, NULL, 10) > max) {
        *bad = 1;
        return def;
    }
    return strtol(v, NULL, 10);
}

static json_t *item_json(PGresult *r, const item_t *it)
{
    int row = it->row;
    json_t *reasons = json_array();
    for (size_t k = 0; k < it->nreasons; k++)
        json_array_append_new(
            reasons, json_pack("{s:i, s:s}", "points", (int)it->reasons[k].points, "text", it->reasons[k].text));
    int risk = atoi(PQgetvalue(r, row, COL_RISK));
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:s, s:i, s:b, s:I, s:o}", "case_id", PQgetvalue(r, row, COL_CASE),
        "tenant_id", PQgetvalue(r, row, COL_TENANT), "invoice_id", PQgetvalue(r, row, COL_INVOICE), "customer_id",
        PQgetvalue(r, row, COL_CUSTOMER), "state", PQgetvalue(r, row, COL_STATE), "stage",
        atoi(PQgetvalue(r, row, COL_STAGE)), "owed_minor", (json_int_t)it->owed, "outstanding_minor",
        (json_int_t)strtoll(PQgetvalue(r, row, COL_OUTSTANDING), NULL, 10), "currency",
        PQgetvalue(r, row, COL_CURRENCY), "days_overdue", (int)it->days, "disputed",
        PQgetvalue(r, row, COL_DISPUTED)[0] == 't', "priority", (json_int_t)it->priority, "reasons", reasons);
    static const struct {
        const char *key;
        int col;
    } nullable[] = {{"invoice_number", COL_NUMBER},     {"due_date", COL_DUE},
                    {"assigned_to", COL_ASSIGNED},      {"promise_due", COL_PROMISE_DUE},
                    {"pause_reason", COL_PAUSE_REASON}, {"paused_until", COL_PAUSED_UNTIL}};
    for (size_t k = 0; k < sizeof(nullable) / sizeof(nullable[0]); k++)
        json_object_set_new(j, nullable[k].key,
                            PQgetisnull(r, row, nullable[k].col) ? json_null()
                                                                 : json_string(PQgetvalue(r, row, nullable[k].col)));
    json_object_set_new(j, "risk_score", risk < 0 ? json_null() : json_integer(risk));
    return j;
}

static void csv_row(dn_buf_t *b, PGresult *r, const item_t *it)
{
    int row = it->row;
    char num[32];
    snprintf(num, sizeof(num), "%lld", (long long)it->priority);
    csv_field(b, num, 0);
    static const int cols[] = {COL_CASE,  COL_TENANT, COL_INVOICE,  COL_CUSTOMER, COL_STATE,
                               COL_STAGE, COL_OWED,   COL_CURRENCY, COL_DUE,      COL_DAYS};
    for (size_t k = 0; k < sizeof(cols) / sizeof(cols[0]); k++)
        csv_field(b, PQgetvalue(r, row, cols[k]), 0);
    csv_field(b, PQgetvalue(r, row, COL_DISPUTED)[0] == 't' ? "true" : "false", 0);
    csv_field(b, PQgetvalue(r, row, COL_ASSIGNED), 0);
    csv_field(b, PQgetvalue(r, row, COL_PROMISE_DUE), 0);
    const char *risk = PQgetvalue(r, row, COL_RISK);
    csv_field(b, strcmp(risk, "-1") == 0 ? "" : risk, 0);
    dn_buf_t reasons = {0};
    for (size_t k = 0; k < it->nreasons; k++) {
        char one[128];
        int n =
            snprintf(one, sizeof(one), "%s%s (%+d)", k ? "; " : "", it->reasons[k].text, (int)it->reasons[k].points);
        dn_buf_addn(&reasons, one, (size_t)n);
    }
    char *all = dn_buf_take(&reasons, NULL);
    csv_field(b, all ? all : "", 1);
    free(all);
}

static void worklist(dn_web_req_t *req, void *arg)
{
    console_t *c = arg;
    const console_user_t *u = dn_web_user(req);
    const char *params[10] = {u->tenants};
    char today[16], max[24];
    if (read_filters(req, u, params, today, sizeof(today)) < 0)
        return;
    params[1] = today;
    const char *format = dn_web_query(req, "format");
    int csv = format && strcmp(format, "csv") == 0;
    if (format && !csv && strcmp(format, "json") != 0) {
        dn_web_error(req, 400, "format: json or csv");
        return;
    }
    int bad = 0;
    long limit = query_long(req, "limit", csv ? 1000000 : 50, csv ? 1000000 : 500, &bad);
    long offset = query_long(req, "offset", 0, 100000000, &bad);
    if (bad || limit < 1) {
        dn_web_error(req, 400, "limit: 1 to 500 (csv: any), offset: 0 or more");
        return;
    }
    snprintf(max, sizeof(max), "%lld", (long long)c->cfg.worklist_max + 1);
    params[9] = max;
    PGresult *r = dn_pg_query(c->pg, worklist_sql, 10, params);
    if (!r) {
        console_db_error(c, req);
        return;
    }
    int n = PQntuples(r);
    if (n > c->cfg.worklist_max) {
        PQclear(r);
        dn_web_error(req, 422, "more than %lld open cases match: narrow the list with tenant, state or stage",
                     (long long)c->cfg.worklist_max);
        return;
    }
    item_t *items = calloc((size_t)n + 1, sizeof(*items));
    size_t nitems = 0;
    for (int row = 0; row < n; row++) {
        item_t *it = &items[nitems];
        prio_facts_t f = {
            .currency = PQgetvalue(r, row, COL_CURRENCY),
            .owed_minor = strtoll(PQgetvalue(r, row, COL_OWED), NULL, 10),
            .days_overdue = atoi(PQgetvalue(r, row, COL_DAYS)),
            .stage = atoi(PQgetvalue(r, row, COL_STAGE)),
            .broken_promises = atoi(PQgetvalue(r, row, COL_BROKEN)),
            .callbacks = atoi(PQgetvalue(r, row, COL_CALLBACKS)),
            .disputed = PQgetvalue(r, row, COL_DISPUTED)[0] == 't',
            .risk_score = atoi(PQgetvalue(r, row, COL_RISK)),
        };
        const strategy_t *s = dn_policy_strategy(c->policies, PQgetvalue(r, row, COL_TENANT));
        const char *why;
        if (!dn_priority_listed(s, &f, &why))
            continue;
        it->row = row;
        it->days = f.days_overdue;
        it->owed = f.owed_minor;
        it->case_id = PQgetvalue(r, row, COL_CASE);
        it->priority = dn_priority_score(s, &f, it->reasons, REASONS_MAX, &it->nreasons);
        nitems++;
    }
    qsort(items, nitems, sizeof(*items), by_priority);
    size_t from = (size_t)offset < nitems ? (size_t)offset : nitems;
    size_t to = from + (size_t)limit < nitems ? from + (size_t)limit : nitems;
    if (csv) {
        dn_buf_t b = {0};
        static const char header[] = "priority,case_id,tenant_id,invoice_id,customer_id,state,stage,owed_minor,"
                                     "currency,due_date,days_overdue,disputed,assigned_to,promise_due,risk_score,"
                                     "reasons\r\n";
        dn_buf_addn(&b, header, sizeof(header) - 1);
        for (size_t k = from; k < to; k++)
            csv_row(&b, r, &items[k]);
        size_t len = 0;
        char *data = dn_buf_take(&b, &len);
        if (!data) {
            free(items);
            PQclear(r);
            dn_web_error(req, 500, "out of memory");
            return;
        }
        dn_web_body(req, 200, "text/csv; charset=utf-8", data, len, "attachment; filename=\"worklist.csv\"");
    } else {
        json_t *list = json_array();
        for (size_t k = from; k < to; k++)
            json_array_append_new(list, item_json(r, &items[k]));
        json_t *body = json_pack("{s:I, s:I, s:I, s:s, s:o}", "total", (json_int_t)nitems, "offset", (json_int_t)offset,
                                 "limit", (json_int_t)limit, "today", today, "items", list);
        json_object_set_new(body, "next_offset", to < nitems ? json_integer((json_int_t)to) : json_null());
        dn_web_json(req, 200, body);
    }
    free(items);
    PQclear(r);
}

void worklist_routes(console_t *c)
{
    dn_web_route(c->web, "GET", "/api/worklist", worklist, 0);
}
