/* dunningctl pause/resume (by invoice or customer), timers stats, dlq list/replay,
 * policy check, templates check: the operator's tools. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_kafka.h"
#include "dn_pg.h"
#include "dn_timers.h"
#include "dn_topics.h"
#include "dn_policy.h"

int ctl_pause_resume(ctl_cfg_t *cfg, const char *command, int argc, char **argv)
{
    const char *customer = NULL, *tenant = NULL, *invoice = NULL;
    /* Everything but --customer goes on to `case pause|resume`. */
    char **rest = calloc((size_t)argc + 4, sizeof(char *));
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--customer") == 0 && i + 1 < argc) {
            customer = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc)
            tenant = argv[i + 1];
        if (argv[i][0] != '-' && (i == 0 || argv[i - 1][0] != '-') && !invoice) {
            invoice = argv[i];
            continue;
        }
        rest[nrest++] = argv[i];
    }
    int rc = 2;
    if (!customer) {
        if (invoice) {
            rest[nrest++] = (char *)invoice;
            rc = ctl_case_command(cfg, command, nrest, rest);
        } else
            fprintf(stderr, "usage: dunningctl %s INVOICE|--customer ID --tenant T [--reason R] [--until DATE]\n",
                    command);
        free(rest);
        return rc;
    }
    if (invoice || !tenant) {
        fprintf(stderr, "dunningctl %s: give an invoice or --customer ID, with --tenant\n", command);
        free(rest);
        return 2;
    }
    char errstr[512];
    dn_pg_t *pg = dn_pg_new(cfg->common.pg_dsn, errstr, sizeof(errstr));
    if (!pg) {
        fprintf(stderr, "dunningctl %s: %s\n", command, errstr);
        free(rest);
        return 1;
    }
    /* pause: every case still dunning; resume: every paused case. */
    const char *params[] = {tenant, customer};
    PGresult *r =
        dn_pg_query(pg,
                    strcmp(command, "pause") == 0
                        ? "SELECT invoice_id FROM cases WHERE tenant_id = $1 AND customer_id = $2 AND state "
                          "NOT IN ('resolved', 'written_off', 'handed_over') ORDER BY invoice_id"
                        : "SELECT invoice_id FROM cases WHERE tenant_id = $1 AND customer_id = $2 AND state = "
                          "'paused' ORDER BY invoice_id",
                    2, params);
    rc = r ? 0 : 1;
    int n = r ? PQntuples(r) : 0;
    rest[nrest++] = "--customer";
    rest[nrest++] = (char *)customer;
    for (int i = 0; i < n && rc == 0; i++) {
        rest[nrest] = PQgetvalue(r, i, 0);
        rc = ctl_case_command(cfg, command, nrest + 1, rest);
    }
    if (r && n == 0)
        fprintf(stderr, "dunningctl %s: customer %s of tenant %s has no case to %s\n", command, customer, tenant,
                command);
    PQclear(r);
    dn_pg_destroy(pg);
    free(rest);
    return rc;
}

int ctl_timers_stats(ctl_cfg_t *cfg, int argc, char **argv)
{
    int json = argc == 1 && strcmp(argv[0], "--json") == 0;
    if (argc > 0 && !json) {
        fprintf(stderr, "usage: dunningctl timers stats [--json]\n");
        return 2;
    }
    char errstr[512];
    dn_timers_t *t =
        dn_timers_new(cfg->common.redis_url, cfg->timer_key, (unsigned)cfg->timer_buckets, errstr, sizeof(errstr));
    if (!t) {
        fprintf(stderr, "dunningctl timers stats: %s\n", errstr);
        return 1;
    }
    int64_t pending = 0, earliest = INT64_MAX, due = 0, now = dn_clock_now_ms();
    int ok = dn_timers_stats(t, &pending, &earliest) == 0 && dn_timers_count_due(t, now, &due) == 0;
    int marker = ok ? dn_timers_marker_exists(t) : -1;
    if (!ok || marker < 0) {
        fprintf(stderr, "dunningctl timers stats: %s\n", dn_timers_errstr(t));
        dn_timers_destroy(t);
        return 1;
    }
    /* Overdue-by: how long the oldest due timer has been waiting (0 if none is due). */
    int64_t overdue_s = earliest != INT64_MAX && earliest <= now ? (now - earliest) / 1000 : 0;
    char next[40] = "-";
    if (earliest != INT64_MAX)
        dn_time_format(earliest, next, sizeof(next));
    if (json)
        printf("{\"pending\": %" PRId64 ", \"due\": %" PRId64 ", \"oldest_due_overdue_seconds\": %" PRId64
               ", \"earliest\": \"%s\", \"index_built\": %s}\n",
               pending, due, overdue_s, next, marker ? "true" : "false");
    else
        printf("pending   %" PRId64 "\ndue now   %" PRId64 "\noverdue   %" PRId64
               " s (the oldest due timer)\nearliest  %s\nindex     %s\n",
               pending, due, overdue_s, next,
               marker ? "built"
                      : "marker missing or another bucket count: the engine will rebuild it (or dunningctl timers "
                        "rebuild)");
    dn_timers_destroy(t);
    return 0;
}

