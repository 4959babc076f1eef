/* dunning-console: the credit-manager console's JSON API (docs/console.md). Configured by
 * DUNNING_* environment variables; --config-doc prints the table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_pdf.h"
#include "dn_signal.h"
#include "dn_topics.h"

static const dn_cfg_entry_t config_table[] = {
    DN_CFG_COMMON(console_cfg_t),
    DN_CFG("DUNNING_CONSOLE_ADDR", DN_CFG_STRING, "127.0.0.1:8080", 0, 0,
           "host:port the console listens on (plain HTTP: TLS ends at a reverse proxy, docs/console.md); port 0 = "
           "any free port.",
           console_cfg_t, addr),
    DN_CFG("DUNNING_CONSOLE_ADDR_FILE", DN_CFG_STRING, "", 0, 0,
           "When set, the address actually bound is written to this file (for port 0).", console_cfg_t, addr_file),
    DN_CFG("DUNNING_CONSOLE_STATIC_DIR", DN_CFG_STRING, "", 0, 0,
           "Directory of the web pages served outside /api/ (empty: $DUNNING_HOME/services/console/web).",
           console_cfg_t, static_dir),
    DN_CFG("DUNNING_POLICY_FILE", DN_CFG_STRING, "", 0, 0,
           "Policy file with the tenants' collection strategies (default: "
           "$DUNNING_HOME/config/policies/default.yaml).",
           console_cfg_t, policy_file),
    DN_CFG("DUNNING_CONSOLE_IDLE", DN_CFG_DURATION, "30m", 60000, 86400000, "A session unused for this long ends.",
           console_cfg_t, idle_ms),
    DN_CFG("DUNNING_CONSOLE_SESSION_MAX", DN_CFG_DURATION, "12h", 60000, 604800000,
           "A session ends this long after the login, used or not.", console_cfg_t, session_ms),
    DN_CFG("DUNNING_CONSOLE_SECURE_COOKIES", DN_CFG_BOOL, "false", 0, 0,
           "Mark the session cookie Secure (set it whenever users reach the console over https).", console_cfg_t,
           secure_cookies),
    DN_CFG("DUNNING_CONSOLE_TRUST_FORWARDED", DN_CFG_BOOL, "false", 0, 0,
           "Take the client address from the last X-Forwarded-For entry (only behind a reverse proxy).", console_cfg_t,
           trust_forwarded),
    DN_CFG("DUNNING_CONSOLE_LOGIN_MAX", DN_CFG_INT, "10", 1, 10000,
           "Failed logins per client address per DUNNING_CONSOLE_LOGIN_WINDOW; once reached, every login from the "
           "address is refused with 429 until the window has passed.",
           console_cfg_t, login_max),
    DN_CFG("DUNNING_CONSOLE_LOGIN_WINDOW", DN_CFG_DURATION, "5m", 1000, 86400000,
           "The window of DUNNING_CONSOLE_LOGIN_MAX.", console_cfg_t, login_window_ms),
    DN_CFG("DUNNING_CONSOLE_WORKLIST_MAX", DN_CFG_INT, "100000", 100, 10000000,
           "Most rows of one CSV export of the worklist (the default and the largest limit).", console_cfg_t,
           worklist_max),
    DN_CFG("DUNNING_CONSOLE_PUBLISH_TIMEOUT", DN_CFG_DURATION, "10s", 100, 120000,
           "How long an action waits for the broker to acknowledge its CaseCommand.", console_cfg_t, publish_ms),
    DN_CFG(
        "DUNNING_LETTER_SPOOL_DIR", DN_CFG_STRING, "", 0, 0,
        "sender-letter's spool folder, where the case view finds each letter's PDF (empty: $DUNNING_HOME/.run/spool, "
        "as sender-letter).",
        console_cfg_t, spool_dir),
    DN_CFG("DUNNING_VOICE_AUDIO_DIR", DN_CFG_STRING, "", 0, 0,
           "sender-voice's audio folder, where the case view finds each call's message (empty: $DUNNING_RUN_DIR/voice, "
           "or .run/voice, as sender-voice).",
           console_cfg_t, audio_dir),
    DN_CFG("DUNNING_CONSOLE_LAG_GROUPS", DN_CFG_STRING,
           "dunning-engine=invoice-issued,payment-received,payment-failed,case-commands,reminder-outcomes,"
           "payment-method-updated;sender-email=reminder-due.email;sender-sms=reminder-due.sms;"
           "sender-letter=reminder-due.letter;sender-voice=reminder-due.voice",
           0, 0,
           "The consumer groups whose lag the overview shows, each with the topics it reads (without "
           "DUNNING_TOPIC_PREFIX): group=topic,topic;... Set it to the groups' names when DUNNING_ENGINE_GROUP or a "
           "sender's group is not the default.",
           console_cfg_t, lag_groups),
};
#define CONFIG_N (sizeof(config_table) / sizeof(config_table[0]))

static console_t console;

/* The pages' paths: one page (index.html) that draws the view its path names. */
static void page(dn_web_req_t *req, void *arg)
{
    (void)arg;
    dn_web_file(req, "/index.html");
}

static void healthz(dn_web_req_t *req, void *arg)
{
    (void)arg;
    dn_web_json(req, 200, json_pack("{s:s}", "status", "ok"));
}

