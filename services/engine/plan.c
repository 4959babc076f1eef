/* Instalment plans (see workflow.h). A plan is a row of `plans` with its instalments
 * (plan_instalments); its case waits in `on_plan`, where the invoice's stages do not fire
 * and its interest stops (the plan's fee and interest are added once, when it is agreed).
 * The case's one timer ('plan') is the next of: the plan's next reminder for the oldest
 * open instalment (policy plan.stages, offsets from the instalment's due date), or the end
 * of that instalment's tolerance, when an instalment still unpaid breaks the plan. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "risk.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_plan.h"
#include "dn_rules.h"
#include "reminders.h"
#include "validate.h"
#include "workflow.h"
#include "writes.h"

#define PLAN_MAX DN_PLAN_MAX

typedef struct plan {
    char id[DN_UUID_STR_LEN];
    int reminded; /* plan stages sent for the oldest open instalment */
    int n;
    int32_t due[PLAN_MAX];
    int64_t amount[PLAN_MAX], paid[PLAN_MAX];
} plan_t;

/* The case's active plan with its instalments, locked. 1 found, 0 none, -1 error. */
static int load_plan(engine_t *e, const char *case_id, plan_t *p)
{
    const char *params[] = {case_id};
    PGresult *r = query(e,
                        "SELECT p.plan_id, p.reminded, i.number, i.due_date - date '1970-01-01', i.amount_minor, "
                        "i.paid_minor FROM plans p JOIN plan_instalments i USING (plan_id) WHERE p.case_id = $1 AND "
                        "p.state = 'active' ORDER BY i.number FOR UPDATE OF p, i",
                        1, params);
    if (!r)
        return -1;
    int rows = PQntuples(r);
    p->n = 0;
    for (int i = 0; i < rows && i < PLAN_MAX; i++) {
        if (i == 0) {
            snprintf(p->id, sizeof(p->id), "%s", PQgetvalue(r, 0, 0));
            p->reminded = atoi(PQgetvalue(r, 0, 1));
        }
        p->due[i] = (int32_t)strtol(PQgetvalue(r, i, 3), NULL, 10);
        p->amount[i] = strtoll(PQgetvalue(r, i, 4), NULL, 10);
        p->paid[i] = strtoll(PQgetvalue(r, i, 5), NULL, 10);
        p->n = i + 1;
    }
    PQclear(r);
    return rows > 0;
}

/* The oldest instalment not paid in full (0-based), or -1. */
static int current(const plan_t *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->paid[i] < p->amount[i])
            return i;
    return -1;
}

static int64_t stage_at(const plan_t *p, const policy_t *pol, int k, int j)
{
    return dn_date_to_ms(p->due[k]) + pol->plan.stages[j].offset_ms;
}

/* The day after the instalment's due date plus the tolerance: unpaid then, the plan breaks. */
static int64_t break_at(const plan_t *p, const policy_t *pol, int k)
{
    return dn_date_to_ms(p->due[k] + pol->plan.tolerance_days + 1);
}

/* The case's next plan timer. */
static void plan_schedule(case_row_t *c, const plan_t *p, const policy_t *pol)
{
    int k = current(p);
    snprintf(c->next_action, sizeof(c->next_action), "plan");
    c->next_action_ms = -1;
    if (k < 0)
        return;
    int64_t next = break_at(p, pol, k);
    if (p->reminded < (int)pol->plan.nstages && stage_at(p, pol, k, p->reminded) < next)
        next = stage_at(p, pol, k, p->reminded);
    c->next_action_ms = next;
}

