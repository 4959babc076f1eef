/* Promises to pay (see workflow.h). A promise is a row of `promises` and the cases it covers
 * (promise_cases); each covered case waits in state `promised` with a 'promise' timer at
 * the day after the promised date plus the policy's grace. Money on a covered case counts
 * towards the promise; the promised amount arriving keeps it (the hold ends, dunning goes on
 * for what may be left), the timer firing first breaks it (or keeps it partially): the hold
 * ends and the next stage fires at once. A rejected command changes nothing: the caller
 * rolls back to the record's savepoint. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "risk.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_rules.h"
#include "validate.h"
#include "workflow.h"
#include "writes.h"

/* States a promise can cover (active, or under an earlier promise it replaces). */
#define PROMISABLE "('open', 'pre_due_reminded', 'overdue', 'final_notice', 'retrying', 'promised')"

typedef struct promise {
    char id[DN_UUID_STR_LEN];
    int64_t amount, paid;
    int32_t promised_for, hold_until;
    int level;
} promise_t;

/* The open promise covering a case, locked. 1 found, 0 none, -1 error. */
static int open_promise(engine_t *e, const char *case_id, promise_t *p)
{
    const char *params[] = {case_id};
    PGresult *r = query(e,
                        "SELECT p.promise_id, p.amount_minor, p.paid_minor, p.promised_for - date '1970-01-01', "
                        "p.hold_until - date '1970-01-01', p.level FROM promises p JOIN promise_cases pc USING "
                        "(promise_id) WHERE pc.case_id = $1 AND p.state = 'open' FOR UPDATE OF p",
                        1, params);
    if (!r)
        return -1;
    int found = PQntuples(r) > 0;
    if (found) {
        snprintf(p->id, sizeof(p->id), "%s", PQgetvalue(r, 0, 0));
        p->amount = strtoll(PQgetvalue(r, 0, 1), NULL, 10);
        p->paid = strtoll(PQgetvalue(r, 0, 2), NULL, 10);
        p->promised_for = (int32_t)strtol(PQgetvalue(r, 0, 3), NULL, 10);
        p->hold_until = (int32_t)strtol(PQgetvalue(r, 0, 4), NULL, 10);
        p->level = atoi(PQgetvalue(r, 0, 5));
    }
    PQclear(r);
    return found;
}

static json_t *promise_json(const promise_t *p, const char *fate)
{
    char d[16];
    dn_date_format(p->promised_for, d, sizeof(d));
    return json_pack("{s:s, s:I, s:I, s:s, s:i, s:s}", "promise_id", p->id, "amount_minor", (json_int_t)p->amount,
                     "paid_minor", (json_int_t)p->paid, "promised_for", d, "level", p->level, "fate", fate);
}

