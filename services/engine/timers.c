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
#include "reminders.h"
#include "timers.h"
#include "workflow.h"
#include "writes.h"

static case_event_t stage_event(const stage_t *st)
{
    if (st->action && strcmp(st->action, "final_notice") == 0)
        return EV_STAGE_FINAL;
    return st->offset_ms < 0 ? EV_STAGE_PRE_DUE : EV_STAGE_OVERDUE;
}

static int fire_stage(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now)
{
    int stage = c->next_stage;
    int64_t timer_ms = c->next_action_ms; /* later than the stage's time: moved on purpose */
    char from[32];
    snprintf(from, sizeof(from), "%s", c->state);
    if (stage < 1 || stage > (int)pol->nstages) {
        c->next_action_ms = -1;
        return save_case(e, c, NULL, now) < 0 ? H_DBERR : H_OK;
    }
    accrue(c, pol, now);
    if (!dn_rules_above_minimum(c->outstanding, dn_policy_money_for(&pol->min_amount, c->currency))) {
        /* Too little left to be worth dunning: stop, say so once. */
        c->next_stage = 0;
        c->next_action_ms = -1;
        if (save_case(e, c, NULL, now) < 0 ||
            record(e, c, "below_minimum", from, "outstanding amount below the policy minimum", NULL, now,
                   json_pack("{s:I}", "min_amount_minor",
                             (json_int_t)dn_policy_money_for(&pol->min_amount, c->currency))) < 0)
            return H_DBERR;
        return H_OK;
    }
    /* Catch-up (catch_up: latest): if the engine was away past several stages, fire only
     * the latest that applies now and record the ones passed over; never a burst. With
     * catch_up: each, every stage is sent, one per day at most. */
    /* A stage moved on purpose (a broken promise or plan resumes at its next stage, at
     * once) is that stage, not a catch-up. */
    int moved = timer_ms > stage_time_ms(c, pol, stage);
    if (pol->catch_up == CATCH_UP_LATEST && !moved) {
        while (stage < (int)pol->nstages && stage_time_ms(c, pol, stage + 1) <= now) {
            c->stage = stage;
            if (record(e, c, "stage_skipped", from, "a later stage is already due", NULL, now,
                       json_pack("{s:s}", "stage_name", pol->stages[stage - 1].name)) < 0)
                return H_DBERR;
            stage++;
        }
    }
    const stage_t *st = &pol->stages[stage - 1];
    if (transition(c, stage_event(st)) < 0) {
        case_state_t s = state_of(c);
        if (s != ST_PAUSED && s != ST_RETRYING && s != ST_PROMISED && s != ST_ON_PLAN) {
            /* The case is past this stage (a reminder before the due date for a case
             * already overdue, after retries ran out): skip it, once. */
            c->stage = stage;
            c->next_stage = stage < (int)pol->nstages ? stage + 1 : 0;
            schedule_next(c, pol, now);
            return save_case(e, c, NULL, now) < 0 ||
                           record(e, c, "stage_skipped", from, "the case is already past this stage", NULL, now,
                                  json_pack("{s:s}", "stage_name", st->name)) < 0
                       ? H_DBERR
                       : H_OK;
        }
        schedule_next(c, pol, now); /* held or retrying: their own timer applies */
        return save_case(e, c, NULL, now) < 0 ? H_DBERR : H_OK;
    }
    int64_t due_ms = stage_time_ms(c, pol, stage);
    c->stage = stage;
    int64_t fee =
        dn_rules_stage_fee(c->outstanding, dn_policy_money_for(&st->fee_fixed, c->currency), st->fee_percent_e4);
    c->fee += fee;
    c->fees_charged += fee;
    char salt[24];
    snprintf(salt, sizeof(salt), "stage %d", stage);
    /* The stage's early-settlement offer: the discount on the principal (and the fees and
     * interest it waives) if the rest is paid by the end of the window's last day. */
    dn_discount_offer_t offer = {0};
    int offers = st->discount_percent_e4 > 0;
    if (offers) {
        int64_t off = dn_rules_div_round((__int128)c->outstanding * st->discount_percent_e4, 1000000) +
                      (st->discount_waive_fees ? c->fee : 0) + (st->discount_waive_interest ? c->interest : 0);
        offer = (dn_discount_offer_t){.pay_by = dn_date_from_ms(now + st->discount_within_ms - 1),
                                      .discount_minor = off,
                                      .total_minor = total_due(c) - off,
                                      .percent_e4 = st->discount_percent_e4};
    }
    reminder_spec_t rs = {.stage = stage,
                          .stage_name = st->name,
                          .template_key = st->template_key,
                          .action = st->action,
                          .channels = st->channels,
                          .nchannels = st->nchannels,
                          .due_ms = due_ms,
                          .id_salt = salt,
                          .discount = offers ? &offer : NULL};
    json_t *emitted = json_array();
    int n = emit_reminders(e, c, pol, &rs, now, emitted);
    if (n < 0) {
        json_decref(emitted);
        return H_DBERR;
    }
    if (n == 0) { /* nothing reached the customer: no fee for it, no offer */
        c->fee -= fee;
        c->fees_charged -= fee;
        fee = 0;
        offers = 0;
    }
    if (offers) {
        c->offer_until = offer.pay_by;
        c->offer_due = offer.total_minor;
    }
    c->next_stage = stage < (int)pol->nstages ? stage + 1 : 0;
    if (st->action && strcmp(st->action, "collections_handover") == 0)
        transition(c, EV_HANDOVER);
    schedule_next(c, pol, now);
    if (pol->catch_up == CATCH_UP_EACH && c->next_action_ms >= 0 && c->next_action_ms < now + RULES_DAY_MS)
        c->next_action_ms = now + RULES_DAY_MS;
    if (pol->catch_up == CATCH_UP_LATEST && moved && c->next_stage > 0 && strcmp(c->next_action, "stage") == 0) {
        /* The stages after a moved one keep their spacing from it: never a burst. */
        int64_t gap = stage_time_ms(c, pol, c->next_stage) - due_ms;
        if (c->next_action_ms < now + gap)
            c->next_action_ms = now + gap;
    }
    char caused_by[DN_UUID_STR_LEN], stage_txt[16];
    snprintf(stage_txt, sizeof(stage_txt), "%d", stage);
    const char *parts[] = {"timer", c->case_id, stage_txt};
    dn_uuid_derive(caused_by, parts, 3);
    json_t *detail = json_pack("{s:s, s:s, s:o, s:I}", "stage_name", st->name, "template", st->template_key,
                               "reminders", emitted, "fee_minor", (json_int_t)fee);
    if (offers) {
        char pay_by[16];
        dn_date_format(offer.pay_by, pay_by, sizeof(pay_by));
        json_object_set_new(detail, "discount",
                            json_pack("{s:s, s:I, s:I}", "pay_by", pay_by, "discount_minor",
                                      (json_int_t)offer.discount_minor, "total_minor", (json_int_t)offer.total_minor));
    }
    if (save_case(e, c, NULL, now) < 0 ||
        record(e, c, n > 0 ? "reminder_emitted" : "reminder_undeliverable", from,
               n > 0 ? NULL : "no channel reaches the customer", caused_by, now, detail) < 0)
        return H_DBERR;
    if (st->action && record(e, c, st->action, from, NULL, caused_by, now, NULL) < 0)
        return H_DBERR;
    dn_log_info("stage fired", "tenant_id", c->tenant_id, "invoice_id", c->invoice_id, "case_id", c->case_id,
                "stage_name", st->name, "state", c->state, NULL);
    return H_OK;
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
    if (!found || dn_fsm_is_terminal(state_of(&c)) || c.next_action_ms < 0) {
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
    if (strcmp(c.next_action, "resume") == 0) {
        int rc = fire_resume(e, &c, pol, now, caused_by, "pause ended");
        return rc == H_REJECT ? H_OK : rc;
    }
    return fire_stage(e, &c, pol, now);
}
