/* dn_priority: a tenant's collection strategy (the worklist's order), as in SAP Collections
 * Management: a list of rules, each a condition on the case and the points it adds; the
 * priority is the sum, shown with the rules that fired. Cases owing less than min_amount,
 * and cases not yet due (unless include_not_due), stay off the worklist.
 *
 *   tenants:
 *     acme:
 *       strategy:
 *         min_amount: {EUR: 1000}          # owed (principal + fees + interest) below it: not listed
 *         include_not_due: false           # the default: cases before their due date are not listed
 *         rules:
 *           - {when: broken_promise, points: 40}
 *           - {when: days_overdue, over: 60, points: 30}
 *           - {when: amount, over: {EUR: 1000000}, points: 20}   # minor units: 10,000.00 EUR
 *           - {when: callback_requested, points: 15}
 *           - {when: stage, at_least: 3, points: 10}
 *           - {when: risk_score, below: 40, points: 25}
 *           - {when: disputed, points: -50}
 *
 * A tenant without a strategy uses the default tenant's; without one there either, every
 * case scores 0 and the worklist is ordered by days overdue, then amount (docs/policies.md). */
#ifndef DN_PRIORITY_H
#define DN_PRIORITY_H

#include <stddef.h>
#include <stdint.h>

typedef struct money_map money_map_t;

typedef enum {
    PRIO_BROKEN_PROMISE = 0, /* the case has a broken promise to pay (no comparison) */
    PRIO_CALLBACK,           /* the customer asked to be called back (no comparison) */
    PRIO_DISPUTED,           /* paused for a dispute (no comparison) */
    PRIO_DAYS_OVERDUE,       /* days since the due date: over / at_least / below N */
    PRIO_AMOUNT,             /* owed in minor units: over / at_least / below {CUR: minor} */
    PRIO_STAGE,              /* the last stage sent (0 = none): over / at_least / below N */
    PRIO_RISK_SCORE,         /* 0-100, likelihood of paying; a case without a score never matches */
    PRIO_COND_COUNT
} prio_cond_t;

typedef enum { PRIO_CMP_NONE = 0, PRIO_CMP_OVER, PRIO_CMP_AT_LEAST, PRIO_CMP_BELOW } prio_cmp_t;

typedef struct prio_rule {
    prio_cond_t when;
    prio_cmp_t cmp;
    int64_t value;       /* the threshold of days_overdue, stage, risk_score */
    money_map_t *amount; /* the threshold of amount (owned) */
    int32_t points;      /* may be negative */
} prio_rule_t;

typedef struct strategy {
    int defined;
    money_map_t *min_amount; /* owned; NULL = none */
    int include_not_due;
    prio_rule_t *rules;
    size_t nrules;
} strategy_t;

/* What the rules look at, gathered by the caller (the console's query). */
typedef struct prio_facts {
    const char *currency;
    int64_t owed_minor;   /* outstanding + fees + interest */
    int32_t days_overdue; /* today - due date; negative before it */
    int32_t stage;
    int32_t broken_promises;
    int32_t callbacks;
    int disputed;
    int32_t risk_score; /* -1: none */
} prio_facts_t;

/* One rule that fired: its index in the strategy, its points and a line for people. */
typedef struct prio_reason {
    size_t rule;
    int32_t points;
    char text[96];
} prio_reason_t;

const char *dn_priority_cond_name(prio_cond_t c);
/* 1 if the case belongs on the worklist; 0 with why ("below min_amount", "not yet due"). */
int dn_priority_listed(const strategy_t *s, const prio_facts_t *f, const char **why);
/* The priority (sum of the points of the rules that fire); reasons (up to nreasons_max)
 * in rule order, *nreasons their count. s may be NULL or undefined (0, no reasons). */
int64_t dn_priority_score(const strategy_t *s, const prio_facts_t *f, prio_reason_t *reasons, size_t nreasons_max,
                          size_t *nreasons);
void dn_priority_strategy_free(strategy_t *s);

#endif
