/* Calls that did not connect (see redial.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "redial.h"
#include "reminders.h"
#include "stage.h"
#include "writes.h"

int redial_unreached(const dn_reminder_outcome_t *v)
{
    return v->channel == DN_CHANNEL_VOICE && v->outcome == DN_OUTCOME_FAILED_TRANSIENT && v->call &&
           (v->call->result == DN_CALL_OUTCOME_BUSY || v->call->result == DN_CALL_OUTCOME_NO_ANSWER ||
            v->call->result == DN_CALL_OUTCOME_REJECTED);
}

/* Whether the case still dunns at the reminder's stage (as for a fallback). */
static int still_dunned(const case_row_t *c, const sent_reminder_t *sr)
{
    case_state_t s = state_of(c);
    return !(s == ST_RESOLVED || s == ST_WRITTEN_OFF || s == ST_PAUSED || s == ST_PROMISED || s == ST_ON_PLAN ||
             s == ST_RETRYING || (s == ST_HANDED_OVER && sr->stage != c->stage));
}

int redial_or_fall_back(engine_t *e, case_row_t *c, const policy_t *pol, const dn_reminder_outcome_t *v,
                        const sent_reminder_t *sr, int64_t now)
{
    if (!still_dunned(c, sr)) {
        dn_log_info("no redial: the case is no longer dunned at this stage", "event_id", v->event_id, "tenant_id",
                    c->tenant_id, "case_id", c->case_id, "state", c->state, NULL);
        return H_OK;
    }
    if (engine_flush_writes(e) < 0) /* it reads the audit trail */
        return H_DBERR;
    /* The calls of this series that did not connect, this one included. */
    const char *params[] = {c->case_id, sr->series};
    PGresult *r = dn_pg_query(e->pg,
                              "SELECT count(*) FROM audit WHERE case_id = $1 AND kind = 'reminder_failed_transient' "
                              "AND detail->>'channel' = 'voice' AND detail->>'series' = $2 "
                              "AND detail->'call'->>'result' IN ('busy', 'no_answer', 'rejected')",
                              2, params);
    if (!r)
        return H_DBERR;
    int calls = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (calls > pol->voice.retries) {
        char why[160];
        snprintf(why, sizeof(why), "not reached by phone in %d call%s (%s)", calls, calls == 1 ? "" : "s",
                 dn_call_outcome_str(v->call->result));
        dn_reminder_outcome_t w = *v;
        w.reason = why;
        return fall_back(e, c, pol, &w, sr, now);
    }
    int64_t at = now + pol->voice.retry_after_ms;
    schedule_next(c, pol, now);
    if (c->next_action_ms >= 0 && c->next_action_ms <= at) {
        /* The next stage comes first: it takes over (no redial). */
        dn_log_info("no redial: the next stage is due first", "event_id", v->event_id, "case_id", c->case_id, NULL);
        return H_OK;
    }
    snprintf(c->next_action, sizeof(c->next_action), "redial");
    c->next_action_ms = at;
    char when[40];
    dn_time_format(at, when, sizeof(when));
    json_t *detail = json_pack("{s:s, s:s, s:i, s:s, s:s, s:i, s:i, s:s}", "reminder_event_id", v->reminder_event_id,
                               "series", sr->series, "stage", sr->stage, "stage_name", sr->stage_name, "template",
                               sr->template_key, "call", calls + 1, "calls", pol->voice.retries + 1, "at", when);
    case_row_t row = *c;
    row.stage = sr->stage;
    if (save_case(e, c, NULL, now) < 0 || record(e, &row, "redial_scheduled", c->state,
                                                 dn_call_outcome_str(v->call->result), v->event_id, now, detail) < 0)
        return H_DBERR;
    return H_OK;
}

int fire_redial(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now)
{
    if (engine_flush_writes(e) < 0)
        return H_DBERR;
    const char *params[] = {c->case_id};
    PGresult *r = dn_pg_query(e->pg,
                              "SELECT detail->>'reminder_event_id', coalesce(detail->>'call', '2'), id FROM audit "
                              "WHERE case_id = $1 AND kind = 'redial_scheduled' ORDER BY id DESC LIMIT 1",
                              1, params);
    if (!r)
        return H_DBERR;
    char reminder[DN_UUID_STR_LEN] = "", call[16] = "", row_id[24] = "";
    if (PQntuples(r) == 1) {
        snprintf(reminder, sizeof(reminder), "%s", PQgetvalue(r, 0, 0));
        snprintf(call, sizeof(call), "%s", PQgetvalue(r, 0, 1));
        snprintf(row_id, sizeof(row_id), "%s", PQgetvalue(r, 0, 2));
    }
    PQclear(r);
    sent_reminder_t sr = {0};
    int known = reminder[0] ? find_reminder(e, c, pol, reminder, &sr) : 0;
    if (known < 0)
        return H_DBERR;
    /* The stages again, whatever happens below (the redial itself is done). */
    snprintf(c->next_action, sizeof(c->next_action), "stage");
    c->next_action_ms = -1;
    schedule_next(c, pol, now);
    if (!known || !still_dunned(c, &sr)) {
        if (save_case(e, c, NULL, now) < 0)
            return H_DBERR;
        return H_OK;
    }
    accrue(c, pol, now);
    channel_t voice = CH_VOICE;
    char salt[ID_MAX + 40];
    snprintf(salt, sizeof(salt), "%s redial %s", sr.series, call);
    int64_t due_ms = sr.at_ms;
    if (strncmp(sr.series, "stage ", 6) == 0 && sr.stage >= 1 && sr.stage <= (int)pol->nstages)
        due_ms = stage_time_ms(c, pol, sr.stage);
    reminder_spec_t rs = {.stage = sr.stage,
                          .stage_name = sr.stage_name,
                          .template_key = sr.template_key,
                          .channels = &voice,
                          .nchannels = 1,
                          .due_ms = due_ms,
                          .id_salt = salt,
                          .first_only = 1};
    json_t *emitted = json_array();
    int n = emit_reminders(e, c, pol, &rs, now, emitted);
    if (n < 0) {
        json_decref(emitted);
        return H_DBERR;
    }
    json_t *detail = json_pack("{s:s, s:s, s:i, s:s, s:s, s:i, s:o}", "reminder_event_id", reminder, "series",
                               sr.series, "stage", sr.stage, "stage_name", sr.stage_name, "template", sr.template_key,
                               "call", atoi(call), "reminders", emitted);
    char caused_by[DN_UUID_STR_LEN];
    const char *parts[] = {"redial", c->case_id, row_id};
    dn_uuid_derive(caused_by, parts, 3);
    case_row_t row = *c;
    row.stage = sr.stage;
    if (save_case(e, c, NULL, now) < 0 ||
        record(e, &row, "redial", c->state, n > 0 ? NULL : "the phone number is no longer usable", caused_by, now,
               detail) < 0)
        return H_DBERR;
    return H_OK;
}
