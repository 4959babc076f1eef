/* The sender core: configuration, the per-record path, the loop and main (dn_sender.h says
 * what the core owns; dn_sender_int.h maps its files).
 *
 * One thread, one loop: poll a batch; handle it on the batched path (dn_sender_batch.c),
 * falling back to the per-record path (handle(), below) from the first record it could not
 * finish; commit the Kafka offsets of the handled records (always after the database
 * commits of what they caused); relay the outbox. Per record:
 *
 *   1. decode and check; a record that does not decode (or breaks the contract, or cannot
 *      go out on this channel at all) becomes a DeadLetter in the outbox, its id derived
 *      from topic/partition/offset;
 *   2. prepare: opted out, the driver's checks and rendering; an outcome that needs no
 *      provider (no address, a template error) is decided here;
 *   3. take a session advisory lock on the reminder's event id, so two instances (during a
 *      rebalance) never work on the same reminder at once;
 *   4. claim: in table deliveries, a reminder whose row is delivered, suppressed or
 *      failed_permanent is done, skip it; else upsert the row as 'attempting' with
 *      attempts + 1 and COMMIT: the attempt is on record BEFORE the provider is called;
 *   5. last-mile check, just before sending: the case must still be dunning; else
 *      'suppressed';
 *   6. defer (quiet hours): failed_transient with next_attempt_at = the end, and the record
 *      (and consumption) held until then;
 *   7. send; one transaction: the row's final status + the ReminderOutcome in the outbox.
 *
 * Transient failures are retried in process with exponential backoff and jitter,
 * DUNNING_<P>_RETRIES times; when that budget is spent the outcome 'failed_transient'
 * (attempt, next_attempt_at) is recorded, the offsets of the records before it are
 * committed, and the service stops consuming: it holds the record and tries it again after
 * a pause that doubles up to DUNNING_<P>_PAUSE_MAX, until the provider accepts or refuses
 * it for good. Records behind it wait (their order is kept). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_http.h"
#include "dn_outbox.h"
#include "dn_render.h"
#include "dn_sender_int.h"
#include "dn_signal.h"
#include "dn_topics.h"

/* ---- configuration ---- */

enum { ENV_RETRIES, ENV_BACKOFF, ENV_PAUSE_MAX, ENV_GROUP };

static void upper(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++)
        dst[i] = (char)(src[i] >= 'a' && src[i] <= 'z' ? src[i] - 'a' + 'A' : src[i]);
    dst[i] = '\0';
}

/* The names the core derives from the channel, and its rows, named for the channel
 * (DUNNING_SMTP_RETRIES, ...), after the common ones. */
