/* sender-email: delivers ReminderDue records of reminder-due.email over SMTP and
 * publishes a ReminderOutcome for each through the outbox.
 *
 * One thread, one loop: poll a batch; handle it (batch(), below: the steps that follow
 * done for the whole batch with a few multi-row statements, falling back to handle(),
 * record by record, from the first record it could not finish); commit the Kafka offsets
 * of the handled records (always after the database commits of what they caused); relay
 * the outbox. Per record (handle()):
 *
 *   1. decode; a record that does not decode (or breaks the contract) becomes a
 *      DeadLetter in the outbox, its id derived from topic/partition/offset;
 *   2. take a session advisory lock on the reminder's event id, so two instances
 *      (during a rebalance) never work on the same reminder at once;
 *   3. claim: in table deliveries, a reminder whose row is delivered, suppressed or
 *      failed_permanent is done, skip it; else upsert the row as 'attempting' with
 *      attempts + 1 and COMMIT: the attempt is on record BEFORE the SMTP server is
 *      called;
 *   4. last-mile check, just before sending: the case must exist and still be dunning
 *      (not resolved, written off, paused; see last_mile); else the outcome is 'suppressed';
 *   5. send the message (rendered before the claim) with libcurl;
 *   6. one transaction: the row's final status + the ReminderOutcome in the outbox.
 *
 * Crash window: a crash (or kill -9) after the SMTP server accepted a message but
 * before step 6 committed leaves the row 'attempting' and the offset uncommitted.
 * The record comes back after the restart, finds 'attempting', and the message is
 * sent AGAIN with the same Message-ID (<reminder-EVENTID@dunning>), which lets
 * receiving systems drop the duplicate; the service logs that it did so. SMTP offers
 * no way to ask whether a message was accepted, so this window cannot be closed,
 * only narrowed (a few milliseconds per record on the per-record path; on the batched
 * path outcomes are committed every LAST_MILE_MAX_AGE_MS, so at most that) and made
 * recognisable.
 *
 * Transient SMTP failures (4xx, no connection, timeout): retried in process, with
 * exponential backoff and jitter, DUNNING_SMTP_RETRIES times. When that budget is
 * spent the outcome 'failed_transient' (attempt, next_attempt_at) is recorded, the
 * offsets of the records before it are committed, and the service stops consuming:
 * it holds the record and tries it again after a pause that doubles up to
 * DUNNING_SMTP_PAUSE_MAX, until the server accepts or refuses it for good. Records
 * behind it wait (their order is kept). While paused the consumer is not polled;
 * past max.poll.interval.ms (5 min by default) Kafka hands the partitions to another
 * instance, which works them idempotently (the advisory lock and the deliveries row
 * keep a reminder from being sent twice); our later offset commit then fails and the
 * records come back to us to be skipped as done.
 *
 * Operations endpoint (dn_http, its own thread): /healthz, /readyz (kafka, postgres,
 * smtp) and /metrics. Readiness of smtp: the last SMTP attempt got an answer from the
 * server (a reply code, even a refusal); it fails while the server cannot be reached
 * (no connection, timeout) and recovers with the next answered attempt. No probe of
 * its own: an idle sender stays ready. */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dn_avro.h"
#include "dn_buf.h"
#include "dn_clock.h"
#include "dn_config.h"
#include "dn_http.h"
#include "dn_kafka.h"
#include "dn_log.h"
#include "dn_metrics.h"
#include "dn_outbox.h"
#include "dn_pgarray.h"
#include "dn_pg.h"
#include "dn_signal.h"
#include "dn_topics.h"
#include "dn_uuid.h"
#include "mail.h"
#include "templates.h"

#define SERVICE "sender-email"

typedef struct sender_cfg {
    dn_common_cfg_t common;
    char *group;
    char *smtp_url;
    char *smtp_from;
    char *smtp_tls;
    int64_t smtp_timeout_ms;
    int64_t smtp_retries;
    int64_t smtp_backoff_ms;
    int64_t smtp_pause_max_ms;
    char *template_dir;
    char *list_unsubscribe;
    char *http_addr;
    char *http_addr_file;
    int64_t metrics_ms;
} sender_cfg_t;

static const dn_cfg_entry_t config_table[] = {
    DN_CFG_COMMON(sender_cfg_t),
    DN_CFG("DUNNING_SENDER_GROUP", DN_CFG_STRING, "sender-email", 0, 0, "Kafka consumer group of the email senders.",
           sender_cfg_t, group),
    DN_CFG("DUNNING_SMTP_URL", DN_CFG_STRING, "smtp://127.0.0.1:25", 0, 0,
           "SMTP server: smtp://[user:password@]host[:port][/helo-name], or smtps:// for implicit TLS.", sender_cfg_t,
           smtp_url),
    DN_CFG("DUNNING_SMTP_FROM", DN_CFG_STRING, "Accounts Receivable <billing@example.com>", 0, 0,
           "From header and envelope sender: \"Name <address>\" or an address.", sender_cfg_t, smtp_from),
    DN_CFG("DUNNING_SMTP_TLS", DN_CFG_STRING, "try", 0, 0,
           "STARTTLS on smtp:// URLs: none, try (when offered) or required.", sender_cfg_t, smtp_tls),
    DN_CFG("DUNNING_SMTP_TIMEOUT", DN_CFG_DURATION, "30s", 100, 600000,
           "Bound on one SMTP transaction (connect included).", sender_cfg_t, smtp_timeout_ms),
    DN_CFG("DUNNING_SMTP_RETRIES", DN_CFG_INT, "3", 0, 20,
           "In-process retries of a transient SMTP failure (4xx, no connection) before recording failed_transient.",
           sender_cfg_t, smtp_retries),
    DN_CFG("DUNNING_SMTP_BACKOFF", DN_CFG_DURATION, "1s", 10, 600000,
           "First retry delay; doubles per retry, with jitter.", sender_cfg_t, smtp_backoff_ms),
    DN_CFG("DUNNING_SMTP_PAUSE_MAX", DN_CFG_DURATION, "5m", 1000, 86400000,
           "Longest pause between rounds while the SMTP server keeps failing (consumption is paused meanwhile).",
           sender_cfg_t, smtp_pause_max_ms),
    DN_CFG("DUNNING_TEMPLATE_DIR", DN_CFG_STRING, "", 0, 0,
           "Template folder (default: $DUNNING_HOME/config/templates); <tenant_id>/ first, then default/.",
           sender_cfg_t, template_dir),
    DN_CFG("DUNNING_LIST_UNSUBSCRIBE", DN_CFG_STRING, "", 0, 0,
           "List-Unsubscribe header value, e.g. <https://example.com/unsubscribe> (default: a mailto: to the "
           "From address).",
           sender_cfg_t, list_unsubscribe),
    DN_CFG("DUNNING_HTTP_ADDR", DN_CFG_STRING, "127.0.0.1:9465", 0, 0,
           "host:port of the HTTP endpoint (/healthz, /readyz, /metrics); port 0 picks a free port, an empty value "
           "turns it off.",
           sender_cfg_t, http_addr),
    DN_CFG("DUNNING_HTTP_ADDR_FILE", DN_CFG_STRING, "", 0, 0,
           "File the bound host:port of the HTTP endpoint is written to at start (useful with port 0).", sender_cfg_t,
           http_addr_file),
    DN_CFG("DUNNING_METRICS_INTERVAL", DN_CFG_DURATION, "5s", 100, 3600000,
           "How often the loop refreshes the gauges it reads from PostgreSQL (outbox rows) and the postgres "
           "readiness.",
           sender_cfg_t, metrics_ms),
};
#define CONFIG_N (sizeof(config_table) / sizeof(config_table[0]))

typedef struct sender {
    sender_cfg_t cfg;
    char template_dir[4096];
    char from_name[256], from_addr[256];
    char unsubscribe[1024];
    dn_pg_t *pg;
    dn_kafka_consumer_t *consumer;
    dn_kafka_producer_t *producer;
    smtp_t *smtp;
    int smtp_fresh;              /* the last send failed: open a new connection for the next */
    int64_t pause_ms;            /* real ms to wait before the next round on the held record */
    unsigned int jitter;         /* rand_r state */
    const char *result;          /* metrics: how the record in hand ended (ok, duplicate, dead_letter) */
    char tried[DN_UUID_STR_LEN]; /* event id whose first SMTP try the batched path made, failing transiently */
    char tried_reason[512];
} sender_t;

/* What handle() tells the loop. */
enum {
    R_DONE = 0,  /* finished (or dead-lettered): its offset may be committed */
    R_RETRY,     /* database trouble: nothing final happened, try the same record again */
    R_SMTP_DOWN, /* failed_transient recorded: pause, then try the same record again */
};

static const char *const status_names[] = {
    [DN_OUTCOME_DELIVERED] = "delivered",
    [DN_OUTCOME_SUPPRESSED] = "suppressed",
    [DN_OUTCOME_FAILED_TRANSIENT] = "failed_transient",
    [DN_OUTCOME_FAILED_PERMANENT] = "failed_permanent",
};

/* One record in hand. */
typedef struct job {
    const rd_kafka_message_t *m;
    dn_reminder_due_t rd;
    int decoded;
    char key[512];
    char message_id[96];
    char *mail; /* the RFC 5322 message, or NULL when `pre` decides without sending */
    size_t mail_len;
    int has_pre;
    dn_outcome_t pre;
    char pre_reason[512];
    char template_source[512];
} job_t;

/* ---- metrics and readiness ---- */

