/* sender-sms: turns ReminderDue records of reminder-due.sms into text messages sent through
 * the Kannel SMS gateway's HTTP sendsms interface, and publishes a ReminderOutcome for each
 * through the outbox. The sibling of sender-email and sender-letter, with the same loop and
 * guarantees (docs/sms.md).
 *
 * One thread, one loop: poll a batch; handle each record to its end; commit the Kafka offsets
 * of the handled records (always after the database commits of what they caused); relay the
 * outbox. Per record (handle()):
 *
 *   1. decode; a record that does not decode (or breaks the contract) becomes a DeadLetter in
 *      the outbox, its id derived from topic/partition/offset;
 *   2. prepare: opted out, no or invalid phone number, the template, the encoding (GSM-7 or
 *      UCS-2) and the number of parts; a text needing more than DUNNING_SMS_MAX_PARTS parts
 *      fails permanently;
 *   3. take a session advisory lock on the reminder's event id (two instances during a
 *      rebalance never work on the same reminder at once);
 *   4. claim: in table deliveries, a reminder whose row is delivered, suppressed or
 *      failed_permanent is done, skip it; else upsert the row as 'attempting' with
 *      attempts + 1 and COMMIT: the attempt is on record BEFORE Kannel is called;
 *   5. last-mile check (sender-email's rules, last_mile below); else 'suppressed';
 *   6. quiet hours: if it is night in the customer's time zone (DUNNING_SMS_QUIET_HOURS,
 *      contact.time_zone, the dunning clock), record 'failed_transient' with next_attempt_at
 *      = the end of the quiet period and hold the record (and consumption) until then;
 *   7. sendsms; one transaction: the row's final status + the ReminderOutcome in the outbox.
 *
 * Crash window: Kannel's sendsms has no idempotency key. A crash after Kannel accepted the
 * message but before step 7 committed leaves the row 'attempting' and the offset
 * uncommitted; the record comes back, finds 'attempting' and sends again: the customer may
 * get the same text twice (logged as such). The window is Kannel's answer to our COMMIT.
 *
 * Kannel trouble (refused connection, timeout, 5xx, 401/403/429) is transient: retried in
 * process with exponential backoff and jitter, DUNNING_SMS_RETRIES times; then
 * 'failed_transient' is recorded and consumption pauses (doubling up to
 * DUNNING_SMS_PAUSE_MAX), holding the record, as sender-email does when SMTP is down.
 *
 * Operations endpoint (dn_http, its own thread): /healthz, /readyz (kafka, postgres, kannel:
 * the last request reached Kannel; a probe at start) and /metrics. */
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
#include "kannel.h"
#include "sms.h"
#include "texts.h"

#define SERVICE "sender-sms"

typedef struct sms_cfg {
    dn_common_cfg_t common;
    char *group;
    char *kannel_url;
    char *kannel_user;
    char *kannel_password;
    int64_t kannel_timeout_ms;
    char *from;
    char *quiet_hours;
    int64_t max_parts;
    int64_t retries;
    int64_t backoff_ms;
    int64_t pause_max_ms;
    char *template_dir;
    char *http_addr;
    char *http_addr_file;
    int64_t metrics_ms;
} sms_cfg_t;

