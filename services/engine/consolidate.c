/* Customer-level (consolidated) notices (see consolidate.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "consolidate.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_rules.h"
#include "effects.h"
#include "reminders.h"
#include "stage.h"
#include "dn_pgarray.h"
#include "writes.h"

enum { MAX_ITEMS = 500 }; /* a customer with more open invoices gets the oldest 500 listed */

static void notice_id_for(const case_row_t *c, int32_t day, char out[DN_UUID_STR_LEN])
{
    char date[16];
    dn_date_format(day, date, sizeof(date));
    const char *parts[] = {"customer-notice", c->tenant_id, c->customer_id, c->currency, date};
    dn_uuid_derive(out, parts, 5);
}

int notice_join(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now)
{
    /* A case that cannot take its stage now (held, retrying, past it) goes the usual way:
     * stage_begin then does nothing but set its own timer. */
    case_row_t probe = *c;
    int stage = c->next_stage;
    if (stage < 1 || stage > (int)pol->nstages || stage_probe(&probe, pol) < 0) {
        stage_fire_t sf;
        int rc = stage_begin(e, c, pol, now, 1, &sf);
        return rc == 1 ? H_DBERR : rc; /* 1 is impossible: the probe said no */
    }
    int32_t today = dn_date_from_ms(now);
    char id[DN_UUID_STR_LEN], at[40], due_txt[40], date[16];
    dn_time_format(now, at, sizeof(at));
    for (int k = 0; k < 2; k++) {
        /* Today's notice, or tomorrow's when today's has gone out already. */
        int64_t due = k == 0 ? now + pol->consolidate_window_ms : dn_date_to_ms(today + 1) + pol->consolidate_window_ms;
        notice_id_for(c, today + k, id);
        dn_time_format(due, due_txt, sizeof(due_txt));
        dn_date_format(today + k, date, sizeof(date));
        const char *params[] = {id, c->tenant_id, c->customer_id, c->currency, pol->name, date, due_txt, at};
        PGresult *r = query(e,
                            "INSERT INTO notices (notice_id, kind, tenant_id, customer_id, currency, policy, "
                            "notice_date, due_at, created_at, updated_at) VALUES ($1, 'customer_notice', $2, $3, "
                            "$4, $5, $6, $7, $8, $8) ON CONFLICT (notice_id) DO UPDATE SET updated_at = "
                            "notices.updated_at RETURNING state, (xmax = 0)",
                            8, params);
        if (!r)
            return H_DBERR;
        int pending = strcmp(PQgetvalue(r, 0, 0), "pending") == 0;
        int inserted = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
        PQclear(r);
        if (inserted)
            engine_timer_op(e, id, due);
        if (pending)
            break;
        if (k == 1)
            return H_DBERR; /* tomorrow's notice cannot have gone out today */
    }
    /* The stage's time stays in next_action_at (a moved stage is still told apart), but
     * the case has no timer of its own: the notice's fires it (case.c save_case). */
    snprintf(c->next_action, sizeof(c->next_action), "notice");
    if (save_case(e, c, NULL, now) < 0 ||
        record(e, c, "notice_pending", c->state, NULL, NULL, now,
               json_pack("{s:s, s:s}", "notice_id", id, "stage_name", pol->stages[stage - 1].name)) < 0)
        return H_DBERR;
    return H_OK;
}

/* Why a listed invoice is not dunned by the notice, or NULL when it is. */
static const char *not_dunned(const case_row_t *c)
{
    switch (state_of(c)) {
    case ST_PROMISED:
        return "promise";
    case ST_ON_PLAN:
        return "plan";
    case ST_PAUSED:
        return strcmp(c->pause_reason, "dispute") == 0 ? "dispute" : "paused";
    default:
        return NULL;
    }
}

typedef struct notice_case {
    case_row_t c;
    const policy_t *pol;
    int waiting, fired;
    stage_fire_t sf;
} notice_case_t;

