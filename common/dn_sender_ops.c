/* The sender core: the steps of one record (see dn_sender_int.h for the file map). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_notice.h"
#include "dn_outbox.h"
#include "dn_pgarray.h"
#include "dn_sender_int.h"
#include "dn_signal.h"
#include "dn_topics.h"

const char *const dn_sender_status_names[4] = {
    [DN_OUTCOME_DELIVERED] = "delivered",
    [DN_OUTCOME_SUPPRESSED] = "suppressed",
    [DN_OUTCOME_FAILED_TRANSIENT] = "failed_transient",
    [DN_OUTCOME_FAILED_PERMANENT] = "failed_permanent",
};
#define status_names dn_sender_status_names

const char *sender_status(const job_t *j, dn_outcome_t outcome)
{
    return j->unreached && outcome == DN_OUTCOME_FAILED_TRANSIENT ? "unreached" : status_names[outcome];
}

double sender_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Copies with truncation (-Wformat-truncation is off: cutting is what we want). */
void sender_copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src);
}

void sender_sleep_ms(int64_t ms)
{
    /* In slices, so a shutdown request is noticed within 100 ms. */
    while (ms > 0 && !dn_signal_stopping()) {
        int64_t slice = ms < 100 ? ms : 100;
        struct timespec ts = {slice / 1000, (long)(slice % 1000) * 1000000};
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

/* The error says the server could not be reached (not: it refused a statement). */
int sender_pg_unreachable(const dn_pg_t *pg)
{
    const char *state = dn_pg_sqlstate(pg);
    return !state[0] || strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0;
}

static void time_param(char *buf, size_t size, int64_t ms)
{
    snprintf(buf, size, "%" PRId64, ms);
}

/* ---- metrics ---- */

static void emit_lag(const char *topic, int64_t lag, void *arg)
{
    dn_metrics_emit(arg, DN_LABELS(topic), (double)lag);
}

static void collect_lag(dn_metrics_emitter_t *em, void *arg)
{
    dn_kafka_consumer_lag(arg, emit_lag, em);
}

void sender_register_metrics(sender_t *s)
{
    sender_metrics_t *M = &s->M;
    char help[400];
    snprintf(help, sizeof(help),
             "Input records handled, by topic and result (ok, duplicate, dead_letter, db_error, %s%s%s: held and "
             "tried again).",
             s->unavailable, s->nm->defer_result ? " and " : "", s->nm->defer_result ? s->nm->defer_result : "");
    M->consumed = dn_metrics_counter("dunning_events_consumed_total", help, "topic,result");
    const char *results[] = {"ok", "duplicate", "dead_letter", "db_error", s->unavailable, s->nm->defer_result};
    for (size_t r = 0; r < sizeof(results) / sizeof(results[0]) && results[r]; r++)
        dn_metrics_add(M->consumed, DN_LABELS(s->topic, results[r]), 0);
    M->dead_letters = dn_metrics_counter("dunning_dead_letters_total",
                                         "Records written to the dead-letter topic, by source topic and error code.",
                                         "topic,error_code");
    M->deliveries = dn_metrics_counter("dunning_deliveries_total",
                                       "Reminder outcomes recorded, by outcome (delivered, suppressed, "
                                       "failed_transient, failed_permanent).",
                                       "outcome");
    for (size_t o = 0; o < 4; o++)
        dn_metrics_add(M->deliveries, DN_LABELS(status_names[o]), 0);
    if (s->nm->send_metric)
        M->send_seconds =
            dn_metrics_histogram(s->nm->send_metric, s->nm->send_help, "result", DN_METRICS_LATENCY_BUCKETS);
    if (s->nm->defer_metric) {
        M->deferrals = dn_metrics_counter(s->nm->defer_metric, s->nm->defer_help, NULL);
        dn_metrics_add(M->deferrals, NULL, 0);
    }
    M->batch_seconds =
        dn_metrics_histogram("dunning_batch_duration_seconds", "Time to handle one batch, from poll to offset commit.",
                             "work", DN_METRICS_LATENCY_BUCKETS);
    M->batch_size = dn_metrics_histogram("dunning_batch_size", "Records per batch.", "work", DN_METRICS_SIZE_BUCKETS);
    M->relayed = dn_metrics_counter("dunning_outbox_published_total",
                                    "Outbox rows published to Kafka (and acknowledged) by this process.", NULL);
    M->outbox_pending = dn_metrics_gauge("dunning_outbox_pending",
                                         "Rows waiting in the outbox table (every service of the database), as of the "
                                         "last refresh.",
                                         NULL);
    dn_metrics_gauge_fn("dunning_consumer_lag",
                        "Records behind the high watermark, summed over the partitions assigned to this instance.",
                        "topic", collect_lag, s->consumer);
}

/* ---- dead letters ---- */

void sender_dead_free(dead_t *d)
{
    free(d->key);
    free(d->value);
    d->key = d->value = NULL;
}

/* Encodes the dead letter of j. 0, or -1 if it does not encode (logged). */
int sender_dead_build(sender_t *s, const job_t *j, const char *code, const char *reason, int32_t schema_id, dead_t *d)
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
    sender_copy(d->reason, sizeof(d->reason), reason);
    d->value = NULL;
    dn_dead_letter_t dl = {.event_id = d->event_id,
                           .occurred_at = dn_clock_now_ms(),
                           .tenant_id = j->decoded ? j->rd.tenant_id : "",
                           .customer_id = j->decoded ? j->rd.customer_id : NULL,
                           .original_event_id = j->decoded ? j->rd.event_id : NULL,
                           .service = s->service,
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
void sender_dead_done(sender_t *s, const job_t *j, const dead_t *d)
{
    const rd_kafka_message_t *m = j->m;
    const char *topic = rd_kafka_topic_name(m->rkt);
    char partition[16], offset[24];
    snprintf(partition, sizeof(partition), "%d", (int)m->partition);
    snprintf(offset, sizeof(offset), "%" PRId64, m->offset);
    dn_metrics_add(s->M.dead_letters, DN_LABELS(topic, d->code), 1);
    dn_log_warn("record dead-lettered", "topic", topic, "partition", partition, "offset", offset, "error_code", d->code,
                "reason", d->reason, "event_id", j->decoded ? j->rd.event_id : NULL, "tenant_id",
                j->decoded ? j->rd.tenant_id : NULL, NULL);
}

int sender_dead_letter(sender_t *s, job_t *j, const char *code, const char *reason, int32_t schema_id)
{
    dead_t d;
    int rc = R_DONE;
    s->result = "dead_letter";
    if (sender_dead_build(s, j, code, reason, schema_id, &d) < 0)
        return R_DONE; /* nothing to write, the record is done */
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
        sender_dead_done(s, j, &d);
    }
    sender_dead_free(&d);
    return rc;
}

int sender_db_trouble(sender_t *s, job_t *j, const char *what)
{
    if (dn_pg_retriable(s->pg)) {
        dn_log_warn("database unavailable, record will be retried", "step", what, "event_id", j->rd.event_id, "detail",
                    dn_pg_errstr(s->pg), NULL);
        return R_RETRY;
    }
    /* The database refuses this record for good (a constraint, a bad value): dead-letter it. */
    char reason[600];
    snprintf(reason, sizeof(reason), "%s: %s", what, dn_pg_errstr(s->pg));
    return sender_dead_letter(s, j, "database_error", reason, -1);
}

/* ---- checking and preparing ---- */

const char *sender_check(sender_t *s, job_t *j, const rd_kafka_message_t *m, char *reason, size_t reason_size,
                         int32_t *schema_id)
{
    const char *channel = dn_channel_str(s->drv->channel);
    j->m = m;
    *schema_id = -1;
    dn_avro_err_t err;
    memset(&err, 0, sizeof(err));
    if (dn_reminder_due_decode(m->payload ? m->payload : "", m->payload ? m->len : 0, &j->rd, &err) != 0) {
        sender_copy(reason, reason_size, err.msg);
        *schema_id = err.schema_id;
        return dn_avro_code_str(err.code);
    }
    j->decoded = 1;
    if (j->rd.channel != s->drv->channel)
        snprintf(reason, reason_size, "field channel: not %s on the %s topic", channel, channel);
    else if (!dn_uuid_valid(j->rd.case_id))
        snprintf(reason, reason_size, "field case_id: not a UUID");
    else if (!dn_uuid_valid(j->rd.event_id))
        snprintf(reason, reason_size, "field event_id: not a UUID");
    else if (s->drv->steps.validate && s->drv->steps.validate(s->ctx, &j->rd, reason, reason_size) < 0)
        ; /* the driver said why */
    else if (dn_topic_key(j->rd.tenant_id, j->rd.customer_id, j->key, sizeof(j->key)) < 0)
        snprintf(reason, reason_size, "tenant_id/customer_id: too long for a record key");
    else
        return NULL;
    return "invalid_field";
}

static void decide(job_t *j, dn_outcome_t outcome, const char *reason)
{
    j->has_pre = 1;
    j->pre = outcome;
    sender_copy(j->pre_reason, sizeof(j->pre_reason), reason);
}

void sender_prepare(sender_t *s, job_t *j)
{
    const char *channel = dn_channel_str(s->drv->channel);
    j->pub.rd = &j->rd;
    if (s->drv->job.size && !(j->pub.state = calloc(1, s->drv->job.size))) {
        decide(j, DN_OUTCOME_FAILED_TRANSIENT, "out of memory");
        return;
    }
    j->prepared = 1;
    for (size_t i = 0; i < j->rd.contact.opted_out_channels_n; i++) {
        if (strcmp(j->rd.contact.opted_out_channels[i], channel) == 0) {
            char why[64];
            snprintf(why, sizeof(why), "customer opted out of %s", channel);
            decide(j, DN_OUTCOME_SUPPRESSED, why);
            return;
        }
    }
    dn_outcome_t outcome = DN_OUTCOME_FAILED_PERMANENT;
    char why[1200] = "";
    if (s->drv->steps.prepare && s->drv->steps.prepare(s->ctx, &j->pub, &outcome, why, sizeof(why)) == 1)
        decide(j, outcome, why);
}

void sender_job_free(sender_t *s, job_t *j)
{
    if (j->prepared && s->drv->job.free)
        s->drv->job.free(s->ctx, &j->pub);
    free(j->pub.state);
    j->pub.state = NULL;
    j->prepared = 0;
    if (j->decoded)
        dn_reminder_due_free(&j->rd);
    j->decoded = 0;
}

/* ---- database steps ---- */

int sender_lock(sender_t *s, const char *event_id, int lock)
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

const char *sender_claim_id(sender_t *s, const job_t *j)
{
    if (j->has_pre || !s->drv->job.provider_id)
        return NULL;
    return s->drv->job.provider_id(s->ctx, &j->pub, 1, DN_OUTCOME_DELIVERED);
}

/* Claims the reminder for one attempt. Returns the attempt number (>= 1), 0 if the reminder
 * is already done (prev holds its status), -1 on a database error (rolled back). */
int sender_claim(sender_t *s, job_t *j, char *prev, size_t prev_size)
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
    if (strcmp(prev, "delivered") == 0 || strcmp(prev, "suppressed") == 0 || strcmp(prev, "failed_permanent") == 0 ||
        strcmp(prev, "unreached") == 0) {
        dn_pg_rollback(s->pg);
        return 0;
    }
    const char *p2[] = {rd->event_id, dn_channel_str(rd->channel), rd->tenant_id, rd->invoice_id, rd->case_id, stage,
                        now,          sender_claim_id(s, j)};
    r = dn_pg_query(s->pg,
                    "INSERT INTO deliveries (event_id, channel, tenant_id, invoice_id, case_id, stage, status, "
                    "attempts, provider_message_id, created_at, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, 'attempting', 1, $8, to_timestamp($7::float8 / 1000), "
                    "to_timestamp($7::float8 / 1000)) "
                    "ON CONFLICT (event_id) DO UPDATE SET status = 'attempting', attempts = deliveries.attempts + 1, "
                    "provider_message_id = coalesce(excluded.provider_message_id, deliveries.provider_message_id), "
                    "updated_at = excluded.updated_at RETURNING attempts",
                    8, p2);
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

int sender_keep_sent(sender_t *s, job_t *const *jobs, size_t n)
{
    if (!s->drv->job.kept)
        return 0;
    dn_pgarray_t a[7];
    memset(a, 0, sizeof(a));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *subject = NULL, *body = NULL, *source = NULL;
        const job_t *j = jobs[i];
        if (!s->drv->job.kept(s->ctx, &j->pub, &subject, &body, &source) || !body)
            continue;
        dn_pgarray_add(&a[0], j->rd.event_id);
        dn_pgarray_add(&a[1], j->rd.tenant_id);
        dn_pgarray_add(&a[2], j->rd.invoice_id);
        dn_pgarray_add(&a[3], j->rd.case_id);
        dn_pgarray_add(&a[4], subject);
        dn_pgarray_add(&a[5], body);
        dn_pgarray_add(&a[6], source);
        k++;
    }
    int rc = 0;
    if (k > 0) {
        const char *params[8];
        for (int i = 0; i < 7; i++)
            params[i] = dn_pgarray_text(&a[i]);
        params[7] = dn_channel_str(s->drv->channel);
        rc = -1;
        if (params[0] && params[1] && params[2] && params[3] && params[4] && params[5] && params[6]) {
            PGresult *r = dn_pg_query(
                s->pg,
                "INSERT INTO sent_messages (event_id, channel, tenant_id, invoice_id, case_id, subject, body, "
                "template) "
                "SELECT event_id, $8, tenant_id, invoice_id, case_id, subject, body, template FROM unnest($1::uuid[], "
                "$2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[]) AS u (event_id, tenant_id, "
                "invoice_id, case_id, subject, body, template) ON CONFLICT (event_id) DO NOTHING",
                8, params);
            rc = r ? 0 : -1;
            PQclear(r);
        }
    }
    for (int i = 0; i < 7; i++)
        dn_pgarray_free(&a[i]);
    return rc;
}

/* The last-mile rule for a case in `state` (NULL: no such case) at stage `case_stage`,
 * whose customer has opted out of the channels `opted_out` (a text[] as text, NULL none):
 * 1 = send, 0 = suppress (reason set). A reminder goes out only while its case still dunns:
 * not once it is resolved (paid, credited, cancelled), written off, paused or under a promise
 * to pay. A case on an instalment plan gets the plan's reminders only, and a plan's reminder
 * goes out only while the case is on its plan. A handed-over case still gets the handover
 * stage's own notice, but nothing from an earlier stage. */
/* 1 if `channel` is one of a text[] as PostgreSQL prints it ("{sms,voice}"). */
static int listed(const char *arr, const char *channel)
{
    size_t n = strlen(channel);
    for (const char *p = arr; p && *p; p++)
        if ((*p == '{' || *p == ',') && strncmp(p + 1, channel, n) == 0 && (p[1 + n] == ',' || p[1 + n] == '}'))
            return 1;
    return 0;
}

int sender_may_send(const job_t *j, const char *state, int case_stage, const char *opted_out, char *reason,
                    size_t reason_size)
{
    if (!state)
        snprintf(reason, reason_size, "case not found");
    else if (strcmp(state, "resolved") == 0)
        snprintf(reason, reason_size, "case resolved (paid, credited or cancelled)");
    else if (strcmp(state, "written_off") == 0 || strcmp(state, "paused") == 0)
        snprintf(reason, reason_size, "case %s", state);
    else if (strcmp(state, "promised") == 0)
        snprintf(reason, reason_size, "case under a promise to pay");
    else if (strcmp(state, "on_plan") == 0 && !(j->rd.notice_kind && strcmp(j->rd.notice_kind, "instalment") == 0))
        snprintf(reason, reason_size, "case on an instalment plan");
    else if (strcmp(state, "on_plan") != 0 && j->rd.notice_kind && strcmp(j->rd.notice_kind, "instalment") == 0)
        snprintf(reason, reason_size, "the instalment plan has ended (case %s)", state);
    else if (strcmp(state, "handed_over") == 0 && j->rd.stage < case_stage)
        snprintf(reason, reason_size, "case handed over to collections");
    else if (listed(opted_out, dn_channel_str(j->rd.channel))) /* since the reminder was emitted */
        snprintf(reason, reason_size, "the customer opted out of %s (contact preferences)",
                 dn_channel_str(j->rd.channel));
    else
        return 1;
    return 0;
}

/* Renders j again (its record changed since it was prepared). */
static void reprepare(sender_t *s, job_t *j)
{
    if (j->prepared && s->drv->job.free)
        s->drv->job.free(s->ctx, &j->pub);
    free(j->pub.state);
    j->pub.state = NULL;
    j->prepared = 0;
    j->has_pre = 0;
    sender_prepare(s, j);
}

/* A consolidated notice's items as the cases table has them now (dn_notice_refresh); j is
 * rendered again if anything changed. 1/0/-1 as sender_last_mile. */
static int items_last_mile(sender_t *s, job_t *j, char *reason, size_t reason_size)
{
    dn_reminder_due_t *rd = &j->rd;
    dn_pgarray_t inv = {0};
    for (size_t i = 0; i < rd->items_n; i++)
        if (dn_pgarray_add(&inv, rd->items[i].invoice_id) < 0) {
            dn_pgarray_free(&inv);
            return -1;
        }
    const char *p[] = {rd->tenant_id, dn_pgarray_text(&inv)};
    PGresult *r = p[1] ? dn_pg_query(s->pg,
                                     "SELECT c.state, c.pause_reason, c.outstanding_minor, c.fee_minor, "
                                     "c.interest_minor FROM unnest($2::text[]) WITH ORDINALITY AS u (id, k) LEFT JOIN "
                                     "cases c ON c.tenant_id = $1 AND c.invoice_id = u.id ORDER BY u.k",
                                     2, p)
                       : NULL;
    dn_pgarray_free(&inv);
    if (!r)
        return -1;
    size_t n = rd->items_n;
    if ((size_t)PQntuples(r) != n) {
        PQclear(r);
        return -1;
    }
    dn_notice_case_t *now = calloc(n ? n : 1, sizeof(*now));
    if (!now) {
        PQclear(r);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        now[i].found = !PQgetisnull(r, row, 0);
        now[i].state = PQgetvalue(r, row, 0);
        now[i].pause_reason = PQgetisnull(r, row, 1) ? NULL : PQgetvalue(r, row, 1);
        now[i].outstanding_minor = strtoll(PQgetvalue(r, row, 2), NULL, 10);
        now[i].fee_minor = strtoll(PQgetvalue(r, row, 3), NULL, 10);
        now[i].interest_minor = strtoll(PQgetvalue(r, row, 4), NULL, 10);
    }
    int changed = 0;
    int dunned = dn_notice_refresh(rd, now, &changed);
    free(now);
    PQclear(r);
    if (dunned < 0)
        return -1;
    if (dunned == 0) {
        snprintf(reason, reason_size, "nothing left to dun: every listed invoice is paid, written off or on hold");
        return 0;
    }
    if (changed)
        reprepare(s, j);
    return 1;
}

/* The last mile of a notice about a customer (dn_notice.h): its notices row is still 'sent'
 * (the engine emitted it and nothing cancelled it), a card notice's card is still the one
 * that expires, and a consolidated notice still dunns something. 1/0/-1. */
static int notice_last_mile(sender_t *s, job_t *j, char *reason, size_t reason_size)
{
    const dn_reminder_due_t *rd = &j->rd;
    const char *p[] = {rd->case_id};
    PGresult *r = dn_pg_query(s->pg,
                              "SELECT n.state, pm.status, pm.exp_month, pm.exp_year FROM notices n LEFT JOIN "
                              "payment_methods pm ON pm.tenant_id = n.tenant_id AND pm.payment_method_id = "
                              "n.payment_method_id WHERE n.notice_id = $1",
                              1, p);
    if (!r)
        return -1;
    int send = 1;
    int card = strcmp(rd->notice_kind, "card_expiry") == 0;
    if (PQntuples(r) != 1) {
        snprintf(reason, reason_size, "notice not found");
        send = 0;
    } else if (strcmp(PQgetvalue(r, 0, 0), "sent") != 0) {
        snprintf(reason, reason_size, "notice %s", PQgetvalue(r, 0, 0));
        send = 0;
    } else if (card && PQgetisnull(r, 0, 1)) {
        snprintf(reason, reason_size, "the payment method is no longer known");
        send = 0;
    } else if (card && strcmp(PQgetvalue(r, 0, 1), "active") != 0 && strcmp(PQgetvalue(r, 0, 1), "expiring") != 0) {
        snprintf(reason, reason_size, "the card was %s since", PQgetvalue(r, 0, 1));
        send = 0;
    } else if (card && (!rd->card || rd->card->exp_month != atoi(PQgetvalue(r, 0, 2)) ||
                        rd->card->exp_year != atoi(PQgetvalue(r, 0, 3)))) {
        snprintf(reason, reason_size, "the card was updated since (new expiry date)");
        send = 0;
    }
    PQclear(r);
    if (send == 1 && !card)
        send = items_last_mile(s, j, reason, reason_size);
    return send;
}

/* The last-mile check. 1 = send, 0 = suppress (reason set), -1 = database error. */
int sender_last_mile(sender_t *s, job_t *j, char *reason, size_t reason_size)
{
    if (dn_notice_is_customer_level(&j->rd))
        return notice_last_mile(s, j, reason, reason_size);
    const char *p[] = {j->rd.case_id};
    PGresult *r =
        dn_pg_query(s->pg,
                    "SELECT c.state, c.stage, cp.opted_out::text FROM cases c LEFT JOIN contact_preferences "
                    "cp ON cp.tenant_id = c.tenant_id AND cp.customer_id = c.customer_id WHERE c.case_id = $1",
                    1, p);
    if (!r)
        return -1;
    int send = PQntuples(r) ? sender_may_send(j, PQgetvalue(r, 0, 0), atoi(PQgetvalue(r, 0, 1)),
                                              PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2), reason, reason_size)
                            : sender_may_send(j, NULL, 0, NULL, reason, reason_size);
    PQclear(r);
    return send;
}

