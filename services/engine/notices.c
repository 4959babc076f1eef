/* The notices store (see notices.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_clock.h"
#include "dn_log.h"
#include "effects.h"
#include "notices.h"
#include "writes.h"

int load_notice(engine_t *e, const char *notice_id, notice_row_t *n)
{
    const char *params[] = {notice_id};
    PGresult *r = query(e,
                        "SELECT notice_id, kind, state, tenant_id, customer_id, coalesce(currency, ''), policy, "
                        "coalesce(payment_method_id, ''), (notice_date - date '1970-01-01'), coalesce(days_before, 0), "
                        "coalesce((extract(epoch from due_at) * 1000)::bigint, -1) FROM notices WHERE notice_id = $1 "
                        "FOR UPDATE",
                        1, params);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found) {
        memset(n, 0, sizeof(*n));
        snprintf(n->notice_id, sizeof(n->notice_id), "%s", PQgetvalue(r, 0, 0));
        snprintf(n->kind, sizeof(n->kind), "%s", PQgetvalue(r, 0, 1));
        snprintf(n->state, sizeof(n->state), "%s", PQgetvalue(r, 0, 2));
        snprintf(n->tenant_id, sizeof(n->tenant_id), "%s", PQgetvalue(r, 0, 3));
        snprintf(n->customer_id, sizeof(n->customer_id), "%s", PQgetvalue(r, 0, 4));
        snprintf(n->currency, sizeof(n->currency), "%s", PQgetvalue(r, 0, 5));
        snprintf(n->policy, sizeof(n->policy), "%s", PQgetvalue(r, 0, 6));
        snprintf(n->payment_method_id, sizeof(n->payment_method_id), "%s", PQgetvalue(r, 0, 7));
        n->notice_date = (int32_t)atoi(PQgetvalue(r, 0, 8));
        n->days_before = (int32_t)atoi(PQgetvalue(r, 0, 9));
        n->due_ms = strtoll(PQgetvalue(r, 0, 10), NULL, 10);
    }
    PQclear(r);
    return found;
}

int notice_close(engine_t *e, const notice_row_t *n, const char *state, json_t *detail, int64_t now)
{
    char at[40];
    dn_time_format(now, at, sizeof(at));
    char *txt = json_dumps(detail ? detail : json_object(), JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(detail);
    const char *params[] = {n->notice_id, state, txt, at};
    PGresult *r = query(e,
                        "UPDATE notices SET state = $2, due_at = NULL, detail = detail || $3::jsonb, updated_at = $4 "
                        "WHERE notice_id = $1",
                        4, params);
    free(txt);
    if (!r)
        return -1;
    PQclear(r);
    engine_timer_op(e, n->notice_id, -1);
    return 0;
}

int notice_record(engine_t *e, const notice_row_t *n, const char *kind, const char *reason, const char *caused_by,
                  int64_t now, json_t *detail)
{
    case_row_t c;
    memset(&c, 0, sizeof(c));
    snprintf(c.case_id, sizeof(c.case_id), "%s", n->notice_id);
    snprintf(c.tenant_id, sizeof(c.tenant_id), "%s", n->tenant_id);
    snprintf(c.customer_id, sizeof(c.customer_id), "%s", n->customer_id);
    snprintf(c.currency, sizeof(c.currency), "%s", n->currency);
    snprintf(c.state, sizeof(c.state), "%s", n->state);
    if (!detail)
        detail = json_object();
    json_object_set_new(detail, "notice_kind", json_string(n->kind));
    return record(e, &c, kind, n->state, reason, caused_by, now, detail);
}

int customer_contact_case(engine_t *e, const char *tenant, const char *customer, case_row_t *c)
{
    const char *params[] = {tenant, customer};
    PGresult *r = query(e,
                        "SELECT c.case_id, c.invoice_id, c.policy, c.currency FROM cases c JOIN invoices i USING "
                        "(tenant_id, invoice_id) WHERE c.tenant_id = $1 AND c.customer_id = $2 "
                        "ORDER BY i.issue_date DESC, c.opened_at DESC LIMIT 1",
                        2, params);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found) {
        memset(c, 0, sizeof(*c));
        snprintf(c->case_id, sizeof(c->case_id), "%s", PQgetvalue(r, 0, 0));
        snprintf(c->tenant_id, sizeof(c->tenant_id), "%s", tenant);
        snprintf(c->customer_id, sizeof(c->customer_id), "%s", customer);
        snprintf(c->invoice_id, sizeof(c->invoice_id), "%s", PQgetvalue(r, 0, 1));
        snprintf(c->policy, sizeof(c->policy), "%s", PQgetvalue(r, 0, 2));
        snprintf(c->currency, sizeof(c->currency), "%s", PQgetvalue(r, 0, 3));
    }
    PQclear(r);
    return found;
}
