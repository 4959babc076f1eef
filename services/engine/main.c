/* dunning-engine: consumes invoice, payment, failed-charge, case-command and reminder-outcome events, keeps each case
 * in PostgreSQL, fires due stages from the Redis timer index, and publishes through the outbox.
 *
 * One loop:
 *   1. poll a batch of input records; handle them in ONE transaction (a savepoint
 *      per record: a record the database rejects is dead-lettered alone); COMMIT;
 *      then apply the timer changes to Redis; then commit the Kafka offsets;
 *   2. claim due timers (atomically, with a lease) and fire them the same way;
 *   3. every few seconds check that Redis still holds the index, else rebuild it;
 *   4. every DUNNING_METRICS_INTERVAL refresh the gauges read from Redis and PostgreSQL.
 * The outbox relay runs beside it (dn_relay: its own thread and connection), kicked
 * after every COMMIT, so publishing one batch's events overlaps with the next batch.
 *
 * Operations endpoint (dn_http, its own thread): /healthz, /readyz (kafka, postgres,
 * redis) and /metrics. Counters caused by a transaction (records consumed, dead letters,
 * reminders, retry requests, reminder outcomes) are noted while it runs and applied only after its COMMIT,
 * so a retried or rolled-back transaction is not counted twice. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dn_risk.h"
#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_http.h"
#include "dn_log.h"
#include "dn_metrics.h"
#include "dn_outbox.h"
#include "dn_relay.h"
#include "dn_signal.h"
#include "dn_topics.h"
#include "effects.h"
#include "engine.h"
#include "prefetch.h"
#include "risk.h"
#include "records.h"
#include "timers.h"
#include "writes.h"

static const dn_cfg_entry_t config_table[] = {
    DN_CFG_COMMON(engine_cfg_t),
    DN_CFG("DUNNING_ENGINE_GROUP", DN_CFG_STRING, "dunning-engine", 0, 0,
           "Kafka consumer group of the engine instances.", engine_cfg_t, group),
    DN_CFG("DUNNING_POLICY_FILE", DN_CFG_STRING, "", 0, 0,
           "Policy file (default: $DUNNING_HOME/config/policies/default.yaml).", engine_cfg_t, policy_file),
    DN_CFG("DUNNING_TIMER_KEY", DN_CFG_STRING, "dunning:timers", 0, 0,
           "Prefix of the Redis keys of the timer index (KEY:b:N buckets, KEY:idx, KEY:count, KEY:built).",
           engine_cfg_t, timer_key),
    DN_CFG("DUNNING_TIMER_BUCKETS", DN_CFG_INT, "16384", 1, 4194304,
           "Small sorted sets the timer index is spread over; pick about pending timers / 64 (each bucket then stays "
           "in Redis' compact listpack encoding). Every process sharing the index uses the same value; an engine "
           "finding the index built with another count clears and rebuilds it.",
           engine_cfg_t, timer_buckets),
    DN_CFG("DUNNING_TIMER_LEASE", DN_CFG_DURATION, "30s", 1000, 3600000,
           "Real time a claimed timer stays hidden from other instances before it can fire again.", engine_cfg_t,
           timer_lease_ms),
    DN_CFG("DUNNING_RECONCILE_INTERVAL", DN_CFG_DURATION, "5s", 100, 3600000,
           "How often to check that Redis still holds the timer index.", engine_cfg_t, reconcile_ms),
    DN_CFG("DUNNING_HTTP_ADDR", DN_CFG_STRING, "127.0.0.1:9464", 0, 0,
           "host:port of the HTTP endpoint (/healthz, /readyz, /metrics); port 0 picks a free port, an empty value "
           "turns it off.",
           engine_cfg_t, http_addr),
    DN_CFG("DUNNING_HTTP_ADDR_FILE", DN_CFG_STRING, "", 0, 0,
           "File the bound host:port of the HTTP endpoint is written to at start (useful with port 0).", engine_cfg_t,
           http_addr_file),
    DN_CFG("DUNNING_METRICS_INTERVAL", DN_CFG_DURATION, "5s", 100, 3600000,
           "How often the loop refreshes the gauges it reads from Redis and PostgreSQL (timers pending, oldest due "
           "timer, outbox rows) and the postgres and redis readiness.",
           engine_cfg_t, metrics_ms),
};
#define CONFIG_N (sizeof(config_table) / sizeof(config_table[0]))

/* ---- metrics and readiness ---- */

