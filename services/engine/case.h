/* The case store (case.c): a case's row as the handlers see it; loading, saving and the
 * audit trail of a case; processed input events. */
#ifndef DN_ENGINE_CASE_H
#define DN_ENGINE_CASE_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dn_fsm.h"
#include "dn_policy.h"
#include "dn_validate.h"
#include "engine.h"

typedef struct case_row {
    char case_id[DN_UUID_STR_LEN];
    char tenant_id[ID_MAX + 1], invoice_id[ID_MAX + 1], customer_id[ID_MAX + 1];
    char policy[ID_MAX + 1], state[32], currency[4];
    int stage, next_stage;
    int64_t amount, paid, outstanding, fee, interest;
    int64_t next_action_ms; /* -1 = none */
    int32_t due_date;
    int64_t fees_charged, interest_micro, interest_paid, credited, overpaid;
    int32_t interest_through; /* -1 = not yet accrued (counts from the due date) */
    char next_action[16];     /* stage, retry, retry_result, resume, promise, plan, redial */
    int retry_attempt;
    int64_t retry_base_ms; /* -1 = none */
    char last_decline[65];
    char retry_payment[ID_MAX + 1]; /* the charge that failed first */
    char retry_from[32];            /* the state the retries started in */
    char paused_from[32], pause_reason[32];
    int32_t paused_until; /* -1 = none */
    /* The early-settlement offer of the latest reminder (discount.c): offer_due more settles
     * the case if paid by the end of offer_until; -1 = no offer. */
    int32_t offer_until;
    int64_t offer_due;
    /* The risk score (risk.h, docs/risk.md): -1 = not scored; its reasons in words, one per
     * line; the policy track it chose ("" = none: the case follows `policy`). */
    int risk_score;
    char risk_reasons[320];
    char risk_track[ID_MAX + 1];
    /* Set by risk_score_case for the audit rows written after it (not stored on the case):
     * the model that scored ("points", "logit v3") and its inputs, comma-separated in the
     * order of dn_risk_inputs_t (the opened row keeps them: `dunningctl risk fit` learns
     * from them). "" = not scored in this handling. */
    char risk_model[24];
    char risk_inputs[200];
    int risk_holdout; /* the customer is in the tenant's holdout (risk_track_choose): no track */
} case_row_t;

/* The columns load_case and the prefetches select (case_from_row's order). */
extern const char *const case_columns;

static inline case_state_t state_of(const case_row_t *c)
{
    case_state_t s = ST_OPEN;
    dn_fsm_state_parse(c->state, &s);
    return s;
}

static inline void set_state(case_row_t *c, case_state_t s)
{
    snprintf(c->state, sizeof(c->state), "%s", dn_fsm_state_name(s));
}

static inline int is_resolved(const char *state)
{
    return strcmp(state, "resolved") == 0;
}

static inline void fmt_i64(char *buf, size_t size, int64_t v)
{
    snprintf(buf, size, "%" PRId64, v);
}

void case_id_for(const char *tenant, const char *invoice, char out[DN_UUID_STR_LEN]);
void case_from_row(PGresult *r, int row, case_row_t *c);
/* Loads and row-locks a case. 1 found, 0 none, -1 database error. */
int load_case(engine_t *e, const char *case_id, case_row_t *c);
/* Writes a case's state (buffered on the fast path) and notes its timer. 0/-1. */
int save_case(engine_t *e, const case_row_t *c, const char *resolved_reason, int64_t now);
/* One audit row and one DunningCaseEvent, in the caller's transaction. `detail` is stolen. 0/-1. */
int record(engine_t *e, const case_row_t *c, const char *kind, const char *from, const char *reason,
           const char *caused_by, int64_t now, json_t *detail);
/* Marks an input event processed. 1 = first time, 0 = already processed, -1 = error. */
int first_time(engine_t *e, const char *event_id, const char *topic);
/* The case's policy (the tenant default if it is no longer configured). */
const policy_t *case_policy(engine_t *e, const case_row_t *c);
/* Applies a state machine transition, or -1 when it is not allowed in the case's state. */
int transition(case_row_t *c, case_event_t ev);

#endif
