/* Channel fallback (see fallback.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "dn_log.h"
#include "fallback.h"
#include "reminders.h"
#include "writes.h"

static int64_t col_i64(PGresult *r, int col)
{
    return strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

/* 1 found, 0 not (a reminder this engine did not emit), -1 database error. */
int find_reminder(engine_t *e, const case_row_t *c, const policy_t *pol, const char *reminder_event_id,
                  sent_reminder_t *out)
{
    if (engine_flush_writes(e) < 0) /* it reads the audit trail */
        return -1;
    const char *params[] = {c->case_id, reminder_event_id};
    PGresult *r = dn_pg_query(
        e->pg,
        "SELECT kind, coalesce(stage, 0), coalesce(detail->>'stage_name', ''), coalesce(detail->>'template', ''), "
        "CASE kind WHEN 'reminder_emitted' THEN 'stage ' || stage WHEN 'hard_decline' THEN caused_by::text "
        "ELSE coalesce(detail->>'series', '') END, (extract(epoch from at) * 1000)::bigint FROM audit "
        "WHERE case_id = $1 AND kind IN ('reminder_emitted', 'hard_decline', 'reminder_fallback', 'redial', "
        "'reminder_resent') "
        "AND detail->'reminders' @> jsonb_build_array(jsonb_build_object('event_id', $2::text)) ORDER BY id LIMIT 1",
        2, params);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found) {
        out->stage = (int)col_i64(r, 1);
        if (strcmp(PQgetvalue(r, 0, 0), "hard_decline") == 0) {
            snprintf(out->stage_name, sizeof(out->stage_name), "update_payment_method");
            snprintf(out->template_key, sizeof(out->template_key), "%s",
                     pol->retries.update_template ? pol->retries.update_template : "update_payment_method");
        } else {
            snprintf(out->stage_name, sizeof(out->stage_name), "%s", PQgetvalue(r, 0, 2));
            snprintf(out->template_key, sizeof(out->template_key), "%s", PQgetvalue(r, 0, 3));
        }
        snprintf(out->series, sizeof(out->series), "%s", PQgetvalue(r, 0, 4));
        out->at_ms = col_i64(r, 5);
    }
    PQclear(r);
    return found;
}

/* A reminder failed for good on one channel: the same reminder goes out once more, on the
 * first channel of channel_order that reaches the customer and that its series has not
 * used yet (reminder_fallback); with none left, reminder_undeliverable. Never for a case
 * that is closed, paused, promised or on a plan, or handed over since the reminder's stage.
 * No fee. (A plan's own reminders are not retried on another channel.) */
int fall_back(engine_t *e, case_row_t *c, const policy_t *pol, const dn_reminder_outcome_t *v,
              const sent_reminder_t *sr, int64_t now)
{
    case_state_t s = state_of(c);
    if (s == ST_RESOLVED || s == ST_WRITTEN_OFF || s == ST_PAUSED || s == ST_PROMISED || s == ST_ON_PLAN ||
        (s == ST_HANDED_OVER && sr->stage != c->stage)) {
        dn_log_info("no fallback: the case is no longer dunned at this stage", "event_id", v->event_id, "tenant_id",
                    c->tenant_id, "invoice_id", c->invoice_id, "state", c->state, NULL);
        return H_OK;
    }
    /* What the series used so far, and whether this reminder already had its fallback
     * (another outcome for it with a new event id). */
    if (engine_flush_writes(e) < 0) /* it reads the audit trail */
        return H_DBERR;
    const char *params[] = {c->case_id, sr->series, v->reminder_event_id};
    PGresult *r = dn_pg_query(
        e->pg,
        "SELECT ',' || coalesce(string_agg(DISTINCT r->>'channel', ','), '') || ',', "
        "coalesce(bool_or(a.kind IN ('reminder_fallback', 'reminder_undeliverable') AND "
        "a.detail->>'reminder_event_id' = $3), false) "
        "FROM audit a LEFT JOIN LATERAL jsonb_array_elements(coalesce(a.detail->'reminders', '[]')) r ON true "
        "WHERE a.case_id = $1 AND ((a.kind = 'reminder_emitted' AND 'stage ' || a.stage = $2) "
        "OR (a.kind = 'hard_decline' AND a.caused_by::text = $2) "
        "OR (a.kind IN ('reminder_fallback', 'reminder_undeliverable') AND a.detail->>'series' = $2))",
        3, params);
    if (!r)
        return H_DBERR;
    char used[64];
    snprintf(used, sizeof(used), "%s", PQgetvalue(r, 0, 0));
    int done = strcmp(PQgetvalue(r, 0, 1), "t") == 0;
    PQclear(r);
    if (done)
        return H_OK;
    channel_t left[POLICY_MAX_CHANNELS];
    size_t nleft = 0;
    for (size_t i = 0; i < pol->nchannel_order; i++) {
        char tok[16];
        snprintf(tok, sizeof(tok), ",%s,", dn_policy_channel_name(pol->channel_order[i]));
        if (!strstr(used, tok))
            left[nleft++] = pol->channel_order[i];
    }
    /* The same stage once more: its action and due date, if the policy still has it. */
    const char *action = NULL;
    int64_t due_ms = sr->at_ms;
    if (strncmp(sr->series, "stage ", 6) == 0 && sr->stage >= 1 && sr->stage <= (int)pol->nstages &&
        strcmp(pol->stages[sr->stage - 1].name, sr->stage_name) == 0) {
        action = pol->stages[sr->stage - 1].action;
        due_ms = stage_time_ms(c, pol, sr->stage);
    }
    accrue(c, pol, now); /* the current amounts */
    reminder_spec_t rs = {.stage = sr->stage,
                          .stage_name = sr->stage_name,
                          .template_key = sr->template_key,
                          .action = action,
                          .channels = left,
                          .nchannels = nleft,
                          .due_ms = due_ms,
                          .id_salt = sr->series,
                          .first_only = 1};
    json_t *emitted = json_array();
    int n = emit_reminders(e, c, pol, &rs, now, emitted);
    if (n < 0) {
        json_decref(emitted);
        return H_DBERR;
    }
    const char *from_channel = dn_channel_str(v->channel);
    json_t *detail = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:o}", "reminder_event_id", v->reminder_event_id,
                               "from_channel", from_channel, "stage", sr->stage, "stage_name", sr->stage_name,
                               "template", sr->template_key, "series", sr->series, "reminders", emitted);
    if (n > 0)
        json_object_set(detail, "to_channel", json_object_get(json_array_get(emitted, 0), "channel"));
    else
        json_object_set_new(detail, "fee_minor", json_integer(0));
    case_row_t row = *c;
    row.stage = sr->stage; /* the row is about the reminder's stage */
    if (save_case(e, c, NULL, now) < 0 ||
        record(e, &row, n > 0 ? "reminder_fallback" : "reminder_undeliverable", c->state,
               n > 0 ? (v->reason ? v->reason : "permanent failure") : "every channel failed", v->event_id, now,
               detail) < 0)
        return H_DBERR;
    dn_log_info(n > 0 ? "reminder sent again on another channel" : "reminder undeliverable: every channel failed",
                "event_id", v->event_id, "tenant_id", c->tenant_id, "invoice_id", c->invoice_id, "case_id", c->case_id,
                "from_channel", from_channel, "stage_name", sr->stage_name, NULL);
    return H_OK;
}
