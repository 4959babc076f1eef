/* What a due timer does (see timers.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_rules.h"
#include "dn_topics.h"
#include "effects.h"
#include "cards.h"
#include "consolidate.h"
#include "redial.h"
#include "reminders.h"
#include "stage.h"
#include "timers.h"
#include "workflow.h"
#include "writes.h"

/* A stage of the policy: its reminder for the case, or, under consolidate: customer, its
 * place on the customer's notice of the day (consolidate.c). */
static int fire_stage(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now)
{
    if (pol->consolidate == CONSOLIDATE_CUSTOMER)
        return notice_join(e, c, pol, now);
    stage_fire_t sf;
    int rc = stage_begin(e, c, pol, now, 0, &sf);
    if (rc != 1)
        return rc;
    char salt[24];
    snprintf(salt, sizeof(salt), "stage %d", sf.stage);
    reminder_spec_t rs = {.stage = sf.stage,
                          .stage_name = sf.st->name,
                          .template_key = sf.template_key,
                          .action = sf.st->action,
                          .channels = sf.st->channels,
                          .nchannels = sf.st->nchannels,
                          .due_ms = sf.due_ms,
                          .id_salt = salt,
                          .discount = sf.offers ? &sf.offer : NULL};
    json_t *emitted = json_array();
    int n = emit_reminders(e, c, pol, &rs, now, emitted);
    if (n < 0) {
        json_decref(emitted);
        return H_DBERR;
    }
    return stage_end(e, c, pol, now, &sf, n, emitted, NULL);
}

/* Asks the billing system to charge the card again (PaymentRetryDue), on the policy's schedule. */
static int fire_retry(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now)
{
    accrue(c, pol, now);
    int attempt = c->retry_attempt + 1;
    char event_id[DN_UUID_STR_LEN], att[16], base[24], key[2 * ID_MAX + 2];
    snprintf(att, sizeof(att), "%d", attempt);
    /* The series (its base time) is part of the id: a case that starts retrying again after
     * an earlier series ended asks for new charges, not for the old ones a second time. */
    fmt_i64(base, sizeof(base), c->retry_base_ms);
    const char *parts[] = {"retry", c->case_id, base, att};
    dn_uuid_derive(event_id, parts, 4);
    dn_payment_retry_due_t rd = {.event_id = event_id,
                                 .occurred_at = now,
                                 .tenant_id = c->tenant_id,
                                 .customer_id = c->customer_id,
                                 .case_id = c->case_id,
                                 .invoice_id = c->invoice_id,
                                 .payment_id = c->retry_payment[0] ? c->retry_payment : NULL,
                                 .attempt = attempt,
                                 .max_attempts = (int32_t)pol->retries.nschedule,
                                 .amount_minor = total_due(c),
                                 .currency = c->currency,
                                 .last_decline_code = c->last_decline[0] ? c->last_decline : NULL};
    char *buf = NULL;
    size_t len = 0;
    dn_topic_key(c->tenant_id, c->customer_id, key, sizeof(key));
    int ok = dn_payment_retry_due_encode(&rd, &buf, &len) == 0 &&
             outbox_add(e, event_id, dn_topic_name(DN_TOPIC_PAYMENT_RETRY_DUE), key, buf, len) == 0;
    free(buf);
    if (!ok)
        return H_DBERR;
    c->retry_attempt = attempt;
    schedule_next(c, pol, now);
    if (c->next_action_ms >= 0 && c->next_action_ms < now && (size_t)attempt < pol->retries.nschedule) {
        /* Late (the case was paused, or the engine away): keep the schedule's spacing
         * rather than asking for every missed retry at once. */
        c->next_action_ms = now + pol->retries.schedule_ms[attempt] - pol->retries.schedule_ms[attempt - 1];
    }
    if (save_case(e, c, NULL, now) < 0 ||
        record(e, c, "retry_requested", c->state, NULL, event_id, now,
               json_pack("{s:i, s:i, s:I}", "attempt", attempt, "max_attempts", (int)pol->retries.nschedule,
                         "amount_minor", (json_int_t)total_due(c))) < 0)
        return H_DBERR;
    engine_note(e, EM_RETRY_REQUEST, NULL, NULL);
    return H_OK;
}