/* Sets the promise's fate and moves the customer's record of kept and broken promises. */
static int close_promise(engine_t *e, const promise_t *p, const case_row_t *c, const char *fate, int64_t now)
{
    char at[40], paid[24];
    dn_time_format(now, at, sizeof(at));
    fmt_i64(paid, sizeof(paid), p->paid);
    const char *params[] = {p->id, fate, at, paid};
    PGresult *r =
        query(e, "UPDATE promises SET state = $2, closed_at = $3, paid_minor = $4 WHERE promise_id = $1", 4, params);
    if (!r)
        return -1;
    PQclear(r);
    if (strcmp(fate, "withdrawn") == 0)
        return 0;
    risk_behaviour_changed(e, c->tenant_id, c->customer_id); /* risk.h */
    const char *bp[] = {c->tenant_id, c->customer_id, strcmp(fate, "kept") == 0 ? "1" : "0",
                        strcmp(fate, "partially_kept") == 0 ? "1" : "0", strcmp(fate, "broken") == 0 ? "1" : "0"};
    r = query(e,
              "INSERT INTO customer_behaviour (tenant_id, customer_id, promises_kept, promises_partially_kept, "
              "promises_broken) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, customer_id) DO UPDATE SET "
              "promises_kept = customer_behaviour.promises_kept + EXCLUDED.promises_kept, promises_partially_kept "
              "= customer_behaviour.promises_partially_kept + EXCLUDED.promises_partially_kept, promises_broken = "
              "customer_behaviour.promises_broken + EXCLUDED.promises_broken",
              5, bp);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

/* Ends the hold of one case of the promise (if it is still promised): back to the state
 * it was held in; a broken or partly kept promise fires the next stage at once. */
static int release_case(engine_t *e, case_row_t *c, const promise_t *p, const char *fate, const char *caused_by,
                        int64_t now)
{
    if (state_of(c) != ST_PROMISED)
        return H_OK;
    const policy_t *pol = case_policy(e, c);
    char from[32], kind[48];
    snprintf(from, sizeof(from), "%s", c->state);
    accrue(c, pol, now);
    end_hold(c, pol, now);
    int escalate = strcmp(fate, "broken") == 0 || strcmp(fate, "partially_kept") == 0;
    if (escalate && strcmp(c->next_action, "stage") == 0 && c->next_stage > 0)
        c->next_action_ms = now; /* the next stage, at once (not a catch-up past it: fire_stage) */
    snprintf(kind, sizeof(kind), "promise_%s", fate);
    if (save_case(e, c, NULL, now) < 0 || record(e, c, kind, from, NULL, caused_by, now, promise_json(p, fate)) < 0)
        return H_DBERR;
    dn_log_info("promise closed", "tenant_id", c->tenant_id, "invoice_id", c->invoice_id, "case_id", c->case_id, "fate",
                fate, "state", c->state, NULL);
    return H_OK;
}

/* Closes a promise and releases every case it covers; the case `in_hand` (the caller's,
 * already saved or about to be) only gets the fate in its audit trail. */
static int end_promise(engine_t *e, const promise_t *p, const case_row_t *named, const char *fate,
                       const case_row_t *in_hand, const char *caused_by, int64_t now)
{
    if (close_promise(e, p, named, fate, now) < 0)
        return H_DBERR;
    const char *params[] = {p->id};
    PGresult *r = query(e, "SELECT case_id FROM promise_cases WHERE promise_id = $1 ORDER BY case_id", 1, params);
    if (!r)
        return H_DBERR;
    int rc = H_OK;
    char kind[48];
    snprintf(kind, sizeof(kind), "promise_%s", fate);
    for (int i = 0; rc == H_OK && i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0);
        case_row_t c;
        if (in_hand && strcmp(id, in_hand->case_id) == 0) {
            if (record(e, in_hand, kind, in_hand->state, NULL, caused_by, now, promise_json(p, fate)) < 0)
                rc = H_DBERR;
            continue;
        }
        int found = load_case(e, id, &c);
        if (found < 0)
            rc = H_DBERR;
        else if (found && state_of(&c) == ST_PROMISED)
            rc = release_case(e, &c, p, fate, caused_by, now);
        else if (found && record(e, &c, kind, c.state, NULL, caused_by, now, promise_json(p, fate)) < 0)
            rc = H_DBERR;
    }
    PQclear(r);
    return rc;
}

/* Case ids. */
typedef struct id_list {
    char (*items)[DN_UUID_STR_LEN];
    size_t n, cap;
} id_list_t;

static int id_add(id_list_t *l, const char *id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        void *grown = realloc(l->items, cap * sizeof(*l->items));
        if (!grown)
            return -1;
        l->items = grown;
        l->cap = cap;
    }
    snprintf(l->items[l->n++], DN_UUID_STR_LEN, "%s", id);
    return 0;
}

