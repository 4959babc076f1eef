#include "dn_case_events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_log.h"
#include "dn_schemas_gen.h"
#include "dn_topics.h"
#include "dn_uuid.h"

/* Any number, as long as every case-event relay uses the same one (dn_outbox's is 727002;
 * the audit append lock of the migration is 727003). */
#define DN_CASE_EVENTS_LOCK "727004"

enum { DN_CASE_EVENT_REASONS = 8 }; /* the engine writes at most 3 */

/* The case event's id: derived from the case, the kind, what caused it and the stage, so a
 * row published again keeps its id. */
static void case_event_id(const char *case_id, const char *kind, const char *caused_by, int stage,
                          char out[DN_UUID_STR_LEN])
{
    char st[16];
    snprintf(st, sizeof(st), "%d", stage);
    const char *parts[] = {"case-event", case_id, kind, caused_by ? caused_by : "", st};
    dn_uuid_derive(out, parts, 5);
}

static char *opt(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int dn_case_events_relay(dn_pg_t *pg, dn_kafka_producer_t *p, size_t max, int flush_timeout_ms)
{
    int moved = -1;
    PGresult *rows = NULL, *r = NULL;
    if (dn_pg_begin(pg) < 0)
        return -1;
    r = dn_pg_query(pg, "SELECT pg_try_advisory_xact_lock(" DN_CASE_EVENTS_LOCK ")", 0, NULL);
    if (!r)
        goto out;
    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        moved = 0; /* another relay is at work */
        goto out;
    }
    PQclear(r);
    r = dn_pg_query(pg, "SELECT last_id FROM relay_cursors WHERE name = 'case-events'", 0, NULL);
    if (!r || PQntuples(r) != 1)
        goto out;
    char limit[24], after[24];
    snprintf(limit, sizeof(limit), "%zu", max);
    snprintf(after, sizeof(after), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    const char *params[] = {limit, after};
    /* An index range scan on the primary key from the cursor on. */
    rows = dn_pg_query(pg,
                       "SELECT a.id, a.tenant_id, coalesce(a.customer_id, ''), coalesce(a.invoice_id, ''), a.case_id, "
                       "(extract(epoch from a.at) * 1000)::bigint, a.kind, a.from_state, a.to_state, "
                       "coalesce(a.stage, 0), coalesce(a.outstanding_minor, 0), coalesce(a.fee_minor, 0), "
                       "coalesce(a.interest_minor, 0), coalesce(a.currency, ''), a.detail->>'reason', a.caused_by, "
                       "a.detail->>'risk_score', (SELECT string_agg(x, E'\\n') FROM "
                       "jsonb_array_elements_text(CASE WHEN jsonb_typeof(a.detail->'risk_reasons') = 'array' THEN "
                       "a.detail->'risk_reasons' END) x) "
                       "FROM audit a WHERE a.id > $2::bigint ORDER BY a.id LIMIT $1",
                       2, params);
    if (!rows)
        goto out;
    int n = PQntuples(rows);
    if (n == 0) {
        moved = 0;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (PQgetisnull(rows, i, 4))
            continue; /* not about a case */
        char event_id[DN_UUID_STR_LEN], key[512];
        const char *case_id = PQgetvalue(rows, i, 4), *kind = PQgetvalue(rows, i, 6);
        int stage = atoi(PQgetvalue(rows, i, 9));
        case_event_id(case_id, kind, opt(rows, i, 15), stage, event_id);
        dn_dunning_case_event_t ev = {.event_id = event_id,
                                      .occurred_at = strtoll(PQgetvalue(rows, i, 5), NULL, 10),
                                      .tenant_id = PQgetvalue(rows, i, 1),
                                      .customer_id = PQgetvalue(rows, i, 2),
                                      .case_id = (char *)case_id,
                                      .invoice_id = PQgetvalue(rows, i, 3),
                                      .event_type = (char *)kind,
                                      .from_state = opt(rows, i, 7),
                                      .to_state = PQgetisnull(rows, i, 8) ? "" : PQgetvalue(rows, i, 8),
                                      .stage = stage,
                                      .outstanding_minor = strtoll(PQgetvalue(rows, i, 10), NULL, 10),
                                      .fee_minor = strtoll(PQgetvalue(rows, i, 11), NULL, 10),
                                      .interest_minor = strtoll(PQgetvalue(rows, i, 12), NULL, 10),
                                      .currency = PQgetvalue(rows, i, 13),
                                      .reason = opt(rows, i, 14),
                                      .caused_by_event_id = opt(rows, i, 15)};
        /* The risk score on the rows that carry it (the engine's record()), reasons one per line. */
        char *reasons[DN_CASE_EVENT_REASONS], *why = opt(rows, i, 17) ? strdup(PQgetvalue(rows, i, 17)) : NULL;
        if (opt(rows, i, 16)) {
            ev.risk_score = atoi(PQgetvalue(rows, i, 16));
            ev.has_risk_score = true;
        }
        char *save = NULL;
        for (char *t = why ? strtok_r(why, "\n", &save) : NULL; t && ev.risk_reasons_n < DN_CASE_EVENT_REASONS;
             t = strtok_r(NULL, "\n", &save))
            reasons[ev.risk_reasons_n++] = t;
        ev.risk_reasons = ev.risk_reasons_n ? reasons : NULL;
        char *buf = NULL;
        size_t len = 0;
        dn_topic_key(ev.tenant_id, ev.customer_id, key, sizeof(key));
        if (dn_dunning_case_event_encode(&ev, &buf, &len) < 0) {
            free(why);
            dn_log_error("cannot encode case event", "case_id", case_id, "audit_id", PQgetvalue(rows, i, 0), NULL);
            goto out;
        }
        int rc = dn_kafka_producer_send(p, dn_topic_name(DN_TOPIC_CASE_EVENTS), key, strlen(key), buf, len);
        free(buf);
        free(why);
        if (rc < 0)
            goto out;
    }
    /* Move the cursor only after the broker acknowledged every record. */
    if (dn_kafka_producer_flush(p, flush_timeout_ms) < 0)
        goto out;
    const char *upd[] = {PQgetvalue(rows, n - 1, 0)};
    r = dn_pg_query(pg, "UPDATE relay_cursors SET last_id = $1, updated_at = now() WHERE name = 'case-events'", 1, upd);
    if (!r)
        goto out;
    moved = n;
out:
    if (moved >= 0 && dn_pg_commit(pg) < 0)
        moved = -1;
    if (moved < 0) {
        dn_log_warn("case event relay failed", "detail", dn_pg_errstr(pg), "hint",
                    "the cursor stays; the rows are published on the next try", NULL);
        dn_pg_rollback(pg);
    }
    PQclear(rows);
    PQclear(r);
    return moved;
}
