/* Set-based prefetches (see prefetch.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answers.h"
#include "batch.h"
#include "case.h"
#include "dn_avro.h"
#include "dn_topics.h"
#include "dn_uuid.h"
#include "prefetch.h"
#include "risk.h"
#include "writes.h"

/* What a record names, decoded with its own decoder: its event id, tenant, invoice and
 * (payments) payment id. */
typedef struct record_ids {
    dn_topic_id_t topic;
    char id[DN_UUID_STR_LEN];
    char tenant[ID_MAX + 1], invoice[ID_MAX + 1], payment[ID_MAX + 1];
    char customer[ID_MAX + 1], currency[4]; /* invoices: whose behaviour to look up (risk.h) */
} record_ids_t;

static int ids_set(record_ids_t *out, const char *event_id, const char *tenant, const char *invoice,
                   const char *payment)
{
    if (!dn_uuid_valid(event_id) || !tenant || !invoice || strlen(tenant) > ID_MAX || strlen(invoice) > ID_MAX ||
        (payment && strlen(payment) > ID_MAX))
        return 0;
    snprintf(out->id, sizeof(out->id), "%s", event_id);
    snprintf(out->tenant, sizeof(out->tenant), "%s", tenant);
    snprintf(out->invoice, sizeof(out->invoice), "%s", invoice);
    snprintf(out->payment, sizeof(out->payment), "%s", payment ? payment : "");
    return 1;
}

/* 1 if the record has a well-formed event id (and ids within bounds), else 0: its
 * handler finds out what is wrong with it. */
static int record_ids(const rd_kafka_message_t *m, record_ids_t *out)
{
    dn_avro_err_t err;
    int ok = 0;
    if (!m->payload || m->len == 0 || dn_topic_lookup(rd_kafka_topic_name(m->rkt), &out->topic) < 0)
        return 0;
    switch (out->topic) {
    case DN_TOPIC_INVOICE_ISSUED: {
        dn_invoice_issued_t v = {0};
        ok = dn_invoice_issued_decode(m->payload, m->len, &v, &err) == 0 &&
             ids_set(out, v.event_id, v.tenant_id, v.invoice_id, NULL);
        out->customer[0] = out->currency[0] = '\0';
        if (ok && v.customer_id && strlen(v.customer_id) <= ID_MAX && v.currency && strlen(v.currency) == 3) {
            snprintf(out->customer, sizeof(out->customer), "%s", v.customer_id);
            snprintf(out->currency, sizeof(out->currency), "%s", v.currency);
        }
        dn_invoice_issued_free(&v);
        return ok;
    }
    case DN_TOPIC_PAYMENT_RECEIVED: {
        dn_payment_received_t v = {0};
        ok = dn_payment_received_decode(m->payload, m->len, &v, &err) == 0 && v.payment_id &&
             ids_set(out, v.event_id, v.tenant_id, v.invoice_id, v.payment_id);
        dn_payment_received_free(&v);
        return ok;
    }
    case DN_TOPIC_PAYMENT_FAILED: {
        dn_payment_failed_t v = {0};
        ok = dn_payment_failed_decode(m->payload, m->len, &v, &err) == 0 &&
             ids_set(out, v.event_id, v.tenant_id, v.invoice_id, NULL);
        dn_payment_failed_free(&v);
        return ok;
    }
    case DN_TOPIC_CASE_COMMANDS: {
        dn_case_command_t v = {0};
        ok = dn_case_command_decode(m->payload, m->len, &v, &err) == 0 &&
             ids_set(out, v.event_id, v.tenant_id, v.invoice_id, NULL);
        dn_case_command_free(&v);
        return ok;
    }
    case DN_TOPIC_REMINDER_OUTCOMES: {
        dn_reminder_outcome_t v = {0};
        ok = dn_reminder_outcome_decode(m->payload, m->len, &v, &err) == 0 &&
             ids_set(out, v.event_id, v.tenant_id, v.invoice_id, NULL);
        dn_reminder_outcome_free(&v);
        return ok;
    }
    default:
        return 0;
    }
}

/* Locks and loads the cases named in `ids` (a PostgreSQL uuid[] literal) into
 * e->batch_cases, with their invoices' source records (the contact snapshot) if
 * with_source (timers: each one emits a reminder; records rarely do, and emit_reminders
 * reads the source itself when the row has none) and then the customers' contact
 * preferences too (prefs.h), and maps "c:<case id>" to the rows. */
