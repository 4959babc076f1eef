/* sender-voice's calling rules (see rules.h). */
#include "rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_clock.h"
#include "dn_hours.h"
#include "dn_log.h"
#include "dn_pg.h"

struct voice_rules {
    policy_set_t *ps;    /* NULL: no policy file */
    voice_policy_t dflt; /* the defaults, with the sender's calling hours */
    int any_time;        /* DUNNING_VOICE_CALLING_HOURS is empty */
    dn_pg_t *pg;
};

voice_rules_t *rules_new(const char *policy_file, const char *hours, const char *pg_dsn, char *err, size_t n)
{
    voice_rules_t *vr = calloc(1, sizeof(*vr));
    if (!vr) {
        snprintf(err, n, "out of memory");
        return NULL;
    }
    dn_policy_voice_defaults(&vr->dflt);
    int on, start, end;
    if (dn_hours_parse(hours, &on, &start, &end) < 0 || (on && start >= end)) {
        snprintf(err, n,
                 "DUNNING_VOICE_CALLING_HOURS: use HH:MM-HH:MM within a day (e.g. 08:00-21:00), or empty "
                 "for any time");
        free(vr);
        return NULL;
    }
    vr->any_time = !on;
    for (int d = 0; d < 7; d++) {
        vr->dflt.hours_start[d] = (int16_t)(on ? start : 0);
        vr->dflt.hours_end[d] = (int16_t)(on ? end : 24 * 60);
    }
    if (policy_file && policy_file[0] && !(vr->ps = dn_policy_set_load(policy_file, err, n))) {
        free(vr);
        return NULL;
    }
    if (!(vr->pg = dn_pg_new(pg_dsn, err, n))) {
        dn_policy_set_destroy(vr->ps);
        free(vr);
        return NULL;
    }
    return vr;
}

void rules_destroy(voice_rules_t *vr)
{
    if (!vr)
        return;
    dn_policy_set_destroy(vr->ps);
    dn_pg_destroy(vr->pg);
    free(vr);
}

/* The reminder's voice settings: its policy by name, else the tenant's default policy. */
static const voice_policy_t *settings(const voice_rules_t *vr, const dn_reminder_due_t *rd)
{
    const policy_t *p = NULL;
    if (vr->ps) {
        if (rd->policy)
            p = dn_policy_find(vr->ps, rd->tenant_id, rd->policy);
        if (!p)
            p = dn_policy_select(vr->ps, rd->tenant_id, NULL, NULL);
    }
    return p ? &p->voice : &vr->dflt;
}

/* The calling hours that apply: the policy's, else the sender's. */
static const voice_policy_t *hours_of(const voice_rules_t *vr, const voice_policy_t *vp)
{
    return vp->calling_hours_set ? vp : &vr->dflt;
}

int rules_defer(voice_rules_t *vr, const dn_reminder_due_t *rd, int64_t now, int64_t *until_ms, char *why, size_t n)
{
    const voice_policy_t *vp = settings(vr, rd), *h = hours_of(vr, vp);
    if (h == &vr->dflt && vr->any_time)
        return 0;
    /* The contact's zone, else the tenant's (voice.time_zone), else UTC. "UTC" is the
     * schemas' default for a contact whose zone the billing system did not send, so it
     * counts as none (a customer really on UTC is "Etc/UTC"). */
    const char *tz = rd->contact.time_zone;
    if ((!tz || !dn_tz_valid(tz) || !strcmp(tz, "UTC")) && vp->time_zone[0])
        tz = vp->time_zone;
    const char *used = "UTC";
    int rc = dn_hours_week_until(now, tz, h->hours_start, h->hours_end, until_ms, &used);
    if (rc != 1)
        return 0;
    char end[40];
    dn_time_format(*until_ms, end, sizeof(end));
    snprintf(why, n, "outside calling hours (%s in %s) until %s",
             h == &vr->dflt ? "DUNNING_VOICE_CALLING_HOURS" : "voice.calling_hours", used, end);
    return 1;
}