static const dn_cfg_entry_t config_table[] = {
    DN_CFG_COMMON(sms_cfg_t),
    DN_CFG("DUNNING_SMS_GROUP", DN_CFG_STRING, "sender-sms", 0, 0, "Kafka consumer group of the SMS senders.",
           sms_cfg_t, group),
    DN_CFG("DUNNING_KANNEL_URL", DN_CFG_STRING, "http://127.0.0.1:13013/cgi-bin/sendsms", 0, 0,
           "Kannel's HTTP sendsms interface (smsbox's sendsms-port), without a query.", sms_cfg_t, kannel_url),
    DN_CFG("DUNNING_KANNEL_USER", DN_CFG_STRING, "", 0, 0, "Kannel sendsms-user username.", sms_cfg_t, kannel_user),
    DN_CFG("DUNNING_KANNEL_PASSWORD", DN_CFG_STRING, "", 0, 0, "Kannel sendsms-user password (never logged).",
           sms_cfg_t, kannel_password),
    DN_CFG("DUNNING_KANNEL_TIMEOUT", DN_CFG_DURATION, "10s", 100, 600000,
           "Longest wait for Kannel's answer to one sendsms request.", sms_cfg_t, kannel_timeout_ms),
    DN_CFG("DUNNING_SMS_FROM", DN_CFG_STRING, "Dunning", 0, 0,
           "Sender shown on the phone: up to 11 letters and digits, or a number (+ and up to 15 digits); empty: "
           "Kannel's default.",
           sms_cfg_t, from),
    DN_CFG("DUNNING_SMS_QUIET_HOURS", DN_CFG_STRING, "21:00-08:00", 0, 0,
           "HH:MM-HH:MM in the customer's time zone (contact.time_zone) when no SMS is sent; a reminder due then "
           "waits for the end (consumption pauses). Empty: no quiet hours.",
           sms_cfg_t, quiet_hours),
    DN_CFG("DUNNING_SMS_MAX_PARTS", DN_CFG_INT, "3", 1, 10,
           "Most concatenated parts one text may take (GSM-7: 160 characters single, 153 per part; UCS-2: 70 / 67); "
           "a longer text fails permanently.",
           sms_cfg_t, max_parts),
    DN_CFG("DUNNING_SMS_RETRIES", DN_CFG_INT, "3", 0, 20,
           "In-process retries of a failed sendsms request before recording failed_transient.", sms_cfg_t, retries),
    DN_CFG("DUNNING_SMS_BACKOFF", DN_CFG_DURATION, "1s", 10, 600000,
           "First retry delay; doubles per retry, with jitter.", sms_cfg_t, backoff_ms),
    DN_CFG("DUNNING_SMS_PAUSE_MAX", DN_CFG_DURATION, "5m", 1000, 86400000,
           "Longest pause between rounds while Kannel keeps failing (consumption is paused meanwhile).", sms_cfg_t,
           pause_max_ms),
    DN_CFG("DUNNING_TEMPLATE_DIR", DN_CFG_STRING, "", 0, 0,
           "Template folder (default: $DUNNING_HOME/config/templates); <tenant_id>/ first, then default/.", sms_cfg_t,
           template_dir),
    DN_CFG("DUNNING_HTTP_ADDR", DN_CFG_STRING, "127.0.0.1:9467", 0, 0,
           "host:port of the HTTP endpoint (/healthz, /readyz, /metrics); port 0 picks a free port, an empty value "
           "turns it off.",
           sms_cfg_t, http_addr),
    DN_CFG("DUNNING_HTTP_ADDR_FILE", DN_CFG_STRING, "", 0, 0,
           "File the bound host:port of the HTTP endpoint is written to at start (useful with port 0).", sms_cfg_t,
           http_addr_file),
    DN_CFG("DUNNING_METRICS_INTERVAL", DN_CFG_DURATION, "5s", 100, 3600000,
           "How often the loop refreshes the gauges it reads from PostgreSQL (outbox rows) and the postgres "
           "readiness.",
           sms_cfg_t, metrics_ms),
};
#define CONFIG_N (sizeof(config_table) / sizeof(config_table[0]))

typedef struct sender {
    sms_cfg_t cfg;
    char template_dir[4096];
    int quiet, quiet_start, quiet_end; /* minutes of the day */
    dn_pg_t *pg;
    dn_kafka_consumer_t *consumer;
    dn_kafka_producer_t *producer;
    kannel_t *kannel;
    int64_t pause_ms;   /* real ms to wait before the next round on the held record */
    int64_t hold_until; /* dunning-clock ms: the end of the quiet period of the held record */
    unsigned int jitter;
    const char *result; /* metrics: how the record in hand ended */
} sender_t;