/* ---- outcomes ---- */

/* The ReminderOutcome of j: its event id (derived from reminder, status and attempt), the
 * encoded record and the provider message id (NULL when none). 0, or -1 (logged). */
int sender_outcome_build(sender_t *s, job_t *j, dn_outcome_t outcome, const char *reason, int attempt,
                         int64_t next_attempt_at, int64_t now, char event_id[DN_UUID_STR_LEN], char **buf, size_t *len,
                         const char **provider_id)
{
    const dn_reminder_due_t *rd = &j->rd;
    char attempt_txt[16];
    snprintf(attempt_txt, sizeof(attempt_txt), "%d", attempt);
    const char *parts[] = {"outcome", rd->event_id, status_names[outcome], attempt_txt};
    dn_uuid_derive(event_id, parts, 4);
    *provider_id = j->has_pre || !s->drv->job.provider_id ? NULL : s->drv->job.provider_id(s->ctx, &j->pub, 0, outcome);
    dn_reminder_outcome_t o = {.event_id = event_id,
                               .occurred_at = now,
                               .tenant_id = rd->tenant_id,
                               .customer_id = rd->customer_id,
                               .reminder_event_id = rd->event_id,
                               .case_id = rd->case_id,
                               .invoice_id = rd->invoice_id,
                               .channel = rd->channel,
                               .outcome = outcome,
                               .reason = (char *)reason,
                               .attempt = attempt,
                               .next_attempt_at = next_attempt_at,
                               .has_next_attempt_at = next_attempt_at > 0,
                               .provider_message_id = (char *)*provider_id};
    /* A voice call's result, when the driver has one (the job's state holds it). */
    if (!j->has_pre && s->drv->job.call)
        o.call = (dn_call_result_t *)s->drv->job.call(s->ctx, &j->pub, outcome);
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
static int finish_once(sender_t *s, job_t *j, dn_outcome_t outcome, const char *reason, int attempt,
                       int64_t next_attempt_at)
{
    const dn_reminder_due_t *rd = &j->rd;
    char event_id[DN_UUID_STR_LEN], now_txt[24];
    int64_t now = dn_clock_now_ms();
    time_param(now_txt, sizeof(now_txt), now);
    char *buf = NULL;
    size_t len = 0;
    const char *provider_id = NULL;
    if (sender_outcome_build(s, j, outcome, reason, attempt, next_attempt_at, now, event_id, &buf, &len, &provider_id) <
        0)
        return -1;
    const char *params[] = {rd->event_id, sender_status(j, outcome), outcome == DN_OUTCOME_DELIVERED ? NULL : reason,
                            now_txt, provider_id};
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

void sender_log_event(sender_t *s, dn_log_level_t level, const char *msg, job_t *j, int attempt, const char *reason)
{
    if (!dn_log_enabled(level))
        return;
    char attempt_txt[16], late[24];
    snprintf(attempt_txt, sizeof(attempt_txt), "%d", attempt);
    snprintf(late, sizeof(late), "%" PRId64, dn_clock_now_ms() - j->rd.due_at);
    dn_sender_field_t f[8];
    size_t nf = j->prepared && s->drv->job.log_fields ? s->drv->job.log_fields(s->ctx, &j->pub, f, 8) : 0;
    const char *kv[16];
    for (size_t i = 0; i < 8; i++) {
        kv[2 * i] = i < nf ? f[i].key : "_";
        kv[2 * i + 1] = i < nf ? f[i].value : NULL;
    }
    dn_log(level, msg, "event_id", j->rd.event_id, "tenant_id", j->rd.tenant_id, "invoice_id", j->rd.invoice_id,
           "case_id", j->rd.case_id, "stage_name", j->rd.stage_name, "attempt", attempt > 0 ? attempt_txt : NULL,
           "reason", reason, kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], kv[6], kv[7], kv[8], kv[9], kv[10], kv[11],
           kv[12], kv[13], kv[14], kv[15], "late_ms", late, NULL);
}

/* After the outcome's COMMIT: metrics and the log line. */
void sender_outcome_done(sender_t *s, job_t *j, dn_outcome_t outcome, const char *reason, int attempt)
{
    dn_metrics_add(s->M.deliveries, DN_LABELS(status_names[outcome]), 1);
    if (s->drv->job.recorded && j->prepared)
        s->drv->job.recorded(s->ctx, &j->pub, outcome);
    sender_log_event(s, outcome == DN_OUTCOME_FAILED_PERMANENT ? DN_LOG_WARN : DN_LOG_INFO, s->nm->msg_outcome[outcome],
                     j, attempt, reason);
}

/* Records the outcome. Once a message may have been sent, this must not give up quietly:
 * it retries until it commits or the service is stopping. Returns R_DONE, or R_RETRY if it
 * could not commit (the row stays 'attempting'; see the crash window in docs/senders.md). */
int sender_finish(sender_t *s, job_t *j, dn_outcome_t outcome, const char *reason, int attempt, int64_t next_attempt_at)
{
    int64_t wait = 100;
    while (finish_once(s, j, outcome, reason, attempt, next_attempt_at) < 0) {
        dn_log_warn("outcome not recorded, retrying", "event_id", j->rd.event_id, "tenant_id", j->rd.tenant_id,
                    "detail", dn_pg_errstr(s->pg), NULL);
        if (dn_signal_stopping()) {
            sender_log_event(s, DN_LOG_ERROR, "outcome not recorded before shutdown; the reminder stays 'attempting'",
                             j, attempt, status_names[outcome]);
            return R_RETRY;
        }
        sender_sleep_ms(wait);
        wait = wait * 2 > 5000 ? 5000 : wait * 2;
    }
    sender_outcome_done(s, j, outcome, reason, attempt);
    return R_DONE;
}

/* ---- the provider ---- */

/* One call of the driver's send, with its metrics. On failure, reason holds the provider's. */
dn_send_rc_t sender_send(sender_t *s, job_t *j, char *reason, size_t reason_size)
{
    double started = sender_mono_s();
    reason[0] = '\0';
    dn_send_rc_t rc = s->drv->steps.send(s->ctx, &j->pub, reason, reason_size);
    if (s->M.send_seconds)
        dn_metrics_observe(s->M.send_seconds,
                           DN_LABELS(s->nm->send_results[rc] ? s->nm->send_results[rc] : "unreached"),
                           sender_mono_s() - started);
    return rc;
}

int sender_defer(sender_t *s, job_t *j, int64_t *until, char *reason, size_t reason_size)
{
    return s->drv->steps.defer ? s->drv->steps.defer(s->ctx, &j->pub, until, reason, reason_size) : 0;
}

int64_t sender_retry_delay(sender_t *s, int try)
{
    int64_t base = s->cfg.backoff_ms << (try < 16 ? try : 16);
    return base / 2 + (int64_t)(rand_r(&s->jitter) % (unsigned)(base / 2 + 1)); /* [base/2, base] */
}

/* The in-process retry budget is spent: the pause before the next round (doubling up to
 * the pause maximum) and the next_attempt_at to record. */
int64_t sender_pause(sender_t *s)
{
    int64_t first = s->cfg.backoff_ms << (s->cfg.retries + 1 < 16 ? s->cfg.retries + 1 : 16);
    s->pause_ms = s->pause_ms ? s->pause_ms * 2 : first;
    if (s->pause_ms > s->cfg.pause_max_ms)
        s->pause_ms = s->cfg.pause_max_ms;
    return dn_clock_now_ms() + s->pause_ms * dn_clock_speed();
}

void sender_log_retry(sender_t *s, job_t *j, const char *reason, int64_t delay)
{
    char delay_txt[24];
    snprintf(delay_txt, sizeof(delay_txt), "%" PRId64, delay);
    dn_log_warn(s->nm->msg_retry, "event_id", j->rd.event_id, "tenant_id", j->rd.tenant_id, "invoice_id",
                j->rd.invoice_id, "case_id", j->rd.case_id, "reason", reason, "retry_in_ms", delay_txt, NULL);
    sender_sleep_ms(delay);
}