int customer_notice_due(engine_t *e, const notice_row_t *n, int64_t now)
{
    int rc = H_DBERR;
    notice_case_t *cs = NULL;
    dn_notice_item_t *items = NULL;
    size_t ncs = 0, nitems = 0;
    json_t *emitted = NULL;
    const policy_t *npol = dn_policy_find(e->policies, n->tenant_id, n->policy);
    if (!npol)
        npol = dn_policy_select(e->policies, n->tenant_id, NULL, NULL);
    int32_t today = dn_date_from_ms(now);
    const char *params[] = {n->tenant_id, n->customer_id, n->currency};
    PGresult *r = query(e,
                        "SELECT c.case_id FROM cases c JOIN invoices i USING (tenant_id, invoice_id) WHERE "
                        "c.tenant_id = $1 AND c.customer_id = $2 AND c.currency = $3 AND c.state NOT IN "
                        "('resolved', 'written_off') ORDER BY i.due_date, c.invoice_id LIMIT 500",
                        3, params);
    if (!r)
        return H_DBERR;
    int rows = PQntuples(r);
    cs = calloc(rows ? (size_t)rows : 1, sizeof(*cs));
    if (!cs) {
        PQclear(r);
        return H_DBERR;
    }
    int64_t dunned_total = 0;
    int nwaiting = 0;
    for (int i = 0; i < rows; i++) {
        notice_case_t *x = &cs[ncs];
        int found = load_case(e, PQgetvalue(r, i, 0), &x->c);
        if (found < 0) {
            PQclear(r);
            goto out;
        }
        if (!found)
            continue;
        x->pol = case_policy(e, &x->c);
        if (x->pol->consolidate != CONSOLIDATE_CUSTOMER)
            continue; /* dunned per invoice: not on the customer's notice */
        x->waiting = strcmp(x->c.next_action, "notice") == 0;
        if (!x->waiting && x->c.due_date >= today)
            continue; /* not overdue: not listed */
        if (!not_dunned(&x->c))
            dunned_total += x->c.outstanding;
        nwaiting += x->waiting;
        ncs++;
    }
    PQclear(r);
    json_t *ids = json_array();
    for (size_t i = 0; i < ncs; i++)
        if (cs[i].waiting)
            json_array_append_new(ids, json_string(cs[i].c.invoice_id));
    if (nwaiting == 0) {
        json_decref(ids);
        rc = notice_close(e, n, "dropped", json_pack("{s:s}", "reason", "no stage waits for the notice any more"),
                          now) < 0
                 ? H_DBERR
                 : H_OK;
        goto out;
    }
    int64_t min = dn_policy_money_for(&npol->min_amount, n->currency);
    if (!dn_rules_above_minimum(dunned_total, min)) {
        /* Lago's threshold: the customer's overdue total, not each invoice. The cases keep
         * waiting: the next stage due for any of them puts them all on a notice again. */
        for (size_t i = 0; i < ncs; i++)
            if (cs[i].waiting &&
                record(e, &cs[i].c, "below_minimum", cs[i].c.state,
                       "the customer's overdue total is below the policy minimum", NULL, now,
                       json_pack("{s:I, s:I, s:s}", "min_amount_minor", (json_int_t)min, "customer_total_minor",
                                 (json_int_t)dunned_total, "notice_id", n->notice_id)) < 0) {
                json_decref(ids);
                goto out;
            }
        rc = notice_close(e, n, "dropped",
                          json_pack("{s:s, s:I, s:o}", "reason", "below_minimum", "customer_total_minor",
                                    (json_int_t)dunned_total, "waiting", ids),
                          now) < 0
                 ? H_DBERR
                 : H_OK;
        goto out;
    }
    json_decref(ids);
    /* Every waiting case takes its stage: fee, catch-up, the state machine's step. */
    int nfired = 0, lead = -1, level = 0;
    for (size_t i = 0; i < ncs; i++) {
        notice_case_t *x = &cs[i];
        if (!x->waiting)
            continue;
        int s = stage_begin(e, &x->c, x->pol, now, 1, &x->sf);
        if (s == H_DBERR)
            goto out;
        x->fired = s == 1;
        nfired += x->fired;
        if (x->fired)
            lead = (int)i; /* the newest due date: its invoice has the latest contact details */
    }
    if (nfired == 0) {
        rc = notice_close(e, n, "dropped", json_pack("{s:s}", "reason", "no stage to send"), now) < 0 ? H_DBERR : H_OK;
        goto out;
    }
    items = calloc(ncs, sizeof(*items));
    if (!items)
        goto out;
    int64_t tot[5] = {0};
    const notice_case_t *top = NULL;
    for (size_t i = 0; i < ncs; i++) {
        notice_case_t *x = &cs[i];
        if (is_resolved(x->c.state) || strcmp(x->c.state, "written_off") == 0)
            continue;
        case_row_t v = x->c;
        if (!x->fired)
            accrue(&v, x->pol, now); /* its interest to today, for the listing only */
        const char *why = not_dunned(&v);
        dn_notice_item_t *it = &items[nitems++];
        *it = (dn_notice_item_t){
            .invoice_id = x->c.invoice_id,
            .due_date = v.due_date,
            .days_overdue = today - v.due_date,
            .stage = v.stage,
            .stage_name = v.stage >= 1 && v.stage <= (int)x->pol->nstages ? x->pol->stages[v.stage - 1].name : "",
            .outstanding_minor = v.outstanding,
            .fee_minor = v.fee,
            .interest_minor = v.interest,
            .total_due_minor = total_due(&v),
            .dunned = why == NULL,
            .not_dunned_reason = (char *)why};
        if (why)
            continue;
        tot[0] += v.amount;
        tot[1] += v.outstanding;
        tot[2] += v.fee;
        tot[3] += v.interest;
        tot[4] += total_due(&v);
        if (v.stage > level) {
            level = v.stage;
            top = x;
        }
    }
    /* The invoice numbers, from the stored invoices. */
    dn_pgarray_t inv = {0};
    for (size_t i = 0; i < nitems; i++)
        dn_pgarray_add(&inv, items[i].invoice_id);
    const char *ip[] = {n->tenant_id, dn_pgarray_text(&inv)};
    r = query(e,
              "SELECT i.invoice_number FROM unnest($2::text[]) WITH ORDINALITY AS u (id, k) LEFT JOIN invoices i ON "
              "i.tenant_id = $1 AND i.invoice_id = u.id ORDER BY u.k",
              2, ip);
    dn_pgarray_free(&inv);
    if (!r)
        goto out;
    char **numbers = calloc(nitems ? nitems : 1, sizeof(char *));
    for (size_t i = 0; numbers && i < nitems && (int)i < PQntuples(r); i++)
        if (!PQgetisnull(r, (int)i, 0))
            items[i].invoice_number = numbers[i] = strdup(PQgetvalue(r, (int)i, 0));
    PQclear(r);
    const stage_t *st = top ? &top->pol->stages[top->c.stage - 1] : cs[lead].sf.st;
    char salt[32];
    dn_date_format(n->notice_date, salt, sizeof(salt));
    reminder_spec_t rs = {.stage = top ? top->c.stage : cs[lead].sf.stage,
                          .stage_name = st->name,
                          .template_key = "customer_notice",
                          .action = st->action,
                          .channels = st->channels,
                          .nchannels = st->nchannels,
                          .due_ms = now,
                          .id_salt = salt,
                          .notice_kind = "customer_notice",
                          .notice_id = n->notice_id,
                          .totals = tot,
                          .items = items,
                          .nitems = nitems};
    emitted = json_array();
    int sent = emit_reminders(e, &cs[lead].c, npol, &rs, now, emitted);
    for (size_t i = 0; i < nitems; i++)
        free(numbers ? numbers[i] : NULL);
    free(numbers);
    if (sent < 0)
        goto out;
    for (size_t i = 0; i < ncs; i++)
        if (cs[i].fired &&
            stage_end(e, &cs[i].c, cs[i].pol, now, &cs[i].sf, sent, json_deep_copy(emitted), n->notice_id) != H_OK)
            goto out;
    json_t *listed = json_array();
    for (size_t i = 0; i < nitems; i++)
        json_array_append_new(listed, json_pack("{s:s, s:i, s:b, s:I}", "invoice_id", items[i].invoice_id, "stage",
                                                (int)items[i].stage, "dunned", items[i].dunned, "total_due_minor",
                                                (json_int_t)items[i].total_due_minor));
    if (notice_close(e, n, sent > 0 ? "sent" : "undeliverable",
                     json_pack("{s:o, s:i, s:I, s:O}", "items", listed, "level", level, "total_due_minor",
                               (json_int_t)tot[4], "reminders", emitted),
                     now) < 0)
        goto out;
    dn_log_info("customer notice", "tenant_id", n->tenant_id, "notice_id", n->notice_id, "state",
                sent > 0 ? "sent" : "undeliverable", NULL);
    rc = H_OK;
out:
    json_decref(emitted);
    free(items);
    free(cs);
    return rc;
}
