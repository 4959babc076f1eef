/* Instalment plans, one arithmetic for the engine and the portal: what a plan must pay
 * (dn_plan_cost), whether a plan is one the policy accepts (dn_plan_check: the engine's
 * rules, with the engine's reasons) and the plans the portal offers (dn_plan_offer).
 * Pure functions of integers: no I/O, no clock. Unit-tested in tests/unit/test_plan.c. */
#ifndef DN_PLAN_H
#define DN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "dn_policy.h"

#define DN_PLAN_MAX 120 /* the most instalments a policy may allow (dn_policy.c) */

typedef struct dn_plan {
    int n;
    int32_t due[DN_PLAN_MAX]; /* days since 1970-01-01, in order */
    int64_t amount[DN_PLAN_MAX];
} dn_plan_t;

/* What a plan must pay: what is owed (outstanding + fees + interest, accrued to today) +
 * plan.fee + plan.interest on the principal from today to the last due date. */
typedef struct dn_plan_cost {
    int64_t owed, fee, interest, total;
} dn_plan_cost_t;

void dn_plan_cost(const plan_policy_t *pp, const char *currency, int64_t principal, int64_t owed, int32_t today,
                  int32_t last_due, dn_plan_cost_t *out);

/* Whether `p` is a plan the policy accepts today for a case owing `owed` (`principal` of
 * it the principal): at least 2 and at most plan.max_instalments instalments, the first
 * from today, each after the one before and within plan.interval of it (the first of
 * today), the first at least plan.min_first, adding up to the cost. 0 (cost filled), or -1
 * with *code "invalid_field" or "policy_limit" and the reason (the engine's dead letter). The
 * caller checks that the policy offers plans at all and the case's state. */
int dn_plan_check(const plan_policy_t *pp, const char *currency, int64_t principal, int64_t owed, int32_t today,
                  const dn_plan_t *p, dn_plan_cost_t *cost, const char **code, char *why, size_t whysz);

/* The plan of `n` instalments the portal offers: due every plan.interval (in whole days)
 * from today, the first one interval from today; equal amounts of the cost, the minor units
 * that do not divide on the first instalment. Checked with dn_plan_check: 0, or -1 (the
 * policy does not allow it, code and why as there). */
int dn_plan_offer(const plan_policy_t *pp, const char *currency, int64_t principal, int64_t owed, int32_t today, int n,
                  dn_plan_t *out, dn_plan_cost_t *cost, const char **code, char *why, size_t whysz);

#endif
