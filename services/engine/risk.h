/* Risk scores and policy tracks (risk.c; docs/risk.md, docs/policies.md "Policy tracks").
 *
 * The engine keeps each customer's payment behaviour (customer_behaviour) from the events it
 * applies, in their transaction: a case resolved paid (on time or how many days late, its
 * amount) and a case disputed here; promises (promise.c), plans (plan.c) and bounces
 * (outcome.c) where they happen. A case is scored with libdnrisk's points table when it opens,
 * when its next stage is scheduled and when it is disputed, and a tenant's tracks choose its
 * policy by that score. Everything works inside the caller's transaction. */
#ifndef DN_ENGINE_RISK_H
#define DN_ENGINE_RISK_H

#include "case.h"

/* Scores the case from its customer's behaviour and open balance: sets c->risk_score and
 * c->risk_reasons (the case is saved by the caller). `opening`: a case the invoice in hand
 * opens, which the batch's lookup answers on the fast path (prefetch.c's 'b' rows, as the
 * customer stood before the batch); else one query. The tenant's active fitted model
 * scores if it has one, else the points table; c->risk_model names it. 0/-1. */
int risk_score_case(engine_t *e, case_row_t *c, int opening);
/* The tenant's track for the case's score: sets c->risk_track. Returns 1 when the policy the
 * case follows changed (its name before in `from`: record it with risk_track_record once the
 * case is saved), else 0. A case without a score, or a tenant without tracks, keeps its
 * policy; so does a customer in the tenant's holdout (risk.holdout: c->risk_holdout set, the
 * score's audit rows say risk_holdout). */
int risk_track_choose(engine_t *e, case_row_t *c, char *from, size_t from_size);
/* The audit row of a switch: track_changed with the score, the reasons, from and to. 0/-1. */
int risk_track_record(engine_t *e, const case_row_t *c, const char *from, const char *caused_by, int64_t now);
/* The case was resolved paid (in full, within the tolerance or with its discount) today:
 * one more invoice in the customer's history, on time or late by so many days. 0/-1. */
int risk_note_paid(engine_t *e, const case_row_t *c, int64_t now);
/* The case was paused for a dispute: one more dispute. 0/-1. */
int risk_note_dispute(engine_t *e, const case_row_t *c, int64_t now);

/* Reads the tenants' active fitted models (risk_models, `dunningctl risk fit`) every few
 * seconds of real time, between batches; a tenant without one is scored with the points
 * table. A failed read keeps the models in hand. */
void risk_models_refresh(engine_t *e, int64_t *next_ms);
void risk_models_free(engine_t *e);

/* The customer's behaviour was written in the batch in hand: the batch's lookup no longer
 * answers for it (risk_score_case asks the database). Every writer of customer_behaviour
 * calls it. */
void risk_behaviour_changed(engine_t *e, const char *tenant, const char *customer);

/* The prefetch's behaviour rows: "b:<tenant length>:<tenant>:<customer>:<currency>". */
static inline void behaviour_key(char *out, size_t size, const char *tenant, const char *customer, const char *currency)
{
    snprintf(out, size, "b:%zu:%s:%s:%s", strlen(tenant), tenant, customer, currency);
}

/* The inputs as one text column ("invoices,on_time,late_x100,kept,broken,plans,bounces,
 * disputes,paid_amount") of customer_behaviour b, for prefetch.c and risk.c. */
#define RISK_INPUTS_SQL                                                                                                \
    "concat_ws(',', coalesce(b.invoices, 0), coalesce(b.paid_on_time, 0), coalesce(b.late_days_x100, 0), "             \
    "coalesce(b.promises_kept, 0), coalesce(b.promises_broken, 0), coalesce(b.plans_broken, 0), "                      \
    "coalesce(b.bounces, 0), coalesce(b.disputes, 0), coalesce(b.paid_amount_minor, 0))"
/* The customer's open balance in a currency: cases x of (tenant, customer, currency) $T, $C, $K. */
#define RISK_OPEN_SQL(T, C, K)                                                                                         \
    "(SELECT coalesce(sum(x.outstanding_minor), 0) FROM cases x WHERE x.tenant_id = " T " AND x.customer_id = " C      \
    " AND x.currency = " K " AND x.state NOT IN ('resolved', 'written_off'))"

#endif