int ctl_timers_get(ctl_cfg_t *cfg, int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: dunningctl timers get CASE_ID\n");
        return 2;
    }
    char errstr[512];
    dn_timers_t *t =
        dn_timers_new(cfg->common.redis_url, cfg->timer_key, (unsigned)cfg->timer_buckets, errstr, sizeof(errstr));
    if (!t) {
        fprintf(stderr, "dunningctl timers get: %s\n", errstr);
        return 1;
    }
    int64_t due = 0;
    int found = dn_timers_get(t, argv[0], &due);
    if (found < 0)
        fprintf(stderr, "dunningctl timers get: %s\n", dn_timers_errstr(t));
    else if (found)
        printf("%" PRId64 "\n", due);
    dn_timers_destroy(t);
    return found == 1 ? 0 : 1;
}

/* Reads the dead-letter topic (up to its end now). Each element: the DeadLetter as JSON. */
static json_t *read_dead_letters(ctl_cfg_t *cfg)
{
    char errstr[512];
    json_t *out = json_array();
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->common.kafka_brokers, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "group.id", "dunningctl-dlq", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
        fprintf(stderr, "dunningctl dlq: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        json_decref(out);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    const char *name = dn_topic_name(DN_TOPIC_DEAD_LETTER);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, name, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (err || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "dunningctl dlq: no metadata for %s\n", name);
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(rk);
        json_decref(out);
        return NULL;
    }
    int np = md->topics[0].partition_cnt, pending = 0;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(np);
    int64_t *end = calloc((size_t)np, sizeof(int64_t));
    for (int i = 0; i < np; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo = 0, hi = 0;
        rd_kafka_query_watermark_offsets(rk, name, p, &lo, &hi, 10000);
        end[i] = hi;
        if (lo < hi) {
            rd_kafka_topic_partition_list_add(parts, name, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
            pending++;
        }
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_assign(rk, parts);
    int64_t last = dn_clock_real_now_ms();
    while (pending > 0 && dn_clock_real_now_ms() - last < 10000) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            last = dn_clock_real_now_ms();
            dn_avro_err_t aerr;
            json_t *v = dn_avro_to_json(m->payload, m->len, &aerr);
            if (v)
                json_array_append_new(out, v);
            if (m->offset + 1 >= end[m->partition])
                pending--;
        }
        rd_kafka_message_destroy(m);
    }
    free(end);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return out;
}

static int dlq_matches(json_t *dl, const char *topic, const char *code, char **ids, int nids)
{
    const char *t = json_string_value(json_object_get(dl, "source_topic"));
    const char *c = json_string_value(json_object_get(dl, "error_code"));
    const char *id = json_string_value(json_object_get(dl, "event_id"));
    if (topic && (!t || strcmp(t, topic) != 0))
        return 0;
    if (code && (!c || strcmp(c, code) != 0))
        return 0;
    if (nids == 0)
        return 1;
    for (int i = 0; i < nids; i++)
        if (id && strcmp(ids[i], id) == 0)
            return 1;
    return 0;
}