/* What handle() tells the loop. */
enum {
    R_DONE = 0,    /* finished (or dead-lettered): its offset may be committed */
    R_RETRY,       /* database trouble: nothing final happened, try the same record again */
    R_KANNEL_DOWN, /* failed_transient recorded: pause, then try the same record again */
    R_QUIET,       /* quiet hours: failed_transient recorded; hold until s->hold_until */
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
    int has_pre; /* decided without sending */
    dn_outcome_t pre;
    char pre_reason[512];
    sms_text_t text; /* the rendered text (may hold contact data: never logged) */
    sms_size_t size;
    int measured;
} job_t;

/* ---- metrics and readiness ---- */

static struct {
    dn_metric_t *consumed, *dead_letters, *deliveries, *send_seconds, *parts, *deferrals, *batch_seconds, *batch_size,
        *relayed, *outbox_pending;
} M;

static atomic_int pg_ok = 1, kannel_ok = 1;

static const char *const results[] = {"ok",       "duplicate",          "dead_letter",
                                      "db_error", "kannel_unavailable", "quiet_hours"};

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
                                    "Input records handled, by topic and result (ok, duplicate, dead_letter, db_error, "
                                    "kannel_unavailable and quiet_hours: held and tried again).",
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
    M.send_seconds = dn_metrics_histogram("dunning_sms_send_duration_seconds",
                                          "Time of one sendsms request to Kannel, by result (accepted, transient, "
                                          "permanent).",
                                          "result", DN_METRICS_LATENCY_BUCKETS);
    M.parts = dn_metrics_counter("dunning_sms_parts_total",
                                 "SMS parts Kannel accepted, by coding (gsm7, ucs2); a concatenated text counts each "
                                 "part.",
                                 "coding");
    dn_metrics_add(M.parts, DN_LABELS("gsm7"), 0);
    dn_metrics_add(M.parts, DN_LABELS("ucs2"), 0);
    M.deferrals = dn_metrics_counter("dunning_sms_quiet_hours_deferrals_total",
                                     "Reminders held because it was quiet hours in the customer's time zone.", NULL);
    dn_metrics_add(M.deferrals, NULL, 0);
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

