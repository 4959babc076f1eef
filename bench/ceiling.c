/* dn-bench-ceiling: the I/O the engine cannot avoid, with no dunning logic. What it
 * reaches on a machine is the ceiling the engine is measured against.
 *
 *   dn-bench-ceiling ingest --expect N [--batch B]
 *     consumes invoice-issued, payment-received and payment-failed (its own consumer
 *     group), decodes each record with the generated decoders, and per batch, in ONE
 *     transaction: upserts one row per event (keyed by tenant and invoice) and appends one
 *     audit row per event (multi-row statements over arrays); COMMIT; then one pipelined
 *     ZADD per event; then the offsets. Stops after N events.
 *   dn-bench-ceiling storm --expect N --due-ms MS [--batch B]
 *     the timer storm's I/O: claims due timers with the engine's Lua claim script, and per
 *     batch in one transaction updates each row and appends an audit row, publishes one
 *     ReminderDue-sized record per timer (acknowledged), then ZREMs the timers.
 *
 * Tables bench_ceiling_rows and bench_ceiling_audit are (re)created by `ingest`; the timer
 * index's keys start with DUNNING_TIMER_KEY's value + ":ceiling", with DUNNING_TIMER_BUCKETS
 * buckets (default as the engine's). Progress goes to stderr; the result is
 * one JSON line on stdout: events, seconds from the first to the last COMMIT, rate. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dn_avro.h"
#include "dn_buf.h"
#include "dn_kafka.h"
#include "dn_log.h"
#include "dn_pg.h"
#include "dn_signal.h"
#include "dn_timers.h"
#include "dn_topics.h"
#include "dn_uuid.h"

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Appends to a PostgreSQL array literal; the benchmark stops on out-of-memory. */
static void sb_add(dn_buf_t *b, const char *s, size_t n)
{
    if (dn_buf_addn(b, s, n) < 0)
        abort();
}

/* Appends one quoted element (ids here are plain: no quotes or backslashes). */
static void sb_elem(dn_buf_t *b, const char *s)
{
    sb_add(b, b->len > 1 ? ",\"" : "\"", b->len > 1 ? 2 : 1);
    sb_add(b, s, strlen(s));
    sb_add(b, "\"", 1);
}

static void sb_start(dn_buf_t *b)
{
    b->len = 0;
    sb_add(b, "{", 1);
}

static void sb_end(dn_buf_t *b)
{
    sb_add(b, "}", 1);
}

enum { A_TENANT, A_INVOICE, A_EVENT, A_AMOUNT, A_KIND, A_CASE, A_N };

static int setup_tables(dn_pg_t *pg)
{
    return dn_pg_exec(pg, "DROP TABLE IF EXISTS bench_ceiling_rows, bench_ceiling_audit; "
                          "CREATE TABLE bench_ceiling_rows (tenant_id text NOT NULL, invoice_id text NOT NULL, "
                          "case_id text NOT NULL UNIQUE, last_event_id text NOT NULL, amount_minor bigint NOT NULL, "
                          "stage int NOT NULL DEFAULT 0, "
                          "updated_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, invoice_id)); "
                          "CREATE TABLE bench_ceiling_audit (id bigserial PRIMARY KEY, tenant_id text NOT NULL, "
                          "invoice_id text NOT NULL, event_id text NOT NULL, kind text NOT NULL, "
                          "at timestamptz NOT NULL)");
}

