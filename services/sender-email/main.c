/* sender-email: delivers ReminderDue records of reminder-due.email over SMTP and
 * publishes a ReminderOutcome for each through the outbox.
 *
 * One thread, one loop: poll a batch; handle each record to its end; commit the
 * Kafka offsets of the handled records (always after the database commits of what
 * they caused); relay the outbox. Per record (handle()):
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
 * only narrowed (it is a few milliseconds long) and made recognisable.
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
#include <time.h>
#include <unistd.h>

#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_config.h"
#include "dn_http.h"
#include "dn_kafka.h"
#include "dn_log.h"
#include "dn_metrics.h"
#include "dn_outbox.h"
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
    int smtp_fresh;      /* the last send failed: open a new connection for the next */
    int64_t pause_ms;    /* real ms to wait before the next round on the held record */
    unsigned int jitter; /* rand_r state */
    const char *result;  /* metrics: how the record in hand ended (ok, duplicate, dead_letter) */
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

static int dead_letter(sender_t *s, job_t *j, const char *code, const char *reason, int32_t schema_id)
{
    const rd_kafka_message_t *m = j->m;
    const char *topic = rd_kafka_topic_name(m->rkt);
    char partition[16], offset[24], event_id[DN_UUID_STR_LEN];
    snprintf(partition, sizeof(partition), "%d", (int)m->partition);
    snprintf(offset, sizeof(offset), "%" PRId64, m->offset);
    const char *parts[] = {"dead-letter", topic, partition, offset};
    dn_uuid_derive(event_id, parts, 4);
    char *key = m->key ? strndup(m->key, m->key_len) : NULL;
    dn_dead_letter_t dl = {.event_id = event_id,
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
    char *buf = NULL;
    size_t len = 0;
    int rc = R_DONE;
    s->result = "dead_letter";
    if (dn_dead_letter_encode(&dl, &buf, &len) != 0) {
        dn_log_error("dead letter does not encode", "topic", topic, "offset", offset, NULL);
    } else if (dn_pg_begin(s->pg) < 0 ||
               dn_outbox_add(s->pg, event_id, dn_topic_name(DN_TOPIC_DEAD_LETTER), key ? key : "", buf, len) < 0 ||
               dn_pg_commit(s->pg) < 0) {
        dn_pg_rollback(s->pg);
        dn_log_warn("dead letter not written", "topic", topic, "offset", offset, "detail", dn_pg_errstr(s->pg), NULL);
        rc = R_RETRY;
    } else {
        dn_metrics_add(M.dead_letters, DN_LABELS(topic, code), 1);
        dn_log_warn("record dead-lettered", "topic", topic, "partition", partition, "offset", offset, "error_code",
                    code, "reason", reason, "event_id", j->decoded ? j->rd.event_id : NULL, "tenant_id",
                    j->decoded ? j->rd.tenant_id : NULL, NULL);
    }
    free(buf);
    free(key);
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
    int send = 0;
    const char *state = PQntuples(r) ? PQgetvalue(r, 0, 0) : "";
    if (PQntuples(r) == 0)
        snprintf(reason, reason_size, "case not found");
    else if (strcmp(state, "resolved") == 0)
        snprintf(reason, reason_size, "case resolved (paid, credited or cancelled)");
    else if (strcmp(state, "written_off") == 0 || strcmp(state, "paused") == 0)
        snprintf(reason, reason_size, "case %s", state);
    else if (strcmp(state, "handed_over") == 0 && j->rd.stage < atoi(PQgetvalue(r, 0, 1)))
        snprintf(reason, reason_size, "case handed over to collections");
    else
        send = 1;
    PQclear(r);
    return send;
}

/* Final status + ReminderOutcome in one transaction. 0/-1 (rolled back). */
static int finish_once(sender_t *s, const job_t *j, dn_outcome_t outcome, const char *reason, int attempt,
                       int64_t next_attempt_at)
{
    const dn_reminder_due_t *rd = &j->rd;
    const char *status = status_names[outcome];
    char attempt_txt[16], event_id[DN_UUID_STR_LEN], now_txt[24];
    int64_t now = dn_clock_now_ms();
    snprintf(attempt_txt, sizeof(attempt_txt), "%d", attempt);
    time_param(now_txt, sizeof(now_txt), now);
    const char *parts[] = {"outcome", rd->event_id, status, attempt_txt};
    dn_uuid_derive(event_id, parts, 4);
    const char *provider_id = j->mail && outcome != DN_OUTCOME_SUPPRESSED ? j->message_id : NULL;
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
                               .provider_message_id = (char *)provider_id};
    char *buf = NULL;
    size_t len = 0;
    if (dn_reminder_outcome_encode(&o, &buf, &len) != 0) {
        dn_log_error("outcome does not encode", "event_id", rd->event_id, NULL);
        return -1;
    }
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
    static const char *const msgs[] = {
        [DN_OUTCOME_DELIVERED] = "reminder delivered",
        [DN_OUTCOME_SUPPRESSED] = "reminder suppressed",
        [DN_OUTCOME_FAILED_TRANSIENT] = "reminder delivery failed, will retry",
        [DN_OUTCOME_FAILED_PERMANENT] = "reminder delivery failed permanently",
    };
    dn_metrics_add(M.deliveries, DN_LABELS(status_names[outcome]), 1);
    log_event(outcome == DN_OUTCOME_FAILED_PERMANENT ? DN_LOG_WARN : DN_LOG_INFO, msgs[outcome], j, attempt, reason);
    return R_DONE;
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

static int deliver(sender_t *s, job_t *j)
{
    const dn_reminder_due_t *rd = &j->rd;
    for (int try = 0;; try++) {
        char prev[32], reason[512];
        int attempt = claim(s, j, prev, sizeof(prev));
        if (attempt < 0)
            return db_trouble(s, j, "claim");
        if (attempt == 0) {
            s->result = "duplicate";
            log_event(DN_LOG_INFO, "reminder already handled, skipped", j, 0, prev);
            return R_DONE;
        }
        if (try == 0 && strcmp(prev, "attempting") == 0)
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

        long code = 0;
        char err[512];
        double started = mono_s();
        smtp_result_t sr = smtp_send(s->smtp, s->from_addr, rd->contact.email, j->mail, j->mail_len, s->smtp_fresh,
                                     &code, err, sizeof(err));
        static const char *const smtp_results[] = {
            [SMTP_OK] = "ok", [SMTP_TRANSIENT] = "transient", [SMTP_PERMANENT] = "permanent"};
        dn_metrics_observe(M.smtp_seconds, DN_LABELS(smtp_results[sr]), mono_s() - started);
        atomic_store(&smtp_ok, sr != SMTP_TRANSIENT || code != 0);
        s->smtp_fresh = sr != SMTP_OK;
        if (sr == SMTP_OK)
            return finish(s, j, DN_OUTCOME_DELIVERED, NULL, attempt, 0);
        snprintf(reason, sizeof(reason), "smtp %ld: %.400s", code, err);
        if (sr == SMTP_PERMANENT)
            return finish(s, j, DN_OUTCOME_FAILED_PERMANENT, reason, attempt, 0);
        if (try < s->cfg.smtp_retries && !dn_signal_stopping()) {
            int64_t delay = retry_delay(s, try);
            char delay_txt[24];
            snprintf(delay_txt, sizeof(delay_txt), "%" PRId64, delay);
            dn_log_warn("smtp transient failure, retrying", "event_id", rd->event_id, "tenant_id", rd->tenant_id,
                        "invoice_id", rd->invoice_id, "case_id", rd->case_id, "reason", reason, "retry_in_ms",
                        delay_txt, NULL);
            sleep_ms(delay);
            continue;
        }
        /* Budget spent: record it and pause consumption (see the top of this file). */
        int64_t first = s->cfg.smtp_backoff_ms << (s->cfg.smtp_retries + 1 < 16 ? s->cfg.smtp_retries + 1 : 16);
        s->pause_ms = s->pause_ms ? s->pause_ms * 2 : first;
        if (s->pause_ms > s->cfg.smtp_pause_max_ms)
            s->pause_ms = s->cfg.smtp_pause_max_ms;
        int64_t next = dn_clock_now_ms() + s->pause_ms * dn_clock_speed();
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
        while (done < n) {
            s->result = "ok";
            int rc = handle(s, msgs[done]);
            if (rc == R_RETRY && pg_unreachable(s->pg))
                atomic_store(&pg_ok, 0);
            else if (rc == R_DONE)
                atomic_store(&pg_ok, 1);
            dn_metrics_add(M.consumed,
                           DN_LABELS(rd_kafka_topic_name(msgs[done]->rkt), rc == R_DONE    ? s->result
                                                                           : rc == R_RETRY ? "db_error"
                                                                                           : "smtp_unavailable"),
                           1);
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