static int set_reminded(engine_t *e, const plan_t *p)
{
    char n[16];
    snprintf(n, sizeof(n), "%d", p->reminded);
    const char *params[] = {p->id, n};
    PGresult *r = query(e, "UPDATE plans SET reminded = $2 WHERE plan_id = $1", 2, params);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

/* Sets the plan's end state; completed and broken move the customer's record. */
static int close_plan(engine_t *e, const case_row_t *c, const char *plan_id, const char *state, int64_t now)
{
    char at[40];
    dn_time_format(now, at, sizeof(at));
    const char *params[] = {plan_id, state, at};
    PGresult *r = query(e, "UPDATE plans SET state = $2, closed_at = $3 WHERE plan_id = $1", 3, params);
    if (!r)
        return -1;
    PQclear(r);
    int completed = strcmp(state, "completed") == 0, broken = strcmp(state, "broken") == 0;
    if (!completed && !broken)
        return 0;
    risk_behaviour_changed(e, c->tenant_id, c->customer_id); /* risk.h */
    const char *bp[] = {c->tenant_id, c->customer_id, completed ? "1" : "0", broken ? "1" : "0"};
    r = query(e,
              "INSERT INTO customer_behaviour (tenant_id, customer_id, plans_completed, plans_broken) VALUES ($1, "
              "$2, $3, $4) ON CONFLICT (tenant_id, customer_id) DO UPDATE SET plans_completed = "
              "customer_behaviour.plans_completed + EXCLUDED.plans_completed, plans_broken = "
              "customer_behaviour.plans_broken + EXCLUDED.plans_broken",
              4, bp);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static json_t *instalments_json(const plan_t *p)
{
    json_t *a = json_array();
    for (int i = 0; i < p->n; i++) {
        char d[16];
        dn_date_format(p->due[i], d, sizeof(d));
        json_array_append_new(a, json_pack("{s:i, s:s, s:I, s:I}", "number", i + 1, "due_date", d, "amount_minor",
                                           (json_int_t)p->amount[i], "paid_minor", (json_int_t)p->paid[i]));
    }
    return a;
}

int plan_command(engine_t *e, case_row_t *c, const policy_t *pol, const dn_case_command_t *v, int64_t now)
{
    int32_t today = dn_date_from_ms(now);
    case_state_t to;
    if (!pol->plan.offered)
        return reject(e, "policy_limit", "policy %s offers no instalment plans (no plan: key)", pol->name);
    if (dn_fsm_next(state_of(c), EV_PLAN, ST_OPEN, &to) < 0)
        return reject(e, "invalid_state", "cannot agree an instalment plan for the case of invoice %.64s: it is %s",
                      c->invoice_id, c->state);
    size_t n = v->instalments_n;
    dn_plan_t want = {.n = n > INT_MAX ? INT_MAX : (int)n}; /* over PLAN_MAX: refused before it is read */
    for (size_t i = 0; i < n && i < PLAN_MAX; i++) {
        want.due[i] = v->instalments[i].due_date;
        want.amount[i] = v->instalments[i].amount_minor;
    }
    accrue(c, pol, now);
    dn_plan_cost_t cost;
    const char *code = NULL;
    char why[sizeof(e->reject_reason)];
    if (dn_plan_check(&pol->plan, c->currency, c->outstanding, total_due(c), today, &want, &cost, &code, why,
                      sizeof(why)) < 0)
        return reject(e, code, "%s", why);
    plan_t p = {.n = want.n};
    snprintf(p.id, sizeof(p.id), "%s", v->event_id);
    memcpy(p.due, want.due, sizeof(p.due[0]) * (size_t)p.n);
    memcpy(p.amount, want.amount, sizeof(p.amount[0]) * (size_t)p.n);
    int64_t interest = cost.interest, fee = cost.fee, total = cost.total;

    int pending = v->channel && strcmp(v->channel, "portal") == 0 && n > (size_t)pol->plan.auto_approve_max;
    char at[40], tot[24], fee_t[24], int_t[24];
    dn_time_format(now, at, sizeof(at));
    fmt_i64(tot, sizeof(tot), total);
    fmt_i64(fee_t, sizeof(fee_t), fee);
    fmt_i64(int_t, sizeof(int_t), interest);
    const char *rp[] = {c->case_id, at};
    PGresult *r =
        query(e, "UPDATE plans SET state = 'replaced', closed_at = $2 WHERE case_id = $1 AND state = 'pending'", 2, rp);
    if (!r)
        return H_DBERR;
    PQclear(r);
    const char *pp[] = {p.id,
                        c->case_id,
                        c->tenant_id,
                        c->customer_id,
                        c->invoice_id,
                        c->currency,
                        tot,
                        fee_t,
                        int_t,
                        pending ? "pending" : "active",
                        v->channel,
                        v->actor,
                        at};
    r = query(e,
              "INSERT INTO plans (plan_id, case_id, tenant_id, customer_id, invoice_id, currency, total_minor, "
              "fee_minor, interest_minor, state, channel, actor, agreed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
              "$9, $10, $11, $12, $13)",
              13, pp);
    if (!r)
        return H_DBERR;
    PQclear(r);
    for (int i = 0; i < p.n; i++) {
        char num[16], due[16], amt[24];
        snprintf(num, sizeof(num), "%d", i + 1);
        dn_date_format(p.due[i], due, sizeof(due));
        fmt_i64(amt, sizeof(amt), p.amount[i]);
        const char *ip[] = {p.id, num, due, amt};
        r = query(e, "INSERT INTO plan_instalments (plan_id, number, due_date, amount_minor) VALUES ($1, $2, $3, $4)",
                  4, ip);
        if (!r)
            return H_DBERR;
        PQclear(r);
    }
    json_t *detail =
        json_pack("{s:s, s:I, s:I, s:I, s:o}", "plan_id", p.id, "total_minor", (json_int_t)total, "fee_minor",
                  (json_int_t)fee, "interest_minor", (json_int_t)interest, "instalments", instalments_json(&p));
    if (v->channel)
        json_object_set_new(detail, "channel", json_string(v->channel));
    if (v->actor)
        json_object_set_new(detail, "actor", json_string(v->actor));
    char from[32];
    snprintf(from, sizeof(from), "%s", c->state);
    if (pending) { /* waits for a collector's plan command; dunning goes on meanwhile */
        json_object_set_new(detail, "waits_for", json_string("a collector's approval (plan.auto_approve_max)"));
        return record(e, c, "plan_requested", from, NULL, v->event_id, now, detail) < 0 ? H_DBERR : H_OK;
    }
    if (state_of(c) == ST_PROMISED && promise_replaced(e, c, v->event_id, now) != H_OK) {
        json_decref(detail);
        return H_DBERR;
    }
    if (state_of(c) != ST_PROMISED)
        snprintf(c->paused_from, sizeof(c->paused_from), "%s", c->state);
    transition(c, EV_PLAN);
    snprintf(c->pause_reason, sizeof(c->pause_reason), "instalment_plan");
    c->paused_until = -1;
    c->fee += fee;
    c->fees_charged += fee;
    c->interest_micro += interest * RULES_MICRO;
    accrue(c, pol, now); /* on_plan: no new interest, the plan's is added */
    c->offer_until = -1; /* the plan replaces an early-settlement offer */
    c->offer_due = 0;
    plan_schedule(c, &p, pol);
    if (save_case(e, c, NULL, now) < 0 || record(e, c, "plan_agreed", from, NULL, v->event_id, now, detail) < 0)
        return H_DBERR;
    dn_log_info("instalment plan agreed", "tenant_id", c->tenant_id, "invoice_id", c->invoice_id, "plan_id", p.id,
                NULL);
    return H_OK;
}

/* A missed instalment: the plan breaks, the remaining balance goes back to the invoice's
 * dunning at the stage it held (or its final notice), at once. */
static int plan_break(engine_t *e, case_row_t *c, const policy_t *pol, plan_t *p, int k, const char *caused_by,
                      int64_t now)
{
    char from[32];
    snprintf(from, sizeof(from), "%s", c->state);
    if (close_plan(e, c, p->id, "broken", now) < 0)
        return H_DBERR;
    accrue(c, pol, now);
    if (pol->plan.on_break == PLAN_BREAK_FINAL_NOTICE) {
        for (size_t i = 0; i < pol->nstages; i++) {
            const char *a = pol->stages[i].action;
            if (a && strcmp(a, "final_notice") == 0 && (int)i + 1 > c->stage) {
                c->next_stage = (int)i + 1;
                break;
            }
        }
    }
    end_hold(c, pol, now);
    if (strcmp(c->next_action, "stage") == 0 && c->next_stage > 0)
        c->next_action_ms = now; /* that stage, at once (not a catch-up past it: fire_stage) */
    char due[16];
    dn_date_format(p->due[k], due, sizeof(due));
    json_t *detail =
        json_pack("{s:s, s:i, s:s, s:I, s:I, s:s}", "plan_id", p->id, "instalment", k + 1, "due_date", due,
                  "missed_minor", (json_int_t)(p->amount[k] - p->paid[k]), "remaining_minor", (json_int_t)total_due(c),
                  "on_break", pol->plan.on_break == PLAN_BREAK_FINAL_NOTICE ? "final_notice" : "resume");
    if (save_case(e, c, NULL, now) < 0 || record(e, c, "plan_broken", from, NULL, caused_by, now, detail) < 0)
        return H_DBERR;
    dn_log_info("instalment plan broken", "tenant_id", c->tenant_id, "invoice_id", c->invoice_id, "plan_id", p->id,
                NULL);
    return H_OK;
}

int plan_due(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now)
{
    plan_t p;
    char caused_by[DN_UUID_STR_LEN], at[24];
    fmt_i64(at, sizeof(at), c->next_action_ms);
    const char *parts[] = {"plan-due", c->case_id, at};
    dn_uuid_derive(caused_by, parts, 3);
    int found = load_plan(e, c->case_id, &p);
    if (found < 0)
        return H_DBERR;
    int k = found ? current(&p) : -1;
    if (k < 0) { /* no active plan, or nothing left on it (never written so): dun on */
        char from[32];
        snprintf(from, sizeof(from), "%s", c->state);
        end_hold(c, pol, now);
        return save_case(e, c, NULL, now) < 0 ||
                       record(e, c, "resumed", from, "no active plan", caused_by, now, NULL) < 0
                   ? H_DBERR
                   : H_OK;
    }
    if (now >= break_at(&p, pol, k))
        return plan_break(e, c, pol, &p, k, caused_by, now);
    /* The latest of the instalment's reminders that is due (never a burst). */
    int j = -1;
    for (int s = p.reminded; s < (int)pol->plan.nstages && stage_at(&p, pol, k, s) <= now; s++)
        j = s;
    if (j >= 0) {
        const stage_t *st = &pol->plan.stages[j];
        char salt[DN_UUID_STR_LEN + 48];
        snprintf(salt, sizeof(salt), "plan %s instalment %d stage %d", p.id, k + 1, j + 1);
        dn_instalment_ref_t ref = {
            .number = k + 1, .count = p.n, .amount_minor = p.amount[k], .due_date = p.due[k], .paid_minor = p.paid[k]};
        reminder_spec_t rs = {.stage = j + 1,
                              .stage_name = st->name,
                              .template_key = st->template_key,
                              .channels = st->channels,
                              .nchannels = st->nchannels,
                              .due_ms = stage_at(&p, pol, k, j),
                              .id_salt = salt,
                              .notice_kind = "instalment",
                              .instalment = &ref};
        json_t *emitted = json_array();
        int n = emit_reminders(e, c, pol, &rs, now, emitted);
        if (n < 0) {
            json_decref(emitted);
            return H_DBERR;
        }
        p.reminded = j + 1;
        if (set_reminded(e, &p) < 0) {
            json_decref(emitted);
            return H_DBERR;
        }
        char due[16];
        dn_date_format(p.due[k], due, sizeof(due));
        plan_schedule(c, &p, pol);
        if (save_case(e, c, NULL, now) < 0 ||
            record(e, c, n > 0 ? "instalment_reminder_emitted" : "reminder_undeliverable", c->state,
                   n > 0 ? NULL : "no channel reaches the customer", caused_by, now,
                   json_pack("{s:s, s:s, s:i, s:s, s:I, s:o}", "plan_id", p.id, "stage_name", st->name, "instalment",
                             k + 1, "due_date", due, "amount_minor", (json_int_t)(p.amount[k] - p.paid[k]), "reminders",
                             emitted)) < 0)
            return H_DBERR;
        return H_OK;
    }
    plan_schedule(c, &p, pol); /* early or moved: put the true time back */
    return save_case(e, c, NULL, now) < 0 ? H_DBERR : H_OK;
}

int plan_money(engine_t *e, case_row_t *c, const policy_t *pol, int64_t amount, int settled, const char *caused_by,
               int64_t now)
{
    plan_t p;
    int found = load_plan(e, c->case_id, &p);
    if (found <= 0)
        return found < 0 ? H_DBERR : H_OK;
    int before = current(&p);
    int64_t left = amount;
    for (int i = 0; i < p.n && left > 0; i++) { /* the oldest open instalment first */
        int64_t take = p.amount[i] - p.paid[i];
        if (take <= 0)
            continue;
        if (take > left)
            take = left;
        p.paid[i] += take;
        left -= take;
        char num[16], paid[24];
        snprintf(num, sizeof(num), "%d", i + 1);
        fmt_i64(paid, sizeof(paid), p.paid[i]);
        const char *params[] = {p.id, num, paid};
        PGresult *r =
            query(e, "UPDATE plan_instalments SET paid_minor = $3 WHERE plan_id = $1 AND number = $2", 3, params);
        if (!r)
            return H_DBERR;
        PQclear(r);
    }
    int after = current(&p);
    if (settled || after < 0) {
        if (close_plan(e, c, p.id, "completed", now) < 0)
            return H_DBERR;
        if (!settled) { /* paid off, with something left outside the plan: dun on for it */
            char from[32];
            snprintf(from, sizeof(from), "%s", c->state);
            end_hold(c, pol, now);
            if (save_case(e, c, NULL, now) < 0)
                return H_DBERR;
        }
        return record(e, c, "plan_completed", c->state, NULL, caused_by, now,
                      json_pack("{s:s, s:o}", "plan_id", p.id, "instalments", instalments_json(&p))) < 0
                   ? H_DBERR
                   : H_OK;
    }
    if (after != before) {
        p.reminded = 0; /* the next instalment's reminders */
        if (set_reminded(e, &p) < 0)
            return H_DBERR;
    }
    plan_schedule(c, &p, pol);
    char due[16];
    dn_date_format(p.due[after], due, sizeof(due));
    if (save_case(e, c, NULL, now) < 0 ||
        record(e, c, "instalment_paid", c->state, NULL, caused_by, now,
               json_pack("{s:s, s:I, s:i, s:s, s:I}", "plan_id", p.id, "amount_minor", (json_int_t)amount,
                         "next_instalment", after + 1, "next_due_date", due, "next_open_minor",
                         (json_int_t)(p.amount[after] - p.paid[after]))) < 0)
        return H_DBERR;
    return H_OK;
}

int plan_closed(engine_t *e, const case_row_t *c, int64_t now)
{
    plan_t p;
    int found = load_plan(e, c->case_id, &p);
    if (found <= 0)
        return found < 0 ? H_DBERR : H_OK;
    return close_plan(e, c, p.id, "cancelled", now) < 0 ? H_DBERR : H_OK;
}