static struct {
    dn_metric_t *consumed, *dead_letters, *reminders, *retries, *outcomes, *outcomes_unknown, *batch_seconds,
        *batch_size, *relayed, *outbox_pending, *timers_pending, *timer_age;
} M;

/* Kept by the loop, read by /readyz: did the last use of the connection work? */
static atomic_int pg_ok = 1, redis_ok = 1;

static const char *const results[] = {"ok", "duplicate", "dead_letter", "db_error"};

static void emit_lag(const char *topic, int64_t lag, void *arg)
{
    dn_metrics_emit(arg, DN_LABELS(topic), (double)lag);
}

static void collect_lag(dn_metrics_emitter_t *em, void *arg)
{
    dn_kafka_consumer_lag(arg, emit_lag, em);
}

static void register_metrics(engine_t *e, const char *const *topics, size_t ntopics)
{
    M.consumed = dn_metrics_counter("dunning_events_consumed_total",
                                    "Input records handled, by topic and result (ok, duplicate, dead_letter, db_error: "
                                    "the batch's transaction failed and is retried).",
                                    "topic,result");
    for (size_t t = 0; t < ntopics; t++)
        for (size_t r = 0; r < sizeof(results) / sizeof(results[0]); r++)
            dn_metrics_add(M.consumed, DN_LABELS(topics[t], results[r]), 0);
    M.dead_letters = dn_metrics_counter("dunning_dead_letters_total",
                                        "Records written to the dead-letter topic, by source topic and error code.",
                                        "topic,error_code");
    M.reminders = dn_metrics_counter("dunning_reminders_emitted_total",
                                     "ReminderDue records emitted, by stage name and channel.", "stage,channel");
    M.retries = dn_metrics_counter("dunning_retry_requests_total", "PaymentRetryDue records emitted.", NULL);
    M.outcomes = dn_metrics_counter("dunning_outcomes_total",
                                    "ReminderOutcome records applied to their case (audit row written), by channel and "
                                    "outcome.",
                                    "channel,outcome");
    M.outcomes_unknown = dn_metrics_counter("dunning_outcomes_unknown_case_total",
                                            "ReminderOutcome records for a case the engine does not have (logged, "
                                            "recorded nowhere), by channel and outcome.",
                                            "channel,outcome");
    M.batch_seconds = dn_metrics_histogram("dunning_batch_duration_seconds",
                                           "Time to handle one batch, from poll to offset commit (records) or from "
                                           "claim to Redis update (timers).",
                                           "work", DN_METRICS_LATENCY_BUCKETS);
    M.batch_size =
        dn_metrics_histogram("dunning_batch_size", "Records or timers per batch.", "work", DN_METRICS_SIZE_BUCKETS);
    M.relayed = dn_metrics_counter("dunning_outbox_published_total",
                                   "Records published to Kafka (and acknowledged) by this process's relay: "
                                   "outbox rows and case events (audit rows).",
                                   NULL);
    M.outbox_pending = dn_metrics_gauge("dunning_outbox_pending",
                                        "Records waiting to be published: rows of the outbox table (every service of "
                                        "the database) and audit rows after the case-event cursor, as of the last "
                                        "refresh.",
                                        NULL);
    M.timers_pending =
        dn_metrics_gauge("dunning_timers_pending", "Timers in the Redis index, as of the last refresh.", NULL);
    M.timer_age = dn_metrics_gauge("dunning_timers_oldest_due_age_seconds",
                                   "How long the earliest timer has been due, in dunning-clock seconds (0 when "
                                   "none is due), as of the last refresh.",
                                   NULL);
    dn_metrics_gauge_fn("dunning_consumer_lag",
                        "Records behind the high watermark, summed over the partitions assigned to this instance.",
                        "topic", collect_lag, e->consumer);
}

