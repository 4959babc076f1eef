/* A stage falling due for a case (see stage.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "risk.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_rules.h"
#include "stage.h"

static case_event_t stage_event(const stage_t *st)
{
    if (st->action && strcmp(st->action, "final_notice") == 0)
        return EV_STAGE_FINAL;
    return st->offset_ms < 0 ? EV_STAGE_PRE_DUE : EV_STAGE_OVERDUE;
}

int stage_probe(case_row_t *c, const policy_t *pol)
{
    return transition(c, stage_event(&pol->stages[c->next_stage - 1]));
}

int stage_begin(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now, int consolidated, stage_fire_t *sf)
{
    memset(sf, 0, sizeof(*sf));
    int stage = c->next_stage;
    int64_t timer_ms = c->next_action_ms; /* later than the stage's time: moved on purpose */
    char *from = sf->from;
    snprintf(sf->from, sizeof(sf->from), "%s", c->state);
    if (stage < 1 || stage > (int)pol->nstages) {
        c->next_action_ms = -1;
        return save_case(e, c, NULL, now) < 0 ? H_DBERR : H_OK;
    }
    accrue(c, pol, now);
    if (!consolidated && !dn_rules_above_minimum(c->outstanding, dn_policy_money_for(&pol->min_amount, c->currency))) {
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
    /* Scored again for this stage: its reminders and its case event carry the score, and
     * stage_end chooses the track with it (risk.h). */
    if (risk_score_case(e, c, 0) < 0)
        return H_DBERR;
    sf->stage = stage;
    sf->st = st;
    sf->policy = pol->name;
    const char *variant = dn_policy_variant(st, c->case_id); /* an experiment on the template */
    snprintf(sf->variant, sizeof(sf->variant), "%s", variant ? variant : "");
    if (variant)
        snprintf(sf->template_key, sizeof(sf->template_key), "%s--%s", st->template_key, variant);
    else
        snprintf(sf->template_key, sizeof(sf->template_key), "%s", st->template_key);
    sf->moved = moved;
    sf->due_ms = stage_time_ms(c, pol, stage);
    c->stage = stage;
    sf->fee = dn_rules_stage_fee(c->outstanding, dn_policy_money_for(&st->fee_fixed, c->currency), st->fee_percent_e4);
    c->fee += sf->fee;
    c->fees_charged += sf->fee;
    /* The stage's early-settlement offer: the discount on the principal (and the fees and
     * interest it waives) if the rest is paid by the end of the window's last day. */
    sf->offers = st->discount_percent_e4 > 0 && !consolidated;
    if (sf->offers) {
        int64_t off = dn_rules_div_round((__int128)c->outstanding * st->discount_percent_e4, 1000000) +
                      (st->discount_waive_fees ? c->fee : 0) + (st->discount_waive_interest ? c->interest : 0);
        sf->offer = (dn_discount_offer_t){.pay_by = dn_date_from_ms(now + st->discount_within_ms - 1),
                                          .discount_minor = off,
                                          .total_minor = total_due(c) - off,
                                          .percent_e4 = st->discount_percent_e4};
    }
    return 1;
}

int stage_end(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now, stage_fire_t *sf, int n, json_t *emitted,
              const char *notice_id)
{
    const stage_t *st = sf->st;
    int stage = sf->stage;
    if (n == 0) { /* nothing reached the customer: no fee for it, no offer */
        c->fee -= sf->fee;
        c->fees_charged -= sf->fee;
        sf->fee = 0;
        sf->offers = 0;
    }
    if (sf->offers) {
        c->offer_until = sf->offer.pay_by;
        c->offer_due = sf->offer.total_minor;
    }
    /* The tenant's track re-evaluated as the next stage is scheduled, with the score of this
     * stage (stage_begin): the stages from here on are the track's policy's (risk.h). */
    char track_from[ID_MAX + 1];
    int track_changed = risk_track_choose(e, c, track_from, sizeof(track_from));
    if (track_changed)
        pol = case_policy(e, c);
    c->next_stage = stage < (int)pol->nstages ? stage + 1 : 0;
    if (st->action && strcmp(st->action, "collections_handover") == 0)
        transition(c, EV_HANDOVER);
    snprintf(c->next_action, sizeof(c->next_action), "stage");
    schedule_next(c, pol, now);
    if (pol->catch_up == CATCH_UP_EACH && c->next_action_ms >= 0 && c->next_action_ms < now + RULES_DAY_MS)
        c->next_action_ms = now + RULES_DAY_MS;
    if (pol->catch_up == CATCH_UP_LATEST && sf->moved && c->next_stage > 0 && strcmp(c->next_action, "stage") == 0) {
        /* The stages after a moved one keep their spacing from it: never a burst. */
        int64_t gap = stage_time_ms(c, pol, c->next_stage) - sf->due_ms;
        if (c->next_action_ms < now + gap)
            c->next_action_ms = now + gap;
    }
    char caused_by[DN_UUID_STR_LEN], stage_txt[16];
    snprintf(stage_txt, sizeof(stage_txt), "%d", stage);
    const char *parts[] = {"timer", c->case_id, stage_txt};
    dn_uuid_derive(caused_by, parts, 3);
    json_t *detail = json_pack("{s:s, s:s, s:o, s:I, s:s}", "stage_name", st->name, "template", sf->template_key,
                               "reminders", emitted, "fee_minor", (json_int_t)sf->fee, "policy", sf->policy);
    if (sf->variant[0])
        json_object_set_new(detail, "variant", json_string(sf->variant));
    if (notice_id)
        json_object_set_new(detail, "notice_id", json_string(notice_id));
    if (sf->offers) {
        char pay_by[16];
        dn_date_format(sf->offer.pay_by, pay_by, sizeof(pay_by));
        json_object_set_new(detail, "discount",
                            json_pack("{s:s, s:I, s:I}", "pay_by", pay_by, "discount_minor",
                                      (json_int_t)sf->offer.discount_minor, "total_minor",
                                      (json_int_t)sf->offer.total_minor));
    }
    if (save_case(e, c, NULL, now) < 0 ||
        record(e, c, n > 0 ? "reminder_emitted" : "reminder_undeliverable", sf->from,
               n > 0 ? NULL : "no channel reaches the customer", caused_by, now, detail) < 0)
        return H_DBERR;
    if (st->action && record(e, c, st->action, sf->from, NULL, caused_by, now, NULL) < 0)
        return H_DBERR;
    if (track_changed && risk_track_record(e, c, track_from, caused_by, now) < 0)
        return H_DBERR;
    dn_log_info("stage fired", "tenant_id", c->tenant_id, "invoice_id", c->invoice_id, "case_id", c->case_id,
                "stage_name", st->name, "state", c->state, NULL);
    return H_OK;
}
