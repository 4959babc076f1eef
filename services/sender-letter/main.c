/* sender-letter: turns ReminderDue records of reminder-due.letter into print-ready PDF letters
 * in a spool folder (the hand-off to a print-and-mail house) and publishes a ReminderOutcome
 * for each through the outbox. The sibling of sender-email, with the same loop and guarantees.
 *
 * One thread, one loop: poll a batch; handle each record to its end; commit the Kafka offsets
 * of the handled records (always after the database commits of what they caused); relay the
 * outbox. Per record (handle()):
 *
 *   1. decode; a record that does not decode (or breaks the contract) becomes a DeadLetter in
 *      the outbox, its id derived from topic/partition/offset;
 *   2. take a session advisory lock on the reminder's event id, so two instances (during a
 *      rebalance) never work on the same reminder at once;
 *   3. claim: in table deliveries, a reminder whose row is delivered, suppressed or
 *      failed_permanent is done, skip it (nothing is rendered); else upsert the row as
 *      'attempting' with attempts + 1 and COMMIT: the attempt is on record BEFORE the letter
 *      is written;
 *   4. last-mile check: the case must exist and still be dunning (sender-email's rules,
 *      last_mile below); else the outcome is 'suppressed';
 *   5. render the template and the PDF; write it atomically to the spool folder as
 *      letter-<event_id>.pdf and append its manifest line;
 *   6. one transaction: the row's final status + the ReminderOutcome in the outbox.
 *
 * Crash window: a crash after step 5 but before step 6 committed leaves the row 'attempting'
 * and the offset uncommitted. The record comes back, finds 'attempting', and the letter is
 * written again under the same file name (replacing the file, not adding a second letter);
 * the manifest gets its line only if it does not have one for the event yet. If the print
 * house took the file in between, it sees the same file name and event id again and must
 * drop the copy (docs/letters.md). The service logs that it wrote the letter again.
 *
 * Spool trouble (disk full, folder gone, no permission) is transient: retried in process with
 * exponential backoff and jitter, DUNNING_LETTER_RETRIES times; then 'failed_transient' is
 * recorded and consumption pauses (doubling up to DUNNING_LETTER_PAUSE_MAX), holding the
 * record, as sender-email does when its SMTP server is down.
 *
 * Operations endpoint (dn_http, its own thread), as sender-email's: /healthz, /readyz (kafka,
 * postgres, spool) and /metrics. Readiness of spool: the last spool write succeeded (a flag
 * the loop sets after each attempt; disk full fails it until the next write works) and the
 * folder is still there and writable (one access() per /readyz). No probe writes: an idle
 * sender stays ready. */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
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
#include "pdf.h"
#include "spool.h"
#include "texts.h"

#define SERVICE   "sender-letter"
#define MAX_LINES 8

typedef struct letter_cfg {
    dn_common_cfg_t common;
    char *group;
    char *spool_dir;
    char *from_name;
    char *from_address;
    char *from_country;
    char *payment_details;
    char *font;
    int64_t retries;
    int64_t backoff_ms;
    int64_t pause_max_ms;
    char *template_dir;
    char *http_addr;
    char *http_addr_file;
    int64_t metrics_ms;
} letter_cfg_t;

