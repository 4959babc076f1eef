/* dunningctl topics create: creates every topic of the registry on a real Kafka cluster with
 * the partition counts, retention and cleanup policies of deploy/topics.json (the one place
 * they are kept), through librdkafka's Admin API. Idempotent: a topic that exists is
 * reported and left alone. --dry-run prints the equivalent kafka-topics.sh commands. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "dn_kafka.h"
#include "dn_topics.h"

typedef struct topic_spec {
    const char *name; /* unprefixed, as in the registry */
    int partitions;
    int replication;
    int min_insync;
    json_int_t retention_ms;
    const char *cleanup;
} topic_spec_t;

static int get_int(json_t *obj, json_t *defaults, const char *key, json_int_t *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v && defaults)
        v = json_object_get(defaults, key);
    if (!json_is_integer(v))
        return -1;
    *out = json_integer_value(v);
    return 0;
}

/* Reads and checks the settings file: every registry topic exactly once, nothing else.
 * Returns the number of specs (DN_TOPIC__COUNT) or -1 with a message on stderr. */
static int load_specs(const char *path, json_t **root_out, topic_spec_t *specs, int rf_override,
                      int min_insync_override)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        fprintf(stderr, "dunningctl topics: %s:%d: %s\n", path, jerr.line, jerr.text);
        return -1;
    }
    *root_out = root;
    json_t *defaults = json_object_get(root, "defaults"), *topics = json_object_get(root, "topics");
    if (!json_is_array(topics)) {
        fprintf(stderr, "dunningctl topics: %s: no \"topics\" array\n", path);
        return -1;
    }
    int seen[DN_TOPIC__COUNT] = {0};
    size_t i;
    json_t *t;
    json_array_foreach(topics, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        dn_topic_id_t id;
        if (!name || dn_topic_lookup(name, &id) < 0 || strcmp(name, dn_topic_defs[id].name) != 0) {
            fprintf(stderr, "dunningctl topics: %s: topic %zu: '%s' is not a topic of schemas/registry.json\n", path, i,
                    name ? name : "(no name)");
            return -1;
        }
        if (seen[id]++) {
            fprintf(stderr, "dunningctl topics: %s: topic '%s' appears twice\n", path, name);
            return -1;
        }
        json_int_t partitions, replication, min_insync, retention;
        json_t *cleanup = json_object_get(t, "cleanup_policy");
        if (!cleanup && defaults)
            cleanup = json_object_get(defaults, "cleanup_policy");
        const char *cp = json_string_value(cleanup);
        if (get_int(t, NULL, "partitions", &partitions) < 0 || partitions < 1 || partitions > 10000 ||
            get_int(t, defaults, "replication_factor", &replication) < 0 || replication < 1 || replication > 32 ||
            get_int(t, defaults, "min_insync_replicas", &min_insync) < 0 || min_insync < 1 ||
            get_int(t, defaults, "retention_ms", &retention) < 0 || (retention < 1 && retention != -1) || !cp ||
            (strcmp(cp, "delete") != 0 && strcmp(cp, "compact") != 0 && strcmp(cp, "compact,delete") != 0)) {
            fprintf(stderr,
                    "dunningctl topics: %s: topic '%s' needs partitions (1-10000), replication_factor (1-32), "
                    "min_insync_replicas (>= 1), retention_ms (> 0 or -1) and cleanup_policy (delete, compact, "
                    "compact,delete)\n",
                    path, name);
            return -1;
        }
        topic_spec_t *s = &specs[id];
        s->name = name;
        s->partitions = (int)partitions;
        s->replication = rf_override > 0 ? rf_override : (int)replication;
        s->min_insync = min_insync_override > 0 ? min_insync_override : (int)min_insync;
        if (s->min_insync > s->replication)
            s->min_insync = s->replication;
        s->retention_ms = retention;
        s->cleanup = cp;
    }
    for (int id = 0; id < DN_TOPIC__COUNT; id++)
        if (!seen[id]) {
            fprintf(stderr, "dunningctl topics: %s: no settings for topic '%s'\n", path, dn_topic_defs[id].name);
            return -1;
        }
    return DN_TOPIC__COUNT;
}

static void print_dry_run(const ctl_cfg_t *cfg, const topic_spec_t *specs)
{
    printf("# kafka-topics.sh commands equivalent to `dunningctl topics create` (add --command-config FILE\n"
           "# with the client's TLS/SASL settings for a secured cluster)\n");
    for (int id = 0; id < DN_TOPIC__COUNT; id++) {
        const topic_spec_t *s = &specs[id];
        printf("kafka-topics.sh --bootstrap-server %s --create --if-not-exists --topic %s --partitions %d "
               "--replication-factor %d --config cleanup.policy=%s --config retention.ms=%" JSON_INTEGER_FORMAT
               " --config min.insync.replicas=%d\n",
               cfg->common.kafka_brokers, dn_topic_name((dn_topic_id_t)id), s->partitions, s->replication, s->cleanup,
               s->retention_ms, s->min_insync);
    }
}