/* The retry schedule ran out without a payment: back into the overdue stages. */
int exhaust_retries(engine_t *e, case_row_t *c, const policy_t *pol, const char *caused_by, const char *why,
                    int64_t now)
{
    char from[32];
    snprintf(from, sizeof(from), "%s", c->state);
    if (transition(c, EV_RETRIES_EXHAUSTED) < 0)
        return H_OK;
    if (strcmp(c->retry_from, "final_notice") == 0)
        set_state(c, ST_FINAL_NOTICE); /* into the stages, but never back down */
    schedule_next(c, pol, now);
    if (save_case(e, c, NULL, now) < 0 || record(e, c, "retries_exhausted", from, why, caused_by, now,
                                                 json_pack("{s:i}", "attempts", c->retry_attempt)) < 0)
        return H_DBERR;
    return H_OK;
}

int fire_resume(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now, const char *caused_by, const char *why)
{
    char from[32];
    snprintf(from, sizeof(from), "%s", c->state);
    accrue(c, pol, now); /* closes the paused days without interest */
    if (transition(c, EV_RESUME) < 0)
        return H_REJECT;
    c->paused_from[0] = c->pause_reason[0] = '\0';
    c->paused_until = -1;
    schedule_next(c, pol, now);
    if (save_case(e, c, NULL, now) < 0 || record(e, c, "resumed", from, why, caused_by, now, NULL) < 0)
        return H_DBERR;
    return H_OK;
}

int fire_timer(engine_t *e, const char *case_id, int64_t now)
{
    case_row_t c;
    if (!dn_uuid_valid(case_id)) {
        engine_timer_op(e, case_id, -1);
        return H_OK;
    }
    int found = load_case(e, case_id, &c);
    if (found < 0)
        return H_DBERR;
    if (!found) {
        /* Not a case: a notice about a customer (notices.h), or a stale index entry. */
        notice_row_t n;
        int nf = load_notice(e, case_id, &n);
        if (nf < 0)
            return H_DBERR;
        if (!nf || strcmp(n.state, "pending") != 0 || n.due_ms < 0) {
            engine_timer_op(e, case_id, -1);
            return H_OK;
        }
        if (n.due_ms > now) {
            engine_timer_op(e, case_id, n.due_ms);
            return H_OK;
        }
        if (strcmp(n.kind, "card_expiry") == 0)
            return card_notice_due(e, &n, now);
        return customer_notice_due(e, &n, now);
    }
    if (dn_fsm_is_terminal(state_of(&c)) || c.next_action_ms < 0) {
        engine_timer_op(e, case_id, -1); /* stale index entry */
        return H_OK;
    }
    if (c.next_action_ms > now) {
        engine_timer_op(e, case_id, c.next_action_ms); /* claimed early or moved: put the true time back */
        return H_OK;
    }
    const policy_t *pol = case_policy(e, &c);
    char caused_by[DN_UUID_STR_LEN], at[24];
    fmt_i64(at, sizeof(at), c.next_action_ms);
    const char *parts[] = {"timer", c.case_id, c.next_action, at};
    dn_uuid_derive(caused_by, parts, 4);
    if (strcmp(c.next_action, "retry") == 0)
        return fire_retry(e, &c, pol, now);
    if (strcmp(c.next_action, "retry_result") == 0)
        return exhaust_retries(e, &c, pol, caused_by, "no successful payment after the last retry", now);
    if (strcmp(c.next_action, "promise") == 0)
        return promise_due(e, &c, pol, now);
    if (strcmp(c.next_action, "plan") == 0)
        return plan_due(e, &c, pol, now);
    if (strcmp(c.next_action, "redial") == 0)
        return fire_redial(e, &c, pol, now);
    if (strcmp(c.next_action, "resume") == 0) {
        int rc = fire_resume(e, &c, pol, now, caused_by, "pause ended");
        return rc == H_REJECT ? H_OK : rc;
    }
    return fire_stage(e, &c, pol, now);
}