static int ingest(dn_pg_t *pg, dn_timers_t *timers, const char *brokers, long expect, int batch, int64_t due_ms)
{
    const char *topics[] = {dn_topic_name(DN_TOPIC_INVOICE_ISSUED), dn_topic_name(DN_TOPIC_PAYMENT_RECEIVED),
                            dn_topic_name(DN_TOPIC_PAYMENT_FAILED)};
    char errstr[512];
    if (setup_tables(pg) < 0) {
        fprintf(stderr, "dn-bench-ceiling: %s\n", dn_pg_errstr(pg));
        return -1;
    }
    dn_kafka_consumer_t *c = dn_kafka_consumer_new(brokers, "bench-ceiling", topics, 3, errstr, sizeof(errstr));
    if (!c) {
        fprintf(stderr, "dn-bench-ceiling: %s\n", errstr);
        return -1;
    }
    rd_kafka_message_t **msgs = calloc((size_t)batch, sizeof(*msgs));
    dn_buf_t arr[A_N] = {{0}};
    char(*members)[DN_UUID_STR_LEN] = calloc((size_t)batch, DN_UUID_STR_LEN);
    long done = 0, first_batch = 0;
    double t_first = 0, t_last = 0, t_print = 0;
    int rc = 0;
    while (done < expect && !dn_signal_stopping()) {
        size_t n = dn_kafka_consumer_poll_batch(c, msgs, (size_t)batch, 100);
        if (n == 0)
            continue;
        for (int a = 0; a < A_N; a++)
            sb_start(&arr[a]);
        size_t nm = 0;
        for (size_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            dn_avro_err_t err;
            char amount[24];
            const char *kind = NULL;
            dn_invoice_issued_t inv = {0};
            dn_payment_received_t pay = {0};
            dn_payment_failed_t fail = {0};
            const char *tenant = NULL, *invoice = NULL, *event_id = NULL;
            int64_t amt = 0;
            const char *topic = rd_kafka_topic_name(m->rkt);
            if (strcmp(topic, topics[0]) == 0 && dn_invoice_issued_decode(m->payload, m->len, &inv, &err) == 0) {
                tenant = inv.tenant_id, invoice = inv.invoice_id, event_id = inv.event_id, amt = inv.amount_minor;
                kind = "issued";
            } else if (strcmp(topic, topics[1]) == 0 &&
                       dn_payment_received_decode(m->payload, m->len, &pay, &err) == 0) {
                tenant = pay.tenant_id, invoice = pay.invoice_id, event_id = pay.event_id, amt = pay.amount_minor;
                kind = "paid";
            } else if (strcmp(topic, topics[2]) == 0 &&
                       dn_payment_failed_decode(m->payload, m->len, &fail, &err) == 0) {
                tenant = fail.tenant_id, invoice = fail.invoice_id, event_id = fail.event_id, amt = fail.amount_minor;
                kind = "failed";
            }
            if (kind) {
                snprintf(amount, sizeof(amount), "%" PRId64, amt);
                sb_elem(&arr[A_TENANT], tenant);
                sb_elem(&arr[A_INVOICE], invoice);
                sb_elem(&arr[A_EVENT], event_id);
                sb_elem(&arr[A_AMOUNT], amount);
                sb_elem(&arr[A_KIND], kind);
                const char *parts[] = {"case", tenant, invoice};
                dn_uuid_derive(members[nm], parts, 3);
                sb_elem(&arr[A_CASE], members[nm++]);
            }
            dn_invoice_issued_free(&inv);
            dn_payment_received_free(&pay);
            dn_payment_failed_free(&fail);
        }
        for (int a = 0; a < A_N; a++)
            sb_end(&arr[a]);
        const char *params[] = {arr[A_TENANT].p, arr[A_INVOICE].p, arr[A_EVENT].p, arr[A_AMOUNT].p, arr[A_CASE].p};
        const char *audit[] = {arr[A_TENANT].p, arr[A_INVOICE].p, arr[A_EVENT].p, arr[A_KIND].p};
        PGresult *r1 = NULL, *r2 = NULL;
        int ok = dn_pg_begin(pg) == 0 &&
                 (r1 = dn_pg_query(pg,
                                   "INSERT INTO bench_ceiling_rows (tenant_id, invoice_id, case_id, last_event_id, "
                                   "amount_minor, updated_at) SELECT DISTINCT ON (t, i) t, i, c, e, a, now() FROM "
                                   "unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) WITH "
                                   "ORDINALITY AS u(t, i, e, a, c, o) "
                                   "ORDER BY t, i, o DESC ON CONFLICT (tenant_id, invoice_id) DO UPDATE SET "
                                   "last_event_id = excluded.last_event_id, amount_minor = excluded.amount_minor, "
                                   "updated_at = excluded.updated_at",
                                   5, params)) != NULL &&
                 (r2 = dn_pg_query(pg,
                                   "INSERT INTO bench_ceiling_audit (tenant_id, invoice_id, event_id, kind, at) "
                                   "SELECT t, i, e, k, now() FROM unnest($1::text[], $2::text[], $3::text[], "
                                   "$4::text[]) AS u(t, i, e, k)",
                                   4, audit)) != NULL &&
                 dn_pg_commit(pg) == 0;
        PQclear(r1);
        PQclear(r2);
        if (!ok) {
            fprintf(stderr, "dn-bench-ceiling: %s\n", dn_pg_errstr(pg));
            dn_pg_rollback(pg);
            rc = -1;
            dn_kafka_messages_destroy(msgs, n);
            break;
        }
        for (size_t i = 0; i < nm; i++)
            dn_timers_add(timers, members[i], due_ms);
        if (dn_timers_flush(timers) < 0)
            fprintf(stderr, "dn-bench-ceiling: redis: %s\n", dn_timers_errstr(timers));
        dn_kafka_consumer_commit(c, msgs, n);
        dn_kafka_messages_destroy(msgs, n);
        double now = mono_s();
        if (done == 0) {
            t_first = now;
            first_batch = (long)n;
        }
        t_last = now;
        done += (long)n;
        if (now - t_print > 1) {
            t_print = now;
            fprintf(stderr, "\r  ceiling ingest: %ld/%ld events   ", done, expect);
        }
    }
    fprintf(stderr, "\r%60s\r", "");
    double dt = t_last - t_first;
    printf("{\"work\":\"ingest\",\"events\":%ld,\"seconds\":%.3f,\"rate\":%.1f,\"ok\":%s}\n", done, dt,
           dt > 0 ? (double)(done - first_batch) / dt : 0.0, rc == 0 && done >= expect ? "true" : "false");
    for (int a = 0; a < A_N; a++)
        free(arr[a].p);
    free(members);
    free(msgs);
    dn_kafka_consumer_destroy(c);
    return rc;
}