static struct {
    dn_metric_t *consumed, *dead_letters, *deliveries, *smtp_seconds, *batch_seconds, *batch_size, *relayed,
        *outbox_pending;
} M;

/* Kept by the loop, read by /readyz. */
static atomic_int pg_ok = 1, smtp_ok = 1;

static const char *const results[] = {"ok", "duplicate", "dead_letter", "db_error", "smtp_unavailable"};

static void emit_lag(const char *topic, int64_t lag, void *arg)
{
    dn_metrics_emit(arg, DN_LABELS(topic), (double)lag);
}

static void collect_lag(dn_metrics_emitter_t *em, void *arg)
{
    dn_kafka_consumer_lag(arg, emit_lag, em);
}

static void register_metrics(sender_t *s, const char *topic)
{
    M.consumed = dn_metrics_counter("dunning_events_consumed_total",
                                    "Input records handled, by topic and result (ok, duplicate, dead_letter, db_error "
                                    "and smtp_unavailable: held and tried again).",
                                    "topic,result");
    for (size_t r = 0; r < sizeof(results) / sizeof(results[0]); r++)
        dn_metrics_add(M.consumed, DN_LABELS(topic, results[r]), 0);
    M.dead_letters = dn_metrics_counter("dunning_dead_letters_total",
                                        "Records written to the dead-letter topic, by source topic and error code.",
                                        "topic,error_code");
    M.deliveries = dn_metrics_counter("dunning_deliveries_total",
                                      "Reminder outcomes recorded, by outcome (delivered, suppressed, "
                                      "failed_transient, failed_permanent).",
                                      "outcome");
    for (size_t o = 0; o < sizeof(status_names) / sizeof(status_names[0]); o++)
        dn_metrics_add(M.deliveries, DN_LABELS(status_names[o]), 0);
    M.smtp_seconds = dn_metrics_histogram("dunning_smtp_send_duration_seconds",
                                          "Time of one SMTP transaction, by result (ok, transient, permanent).",
                                          "result", DN_METRICS_LATENCY_BUCKETS);
    M.batch_seconds =
        dn_metrics_histogram("dunning_batch_duration_seconds", "Time to handle one batch, from poll to offset commit.",
                             "work", DN_METRICS_LATENCY_BUCKETS);
    M.batch_size = dn_metrics_histogram("dunning_batch_size", "Records per batch.", "work", DN_METRICS_SIZE_BUCKETS);
    M.relayed = dn_metrics_counter("dunning_outbox_published_total",
                                   "Outbox rows published to Kafka (and acknowledged) by this process.", NULL);
    M.outbox_pending = dn_metrics_gauge("dunning_outbox_pending",
                                        "Rows waiting in the outbox table (every service of the database), as of the "
                                        "last refresh.",
                                        NULL);
    dn_metrics_gauge_fn("dunning_consumer_lag",
                        "Records behind the high watermark, summed over the partitions assigned to this instance.",
                        "topic", collect_lag, s->consumer);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The error says the server could not be reached (not: it refused a statement). */
static int pg_unreachable(const dn_pg_t *pg)
{
    const char *state = dn_pg_sqlstate(pg);
    return !state[0] || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

/* Gauges that cost a round trip on the loop's connection, every DUNNING_METRICS_INTERVAL. */
static void refresh_gauges(sender_t *s, int64_t *next)
{
    int64_t real = dn_clock_real_now_ms();
    if (real < *next)
        return;
    *next = real + s->cfg.metrics_ms;
    PGresult *r = dn_pg_query(s->pg, "SELECT count(*) FROM outbox", 0, NULL);
    atomic_store(&pg_ok, r != NULL);
    if (r) {
        dn_metrics_set(M.outbox_pending, NULL, strtod(PQgetvalue(r, 0, 0), NULL));
        PQclear(r);
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

static int check_smtp(void *arg, char *why, size_t why_size)
{
    (void)arg;
    if (atomic_load(&smtp_ok))
        return 1;
    snprintf(why, why_size, "the last attempt got no answer from the smtp server (connection or timeout)");
    return 0;
}

/* Copies with truncation (snprintf "%s" makes gcc warn about the truncation we want). */
static void copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void sleep_ms(int64_t ms)
{
    /* In slices, so a shutdown request is noticed within 100 ms. */
    while (ms > 0 && !dn_signal_stopping()) {
        int64_t slice = ms < 100 ? ms : 100;
        struct timespec ts = {slice / 1000, (long)(slice % 1000) * 1000000};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

static void time_param(char *buf, size_t size, int64_t ms)
{
    snprintf(buf, size, "%" PRId64, ms);
}

/* ---- dead letters ---- */

/* A dead letter ready for the outbox: its event id (derived from topic/partition/offset),
 * key and encoded record. */
typedef struct dead {
    char event_id[DN_UUID_STR_LEN];
    char *key;   /* malloc'd, or NULL for a record without a key */
    char *value; /* malloc'd encoded DeadLetter */
    size_t value_len;
    const char *code;
    char reason[600];
} dead_t;

static void dead_free(dead_t *d)
{
    free(d->key);
    free(d->value);
    d->key = d->value = NULL;
}

/* Encodes the dead letter of j. 0, or -1 if it does not encode (logged). */
static int dead_build(const job_t *j, const char *code, const char *reason, int32_t schema_id, dead_t *d)
{
    const rd_kafka_message_t *m = j->m;
    const char *topic = rd_kafka_topic_name(m->rkt);
    char partition[16], offset[24];
    snprintf(partition, sizeof(partition), "%d", (int)m->partition);
    snprintf(offset, sizeof(offset), "%" PRId64, m->offset);
    const char *parts[] = {"dead-letter", topic, partition, offset};
    dn_uuid_derive(d->event_id, parts, 4);
    d->key = m->key ? strndup(m->key, m->key_len) : NULL;
    d->code = code;
    copy(d->reason, sizeof(d->reason), reason);
    d->value = NULL;
    dn_dead_letter_t dl = {.event_id = d->event_id,
                           .occurred_at = dn_clock_now_ms(),
                           .tenant_id = j->decoded ? j->rd.tenant_id : "",
                           .customer_id = j->decoded ? j->rd.customer_id : NULL,
                           .original_event_id = j->decoded ? j->rd.event_id : NULL,
                           .service = SERVICE,
                           .source_topic = (char *)topic,
                           .source_partition = m->partition,
                           .source_offset = m->offset,
                           .schema_id = schema_id >= 0 ? schema_id : 0,
                           .has_schema_id = schema_id >= 0,
                           .error_code = (char *)code,
                           .reason = (char *)reason,
                           .key = m->key,
                           .key_len = m->key_len,
                           .payload = m->payload ? m->payload : (void *)"",
                           .payload_len = m->payload ? m->len : 0};
    char why[1200];
    dn_dead_letter_clamp(&dl, why, sizeof(why));
    if (dn_dead_letter_encode(&dl, &d->value, &d->value_len) != 0) {
        dn_log_error("dead letter does not encode", "topic", topic, "offset", offset, NULL);
        free(d->value);
        d->value = NULL;
        return -1;
    }
    return 0;
}

/* After the dead letter's COMMIT: metrics and the log line. */
static void dead_done(const job_t *j, const dead_t *d)
{
    const rd_kafka_message_t *m = j->m;
    const char *topic = rd_kafka_topic_name(m->rkt);
    char partition[16], offset[24];
    snprintf(partition, sizeof(partition), "%d", (int)m->partition);
    snprintf(offset, sizeof(offset), "%" PRId64, m->offset);
    dn_metrics_add(M.dead_letters, DN_LABELS(topic, d->code), 1);
    dn_log_warn("record dead-lettered", "topic", topic, "partition", partition, "offset", offset, "error_code", d->code,
                "reason", d->reason, "event_id", j->decoded ? j->rd.event_id : NULL, "tenant_id",
                j->decoded ? j->rd.tenant_id : NULL, NULL);
}

static int dead_letter(sender_t *s, job_t *j, const char *code, const char *reason, int32_t schema_id)
{
    dead_t d;
    int rc = R_DONE;
    s->result = "dead_letter";
    if (dead_build(j, code, reason, schema_id, &d) < 0)
        return R_DONE; /* as before: nothing to write, the record is done */
    if (dn_pg_begin(s->pg) < 0 ||
        dn_outbox_add(s->pg, d.event_id, dn_topic_name(DN_TOPIC_DEAD_LETTER), d.key ? d.key : "", d.value,
                      d.value_len) < 0 ||
        dn_pg_commit(s->pg) < 0) {
        char offset[24];
        snprintf(offset, sizeof(offset), "%" PRId64, j->m->offset);
        dn_pg_rollback(s->pg);
        dn_log_warn("dead letter not written", "topic", rd_kafka_topic_name(j->m->rkt), "offset", offset, "detail",
                    dn_pg_errstr(s->pg), NULL);
        rc = R_RETRY;
    } else {
        dead_done(j, &d);
    }
    dead_free(&d);
    return rc;
}

/* ---- preparing the message ---- */

static int opted_out(const dn_reminder_due_t *rd)
{
    for (size_t i = 0; i < rd->contact.opted_out_channels_n; i++) {
        if (strcmp(rd->contact.opted_out_channels[i], "email") == 0)
            return 1;
    }
    return 0;
}

static void decide(job_t *j, dn_outcome_t outcome, const char *reason)
{
    j->has_pre = 1;
    j->pre = outcome;
    copy(j->pre_reason, sizeof(j->pre_reason), reason);
}

/* Renders and builds the message, or decides an outcome that needs no SMTP server. */
/* Reads "Name <addr>" from <dir>/<tenant>/<file> into name/addr; leaves them as they are
 * when the file is absent or the line is not a valid mailbox (logged). */
static void tenant_mailbox(const char *dir, const char *tenant, const char *file, char *name, size_t name_size,
                           char *addr, size_t addr_size)
{
    char path[4300], line[600], n[256], a[256];
    if (!tenant || !*tenant || strchr(tenant, '/') || tenant[0] == '.')
        return;
    snprintf(path, sizeof(path), "%s/%s/%s", dir, tenant, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    int got = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    if (!got)
        return;
    line[strcspn(line, "\r\n")] = '\0';
    if (mail_parse_mailbox(line, n, sizeof(n), a, sizeof(a)) < 0) {
        dn_log_warn("tenant sender identity ignored", "file", path, "detail", "not a mailbox like Name <addr>", NULL);
        return;
    }
    copy(name, name_size, n);
    copy(addr, addr_size, a);
}

static void prepare(sender_t *s, job_t *j)
{
    const dn_reminder_due_t *rd = &j->rd;
    snprintf(j->message_id, sizeof(j->message_id), "reminder-%s@dunning", rd->event_id);
    if (opted_out(rd)) {
        decide(j, DN_OUTCOME_SUPPRESSED, "customer opted out of email");
        return;
    }
    if (!rd->contact.email || !*rd->contact.email) {
        decide(j, DN_OUTCOME_FAILED_PERMANENT, "no email address");
        return;
    }
    if (!mail_addr_valid(rd->contact.email)) {
        decide(j, DN_OUTCOME_FAILED_PERMANENT, "email address is not valid");
        return;
    }
    rendered_t r;
    char err[1024];
    if (templates_render(s->template_dir, rd, &r, err, sizeof(err)) < 0) {
        char reason[1100];
        snprintf(reason, sizeof(reason), "template error: %s", err);
        dn_log_error("template failed", "event_id", rd->event_id, "tenant_id", rd->tenant_id, "invoice_id",
                     rd->invoice_id, "case_id", rd->case_id, "template_key", rd->template_key, "detail", err, "hint",
                     "check the templates with: sender-email --check-templates", NULL);
        decide(j, DN_OUTCOME_FAILED_PERMANENT, reason);
        return;
    }
    copy(j->template_source, sizeof(j->template_source), r.source);
    /* The tenant's own sender identity, if its template folder has one:
     * <template dir>/<tenant>/email.from and email.reply_to, one "Name <addr>" line each. */
    char from_name[256], from_addr[256], reply_name[256] = "", reply_addr[256] = "";
    copy(from_name, sizeof(from_name), s->from_name);
    copy(from_addr, sizeof(from_addr), s->from_addr);
    tenant_mailbox(s->template_dir, rd->tenant_id, "email.from", from_name, sizeof(from_name), from_addr,
                   sizeof(from_addr));
    tenant_mailbox(s->template_dir, rd->tenant_id, "email.reply_to", reply_name, sizeof(reply_name), reply_addr,
                   sizeof(reply_addr));
    mail_msg_t msg = {.from_name = from_name,
                      .from_addr = from_addr,
                      .reply_to_name = reply_name[0] ? reply_name : NULL,
                      .reply_to_addr = reply_addr[0] ? reply_addr : NULL,
                      .to_name = rd->contact.name,
                      .to_addr = rd->contact.email,
                      .subject = r.subject,
                      .text = r.text,
                      .html = r.html,
                      .message_id = j->message_id,
                      .list_unsubscribe = s->unsubscribe,
                      .date_ms = dn_clock_now_ms()};
    j->mail = mail_build(&msg, &j->mail_len, err, sizeof(err));
    if (!j->mail)
        decide(j, DN_OUTCOME_FAILED_PERMANENT, err);
    rendered_free(&r);
}

/* ---- database steps ---- */

/* Claims the reminder for one attempt. Returns the attempt number (>= 1), 0 if the reminder
 * is already done (prev holds its status), -1 on a database error (rolled back). */
static int claim(sender_t *s, job_t *j, char *prev, size_t prev_size)
{
    const dn_reminder_due_t *rd = &j->rd;
    char stage[16], now[24];
    snprintf(stage, sizeof(stage), "%d", (int)rd->stage);
    time_param(now, sizeof(now), dn_clock_now_ms());
    prev[0] = '\0';
    if (dn_pg_begin(s->pg) < 0)
        return -1;
    const char *p1[] = {rd->event_id};
    PGresult *r = dn_pg_query(s->pg, "SELECT status FROM deliveries WHERE event_id = $1 FOR UPDATE", 1, p1);
    if (!r)
        goto fail;
    if (PQntuples(r) == 1)
        snprintf(prev, prev_size, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (strcmp(prev, "delivered") == 0 || strcmp(prev, "suppressed") == 0 || strcmp(prev, "failed_permanent") == 0) {
        dn_pg_rollback(s->pg);
        return 0;
    }
    const char *p2[] = {
        rd->event_id, rd->tenant_id, rd->invoice_id, rd->case_id, stage, now, j->mail ? j->message_id : NULL};
    r = dn_pg_query(s->pg,
                    "INSERT INTO deliveries (event_id, channel, tenant_id, invoice_id, case_id, stage, status, "
                    "attempts, provider_message_id, created_at, updated_at) "
                    "VALUES ($1, 'email', $2, $3, $4, $5, 'attempting', 1, $7, to_timestamp($6::float8 / 1000), "
                    "to_timestamp($6::float8 / 1000)) "
                    "ON CONFLICT (event_id) DO UPDATE SET status = 'attempting', attempts = deliveries.attempts + 1, "
                    "provider_message_id = coalesce(excluded.provider_message_id, deliveries.provider_message_id), "
                    "updated_at = excluded.updated_at RETURNING attempts",
                    7, p2);
    if (!r)
        goto fail;
    int attempt = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (dn_pg_commit(s->pg) < 0)
        goto fail;
    return attempt;
fail:
    dn_pg_rollback(s->pg);
    return -1;
}

/* The last-mile rule for a case in `state` (NULL: no such case) at stage `case_stage`:
 * 1 = send, 0 = suppress (reason set). */
static int may_send(const job_t *j, const char *state, int case_stage, char *reason, size_t reason_size)
{
    if (!state)
        snprintf(reason, reason_size, "case not found");
    else if (strcmp(state, "resolved") == 0)
        snprintf(reason, reason_size, "case resolved (paid, credited or cancelled)");
    else if (strcmp(state, "written_off") == 0 || strcmp(state, "paused") == 0)
        snprintf(reason, reason_size, "case %s", state);
    else if (strcmp(state, "handed_over") == 0 && j->rd.stage < case_stage)
        snprintf(reason, reason_size, "case handed over to collections");
    else
        return 1;
    return 0;
}

/* The last-mile check. 1 = send, 0 = suppress (reason set), -1 = database error.
 * A reminder goes out only while its case still dunns: not once it is resolved (paid,
 * credited, cancelled), written off or paused. A handed-over case still gets the
 * handover stage's own notice, but nothing from an earlier stage. */
static int last_mile(sender_t *s, const job_t *j, char *reason, size_t reason_size)
{
    const char *p[] = {j->rd.case_id};
    PGresult *r = dn_pg_query(s->pg, "SELECT state, stage FROM cases WHERE case_id = $1", 1, p);
    if (!r)
        return -1;
    int send = PQntuples(r) ? may_send(j, PQgetvalue(r, 0, 0), atoi(PQgetvalue(r, 0, 1)), reason, reason_size)
                            : may_send(j, NULL, 0, reason, reason_size);
    PQclear(r);
    return send;
}

/* The ReminderOutcome of j: its event id (derived from reminder, status and attempt), the
 * encoded record and the provider message id (NULL when none). 0, or -1 (logged). */
static int outcome_build(const job_t *j, dn_outcome_t outcome, const char *reason, int attempt, int64_t next_attempt_at,
                         int64_t now, char event_id[DN_UUID_STR_LEN], char **buf, size_t *len, const char **provider_id)
{
    const dn_reminder_due_t *rd = &j->rd;
    char attempt_txt[16];
    snprintf(attempt_txt, sizeof(attempt_txt), "%d", attempt);
    const char *parts[] = {"outcome", rd->event_id, status_names[outcome], attempt_txt};
    dn_uuid_derive(event_id, parts, 4);
    *provider_id = j->mail && outcome != DN_OUTCOME_SUPPRESSED ? j->message_id : NULL;
    dn_reminder_outcome_t o = {.event_id = event_id,
                               .occurred_at = now,
                               .tenant_id = rd->tenant_id,
                               .customer_id = rd->customer_id,
                               .reminder_event_id = rd->event_id,
                               .case_id = rd->case_id,
                               .invoice_id = rd->invoice_id,
                               .channel = DN_CHANNEL_EMAIL,
                               .outcome = outcome,
                               .reason = (char *)reason,
                               .attempt = attempt,
                               .next_attempt_at = next_attempt_at,
                               .has_next_attempt_at = next_attempt_at > 0,
                               .provider_message_id = (char *)*provider_id};
    *buf = NULL;
    if (dn_reminder_outcome_encode(&o, buf, len) != 0) {
        free(*buf);
        *buf = NULL;
        dn_log_error("outcome does not encode", "event_id", rd->event_id, NULL);
        return -1;
    }
    return 0;
}

/* Final status + ReminderOutcome in one transaction. 0/-1 (rolled back). */
static int finish_once(sender_t *s, const job_t *j, dn_outcome_t outcome, const char *reason, int attempt,
                       int64_t next_attempt_at)
{
    const dn_reminder_due_t *rd = &j->rd;
    const char *status = status_names[outcome];
    char event_id[DN_UUID_STR_LEN], now_txt[24];
    int64_t now = dn_clock_now_ms();
    time_param(now_txt, sizeof(now_txt), now);
    char *buf = NULL;
    size_t len = 0;
    const char *provider_id = NULL;
    if (outcome_build(j, outcome, reason, attempt, next_attempt_at, now, event_id, &buf, &len, &provider_id) < 0)
        return -1;
    const char *params[] = {rd->event_id, status, outcome == DN_OUTCOME_DELIVERED ? NULL : reason, now_txt,
                            provider_id};
    PGresult *r = NULL;
    int ok = dn_pg_begin(s->pg) == 0 &&
             (r = dn_pg_query(s->pg,
                              "UPDATE deliveries SET status = $2, last_error = $3, provider_message_id = $5, "
                              "updated_at = to_timestamp($4::float8 / 1000) WHERE event_id = $1",
                              5, params)) != NULL &&
             dn_outbox_add(s->pg, event_id, dn_topic_name(DN_TOPIC_REMINDER_OUTCOMES), j->key, buf, len) == 0 &&
             dn_pg_commit(s->pg) == 0;
    PQclear(r);
    free(buf);
    if (!ok)
        dn_pg_rollback(s->pg);
    return ok ? 0 : -1;
}

static void log_event(dn_log_level_t level, const char *msg, const job_t *j, int attempt, const char *reason)
{
    if (!dn_log_enabled(level))
        return;
    char attempt_txt[16], late[24];
    snprintf(attempt_txt, sizeof(attempt_txt), "%d", attempt);
    snprintf(late, sizeof(late), "%" PRId64, dn_clock_now_ms() - j->rd.due_at);
    dn_log(level, msg, "event_id", j->rd.event_id, "tenant_id", j->rd.tenant_id, "invoice_id", j->rd.invoice_id,
           "case_id", j->rd.case_id, "stage_name", j->rd.stage_name, "attempt", attempt > 0 ? attempt_txt : NULL,
           "reason", reason, "template", j->template_source[0] ? j->template_source : NULL, "late_ms", late, NULL);
}

static void outcome_done(const job_t *j, dn_outcome_t outcome, const char *reason, int attempt);

/* Records the outcome. Once a message may have been sent, this must not give up
 * quietly: it retries until it commits or the service is stopping. Returns R_DONE, or
 * R_RETRY if it could not commit (the row stays 'attempting'; see the crash window). */
static int finish(sender_t *s, const job_t *j, dn_outcome_t outcome, const char *reason, int attempt,
                  int64_t next_attempt_at)
{
    int64_t wait = 100;
    while (finish_once(s, j, outcome, reason, attempt, next_attempt_at) < 0) {
        dn_log_warn("outcome not recorded, retrying", "event_id", j->rd.event_id, "tenant_id", j->rd.tenant_id,
                    "detail", dn_pg_errstr(s->pg), NULL);
        if (dn_signal_stopping()) {
            log_event(DN_LOG_ERROR, "outcome not recorded before shutdown; the reminder stays 'attempting'", j, attempt,
                      status_names[outcome]);
            return R_RETRY;
        }
        sleep_ms(wait);
        wait = wait * 2 > 5000 ? 5000 : wait * 2;
    }
    outcome_done(j, outcome, reason, attempt);
    return R_DONE;
}

/* After the outcome's COMMIT: metrics and the log line. */
static void outcome_done(const job_t *j, dn_outcome_t outcome, const char *reason, int attempt)
{
    static const char *const msgs[] = {
        [DN_OUTCOME_DELIVERED] = "reminder delivered",
        [DN_OUTCOME_SUPPRESSED] = "reminder suppressed",
        [DN_OUTCOME_FAILED_TRANSIENT] = "reminder delivery failed, will retry",
        [DN_OUTCOME_FAILED_PERMANENT] = "reminder delivery failed permanently",
    };
    dn_metrics_add(M.deliveries, DN_LABELS(status_names[outcome]), 1);
    log_event(outcome == DN_OUTCOME_FAILED_PERMANENT ? DN_LOG_WARN : DN_LOG_INFO, msgs[outcome], j, attempt, reason);
}

/* ---- one record ---- */

static int64_t retry_delay(sender_t *s, int try)
{
    int64_t base = s->cfg.smtp_backoff_ms << (try < 16 ? try : 16);
    return base / 2 + (int64_t)(rand_r(&s->jitter) % (unsigned)(base / 2 + 1)); /* [base/2, base] */
}

static int db_trouble(sender_t *s, job_t *j, const char *what)
{
    if (dn_pg_retriable(s->pg)) {
        dn_log_warn("database unavailable, record will be retried", "step", what, "event_id", j->rd.event_id, "detail",
                    dn_pg_errstr(s->pg), NULL);
        return R_RETRY;
    }
    /* The database refuses this record for good (a constraint, a bad value): dead-letter it. */
    char reason[600];
    snprintf(reason, sizeof(reason), "%s: %s", what, dn_pg_errstr(s->pg));
    return dead_letter(s, j, "database_error", reason, -1);
}

/* One SMTP transaction for j, with its metrics and readiness. On failure, reason gets
 * "smtp CODE: ...". */
static smtp_result_t send_mail(sender_t *s, const job_t *j, char *reason, size_t reason_size)
{
    long code = 0;
    char err[512];
    double started = mono_s();
    smtp_result_t sr = smtp_send(s->smtp, s->from_addr, j->rd.contact.email, j->mail, j->mail_len, s->smtp_fresh, &code,
                                 err, sizeof(err));
    static const char *const smtp_results[] = {
        [SMTP_OK] = "ok", [SMTP_TRANSIENT] = "transient", [SMTP_PERMANENT] = "permanent"};
    dn_metrics_observe(M.smtp_seconds, DN_LABELS(smtp_results[sr]), mono_s() - started);
    atomic_store(&smtp_ok, sr != SMTP_TRANSIENT || code != 0);
    s->smtp_fresh = sr != SMTP_OK;
    if (sr != SMTP_OK)
        snprintf(reason, reason_size, "smtp %ld: %.400s", code, err);
    return sr;
}

/* The in-process retry budget is spent: the pause before the next round (doubling up to
 * DUNNING_SMTP_PAUSE_MAX, see the top of this file) and the next_attempt_at to record. */
static int64_t smtp_pause(sender_t *s)
{
    int64_t first = s->cfg.smtp_backoff_ms << (s->cfg.smtp_retries + 1 < 16 ? s->cfg.smtp_retries + 1 : 16);
    s->pause_ms = s->pause_ms ? s->pause_ms * 2 : first;
    if (s->pause_ms > s->cfg.smtp_pause_max_ms)
        s->pause_ms = s->cfg.smtp_pause_max_ms;
    return dn_clock_now_ms() + s->pause_ms * dn_clock_speed();
}

static void log_retry(sender_t *s, const job_t *j, const char *reason, int64_t delay)
{
    char delay_txt[24];
    snprintf(delay_txt, sizeof(delay_txt), "%" PRId64, delay);
    dn_log_warn("smtp transient failure, retrying", "event_id", j->rd.event_id, "tenant_id", j->rd.tenant_id,
                "invoice_id", j->rd.invoice_id, "case_id", j->rd.case_id, "reason", reason, "retry_in_ms", delay_txt,
                NULL);
    sleep_ms(delay);
}

static int deliver(sender_t *s, job_t *j)
{
    int first = 0;
    if (s->tried[0] && strcmp(s->tried, j->rd.event_id) == 0) {
        /* The batched path made this reminder's first try and it failed transiently: this is
         * the first retry (the budget counts it). */
        first = 1;
        log_retry(s, j, s->tried_reason, retry_delay(s, 0));
    }
    s->tried[0] = '\0';
    for (int try = first;; try++) {
        char prev[32], reason[512];
        int attempt = claim(s, j, prev, sizeof(prev));
        if (attempt < 0)
            return db_trouble(s, j, "claim");
        if (attempt == 0) {
            s->result = "duplicate";
            log_event(DN_LOG_INFO, "reminder already handled, skipped", j, 0, prev);
            return R_DONE;
        }
        /* attempting with attempt 1: a claim the batched path gave back unsent (batch_release) */
        if (try == 0 && strcmp(prev, "attempting") == 0 && attempt > 1)
            log_event(DN_LOG_WARN,
                      j->mail ? "previous attempt did not finish; sending again with the same message-id"
                              : "previous attempt did not finish",
                      j, attempt, j->mail ? j->message_id : NULL);
        int send = last_mile(s, j, reason, sizeof(reason));
        if (send < 0)
            return db_trouble(s, j, "last-mile check");
        if (send == 0)
            return finish(s, j, DN_OUTCOME_SUPPRESSED, reason, attempt, 0);
        if (j->has_pre)
            return finish(s, j, j->pre, j->pre_reason, attempt, 0);

        smtp_result_t sr = send_mail(s, j, reason, sizeof(reason));
        if (sr == SMTP_OK)
            return finish(s, j, DN_OUTCOME_DELIVERED, NULL, attempt, 0);
        if (sr == SMTP_PERMANENT)
            return finish(s, j, DN_OUTCOME_FAILED_PERMANENT, reason, attempt, 0);
        if (try < s->cfg.smtp_retries && !dn_signal_stopping()) {
            log_retry(s, j, reason, retry_delay(s, try));
            continue;
        }
        /* Budget spent: record it and pause consumption (see the top of this file). */
        int64_t next = smtp_pause(s);
        int rc = finish(s, j, DN_OUTCOME_FAILED_TRANSIENT, reason, attempt, next);
        return rc == R_DONE ? R_SMTP_DOWN : rc;
    }
}

static int lock_reminder(sender_t *s, const char *event_id, int lock)
{
    const char *p[] = {event_id};
    PGresult *r = dn_pg_query(s->pg,
                              lock ? "SELECT pg_advisory_lock(hashtextextended($1, 727003))"
                                   : "SELECT pg_advisory_unlock(hashtextextended($1, 727003))",
                              1, p);
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

static int handle(sender_t *s, const rd_kafka_message_t *m)
{
    job_t j;
    memset(&j, 0, sizeof(j));
    j.m = m;
    dn_avro_err_t err;
    memset(&err, 0, sizeof(err));
    if (dn_reminder_due_decode(m->payload ? m->payload : "", m->payload ? m->len : 0, &j.rd, &err) != 0)
        return dead_letter(s, &j, dn_avro_code_str(err.code), err.msg, err.schema_id);
    j.decoded = 1;
    int rc;
    if (j.rd.channel != DN_CHANNEL_EMAIL) {
        rc = dead_letter(s, &j, "invalid_field", "field channel: not email on the email topic", -1);
    } else if (!dn_uuid_valid(j.rd.case_id)) {
        rc = dead_letter(s, &j, "invalid_field", "field case_id: not a UUID", -1);
    } else if (dn_topic_key(j.rd.tenant_id, j.rd.customer_id, j.key, sizeof(j.key)) < 0) {
        rc = dead_letter(s, &j, "invalid_field", "tenant_id/customer_id: too long for a record key", -1);
    } else if (lock_reminder(s, j.rd.event_id, 1) < 0) {
        rc = db_trouble(s, &j, "lock");
    } else {
        prepare(s, &j);
        rc = deliver(s, &j);
        lock_reminder(s, j.rd.event_id, 0); /* a lost connection released it already */
    }
    free(j.mail);
    dn_reminder_due_free(&j.rd);
    return rc;
}

/* ---- the batched path ----
 *
 * The same steps as handle(), for a whole poll batch with a few statements instead of a
 * dozen round trips per record (docs/senders.md, "Batches"):
 *   decode and validate every record, render the messages; one statement takes the
 *   advisory locks of the batch (in event id order, so two instances never deadlock); one
 *   autocommitted INSERT .. SELECT FROM unnest .. ON CONFLICT DO UPDATE claims them all
 *   (the claim is on record before any SMTP call); one query does the last-mile check of
 *   all (repeated for the records not yet sent whenever it is older than
 *   LAST_MILE_MAX_AGE_MS); the mails go out over the reused connection; one autocommitted
 *   statement records the outcomes (data-modifying CTEs: UPDATE deliveries .. FROM unnest,
 *   INSERT INTO outbox .. SELECT FROM unnest with the outcomes and dead letters in record
 *   order), after the batch's last mail and, while mails go out, every
 *   LAST_MILE_MAX_AGE_MS for those sent so far (so a crash re-sends no more than that);
 *   the locks are released.
 * A database error before the first send hands the whole batch to the per-record path
 * (handle()), which pins the error to its record; after some sends, the outcomes of what
 * was sent are recorded first. A transient SMTP failure, or a shutdown, ends the batched
 * part at that record: claims taken for the records after it are given back unsent, and
 * the per-record path takes over there (retries, pause) exactly as before. */

#define LAST_MILE_MAX_AGE_MS 100

enum { B_DEAD = 1, B_DUP, B_WORK };

typedef struct bjob {
    job_t j;
    int kind;     /* B_DEAD (dead letter), B_DUP (copy of an earlier record of the batch), B_WORK */
    int has_dead; /* B_DEAD: the dead letter encoded (else nothing is written, as in dead_letter()) */
    dead_t dead;
    size_t dup_of; /* B_DUP: the earlier record with the same event id */
    char prev[32]; /* deliveries status before the claim ("" if none) */
    int attempt;   /* B_WORK: the claimed attempt; 0 = already handled (prev) */
    int has_outcome;
    dn_outcome_t outcome;
    char reason[512];
    int64_t next_attempt_at;
    char outcome_id[DN_UUID_STR_LEN];
    char *outcome_value; /* encoded ReminderOutcome */
    size_t outcome_len;
    const char *provider_id;
} bjob_t;

static void arrs_free(dn_pgarray_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dn_pgarray_free(&a[i]);
}

/* Runs sql with the finished arrays as parameters $1..$n (n <= 15; `extra`, if set, after them).
 * Returns the result, or NULL (error kept in s->pg, or out of memory). */
static PGresult *arr_query(sender_t *s, const char *sql, dn_pgarray_t *a, int n, const char *extra)
{
    const char *params[16];
    for (int i = 0; i < n; i++)
        if (!(params[i] = dn_pgarray_text(&a[i])))
            return NULL;
    if (extra)
        params[n++] = extra;
    return dn_pg_query(s->pg, sql, n, params);
}

/* Session advisory locks (lock = 1) or their release (0) for every B_WORK record. 0/-1. */
static int batch_lock(sender_t *s, bjob_t *b, size_t n, int lock)
{
    dn_pgarray_t ids = {0};
    for (size_t i = 0; i < n; i++)
        if (b[i].kind == B_WORK)
            dn_pgarray_add(&ids, b[i].j.rd.event_id);
    PGresult *r = arr_query(s,
                            lock ? "SELECT count(pg_advisory_lock(hashtextextended(id, 727003))) FROM "
                                   "(SELECT DISTINCT id FROM unnest($1::text[]) AS u (id) ORDER BY id) AS ids"
                                 : "SELECT count(pg_advisory_unlock(hashtextextended(id, 727003))) FROM "
                                   "(SELECT DISTINCT id FROM unnest($1::text[]) AS u (id) ORDER BY id) AS ids",
                            &ids, 1, NULL);
    arrs_free(&ids, 1);
    PQclear(r);
    return r ? 0 : -1;
}

/* Claims every B_WORK record in one autocommitted statement: a row already delivered,
 * suppressed or failed_permanent is left alone (attempt 0); any other is 'attempting' with
 * attempts + 1, committed before anything is sent. 0/-1 (nothing claimed). */
static int batch_claim(sender_t *s, bjob_t *b, size_t n)
{
    dn_pgarray_t a[6];
    memset(a, 0, sizeof(a));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i].kind != B_WORK)
            continue;
        const dn_reminder_due_t *rd = &b[i].j.rd;
        char stage[16];
        snprintf(stage, sizeof(stage), "%d", (int)rd->stage);
        dn_pgarray_add(&a[0], rd->event_id);
        dn_pgarray_add(&a[1], rd->tenant_id);
        dn_pgarray_add(&a[2], rd->invoice_id);
        dn_pgarray_add(&a[3], rd->case_id);
        dn_pgarray_add(&a[4], stage);
        dn_pgarray_add(&a[5], b[i].j.mail ? b[i].j.message_id : NULL);
        k++;
    }
    char now[24];
    time_param(now, sizeof(now), dn_clock_now_ms());
    PGresult *r = arr_query(
        s,
        "WITH u AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::int[], $6::text[]) "
        "WITH ORDINALITY AS u (event_id, tenant_id, invoice_id, case_id, stage, message_id, n)), "
        "prev AS (SELECT d.event_id, d.status FROM deliveries d JOIN u USING (event_id)), "
        "claimed AS (INSERT INTO deliveries (event_id, channel, tenant_id, invoice_id, case_id, stage, status, "
        "attempts, provider_message_id, created_at, updated_at) "
        "SELECT event_id, 'email', tenant_id, invoice_id, case_id, stage, 'attempting', 1, message_id, "
        "to_timestamp($7::float8 / 1000), to_timestamp($7::float8 / 1000) FROM u ORDER BY n "
        "ON CONFLICT (event_id) DO UPDATE SET status = 'attempting', attempts = deliveries.attempts + 1, "
        "provider_message_id = coalesce(excluded.provider_message_id, deliveries.provider_message_id), "
        "updated_at = excluded.updated_at "
        "WHERE deliveries.status NOT IN ('delivered', 'suppressed', 'failed_permanent') "
        "RETURNING event_id, attempts) "
        "SELECT coalesce(prev.status, ''), coalesce(claimed.attempts, 0) FROM u "
        "LEFT JOIN prev USING (event_id) LEFT JOIN claimed USING (event_id) ORDER BY u.n",
        a, 6, now);
    arrs_free(a, 6);
    if (!r)
        return -1;
    if ((size_t)PQntuples(r) != k) {
        PQclear(r);
        return -1;
    }
    int row = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i].kind != B_WORK)
            continue;
        copy(b[i].prev, sizeof(b[i].prev), PQgetvalue(r, row, 0));
        b[i].attempt = atoi(PQgetvalue(r, row, 1));
        row++;
        if (b[i].attempt > 1 && strcmp(b[i].prev, "attempting") == 0)
            log_event(DN_LOG_WARN,
                      b[i].j.mail ? "previous attempt did not finish; sending again with the same message-id"
                                  : "previous attempt did not finish",
                      &b[i].j, b[i].attempt, b[i].j.mail ? b[i].j.message_id : NULL);
    }
    PQclear(r);
    return 0;
}

static void set_outcome(bjob_t *x, dn_outcome_t outcome, const char *reason)
{
    x->has_outcome = 1;
    x->outcome = outcome;
    copy(x->reason, sizeof(x->reason), reason ? reason : "");
}

/* The last-mile check of every claimed record from `from` on that has no outcome yet, in
 * one query; a case that no longer dunns gives 'suppressed'. 0/-1. */
static int batch_last_mile(sender_t *s, bjob_t *b, size_t from, size_t n)
{
    dn_pgarray_t ids = {0};
    for (size_t i = from; i < n; i++)
        if (b[i].kind == B_WORK && b[i].attempt > 0 && !b[i].has_outcome)
            dn_pgarray_add(&ids, b[i].j.rd.case_id);
    size_t k = ids.n;
    PGresult *r = arr_query(s,
                            "SELECT c.state, c.stage FROM unnest($1::uuid[]) WITH ORDINALITY AS u (id, n) "
                            "LEFT JOIN cases c ON c.case_id = u.id ORDER BY u.n",
                            &ids, 1, NULL);
    arrs_free(&ids, 1);
    if (!r)
        return -1;
    if ((size_t)PQntuples(r) != k) {
        PQclear(r);
        return -1;
    }
    int row = 0;
    for (size_t i = from; i < n; i++) {
        bjob_t *x = &b[i];
        if (x->kind != B_WORK || x->attempt == 0 || x->has_outcome)
            continue;
        char reason[512];
        int found = !PQgetisnull(r, row, 0);
        if (!may_send(&x->j, found ? PQgetvalue(r, row, 0) : NULL, found ? atoi(PQgetvalue(r, row, 1)) : 0, reason,
                      sizeof(reason)))
            set_outcome(x, DN_OUTCOME_SUPPRESSED, reason);
        row++;
    }
    PQclear(r);
    return 0;
}

/* One transaction: the final status of every outcome of records [from, end), their
 * ReminderOutcomes and the dead letters in record order, and the claims of the records in
 * [release_from, n) given back (status as before, attempts - 1). 0/-1 (rolled back). */
static int batch_record_once(sender_t *s, bjob_t *b, size_t from, size_t end, size_t release_from, size_t n, int sync)
{
    dn_pgarray_t up[4], ob[4], rel[2];
    memset(up, 0, sizeof(up));
    memset(ob, 0, sizeof(ob));
    memset(rel, 0, sizeof(rel));
    for (size_t i = from; i < end; i++) {
        bjob_t *x = &b[i];
        if (x->kind == B_DEAD && x->has_dead) {
            dn_pgarray_add(&ob[0], x->dead.event_id);
            dn_pgarray_add(&ob[1], dn_topic_name(DN_TOPIC_DEAD_LETTER));
            dn_pgarray_add(&ob[2], x->dead.key ? x->dead.key : "");
            dn_pgarray_add_bytea(&ob[3], x->dead.value, x->dead.value_len);
        } else if (x->kind == B_WORK && x->has_outcome && x->outcome_value) {
            dn_pgarray_add(&up[0], x->j.rd.event_id);
            dn_pgarray_add(&up[1], status_names[x->outcome]);
            dn_pgarray_add(&up[2], x->outcome == DN_OUTCOME_DELIVERED ? NULL : x->reason);
            dn_pgarray_add(&up[3], x->provider_id);
            dn_pgarray_add(&ob[0], x->outcome_id);
            dn_pgarray_add(&ob[1], dn_topic_name(DN_TOPIC_REMINDER_OUTCOMES));
            dn_pgarray_add(&ob[2], x->j.key);
            dn_pgarray_add_bytea(&ob[3], x->outcome_value, x->outcome_len);
        }
    }
    for (size_t i = release_from; i < n; i++)
        if (b[i].kind == B_WORK && b[i].attempt > 0 && !b[i].has_outcome) {
            dn_pgarray_add(&rel[0], b[i].j.rd.event_id);
            dn_pgarray_add(&rel[1], b[i].prev);
        }
    if (!up[0].n && !ob[0].n && !rel[0].n)
        return 0; /* nothing to write (a batch of duplicates) */
    /* One autocommitted statement (one round trip, one COMMIT): the status updates, the
     * claims given back and the outbox rows, each a data-modifying CTE over its arrays.
     * Not sync: the COMMIT does not wait for the WAL flush (synchronous_commit off for
     * this transaction); the batch's last, synchronous COMMIT flushes it, before any
     * offset is committed. A database crash in between loses at most outcomes of mails
     * that were sent: those reminders stay 'attempting' (see the crash window). */
    char now[24];
    time_param(now, sizeof(now), dn_clock_now_ms());
    dn_pgarray_t all[11] = {up[0], up[1], up[2], up[3], rel[0], rel[1], ob[0], ob[1], ob[2], ob[3], {{0}, 0}};
    dn_pgarray_add(&all[10], sync ? "on" : "off");
    PGresult *r = arr_query(
        s,
        "WITH up AS (UPDATE deliveries AS d SET status = u.status, last_error = u.err, provider_message_id = u.pid, "
        "updated_at = to_timestamp($12::float8 / 1000) "
        "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u (id, status, err, pid) "
        "WHERE d.event_id = u.id RETURNING 1), "
        "rel AS (UPDATE deliveries AS d SET status = coalesce(nullif(u.prev, ''), 'attempting'), "
        "attempts = d.attempts - 1 FROM unnest($5::uuid[], $6::text[]) AS u (id, prev) "
        "WHERE d.event_id = u.id AND d.status = 'attempting' RETURNING 1), "
        "ob AS (INSERT INTO outbox (event_id, topic, key, payload) SELECT ev, t, k, p "
        "FROM unnest($7::uuid[], $8::text[], $9::text[], $10::bytea[]) WITH ORDINALITY AS u (ev, t, k, p, n) "
        "ORDER BY n ON CONFLICT (event_id) DO NOTHING RETURNING 1), "
        "cfg AS (SELECT set_config('synchronous_commit', ($11::text[])[1], true) AS v) "
        "SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM rel), (SELECT count(*) FROM ob), (SELECT v FROM cfg)",
        all, 11, now);
    PQclear(r);
    arrs_free(all, 11);
    return r ? 0 : -1;
}

/* The per-record writes of [from, end), for a transaction the database refuses for good:
 * each outcome with finish() (retried until it commits), each dead letter on its own.
 * Returns the first record not done (end if all are). */
static size_t batch_record_each(sender_t *s, bjob_t *b, size_t from, size_t end)
{
    size_t done = end;
    for (size_t i = from; i < end; i++) {
        bjob_t *x = &b[i];
        int rc = R_DONE;
        if (x->kind == B_DEAD && x->has_dead) {
            if (dn_pg_begin(s->pg) < 0 ||
                dn_outbox_add(s->pg, x->dead.event_id, dn_topic_name(DN_TOPIC_DEAD_LETTER),
                              x->dead.key ? x->dead.key : "", x->dead.value, x->dead.value_len) < 0 ||
                dn_pg_commit(s->pg) < 0) {
                dn_pg_rollback(s->pg);
                rc = R_RETRY;
            } else {
                dead_done(&x->j, &x->dead);
            }
            x->has_dead = 0; /* logged (or left to the per-record path) */
        } else if (x->kind == B_WORK && x->has_outcome) {
            rc = finish(s, &x->j, x->outcome, x->reason, x->attempt, x->next_attempt_at);
            x->has_outcome = 0; /* logged by finish() */
        }
        if (rc != R_DONE && done == end)
            done = i; /* the per-record path goes on from here; outcomes after it are recorded still */
    }
    return done;
}

/* Records [from, end) and gives back the claims from release_from on, retrying until it
 * commits (or the service stops); sync: the COMMIT waits for the WAL flush (see
 * batch_record_once). Returns the first record not done (end if all are). */
static size_t batch_record(sender_t *s, bjob_t *b, size_t from, size_t end, size_t release_from, size_t n, int sync,
                           int *gave_up)
{
    *gave_up = 0;
    int64_t now = dn_clock_now_ms();
    for (size_t i = from; i < end; i++) {
        bjob_t *x = &b[i];
        if (x->kind == B_WORK && x->has_outcome &&
            outcome_build(&x->j, x->outcome, x->reason, x->attempt, x->next_attempt_at, now, x->outcome_id,
                          &x->outcome_value, &x->outcome_len, &x->provider_id) < 0)
            return batch_record_each(s, b, from, end); /* finish() keeps trying that one, as before */
    }
    int64_t wait = 100;
    while (batch_record_once(s, b, from, end, release_from, n, sync) < 0) {
        if (!dn_pg_retriable(s->pg)) {
            dn_log_warn("batch outcomes refused, recording them one by one", "detail", dn_pg_errstr(s->pg), NULL);
            size_t done = batch_record_each(s, b, from, end);
            if (release_from < n && batch_record_once(s, b, end, end, release_from, n, 1) < 0)
                dn_log_warn("unsent claims not given back", "detail", dn_pg_errstr(s->pg), "hint",
                            "those reminders are sent once, their attempts count one more", NULL);
            return done;
        }
        dn_log_warn("batch outcomes not recorded, retrying", "detail", dn_pg_errstr(s->pg), NULL);
        if (dn_signal_stopping()) {
            for (size_t i = from; i < end; i++)
                if (b[i].kind == B_WORK && b[i].has_outcome)
                    log_event(DN_LOG_ERROR, "outcome not recorded before shutdown; the reminder stays 'attempting'",
                              &b[i].j, b[i].attempt, status_names[b[i].outcome]);
            *gave_up = 1;
            return from;
        }
        sleep_ms(wait);
        wait = wait * 2 > 5000 ? 5000 : wait * 2;
    }
    return end;
}

/* Decodes and checks msgs[i] into x; a record that is not a valid email reminder becomes
 * B_DEAD with its dead letter encoded. */
static void batch_decode(sender_t *s, bjob_t *b, size_t i, const rd_kafka_message_t *m)
{
    bjob_t *x = &b[i];
    job_t *j = &x->j;
    j->m = m;
    dn_avro_err_t err;
    memset(&err, 0, sizeof(err));
    const char *code = NULL, *reason = NULL;
    int32_t schema_id = -1;
    if (dn_reminder_due_decode(m->payload ? m->payload : "", m->payload ? m->len : 0, &j->rd, &err) != 0) {
        code = dn_avro_code_str(err.code);
        reason = err.msg;
        schema_id = err.schema_id;
    } else {
        j->decoded = 1;
        code = "invalid_field";
        if (j->rd.channel != DN_CHANNEL_EMAIL)
            reason = "field channel: not email on the email topic";
        else if (!dn_uuid_valid(j->rd.case_id))
            reason = "field case_id: not a UUID";
        else if (dn_topic_key(j->rd.tenant_id, j->rd.customer_id, j->key, sizeof(j->key)) < 0)
            reason = "tenant_id/customer_id: too long for a record key";
        else
            code = NULL;
    }
    if (code) {
        x->kind = B_DEAD;
        x->has_dead = dead_build(j, code, reason, schema_id, &x->dead) == 0;
        return;
    }
    for (size_t k = 0; k < i; k++)
        if (b[k].kind == B_WORK && strcasecmp(b[k].j.rd.event_id, j->rd.event_id) == 0) {
            x->kind = B_DUP;
            x->dup_of = k;
            return;
        }
    x->kind = B_WORK;
    prepare(s, j);
}

static void batch_free(bjob_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(b[i].j.mail);
        if (b[i].j.decoded)
            dn_reminder_due_free(&b[i].j.rd);
        dead_free(&b[i].dead);
        free(b[i].outcome_value);
    }
    free(b);
}

/* After the COMMIT of records [from, to): their logs and metrics. */
static void batch_done(bjob_t *b, size_t from, size_t to, const char *topic)
{
    for (size_t i = from; i < to; i++) {
        bjob_t *x = &b[i];
        const char *result = "ok";
        if (x->kind == B_DEAD) {
            result = "dead_letter";
            if (x->has_dead)
                dead_done(&x->j, &x->dead);
        } else if (x->kind == B_DUP) {
            const bjob_t *o = &b[x->dup_of];
            result = "duplicate";
            log_event(DN_LOG_INFO, "reminder already handled, skipped", &x->j, 0,
                      o->attempt == 0 ? o->prev : status_names[o->outcome]);
        } else if (x->attempt == 0) {
            result = "duplicate";
            log_event(DN_LOG_INFO, "reminder already handled, skipped", &x->j, 0, x->prev);
        } else if (x->has_outcome) {
            outcome_done(&x->j, x->outcome, x->reason, x->attempt);
        }
        dn_metrics_add(M.consumed, DN_LABELS(topic, result), 1);
    }
}

/* Handles msgs[0..n) on the batched path. Returns how many records from the start are
 * done (effects committed); *rc tells what holds the next one: R_DONE (nothing: the
 * per-record path goes on with it), R_SMTP_DOWN (failed_transient recorded: pause first).
 * While messages go out, every LAST_MILE_MAX_AGE_MS the outcomes so far are committed
 * (so a crash re-sends no more than that) and the last-mile check is repeated for the
 * rest. */
static size_t batch(sender_t *s, rd_kafka_message_t **msgs, size_t n, int *rc)
{
    *rc = R_DONE;
    s->tried[0] = '\0';
    bjob_t *b = calloc(n, sizeof(*b));
    if (!b)
        return 0;
    const char *topic = rd_kafka_topic_name(msgs[0]->rkt);
    size_t nwork = 0, end = n, release_from = n, done = 0, recorded = 0;
    int gave_up = 0;
    const char *why = NULL;
    for (size_t i = 0; i < n; i++) {
        batch_decode(s, b, i, msgs[i]);
        nwork += b[i].kind == B_WORK;
    }
    if (nwork && batch_lock(s, b, n, 1) < 0) {
        why = "lock"; /* session locks taken before the error stay: release them all */
        goto unlock;
    }
    if (nwork && batch_claim(s, b, n) < 0) {
        why = "claim";
        goto unlock;
    }
    int64_t checked = 0;
    for (size_t i = 0; i < n && end == n; i++) {
        bjob_t *x = &b[i];
        if (x->kind != B_WORK || x->attempt == 0 || x->has_outcome)
            continue;
        int64_t real = dn_clock_real_now_ms();
        if (real - checked > LAST_MILE_MAX_AGE_MS) {
            if (recorded < i) {
                size_t d = batch_record(s, b, recorded, i, n, n, 0, &gave_up);
                batch_done(b, recorded, d, topic);
                if (d < i) {
                    /* Not all recorded (shutdown, or a dead letter refused): stop here. */
                    done = recorded = d;
                    end = release_from = i;
                    goto record;
                }
                recorded = i;
            }
            if (batch_last_mile(s, b, i, n) < 0) {
                why = "last-mile check";
                end = release_from = i;
                break;
            }
            checked = dn_clock_real_now_ms();
            if (x->has_outcome)
                continue;
        }
        if (x->j.has_pre) {
            set_outcome(x, x->j.pre, x->j.pre_reason);
            continue;
        }
        if (dn_signal_stopping()) {
            end = release_from = i; /* finish what was sent, not the batch */
            break;
        }
        char reason[512];
        smtp_result_t sr = send_mail(s, &x->j, reason, sizeof(reason));
        if (sr == SMTP_OK) {
            set_outcome(x, DN_OUTCOME_DELIVERED, NULL);
        } else if (sr == SMTP_PERMANENT) {
            set_outcome(x, DN_OUTCOME_FAILED_PERMANENT, reason);
        } else if (s->cfg.smtp_retries > 0 && !dn_signal_stopping()) {
            /* The per-record path retries it (this try counts) and pauses if need be. */
            copy(s->tried, sizeof(s->tried), x->j.rd.event_id);
            copy(s->tried_reason, sizeof(s->tried_reason), reason);
            end = i;
            release_from = i + 1;
        } else {
            /* No retries: failed_transient now, then the pause, as deliver() does. */
            if (i > 0)
                s->pause_ms = 0;
            x->next_attempt_at = smtp_pause(s);
            set_outcome(x, DN_OUTCOME_FAILED_TRANSIENT, reason);
            end = i;
            release_from = i + 1;
            *rc = R_SMTP_DOWN;
        }
    }
    if (*rc == R_SMTP_DOWN) {
        /* The held record's outcome goes into the same transaction; the record stays held. */
        done = batch_record(s, b, recorded, end + 1, release_from, n, 1, &gave_up);
        if (done == end + 1) {
            batch_done(b, recorded, end, topic);
            outcome_done(&b[end].j, b[end].outcome, b[end].reason, b[end].attempt);
            dn_metrics_add(M.consumed, DN_LABELS(topic, "smtp_unavailable"), 1);
            done = end;
        } else {
            *rc = R_DONE;
            done = done > end ? end : done;
            batch_done(b, recorded, done, topic);
        }
    } else {
        done = batch_record(s, b, recorded, end, release_from, n, 1, &gave_up);
        batch_done(b, recorded, done, topic);
    }
    if (gave_up)
        done = 0; /* the chunks' COMMITs may not be flushed: no offsets, the records come back */
    goto unlock;
record:
    /* A chunk stopped the batch: give back the claims not sent (best effort). No offsets for
     * this batch: its records come back and what was recorded is skipped as duplicates. */
    if (release_from < n)
        batch_record(s, b, end, end, release_from, n, 1, &gave_up);
    done = 0;
unlock:
    if (nwork && batch_lock(s, b, n, 0) < 0)
        dn_log_warn("advisory locks not released", "detail", dn_pg_errstr(s->pg), NULL);
    if (why) {
        if (dn_pg_retriable(s->pg) && pg_unreachable(s->pg))
            atomic_store(&pg_ok, 0);
        dn_log_warn("batch step failed, handling the records one by one", "step", why, "detail", dn_pg_errstr(s->pg),
                    NULL);
    } else {
        atomic_store(&pg_ok, 1);
    }
    if (dn_log_enabled(DN_LOG_DEBUG)) {
        char records[24], batched[24];
        snprintf(records, sizeof(records), "%zu", n);
        snprintf(batched, sizeof(batched), "%zu", done);
        dn_log_debug("batch handled", "records", records, "batched", batched, "fallback_step", why, NULL);
    }
    batch_free(b, n);
    return done;
}

/* ---- the loop ---- */

static void relay(sender_t *s)
{
    for (int rounds = 0; rounds < 20; rounds++) {
        int n = dn_outbox_relay(s->pg, s->producer, 1000, 10000);
        if (n > 0)
            dn_metrics_add(M.relayed, NULL, n);
        if (n < 1000)
            break;
    }
    dn_kafka_producer_poll(s->producer);
}

static void run(sender_t *s)
{
    size_t max = (size_t)s->cfg.common.batch_max;
    rd_kafka_message_t **msgs = calloc(max, sizeof(*msgs));
    if (!msgs) {
        dn_log_error("out of memory", NULL);
        return;
    }
    int64_t next_refresh = 0;
    while (!dn_signal_stopping()) {
        size_t n = dn_kafka_consumer_poll_batch(s->consumer, msgs, max, (int)s->cfg.common.poll_ms);
        size_t done = 0, committed = 0;
        int64_t db_wait = 100;
        double started = mono_s();
        /* The batched path first; whatever it leaves (a database error, a transient SMTP
         * failure) goes on record by record from where it stopped. */
        int rc = R_DONE;
        size_t todo = n;
        if (n > 0) {
            done = batch(s, msgs, n, &rc);
            if (done > 0 && rc == R_DONE)
                s->pause_ms = 0;
            if (dn_signal_stopping() && rc == R_DONE)
                todo = done; /* finish the records in hand, not the batch */
        }
        while (done < todo) {
            if (rc == R_DONE) {
                s->result = "ok";
                rc = handle(s, msgs[done]);
                if (rc == R_RETRY && pg_unreachable(s->pg))
                    atomic_store(&pg_ok, 0);
                else if (rc == R_DONE)
                    atomic_store(&pg_ok, 1);
                dn_metrics_add(M.consumed,
                               DN_LABELS(rd_kafka_topic_name(msgs[done]->rkt), rc == R_DONE    ? s->result
                                                                               : rc == R_RETRY ? "db_error"
                                                                                               : "smtp_unavailable"),
                               1);
            }
            if (rc == R_DONE) {
                done++;
                s->pause_ms = 0;
                db_wait = 100;
                if (dn_signal_stopping())
                    break; /* finish the record in hand, not the batch */
                continue;
            }
            /* Hold this record. Save the progress before it, publish what is pending. */
            if (done > committed && dn_kafka_consumer_commit(s->consumer, msgs, done) == 0)
                committed = done;
            relay(s);
            if (dn_signal_stopping())
                break;
            if (rc == R_SMTP_DOWN) {
                char pause[24];
                snprintf(pause, sizeof(pause), "%" PRId64, s->pause_ms);
                dn_log_warn("smtp server failing, consumption paused", "pause_ms", pause, "hint",
                            "the same reminder is tried again after the pause", NULL);
                sleep_ms(s->pause_ms);
            } else {
                sleep_ms(db_wait);
                db_wait = db_wait * 2 > 5000 ? 5000 : db_wait * 2;
            }
            rc = R_DONE;
        }
        /* Offsets only now: every handled record's effects are committed in PostgreSQL. */
        if (done > committed)
            dn_kafka_consumer_commit(s->consumer, msgs, done);
        if (n > 0) {
            dn_metrics_observe(M.batch_seconds, DN_LABELS("records"), mono_s() - started);
            dn_metrics_observe(M.batch_size, DN_LABELS("records"), (double)n);
        }
        dn_kafka_messages_destroy(msgs, n);
        relay(s);
        refresh_gauges(s, &next_refresh);
    }
    free(msgs);
}

static int setup_mail(sender_t *s, char *errstr, size_t errstr_size)
{
    if (mail_parse_mailbox(s->cfg.smtp_from, s->from_name, sizeof(s->from_name), s->from_addr, sizeof(s->from_addr)) <
        0) {
        snprintf(errstr, errstr_size, "DUNNING_SMTP_FROM: not \"Name <address>\" or an address");
        return -1;
    }
    if (s->cfg.list_unsubscribe[0]) {
        if (strpbrk(s->cfg.list_unsubscribe, "\r\n") || strlen(s->cfg.list_unsubscribe) >= sizeof(s->unsubscribe)) {
            snprintf(errstr, errstr_size, "DUNNING_LIST_UNSUBSCRIBE: must be one line of at most 1000 characters");
            return -1;
        }
        snprintf(s->unsubscribe, sizeof(s->unsubscribe), "%s", s->cfg.list_unsubscribe);
    } else {
        snprintf(s->unsubscribe, sizeof(s->unsubscribe), "<mailto:%s?subject=unsubscribe>", s->from_addr);
    }
    if (s->cfg.template_dir[0])
        snprintf(s->template_dir, sizeof(s->template_dir), "%s", s->cfg.template_dir);
    else
        snprintf(s->template_dir, sizeof(s->template_dir), "%s/config/templates", s->cfg.common.home);
    return 0;
}

int main(int argc, char **argv)
{
    static sender_t sender;
    sender_t *s = &sender;
    dn_http_t *http = NULL;
    char errstr[1024];
    int status = 1;
    int check = argc == 2 && strcmp(argv[1], "--check-templates") == 0;
    if (argc == 2 && strcmp(argv[1], "--config-doc") == 0) {
        dn_config_print_doc(stdout, SERVICE, config_table, CONFIG_N);
        return 0;
    }
    if (argc > 1 && !check) {
        fprintf(stderr, "usage: sender-email [--config-doc | --check-templates]\n"
                        "Configured by DUNNING_* environment variables.\n");
        return 2;
    }
    dn_log_init(SERVICE, "info");
    if (dn_config_load(config_table, CONFIG_N, &s->cfg, errstr, sizeof(errstr)) < 0) {
        dn_log_error("invalid configuration", "detail", errstr, NULL);
        return 2;
    }
    if (dn_log_init(SERVICE, s->cfg.common.log_level) < 0) {
        dn_log_error("invalid configuration", "detail", "DUNNING_LOG_LEVEL: use debug, info, warn or error", NULL);
        status = 2;
        goto out;
    }
    if (!check && dn_http_addr_valid(s->cfg.http_addr, errstr, sizeof(errstr)) < 0) {
        char detail[1100];
        snprintf(detail, sizeof(detail), "DUNNING_HTTP_ADDR: %s", errstr);
        dn_log_error("invalid configuration", "detail", detail, NULL);
        status = 2;
        goto out;
    }
    if (setup_mail(s, errstr, sizeof(errstr)) < 0 ||
        !(s->smtp = smtp_new(s->cfg.smtp_url, s->cfg.smtp_tls, s->cfg.smtp_timeout_ms, errstr, sizeof(errstr)))) {
        dn_log_error("invalid configuration", "detail", errstr, NULL);
        status = 2;
        goto out;
    }
    if (dn_clock_init_from_cfg(&s->cfg.common) < 0) {
        dn_log_error("invalid configuration", "detail", "DUNNING_CLOCK_FILE: cannot read a clock line from it", NULL);
        status = 2;
        goto out;
    }
    if (check) {
        int problems = templates_check(s->template_dir, stdout);
        status = problems ? 1 : 0;
        goto out;
    }
    {
        /* Templates are checked before anything is consumed: a missing variable or file is an
         * error now, not a blank in a customer's message later. */
        char *report = NULL;
        size_t report_len = 0;
        FILE *mem = open_memstream(&report, &report_len);
        int problems = mem ? templates_check(s->template_dir, mem) : 1;
        if (mem)
            fclose(mem);
        if (problems) {
            dn_log_error("templates invalid", "detail", report ? report : "cannot check", "hint",
                         "fix them, or see the list with --check-templates", NULL);
            free(report);
            status = 2;
            goto out;
        }
        free(report);
    }
    dn_topics_init(s->cfg.common.topic_prefix);
    dn_signal_install();
    s->jitter = (unsigned int)(dn_clock_real_now_ms() ^ getpid());
    if (dn_avro_init(errstr, sizeof(errstr)) < 0) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        status = 2;
        goto out;
    }
    const char *topics[] = {dn_topic_name(DN_TOPIC_REMINDER_DUE_EMAIL)};
    if (!(s->pg = dn_pg_new(s->cfg.common.pg_dsn, errstr, sizeof(errstr))) ||
        !(s->producer = dn_kafka_producer_new(s->cfg.common.kafka_brokers, errstr, sizeof(errstr))) ||
        !(s->consumer =
              dn_kafka_consumer_new(s->cfg.common.kafka_brokers, s->cfg.group, topics, 1, errstr, sizeof(errstr)))) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        goto out;
    }
    register_metrics(s, topics[0]);
    const dn_http_check_t checks[] = {
        {"kafka", check_kafka, s->consumer}, {"postgres", check_postgres, NULL}, {"smtp", check_smtp, NULL}};
    if (!(http = dn_http_start(s->cfg.http_addr, s->cfg.http_addr_file, checks, 3, errstr, sizeof(errstr)))) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        goto out;
    }
    dn_log_info("started", "group", s->cfg.group, "topic", topics[0], "templates", s->template_dir, NULL);
    run(s);
    dn_log_info("stopping", NULL);
    status = 0;
out:
    /* Shutdown order: the record in hand was finished and its offset committed by run();
     * leave the group, publish what the outbox holds, flush the producer within the bound.
     * The HTTP endpoint goes first: its checks and the lag gauge read the consumer. */
    dn_http_destroy(http);
    dn_kafka_consumer_destroy(s->consumer);
    if (status == 0 && s->producer && s->pg)
        relay(s);
    dn_kafka_producer_destroy(s->producer, (int)s->cfg.common.shutdown_ms);
    smtp_destroy(s->smtp);
    dn_pg_destroy(s->pg);
    dn_metrics_reset();
    dn_config_free(config_table, CONFIG_N, &s->cfg);
    if (status == 0 && !check)
        dn_log_info("stopped", NULL);
    return status;
}