static int pg_unreachable(const dn_pg_t *pg)
{
    const char *state = dn_pg_sqlstate(pg);
    return !state[0] || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

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

static int check_kannel(void *arg, char *why, size_t why_size)
{
    (void)arg;
    if (atomic_load(&kannel_ok))
        return 1;
    snprintf(why, why_size, "the last sendsms request did not reach Kannel");
    return 0;
}

static void copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void sleep_ms(int64_t ms)
{
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

/* ---- preparing the text ---- */

static int opted_out(const dn_reminder_due_t *rd)
{
    for (size_t i = 0; i < rd->contact.opted_out_channels_n; i++) {
        if (strcmp(rd->contact.opted_out_channels[i], "sms") == 0)
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

/* Decides what needs no gateway: opted out, no or invalid number, a template error, a text
 * too long. Renders and measures the text otherwise. */
static void prepare(sender_t *s, job_t *j)
{
    const dn_reminder_due_t *rd = &j->rd;
    if (opted_out(rd)) {
        decide(j, DN_OUTCOME_SUPPRESSED, "customer opted out of sms");
        return;
    }
    if (!rd->contact.phone || !rd->contact.phone[0]) {
        decide(j, DN_OUTCOME_FAILED_PERMANENT, "no phone number");
        return;
    }
    if (!sms_phone_valid(rd->contact.phone)) {
        decide(j, DN_OUTCOME_FAILED_PERMANENT, "phone number is not in E.164 format (+ and up to 15 digits)");
        return;
    }
    char err[1024], why[1100];
    if (texts_render(s->template_dir, rd, &j->text, err, sizeof(err)) < 0) {
        snprintf(why, sizeof(why), "template error: %s", err);
        dn_log_error("template failed", "event_id", rd->event_id, "tenant_id", rd->tenant_id, "invoice_id",
                     rd->invoice_id, "case_id", rd->case_id, "template_key", rd->template_key, "detail", err, "hint",
                     "check the templates with: sender-sms --check-templates", NULL);
        decide(j, DN_OUTCOME_FAILED_PERMANENT, why);
        return;
    }
    if (sms_measure(j->text.text, &j->size) < 0) {
        snprintf(why, sizeof(why), "template error: %s.txt: the text is not valid UTF-8", j->text.source);
        decide(j, DN_OUTCOME_FAILED_PERMANENT, why);
        return;
    }
    j->measured = 1;
    if (j->size.parts > s->cfg.max_parts) {
        snprintf(why, sizeof(why), "text needs %d parts, at most %d allowed (%s, %zu %s)", j->size.parts,
                 (int)s->cfg.max_parts, sms_coding_name(j->size.coding), j->size.units,
                 j->size.coding == SMS_GSM7 ? "septets" : "UTF-16 units");
        decide(j, DN_OUTCOME_FAILED_PERMANENT, why);
    }
}

/* ---- database steps (sender-email's, channel sms) ---- */

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
    const char *p2[] = {rd->event_id, rd->tenant_id, rd->invoice_id, rd->case_id, stage, now};
    r = dn_pg_query(s->pg,
                    "INSERT INTO deliveries (event_id, channel, tenant_id, invoice_id, case_id, stage, status, "
                    "attempts, created_at, updated_at) "
                    "VALUES ($1, 'sms', $2, $3, $4, $5, 'attempting', 1, to_timestamp($6::float8 / 1000), "
                    "to_timestamp($6::float8 / 1000)) "
                    "ON CONFLICT (event_id) DO UPDATE SET status = 'attempting', attempts = deliveries.attempts + 1, "
                    "updated_at = excluded.updated_at RETURNING attempts",
                    6, p2);
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

/* The last-mile check, exactly sender-email's and sender-letter's. 1 = send, 0 = suppress
 * (reason set), -1 = database error. */
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
    dn_reminder_outcome_t o = {.event_id = event_id,
                               .occurred_at = now,
                               .tenant_id = rd->tenant_id,
                               .customer_id = rd->customer_id,
                               .reminder_event_id = rd->event_id,
                               .case_id = rd->case_id,
                               .invoice_id = rd->invoice_id,
                               .channel = DN_CHANNEL_SMS,
                               .outcome = outcome,
                               .reason = (char *)reason,
                               .attempt = attempt,
                               .next_attempt_at = next_attempt_at,
                               .has_next_attempt_at = next_attempt_at > 0,
                               .provider_message_id = NULL};
    char *buf = NULL;
    size_t len = 0;
    if (dn_reminder_outcome_encode(&o, &buf, &len) != 0) {
        dn_log_error("outcome does not encode", "event_id", rd->event_id, NULL);
        return -1;
    }
    const char *params[] = {rd->event_id, status, outcome == DN_OUTCOME_DELIVERED ? NULL : reason, now_txt};
    PGresult *r = NULL;
    int ok = dn_pg_begin(s->pg) == 0 &&
             (r = dn_pg_query(s->pg,
                              "UPDATE deliveries SET status = $2, last_error = $3, "
                              "updated_at = to_timestamp($4::float8 / 1000) WHERE event_id = $1",
                              4, params)) != NULL &&
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
    char attempt_txt[16], late[24], parts[16], units[24];
    snprintf(attempt_txt, sizeof(attempt_txt), "%d", attempt);
    snprintf(late, sizeof(late), "%" PRId64, dn_clock_now_ms() - j->rd.due_at);
    snprintf(parts, sizeof(parts), "%d", j->size.parts);
    snprintf(units, sizeof(units), "%zu", j->size.units);
    dn_log(level, msg, "event_id", j->rd.event_id, "tenant_id", j->rd.tenant_id, "invoice_id", j->rd.invoice_id,
           "case_id", j->rd.case_id, "stage_name", j->rd.stage_name, "attempt", attempt > 0 ? attempt_txt : NULL,
           "reason", reason, "template", j->text.text ? j->text.source : NULL, "coding",
           j->measured ? sms_coding_name(j->size.coding) : NULL, "parts", j->measured ? parts : NULL, "units",
           j->measured ? units : NULL, "late_ms", late, NULL);
}

/* Records the outcome; after a send it must not give up quietly: it retries until it
 * commits or the service is stopping. R_DONE, or R_RETRY (the row stays 'attempting'). */
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
        [DN_OUTCOME_DELIVERED] = "sms sent",
        [DN_OUTCOME_SUPPRESSED] = "reminder suppressed",
        [DN_OUTCOME_FAILED_TRANSIENT] = "sms not sent, will retry",
        [DN_OUTCOME_FAILED_PERMANENT] = "sms failed permanently",
    };
    dn_metrics_add(M.deliveries, DN_LABELS(status_names[outcome]), 1);
    if (outcome == DN_OUTCOME_DELIVERED)
        dn_metrics_add(M.parts, DN_LABELS(sms_coding_name(j->size.coding)), j->size.parts);
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
    char reason[600];
    snprintf(reason, sizeof(reason), "%s: %s", what, dn_pg_errstr(s->pg));
    return dead_letter(s, j, "database_error", reason, -1);
}

/* Quiet hours: 1 (deferred: *until set, reason written), or 0. */
static int quiet_now(sender_t *s, const job_t *j, int64_t *until, char *reason, size_t reason_size)
{
    if (!s->quiet)
        return 0;
    const char *tz = NULL;
    if (!sms_quiet_until(dn_clock_now_ms(), j->rd.contact.time_zone, s->quiet_start, s->quiet_end, until, &tz))
        return 0;
    char end[40];
    dn_time_format(*until, end, sizeof(end));
    snprintf(reason, reason_size, "quiet hours (%s in %s) until %s", s->cfg.quiet_hours, tz, end);
    return 1;
}

static int deliver(sender_t *s, job_t *j)
{
    const dn_reminder_due_t *rd = &j->rd;
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
        if (try == 0 && strcmp(prev, "attempting") == 0)
            log_event(DN_LOG_WARN,
                      j->has_pre ? "previous attempt did not finish"
                                 : "previous attempt did not finish; sending again (the customer may get it twice)",
                      j, attempt, NULL);
        int send = last_mile(s, j, reason, sizeof(reason));
        if (send < 0)
            return db_trouble(s, j, "last-mile check");
        if (send == 0)
            return finish(s, j, DN_OUTCOME_SUPPRESSED, reason, attempt, 0);
        if (j->has_pre)
            return finish(s, j, j->pre, j->pre_reason, attempt, 0);
        int64_t until = 0;
        if (quiet_now(s, j, &until, reason, sizeof(reason))) {
            int rc = finish(s, j, DN_OUTCOME_FAILED_TRANSIENT, reason, attempt, until);
            if (rc != R_DONE)
                return rc;
            dn_metrics_add(M.deferrals, NULL, 1);
            s->hold_until = until;
            return R_QUIET;
        }
        int reached = 0;
        double started = mono_s();
        kannel_result_t kr =
            kannel_send(s->kannel, rd->contact.phone, j->text.text, j->size.coding, &reached, reason, sizeof(reason));
        static const char *const send_results[] = {"accepted", "transient", "permanent"};
        dn_metrics_observe(M.send_seconds, DN_LABELS(send_results[kr]), mono_s() - started);
        atomic_store(&kannel_ok, reached);
        if (kr == KANNEL_ACCEPTED)
            return finish(s, j, DN_OUTCOME_DELIVERED, NULL, attempt, 0);
        if (kr == KANNEL_PERMANENT)
            return finish(s, j, DN_OUTCOME_FAILED_PERMANENT, reason, attempt, 0);
        if (try < s->cfg.retries && !dn_signal_stopping()) {
            int64_t delay = retry_delay(s, try);
            char delay_txt[24];
            snprintf(delay_txt, sizeof(delay_txt), "%" PRId64, delay);
            dn_log_warn("sms not sent, retrying", "event_id", rd->event_id, "tenant_id", rd->tenant_id, "invoice_id",
                        rd->invoice_id, "case_id", rd->case_id, "reason", reason, "retry_in_ms", delay_txt, NULL);
            sleep_ms(delay);
            continue;
        }
        int64_t first = s->cfg.backoff_ms << (s->cfg.retries + 1 < 16 ? s->cfg.retries + 1 : 16);
        s->pause_ms = s->pause_ms ? s->pause_ms * 2 : first;
        if (s->pause_ms > s->cfg.pause_max_ms)
            s->pause_ms = s->cfg.pause_max_ms;
        int64_t next = dn_clock_now_ms() + s->pause_ms * dn_clock_speed();
        int rc = finish(s, j, DN_OUTCOME_FAILED_TRANSIENT, reason, attempt, next);
        return rc == R_DONE ? R_KANNEL_DOWN : rc;
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
    if (j.rd.channel != DN_CHANNEL_SMS) {
        rc = dead_letter(s, &j, "invalid_field", "field channel: not sms on the sms topic", -1);
    } else if (!dn_uuid_valid(j.rd.case_id)) {
        rc = dead_letter(s, &j, "invalid_field", "field case_id: not a UUID", -1);
    } else if (!dn_uuid_valid(j.rd.event_id)) {
        rc = dead_letter(s, &j, "invalid_field", "field event_id: not a UUID", -1);
    } else if (dn_topic_key(j.rd.tenant_id, j.rd.customer_id, j.key, sizeof(j.key)) < 0) {
        rc = dead_letter(s, &j, "invalid_field", "tenant_id/customer_id: too long for a record key", -1);
    } else if (lock_reminder(s, j.rd.event_id, 1) < 0) {
        rc = db_trouble(s, &j, "lock");
    } else {
        prepare(s, &j);
        rc = deliver(s, &j);
        lock_reminder(s, j.rd.event_id, 0);
    }
    texts_free(&j.text);
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

/* Waits until the dunning clock reaches `until` (the clock may be moved meanwhile: it is
 * re-read every turn), relaying the outbox and refreshing the gauges. */
static void wait_quiet(sender_t *s, int64_t until, int64_t *next_refresh)
{
    char end[40];
    dn_time_format(until, end, sizeof(end));
    dn_log_info("quiet hours in the customer's time zone, consumption paused", "until", end, "hint",
                "the same reminder is sent when they end", NULL);
    while (!dn_signal_stopping() && dn_clock_now_ms() < until) {
        int64_t d = dn_clock_real_delay_ms(until);
        sleep_ms(d > 0 && d < 500 ? d : 500);
        relay(s);
        refresh_gauges(s, next_refresh);
    }
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
                           DN_LABELS(rd_kafka_topic_name(msgs[done]->rkt), rc == R_DONE          ? s->result
                                                                           : rc == R_RETRY       ? "db_error"
                                                                           : rc == R_KANNEL_DOWN ? "kannel_unavailable"
                                                                                                 : "quiet_hours"),
                           1);
            if (rc == R_DONE) {
                done++;
                s->pause_ms = 0;
                db_wait = 100;
                if (dn_signal_stopping())
                    break;
                continue;
            }
            /* Hold this record. Save the progress before it, publish what is pending. */
            if (done > committed && dn_kafka_consumer_commit(s->consumer, msgs, done) == 0)
                committed = done;
            relay(s);
            if (dn_signal_stopping())
                break;
            if (rc == R_QUIET) {
                wait_quiet(s, s->hold_until, &next_refresh);
            } else if (rc == R_KANNEL_DOWN) {
                char pause[24];
                snprintf(pause, sizeof(pause), "%" PRId64, s->pause_ms);
                dn_log_warn("kannel failing, consumption paused", "pause_ms", pause, "hint",
                            "the same reminder is tried again after the pause", NULL);
                sleep_ms(s->pause_ms);
            } else {
                sleep_ms(db_wait);
                db_wait = db_wait * 2 > 5000 ? 5000 : db_wait * 2;
            }
        }
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

/* An alphanumeric sender (1-11 letters, digits, spaces) or a number ('+' optional, up to 15
 * digits); "" is allowed (Kannel's default). */
static int from_valid(const char *from)
{
    size_t n = strlen(from);
    if (n == 0)
        return 1;
    const char *digits = from[0] == '+' ? from + 1 : from;
    if (digits[0] && strspn(digits, "0123456789") == strlen(digits) && strlen(digits) <= 15)
        return 1;
    if (n > 11)
        return 0;
    for (const char *p = from; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '-' ||
              c == '.'))
            return 0;
    }
    return 1;
}