int rules_check(voice_rules_t *vr, const dn_reminder_due_t *rd, int64_t now, char *why, size_t n)
{
    const voice_policy_t *vp = settings(vr, rd);
    const voice_policy_t *h = hours_of(vr, vp);
    int open = 0;
    for (int d = 0; d < 7; d++)
        open += h->hours_start[d] >= 0;
    if (!open) {
        snprintf(why, n, "call rule: voice.calling_hours allows no day of the week");
        return 1;
    }
    char now_txt[24], week_txt[24], quiet_txt[24];
    snprintf(now_txt, sizeof(now_txt), "%" PRId64, now);
    snprintf(week_txt, sizeof(week_txt), "%" PRId64, now - (int64_t)7 * 86400000);
    snprintf(quiet_txt, sizeof(quiet_txt), "%" PRId64, now - vp->quiet_after_answer_ms);
    const char *params[] = {rd->case_id, week_txt, quiet_txt, now_txt};
    PGresult *r =
        dn_pg_query(vr->pg,
                    "SELECT count(*) FILTER (WHERE dialled_at > to_timestamp($2::float8 / 1000)), "
                    "coalesce(to_char(max(dialled_at) FILTER (WHERE conversation AND dialled_at > "
                    "to_timestamp($3::float8 / 1000)) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI\"Z\"'), '') "
                    "FROM voice_calls WHERE case_id = $1::uuid "
                    "AND dialled_at <= to_timestamp($4::float8 / 1000)",
                    4, params);
    if (!r) {
        snprintf(why, n, "the call ledger cannot be read: %s", dn_pg_errstr(vr->pg));
        return -1;
    }
    int calls = atoi(PQgetvalue(r, 0, 0));
    char talked[40];
    snprintf(talked, sizeof(talked), "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    if (talked[0]) {
        snprintf(why, n,
                 "call rule: the customer answered a call at %s; no call for %" PRId64 " days after that "
                 "(voice.quiet_after_answer)",
                 talked, vp->quiet_after_answer_ms / (int64_t)86400000);
        return 1;
    }
    if (calls >= vp->max_attempts_per_7d) {
        snprintf(why, n, "call rule: %d calls to this case in the last 7 days (voice.max_attempts_per_7d: %d)", calls,
                 (int)vp->max_attempts_per_7d);
        return 1;
    }
    return 0;
}

int64_t rules_dial_begin(voice_rules_t *vr, const dn_reminder_due_t *rd, int64_t now, char *why, size_t n)
{
    char now_txt[24];
    snprintf(now_txt, sizeof(now_txt), "%" PRId64, now);
    const char *params[] = {rd->event_id, rd->tenant_id, rd->case_id, now_txt};
    PGresult *r = dn_pg_query(vr->pg,
                              "INSERT INTO voice_calls (reminder_event_id, tenant_id, case_id, dialled_at) "
                              "VALUES ($1, $2, $3, to_timestamp($4::float8 / 1000)) RETURNING id",
                              4, params);
    if (!r) {
        snprintf(why, n, "the call ledger cannot be written: %s", dn_pg_errstr(vr->pg));
        return -1;
    }
    int64_t id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return id;
}

void rules_dial_end(voice_rules_t *vr, int64_t id, const call_report_t *rep)
{
    char id_txt[24], dur[24];
    snprintf(id_txt, sizeof(id_txt), "%" PRId64, id);
    snprintf(dur, sizeof(dur), "%" PRId64, rep->duration_ms);
    int talked = rep->result == DN_CALL_OUTCOME_ANSWERED && rep->digit[0];
    const char *params[] = {id_txt, dn_call_outcome_str(rep->result), rep->digit[0] ? rep->digit : NULL, dur,
                            talked ? "t" : "f"};
    PGresult *r = dn_pg_query(vr->pg,
                              "UPDATE voice_calls SET result = $2, digit = $3, duration_ms = $4, conversation = $5 "
                              "WHERE id = $1",
                              5, params);
    if (!r)
        dn_log_warn("call not completed in the ledger (it still counts as an attempt)", "detail", dn_pg_errstr(vr->pg),
                    NULL);
    PQclear(r);
}
