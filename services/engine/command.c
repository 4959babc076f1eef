/* CaseCommand (see handlers.h): pause, resume, credit, cancel, write off, hand over,
 * callback, claim_paid, resend (resend.h); the collections workflow's promise, withdraw_promise
 * and plan (workflow.h); the customer's contact preferences, set_preferences (prefs.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "money.h"
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
#include "held.h"
#include "prefs.h"
#include "resend.h"
#include "timers.h"
#include "workflow.h"

int handle_command(engine_t *e, dn_case_command_t *v, const void *payload, size_t len, int replay)
{
    int rc;
    const char *cmd = dn_case_command_kind_str(v->command);
    if (!replay) {
        int first = first_time(e, v->event_id, dn_topic_name(DN_TOPIC_CASE_COMMANDS));
        if (first <= 0) {
            if (first == 0)
                engine_note_duplicate(e);
            rc = first < 0 ? H_DBERR : H_OK;
            goto out;
        }
    }
    int64_t now = dn_clock_now_ms();
    if ((v->command == DN_CASE_COMMAND_KIND_PAUSE || v->command == DN_CASE_COMMAND_KIND_CLAIM_PAID) && v->has_until &&
        dn_date_to_ms(v->until) <= now) {
        rc = reject(e, "invalid_field", "field until: the %s would end before it starts",
                    v->command == DN_CASE_COMMAND_KIND_PAUSE ? "pause" : "hold");
        goto out;
    }
    case_row_t c;
    char case_id[DN_UUID_STR_LEN];
    case_id_for(v->tenant_id, v->invoice_id, case_id);
    int found = load_case(e, case_id, &c);
    if (found <= 0) {
        rc = found < 0 ? H_DBERR
                       : hold_event(e, v->tenant_id, v->customer_id, v->invoice_id, v->event_id, DN_TOPIC_CASE_COMMANDS,
                                    payload, len, now);
        goto out;
    }
    const policy_t *pol = case_policy(e, &c);
    case_state_t held = state_of(&c);
    switch (v->command) {
    case DN_CASE_COMMAND_KIND_PROMISE:
        if (!v->has_promise_date || !v->has_amount_minor) { /* key 1 on a call: see dn_validate */
            case_row_t owed = c;
            accrue(&owed, pol, now);
            if (!v->has_promise_date)
                v->promise_date = dn_date_from_ms(now) + pol->voice.promise_days;
            if (!v->has_amount_minor)
                v->amount_minor = total_due(&owed);
            v->has_promise_date = v->has_amount_minor = 1;
        }
        rc = promise_command(e, &c, pol, v, now);
        goto out;
    case DN_CASE_COMMAND_KIND_WITHDRAW_PROMISE:
        rc = promise_withdraw(e, &c, pol, v, now);
        goto out;
    case DN_CASE_COMMAND_KIND_PLAN:
        rc = plan_command(e, &c, pol, v, now);
        goto out;
    case DN_CASE_COMMAND_KIND_SET_PREFERENCES: /* the customer's, not the case's (prefs.h) */
        rc = prefs_command(e, &c, v, now);
        goto out;
    case DN_CASE_COMMAND_KIND_RESEND:
        rc = resend_command(e, &c, pol, v, now); /* resend.h */
        goto out;
    default:
        break;
    }
    char from[32];
    snprintf(from, sizeof(from), "%s", c.state);
    json_t *detail = json_object();
    if (v->actor)
        json_object_set_new(detail, "actor", json_string(v->actor));
    const char *kind = NULL, *resolved = NULL;
    accrue(&c, pol, now);
    switch (v->command) {
    case DN_CASE_COMMAND_KIND_PAUSE:
        if (transition(&c, EV_PAUSE) < 0)
            break;
        if (strcmp(from, "paused") != 0)
            snprintf(c.paused_from, sizeof(c.paused_from), "%s", from);
        snprintf(c.pause_reason, sizeof(c.pause_reason), "%s", v->reason);
        c.paused_until = v->has_until ? v->until : -1;
        if (v->reason && strcmp(v->reason, "dispute") == 0 &&
            (risk_note_dispute(e, &c, now) < 0 || risk_score_case(e, &c, 0) < 0)) { /* risk.h */
            json_decref(detail);
            rc = H_DBERR;
            goto out;
        }
        if (v->has_until) {
            char until[16];
            dn_date_format(v->until, until, sizeof(until));
            json_object_set_new(detail, "until", json_string(until));
        }
        kind = "paused";
        break;
    case DN_CASE_COMMAND_KIND_RESUME:
        json_decref(detail);
        rc = fire_resume(e, &c, pol, now, v->event_id, v->reason ? v->reason : "resumed by command");
        if (rc == H_REJECT)
            rc = reject(e, "invalid_state", "case of invoice %.64s is %s, not paused", v->invoice_id, from);
        goto out;
    case DN_CASE_COMMAND_KIND_CREDIT:
        json_decref(detail);
        rc = apply_money(e, &c, pol, v->amount_minor, 1, v->event_id, v->event_id, now);
        goto out;
    case DN_CASE_COMMAND_KIND_CANCEL:
        if (transition(&c, EV_CANCELLED) == 0) {
            kind = "cancelled";
            resolved = "cancelled";
        }
        break;
    case DN_CASE_COMMAND_KIND_WRITE_OFF:
        if (transition(&c, EV_WRITE_OFF) == 0) {
            kind = "written_off";
            json_object_set_new(detail, "written_off_minor", json_integer(total_due(&c)));
        }
        break;
    case DN_CASE_COMMAND_KIND_HAND_OVER:
        if (transition(&c, EV_HANDOVER) == 0)
            kind = "collections_handover";
        break;
    case DN_CASE_COMMAND_KIND_CALLBACK:
        /* Recorded for the collector's worklist; the case goes on as it was. */
        if (!dn_fsm_is_terminal(held))
            kind = "callback_requested";
        if (v->channel)
            json_object_set_new(detail, "channel", json_string(v->channel));
        break;
    case DN_CASE_COMMAND_KIND_CLAIM_PAID: {
        /* "I have already paid": hold for the payment to arrive, then resume. */
        if (transition(&c, EV_PAUSE) < 0)
            break;
        if (strcmp(from, "paused") != 0)
            snprintf(c.paused_from, sizeof(c.paused_from), "%s", from);
        snprintf(c.pause_reason, sizeof(c.pause_reason), "payment_claimed");
        c.paused_until = v->has_until ? v->until : dn_date_from_ms(now) + pol->voice.verify_days;
        char until[16];
        dn_date_format(c.paused_until, until, sizeof(until));
        json_object_set_new(detail, "until", json_string(until));
        if (v->channel)
            json_object_set_new(detail, "channel", json_string(v->channel));
        kind = "payment_claimed";
        break;
    }
    default: /* the workflow's, handled above */
        break;
    }
    if (!kind) {
        json_decref(detail);
        rc = reject(e, "invalid_state", "cannot %s the case of invoice %.64s: it is %s", cmd, v->invoice_id, from);
        goto out;
    }
    if (dn_fsm_is_terminal(state_of(&c))) {
        c.next_stage = 0;
        c.paused_from[0] = c.pause_reason[0] = '\0';
        c.paused_until = -1;
    }
    schedule_next(&c, pol, now);
    rc = save_case(e, &c, resolved, now) < 0 || record(e, &c, kind, from, v->reason, v->event_id, now, detail) < 0
             ? H_DBERR
             : H_OK;
    if (rc == H_OK && held != state_of(&c) && (held == ST_PROMISED || held == ST_ON_PLAN))
        rc = hold_closed(e, &c, held, now); /* cancelled or written off under a promise or plan */
    if (rc == H_OK)
        dn_log_info("case command applied", "event_id", v->event_id, "tenant_id", v->tenant_id, "invoice_id",
                    v->invoice_id, "command", cmd, "state", c.state, NULL);
out:
    return rc;
}