static int setup(sender_t *s, char *errstr, size_t errstr_size)
{
    if (!from_valid(s->cfg.from)) {
        snprintf(errstr, errstr_size,
                 "DUNNING_SMS_FROM: up to 11 letters, digits, spaces, '-' or '.', or a number of up to 15 digits");
        return -1;
    }
    if (sms_quiet_parse(s->cfg.quiet_hours, &s->quiet, &s->quiet_start, &s->quiet_end) < 0) {
        snprintf(errstr, errstr_size, "DUNNING_SMS_QUIET_HOURS: use HH:MM-HH:MM (e.g. 21:00-08:00), or empty for none");
        return -1;
    }
    if (s->cfg.template_dir[0])
        snprintf(s->template_dir, sizeof(s->template_dir), "%s", s->cfg.template_dir);
    else
        snprintf(s->template_dir, sizeof(s->template_dir), "%s/config/templates", s->cfg.common.home);
    return 0;
}

/* ---- --check-templates ---- */

static void sample(dn_reminder_due_t *rd, int full, const char *tenant, const char *key, const char *locale)
{
    memset(rd, 0, sizeof(*rd));
    rd->event_id = "00000000-0000-5000-8000-000000000000";
    rd->tenant_id = (char *)tenant;
    rd->customer_id = "C-1";
    rd->case_id = "00000000-0000-5000-8000-000000000001";
    rd->invoice_id = "INV-2026-000001";
    rd->invoice_number = full ? "RE-2026-000001" : NULL;
    rd->channel = DN_CHANNEL_SMS;
    rd->stage = 4;
    rd->stage_name = (char *)key;
    rd->template_key = (char *)key;
    rd->policy = "standard";
    rd->issue_date = 20750;
    rd->due_date = 20764;
    rd->days_overdue = 28;
    rd->amount_minor = 12345678;
    rd->outstanding_minor = full ? 12000000 : 12345678;
    rd->fee_minor = full ? 1500 : 0;
    rd->interest_minor = full ? 32100 : 0;
    rd->total_due_minor = rd->outstanding_minor + rd->fee_minor + rd->interest_minor;
    rd->currency = "EUR";
    rd->action = full ? "final_notice" : NULL;
    rd->payment_link = full ? "https://pay.example.com/i/0123456789abcdef0123456789" : NULL;
    rd->contact.name = "Muster & Söhne GmbH, z. Hd. Frau Łucja Müller-Lüdenscheidt";
    rd->contact.phone = "+4917612345678";
    rd->contact.locale = (char *)locale;
    rd->contact.time_zone = "Europe/Berlin";
}