static const dn_cfg_entry_t config_table[] = {
    DN_CFG_COMMON(letter_cfg_t),
    DN_CFG("DUNNING_LETTER_GROUP", DN_CFG_STRING, "sender-letter", 0, 0, "Kafka consumer group of the letter senders.",
           letter_cfg_t, group),
    DN_CFG("DUNNING_LETTER_SPOOL_DIR", DN_CFG_STRING, "", 0, 0,
           "Spool folder the print-and-mail house collects from: letter-<event_id>.pdf and manifest.jsonl "
           "(default: $DUNNING_HOME/.run/spool; created if missing).",
           letter_cfg_t, spool_dir),
    DN_CFG("DUNNING_LETTER_FROM_NAME", DN_CFG_STRING, "Accounts Receivable", 0, 0,
           "Sender name on the letterhead and the return line.", letter_cfg_t, from_name),
    DN_CFG("DUNNING_LETTER_FROM_ADDRESS", DN_CFG_STRING, "Example Street 1; 12345 Example City", 0, 0,
           "Sender's postal address, lines separated by semicolons (at most 8): letterhead and return line.",
           letter_cfg_t, from_address),
    DN_CFG("DUNNING_LETTER_FROM_COUNTRY", DN_CFG_STRING, "DE", 0, 0,
           "Sender's country (ISO 3166-1 alpha-2); recipients elsewhere get a country line.", letter_cfg_t,
           from_country),
    DN_CFG("DUNNING_LETTER_PAYMENT_DETAILS", DN_CFG_STRING, "", 0, 0,
           "Lines printed under \"Payment details\", separated by semicolons (e.g. IBAN; BIC).", letter_cfg_t,
           payment_details),
    DN_CFG("DUNNING_LETTER_FONT", DN_CFG_STRING, "DejaVu Sans", 0, 0,
           "Font family (fontconfig name); it must cover every script the letters use.", letter_cfg_t, font),
    DN_CFG("DUNNING_LETTER_RETRIES", DN_CFG_INT, "3", 0, 20,
           "In-process retries of a failed spool write (disk full, no folder) before recording failed_transient.",
           letter_cfg_t, retries),
    DN_CFG("DUNNING_LETTER_BACKOFF", DN_CFG_DURATION, "1s", 10, 600000,
           "First retry delay; doubles per retry, with jitter.", letter_cfg_t, backoff_ms),
    DN_CFG("DUNNING_LETTER_PAUSE_MAX", DN_CFG_DURATION, "5m", 1000, 86400000,
           "Longest pause between rounds while the spool keeps failing (consumption is paused meanwhile).",
           letter_cfg_t, pause_max_ms),
    DN_CFG("DUNNING_TEMPLATE_DIR", DN_CFG_STRING, "", 0, 0,
           "Template folder (default: $DUNNING_HOME/config/templates); <tenant_id>/ first, then default/.",
           letter_cfg_t, template_dir),
    DN_CFG("DUNNING_HTTP_ADDR", DN_CFG_STRING, "127.0.0.1:9466", 0, 0,
           "host:port of the HTTP endpoint (/healthz, /readyz, /metrics); port 0 picks a free port, an empty value "
           "turns it off.",
           letter_cfg_t, http_addr),
    DN_CFG("DUNNING_HTTP_ADDR_FILE", DN_CFG_STRING, "", 0, 0,
           "File the bound host:port of the HTTP endpoint is written to at start (useful with port 0).", letter_cfg_t,
           http_addr_file),
    DN_CFG("DUNNING_METRICS_INTERVAL", DN_CFG_DURATION, "5s", 100, 3600000,
           "How often the loop refreshes the gauges it reads from PostgreSQL (outbox rows) and the postgres "
           "readiness.",
           letter_cfg_t, metrics_ms),
};
#define CONFIG_N (sizeof(config_table) / sizeof(config_table[0]))

typedef struct sender {
    letter_cfg_t cfg;
    char template_dir[4096];
    char spool_dir[4096];
    char *from_lines[MAX_LINES];
    size_t from_n;
    char *payment_lines[MAX_LINES];
    size_t payment_n;
    dn_pg_t *pg;
    dn_kafka_consumer_t *consumer;
    dn_kafka_producer_t *producer;
    int64_t pause_ms;    /* real ms to wait before the next round on the held record */
    unsigned int jitter; /* rand_r state */
    const char *result;  /* metrics: how the record in hand ended (ok, duplicate, dead_letter) */
} sender_t;

/* What handle() tells the loop. */
enum {
    R_DONE = 0,   /* finished (or dead-lettered): its offset may be committed */
    R_RETRY,      /* database trouble: nothing final happened, try the same record again */
    R_SPOOL_DOWN, /* failed_transient recorded: pause, then try the same record again */
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
    char file[96]; /* letter-<event_id>.pdf */
    char *address; /* the window lines (contact data: never logged) */
    int has_pre;   /* decided without rendering */
    dn_outcome_t pre;
    char pre_reason[512];
    char template_source[512];
    char *pdf; /* rendered once, after the claim and the last-mile check */
    size_t pdf_len;
    int pages;
} job_t;

