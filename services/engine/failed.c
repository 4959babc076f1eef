/* PaymentFailed (see handlers.h): a card charge failed; soft declines start or continue
 * the retry schedule, hard declines ask for a new payment method. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "answers.h"
#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_topics.h"
#include "effects.h"
#include "handlers.h"
#include "validate.h"
#include "writes.h"
#include "held.h"
#include "reminders.h"
#include "timers.h"

/* Marks a failed charge (payment id, attempt) seen. 1 = first time, 0 = seen, -1 = error. */
static int first_failure(engine_t *e, const dn_payment_failed_t *v)
{
    char att[16];
    snprintf(att, sizeof(att), "%d", (int)v->attempt);
    const char *params[] = {v->tenant_id, v->payment_id, att, v->event_id};
    PGresult *r = dn_pg_query(e->pg,
                              "INSERT INTO payment_failures (tenant_id, payment_id, attempt, event_id) "
                              "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING 1",
                              4, params);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n == 1;
}

/* A card charge failed. Soft declines start (or continue) the policy's retry schedule;
 * hard declines are never retried: the customer is asked to update the payment method. */
int handle_failed(engine_t *e, dn_payment_failed_t *v, const void *payload, size_t len, int replay)
{
    int rc;
    if (!replay) {
        /* No processed_events row: payment_failures is the record that the failure was
         * applied; the same event again, or the same failed charge reported under a new
         * event id, finds its (payment id, attempt) there. */
        int first = first_failure(e, v);
        if (first <= 0) {
            if (first == 0)
                engine_note_duplicate(e);
            rc = first < 0 ? H_DBERR : H_OK;
            goto out;
        }
    }
    int64_t now = dn_clock_now_ms();
    case_row_t c;
    char case_id[DN_UUID_STR_LEN];
    case_id_for(v->tenant_id, v->invoice_id, case_id);
    int found = load_case(e, case_id, &c);
    if (found <= 0) {
        rc = found < 0 ? H_DBERR
                       : hold_event(e, v->tenant_id, v->customer_id, v->invoice_id, v->event_id,
                                    DN_TOPIC_PAYMENT_FAILED, payload, len, now);
        goto out;
    }
    if (strcmp(c.currency, v->currency) != 0) {
        rc = reject(e, "currency_mismatch", "failed charge in %.8s for invoice %.64s in %s", v->currency, v->invoice_id,
                    c.currency);
        goto out;
    }
    const policy_t *pol = case_policy(e, &c);
    char from[32];
    snprintf(from, sizeof(from), "%s", c.state);
    case_state_t s = state_of(&c);
    json_t *detail = json_pack("{s:s, s:s, s:i, s:I}", "payment_id", v->payment_id, "decline_code", v->decline_code,
                               "attempt", (int)v->attempt, "amount_minor", (json_int_t)v->amount_minor);
    if (dn_fsm_is_terminal(s) || s == ST_PAUSED) {
        rc = record(e, &c, "payment_failed", from, s == ST_PAUSED ? "case is paused" : "case is closed", v->event_id,
                    now, detail) < 0
                 ? H_DBERR
                 : H_OK;
        goto out;
    }
    accrue(&c, pol, now);
    snprintf(c.last_decline, sizeof(c.last_decline), "%s", v->decline_code);
    if (dn_policy_is_hard_decline(pol, v->decline_code)) {
        /* No retry can succeed: ask for a new payment method now, and dun as usual. */
        json_t *emitted = json_array();
        reminder_spec_t rs = {.stage = c.stage,
                              .stage_name = "update_payment_method",
                              .template_key =
                                  pol->retries.update_template ? pol->retries.update_template : "update_payment_method",
                              .channels = pol->channel_order,
                              .nchannels = 1,
                              .due_ms = now,
                              .id_salt = v->event_id};
        int n = emit_reminders(e, &c, pol, &rs, now, emitted);
        json_object_set_new(detail, "reminders", emitted);
        if (n < 0 || save_case(e, &c, NULL, now) < 0 ||
            record(e, &c, "hard_decline", from, "the card cannot be charged again", v->event_id, now, detail) < 0) {
            rc = H_DBERR;
            goto out;
        }
        rc = s == ST_RETRYING ? exhaust_retries(e, &c, pol, v->event_id, "hard decline", now) : H_OK;
        goto out;
    }
    if (pol->retries.nschedule == 0) {
        rc = save_case(e, &c, NULL, now) < 0 || record(e, &c, "payment_failed", from,
                                                       "the policy has no retry schedule", v->event_id, now, detail) < 0
                 ? H_DBERR
                 : H_OK;
        goto out;
    }
    if (s != ST_RETRYING) {
        transition(&c, EV_SOFT_DECLINE);
        c.retry_attempt = 0;
        c.retry_base_ms = now;
        snprintf(c.retry_payment, sizeof(c.retry_payment), "%s", v->payment_id);
        snprintf(c.retry_from, sizeof(c.retry_from), "%s", from);
        schedule_next(&c, pol, now);
        rc = save_case(e, &c, NULL, now) < 0 ||
                     record(e, &c, "retrying", from, "card declined, retries scheduled", v->event_id, now, detail) < 0
                 ? H_DBERR
                 : H_OK;
        goto out;
    }
    /* A retry failed. After the last one there is nothing left to try. */
    if (save_case(e, &c, NULL, now) < 0 || record(e, &c, "retry_failed", from, NULL, v->event_id, now, detail) < 0) {
        rc = H_DBERR;
        goto out;
    }
    rc = (size_t)c.retry_attempt >= pol->retries.nschedule
             ? exhaust_retries(e, &c, pol, v->event_id, "the last retry failed", now)
             : H_OK;
out:
    return rc;
}
