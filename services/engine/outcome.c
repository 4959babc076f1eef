/* ReminderOutcome (see handlers.h): what a sender did with a reminder, recorded in the
 * case's audit trail; a permanent failure falls back to the next channel (fallback.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "answers.h"
#include "risk.h"
#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_topics.h"
#include "effects.h"
#include "handlers.h"
#include "validate.h"
#include "writes.h"
#include "fallback.h"
#include "redial.h"
#include "notices.h"

/* What a sender did with a reminder: recorded in the case's audit trail; a permanent
 * failure sends the reminder on the next channel (fall_back). */
/* The key a customer pressed on a call is the CaseCommand it stands for, from actor voice:
 * 1 a promise to pay (the total due within voice.promise_days), 2 call me back, 3 already
 * paid (a hold of voice.verify_days). One the case cannot take (a promise over the policy's
 * limit, say) is recorded as keypad_choice_refused, not dead-lettered: the outcome stands. */
static int keypad_choice(engine_t *e, const dn_reminder_outcome_t *v, const case_row_t *c, int64_t now)
{
    const char *digit = v->call->digit;
    dn_case_command_kind_t kind;
    if (strcmp(digit, "1") == 0)
        kind = DN_CASE_COMMAND_KIND_PROMISE;
    else if (strcmp(digit, "2") == 0)
        kind = DN_CASE_COMMAND_KIND_CALLBACK;
    else if (strcmp(digit, "3") == 0)
        kind = DN_CASE_COMMAND_KIND_CLAIM_PAID;
    else
        return H_OK;
    char event_id[DN_UUID_STR_LEN];
    const char *parts[] = {"keypad", v->event_id, digit};
    dn_uuid_derive(event_id, parts, 3);
    dn_case_command_t cmd = {.event_id = event_id,
                             .occurred_at = v->occurred_at,
                             .tenant_id = v->tenant_id,
                             .customer_id = v->customer_id,
                             .invoice_id = v->invoice_id,
                             .command = kind,
                             .actor = "voice",
                             .channel = "voice",
                             .reason = kind == DN_CASE_COMMAND_KIND_CALLBACK ? "requested on a call" : NULL};
    int rc = handle_command(e, &cmd, NULL, 0, 1);
    if (rc != H_REJECT)
        return rc;
    return record(e, c, "keypad_choice_refused", c->state, e->reject_reason, v->event_id, now,
                  json_pack("{s:s, s:s, s:s}", "digit", digit, "command", dn_case_command_kind_str(kind), "error_code",
                            e->reject_code))
               ? H_DBERR
               : H_OK;
}

/* A reminder of the case bounced (a permanent delivery failure): one more bounced contact in
 * the customer's behaviour, an input of the risk score (docs/risk.md). Outcomes are few and
 * a bounce rarer: one statement, like the promise and plan counts. 0/-1. */