/* At start only what can never work stops the sender (a missing variable or file, invalid
 * UTF-8); a text that is too long with the samples may still fit real data, so it is only
 * reported by --check-templates (and fails that one reminder permanently if it happens). */
static int check_lengths = 1;

static int check_set(const char *dir, const char *folder, const char *key, const char *locale, void *arg, FILE *out)
{
    sender_t *s = arg;
    int problems = 0;
    for (int full = 1; full >= 0; full--) {
        dn_reminder_due_t rd;
        sms_text_t text;
        sms_size_t size;
        char err[1200];
        sample(&rd, full, folder, key, locale);
        if (texts_render_file(dir, folder, &rd, locale, &text, err, sizeof(err)) < 0) {
            fprintf(out, "%s (%s sample)\n", err, full ? "full" : "minimal");
            problems++;
            continue;
        }
        if (sms_measure(text.text, &size) < 0) {
            fprintf(out, "%s.txt: the text is not valid UTF-8 (%s sample)\n", text.source, full ? "full" : "minimal");
            problems++;
        } else if (check_lengths && size.parts > s->cfg.max_parts) {
            fprintf(out, "%s.txt: text needs %d parts, at most %d allowed (%s, %zu units; %s sample)\n", text.source,
                    size.parts, (int)s->cfg.max_parts, sms_coding_name(size.coding), size.units,
                    full ? "full" : "minimal");
            problems++;
        }
        texts_free(&text);
    }
    return problems;
}

