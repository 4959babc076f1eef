/* dunning-portal: what main.c and api.c share. */
#ifndef PORTAL_H
#define PORTAL_H

#include <stdint.h>

#include "dn_config.h"
#include "dn_kafka.h"
#include "dn_pg.h"
#include "dn_plan.h"
#include "dn_policy.h"
#include "dn_portal_link.h"
#include "dn_web.h"

typedef struct portal_cfg {
    dn_common_cfg_t common;
    char *addr;
    char *addr_file;
    char *keys;
    char *policy_file;
    char *letter_dir;
    int64_t promise_max_days;
    int64_t per_address_per_min;
    int64_t per_link_per_min;
    int trust_forwarded;
} portal_cfg_t;

typedef struct portal {
    const portal_cfg_t *cfg;
    dn_portal_keys_t keys;
    unsigned char form_key[32]; /* the form tokens' MAC key, derived from the signing key */
    dn_pg_t *pg;
    policy_set_t *policies;
    dn_kafka_producer_t *producer;
    dn_web_limit_t *by_addr, *by_link;
} portal_t;

/* The columns of a case the plans need (plans.c), appended to a SELECT over cases c JOIN
 * invoices i at column PORTAL_PLAN_COL. */
#define PORTAL_PLAN_COLS                                                                                               \
    "c.state, c.policy, coalesce(c.risk_track, ''), c.currency, c.outstanding_minor, c.fee_minor, c.interest_micro, "  \
    "coalesce(c.interest_through, i.due_date) - date '1970-01-01', c.interest_paid_minor"
#define PORTAL_PLAN_NCOLS 9

/* What the case owes today (interest accrued as the engine would: none while paused or on
 * a plan) and its principal, from the PORTAL_PLAN_COLS at `col` of row `row`. */
typedef struct portal_case {
    const policy_t *pol;
    const char *currency;
    int64_t principal, owed, interest;
    int plan_allowed; /* the policy offers plans and the state takes one */
} portal_case_t;
void portal_case_read(const portal_t *p, const char *tenant, PGresult *q, int row, int col, int32_t today,
                      portal_case_t *out);
/* The plans the page offers for the case: [{count, auto_approved, total_minor, fee_minor,
 * interest_minor, instalments: [{number, due_date, amount_minor}]}], at most PORTAL_PLANS_MAX. */
#define PORTAL_PLANS_MAX 12
json_t *portal_plan_offers(const portal_case_t *pc, int32_t today);
/* One offer as the CaseCommand's instalments ([{due_date, amount_minor}]). */
json_t *portal_plan_instalments(const dn_plan_t *pl);

/* Adds the routes (api.c). 0/-1. */
int portal_routes(portal_t *p, dn_web_t *w);

#endif
