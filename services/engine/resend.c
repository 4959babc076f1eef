/* The resend command (see resend.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "reminders.h"
#include "resend.h"
#include "validate.h"
#include "writes.h"

static int is_active(case_state_t s)
{
    return s == ST_OPEN || s == ST_PRE_DUE_REMINDED || s == ST_OVERDUE || s == ST_FINAL_NOTICE || s == ST_RETRYING;
}

static int channel_parse(const char *name, channel_t *out)
{
    for (channel_t ch = 0; ch < CH_COUNT; ch++)
        if (strcmp(dn_policy_channel_name(ch), name) == 0) {
            *out = ch;
            return 0;
        }
    return -1;
}

/* The last audit row that sent a stage reminder to the customer (a stage's, its fallback,
 * a redial, an earlier resend), newest first. */
static const char last_sql[] =
    "SELECT a.kind, coalesce(a.stage, (a.detail->>'stage')::int, 0), coalesce(a.detail->>'stage_name', ''), "
    "coalesce(a.detail->>'template', ''), CASE a.kind WHEN 'reminder_emitted' THEN 'stage ' || a.stage "
    "ELSE coalesce(a.detail->>'series', '') END, a.detail->'reminders', coalesce(a.detail->'discount', 'null'), "
    "a.detail ? 'notice_id' FROM audit a WHERE a.case_id = $1 "
    "AND a.kind IN ('reminder_emitted', 'reminder_fallback', 'redial', 'reminder_resent') "
    "AND jsonb_array_length(coalesce(a.detail->'reminders', '[]')) > 0 ORDER BY a.id DESC LIMIT 1";