static int check_templates(sender_t *s, FILE *out)
{
    int sets = 0;
    int problems = texts_each(s->template_dir, check_set, s, out, &sets);
    fprintf(out, "%d sms template%s checked, %d problem%s\n", sets, sets == 1 ? "" : "s", problems,
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
        fprintf(stderr, "usage: sender-sms [--config-doc | --check-templates]\n"
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
        check_lengths = 0;
        int problems = mem ? check_templates(s, mem) : 1;
        check_lengths = 1;
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
    if (!(s->kannel = kannel_new(s->cfg.kannel_url, s->cfg.kannel_user, s->cfg.kannel_password, s->cfg.from,
                                 s->cfg.kannel_timeout_ms, errstr, sizeof(errstr)))) {
        char detail[1100];
        snprintf(detail, sizeof(detail), "DUNNING_KANNEL_URL: %s", errstr);
        dn_log_error("invalid configuration", "detail", detail, NULL);
        status = 2;
        goto out;
    }
    /* A held record (quiet hours, Kannel down) is not polled for; keep the group membership
     * over a whole night unless the operator chose otherwise (docs/sms.md). */
    if (!getenv("DUNNING_RDKAFKA_CONSUMER_max_poll_interval_ms") && !getenv("DUNNING_RDKAFKA_max_poll_interval_ms"))
        setenv("DUNNING_RDKAFKA_CONSUMER_max_poll_interval_ms", "86400000", 0);
    dn_topics_init(s->cfg.common.topic_prefix);
    dn_signal_install();
    s->jitter = (unsigned int)(dn_clock_real_now_ms() ^ getpid());
    if (dn_avro_init(errstr, sizeof(errstr)) < 0) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        status = 2;
        goto out;
    }
    const char *topics[] = {dn_topic_name(DN_TOPIC_REMINDER_DUE_SMS)};
    if (!(s->pg = dn_pg_new(s->cfg.common.pg_dsn, errstr, sizeof(errstr))) ||
        !(s->producer = dn_kafka_producer_new(s->cfg.common.kafka_brokers, errstr, sizeof(errstr))) ||
        !(s->consumer =
              dn_kafka_consumer_new(s->cfg.common.kafka_brokers, s->cfg.group, topics, 1, errstr, sizeof(errstr)))) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        goto out;
    }
    register_metrics(s, topics[0]);
    atomic_store(&kannel_ok, kannel_probe(s->kannel));
    if (!atomic_load(&kannel_ok))
        dn_log_warn("kannel does not answer", "hint", "check DUNNING_KANNEL_URL and that smsbox runs", NULL);
    const dn_http_check_t checks[] = {
        {"kafka", check_kafka, s->consumer}, {"postgres", check_postgres, NULL}, {"kannel", check_kannel, NULL}};
    if (!(http = dn_http_start(s->cfg.http_addr, s->cfg.http_addr_file, checks, 3, errstr, sizeof(errstr)))) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        goto out;
    }
    dn_log_info("started", "group", s->cfg.group, "topic", topics[0], "templates", s->template_dir, "quiet_hours",
                s->quiet ? s->cfg.quiet_hours : "none", NULL);
    run(s);
    dn_log_info("stopping", NULL);
    status = 0;
out:
    dn_http_destroy(http);
    dn_kafka_consumer_destroy(s->consumer);
    if (status == 0 && s->producer && s->pg)
        relay(s);
    dn_kafka_producer_destroy(s->producer, (int)s->cfg.common.shutdown_ms);
    dn_pg_destroy(s->pg);
    kannel_destroy(s->kannel);
    dn_metrics_reset();
    dn_config_free(config_table, CONFIG_N, &s->cfg);
    if (status == 0 && !check)
        dn_log_info("stopped", NULL);
    return status;
}