/* The transaction in hand committed: its counts now count (effects.c). */
static void apply_notes(engine_t *e)
{
    dn_metric_t *const by_kind[] = {
        [EM_CONSUMED] = M.consumed,     [EM_DEAD_LETTER] = M.dead_letters, [EM_REMINDER] = M.reminders,
        [EM_RETRY_REQUEST] = M.retries, [EM_OUTCOME] = M.outcomes,         [EM_OUTCOME_UNKNOWN] = M.outcomes_unknown,
    };
    engine_apply_notes(e, by_kind);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void observe_batch(const char *work, size_t n, double started)
{
    dn_metrics_observe(M.batch_seconds, DN_LABELS(work), mono_s() - started);
    dn_metrics_observe(M.batch_size, DN_LABELS(work), (double)n);
}

/* The error says the server could not be reached (not: it refused a statement). */
static int pg_unreachable(const dn_pg_t *pg)
{
    const char *state = dn_pg_sqlstate(pg);
    return !state[0] || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

/* Gauges that cost a round trip on the loop's connections, every DUNNING_METRICS_INTERVAL. */
static void refresh_gauges(engine_t *e, int64_t *next)
{
    int64_t real = dn_clock_real_now_ms();
    if (real < *next)
        return;
    *next = real + e->cfg.metrics_ms;
    /* Both queues, as the view of sql/011 defines them. */
    PGresult *r = dn_pg_query(e->pg, "SELECT outbox + case_events FROM publish_pending", 0, NULL);
    atomic_store(&pg_ok, r != NULL);
    if (r) {
        dn_metrics_set(M.outbox_pending, NULL, strtod(PQgetvalue(r, 0, 0), NULL));
        PQclear(r);
    }
    int64_t pending, earliest;
    int ok = dn_timers_stats(e->timers, &pending, &earliest) == 0;
    atomic_store(&redis_ok, ok);
    if (ok) {
        int64_t now = dn_clock_now_ms();
        dn_metrics_set(M.timers_pending, NULL, (double)pending);
        dn_metrics_set(M.timer_age, NULL, earliest <= now ? (double)(now - earliest) / 1000.0 : 0);
    }
}

static int check_kafka(void *arg, char *why, size_t why_size)
{
    return dn_kafka_consumer_ready(arg, 1000, why, why_size);
}

static int check_postgres(void *arg, char *why, size_t why_size)
{
    (void)arg;
    if (atomic_load(&pg_ok))
        return 1;
    snprintf(why, why_size, "the database did not answer the last statement");
    return 0;
}

static int check_redis(void *arg, char *why, size_t why_size)
{
    (void)arg;
    if (atomic_load(&redis_ok))
        return 1;
    snprintf(why, why_size, "redis did not answer the last command");
    return 0;
}

/* ---- timers ---- */

/* The transaction in hand committed: its timer changes go to Redis (effects.c). */
static void apply_timer_ops(engine_t *e)
{
    if (engine_apply_timer_ops(e) < 0)
        atomic_store(&redis_ok, 0);
}

long engine_reconcile_timers(engine_t *e)
{
    return dn_timers_rebuild(e->timers, e->pg);
}

static void reconcile_if_needed(engine_t *e, int64_t *next_check)
{
    int64_t real = dn_clock_real_now_ms();
    if (!e->redis_stale && real < *next_check)
        return;
    *next_check = real + e->cfg.reconcile_ms;
    int marker = dn_timers_marker_exists(e->timers);
    if (marker == 1 && !e->redis_stale)
        return;
    if (marker < 0)
        return; /* Redis still away; try again later */
    long n = engine_reconcile_timers(e);
    if (n >= 0) {
        char cnt[24];
        snprintf(cnt, sizeof(cnt), "%ld", n);
        dn_log_info("timer index rebuilt from postgres", "timers", cnt, "reason",
                    e->redis_stale ? e->stale_reason : "index marker missing", NULL);
        e->redis_stale = 0;
    }
}

static int write_dead_letter(engine_t *e, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    e->nnotes = e->notes_mark; /* the record's own effects were rolled back: so are its counts */
    e->item_dead_lettered = 1;
    engine_note(e, EM_DEAD_LETTER, topic, e->reject_code);
    char partition[16], offset[24], event_id[DN_UUID_STR_LEN];
    snprintf(partition, sizeof(partition), "%d", (int)m->partition);
    snprintf(offset, sizeof(offset), "%" PRId64, m->offset);
    const char *parts[] = {"dead-letter", topic, partition, offset};
    dn_uuid_derive(event_id, parts, 4);
    int32_t schema_id = -1;
    const void *body;
    size_t body_len;
    dn_avro_err_t ferr;
    int framed = m->payload && dn_avro_frame_read(m->payload, m->len, &schema_id, &body, &body_len, &ferr) == 0;
    char *key = m->key ? strndup(m->key, m->key_len) : NULL;
    dn_dead_letter_t dl = {.event_id = event_id,
                           .occurred_at = dn_clock_now_ms(),
                           .tenant_id = "",
                           .service = "dunning-engine",
                           .source_topic = (char *)topic,
                           .source_partition = m->partition,
                           .source_offset = m->offset,
                           .schema_id = framed ? schema_id : 0,
                           .has_schema_id = framed,
                           .error_code = (char *)e->reject_code,
                           .reason = e->reject_reason,
                           .key = m->key,
                           .key_len = m->key_len,
                           .payload = m->payload ? m->payload : (void *)"",
                           .payload_len = m->len};
    /* A record that decodes but was refused (invalid_state, currency_mismatch, ...) still
     * names its tenant, customer and event id, as the DeadLetter contract says: each one
     * that can be read, whichever of the others was the problem. An overlong one is left
     * out rather than cut (a cut id could name another tenant or customer); the payload
     * keeps it whole. */
    json_t *orig = framed ? dn_avro_to_json(m->payload, m->len, &ferr) : NULL;
    const char *orig_ids[3] = {NULL, NULL, NULL}, *const orig_fields[3] = {"tenant_id", "customer_id", "event_id"};
    for (int i = 0; orig && i < 3; i++) {
        const char *v = json_string_value(json_object_get(orig, orig_fields[i]));
        orig_ids[i] = v && strlen(v) <= ID_MAX ? v : NULL;
    }
    if (orig_ids[0])
        dl.tenant_id = (char *)orig_ids[0];
    dl.customer_id = (char *)orig_ids[1];
    dl.original_event_id = (char *)orig_ids[2];
    char why[sizeof(e->reject_reason) + 64];
    dn_dead_letter_clamp(&dl, why, sizeof(why));
    char *buf = NULL;
    size_t len = 0;
    int rc = dn_dead_letter_encode(&dl, &buf, &len) == 0 &&
                     dn_outbox_add(e->pg, event_id, dn_topic_name(DN_TOPIC_DEAD_LETTER), key ? key : "", buf, len) == 0
                 ? 0
                 : -1;
    json_decref(orig);
    dn_log_warn("record dead-lettered", "topic", topic, "partition", partition, "offset", offset, "error_code",
                e->reject_code, "reason", e->reject_reason, NULL);
    free(buf);
    free(key);
    return rc;
}

static void backoff(int attempt)
{
    int ms = 100 << (attempt < 6 ? attempt : 6);
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

typedef int (*item_fn)(engine_t *e, void *item, int64_t now);

/* An item of the fast attempt (no savepoints) that must be rolled back alone: the batch
 * is done again with a savepoint per item. */
enum { ITEM_REDO = 2 };
static int careful; /* the transaction in hand has a savepoint around each item */

static int item_record(engine_t *e, void *item, int64_t now)
{
    (void)now;
    rd_kafka_message_t *m = item;
    int rc = handle_record(e, m);
    if (rc == H_REJECT) {
        if (!careful)
            return ITEM_REDO;
        dn_pg_flush(e->pg); /* the item's pipelined statements are rolled back with it */
        if (dn_pg_exec(e->pg, "ROLLBACK TO SAVEPOINT item") < 0 || write_dead_letter(e, m) < 0)
            return H_DBERR;
    }
    return rc == H_DBERR ? H_DBERR : H_OK;
}

static int item_timer(engine_t *e, void *item, int64_t now)
{
    return fire_timer(e, item, now);
}

/* On the fast path the buffered rows are sent every FLUSH_EVERY items (not waited for):
 * PostgreSQL writes them while the engine handles the next items. */
enum { FLUSH_EVERY = 100 };

/* Runs fn over every item in one transaction, retrying the whole transaction on
 * retriable database errors. The first attempt runs the items back to back (the fast
 * path: no savepoints, two round trips per item fewer and no subtransactions). If an item
 * is rejected or the database refuses it for good, that attempt is rolled back and the
 * batch is done again with a savepoint per item: the bad item is rolled back to its
 * savepoint alone and, for records, dead-lettered. Returns 0 once committed, -1 if
 * shutting down before that (nothing committed, offsets untouched). */
static int run_transaction(engine_t *e, void **items, size_t n, item_fn fn, const char *what)
{
    careful = 0;
    for (int attempt = 0;; attempt++) {
        e->nops = 0;
        e->nnotes = 0;
        int64_t now = dn_clock_now_ms();
        int ok = dn_pg_begin(e->pg) == 0, redo = 0;
        batch_reset(e);
        e->buffering = !careful;
        /* Set-based answers for the whole batch first (the fast path only: the careful
         * path does each record alone, as the prefetch would not survive its rollbacks). */
        if (ok && !careful &&
            (fn == item_record ? handle_prefetch(e, (rd_kafka_message_t *const *)items, n)
                               : fire_prefetch(e, (char *const *)items, n)) != H_OK) {
            ok = 0;
            redo = !dn_pg_retriable(e->pg);
        }
        for (size_t i = 0; ok && i < n; i++) {
            if (careful && dn_pg_exec(e->pg, "SAVEPOINT item") < 0) {
                ok = 0;
                break;
            }
            e->notes_mark = e->nnotes;
            e->item_duplicate = e->item_dead_lettered = 0;
            int rc = fn(e, items[i], now);
            /* With savepoints, the item's pipelined statements must be done before its
             * savepoint is released: their failure is the item's. */
            if (careful && rc != H_DBERR && dn_pg_flush(e->pg) < 0)
                rc = H_DBERR;
            if (!careful && rc == H_OK && (i + 1) % FLUSH_EVERY == 0 && i + 1 < n &&
                (engine_push_writes(e) < 0 || dn_pg_push(e->pg) < 0))
                rc = H_DBERR;
            if (!careful && (rc == ITEM_REDO || e->batch_failed || (rc == H_DBERR && !dn_pg_retriable(e->pg)))) {
                redo = 1;
                ok = 0;
                break;
            }
            if (rc == H_DBERR) {
                if (dn_pg_retriable(e->pg)) {
                    ok = 0;
                    break;
                }
                /* Permanent database error on this item alone. */
                char detail[512];
                snprintf(detail, sizeof(detail), "%s", dn_pg_errstr(e->pg));
                dn_pg_flush(e->pg);
                if (dn_pg_exec(e->pg, "ROLLBACK TO SAVEPOINT item") < 0) {
                    ok = 0;
                    break;
                }
                e->nnotes = e->notes_mark;
                if (fn == item_record) {
                    e->reject_code = "database_error";
                    snprintf(e->reject_reason, sizeof(e->reject_reason), "%s", detail);
                    if (write_dead_letter(e, items[i]) < 0) {
                        ok = 0;
                        break;
                    }
                } else {
                    dn_log_error("timer failed, will be retried after its lease", "case_id", (char *)items[i], "detail",
                                 detail, NULL);
                }
            }
            if (careful && dn_pg_exec(e->pg, "RELEASE SAVEPOINT item") < 0)
                ok = 0;
            else if (fn == item_record)
                engine_note(e, EM_CONSUMED, rd_kafka_topic_name(((rd_kafka_message_t *)items[i])->rkt),
                            e->item_dead_lettered ? "dead_letter"
                            : e->item_duplicate   ? "duplicate"
                                                  : "ok");
        }
        if (ok && !careful && (engine_flush_writes(e) < 0 || dn_pg_flush(e->pg) < 0)) {
            ok = 0;
            redo = !dn_pg_retriable(e->pg); /* which item failed is found with savepoints */
        }
        batch_reset(e);
        e->buffering = 0;
        if (ok && dn_pg_commit(e->pg) == 0) {
            if (e->relay)
                dn_relay_kick(e->relay);
            atomic_store(&pg_ok, 1);
            apply_notes(e);
            return 0;
        }
        if (ok && pg_unreachable(e->pg)) {
            /* The connection dropped during COMMIT: the batch may be committed and only the
             * answer lost. Then the retry finds its records done and changes no timer: re-add
             * every timer from PostgreSQL (reconcile_if_needed) rather than lose one. */
            e->redis_stale = 1;
            e->stale_reason = "a commit's outcome is unknown";
        }
        if (redo) {
            /* Not a failure of the batch: no backoff, no db_error count. */
            dn_pg_rollback(e->pg);
            e->nnotes = 0;
            e->nops = 0;
            careful = 1;
            attempt--;
            continue;
        }
        if (pg_unreachable(e->pg))
            atomic_store(&pg_ok, 0);
        for (size_t i = 0; fn == item_record && i < n; i++)
            dn_metrics_add(M.consumed,
                           DN_LABELS(rd_kafka_topic_name(((rd_kafka_message_t *)items[i])->rkt), "db_error"), 1);
        e->nnotes = 0;
        dn_log_warn("transaction failed, retrying", "work", what, "detail", dn_pg_errstr(e->pg), NULL);
        dn_pg_rollback(e->pg);
        e->nops = 0;
        if (dn_signal_stopping())
            return -1;
        backoff(attempt);
    }
}

static void fire_due_timers(engine_t *e)
{
    int64_t lease = e->cfg.timer_lease_ms * dn_clock_speed();
    for (int rounds = 0; rounds < 20 && !dn_signal_stopping(); rounds++) {
        char **members = NULL;
        int n = dn_timers_claim_due(e->timers, dn_clock_now_ms(), lease, (size_t)e->cfg.common.batch_max, &members);
        atomic_store(&redis_ok, n >= 0);
        if (n < 0) {
            e->redis_stale = 1;
            e->stale_reason = "a timer claim failed";
            dn_log_warn("timer claim failed", "detail", dn_timers_errstr(e->timers), NULL);
            return;
        }
        if (n == 0)
            return;
        double started = mono_s();
        if (run_transaction(e, (void **)members, (size_t)n, item_timer, "timers") == 0)
            apply_timer_ops(e);
        observe_batch("timers", (size_t)n, started);
        dn_timers_free_members(members, n);
        if (n < e->cfg.common.batch_max)
            return;
    }
}

/* Outbox rows published and deleted per relay transaction: a storm's reminders go out in
 * a few large batches rather than many small ones. The relay runs on its own thread and
 * connection (dn_relay), kicked after every commit. */
enum { RELAY_BATCH = 5000, RELAY_IDLE_MS = 200 };

static int run(engine_t *e)
{
    rd_kafka_message_t **msgs = calloc((size_t)e->cfg.common.batch_max, sizeof(*msgs));
    int64_t next_check = 0, next_refresh = 0, next_models = 0;
    e->redis_stale = 1; /* re-add every timer at start: a crash may have lost Redis writes */
    e->stale_reason = "start";
    while (!dn_signal_stopping()) {
        size_t n = dn_kafka_consumer_poll_batch(e->consumer, msgs, (size_t)e->cfg.common.batch_max,
                                                (int)e->cfg.common.poll_ms);
        if (n > 0) {
            double started = mono_s();
            if (run_transaction(e, (void **)msgs, n, item_record, "records") == 0) {
                apply_timer_ops(e);
                dn_kafka_consumer_commit(e->consumer, msgs, n);
            }
            observe_batch("records", n, started);
            dn_kafka_messages_destroy(msgs, n);
        }
        reconcile_if_needed(e, &next_check);
        fire_due_timers(e);
        refresh_gauges(e, &next_refresh);
        risk_models_refresh(e, &next_models); /* risk.h */
    }
    free(msgs);
    return 0;
}

int main(int argc, char **argv)
{
    static engine_t engine;
    engine_t *e = &engine;
    dn_http_t *http = NULL;
    char errstr[512];
    int status = 1;
    if (argc > 1 && strcmp(argv[1], "--config-doc") == 0) {
        dn_config_print_doc(stdout, "dunning-engine", config_table, CONFIG_N);
        return 0;
    }
    int check_only = argc == 2 && strcmp(argv[1], "--check-policies") == 0;
    if (argc > 1 && !check_only) {
        fprintf(stderr, "usage: dunning-engine [--config-doc | --check-policies]\n"
                        "Configured by DUNNING_* environment variables. --check-policies loads and validates\n"
                        "the policy file (DUNNING_POLICY_FILE) and exits: 0 if it is valid, 1 if not.\n");
        return 2;
    }
    if (dn_config_load(config_table, CONFIG_N, &e->cfg, errstr, sizeof(errstr)) < 0) {
        dn_log_init("dunning-engine", "info");
        dn_log_error("invalid configuration", "detail", errstr, NULL);
        return 2;
    }
    if (dn_log_init("dunning-engine", e->cfg.common.log_level) < 0) {
        dn_log_error("invalid configuration", "detail", "DUNNING_LOG_LEVEL: use debug, info, warn or error", NULL);
        return 2;
    }
    if (!check_only && dn_http_addr_valid(e->cfg.http_addr, errstr, sizeof(errstr)) < 0) {
        char detail[600];
        snprintf(detail, sizeof(detail), "DUNNING_HTTP_ADDR: %s", errstr);
        dn_log_error("invalid configuration", "detail", detail, NULL);
        dn_config_free(config_table, CONFIG_N, &e->cfg);
        return 2;
    }
    if (dn_clock_init_from_cfg(&e->cfg.common) < 0) {
        dn_log_error("invalid configuration", "detail", "DUNNING_CLOCK_FILE: cannot read a clock line from it", NULL);
        return 2;
    }
    dn_topics_init(e->cfg.common.topic_prefix);
    dn_signal_install();
    char policy_path[4096];
    dn_policy_path(e->cfg.policy_file, e->cfg.common.home, policy_path, sizeof(policy_path));
    if (check_only) {
        policy_set_t *ps = dn_policy_set_load(policy_path, errstr, sizeof(errstr));
        if (!ps) {
            fprintf(stderr, "%s\n", errstr);
            return 1;
        }
        size_t np = 0;
        for (size_t i = 0; i < ps->ntenants; i++)
            np += ps->tenants[i].npolicies;
        printf("%s: %zu tenant(s), %zu polic%s, valid\n", policy_path, ps->ntenants, np, np == 1 ? "y" : "ies");
        dn_policy_set_destroy(ps);
        return 0;
    }
    if (dn_avro_init(errstr, sizeof(errstr)) < 0 ||
        !(e->policies = dn_policy_set_load(policy_path, errstr, sizeof(errstr)))) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        status = 2;
        goto out;
    }
    if (!(e->risk_model = dn_risk_points_new())) {
        dn_log_error("cannot start", "detail", "out of memory", NULL);
        goto out;
    }
    if (!(e->pg = dn_pg_new(e->cfg.common.pg_dsn, errstr, sizeof(errstr))) ||
        !(e->timers = dn_timers_new(e->cfg.common.redis_url, e->cfg.timer_key, (unsigned)e->cfg.timer_buckets, errstr,
                                    sizeof(errstr))) ||
        !(e->producer = dn_kafka_producer_new(e->cfg.common.kafka_brokers, errstr, sizeof(errstr)))) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        goto out;
    }
    const char *topics[] = {dn_topic_name(DN_TOPIC_INVOICE_ISSUED),    dn_topic_name(DN_TOPIC_PAYMENT_RECEIVED),
                            dn_topic_name(DN_TOPIC_PAYMENT_FAILED),    dn_topic_name(DN_TOPIC_CASE_COMMANDS),
                            dn_topic_name(DN_TOPIC_REMINDER_OUTCOMES), dn_topic_name(DN_TOPIC_PAYMENT_METHOD_UPDATED)};
    const size_t ntopics = sizeof(topics) / sizeof(topics[0]);
    e->consumer =
        dn_kafka_consumer_new(e->cfg.common.kafka_brokers, e->cfg.group, topics, ntopics, errstr, sizeof(errstr));
    if (!e->consumer) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        goto out;
    }
    register_metrics(e, topics, ntopics);
    const dn_http_check_t checks[] = {
        {"kafka", check_kafka, e->consumer}, {"postgres", check_postgres, NULL}, {"redis", check_redis, NULL}};
    if (!(http = dn_http_start(e->cfg.http_addr, e->cfg.http_addr_file, checks, 3, errstr, sizeof(errstr)))) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        goto out;
    }
    if (!(e->relay = dn_relay_start(e->cfg.common.pg_dsn, e->producer, RELAY_BATCH, RELAY_IDLE_MS, 1, M.relayed, errstr,
                                    sizeof(errstr)))) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        status = 1;
        goto out;
    }
    dn_log_info("started", "group", e->cfg.group, "policies", policy_path, NULL);
    status = run(e);
    dn_log_info("stopping", NULL);
out:
    /* Shutdown order: the batch in hand was committed by run(); leave the group, publish
     * what the outbox holds, flush the producer within the bound, close connections. The
     * HTTP endpoint goes first: its checks and the lag gauge read the consumer. */
    dn_http_destroy(http);
    dn_kafka_consumer_destroy(e->consumer);
    dn_relay_stop(e->relay); /* publishes what the outbox and the audit table hold */
    dn_kafka_producer_destroy(e->producer, (int)e->cfg.common.shutdown_ms);
    dn_timers_destroy(e->timers);
    dn_pg_destroy(e->pg);
    dn_policy_set_destroy(e->policies);
    dn_risk_model_destroy(e->risk_model);
    risk_models_free(e);
    batch_destroy(e);
    free(e->ops);
    free(e->notes);
    dn_metrics_reset();
    dn_config_free(config_table, CONFIG_N, &e->cfg);
    if (status == 0)
        dn_log_info("stopped", NULL);
    return status;
}