int resend_command(engine_t *e, case_row_t *c, const policy_t *pol, const dn_case_command_t *v, int64_t now)
{
    int rc = H_DBERR;
    PGresult *r = NULL;
    json_t *last = NULL, *offer = NULL, *emitted = NULL, *detail = NULL;
    if (!is_active(state_of(c))) {
        rc = reject(e, "invalid_state", "cannot resend the last reminder of invoice %.64s: the case is %s",
                    v->invoice_id, c->state);
        goto out;
    }
    if (engine_flush_writes(e) < 0) /* it reads the audit trail */
        goto out;
    const char *params[] = {c->case_id};
    if (!(r = dn_pg_query(e->pg, last_sql, 1, params)))
        goto out;
    if (PQntuples(r) == 0) {
        rc = reject(e, "invalid_state", "cannot resend the last reminder of invoice %.64s: no reminder was sent yet",
                    v->invoice_id);
        goto out;
    }
    if (strcmp(PQgetvalue(r, 0, 7), "t") == 0) {
        rc = reject(e, "invalid_state",
                    "cannot resend the last reminder of invoice %.64s: it was the customer's notice of the day, "
                    "about several invoices",
                    v->invoice_id);
        goto out;
    }
    int stage = atoi(PQgetvalue(r, 0, 1));
    const char *stage_name = PQgetvalue(r, 0, 2), *template_key = PQgetvalue(r, 0, 3), *series = PQgetvalue(r, 0, 4);
    last = json_loads(PQgetvalue(r, 0, 5), 0, NULL);
    offer = json_loads(PQgetvalue(r, 0, 6), JSON_DECODE_ANY, NULL);
    /* The stage as the policy has it now, if it still does: its action, due time, channels. */
    const stage_t *st = stage >= 1 && stage <= (int)pol->nstages && strcmp(pol->stages[stage - 1].name, stage_name) == 0
                            ? &pol->stages[stage - 1]
                            : NULL;
    channel_t use[POLICY_MAX_CHANNELS];
    size_t nuse = 0;
    json_t *it;
    size_t i;
    json_array_foreach(last, i, it)
    {
        channel_t ch;
        const char *name = json_string_value(json_object_get(it, "channel"));
        int seen = 0;
        if (!name || channel_parse(name, &ch) < 0)
            continue;
        for (size_t k = 0; k < nuse; k++)
            seen |= use[k] == ch;
        if (!seen && nuse < POLICY_MAX_CHANNELS)
            use[nuse++] = ch;
    }
    if (v->target_channel) {
        channel_t want;
        int allowed = channel_parse(v->target_channel, &want) == 0 ? 0 : -1;
        for (size_t k = 0; allowed == 0 && k < nuse; k++)
            allowed = use[k] == want;
        for (size_t k = 0; allowed == 0 && st && k < st->nchannels; k++)
            allowed = st->channels[k] == want;
        if (allowed <= 0) {
            rc = reject(e, "invalid_field",
                        "field target_channel: %.16s is not one of the channels of stage %.64s or of its last reminder",
                        v->target_channel, stage_name);
            goto out;
        }
        use[0] = want;
        nuse = 1;
    }
    dn_discount_offer_t disc;
    int with_offer = json_is_object(offer) && c->offer_until >= dn_date_from_ms(now);
    if (with_offer) {
        int32_t pay_by = 0;
        dn_date_parse(json_string_value(json_object_get(offer, "pay_by")), &pay_by);
        disc = (dn_discount_offer_t){.pay_by = pay_by,
                                     .discount_minor = json_integer_value(json_object_get(offer, "discount_minor")),
                                     .total_minor = json_integer_value(json_object_get(offer, "total_minor")),
                                     .percent_e4 = st ? st->discount_percent_e4 : 0};
    }
    accrue(c, pol, now); /* the amounts owed now */
    char salt[64];
    snprintf(salt, sizeof(salt), "resend %s", v->event_id);
    reminder_spec_t rs = {.stage = stage,
                          .stage_name = stage_name,
                          .template_key = template_key,
                          .action = st ? st->action : NULL,
                          .channels = use,
                          .nchannels = nuse,
                          .due_ms = st ? stage_time_ms(c, pol, stage) : now,
                          .id_salt = salt,
                          .discount = with_offer ? &disc : NULL};
    /* Only the channels asked for: no channel_order when none of them reaches the customer. */
    rs.first_only = v->target_channel != NULL;
    emitted = json_array();
    int n = emit_reminders(e, c, pol, &rs, now, emitted);
    if (n < 0)
        goto out;
    if (n == 0) {
        rc = reject(e, "invalid_state", "cannot resend the last reminder of invoice %.64s: no contact for %s",
                    v->invoice_id, v->target_channel ? v->target_channel : "its channels");
        goto out;
    }
    json_t *of = json_array();
    json_array_foreach(last, i, it) json_array_append(of, json_object_get(it, "event_id"));
    detail = json_pack("{s:i, s:s, s:s, s:s, s:o, s:o, s:I}", "stage", stage, "stage_name", stage_name, "template",
                       template_key, "series", series, "resent", of, "reminders", emitted, "fee_minor", (json_int_t)0);
    emitted = NULL; /* now the detail's */
    if (v->actor)
        json_object_set_new(detail, "actor", json_string(v->actor));
    if (v->target_channel)
        json_object_set_new(detail, "target_channel", json_string(v->target_channel));
    if (with_offer)
        json_object_set(detail, "discount", offer);
    if (save_case(e, c, NULL, now) < 0)
        goto out;
    case_row_t row = *c;
    row.stage = stage; /* the row is about the reminder's stage */
    int bad = record(e, &row, "reminder_resent", c->state, v->reason ? v->reason : "the last reminder sent again",
                     v->event_id, now, detail) < 0;
    detail = NULL; /* record's */
    if (bad)
        goto out;
    dn_log_info("last reminder sent again", "event_id", v->event_id, "tenant_id", c->tenant_id, "invoice_id",
                c->invoice_id, "case_id", c->case_id, "stage_name", stage_name, NULL);
    rc = H_OK;
out:
    json_decref(detail);
    json_decref(emitted);
    json_decref(offer);
    json_decref(last);
    PQclear(r);
    return rc;
}