static int storm(dn_pg_t *pg, dn_timers_t *timers, const char *brokers, long expect, int batch, int64_t due_ms)
{
    char errstr[512];
    dn_kafka_producer_t *p = dn_kafka_producer_new(brokers, errstr, sizeof(errstr));
    if (!p) {
        fprintf(stderr, "dn-bench-ceiling: %s\n", errstr);
        return -1;
    }
    /* A record the size of a ReminderDue (~420 bytes framed). */
    char payload[420];
    memset(payload, 'r', sizeof(payload));
    dn_buf_t ids = {0};
    long done = 0, first_batch = 0;
    double t_first = 0, t_last = 0, t_print = 0;
    int rc = 0;
    while (done < expect && !dn_signal_stopping()) {
        char **members = NULL;
        int n = dn_timers_claim_due(timers, due_ms, 30000, (size_t)batch, &members);
        if (n < 0) {
            fprintf(stderr, "dn-bench-ceiling: %s\n", dn_timers_errstr(timers));
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        sb_start(&ids);
        for (int i = 0; i < n; i++)
            sb_elem(&ids, members[i]);
        sb_end(&ids);
        /* The member is the case id, as in the engine: one indexed UPDATE and one audit
         * INSERT per timer. */
        const char *params[] = {ids.p};
        PGresult *r1 = NULL, *r2 = NULL;
        int ok = dn_pg_begin(pg) == 0 &&
                 (r1 = dn_pg_query(pg,
                                   "UPDATE bench_ceiling_rows r SET stage = stage + 1, updated_at = now() FROM "
                                   "unnest($1::text[]) AS u(m) WHERE r.case_id = u.m",
                                   1, params)) != NULL &&
                 (r2 = dn_pg_query(pg,
                                   "INSERT INTO bench_ceiling_audit (tenant_id, invoice_id, event_id, kind, at) "
                                   "SELECT r.tenant_id, r.invoice_id, r.case_id, 'stage_fired', now() FROM "
                                   "unnest($1::text[]) AS u(m) JOIN bench_ceiling_rows r ON r.case_id = u.m",
                                   1, params)) != NULL &&
                 dn_pg_commit(pg) == 0;
        PQclear(r1);
        PQclear(r2);
        for (int i = 0; ok && i < n; i++)
            ok = dn_kafka_producer_send(p, dn_topic_name(DN_TOPIC_CASE_EVENTS), members[i], strlen(members[i]), payload,
                                        sizeof(payload)) == 0;
        if (ok)
            ok = dn_kafka_producer_flush(p, 30000) == 0;
        for (int i = 0; ok && i < n; i++)
            dn_timers_remove(timers, members[i]);
        if (ok && dn_timers_flush(timers) < 0)
            ok = 0;
        dn_timers_free_members(members, n);
        if (!ok) {
            fprintf(stderr, "dn-bench-ceiling: storm batch failed: %s\n", dn_pg_errstr(pg));
            dn_pg_rollback(pg);
            rc = -1;
            break;
        }
        double now = mono_s();
        if (done == 0) {
            t_first = now;
            first_batch = n;
        }
        t_last = now;
        done += n;
        if (now - t_print > 1) {
            t_print = now;
            fprintf(stderr, "\r  ceiling storm: %ld/%ld timers   ", done, expect);
        }
    }
    fprintf(stderr, "\r%60s\r", "");
    double dt = t_last - t_first;
    printf("{\"work\":\"storm\",\"events\":%ld,\"seconds\":%.3f,\"rate\":%.1f,\"ok\":%s}\n", done, dt,
           dt > 0 ? (double)(done - first_batch) / dt : 0.0, rc == 0 && done >= expect ? "true" : "false");
    free(ids.p);
    dn_kafka_producer_destroy(p, 10000);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {
        {"expect", 1, 0, 'n'}, {"batch", 1, 0, 'b'}, {"due-ms", 1, 0, 'd'}, {0, 0, 0, 0}};
    long expect = 0;
    int batch = 1000;
    int64_t due_ms = 0;
    if (argc < 2 || (strcmp(argv[1], "ingest") != 0 && strcmp(argv[1], "storm") != 0)) {
        fprintf(stderr, "usage: dn-bench-ceiling ingest|storm --expect N [--batch B] [--due-ms MS]\n");
        return 2;
    }
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
        if (ch == 'n')
            expect = atol(optarg);
        else if (ch == 'b')
            batch = atoi(optarg);
        else if (ch == 'd')
            due_ms = strtoll(optarg, NULL, 10);
        else
            return 2;
    }
    if (expect < 1 || batch < 1)
        return 2;
    dn_log_init("dn-bench-ceiling", "warn");
    dn_signal_install();
    dn_topics_init(getenv("DUNNING_TOPIC_PREFIX") ? getenv("DUNNING_TOPIC_PREFIX") : "");
    const char *brokers = getenv("DUNNING_KAFKA_BROKERS"), *dsn = getenv("DUNNING_PG_DSN"),
               *redis = getenv("DUNNING_REDIS_URL"), *key = getenv("DUNNING_TIMER_KEY");
    char errstr[512], tkey[160];
    snprintf(tkey, sizeof(tkey), "%s:ceiling", key && *key ? key : "dunning:timers");
    dn_pg_t *pg = NULL;
    dn_timers_t *timers = NULL;
    int rc = 1;
    if (!brokers || !dsn || !redis) {
        fprintf(stderr, "dn-bench-ceiling: DUNNING_KAFKA_BROKERS, DUNNING_PG_DSN and DUNNING_REDIS_URL are needed\n");
        return 2;
    }
    if (dn_avro_init(errstr, sizeof(errstr)) < 0 || !(pg = dn_pg_new(dsn, errstr, sizeof(errstr))) ||
        !(timers = dn_timers_new(redis, tkey,
                                 getenv("DUNNING_TIMER_BUCKETS") ? (unsigned)atol(getenv("DUNNING_TIMER_BUCKETS"))
                                                                 : DN_TIMERS_DEFAULT_BUCKETS,
                                 errstr, sizeof(errstr)))) {
        fprintf(stderr, "dn-bench-ceiling: cannot start: %s\n", errstr);
        goto out;
    }
    rc = (argv[1][0] == 'i' ? ingest(pg, timers, brokers, expect, batch, due_ms)
                            : storm(pg, timers, brokers, expect, batch, due_ms)) == 0
             ? 0
             : 1;
out:
    dn_timers_destroy(timers);
    dn_pg_destroy(pg);
    return rc;
}
