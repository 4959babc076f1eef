/* The customer's contact preferences (see prefs.h). The current ones are a row of
 * contact_preferences per (tenant, customer); every applied set_preferences adds a row to
 * consent_events (sql/023_contact_preferences.sql). The address is contact data: never in
 * the audit trail, the consent history or a log line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_clock.h"
#include "dn_log.h"
#include "prefs.h"
#include "validate.h"
#include "writes.h"

#define OPEN_STATES "('resolved', 'cancelled', 'written_off')"

/* "{sms,voice}": a mask as a PostgreSQL text[] literal (channel names need no quoting). */
static void mask_array(unsigned mask, char *buf, size_t size)
{
    char list[64];
    dn_prefs_mask_format(mask, list, sizeof(list));
    snprintf(buf, size, "{%s}", list);
}

static json_t *mask_json(unsigned mask)
{
    json_t *a = json_array();
    for (int c = 0; c < CH_COUNT; c++)
        if (mask & (1u << c))
            json_array_append_new(a, json_string(dn_policy_channel_name((channel_t)c)));
    return a;
}

/* A text[] as PostgreSQL prints it ("{sms,voice}") as a mask; unknown names are ignored
 * (the table's CHECK allows none). */
static unsigned array_mask(const char *txt)
{
    unsigned m = 0;
    char buf[128], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", txt);
    for (char *t = strtok_r(buf, "{},", &save); t; t = strtok_r(NULL, "{},", &save)) {
        channel_t ch;
        if (dn_prefs_channel_parse(t, &ch) == 0)
            m |= 1u << ch;
    }
    return m;
}

void prefs_from_text(const char *opted_out, const char *email, prefs_t *p)
{
    p->opted_out = array_mask(opted_out);
    snprintf(p->email, sizeof(p->email), "%s", email);
}

int prefs_load(engine_t *e, const char *tenant, const char *customer, prefs_t *p)
{
    memset(p, 0, sizeof(*p));
    const char *params[] = {tenant, customer};
    /* Not query(): the fast path's buffered rows need not go first (the engine writes these
     * rows directly, never buffered), so a reminder does not flush the batch. */
    PGresult *r = dn_pg_query(e->pg,
                              "SELECT opted_out::text, coalesce(email, '') FROM contact_preferences WHERE "
                              "tenant_id = $1 AND customer_id = $2",
                              2, params);
    if (!r)
        return -1;
    if (PQntuples(r) == 1)
        prefs_from_text(PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1), p);
    PQclear(r);
    return 0;
}

/* The channels the contact data of the command's invoice reaches, less the billing
 * system's opt-outs. -1 on a database error. */
static int contact_reach(engine_t *e, const case_row_t *c, unsigned *reach)
{
    const char *params[] = {c->tenant_id, c->invoice_id};
    PGresult *r = query(e,
                        "SELECT coalesce(contact->>'email', '') <> '' AND NOT coalesce(contact->'opted_out_channels' "
                        "? 'email', false), coalesce(contact->>'phone', '') <> '' AND NOT "
                        "coalesce(contact->'opted_out_channels' ? 'sms', false), jsonb_typeof(contact->'address') = "
                        "'object' AND NOT coalesce(contact->'opted_out_channels' ? 'letter', false), "
                        "coalesce(contact->>'phone', '') <> '' AND NOT coalesce(contact->'opted_out_channels' ? "
                        "'voice', false) FROM invoices WHERE tenant_id = $1 AND invoice_id = $2",
                        2, params);
    if (!r)
        return -1;
    *reach = 0;
    for (int ch = 0; PQntuples(r) == 1 && ch < CH_COUNT; ch++)
        if (PQgetvalue(r, 0, ch)[0] == 't')
            *reach |= 1u << ch;
    PQclear(r);
    return 0;
}

/* preferences_changed on one case: what this command changed, never the address. */
static int note_case(engine_t *e, const case_row_t *c, const dn_case_command_t *v, unsigned added, unsigned removed,
                     unsigned now_out, int email_changed, int64_t now)
{
    json_t *detail = json_pack("{s:o, s:o, s:o, s:b}", "opt_out", mask_json(added), "opt_in", mask_json(removed),
                               "opted_out", mask_json(now_out), "email_changed", email_changed);
    if (v->actor)
        json_object_set_new(detail, "actor", json_string(v->actor));
    if (v->channel)
        json_object_set_new(detail, "channel", json_string(v->channel));
    if (strcmp(c->invoice_id, v->invoice_id) != 0)
        json_object_set_new(detail, "from_invoice_id", json_string(v->invoice_id));
    return record(e, c, "preferences_changed", c->state, NULL, v->event_id, now, detail);
}

