/* dunning-portal: the instalment plans a case's page offers (see portal.h), computed with
 * libdnpolicy's dn_plan, the engine's own rules, so an offer the customer picks is one the
 * engine agrees (or, over plan.auto_approve_max, records as a request for a collector). */
#include <stdlib.h>
#include <string.h>

#include "dn_clock.h"
#include "dn_fsm.h"
#include "dn_rules.h"
#include "portal.h"

/* As the engine's case_policy: the risk track's policy, else the one the case opened with,
 * else the tenant's default. */
static const policy_t *case_policy(const portal_t *p, const char *tenant, const char *policy, const char *track)
{
    const policy_t *pol = track[0] ? dn_policy_find(p->policies, tenant, track) : NULL;
    if (!pol)
        pol = dn_policy_find(p->policies, tenant, policy);
    return pol ? pol : dn_policy_select(p->policies, tenant, NULL, NULL);
}

void portal_case_read(const portal_t *p, const char *tenant, PGresult *q, int row, int col, int32_t today,
                      portal_case_t *out)
{
    const char *state = PQgetvalue(q, row, col);
    memset(out, 0, sizeof(*out));
    out->pol = case_policy(p, tenant, PQgetvalue(q, row, col + 1), PQgetvalue(q, row, col + 2));
    out->currency = PQgetvalue(q, row, col + 3);
    out->principal = strtoll(PQgetvalue(q, row, col + 4), NULL, 10);
    int64_t fee = strtoll(PQgetvalue(q, row, col + 5), NULL, 10), paid = strtoll(PQgetvalue(q, row, col + 8), NULL, 10);
    interest_acc_t acc = {.micro = strtoll(PQgetvalue(q, row, col + 6), NULL, 10),
                          .through = (int32_t)strtol(PQgetvalue(q, row, col + 7), NULL, 10)};
    case_state_t s = ST_OPEN, to;
    int known = dn_fsm_state_parse(state, &s) == 0;
    int64_t rate = s == ST_PAUSED || s == ST_ON_PLAN || !out->pol ? 0 : out->pol->interest_rate_e4;
    dn_rules_accrue(&acc, out->principal, rate, today);
    out->interest = dn_rules_interest_minor(&acc) - paid;
    if (out->interest < 0)
        out->interest = 0;
    out->owed = out->principal + fee + out->interest;
    out->plan_allowed = known && out->pol && out->pol->plan.offered && dn_fsm_next(s, EV_PLAN, ST_OPEN, &to) == 0;
}

json_t *portal_plan_instalments(const dn_plan_t *pl)
{
    json_t *a = json_array();
    for (int i = 0; i < pl->n; i++) {
        char d[16];
        dn_date_format(pl->due[i], d, sizeof(d));
        json_array_append_new(a, json_pack("{s:s, s:I}", "due_date", d, "amount_minor", (json_int_t)pl->amount[i]));
    }
    return a;
}

json_t *portal_plan_offers(const portal_case_t *pc, int32_t today)
{
    json_t *list = json_array();
    if (!pc->plan_allowed)
        return list;
    const plan_policy_t *pp = &pc->pol->plan;
    for (int n = 2; n <= pp->max_instalments && json_array_size(list) < PORTAL_PLANS_MAX; n++) {
        static dn_plan_t pl; /* one thread; 1.4 kB off the stack */
        dn_plan_cost_t cost;
        const char *code;
        char why[256];
        if (dn_plan_offer(pp, pc->currency, pc->principal, pc->owed, today, n, &pl, &cost, &code, why, sizeof(why)) < 0)
            continue; /* below plan.min_first: a longer plan is smaller still */
        json_t *ins = portal_plan_instalments(&pl);
        size_t i;
        json_t *x;
        json_array_foreach(ins, i, x) json_object_set_new(x, "number", json_integer((json_int_t)i + 1));
        json_array_append_new(list, json_pack("{s:i, s:b, s:I, s:I, s:I, s:o}", "count", n, "auto_approved",
                                              n <= pp->auto_approve_max, "total_minor", (json_int_t)cost.total,
                                              "fee_minor", (json_int_t)cost.fee, "interest_minor",
                                              (json_int_t)cost.interest, "instalments", ins));
    }
    return list;
}
