/* GET /api/worklist: the open cases of the user's tenants, ordered by the priority of each
 * tenant's collection strategy (dn_priority.h, docs/policies.md), with its reasons; filters,
 * paging (offset/limit), and ?format=csv.
 *
 * The strategies are compiled once, at start, into SQL for the priority and the listing
 * (worklist_rows.c), which keeps the priority of every open case
 * in console_worklist; a page is then the first rows of its index. The rows of the page get
 * their reasons from dn_priority_score, which must give the same points (a difference is
 * logged as a bug). Equal priorities are ordered by days overdue (the due date), then owed,
 * then case id, so that pages are stable while nothing changes. */
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
    prio_reason_t reasons[REASONS_MAX];
    size_t nreasons;
} item_t;

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
    COL_PRIORITY,
};

/* A page of the worklist's rows (sql/024, worklist_rows.c), in the strategy's order, and
 * the count of all rows the filters let through: $1 the user's tenants, $2 today, $3..$9
 * the filters, $10 limit, $11 offset (the count takes $1..$9). */
#define PAGE_FROM                                                                                                      \
    "FROM console_worklist w LEFT JOIN console_assignments ca ON ca.case_id = w.case_id "                              \
    "WHERE w.listed AND ($1::text[] @> '{*}' OR w.tenant_id = ANY ($1::text[])) "                                      \
    "AND ($2::date IS NOT NULL) AND ($3::text IS NULL OR w.tenant_id = $3) AND ($4::text IS NULL OR w.state = $4) "    \
    "AND ($5::int IS NULL OR w.stage = $5) AND ($6::text IS NULL OR w.channels @> ARRAY[$6::text]) "                   \
    "AND ($7::boolean IS NULL OR w.disputed = $7) AND ($8::text IS NULL OR ($8 = '' AND ca.login IS NULL) OR "         \
    "w.case_id IN (SELECT x.case_id FROM console_assignments x WHERE x.login = $8 AND $8 <> '')) "                     \
    "AND ($9::date IS NULL OR w.promise_due <= $9)"
static const char page_sql[] =
    "SELECT w.case_id, w.tenant_id, w.invoice_id, w.invoice_number, w.customer_id, w.state, w.stage, w.owed_minor, "
    "w.outstanding_minor, w.currency, w.due_date::text, $2::date - w.due_date AS days, w.broken, w.callbacks, "
    "w.disputed, w.risk, ca.login, w.promise_due::text, w.pause_reason, w.paused_until::text, w.priority " PAGE_FROM
    " ORDER BY w.priority DESC, w.due_date, w.owed_minor DESC, w.case_id LIMIT $10 OFFSET $11";
static const char count_sql[] = "SELECT count(*) " PAGE_FROM;

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
    const char *params[11] = {u->tenants};
    char today[16];
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
    long cap = (long)c->cfg.worklist_max;
    long limit = query_long(req, "limit", csv ? cap : 50, csv ? cap : 500, &bad);
    long offset = query_long(req, "offset", 0, 100000000, &bad);
    if (bad || limit < 1) {
        dn_web_error(req, 400, "limit: 1 to 500 (csv: to %ld), offset: 0 or more", cap);
        return;
    }
    char lim[24], off[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    snprintf(off, sizeof(off), "%ld", offset);
    params[9] = lim;
    params[10] = off;
    worklist_sync(c, 1); /* a failure is logged; the rows are then those of the last sync */
    PGresult *r = NULL, *cr = NULL;
    for (int pass = 0; pass < 2; pass++) {
        PQclear(r);
        if (!(r = dn_pg_query(c->pg, page_sql, 11, params)))
            break;
        if (pass > 0 || PQntuples(r) == 0)
            break;
        /* The page's rows checked against their cases; read again if one changed. */
        dn_buf_t ids = {0};
        for (int row = 0; row < PQntuples(r); row++) {
            dn_buf_add(&ids, row ? "," : "{");
            dn_buf_add(&ids, PQgetvalue(r, row, COL_CASE));
        }
        dn_buf_add(&ids, "}");
        char *lit = dn_buf_take(&ids, NULL);
        long changed = lit ? worklist_refresh(c, lit) : -1;
        free(lit);
        if (changed <= 0)
            break;
    }
    if (!r || !(cr = dn_pg_query(c->pg, count_sql, 9, params))) {
        PQclear(r);
        console_db_error(c, req);
        return;
    }
    int n = PQntuples(r);
    size_t nitems = (size_t)strtoll(PQgetvalue(cr, 0, 0), NULL, 10);
    PQclear(cr);
    item_t *items = calloc((size_t)n + 1, sizeof(*items));
    for (int row = 0; row < n; row++) {
        item_t *it = &items[row];
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
        it->row = row;
        it->days = f.days_overdue;
        it->owed = f.owed_minor;
        it->priority = dn_priority_score(s, &f, it->reasons, REASONS_MAX, &it->nreasons);
        if (it->priority != strtoll(PQgetvalue(r, row, COL_PRIORITY), NULL, 10))
            dn_log_error("worklist priority differs between the query and dn_priority", "case_id",
                         PQgetvalue(r, row, COL_CASE), "tenant_id", PQgetvalue(r, row, COL_TENANT), NULL);
    }
    if (csv) {
        dn_buf_t b = {0};
        static const char header[] = "priority,case_id,tenant_id,invoice_id,customer_id,state,stage,owed_minor,"
                                     "currency,due_date,days_overdue,disputed,assigned_to,promise_due,risk_score,"
                                     "reasons\r\n";
        dn_buf_addn(&b, header, sizeof(header) - 1);
        for (int k = 0; k < n; k++)
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
        for (int k = 0; k < n; k++)
            json_array_append_new(list, item_json(r, &items[k]));
        size_t next = (size_t)offset + (size_t)n;
        json_t *body = json_pack("{s:I, s:I, s:I, s:s, s:o}", "total", (json_int_t)nitems, "offset", (json_int_t)offset,
                                 "limit", (json_int_t)limit, "today", today, "items", list);
        json_object_set_new(body, "next_offset", next < nitems ? json_integer((json_int_t)next) : json_null());
        if (n == 0 && offset > 0) /* past the end: the count came with the rows, there are none */
            json_object_set_new(body, "total", json_null());
        dn_web_json(req, 200, body);
    }
    free(items);
    PQclear(r);
}

void worklist_routes(console_t *c)
{
    dn_web_route(c->web, "GET", "/api/worklist", worklist, 0);
}
