/* Held input (see held.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answers.h"
#include "dn_log.h"
#include "held.h"

/* Input about an invoice not seen yet: kept, and replayed when the invoice arrives. */
int hold_event(engine_t *e, const char *tenant, const char *customer, const char *invoice, const char *event_id,
               dn_topic_id_t topic, const void *payload, size_t len, int64_t now)
{
    const char *params[] = {tenant, invoice, event_id, dn_topic_name(topic), payload};
    int lengths[5] = {0, 0, 0, 0, (int)len}, formats[5] = {0, 0, 0, 0, 1};
    PGresult *r = dn_pg_query_bin(e->pg,
                                  "INSERT INTO held_events (tenant_id, invoice_id, event_id, topic, payload) "
                                  "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
                                  5, params, lengths, formats);
    if (!r)
        return H_DBERR;
    PQclear(r);
    invoice_mark(e, tenant, invoice, INV_HELD);
    case_row_t held = {
        .interest_through = -1, .paused_until = -1, .retry_base_ms = -1, .offer_until = -1, .risk_score = -1};
    case_id_for(tenant, invoice, held.case_id);
    snprintf(held.tenant_id, sizeof(held.tenant_id), "%s", tenant);
    snprintf(held.invoice_id, sizeof(held.invoice_id), "%s", invoice);
    snprintf(held.customer_id, sizeof(held.customer_id), "%s", customer);
    snprintf(held.state, sizeof(held.state), "awaiting_invoice");
    dn_log_info("event held for unknown invoice", "event_id", event_id, "tenant_id", tenant, "invoice_id", invoice,
                "topic", dn_topic_name(topic), NULL);
    return record(e, &held, "event_held", NULL, "invoice not yet known", event_id, now,
                  json_pack("{s:s}", "topic", dn_topic_name(topic))) < 0
               ? H_DBERR
               : H_OK;
}

/* Replays held input in arrival order once its invoice exists. A held record that turns
 * out to be invalid for the case is recorded in the audit trail, not dead-lettered. */
int replay_held(engine_t *e, const case_row_t *c, int64_t now, held_handler_fn handle)
{
    int flags = invoice_flags(e, c->tenant_id, c->invoice_id);
    if (flags >= 0 && !(flags & INV_HELD))
        return H_OK; /* the batch's lookup found none, and the batch held none */
    const char *params[] = {c->tenant_id, c->invoice_id};
    PGresult *r = dn_pg_query_bin(e->pg,
                                  "DELETE FROM held_events WHERE tenant_id = $1 AND invoice_id = $2 "
                                  "RETURNING id, topic, payload, event_id",
                                  2, params, NULL, NULL);
    if (!r)
        return H_DBERR;
    int n = PQntuples(r), rc = H_OK;
    /* RETURNING has no order: replay by id. */
    int *order = calloc((size_t)(n ? n : 1), sizeof(int));
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && atoll(PQgetvalue(r, order[j], 0)) < atoll(PQgetvalue(r, order[j - 1], 0)); j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int k = 0; k < n && rc == H_OK; k++) {
        int i = order[k];
        dn_topic_id_t topic;
        size_t blen;
        unsigned char *bytes = PQunescapeBytea((const unsigned char *)PQgetvalue(r, i, 2), &blen);
        if (!bytes || dn_topic_lookup(PQgetvalue(r, i, 1), &topic) < 0) {
            PQfreemem(bytes);
            continue;
        }
        int hr = handle(e, topic, bytes, blen, 1);
        PQfreemem(bytes);
        if (hr == H_REJECT) {
            case_row_t note = *c;
            hr = record(e, &note, "held_event_rejected", NULL, e->reject_reason, PQgetvalue(r, i, 3), now,
                        json_pack("{s:s, s:s}", "topic", PQgetvalue(r, i, 1), "error_code", e->reject_code)) < 0
                     ? H_DBERR
                     : H_OK;
            e->reject_code = NULL;
        }
        rc = hr;
    }
    free(order);
    PQclear(r);
    return rc;
}