static int count_bounce(engine_t *e, const case_row_t *c, int64_t now)
{
    char at[40];
    dn_time_format(now, at, sizeof(at));
    risk_behaviour_changed(e, c->tenant_id, c->customer_id); /* risk.h */
    const char *p[] = {c->tenant_id, c->customer_id, at};
    PGresult *r = query(e,
                        "INSERT INTO customer_behaviour (tenant_id, customer_id, bounces, updated_at) VALUES ($1, "
                        "$2, 1, $3) ON CONFLICT (tenant_id, customer_id) DO UPDATE SET bounces = "
                        "customer_behaviour.bounces + 1, updated_at = EXCLUDED.updated_at",
                        3, p);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int handle_outcome(engine_t *e, dn_reminder_outcome_t *v)
{
    int rc;
    int first = first_time(e, v->event_id, dn_topic_name(DN_TOPIC_REMINDER_OUTCOMES));
    if (first <= 0) {
        if (first == 0)
            engine_note_duplicate(e);
        rc = first < 0 ? H_DBERR : H_OK;
        goto out;
    }
    const char *channel = dn_channel_str(v->channel), *outcome = dn_outcome_str(v->outcome);
    int64_t now = dn_clock_now_ms();
    case_row_t c;
    int found = load_case(e, v->case_id, &c);
    if (found <= 0) {
        notice_row_t n;
        int nf = found == 0 && !*v->invoice_id ? load_notice(e, v->case_id, &n) : 0;
        if (nf < 0) {
            rc = H_DBERR;
            goto out;
        }
        if (nf && strcmp(n.tenant_id, v->tenant_id) == 0) {
            /* A notice about the customer: the outcome goes on its trail (no channel fallback). */
            char kind[48];
            snprintf(kind, sizeof(kind), "reminder_%s", outcome);
            rc = notice_record(e, &n, kind, v->reason, v->event_id, now,
                               json_pack("{s:s, s:s, s:i}", "channel", channel, "reminder_event_id",
                                         v->reminder_event_id, "attempt", (int)v->attempt)) < 0
                     ? H_DBERR
                     : H_OK;
            if (rc == H_OK)
                engine_note(e, EM_OUTCOME, channel, outcome);
            goto out;
        }
        if (found == 0) {
            /* Not malformed, so not a dead letter; but there is no trail to add it to. */
            engine_note(e, EM_OUTCOME_UNKNOWN, channel, outcome);
            dn_log_warn("outcome for an unknown case, ignored", "event_id", v->event_id, "tenant_id", v->tenant_id,
                        "invoice_id", v->invoice_id, "case_id", v->case_id, "outcome", outcome, NULL);
        }
        rc = found < 0 ? H_DBERR : H_OK;
        goto out;
    }
    if (strcmp(c.tenant_id, v->tenant_id) != 0 || strcmp(c.invoice_id, v->invoice_id) != 0) {
        rc = reject(e, "invalid_field", "field case_id: the case is not that of invoice %.64s of tenant %.64s",
                    v->invoice_id, v->tenant_id);
        goto out;
    }
    const policy_t *pol = case_policy(e, &c);
    sent_reminder_t sr = {0};
    int known = find_reminder(e, &c, pol, v->reminder_event_id, &sr);
    if (known < 0) {
        rc = H_DBERR;
        goto out;
    }
    char kind[48];
    snprintf(kind, sizeof(kind), "reminder_%s", outcome);
    json_t *detail = json_pack("{s:s, s:s, s:i}", "channel", channel, "reminder_event_id", v->reminder_event_id,
                               "attempt", (int)v->attempt);
    json_object_set_new(detail, "stage", known ? json_integer(sr.stage) : json_null());
    if (known)
        json_object_set_new(detail, "series", json_string(sr.series));
    if (v->provider_message_id)
        json_object_set_new(detail, "provider_message_id", json_string(v->provider_message_id));
    if (v->call) /* a voice call: how it ended, the key pressed, its length */
        json_object_set_new(detail, "call",
                            json_pack("{s:s, s:s?, s:I, s:I}", "result", dn_call_outcome_str(v->call->result), "digit",
                                      v->call->digit, "duration_ms", (json_int_t)v->call->duration_ms, "ring_ms",
                                      (json_int_t)v->call->ring_ms));
    if (v->has_next_attempt_at) {
        char next[40];
        dn_time_format(v->next_attempt_at, next, sizeof(next));
        json_object_set_new(detail, "next_attempt_at", json_string(next));
    }
    case_row_t row = c;
    if (known)
        row.stage = sr.stage; /* the row is about the reminder's stage */
    if (record(e, &row, kind, c.state, v->reason, v->event_id, now, detail) < 0) {
        rc = H_DBERR;
        goto out;
    }
    engine_note(e, EM_OUTCOME, channel, outcome);
    /* A call refused by sender-voice's calling rules (reason "call rule: ...") reached no
     * one because we held back, not because the contact is bad: no bounce. */
    int held_back = v->reason && strncmp(v->reason, "call rule:", 10) == 0;
    if (v->outcome == DN_OUTCOME_FAILED_PERMANENT && !held_back && count_bounce(e, &c, now) < 0) {
        rc = H_DBERR;
        goto out;
    }
    if (v->outcome == DN_OUTCOME_DELIVERED && v->channel == DN_CHANNEL_VOICE && v->call && v->call->digit &&
        c.invoice_id[0]) {
        rc = keypad_choice(e, v, &c, now);
        goto out;
    }
    if (known && redial_unreached(v)) {
        rc = redial_or_fall_back(e, &c, pol, v, &sr, now);
        goto out;
    }
    if (v->outcome != DN_OUTCOME_FAILED_PERMANENT) {
        rc = H_OK;
        goto out;
    }
    if (!known) {
        dn_log_warn("permanent failure of a reminder this engine did not emit, no fallback", "event_id", v->event_id,
                    "tenant_id", v->tenant_id, "invoice_id", v->invoice_id, "reminder_event_id", v->reminder_event_id,
                    NULL);
        rc = H_OK;
        goto out;
    }
    rc = fall_back(e, &c, pol, v, &sr, now);
out:
    return rc;
}