int prefs_command(engine_t *e, const case_row_t *c, const dn_case_command_t *v, int64_t now)
{
    prefs_t cur;
    unsigned reach = 0, next = 0;
    const char *code = NULL;
    char why[sizeof(e->reject_reason)];
    const char *lp[] = {c->tenant_id, c->customer_id};
    /* The row is locked by the upsert below; two commands of one customer are one
     * partition's, applied in order by one engine. */
    if (prefs_load(e, c->tenant_id, c->customer_id, &cur) < 0 || contact_reach(e, c, &reach) < 0)
        return H_DBERR;
    if (cur.email[0])
        reach |= 1u << CH_EMAIL;
    if (dn_prefs_apply(cur.opted_out, (const char *const *)v->opt_out, v->opt_out_n, (const char *const *)v->opt_in,
                       v->opt_in_n, v->email, reach, &next, &code, why, sizeof(why)) < 0)
        return reject(e, code, "%s", why);
    if (!v->opt_out_n && !v->opt_in_n && !v->email)
        return reject(e, "invalid_field", "set_preferences changes nothing: opt_out, opt_in and email are all empty");
    int email_changed = v->email && strcmp(v->email, cur.email) != 0;
    unsigned added = next & ~cur.opted_out, removed = cur.opted_out & ~next;
    char at[40], out_arr[64], add_arr[64], rem_arr[64];
    dn_time_format(now, at, sizeof(at));
    mask_array(next, out_arr, sizeof(out_arr));
    mask_array(added, add_arr, sizeof(add_arr));
    mask_array(removed, rem_arr, sizeof(rem_arr));
    const char *up[] = {c->tenant_id, c->customer_id, out_arr, v->email, at, v->event_id};
    PGresult *r = query(e,
                        "INSERT INTO contact_preferences (tenant_id, customer_id, opted_out, email, updated_at, "
                        "event_id) VALUES ($1, $2, $3::text[], $4, $5, $6::uuid) ON CONFLICT (tenant_id, customer_id) "
                        "DO UPDATE SET opted_out = EXCLUDED.opted_out, email = coalesce(EXCLUDED.email, "
                        "contact_preferences.email), updated_at = EXCLUDED.updated_at, event_id = EXCLUDED.event_id",
                        6, up);
    if (!r)
        return H_DBERR;
    PQclear(r);
    const char *hp[] = {c->tenant_id, c->customer_id, at,      v->event_id, v->invoice_id,
                        v->actor,     v->channel,     add_arr, rem_arr,     email_changed ? "true" : "false",
                        out_arr};
    r = query(e,
              "INSERT INTO consent_events (tenant_id, customer_id, at, event_id, invoice_id, actor, channel, "
              "opted_out, opted_in, email_changed, result) VALUES ($1, $2, $3, $4::uuid, $5, $6, $7, $8::text[], "
              "$9::text[], $10::boolean, $11::text[])",
              11, hp);
    if (!r)
        return H_DBERR;
    PQclear(r);
    /* The customer's open cases, each with its own row (the console's timeline shows it). */
    r = query(e,
              "SELECT case_id FROM cases WHERE tenant_id = $1 AND customer_id = $2 AND state NOT IN " OPEN_STATES
              " ORDER BY case_id",
              2, lp);
    if (!r)
        return H_DBERR;
    int n = PQntuples(r), rc = H_OK, own = 0;
    char(*ids)[DN_UUID_STR_LEN] = n ? calloc((size_t)n, sizeof(*ids)) : NULL;
    if (n && !ids) {
        PQclear(r);
        return H_DBERR;
    }
    for (int i = 0; i < n; i++)
        snprintf(ids[i], sizeof(ids[i]), "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    for (int i = 0; i < n && rc == H_OK; i++) {
        case_row_t oc;
        int found = load_case(e, ids[i], &oc);
        if (found < 0)
            rc = H_DBERR;
        else if (found && note_case(e, &oc, v, added, removed, next, email_changed, now) < 0)
            rc = H_DBERR;
        own |= found && strcmp(oc.case_id, c->case_id) == 0;
    }
    free(ids);
    if (rc == H_OK && !own && note_case(e, c, v, added, removed, next, email_changed, now) < 0)
        rc = H_DBERR;
    if (rc == H_OK)
        dn_log_info("contact preferences changed", "event_id", v->event_id, "tenant_id", c->tenant_id, "invoice_id",
                    v->invoice_id, "opted_out", out_arr, "email_changed", email_changed ? "true" : "false", NULL);
    return rc;
}

int prefs_note_skipped(engine_t *e, const case_row_t *c, int stage, const char *stage_name, unsigned skipped,
                       const char *caused_by, int64_t now)
{
    char list[64], why[128];
    dn_prefs_mask_format(skipped, list, sizeof(list));
    snprintf(why, sizeof(why), "the customer opted out of %s and no other channel reaches them", list);
    json_t *detail = json_pack("{s:i, s:s, s:o}", "stage", stage, "stage_name", stage_name ? stage_name : "",
                               "opted_out", mask_json(skipped));
    return record(e, c, "reminder_skipped", c->state, why, caused_by, now, detail);
}