static void build_table(sender_t *s)
{
    const dn_sender_driver_t *d = s->drv;
    const char *channel = dn_channel_str(d->channel);
    char topic[64], prefix[32], chan[32];
    snprintf(s->service, sizeof(s->service), "sender-%s", channel);
    snprintf(s->unavailable, sizeof(s->unavailable), "%s_unavailable", s->nm->provider);
    snprintf(topic, sizeof(topic), "reminder-due.%s", channel);
    for (int i = 0; i < DN_TOPIC__COUNT; i++)
        if (strcmp(dn_topic_defs[i].name, topic) == 0)
            s->topic_id = i;
    upper(chan, sizeof(chan), channel);
    upper(prefix, sizeof(prefix), s->nm->retry_prefix ? s->nm->retry_prefix : channel);
    static const dn_cfg_entry_t common[] = {DN_CFG_COMMON(sender_cfg_t)};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
        s->table[n++] = common[i];
    static const char *const suffix[] = {"RETRIES", "BACKOFF", "PAUSE_MAX"};
    for (int i = 0; i < 3; i++)
        snprintf(s->env_names[i], sizeof(s->env_names[i]), "DUNNING_%s_%s", prefix, suffix[i]);
    if (s->nm->group_env)
        snprintf(s->env_names[ENV_GROUP], sizeof(s->env_names[ENV_GROUP]), "%s", s->nm->group_env);
    else
        snprintf(s->env_names[ENV_GROUP], sizeof(s->env_names[ENV_GROUP]), "DUNNING_%s_GROUP", chan);
    snprintf(s->helps[0], sizeof(s->helps[0]), "Kafka consumer group of the %s senders.", channel);
    snprintf(s->helps[1], sizeof(s->helps[1]), "In-process retries of %s before recording failed_transient.",
             s->nm->failure);
    snprintf(s->helps[2], sizeof(s->helps[2]),
             "Longest pause between rounds while %s keeps failing (consumption is paused meanwhile).", s->nm->failing);
    const dn_cfg_entry_t rows[] = {
        DN_CFG(s->env_names[ENV_GROUP], DN_CFG_STRING, s->service, 0, 0, s->helps[0], sender_cfg_t, group),
        DN_CFG(s->env_names[ENV_RETRIES], DN_CFG_INT, "3", 0, 20, s->helps[1], sender_cfg_t, retries),
        DN_CFG(s->env_names[ENV_BACKOFF], DN_CFG_DURATION, "1s", 10, 600000,
               "First retry delay; doubles per retry, with jitter.", sender_cfg_t, backoff_ms),
        DN_CFG(s->env_names[ENV_PAUSE_MAX], DN_CFG_DURATION, "5m", 1000, 86400000, s->helps[2], sender_cfg_t,
               pause_max_ms),
        DN_CFG("DUNNING_TEMPLATE_DIR", DN_CFG_STRING, "", 0, 0,
               "Template folder (default: $DUNNING_HOME/config/templates); <tenant_id>/ first, then default/.",
               sender_cfg_t, template_dir),
        DN_CFG("DUNNING_HTTP_ADDR", DN_CFG_STRING, s->nm->http_default, 0, 0,
               "host:port of the HTTP endpoint (/healthz, /readyz, /metrics); port 0 picks a free port, an empty "
               "value turns it off.",
               sender_cfg_t, http_addr),
        DN_CFG("DUNNING_HTTP_ADDR_FILE", DN_CFG_STRING, "", 0, 0,
               "File the bound host:port of the HTTP endpoint is written to at start (useful with port 0).",
               sender_cfg_t, http_addr_file),
        DN_CFG("DUNNING_METRICS_INTERVAL", DN_CFG_DURATION, "5s", 100, 3600000,
               "How often the loop refreshes the gauges it reads from PostgreSQL (outbox rows) and the postgres "
               "readiness.",
               sender_cfg_t, metrics_ms),
        DN_CFG("DUNNING_PORTAL_URL", DN_CFG_STRING, "", 0, 0,
               "Base URL of the customer portal (services/portal); set, every reminder's template gets "
               "{{portal_link}} = <URL>/p/<signed token>. Empty: no portal links.",
               sender_cfg_t, portal_url),
        DN_CFG("DUNNING_PORTAL_KEYS", DN_CFG_STRING, "", 0, 0,
               "Keys of the portal links, <id>:<base64 of at least 32 bytes>[,...]: the first signs, all verify "
               "(rotation). Never logged.",
               sender_cfg_t, portal_keys),
        DN_CFG("DUNNING_PORTAL_LINK_LIFETIME", DN_CFG_DURATION, "30d", 3600000, 31536000000LL,
               "How long a portal link stays valid, from the time its reminder was due.", sender_cfg_t,
               portal_lifetime_ms),
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        s->table[n++] = rows[i];
    s->ntable = n;
}

/* --config-doc: the core's rows, then the driver's. */
static void print_doc(sender_t *s)
{
    dn_cfg_entry_t all[64];
    size_t n = 0;
    for (size_t i = 0; i < s->ntable && n < 64; i++)
        all[n++] = s->table[i];
    for (size_t i = 0; i < s->drv->nconfig && n < 64; i++)
        all[n++] = s->drv->config[i];
    dn_config_print_doc(stdout, s->service, all, n);
}

/* ---- readiness and gauges ---- */

static int check_kafka(void *arg, char *why, size_t why_size)
{
    return dn_kafka_consumer_ready(arg, 1000, why, why_size);
}

static int check_postgres(void *arg, char *why, size_t why_size)
{
    sender_t *s = arg;
    if (atomic_load(&s->pg_ok))
        return 1;
    snprintf(why, why_size, "the database did not answer the last statement");
    return 0;
}

static int check_provider(void *arg, char *why, size_t why_size)
{
    sender_t *s = arg;
    if (s->drv->process.ready && !s->drv->process.ready(s->ctx, why, why_size))
        return 0;
    if (atomic_load(&s->provider_ok))
        return 1;
    snprintf(why, why_size, "%s", s->nm->msg_unreachable);
    return 0;
}

static sender_t sender;

void dn_sender_reached(int reached)
{
    atomic_store(&sender.provider_ok, reached != 0);
}

void dn_sender_log_template_failed(const dn_reminder_due_t *rd, const char *detail)
{
    char hint[80];
    snprintf(hint, sizeof(hint), "check the templates with: sender-%s --check-templates", dn_channel_str(rd->channel));
    dn_log_error("template failed", "event_id", rd->event_id, "tenant_id", rd->tenant_id, "invoice_id", rd->invoice_id,
                 "case_id", rd->case_id, "template_key", rd->template_key, "detail", detail, "hint", hint, NULL);
}

/* Gauges that cost a round trip on the loop's connection, every DUNNING_METRICS_INTERVAL. */
static void refresh_gauges(sender_t *s, int64_t *next)
{
    int64_t real = dn_clock_real_now_ms();
    if (real < *next)
        return;
    *next = real + s->cfg.metrics_ms;
    if (s->drv->process.tick)
        s->drv->process.tick(s->ctx);
    PGresult *r = dn_pg_query(s->pg, "SELECT count(*) FROM outbox", 0, NULL);
    atomic_store(&s->pg_ok, r != NULL);
    if (r) {
        dn_metrics_set(s->M.outbox_pending, NULL, strtod(PQgetvalue(r, 0, 0), NULL));
        PQclear(r);
    }
}

/* ---- one record ---- */

static int deliver(sender_t *s, job_t *j)
{
    int first = 0;
    if (s->tried[0] && strcmp(s->tried, j->rd.event_id) == 0) {
        /* The batched path made this reminder's first try and it failed transiently: this is
         * the first retry (the budget counts it). */
        first = 1;
        sender_log_retry(s, j, s->tried_reason, sender_retry_delay(s, 0));
    }
    s->tried[0] = '\0';
    for (int try = first;; try++) {
        char prev[32], reason[1200];
        int attempt = sender_claim(s, j, prev, sizeof(prev));
        if (attempt < 0)
            return sender_db_trouble(s, j, "claim");
        if (attempt == 0) {
            s->result = "duplicate";
            sender_log_event(s, DN_LOG_INFO, "reminder already handled, skipped", j, 0, prev);
            return R_DONE;
        }
        j->pub.attempt = attempt;
        if (sender_keep_sent(s, &j, 1) < 0)
            return sender_db_trouble(s, j, "keep");
        /* attempting with attempt 1: a claim the batched path gave back unsent */
        int resumed = try == 0 && strcmp(prev, "attempting") == 0 && attempt > 1;
        j->pub.recovering = resumed || try > 0;
        if (resumed)
            sender_log_event(s, DN_LOG_WARN, j->has_pre ? "previous attempt did not finish" : s->nm->msg_resend, j,
                             attempt, sender_claim_id(s, j));
        int send = sender_last_mile(s, j, reason, sizeof(reason));
        if (send < 0)
            return sender_db_trouble(s, j, "last-mile check");
        if (send == 0)
            return sender_finish(s, j, DN_OUTCOME_SUPPRESSED, reason, attempt, 0);
        if (j->has_pre)
            return sender_finish(s, j, j->pre, j->pre_reason, attempt, 0);
        int64_t until = 0;
        if (sender_defer(s, j, &until, reason, sizeof(reason))) {
            int rc = sender_finish(s, j, DN_OUTCOME_FAILED_TRANSIENT, reason, attempt, until);
            if (rc != R_DONE)
                return rc;
            if (s->M.deferrals)
                dn_metrics_add(s->M.deferrals, NULL, 1);
            s->hold_until = until;
            return R_DEFER;
        }
        dn_send_rc_t sr = sender_send(s, j, reason, sizeof(reason));
        if (sr == DN_SEND_OK)
            return sender_finish(s, j, DN_OUTCOME_DELIVERED, NULL, attempt, 0);
        if (sr == DN_SEND_PERMANENT)
            return sender_finish(s, j, DN_OUTCOME_FAILED_PERMANENT, reason, attempt, 0);
        if (sr == DN_SEND_UNREACHED) {
            j->unreached = 1;
            return sender_finish(s, j, DN_OUTCOME_FAILED_TRANSIENT, reason, attempt, 0);
        }
        if (try < s->cfg.retries && !dn_signal_stopping()) {
            sender_log_retry(s, j, reason, sender_retry_delay(s, try));
            continue;
        }
        /* Budget spent: record it and pause consumption (see the top of this file). */
        int64_t next = sender_pause(s);
        int rc = sender_finish(s, j, DN_OUTCOME_FAILED_TRANSIENT, reason, attempt, next);
        return rc == R_DONE ? R_DOWN : rc;
    }
}

static int handle(sender_t *s, const rd_kafka_message_t *m)
{
    job_t j;
    memset(&j, 0, sizeof(j));
    char reason[600];
    int32_t schema_id = -1;
    int rc;
    const char *code = sender_check(s, &j, m, reason, sizeof(reason), &schema_id);
    if (code) {
        rc = sender_dead_letter(s, &j, code, reason, schema_id);
    } else if (sender_lock(s, j.rd.event_id, 1) < 0) {
        rc = sender_db_trouble(s, &j, "lock");
    } else {
        sender_prepare(s, &j);
        rc = deliver(s, &j);
        sender_lock(s, j.rd.event_id, 0); /* a lost connection released it already */
    }
    sender_job_free(s, &j);
    return rc;
}

/* ---- the loop ---- */

static void relay(sender_t *s)
{
    for (int rounds = 0; rounds < 20; rounds++) {
        int n = dn_outbox_relay(s->pg, s->producer, 1000, 10000);
        if (n > 0)
            dn_metrics_add(s->M.relayed, NULL, n);
        if (n < 1000)
            break;
    }
    dn_kafka_producer_poll(s->producer);
}

/* Waits until the dunning clock reaches `until` (the clock may be moved meanwhile: it is
 * re-read every turn), relaying the outbox and refreshing the gauges. */
static void wait_until(sender_t *s, int64_t until, int64_t *next_refresh)
{
    char end[40];
    dn_time_format(until, end, sizeof(end));
    dn_log_info(s->nm->msg_defer, "until", end, "hint", s->nm->defer_hint, NULL);
    while (!dn_signal_stopping() && dn_clock_now_ms() < until) {
        int64_t d = dn_clock_real_delay_ms(until);
        sender_sleep_ms(d > 0 && d < 500 ? d : 500);
        relay(s);
        refresh_gauges(s, next_refresh);
    }
}

static const char *result_name(sender_t *s, int rc)
{
    switch (rc) {
    case R_DONE:
        return s->result;
    case R_RETRY:
        return "db_error";
    case R_DOWN:
        return s->unavailable;
    default:
        return s->nm->defer_result;
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
        double started = sender_mono_s();
        /* The batched path first; whatever it leaves (a database error, a transient failure,
         * a deferral) goes on record by record from where it stopped. */
        int rc = R_DONE;
        size_t todo = n;
        if (n > 0) {
            done = sender_batch(s, msgs, n, &rc);
            if (done > 0 && rc == R_DONE)
                s->pause_ms = 0;
            if (dn_signal_stopping() && rc == R_DONE)
                todo = done; /* finish the records in hand, not the batch */
        }
        while (done < todo) {
            if (rc == R_DONE) {
                s->result = "ok";
                rc = handle(s, msgs[done]);
                if (rc == R_RETRY && sender_pg_unreachable(s->pg))
                    atomic_store(&s->pg_ok, 0);
                else if (rc == R_DONE)
                    atomic_store(&s->pg_ok, 1);
                dn_metrics_add(s->M.consumed, DN_LABELS(s->topic, result_name(s, rc)), 1);
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
            if (rc == R_DEFER) {
                wait_until(s, s->hold_until, &next_refresh);
            } else if (rc == R_DOWN) {
                char pause[24];
                snprintf(pause, sizeof(pause), "%" PRId64, s->pause_ms);
                char msg[160];
                snprintf(msg, sizeof(msg), "%s failing, consumption paused", s->nm->provider);
                dn_log_warn(msg, "pause_ms", pause, "hint", "the same reminder is tried again after the pause", NULL);
                sender_sleep_ms(s->pause_ms);
            } else {
                sender_sleep_ms(db_wait);
                db_wait = db_wait * 2 > 5000 ? 5000 : db_wait * 2;
            }
            rc = R_DONE;
        }
        /* Offsets only now: every handled record's effects are committed in PostgreSQL. */
        if (done > committed)
            dn_kafka_consumer_commit(s->consumer, msgs, done);
        if (n > 0) {
            dn_metrics_observe(s->M.batch_seconds, DN_LABELS("records"), sender_mono_s() - started);
            dn_metrics_observe(s->M.batch_size, DN_LABELS("records"), (double)n);
        }
        dn_kafka_messages_destroy(msgs, n);
        relay(s);
        refresh_gauges(s, &next_refresh);
    }
    free(msgs);
}

/* ---- main ---- */

static void invalid(const char *detail)
{
    dn_log_error("invalid configuration", "detail", detail, NULL);
}

/* Templates are checked before anything is consumed: a missing variable or file is an
 * error now, not a blank in a customer's message later. 0, or -1 (logged). */
static int check_at_start(sender_t *s)
{
    if (!s->drv->check_templates)
        return 0;
    char *report = NULL;
    size_t report_len = 0;
    FILE *mem = open_memstream(&report, &report_len);
    int problems = mem ? s->drv->check_templates(s->ctx, s->template_dir, mem, 0) : 1;
    if (mem)
        fclose(mem);
    if (problems)
        dn_log_error("templates invalid", "detail", report ? report : "cannot check", "hint",
                     "fix them, or see the list with --check-templates", NULL);
    free(report);
    return problems ? -1 : 0;
}

int dn_sender_main(const dn_sender_driver_t *drv, int argc, char **argv)
{
    sender_t *s = &sender;
    s->drv = drv;
    s->nm = &dn_sender_names[drv->channel];
    atomic_store(&s->pg_ok, 1);
    atomic_store(&s->provider_ok, 1);
    build_table(s);
    dn_http_t *http = NULL;
    char errstr[1024];
    int status = 1;
    int check = argc == 2 && strcmp(argv[1], "--check-templates") == 0;
    if (argc == 2 && strcmp(argv[1], "--config-doc") == 0) {
        print_doc(s);
        return 0;
    }
    if (argc > 1 && !check) {
        fprintf(stderr,
                "usage: %s [--config-doc | --check-templates]\n"
                "Configured by DUNNING_* environment variables.\n",
                s->service);
        return 2;
    }
    dn_log_init(s->service, "info");
    if (!(s->dcfg = calloc(1, drv->cfg_size ? drv->cfg_size : 1))) {
        dn_log_error("out of memory", NULL);
        return 1;
    }
    if (dn_config_load(s->table, s->ntable, &s->cfg, errstr, sizeof(errstr)) < 0 ||
        dn_config_load(drv->config, drv->nconfig, s->dcfg, errstr, sizeof(errstr)) < 0) {
        invalid(errstr);
        status = 2;
        goto out;
    }
    if (dn_log_init(s->service, s->cfg.common.log_level) < 0) {
        invalid("DUNNING_LOG_LEVEL: use debug, info, warn or error");
        status = 2;
        goto out;
    }
    if (!check && dn_http_addr_valid(s->cfg.http_addr, errstr, sizeof(errstr)) < 0) {
        char detail[1100];
        snprintf(detail, sizeof(detail), "DUNNING_HTTP_ADDR: %s", errstr);
        invalid(detail);
        status = 2;
        goto out;
    }
    if (s->cfg.template_dir[0])
        snprintf(s->template_dir, sizeof(s->template_dir), "%s", s->cfg.template_dir);
    else
        snprintf(s->template_dir, sizeof(s->template_dir), "%s/config/templates", s->cfg.common.home);
    if (dn_render_set_portal(s->cfg.portal_url, s->cfg.portal_keys, s->cfg.portal_lifetime_ms, errstr, sizeof(errstr)) <
        0) {
        invalid(errstr);
        status = 2;
        goto out;
    }
    dn_sender_env_t env = {s->service, s->template_dir, s->cfg.common.home, s->cfg.common.pg_dsn};
    if (!(s->ctx = calloc(1, drv->ctx_size ? drv->ctx_size : 1))) {
        dn_log_error("out of memory", NULL);
        goto out;
    }
    if (drv->process.setup && drv->process.setup(s->ctx, s->dcfg, &env, errstr, sizeof(errstr)) < 0) {
        invalid(errstr);
        status = 2;
        goto out;
    }
    if (dn_clock_init_from_cfg(&s->cfg.common) < 0) {
        invalid("DUNNING_CLOCK_FILE: cannot read a clock line from it");
        status = 2;
        goto out;
    }
    if (check) {
        int problems = drv->check_templates ? drv->check_templates(s->ctx, s->template_dir, stdout, 1) : 0;
        status = problems ? 1 : 0;
        goto out;
    }
    if (check_at_start(s) < 0) {
        status = 2;
        goto out;
    }
    int started = drv->process.start ? drv->process.start(s->ctx, errstr, sizeof(errstr)) : 0;
    if (started == 2) {
        invalid(errstr);
        status = 2;
        goto out;
    }
    if (started) {
        dn_log_error("cannot start", "detail", errstr, NULL);
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
    s->topic = dn_topic_name(s->topic_id);
    const char *topics[] = {s->topic};
    if (!(s->pg = dn_pg_new(s->cfg.common.pg_dsn, errstr, sizeof(errstr))) ||
        !(s->producer = dn_kafka_producer_new(s->cfg.common.kafka_brokers, errstr, sizeof(errstr))) ||
        !(s->consumer =
              dn_kafka_consumer_new(s->cfg.common.kafka_brokers, s->cfg.group, topics, 1, errstr, sizeof(errstr)))) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        goto out;
    }
    sender_register_metrics(s);
    const dn_http_check_t checks[] = {
        {"kafka", check_kafka, s->consumer}, {"postgres", check_postgres, s}, {s->nm->provider, check_provider, s}};
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
    dn_pg_destroy(s->pg);
    if (drv->process.destroy && s->ctx)
        drv->process.destroy(s->ctx);
    free(s->ctx);
    dn_metrics_reset();
    dn_config_free(s->table, s->ntable, &s->cfg);
    if (s->dcfg)
        dn_config_free(drv->config, drv->nconfig, s->dcfg);
    free(s->dcfg);
    if (status == 0 && !check)
        dn_log_info("stopped", NULL);
    return status;
}