static int load_cases(engine_t *e, dn_pgarray_t *ids, int with_source)
{
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "SELECT %s, %s FROM cases c JOIN invoices i USING (tenant_id, invoice_id) LEFT JOIN "
             "contact_preferences cp ON %s AND cp.tenant_id = c.tenant_id AND cp.customer_id = c.customer_id "
             "WHERE c.case_id = ANY($1::uuid[]) ORDER BY c.case_id FOR UPDATE OF c",
             case_columns,
             with_source ? "i.source, coalesce(cp.opted_out::text, '{}'), coalesce(cp.email, '')"
                         : "NULL::bytea, NULL::text, NULL::text",
             with_source ? "true" : "false");
    const char *params[] = {dn_pgarray_text(ids)};
    if (!params[0] || !(e->batch_cases = dn_pg_query(e->pg, sql, 1, params)))
        return -1;
    for (int i = 0; i < PQntuples(e->batch_cases); i++) {
        char key[64];
        uuid_key(key, sizeof(key), 'c', PQgetvalue(e->batch_cases, i, 0));
        if (batch_map_put(e->batch, key, i) < 0)
            return -1;
    }
    return 0;
}

/* The behaviour and open balance of customers (arrays of tenants T, customers C and
 * currencies K), one 'b' row each: kind, tenant, customer, inputs, open balance, currency,
 * then `more` columns. */
// clang-format off
#define BEHAVIOUR_ROWS(T, C, K, more)                                                                       \
    "SELECT 'b', bk.t, bk.c, " RISK_INPUTS_SQL ", " RISK_OPEN_SQL("bk.t", "bk.c", "bk.cur") "::text, bk.cur" \
    more " FROM unnest(" T "::text[], " C "::text[], " K "::text[]) AS bk (t, c, cur) "                     \
    "LEFT JOIN customer_behaviour b ON b.tenant_id = bk.t AND b.customer_id = bk.c"
// clang-format on
static const char behaviour_sql[] = BEHAVIOUR_ROWS("$1", "$2", "$3", "");

