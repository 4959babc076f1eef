/* Instalment plans (see dn_plan.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "dn_clock.h"
#include "dn_plan.h"
#include "dn_rules.h"

void dn_plan_cost(const plan_policy_t *pp, const char *currency, int64_t principal, int64_t owed, int32_t today,
                  int32_t last_due, dn_plan_cost_t *out)
{
    interest_acc_t acc = {.micro = 0, .through = today};
    dn_rules_accrue(&acc, principal, pp->interest_rate_e4, last_due);
    out->owed = owed;
    out->interest = dn_rules_interest_minor(&acc);
    out->fee = dn_policy_money_for(&pp->fee, currency);
    out->total = owed + out->fee + out->interest;
}

static int refuse(const char **code, const char *c, char *why, size_t whysz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whysz, fmt, ap);
    va_end(ap);
    *code = c;
    return -1;
}

int dn_plan_check(const plan_policy_t *pp, const char *currency, int64_t principal, int64_t owed, int32_t today,
                  const dn_plan_t *p, dn_plan_cost_t *cost, const char **code, char *why, size_t whysz)
{
    int32_t interval_days = (int32_t)(pp->interval_ms / RULES_DAY_MS);
    int n = p->n;
    if (n < 2)
        return refuse(code, "invalid_field", why, whysz,
                      "field instalments: a plan needs at least 2 instalments, got %d", n);
    if (n > pp->max_instalments || n > DN_PLAN_MAX)
        return refuse(code, "policy_limit", why, whysz,
                      "field instalments: %d instalments, the policy allows %d (plan.max_instalments)", n,
                      (int)pp->max_instalments);
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
        char d[16], prev[16];
        dn_date_format(p->due[i], d, sizeof(d));
        if (i == 0 && p->due[0] < today)
            return refuse(code, "invalid_field", why, whysz, "field instalments[0].due_date: %s is in the past", d);
        int32_t from = i == 0 ? today : p->due[i - 1];
        dn_date_format(from, prev, sizeof(prev));
        if (i > 0 && p->due[i] <= from)
            return refuse(code, "invalid_field", why, whysz,
                          "field instalments[%d].due_date: %s is not after instalment %d's %s", i, d, i, prev);
        if (p->due[i] - from > interval_days)
            return refuse(code, "policy_limit", why, whysz,
                          "field instalments[%d].due_date: %s is more than %d days after %s (plan.interval)", i, d,
                          (int)interval_days, prev);
        sum += p->amount[i];
    }
    int64_t min_first = dn_policy_money_for(&pp->min_first, currency);
    if (p->amount[0] < min_first)
        return refuse(code, "policy_limit", why, whysz,
                      "field instalments[0].amount_minor: %" PRId64 " is below the policy's plan.min_first of %" PRId64,
                      p->amount[0], min_first);
    dn_plan_cost(pp, currency, principal, owed, today, p->due[n - 1], cost);
    if (sum != cost->total)
        return refuse(code, "invalid_field", why, whysz,
                      "field instalments: they add up to %" PRId64 ", the plan must pay %" PRId64 " (owed %" PRId64
                      " + plan fee %" PRId64 " + plan interest %" PRId64 ")",
                      sum, cost->total, owed, cost->fee, cost->interest);
    return 0;
}

int dn_plan_offer(const plan_policy_t *pp, const char *currency, int64_t principal, int64_t owed, int32_t today, int n,
                  dn_plan_t *out, dn_plan_cost_t *cost, const char **code, char *why, size_t whysz)
{
    int32_t interval_days = (int32_t)(pp->interval_ms / RULES_DAY_MS);
    out->n = n;
    if (n < 2 || n > DN_PLAN_MAX)
        return dn_plan_check(pp, currency, principal, owed, today, out, cost, code, why, whysz);
    for (int i = 0; i < n; i++)
        out->due[i] = today + (i + 1) * interval_days;
    dn_plan_cost(pp, currency, principal, owed, today, out->due[n - 1], cost);
    int64_t each = cost->total / n;
    for (int i = 0; i < n; i++)
        out->amount[i] = each;
    out->amount[0] = cost->total - each * (n - 1);
    return dn_plan_check(pp, currency, principal, owed, today, out, cost, code, why, whysz);
}