static unsigned char *b64_decode(const char *s, size_t *n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(s);
    unsigned char *out = malloc(len / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; out && i < len && s[i] != '='; i++) {
        const char *p = strchr(tbl, s[i]);
        if (!p || !s[i]) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (uint32_t)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    *n = o;
    return out;
}

int ctl_dlq(ctl_cfg_t *cfg, int argc, char **argv)
{
    int list = argc > 0 && strcmp(argv[0], "list") == 0, replay = argc > 0 && strcmp(argv[0], "replay") == 0;
    const char *topic = NULL, *code = NULL;
    int json = 0, all = 0, nids = 0;
    char **ids = calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--topic") == 0 && next)
            topic = argv[++i];
        else if (strcmp(argv[i], "--code") == 0 && next)
            code = argv[++i];
        else if (strcmp(argv[i], "--id") == 0 && next)
            ids[nids++] = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--all") == 0)
            all = 1;
        else
            list = replay = 0;
    }
    if ((!list && !replay) || (replay && nids == 0 && !all && !code && !topic)) {
        fprintf(stderr, "usage: dunningctl dlq list [--topic T] [--code C] [--json]\n"
                        "       dunningctl dlq replay (--id DEAD_LETTER_ID ... | --code C | --topic T | --all)\n"
                        "replay publishes each record's original bytes and key again to its source topic.\n");
        free(ids);
        return 2;
    }
    json_t *dls = read_dead_letters(cfg);
    if (!dls) {
        free(ids);
        return 1;
    }
    size_t i;
    json_t *dl;
    int rc = 0, matched = 0;
    if (list) {
        json_t *sel = json_array();
        json_array_foreach(dls, i, dl) if (dlq_matches(dl, topic, code, ids, nids)) json_array_append(sel, dl);
        if (json) {
            char *s = json_dumps(sel, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("%s\n", s);
            free(s);
        } else {
            json_array_foreach(sel, i, dl)
            {
                printf("%s  %s  %s[%" JSON_INTEGER_FORMAT "]@%" JSON_INTEGER_FORMAT "  %s: %s\n",
                       json_string_value(json_object_get(dl, "event_id")),
                       json_string_value(json_object_get(dl, "occurred_at")),
                       json_string_value(json_object_get(dl, "source_topic")),
                       json_integer_value(json_object_get(dl, "source_partition")),
                       json_integer_value(json_object_get(dl, "source_offset")),
                       json_string_value(json_object_get(dl, "error_code")),
                       json_string_value(json_object_get(dl, "reason")));
            }
            printf("%zu dead letter(s)\n", json_array_size(sel));
        }
        json_decref(sel);
    } else {
        char errstr[512];
        dn_kafka_producer_t *p = dn_kafka_producer_new(cfg->common.kafka_brokers, errstr, sizeof(errstr));
        if (!p) {
            fprintf(stderr, "dunningctl dlq replay: %s\n", errstr);
            rc = 1;
        }
        json_array_foreach(dls, i, dl)
        {
            if (rc || !dlq_matches(dl, topic, code, ids, nids))
                continue;
            size_t plen = 0, klen = 0;
            const char *src = json_string_value(json_object_get(dl, "source_topic"));
            const char *key64 = json_string_value(json_object_get(dl, "key"));
            unsigned char *payload = b64_decode(json_string_value(json_object_get(dl, "payload")), &plen);
            unsigned char *key = key64 ? b64_decode(key64, &klen) : NULL;
            if (!src || !payload || dn_kafka_producer_send(p, src, key, klen, payload, plen) < 0) {
                fprintf(stderr, "dunningctl dlq replay: %s: cannot replay\n",
                        json_string_value(json_object_get(dl, "event_id")));
                rc = 1;
            } else {
                printf("replayed %s to %s\n", json_string_value(json_object_get(dl, "event_id")), src);
                matched++;
            }
            free(payload);
            free(key);
        }
        if (p) {
            if (dn_kafka_producer_flush(p, 30000) < 0)
                rc = 1;
            dn_kafka_producer_destroy(p, 1000);
        }
        fprintf(stderr, "dunningctl dlq replay: %d record(s) published again\n", matched);
    }
    json_decref(dls);
    free(ids);
    return rc;
}

int ctl_policy_check(ctl_cfg_t *cfg, int argc, char **argv)
{
    char path[4096], errstr[512];
    if (argc > 1) {
        fprintf(stderr,
                "usage: dunningctl policy check [FILE]   (default: $DUNNING_HOME/config/policies/default.yaml)\n");
        return 2;
    }
    dn_policy_path(argc == 1 ? argv[0] : NULL, cfg->common.home, path, sizeof(path));
    policy_set_t *ps = dn_policy_set_load(path, errstr, sizeof(errstr));
    if (!ps) {
        fprintf(stderr, "%s\n", errstr);
        return 1;
    }
    size_t np = 0;
    for (size_t i = 0; i < ps->ntenants; i++)
        np += ps->tenants[i].npolicies;
    printf("%s: %zu tenant(s), %zu polic%s, valid\n", path, ps->ntenants, np, np == 1 ? "y" : "ies");
    dn_policy_set_destroy(ps);
    return 0;
}

int ctl_templates_check(ctl_cfg_t *cfg, int argc, char **argv)
{
    char dir[4096];
    if (argc > 1) {
        fprintf(stderr, "usage: dunningctl templates check [DIR]   (default: $DUNNING_HOME/config/templates)\n");
        return 2;
    }
    if (argc == 1)
        snprintf(dir, sizeof(dir), "%s", argv[0]);
    else
        snprintf(dir, sizeof(dir), "%s/config/templates", cfg->common.home);
    /* Each sender checks its channel's templates as it renders them. */
    int problems = 0;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        fprintf(stderr, "dunningctl templates check: cannot find the sender binaries\n");
        return 1;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    static const char *const senders[] = {"sender-email", "sender-sms", "sender-letter", "sender-voice"};
    for (size_t i = 0; i < sizeof(senders) / sizeof(senders[0]); i++) {
        char bin[4200];
        snprintf(bin, sizeof(bin), "%s/%s", self, senders[i]);
        if (access(bin, X_OK) != 0) {
            fprintf(stderr, "dunningctl templates check: %s not found next to dunningctl\n", senders[i]);
            problems++;
            continue;
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            setenv("DUNNING_TEMPLATE_DIR", dir, 1);
            execl(bin, senders[i], "--check-templates", (char *)NULL);
            _exit(127);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            problems++;
    }
    return problems ? 1 : 0;
}