static int count_of(engine_t *e, const char *sql, const char *case_id, long *n)
{
    const char *params[] = {case_id};
    PGresult *r = query(e, sql, 1, params);
    if (!r)
        return -1;
    *n = PQntuples(r) ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

int promise_command(engine_t *e, case_row_t *c, const policy_t *pol, const dn_case_command_t *v, int64_t now)
{
    int32_t today = dn_date_from_ms(now);
    char d1[16], d2[16];
    case_state_t to;
    if (dn_fsm_next(state_of(c), EV_PROMISE, ST_OPEN, &to) < 0)
        return reject(e, "invalid_state", "cannot take a promise to pay for the case of invoice %.64s: it is %s",
                      c->invoice_id, c->state);
    dn_date_format(v->promise_date, d1, sizeof(d1));
    dn_date_format(today, d2, sizeof(d2));
    if (v->promise_date < today)
        return reject(e, "invalid_field", "field promise_date: %s is in the past (today is %s)", d1, d2);
    if (v->promise_date > today + pol->promise.max_days)
        return reject(e, "policy_limit",
                      "field promise_date: %s is more than %d days after today (%s), the policy's promise.max_days", d1,
                      (int)pol->promise.max_days, d2);
    int customer_scope = v->scope && strcmp(v->scope, "customer") == 0;

    /* The cases it covers: this one, or every open one of the customer in the currency. */
    id_list_t ids = {0};
    int rc = H_DBERR;
    PGresult *r = NULL;
    if (customer_scope) {
        const char *params[] = {c->tenant_id, c->customer_id, c->currency};
        r = query(e,
                  "SELECT case_id FROM cases WHERE tenant_id = $1 AND customer_id = $2 AND currency = $3 AND state "
                  "IN " PROMISABLE " ORDER BY case_id",
                  3, params);
        if (!r)
            goto out;
        for (int i = 0; i < PQntuples(r); i++)
            if (id_add(&ids, PQgetvalue(r, i, 0)) < 0)
                goto out;
        PQclear(r);
        r = NULL;
    } else if (id_add(&ids, c->case_id) < 0) {
        goto out;
    }
    int64_t owed = 0;
    for (size_t i = 0; i < ids.n; i++) {
        case_row_t k;
        long made;
        int found = strcmp(ids.items[i], c->case_id) == 0 ? (k = *c, 1) : load_case(e, ids.items[i], &k);
        if (found <= 0) {
            rc = found < 0 ? H_DBERR : reject(e, "invalid_state", "a case of the customer vanished");
            goto out;
        }
        accrue(&k, case_policy(e, &k), now);
        owed += total_due(&k);
        if (count_of(e, "SELECT count(*) FROM promise_cases WHERE case_id = $1", k.case_id, &made) < 0)
            goto out;
        if (made >= pol->promise.max_per_case) {
            rc = reject(e, "policy_limit",
                        "the case of invoice %.64s has had %ld promises to pay, the policy allows %d "
                        "(promise.max_per_case)",
                        k.invoice_id, made, (int)pol->promise.max_per_case);
            goto out;
        }
    }
    if (v->amount_minor > owed) {
        rc = reject(e, "invalid_field", "field amount_minor: %" PRId64 " is more than the %" PRId64 " %s owed",
                    v->amount_minor, owed, c->currency);
        goto out;
    }
    long broken;
    if (count_of(e,
                 "SELECT count(*) FROM promises p JOIN promise_cases pc USING (promise_id) WHERE pc.case_id = $1 "
                 "AND p.state = 'broken'",
                 c->case_id, &broken) < 0)
        goto out;

    /* An open promise of a covered case is replaced: withdrawn, its cases released. */
    for (size_t i = 0; i < ids.n; i++) {
        promise_t old;
        int found = open_promise(e, ids.items[i], &old);
        if (found < 0 || (found && end_promise(e, &old, c, "withdrawn", NULL, v->event_id, now) != H_OK))
            goto out;
    }

    promise_t p = {.amount = v->amount_minor,
                   .promised_for = v->promise_date,
                   .hold_until = v->promise_date + (int32_t)(pol->promise.grace_ms / RULES_DAY_MS),
                   .level = (int)broken + 1};
    snprintf(p.id, sizeof(p.id), "%s", v->event_id);
    char amount[24], level[16], at[40], hold[16];
    fmt_i64(amount, sizeof(amount), p.amount);
    snprintf(level, sizeof(level), "%d", p.level);
    dn_time_format(now, at, sizeof(at));
    dn_date_format(p.hold_until, hold, sizeof(hold));
    const char *pp[] = {p.id,
                        c->tenant_id,
                        c->customer_id,
                        c->invoice_id,
                        customer_scope ? "customer" : "invoice",
                        c->currency,
                        amount,
                        d1,
                        hold,
                        level,
                        v->channel,
                        v->actor,
                        at};
    r = query(e,
              "INSERT INTO promises (promise_id, tenant_id, customer_id, invoice_id, scope, currency, amount_minor, "
              "promised_for, hold_until, level, state, channel, actor, made_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
              "$8, $9, $10, 'open', $11, $12, $13)",
              13, pp);
    if (!r)
        goto out;
    PQclear(r);
    r = NULL;
    for (size_t i = 0; i < ids.n; i++) {
        case_row_t k;
        int found = load_case(e, ids.items[i], &k);
        if (found <= 0)
            goto out;
        const policy_t *kp = case_policy(e, &k);
        char from[32];
        snprintf(from, sizeof(from), "%s", k.state);
        accrue(&k, kp, now);
        if (state_of(&k) != ST_PROMISED)
            snprintf(k.paused_from, sizeof(k.paused_from), "%s", k.state);
        if (transition(&k, EV_PROMISE) < 0) {
            rc = reject(e, "invalid_state", "the case of invoice %.64s is %s", k.invoice_id, k.state);
            goto out;
        }
        snprintf(k.pause_reason, sizeof(k.pause_reason), "promise_to_pay");
        k.paused_until = p.hold_until;
        snprintf(k.next_action, sizeof(k.next_action), "promise");
        k.next_action_ms = dn_date_to_ms(p.hold_until + 1);
        const char *lp[] = {k.case_id, p.id};
        r = query(e, "INSERT INTO promise_cases (case_id, promise_id) VALUES ($1, $2)", 2, lp);
        if (!r)
            goto out;
        PQclear(r);
        r = NULL;
        json_t *detail = json_pack("{s:s, s:I, s:s, s:s, s:i, s:s, s:i}", "promise_id", p.id, "amount_minor",
                                   (json_int_t)p.amount, "promised_for", d1, "hold_until", hold, "level", p.level,
                                   "scope", customer_scope ? "customer" : "invoice", "invoices", (int)ids.n);
        if (v->channel)
            json_object_set_new(detail, "channel", json_string(v->channel));
        if (v->actor)
            json_object_set_new(detail, "actor", json_string(v->actor));
        if (save_case(e, &k, NULL, now) < 0 || record(e, &k, "promise_made", from, NULL, v->event_id, now, detail) < 0)
            goto out;
        if (strcmp(k.case_id, c->case_id) == 0)
            *c = k;
    }
    dn_log_info("promise to pay taken", "tenant_id", c->tenant_id, "invoice_id", c->invoice_id, "promise_id", p.id,
                "promised_for", d1, NULL);
    rc = H_OK;
out:
    PQclear(r);
    free(ids.items);
    return rc;
}

int promise_withdraw(engine_t *e, case_row_t *c, const policy_t *pol, const dn_case_command_t *v, int64_t now)
{
    (void)pol;
    promise_t p;
    int found = open_promise(e, c->case_id, &p);
    if (found <= 0)
        return found < 0 ? H_DBERR
                         : reject(e, "invalid_state", "the case of invoice %.64s has no open promise to pay (it is %s)",
                                  c->invoice_id, c->state);
    return end_promise(e, &p, c, "withdrawn", NULL, v->event_id, now);
}

int promise_due(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now)
{
    (void)pol;
    promise_t p;
    char caused_by[DN_UUID_STR_LEN];
    const char *parts[] = {"promise-due", c->case_id};
    dn_uuid_derive(caused_by, parts, 2);
    int found = open_promise(e, c->case_id, &p);
    if (found < 0)
        return H_DBERR;
    if (!found) { /* no open promise (never written so): end the hold */
        promise_t none = {.level = 0};
        snprintf(none.id, sizeof(none.id), "%s", "00000000-0000-0000-0000-000000000000");
        return release_case(e, c, &none, "withdrawn", caused_by, now);
    }
    const char *fate = p.paid >= p.amount ? "kept" : p.paid > 0 ? "partially_kept" : "broken";
    return end_promise(e, &p, c, fate, NULL, caused_by, now);
}

/* Cases of the promise other than `case_id` still waiting under it. -1 on error. */
static long others_promised(engine_t *e, const promise_t *p, const char *case_id)
{
    const char *params[] = {p->id, case_id};
    PGresult *r = query(e,
                        "SELECT count(*) FROM promise_cases pc JOIN cases k USING (case_id) WHERE pc.promise_id = $1 "
                        "AND pc.case_id <> $2 AND k.state = 'promised'",
                        2, params);
    if (!r)
        return -1;
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

/* Money on a promised case: it counts towards the promise, which it may keep. A case that
 * settles (a credit may settle it below the promised amount) leaves the promise; the last
 * one to leave withdraws it. */
int promise_money(engine_t *e, case_row_t *c, int64_t amount, int settled, const char *caused_by, int64_t now)
{
    promise_t p;
    int found = open_promise(e, c->case_id, &p);
    if (found <= 0)
        return found < 0 ? H_DBERR : H_OK;
    p.paid += amount;
    if (p.paid >= p.amount)
        return end_promise(e, &p, c, "kept", settled ? c : NULL, caused_by, now);
    char paid[24];
    fmt_i64(paid, sizeof(paid), p.paid);
    const char *params[] = {p.id, paid};
    PGresult *r = query(e, "UPDATE promises SET paid_minor = $2 WHERE promise_id = $1", 2, params);
    if (!r)
        return H_DBERR;
    PQclear(r);
    if (!settled)
        return H_OK;
    long others = others_promised(e, &p, c->case_id);
    return others < 0 ? H_DBERR : others == 0 ? end_promise(e, &p, c, "withdrawn", c, caused_by, now) : H_OK;
}

/* A plan replaces the case's open promise: withdrawn, its other cases released. */
int promise_replaced(engine_t *e, case_row_t *c, const char *caused_by, int64_t now)
{
    promise_t p;
    int found = open_promise(e, c->case_id, &p);
    if (found <= 0)
        return found < 0 ? H_DBERR : H_OK;
    return end_promise(e, &p, c, "withdrawn", c, caused_by, now);
}

/* Cancelled or written off under a promise: the case leaves it; a promise with no case left
 * under it is withdrawn. */
int promise_closed(engine_t *e, const case_row_t *c, int64_t now)
{
    promise_t p;
    int found = open_promise(e, c->case_id, &p);
    if (found <= 0)
        return found < 0 ? H_DBERR : H_OK;
    long others = others_promised(e, &p, c->case_id);
    return others < 0 ? H_DBERR : others == 0 ? end_promise(e, &p, c, "withdrawn", c, NULL, now) : H_OK;
}
