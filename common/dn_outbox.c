#include "dn_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_log.h"

/* Any number, as long as every relay uses the same one. */
#define DN_OUTBOX_LOCK "727002"

int dn_outbox_add(dn_pg_t *pg, const char *event_id, const char *topic, const char *key, const void *value,
                  size_t value_len)
{
    const char *params[] = {event_id, topic, key, value};
    int lengths[] = {0, 0, 0, (int)value_len};
    int formats[] = {0, 0, 0, 1};
    /* Deferred (pipelined): nothing here needs the result, and the transaction's COMMIT
     * reports a failure. */
    return dn_pg_defer(pg,
                       "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4) "
                       "ON CONFLICT (event_id) DO NOTHING",
                       4, params, lengths, formats);
}

int dn_outbox_relay(dn_pg_t *pg, dn_kafka_producer_t *p, size_t max, int flush_timeout_ms)
{
    int published = -1;
    PGresult *rows = NULL, *r = NULL;
    char *ids = NULL;
    if (dn_pg_begin(pg) < 0)
        return -1;
    r = dn_pg_query(pg, "SELECT pg_try_advisory_xact_lock(" DN_OUTBOX_LOCK ")", 0, NULL);
    if (!r)
        goto out;
    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
        published = 0; /* another relay is at work */
        goto out;
    }
    char limit[24];
    snprintf(limit, sizeof(limit), "%zu", max);
    const char *params[] = {limit};
    rows = dn_pg_query(pg, "SELECT id, topic, key, payload FROM outbox ORDER BY id LIMIT $1", 1, params);
    if (!rows)
        goto out;
    int n = PQntuples(rows);
    if (n == 0) {
        published = 0;
        goto out;
    }
    size_t idlen = 2;
    for (int i = 0; i < n; i++)
        idlen += strlen(PQgetvalue(rows, i, 0)) + 1;
    ids = malloc(idlen + 1);
    if (!ids)
        goto out;
    size_t off = 0;
    ids[off++] = '{';
    for (int i = 0; i < n; i++) {
        size_t vlen;
        unsigned char *value = PQunescapeBytea((const unsigned char *)PQgetvalue(rows, i, 3), &vlen);
        const char *key = PQgetvalue(rows, i, 2);
        int rc = value ? dn_kafka_producer_send(p, PQgetvalue(rows, i, 1), key, strlen(key), value, vlen) : -1;
        PQfreemem(value);
        if (rc < 0)
            goto out;
        off += (size_t)sprintf(ids + off, "%s%s", i ? "," : "", PQgetvalue(rows, i, 0));
    }
    ids[off++] = '}';
    ids[off] = '\0';
    /* Delete only after the broker acknowledged every record. */
    if (dn_kafka_producer_flush(p, flush_timeout_ms) < 0)
        goto out;
    PQclear(r);
    const char *del[] = {ids};
    r = dn_pg_query(pg, "DELETE FROM outbox WHERE id = ANY($1::bigint[])", 1, del);
    if (!r)
        goto out;
    published = n;
out:
    if (published >= 0 && dn_pg_commit(pg) < 0)
        published = -1;
    if (published < 0) {
        dn_log_warn("outbox relay failed", "detail", dn_pg_errstr(pg), "hint", "rows stay pending and are retried",
                    NULL);
        dn_pg_rollback(pg);
    }
    PQclear(rows);
    PQclear(r);
    free(ids);
    return published;
}