int handle_prefetch(engine_t *e, rd_kafka_message_t *const *msgs, size_t n)
{
    int rc = H_DBERR;
    dn_pgarray_t ids = {0}, topics = {0}, tenants = {0}, invoices = {0}, ptenants = {0}, payments = {0}, cases = {0};
    dn_pgarray_t btenants = {0}, bcustomers = {0}, bcurrencies = {0};
    PGresult *r = NULL;
    batch_reset(e);
    if (!e->batch && !(e->batch = batch_map_new()))
        return H_DBERR;
    for (size_t i = 0; i < n; i++) {
        record_ids_t ri;
        char key[3 * ID_MAX + 40];
        int v;
        if (!record_ids(msgs[i], &ri))
            continue;
        uuid_key(key, sizeof(key), 'e', ri.id);
        /* Invoices, payments and failed charges are deduplicated on their own rows (invoice
         * id, payment id, payment id and attempt), every other input on processed_events. */
        int natural = ri.topic == DN_TOPIC_INVOICE_ISSUED || ri.topic == DN_TOPIC_PAYMENT_RECEIVED ||
                      ri.topic == DN_TOPIC_PAYMENT_FAILED;
        if (!natural && !batch_map_get(e->batch, key, &v)) { /* the first copy names the topic, as one by one */
            if (batch_map_put(e->batch, key, 0) < 0 || dn_pgarray_add(&ids, key + 2) < 0 ||
                dn_pgarray_add(&topics, rd_kafka_topic_name(msgs[i]->rkt)) < 0)
                goto out;
        }
        if (ri.topic == DN_TOPIC_INVOICE_ISSUED) {
            invoice_key(key, sizeof(key), ri.tenant, ri.invoice);
            if (!batch_map_get(e->batch, key, &v) &&
                (batch_map_put(e->batch, key, 0) < 0 || dn_pgarray_add(&tenants, ri.tenant) < 0 ||
                 dn_pgarray_add(&invoices, ri.invoice) < 0))
                goto out;
            /* The customer's behaviour and open balance, for the score of the case it opens. */
            behaviour_key(key, sizeof(key), ri.tenant, ri.customer, ri.currency);
            if (ri.customer[0] && !batch_map_get(e->batch, key, &v) &&
                (batch_map_put(e->batch, key, -1) < 0 || dn_pgarray_add(&btenants, ri.tenant) < 0 ||
                 dn_pgarray_add(&bcustomers, ri.customer) < 0 || dn_pgarray_add(&bcurrencies, ri.currency) < 0))
                goto out;
            continue;
        }
        if (ri.topic == DN_TOPIC_REMINDER_OUTCOMES)
            continue; /* names its case directly; outcomes are few */
        char case_id[DN_UUID_STR_LEN];
        case_id_for(ri.tenant, ri.invoice, case_id);
        uuid_key(key, sizeof(key), 'c', case_id);
        if (!batch_map_get(e->batch, key, &v) &&
            (batch_map_put(e->batch, key, CASE_ABSENT) < 0 || dn_pgarray_add(&cases, key + 2) < 0))
            goto out;
        if (ri.topic != DN_TOPIC_PAYMENT_RECEIVED)
            continue;
        payment_key(key, sizeof(key), ri.tenant, ri.payment);
        if (!batch_map_get(e->batch, key, &v) &&
            (batch_map_put(e->batch, key, 0) < 0 || dn_pgarray_add(&ptenants, ri.tenant) < 0 ||
             dn_pgarray_add(&payments, ri.payment) < 0))
            goto out;
    }
    if (ids.n == 0 && tenants.n == 0 && cases.n == 0) {
        rc = H_OK;
        goto out;
    }
    const char *params[] = {dn_pgarray_text(&ids),      dn_pgarray_text(&topics),     dn_pgarray_text(&tenants),
                            dn_pgarray_text(&invoices), dn_pgarray_text(&ptenants),   dn_pgarray_text(&payments),
                            dn_pgarray_text(&btenants), dn_pgarray_text(&bcustomers), dn_pgarray_text(&bcurrencies)};
    for (size_t i = 0; i < 9; i++)
        if (!params[i])
            goto out; /* out of memory */
    r = dn_pg_query(e->pg,
                    "WITH ins AS (INSERT INTO processed_events (event_id, topic) "
                    "SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING RETURNING event_id), "
                    "k AS (SELECT * FROM unnest($3::text[], $4::text[]) AS k (tenant_id, invoice_id)) "
                    "SELECT 'e', event_id::text, '', '', '', '', '', NULL::timestamptz FROM ins "
                    "UNION ALL SELECT 'i', tenant_id, invoice_id, '', '', '', '', NULL FROM invoices JOIN k "
                    "USING (tenant_id, invoice_id) "
                    "UNION ALL SELECT 'p', tenant_id, invoice_id, payment_id, amount_minor::text, currency::text, "
                    "event_id::text, received_at FROM payments JOIN k USING (tenant_id, invoice_id) WHERE NOT applied "
                    "UNION ALL SELECT DISTINCT 'h', tenant_id, invoice_id, '', '', '', '', NULL::timestamptz "
                    "FROM held_events JOIN k USING (tenant_id, invoice_id) "
                    "UNION ALL SELECT 'q', tenant_id, payment_id, '', '', '', '', NULL FROM payments "
                    "JOIN unnest($5::text[], $6::text[]) AS q (tenant_id, payment_id) USING (tenant_id, payment_id) "
                    "UNION ALL " BEHAVIOUR_ROWS("$7", "$8", "$9", ", '', NULL") " ORDER BY 1, 2, 3, 8, 4",
                    9, params);
    if (!r)
        goto out;
    for (int i = 0; i < PQntuples(r); i++) {
        const char *kind = PQgetvalue(r, i, 0);
        char key[3 * ID_MAX + 40];
        int v = 0;
        if (kind[0] == 'b') { /* risk.c reads the row */
            behaviour_key(key, sizeof(key), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 5));
            if (batch_map_put(e->batch, key, i) < 0)
                goto out;
            continue;
        }
        if (kind[0] == 'e' || kind[0] == 'q') {
            if (kind[0] == 'e')
                uuid_key(key, sizeof(key), 'e', PQgetvalue(r, i, 1));
            else
                payment_key(key, sizeof(key), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
            if (batch_map_put(e->batch, key, 1) < 0)
                goto out;
            continue;
        }
        invoice_key(key, sizeof(key), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
        batch_map_get(e->batch, key, &v);
        if (kind[0] == 'p' && !(v & INV_PAYMENTS)) { /* the invoice's first waiting payment */
            key[0] = 'P';
            if (batch_map_put(e->batch, key, i) < 0)
                goto out;
            key[0] = 'i';
        }
        if (batch_map_put(e->batch, key,
                          v | (kind[0] == 'i'   ? INV_EXISTS
                               : kind[0] == 'p' ? INV_PAYMENTS
                                                : INV_HELD)) < 0)
            goto out;
    }
    if (cases.n > 0 && load_cases(e, &cases, 0) < 0)
        goto out;
    e->batch_lookup = r; /* the waiting payments' rows, for handle_invoice */
    e->behaviour_rows = btenants.n > 0 ? 'i' : 0;
    r = NULL;
    e->prefetched = 1;
    rc = H_OK;
out:
    if (rc != H_OK)
        batch_reset(e);
    PQclear(r);
    dn_pgarray_free(&ids);
    dn_pgarray_free(&topics);
    dn_pgarray_free(&tenants);
    dn_pgarray_free(&invoices);
    dn_pgarray_free(&ptenants);
    dn_pgarray_free(&payments);
    dn_pgarray_free(&cases);
    dn_pgarray_free(&btenants);
    dn_pgarray_free(&bcustomers);
    dn_pgarray_free(&bcurrencies);
    return rc;
}

/* The behaviour and open balance of the claimed cases' customers (each stage is scored,
 * risk.c) into e->batch_lookup, one statement for the batch. */
static int load_behaviour(engine_t *e)
{
    int rc = -1;
    dn_pgarray_t t = {0}, cu = {0}, cur = {0};
    for (int i = 0; i < PQntuples(e->batch_cases); i++) {
        char key[3 * ID_MAX + 40];
        int v;
        const char *tenant = PQgetvalue(e->batch_cases, i, 1), *customer = PQgetvalue(e->batch_cases, i, 3),
                   *currency = PQgetvalue(e->batch_cases, i, 12);
        behaviour_key(key, sizeof(key), tenant, customer, currency);
        if (!batch_map_get(e->batch, key, &v) &&
            (batch_map_put(e->batch, key, -1) < 0 || dn_pgarray_add(&t, tenant) < 0 ||
             dn_pgarray_add(&cu, customer) < 0 || dn_pgarray_add(&cur, currency) < 0))
            goto out;
    }
    if (t.n == 0) {
        rc = 0;
        goto out;
    }
    const char *params[] = {dn_pgarray_text(&t), dn_pgarray_text(&cu), dn_pgarray_text(&cur)};
    if (!params[0] || !params[1] || !params[2] || !(e->batch_lookup = dn_pg_query(e->pg, behaviour_sql, 3, params)))
        goto out;
    for (int i = 0; i < PQntuples(e->batch_lookup); i++) {
        char key[3 * ID_MAX + 40];
        behaviour_key(key, sizeof(key), PQgetvalue(e->batch_lookup, i, 1), PQgetvalue(e->batch_lookup, i, 2),
                      PQgetvalue(e->batch_lookup, i, 5));
        if (batch_map_put(e->batch, key, i) < 0)
            goto out;
    }
    e->behaviour_rows = 'f';
    rc = 0;
out:
    dn_pgarray_free(&t);
    dn_pgarray_free(&cu);
    dn_pgarray_free(&cur);
    return rc;
}

int fire_prefetch(engine_t *e, char *const *case_ids, size_t n)
{
    int rc = H_DBERR;
    dn_pgarray_t ids = {0};
    batch_reset(e);
    if (!e->batch && !(e->batch = batch_map_new()))
        return H_DBERR;
    for (size_t i = 0; i < n; i++) {
        char key[64];
        int v;
        if (!dn_uuid_valid(case_ids[i]))
            continue;
        uuid_key(key, sizeof(key), 'c', case_ids[i]);
        if (!batch_map_get(e->batch, key, &v) &&
            (batch_map_put(e->batch, key, CASE_ABSENT) < 0 || dn_pgarray_add(&ids, key + 2) < 0))
            goto out;
    }
    if (ids.n == 0) {
        rc = H_OK;
        goto out;
    }
    if (load_cases(e, &ids, 1) < 0 || load_behaviour(e) < 0)
        goto out;
    e->prefetched = 1;
    rc = H_OK;
out:
    if (rc != H_OK)
        batch_reset(e);
    dn_pgarray_free(&ids);
    return rc;
}

void batch_reset(engine_t *e)
{
    drop_writes();
    if (e->batch)
        batch_map_clear(e->batch);
    PQclear(e->batch_cases);
    e->batch_cases = NULL;
    PQclear(e->batch_lookup);
    e->batch_lookup = NULL;
    e->behaviour_rows = 0;
    e->prefetched = 0;
    e->batch_failed = 0;
}

void batch_destroy(engine_t *e)
{
    batch_reset(e);
    batch_map_destroy(e->batch);
    e->batch = NULL;
    writes_destroy();
}
