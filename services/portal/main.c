/* dunning-portal: the customer's side of the reminders (docs/portal.md). An HTTP service on
 * libdnweb, internet-facing (behind a TLS proxy), separate from the internal console. It
 * reads the customer's cases (role dunning_portal) and sends what the customer asks for as
 * CaseCommands (actor and channel `portal`); it never writes case state. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_signal.h"
#include "dn_topics.h"
#include "portal.h"

static const dn_cfg_entry_t config_table[] = {
    DN_CFG_COMMON(portal_cfg_t),
    DN_CFG("DUNNING_PORTAL_ADDR", DN_CFG_STRING, "127.0.0.1:8090", 0, 0,
           "host:port the portal listens on (plain HTTP: TLS ends at the reverse proxy in front); port 0 picks a "
           "free port.",
           portal_cfg_t, addr),
    DN_CFG("DUNNING_PORTAL_ADDR_FILE", DN_CFG_STRING, "", 0, 0,
           "File the bound host:port is written to at start (useful with port 0).", portal_cfg_t, addr_file),
    DN_CFG("DUNNING_PORTAL_KEYS", DN_CFG_STRING, "", 0, 0,
           "The links' keys, <id>:<base64 of at least 32 bytes>[,...], the senders' list: every key verifies (the "
           "first also keys the forms). Required. Never logged.",
           portal_cfg_t, keys),
    DN_CFG("DUNNING_POLICY_FILE", DN_CFG_STRING, "", 0, 0,
           "Policy file the engine reads (default: $DUNNING_HOME/config/policies/default.yaml): the instalment "
           "plans the page offers and the tenants' payment_url.",
           portal_cfg_t, policy_file),
    DN_CFG("DUNNING_PORTAL_LETTER_DIR", DN_CFG_STRING, "", 0, 0,
           "Folder holding the letters' PDFs as sender-letter wrote them (its DUNNING_LETTER_SPOOL_DIR, or an "
           "archive of it, read-only): the page lists the customer's letters and offers each for download. Empty: "
           "no downloads.",
           portal_cfg_t, letter_dir),
    DN_CFG("DUNNING_PORTAL_PROMISE_MAX_DAYS", DN_CFG_INT, "30", 1, 365,
           "A promise to pay made on the portal is for a date at most this many days ahead (the engine's policy "
           "may refuse it still).",
           portal_cfg_t, promise_max_days),
    DN_CFG("DUNNING_PORTAL_RATE_ADDRESS", DN_CFG_INT, "120", 1, 100000,
           "Requests per minute one client address may make (429 beyond).", portal_cfg_t, per_address_per_min),
    DN_CFG("DUNNING_PORTAL_RATE_LINK", DN_CFG_INT, "60", 1, 100000,
           "Requests per minute one link may be used for, from any address (429 beyond).", portal_cfg_t,
           per_link_per_min),
    DN_CFG("DUNNING_PORTAL_TRUST_FORWARDED", DN_CFG_BOOL, "off", 0, 0,
           "Take the client address from X-Forwarded-For (only behind a proxy that sets it).", portal_cfg_t,
           trust_forwarded),
};
#define CONFIG_N (sizeof(config_table) / sizeof(config_table[0]))

static int no_session(void *arg, dn_web_req_t *req, const char *token, dn_web_session_t *out)
{
    (void)arg;
    (void)req;
    (void)token;
    (void)out;
    return 0;
}

static void denied(void *arg, dn_web_req_t *req, unsigned status, const char *reason)
{
    (void)arg;
    char st[8];
    snprintf(st, sizeof(st), "%u", status);
    dn_log_info("portal request refused", "status", st, "reason", reason, "remote", dn_web_remote(req), NULL);
}

int main(int argc, char **argv)
{
    static portal_cfg_t cfg;
    char err[600] = "";
    if (argc > 1 && !strcmp(argv[1], "--config-doc")) {
        dn_config_print_doc(stdout, "dunning-portal", config_table, CONFIG_N);
        return 0;
    }
    if (argc > 1) {
        fprintf(stderr, "usage: dunning-portal [--config-doc]\n");
        return 2;
    }
    if (dn_config_load(config_table, CONFIG_N, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "dunning-portal: invalid configuration: %s\n", err);
        return 2;
    }
    dn_log_init("dunning-portal", cfg.common.log_level);
    static portal_t p;
    p.cfg = &cfg;
    int rc = 1;
    dn_web_t *w = NULL;
    if (dn_portal_keys_parse(cfg.keys, &p.keys, err, sizeof(err)) < 0 || p.keys.n == 0) {
        dn_log_error("invalid configuration", "detail", p.keys.n == 0 && !err[0] ? "DUNNING_PORTAL_KEYS is empty" : err,
                     NULL);
        rc = 2;
        goto out;
    }
    /* The form tokens' key: a MAC key of its own, derived from the signing key. */
    crypto_auth_hmacsha256(p.form_key, (const unsigned char *)"dn-portal-forms/1", 17, p.keys.k[0].key);
    if (dn_clock_init_from_cfg(&cfg.common) < 0) {
        dn_log_error("invalid configuration", "detail", "DUNNING_CLOCK_FILE: cannot read a clock line from it", NULL);
        rc = 2;
        goto out;
    }
    dn_topics_init(cfg.common.topic_prefix);
    char policy_path[1024];
    dn_policy_path(cfg.policy_file, cfg.common.home, policy_path, sizeof(policy_path));
    if (!(p.policies = dn_policy_set_load(policy_path, err, sizeof(err)))) {
        dn_log_error("invalid configuration", "detail", err, NULL);
        rc = 2;
        goto out;
    }
    if (dn_avro_init(err, sizeof(err)) < 0 || !(p.pg = dn_pg_new(cfg.common.pg_dsn, err, sizeof(err))) ||
        !(p.producer = dn_kafka_producer_new(cfg.common.kafka_brokers, err, sizeof(err)))) {
        dn_log_error("start failed", "detail", err, NULL);
        goto out;
    }
    /* dn_web_limit refuses the max-th event: max = the allowed count + 1. */
    p.by_addr = dn_web_limit_new(4096, (unsigned)cfg.per_address_per_min + 1, 60000);
    p.by_link = dn_web_limit_new(4096, (unsigned)cfg.per_link_per_min + 1, 60000);
    char web_dir[1024];
    snprintf(web_dir, sizeof(web_dir), "%s/services/portal/web", cfg.common.home);
    dn_web_conf_t wc = {.addr = cfg.addr,
                        .addr_file = cfg.addr_file,
                        .static_dir = web_dir,
                        .cookie_name = "dn_portal",
                        .body_max = 8192,
                        .trust_forwarded = cfg.trust_forwarded,
                        .session_fn = no_session,
                        .denied_fn = denied,
                        .arg = &p};
    if (!p.by_addr || !p.by_link || !(w = dn_web_new(&wc, err, sizeof(err))) || portal_routes(&p, w) < 0) {
        dn_log_error("start failed", "detail", w ? "routes" : err, NULL);
        goto out;
    }
    dn_signal_install();
    dn_log_info("started", "addr", dn_web_bound(w), NULL);
    while (!dn_signal_stopping()) {
        if (dn_web_run(w, 200) < 0)
            break;
        dn_kafka_producer_poll(p.producer);
    }
    dn_log_info("stopped", NULL);
    rc = 0;
out:
    dn_web_destroy(w);
    dn_web_limit_destroy(p.by_addr);
    dn_web_limit_destroy(p.by_link);
    if (p.producer)
        dn_kafka_producer_destroy(p.producer, 2000);
    dn_pg_destroy(p.pg);
    dn_policy_set_destroy(p.policies);
    dn_portal_keys_wipe(&p.keys);
    dn_config_free(config_table, CONFIG_N, &cfg);
    return rc;
}