/* Partition count of every topic that exists (-1: does not). 0/-1. */
static int existing_partitions(rd_kafka_t *rk, int *counts, int timeout_ms)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (err) {
        fprintf(stderr, "dunningctl topics: cannot read the cluster's metadata: %s\n", rd_kafka_err2str(err));
        return -1;
    }
    for (int id = 0; id < DN_TOPIC__COUNT; id++) {
        counts[id] = -1;
        for (int i = 0; i < md->topic_cnt; i++)
            if (!md->topics[i].err && strcmp(md->topics[i].topic, dn_topic_name((dn_topic_id_t)id)) == 0)
                counts[id] = md->topics[i].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

static int create_missing(rd_kafka_t *rk, const topic_spec_t *specs, const int *counts, int timeout_ms)
{
    rd_kafka_NewTopic_t *nts[DN_TOPIC__COUNT];
    int n = 0, rc = 0;
    char errstr[512], num[32];
    for (int id = 0; id < DN_TOPIC__COUNT; id++) {
        const topic_spec_t *s = &specs[id];
        if (counts[id] >= 0)
            continue;
        rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(dn_topic_name((dn_topic_id_t)id), s->partitions, s->replication,
                                                        errstr, sizeof(errstr));
        if (!nt) {
            fprintf(stderr, "dunningctl topics: %s: %s\n", s->name, errstr);
            rc = 1;
            goto out;
        }
        nts[n++] = nt;
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, s->retention_ms);
        rd_kafka_NewTopic_set_config(nt, "retention.ms", num);
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", s->cleanup);
        snprintf(num, sizeof(num), "%d", s->min_insync);
        rd_kafka_NewTopic_set_config(nt, "min.insync.replicas", num);
    }
    if (n == 0)
        goto out;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof(errstr));
    rd_kafka_CreateTopics(rk, nts, (size_t)n, opts, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 5000);
    const rd_kafka_CreateTopics_result_t *res = ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
    if (!ev || rd_kafka_event_error(ev) || !res) {
        fprintf(stderr, "dunningctl topics: CreateTopics failed: %s\n",
                !ev                        ? "no answer in time"
                : rd_kafka_event_error(ev) ? rd_kafka_event_error_string(ev)
                                           : "unexpected answer");
        rc = 1;
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **trs = rd_kafka_CreateTopics_result_topics(res, &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t err = rd_kafka_topic_result_error(trs[i]);
            const char *name = rd_kafka_topic_result_name(trs[i]);
            dn_topic_id_t id;
            int wanted = dn_topic_lookup(name, &id) == 0 ? specs[id].partitions : 0;
            if (!err)
                printf("created %s (%d partitions)\n", name, wanted);
            else if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                printf("exists  %s\n", name);
            else {
                const char *msg = rd_kafka_topic_result_error_string(trs[i]);
                printf("failed  %s: %s\n", name, msg && *msg ? msg : rd_kafka_err2str(err));
                rc = 1;
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
out:
    rd_kafka_NewTopic_destroy_array(nts, (size_t)n);
    return rc;
}

static int parse_count(const char *arg, const char *flag, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || v < 1 || v > 32) {
        fprintf(stderr, "dunningctl topics create: %s takes 1..32\n", flag);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int ctl_topics(ctl_cfg_t *cfg, int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "create") != 0) {
        fprintf(stderr, "usage: dunningctl topics create [--dry-run] [--file deploy/topics.json] "
                        "[--replication-factor N] [--min-insync-replicas N] [--timeout-ms MS]\n");
        return 2;
    }
    char path[4096];
    const char *file = NULL;
    int dry_run = 0, rf = 0, min_insync = 0, timeout_ms = 30000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0)
            dry_run = 1;
        else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc)
            file = argv[++i];
        else if (strcmp(argv[i], "--replication-factor") == 0 && i + 1 < argc) {
            if (parse_count(argv[++i], "--replication-factor", &rf) < 0)
                return 2;
        } else if (strcmp(argv[i], "--min-insync-replicas") == 0 && i + 1 < argc) {
            if (parse_count(argv[++i], "--min-insync-replicas", &min_insync) < 0)
                return 2;
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            timeout_ms = atoi(argv[++i]);
            if (timeout_ms < 100 || timeout_ms > 600000) {
                fprintf(stderr, "dunningctl topics create: --timeout-ms takes 100..600000\n");
                return 2;
            }
        } else {
            fprintf(stderr, "dunningctl topics create: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!file) {
        snprintf(path, sizeof(path), "%s/deploy/topics.json", cfg->common.home);
        file = path;
    }
    json_t *root = NULL;
    topic_spec_t specs[DN_TOPIC__COUNT];
    memset(specs, 0, sizeof(specs));
    int rc = 1;
    rd_kafka_t *rk = NULL;
    if (load_specs(file, &root, specs, rf, min_insync) < 0)
        goto out;
    if (dry_run) {
        print_dry_run(cfg, specs);
        rc = 0;
        goto out;
    }
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->common.kafka_brokers, errstr, sizeof(errstr)) ||
        dn_kafka_conf_passthrough(conf, NULL, errstr, sizeof(errstr)) < 0 ||
        !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
        fprintf(stderr, "dunningctl topics: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    conf = NULL; /* now owned by rk */
    int counts[DN_TOPIC__COUNT];
    if (existing_partitions(rk, counts, timeout_ms) < 0)
        goto out;
    rc = 0;
    for (int id = 0; id < DN_TOPIC__COUNT; id++) {
        if (counts[id] < 0)
            continue;
        printf("exists  %s (%d partitions", dn_topic_name((dn_topic_id_t)id), counts[id]);
        if (counts[id] < specs[id].partitions)
            printf("; the settings want %d: add them with kafka-topics.sh --alter --partitions, knowing that "
                   "keys then move to other partitions",
                   specs[id].partitions);
        printf(")\n");
    }
    rc = create_missing(rk, specs, counts, timeout_ms);
out:
    if (rk)
        rd_kafka_destroy(rk);
    json_decref(root);
    return rc;
}