int main(int argc, char **argv)
{
    console_t *c = &console;
    char errstr[512];
    int status = 1;
    if (argc > 1 && strcmp(argv[1], "--config-doc") == 0) {
        dn_config_print_doc(stdout, "dunning-console", config_table, CONFIG_N);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: dunning-console [--config-doc]\nConfigured by DUNNING_* environment variables "
                        "(docs/configuration.md).\n");
        return 2;
    }
    if (dn_config_load(config_table, CONFIG_N, &c->cfg, errstr, sizeof(errstr)) < 0) {
        dn_log_init("dunning-console", "info");
        dn_log_error("invalid configuration", "detail", errstr, NULL);
        return 2;
    }
    if (dn_log_init("dunning-console", c->cfg.common.log_level) < 0) {
        dn_log_error("invalid configuration", "detail", "DUNNING_LOG_LEVEL: use debug, info, warn or error", NULL);
        return 2;
    }
    if (dn_clock_init_from_cfg(&c->cfg.common) < 0) {
        dn_log_error("invalid configuration", "detail", "DUNNING_CLOCK_FILE: cannot read a clock line from it", NULL);
        return 2;
    }
    dn_topics_init(c->cfg.common.topic_prefix);
    if (!c->cfg.spool_dir[0]) { /* the senders' defaults */
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/.run/spool", c->cfg.common.home);
        free(c->cfg.spool_dir);
        c->cfg.spool_dir = strdup(dir);
    }
    if (!c->cfg.audio_dir[0]) {
        const char *run = getenv("DUNNING_RUN_DIR");
        char dir[4096];
        snprintf(dir, sizeof(dir), "%s/voice", run && run[0] ? run : ".run");
        free(c->cfg.audio_dir);
        c->cfg.audio_dir = strdup(dir);
    }
    dn_signal_install();
    char policy_path[4096];
    dn_policy_path(c->cfg.policy_file, c->cfg.common.home, policy_path, sizeof(policy_path));
    if (dn_avro_init(errstr, sizeof(errstr)) < 0 ||
        !(c->policies = dn_policy_set_load(policy_path, errstr, sizeof(errstr))) ||
        !(c->pg = dn_pg_new(c->cfg.common.pg_dsn, errstr, sizeof(errstr))) ||
        !(c->producer = dn_kafka_producer_new(c->cfg.common.kafka_brokers, errstr, sizeof(errstr))) ||
        dl_start(c, errstr, sizeof(errstr)) < 0 || events_start(c, errstr, sizeof(errstr)) < 0 ||
        lag_start(c, errstr, sizeof(errstr)) < 0) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        status = 2;
        goto out;
    }
    if (worklist_rows_build(c) < 0) {
        dn_log_error("cannot start", "detail", "the worklist query cannot be built", "hint", dn_pg_errstr(c->pg), NULL);
        status = 2;
        goto out;
    }
    c->login_limit = dn_web_limit_new(4096, (unsigned)c->cfg.login_max, c->cfg.login_window_ms);
    char web_dir[4096];
    if (c->cfg.static_dir && *c->cfg.static_dir)
        snprintf(web_dir, sizeof(web_dir), "%s", c->cfg.static_dir);
    else
        snprintf(web_dir, sizeof(web_dir), "%s/services/console/web", c->cfg.common.home);
    dn_web_conf_t wc = {
        .addr = c->cfg.addr,
        .addr_file = c->cfg.addr_file,
        .static_dir = web_dir,
        .cookie_name = COOKIE_NAME,
        .body_max = 64 * 1024,
        .secure_cookies = c->cfg.secure_cookies,
        .trust_forwarded = c->cfg.trust_forwarded,
        .session_fn = auth_session,
        .denied_fn = auth_denied,
        .arg = c,
    };
    if (!(c->web = dn_web_new(&wc, errstr, sizeof(errstr)))) {
        dn_log_error("cannot start", "detail", errstr, NULL);
        status = 2;
        goto out;
    }
    dn_web_route(c->web, "GET", "/healthz", healthz, DN_WEB_PUBLIC);
    dn_web_route(c->web, "GET", "/cases/{}", page, DN_WEB_PUBLIC);
    dn_web_route(c->web, "GET", "/overview", page, DN_WEB_PUBLIC);
    dn_web_route(c->web, "GET", "/login", page, DN_WEB_PUBLIC);
    auth_routes(c);
    worklist_routes(c);
    cases_routes(c);
    events_routes(c);
    overview_routes(c);
    dn_log_info("console listening", "addr", dn_web_bound(c->web), "policy_file", policy_path, NULL);
    worklist_sync(c, 1); /* before the first request: the rows of a new database are built now */
    while (!dn_signal_stopping()) {
        if (dn_web_run(c->web, (int)c->cfg.common.poll_ms) < 0) {
            dn_log_error("http server failed", NULL);
            goto out;
        }
        dn_kafka_producer_poll(c->producer);
        events_poll(c);
        dl_poll(c);
        worklist_sync_poll(c);
    }
    dn_log_info("console stopping", NULL);
    status = 0;
out:
    dn_web_destroy(c->web); /* ends the event streams */
    dn_kafka_consumer_destroy(c->consumer);
    dn_kafka_consumer_destroy(c->dl_consumer);
    free(c->dl);
    lag_stop(c);
    dn_web_limit_destroy(c->login_limit);
    dn_kafka_producer_destroy(c->producer, (int)c->cfg.common.shutdown_ms);
    dn_pg_destroy(c->pg);
    dn_policy_set_destroy(c->policies);
    dn_pdf_shutdown(); /* the timeline PDFs' fonts (export.c), for the leak checker */
    worklist_rows_free(c);
    dn_config_free(config_table, CONFIG_N, &c->cfg);
    return status;
}