/* ---- metrics and readiness ---- */

static struct {
    dn_metric_t *consumed, *dead_letters, *deliveries, *render_seconds, *batch_seconds, *batch_size, *relayed,
        *outbox_pending;
} M;

/* Kept by the loop, read by /readyz. */
static atomic_int pg_ok = 1, spool_ok = 1;

static const char *const results[] = {"ok", "duplicate", "dead_letter", "db_error", "spool_unavailable"};

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
                                    "and spool_unavailable: held and tried again).",
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
    M.render_seconds = dn_metrics_histogram("dunning_letter_render_duration_seconds",
                                            "Time to render one letter (template and PDF layout), by result (ok, "
                                            "transient, permanent).",
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

/* arg: the spool folder (fixed before the server starts). One access(), no I/O on the folder. */
static int check_spool(void *arg, char *why, size_t why_size)
{
    const char *dir = arg;
    if (access(dir, W_OK | X_OK) < 0) {
        int e = errno;
        snprintf(why, why_size, "the spool folder %s", e == ENOENT ? "is missing" : "is not writable");
        return 0;
    }
    if (atomic_load(&spool_ok))
        return 1;
    snprintf(why, why_size, "the last letter could not be written to the spool folder (disk full, no permission)");
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

/* ---- preparing the letter ---- */

static int opted_out(const dn_reminder_due_t *rd)
{
    for (size_t i = 0; i < rd->contact.opted_out_channels_n; i++) {
        if (strcmp(rd->contact.opted_out_channels[i], "letter") == 0)
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

/* Decides what needs no rendering: opted out, no (usable) postal address. Cheap; nothing is
 * rendered before the claim, so a redelivered reminder costs no PDF. */
static void prepare(sender_t *s, job_t *j)
{
    const dn_reminder_due_t *rd = &j->rd;
    snprintf(j->file, sizeof(j->file), "letter-%s.pdf", rd->event_id);
    if (opted_out(rd)) {
        decide(j, DN_OUTCOME_SUPPRESSED, "customer opted out of letter");
        return;
    }
    const char *why = NULL;
    j->address = address_block(rd->contact.name, rd->contact.address, s->cfg.from_country, &why);
    if (!j->address)
        decide(j, DN_OUTCOME_FAILED_PERMANENT, why);
}

/* Renders the template and the PDF into j->pdf. 0; 1 = permanent (decided: template error,
 * the address does not fit the window); -1 = transient, reason set. */
static int render(sender_t *s, job_t *j, char *reason, size_t reason_size)
{
    const dn_reminder_due_t *rd = &j->rd;
    letter_text_t text;
    char err[1024];
    int64_t now = dn_clock_now_ms();
    if (texts_render(s->template_dir, rd, now, s->cfg.from_name, &text, err, sizeof(err)) < 0) {
        char why[1100];
        snprintf(why, sizeof(why), "template error: %s", err);
        dn_log_error("template failed", "event_id", rd->event_id, "tenant_id", rd->tenant_id, "invoice_id",
                     rd->invoice_id, "case_id", rd->case_id, "template_key", rd->template_key, "detail", err, "hint",
                     "check the templates with: sender-letter --check-templates", NULL);
        decide(j, DN_OUTCOME_FAILED_PERMANENT, why);
        return 1;
    }
    copy(j->template_source, sizeof(j->template_source), text.source);
    letter_t l = {.rd = rd,
                  .text = &text,
                  .address = j->address,
                  .from_name = s->cfg.from_name,
                  .from_lines = (const char *const *)s->from_lines,
                  .from_n = s->from_n,
                  .payment_lines = (const char *const *)s->payment_lines,
                  .payment_n = s->payment_n,
                  .font = s->cfg.font,
                  .now_ms = now};
    int permanent = 0;
    j->pdf = pdf_render(&l, &j->pdf_len, &j->pages, &permanent, err, sizeof(err));
    texts_free(&text);
    if (j->pdf)
        return 0;
    if (permanent) {
        decide(j, DN_OUTCOME_FAILED_PERMANENT, err);
        return 1;
    }
    snprintf(reason, reason_size, "render: %s", err);
    return -1;
}

/* The manifest line: what the print house needs, no contact data but the country. */
static char *manifest_line(const job_t *j)
{
    const dn_reminder_due_t *rd = &j->rd;
    char created[40], country[3] = {0};
    dn_time_format(dn_clock_now_ms(), created, sizeof(created));
    if (rd->contact.address) {
        for (int i = 0; i < 2 && rd->contact.address->country[i]; i++)
            country[i] = (char)(rd->contact.address->country[i] & ~0x20);
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s, s:s}", "event_id", rd->event_id,
                          "tenant_id", rd->tenant_id, "invoice_id", rd->invoice_id, "invoice_number",
                          rd->invoice_number ? rd->invoice_number : rd->invoice_id, "case_id", rd->case_id,
                          "stage_name", rd->stage_name, "stage", (int)rd->stage, "template", j->template_source, "file",
                          j->file, "pages", j->pages, "country", country, "created_at", created);
    if (!o)
        return NULL;
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return line;
}

/* Writes the PDF and its manifest line. 0, or -1 with reason (transient). */
static int spool(sender_t *s, const job_t *j, int recovering, char *reason, size_t reason_size)
{
    char err[600];
    int existed = 0;
    if (spool_write(s->spool_dir, j->file, j->pdf, j->pdf_len, &existed, err, sizeof(err)) < 0) {
        snprintf(reason, reason_size, "spool: %s", err);
        return -1;
    }
    if (existed || recovering) {
        int has = spool_manifest_has(s->spool_dir, j->rd.event_id, err, sizeof(err));
        if (has < 0) {
            snprintf(reason, reason_size, "spool: %s", err);
            return -1;
        }
        if (has)
            return 0; /* written before the crash; the file was replaced by the same letter */
    }
    char *line = manifest_line(j);
    if (!line) {
        snprintf(reason, reason_size, "spool: out of memory");
        return -1;
    }
    int rc = spool_manifest_append(s->spool_dir, line, err, sizeof(err));
    free(line);
    if (rc < 0)
        snprintf(reason, reason_size, "spool: %s", err);
    return rc;
}

/* ---- database steps (sender-email's, channel letter) ---- */

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
        rd->event_id, rd->tenant_id, rd->invoice_id, rd->case_id, stage, now, j->has_pre ? NULL : j->file};
    r = dn_pg_query(s->pg,
                    "INSERT INTO deliveries (event_id, channel, tenant_id, invoice_id, case_id, stage, status, "
                    "attempts, provider_message_id, created_at, updated_at) "
                    "VALUES ($1, 'letter', $2, $3, $4, $5, 'attempting', 1, $7, to_timestamp($6::float8 / 1000), "
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

/* The last-mile check, exactly sender-email's. 1 = send, 0 = suppress (reason set), -1 =
 * database error. A reminder goes out only while its case still dunns: not once it is
 * resolved (paid, credited, cancelled), written off or paused. A handed-over case still gets
 * the handover stage's own notice, but nothing from an earlier stage. */
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
    /* The file name, when there is (or was meant to be) a file. */
    const char *provider_id =
        outcome == DN_OUTCOME_DELIVERED || outcome == DN_OUTCOME_FAILED_TRANSIENT ? j->file : NULL;
    dn_reminder_outcome_t o = {.event_id = event_id,
                               .occurred_at = now,
                               .tenant_id = rd->tenant_id,
                               .customer_id = rd->customer_id,
                               .reminder_event_id = rd->event_id,
                               .case_id = rd->case_id,
                               .invoice_id = rd->invoice_id,
                               .channel = DN_CHANNEL_LETTER,
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
    char attempt_txt[16], late[24], pages[16];
    snprintf(attempt_txt, sizeof(attempt_txt), "%d", attempt);
    snprintf(late, sizeof(late), "%" PRId64, dn_clock_now_ms() - j->rd.due_at);
    snprintf(pages, sizeof(pages), "%d", j->pages);
    dn_log(level, msg, "event_id", j->rd.event_id, "tenant_id", j->rd.tenant_id, "invoice_id", j->rd.invoice_id,
           "case_id", j->rd.case_id, "stage_name", j->rd.stage_name, "attempt", attempt > 0 ? attempt_txt : NULL,
           "reason", reason, "template", j->template_source[0] ? j->template_source : NULL, "file",
           j->pdf ? j->file : NULL, "pages", j->pdf ? pages : NULL, "late_ms", late, NULL);
}

/* Records the outcome. Once a letter may have been written, this must not give up quietly:
 * it retries until it commits or the service is stopping. Returns R_DONE, or R_RETRY if it
 * could not commit (the row stays 'attempting'; see the crash window). */
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
        [DN_OUTCOME_DELIVERED] = "letter spooled",
        [DN_OUTCOME_SUPPRESSED] = "reminder suppressed",
        [DN_OUTCOME_FAILED_TRANSIENT] = "letter not spooled, will retry",
        [DN_OUTCOME_FAILED_PERMANENT] = "letter failed permanently",
    };
    dn_metrics_add(M.deliveries, DN_LABELS(status_names[outcome]), 1);
    log_event(outcome == DN_OUTCOME_FAILED_PERMANENT ? DN_LOG_WARN : DN_LOG_INFO, msgs[outcome], j, attempt, reason);
    return R_DONE;
}

/* ---- one record ---- */

static int64_t retry_delay(sender_t *s, int try)
{
    int64_t base = s->cfg.backoff_ms << (try < 16 ? try : 16);
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
    int recovering = 0;
    for (int try = 0;; try++) {
        char prev[32], reason[1200];
        int attempt = claim(s, j, prev, sizeof(prev));
        if (attempt < 0)
            return db_trouble(s, j, "claim");
        if (attempt == 0) {
            s->result = "duplicate";
            log_event(DN_LOG_INFO, "reminder already handled, skipped", j, 0, prev);
            return R_DONE;
        }
        if (try == 0 && strcmp(prev, "attempting") == 0) {
            recovering = 1;
            log_event(DN_LOG_WARN,
                      j->has_pre ? "previous attempt did not finish"
                                 : "previous attempt did not finish; writing the letter again under the same file name",
                      j, attempt, j->has_pre ? NULL : j->file);
        }
        int send = last_mile(s, j, reason, sizeof(reason));
        if (send < 0)
            return db_trouble(s, j, "last-mile check");
        if (send == 0)
            return finish(s, j, DN_OUTCOME_SUPPRESSED, reason, attempt, 0);
        int rc = 0;
        if (!j->has_pre && !j->pdf) {
            static const char *const render_results[] = {"transient", "ok", "permanent"};
            double started = mono_s();
            rc = render(s, j, reason, sizeof(reason));
            dn_metrics_observe(M.render_seconds, DN_LABELS(render_results[rc + 1]), mono_s() - started);
        }
        if (j->has_pre)
            return finish(s, j, j->pre, j->pre_reason, attempt, 0);
        if (rc == 0) {
            rc = spool(s, j, recovering || try > 0, reason, sizeof(reason));
            atomic_store(&spool_ok, rc == 0);
            if (rc == 0)
                return finish(s, j, DN_OUTCOME_DELIVERED, NULL, attempt, 0);
        }
        /* Transient: the spool folder (or memory) failed. */
        if (try < s->cfg.retries && !dn_signal_stopping()) {
            int64_t delay = retry_delay(s, try);
            char delay_txt[24];
            snprintf(delay_txt, sizeof(delay_txt), "%" PRId64, delay);
            dn_log_warn("letter not spooled, retrying", "event_id", rd->event_id, "tenant_id", rd->tenant_id,
                        "invoice_id", rd->invoice_id, "case_id", rd->case_id, "reason", reason, "retry_in_ms",
                        delay_txt, NULL);
            sleep_ms(delay);
            continue;
        }
        /* Budget spent: record it and pause consumption (see the top of this file). */
        int64_t first = s->cfg.backoff_ms << (s->cfg.retries + 1 < 16 ? s->cfg.retries + 1 : 16);
        s->pause_ms = s->pause_ms ? s->pause_ms * 2 : first;
        if (s->pause_ms > s->cfg.pause_max_ms)
            s->pause_ms = s->cfg.pause_max_ms;
        int64_t next = dn_clock_now_ms() + s->pause_ms * dn_clock_speed();
        rc = finish(s, j, DN_OUTCOME_FAILED_TRANSIENT, reason, attempt, next);
        return rc == R_DONE ? R_SPOOL_DOWN : rc;
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

/* The name of a field that goes into the manifest (JSON) or the outcome and is not UTF-8, as
 * every Avro string must be; NULL if they all are. */
static const char *not_utf8(const dn_reminder_due_t *rd)
{
    const char *names[] = {"tenant_id", "customer_id", "invoice_id", "invoice_number", "stage_name"};
    const char *values[] = {rd->tenant_id, rd->customer_id, rd->invoice_id, rd->invoice_number, rd->stage_name};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (values[i] && !g_utf8_validate(values[i], -1, NULL))
            return names[i];
    }
    return NULL;
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
    const char *bad = not_utf8(&j.rd);
    char reason[128];
    if (j.rd.channel != DN_CHANNEL_LETTER) {
        rc = dead_letter(s, &j, "invalid_field", "field channel: not letter on the letter topic", -1);
    } else if (!dn_uuid_valid(j.rd.case_id)) {
        rc = dead_letter(s, &j, "invalid_field", "field case_id: not a UUID", -1);
    } else if (!dn_uuid_valid(j.rd.event_id)) {
        rc = dead_letter(s, &j, "invalid_field", "field event_id: not a UUID", -1); /* it names the file */
    } else if (bad) {
        snprintf(reason, sizeof(reason), "field %s: not valid UTF-8", bad);
        rc = dead_letter(s, &j, "invalid_field", reason, -1);
    } else if (dn_topic_key(j.rd.tenant_id, j.rd.customer_id, j.key, sizeof(j.key)) < 0) {
        rc = dead_letter(s, &j, "invalid_field", "tenant_id/customer_id: too long for a record key", -1);
    } else if (lock_reminder(s, j.rd.event_id, 1) < 0) {
        rc = db_trouble(s, &j, "lock");
    } else {
        prepare(s, &j);
        rc = deliver(s, &j);
        lock_reminder(s, j.rd.event_id, 0); /* a lost connection released it already */
    }
    free(j.pdf);
    free(j.address);
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
                                                                                           : "spool_unavailable"),
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
            if (rc == R_SPOOL_DOWN) {
                char pause[24];
                snprintf(pause, sizeof(pause), "%" PRId64, s->pause_ms);
                dn_log_warn("spool failing, consumption paused", "pause_ms", pause, "hint",
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

/* ---- set-up ---- */

/* "a ; b;c" -> {"a", "b", "c"} (also split at newlines; empty lines dropped). 0, or -1 with errstr. */
static int split_lines(const char *var, const char *value, char **out, size_t *n, char *errstr, size_t errstr_size)
{
    *n = 0;
    for (const char *p = value; *p;) {
        size_t len = strcspn(p, ";\n");
        const char *b = p, *e = p + len;
        while (b < e && (*b == ' ' || *b == '\t' || *b == '\r'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (e > b) {
            if (*n == MAX_LINES) {
                snprintf(errstr, errstr_size, "%s: more than %d lines", var, MAX_LINES);
                return -1;
            }
            if (!g_utf8_validate(b, e - b, NULL)) {
                snprintf(errstr, errstr_size, "%s: not valid UTF-8", var);
                return -1;
            }
            for (const char *c = b; c < e; c++) {
                if ((unsigned char)*c < 0x20 && *c != '\t') {
                    snprintf(errstr, errstr_size, "%s: contains a control character", var);
                    return -1;
                }
            }
            if (!(out[(*n)++] = strndup(b, (size_t)(e - b)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
            }
        }
        p += len + (p[len] != '\0');
    }
    return 0;
}

static int setup(sender_t *s, char *errstr, size_t errstr_size)
{
    if (!s->cfg.from_name[0] || strpbrk(s->cfg.from_name, "\r\n") || !g_utf8_validate(s->cfg.from_name, -1, NULL)) {
        snprintf(errstr, errstr_size, "DUNNING_LETTER_FROM_NAME: must be one non-empty line of UTF-8");
        return -1;
    }
    if (split_lines("DUNNING_LETTER_FROM_ADDRESS", s->cfg.from_address, s->from_lines, &s->from_n, errstr,
                    errstr_size) < 0 ||
        split_lines("DUNNING_LETTER_PAYMENT_DETAILS", s->cfg.payment_details, s->payment_lines, &s->payment_n, errstr,
                    errstr_size) < 0)
        return -1;
    if (!address_country_name(s->cfg.from_country)) {
        snprintf(errstr, errstr_size, "DUNNING_LETTER_FROM_COUNTRY: not an ISO 3166-1 alpha-2 code");
        return -1;
    }
    if (!s->cfg.font[0]) {
        snprintf(errstr, errstr_size, "DUNNING_LETTER_FONT: must not be empty");
        return -1;
    }
    if (s->cfg.template_dir[0])
        snprintf(s->template_dir, sizeof(s->template_dir), "%s", s->cfg.template_dir);
    else
        snprintf(s->template_dir, sizeof(s->template_dir), "%s/config/templates", s->cfg.common.home);
    if (s->cfg.spool_dir[0])
        snprintf(s->spool_dir, sizeof(s->spool_dir), "%s", s->cfg.spool_dir);
    else
        snprintf(s->spool_dir, sizeof(s->spool_dir), "%s/.run/spool", s->cfg.common.home);
    return 0;
}

/* ---- --check-templates ---- */

static void sample(dn_reminder_due_t *rd, dn_postal_address_t *addr, int full, const char *tenant, const char *key,
                   const char *locale)
{
    memset(rd, 0, sizeof(*rd));
    memset(addr, 0, sizeof(*addr));
    rd->event_id = "00000000-0000-5000-8000-000000000000";
    rd->tenant_id = (char *)tenant;
    rd->customer_id = "C-1";
    rd->case_id = "00000000-0000-5000-8000-000000000001";
    rd->invoice_id = "INV-1";
    rd->invoice_number = full ? "2026-0001" : NULL;
    rd->channel = DN_CHANNEL_LETTER;
    rd->stage = 4;
    rd->stage_name = (char *)key;
    rd->template_key = (char *)key;
    rd->policy = "standard";
    rd->issue_date = 20750;
    rd->due_date = 20764;
    rd->days_overdue = 28;
    rd->amount_minor = 123456;
    rd->outstanding_minor = full ? 100000 : 123456;
    rd->fee_minor = full ? 1500 : 0;
    rd->interest_minor = full ? 321 : 0;
    rd->total_due_minor = rd->outstanding_minor + rd->fee_minor + rd->interest_minor;
    rd->currency = "EUR";
    rd->action = full ? "final_notice" : NULL;
    rd->payment_link = full ? "https://pay.example.com/i/INV-1" : NULL;
    rd->contact.name = "Muster & Söhne GmbH, z. Hd. Frau Łucja Müller-Lüdenscheidt";
    rd->contact.locale = (char *)locale;
    rd->contact.time_zone = "Europe/Berlin";
    addr->line1 = "Große Straße 123";
    addr->line2 = full ? "Hinterhaus, 3. OG" : NULL;
    addr->postal_code = "50667";
    addr->city = "Köln";
    addr->country = full ? "AT" : "DE";
    rd->contact.address = addr;
}

static int check_set(const char *dir, const char *folder, const char *key, const char *locale, void *arg, FILE *out)
{
    sender_t *s = arg;
    int problems = 0;
    for (int full = 1; full >= 0; full--) {
        dn_reminder_due_t rd;
        dn_postal_address_t addr;
        letter_text_t text;
        char err[1200];
        sample(&rd, &addr, full, folder, key, locale);
        if (texts_render_file(dir, folder, &rd, locale, dn_clock_now_ms(), s->cfg.from_name, &text, err, sizeof(err)) <
            0) {
            fprintf(out, "%s (%s sample)\n", err, full ? "full" : "minimal");
            problems++;
            continue;
        }
        const char *why = NULL;
        char *address = address_block(rd.contact.name, rd.contact.address, s->cfg.from_country, &why);
        letter_t l = {.rd = &rd,
                      .text = &text,
                      .address = address ? address : "",
                      .from_name = s->cfg.from_name,
                      .from_lines = (const char *const *)s->from_lines,
                      .from_n = s->from_n,
                      .payment_lines = (const char *const *)s->payment_lines,
                      .payment_n = s->payment_n,
                      .font = s->cfg.font,
                      .now_ms = dn_clock_now_ms()};
        size_t len = 0;
        int pages = 0, permanent = 0;
        char *pdf = pdf_render(&l, &len, &pages, &permanent, err, sizeof(err));
        if (!pdf) {
            fprintf(out, "%s: %s (%s sample)\n", text.source, err, full ? "full" : "minimal");
            problems++;
        }
        free(pdf);
        free(address);
        texts_free(&text);
    }
    return problems;
}

static int check_templates(sender_t *s, FILE *out)
{
    int sets = 0;
    int problems = texts_each(s->template_dir, check_set, s, out, &sets);
    fprintf(out, "%d letter template%s checked, %d problem%s\n", sets, sets == 1 ? "" : "s", problems,
            problems == 1 ? "" : "s");
    return problems;
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
        fprintf(stderr, "usage: sender-letter [--config-doc | --check-templates]\n"
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
    if (setup(s, errstr, sizeof(errstr)) < 0) {
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
        int problems = check_templates(s, stdout);
        status = problems ? 1 : 0;
        goto out;
    }
    {
        /* Templates are checked before anything is consumed: a missing variable or file is an
         * error now, not a blank in a customer's message later. */
        char *report = NULL;
        size_t report_len = 0;
        FILE *mem = open_memstream(&report, &report_len);
        int problems = mem ? check_templates(s, mem) : 1;
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
    if (spool_prepare(s->spool_dir, errstr, sizeof(errstr)) < 0) {
        dn_log_error("cannot start", "detail", errstr, "hint", "check DUNNING_LETTER_SPOOL_DIR", NULL);
        goto out;
    }
    dn_topics_init(s->cfg.common.topic_prefix);
    dn_signal_install();
    s->jitter = (unsigned int)(dn_clock_real_now_ms() ^ getpid());
    if (dn_avro_init(errstr, sizeof(errstr)) < 0) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        status = 2;
        goto out;
    }
    const char *topics[] = {dn_topic_name(DN_TOPIC_REMINDER_DUE_LETTER)};
    if (!(s->pg = dn_pg_new(s->cfg.common.pg_dsn, errstr, sizeof(errstr))) ||
        !(s->producer = dn_kafka_producer_new(s->cfg.common.kafka_brokers, errstr, sizeof(errstr))) ||
        !(s->consumer =
              dn_kafka_consumer_new(s->cfg.common.kafka_brokers, s->cfg.group, topics, 1, errstr, sizeof(errstr)))) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        goto out;
    }
    register_metrics(s, topics[0]);
    const dn_http_check_t checks[] = {
        {"kafka", check_kafka, s->consumer}, {"postgres", check_postgres, NULL}, {"spool", check_spool, s->spool_dir}};
    if (!(http = dn_http_start(s->cfg.http_addr, s->cfg.http_addr_file, checks, 3, errstr, sizeof(errstr)))) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        goto out;
    }
    dn_log_info("started", "group", s->cfg.group, "topic", topics[0], "templates", s->template_dir, "spool",
                s->spool_dir, NULL);
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
    dn_pg_destroy(s->pg);
    dn_metrics_reset();
    for (size_t i = 0; i < s->from_n; i++)
        free(s->from_lines[i]);
    for (size_t i = 0; i < s->payment_n; i++)
        free(s->payment_lines[i]);
    dn_config_free(config_table, CONFIG_N, &s->cfg);
    pdf_shutdown();
    if (status == 0 && !check)
        dn_log_info("stopped", NULL);
    return status;
}
