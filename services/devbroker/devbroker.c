/* dunning-devbroker: the embedded development broker. Hosts librdkafka's mock cluster
 * (a Kafka-protocol broker in this process), creates every topic of the registry with
 * the given partition count, writes its bootstrap address to a file and serves until
 * SIGTERM/SIGINT. In memory only; ~5 MiB retained per partition (see docs/stack.md).
 *
 *   dunning-devbroker [--partitions N] [--brokers N] [--addr-file PATH] [--control-dir DIR]
 *
 * Fault injection: with --control-dir, the loop looks into DIR every 100 ms for request
 * files NAME.cmd (one command line, written elsewhere and renamed in), applies each with
 * the mock cluster API, writes the answer as one JSON line to NAME.json (written to
 * NAME.json.tmp and renamed) and logs it. `scripts/stack broker ...` is the client.
 *
 *   down ID | up ID                  broker ID (1..N, -1 all) refuses / accepts connections
 *   rtt ID MS                        broker ID answers MS milliseconds late (0 ends it)
 *   errors API COUNT ERR             the next COUNT requests of API (Produce, Fetch, ...)
 *                                    fail with ERR (NOT_LEADER_FOR_PARTITION, _TRANSPORT, ...)
 *   clear API                        drops the errors still queued for API
 *   leader TOPIC PARTITION ID        moves the leader (TOPIC "all", PARTITION -1: every one;
 *                                    ID -1: leaderless)
 *   info                             brokers, partitions, topics
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dn_log.h"
#include "dn_signal.h"
#include "dn_topics.h"

#define MAX_ERRORS 1000

static int write_atomically(const char *path, const char *text)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%s\n", text) > 0;
    ok &= fclose(f) == 0;
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

/* The Kafka protocol request types a fault can target (ApiKey numbers of the protocol). */
static const struct {
    const char *name;
    int16_t key;
} api_keys[] = {
    {"Produce", 0},      {"Fetch", 1},        {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8}, {"OffsetFetch", 9},  {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},   {"LeaveGroup", 13},  {"SyncGroup", 14},       {"DescribeGroups", 15},
    {"ListGroups", 16},  {"ApiVersions", 18}, {"InitProducerId", 22},  {"OffsetForLeaderEpoch", 23},
};

static int api_lookup(const char *name, int16_t *key)
{
    for (size_t i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
        if (strcasecmp(name, api_keys[i].name) == 0) {
            *key = api_keys[i].key;
            return 0;
        }
    }
    char *end;
    long n = strtol(name, &end, 10);
    if (*name && !*end && n >= 0 && n < 100) {
        *key = (int16_t)n;
        return 0;
    }
    return -1;
}

/* Error names as librdkafka spells them (rd_kafka_get_err_descs), with or without the
 * RD_KAFKA_RESP_ERR_ prefix: NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT, _TRANSPORT. */
static int err_lookup(const char *name, rd_kafka_resp_err_t *err)
{
    if (strncasecmp(name, "RD_KAFKA_RESP_ERR_", 18) == 0)
        name += 18;
    const struct rd_kafka_err_desc *descs;
    size_t cnt;
    rd_kafka_get_err_descs(&descs, &cnt);
    for (size_t i = 0; i < cnt; i++) {
        if (descs[i].name && strcasecmp(descs[i].name, name) == 0) {
            *err = descs[i].code;
            return 0;
        }
    }
    return -1;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (!*s || *end || errno || n < lo || n > hi)
        return -1;
    *out = n;
    return 0;
}

typedef struct {
    rd_kafka_mock_cluster_t *mc;
    int brokers;
    int partitions;
} broker_t;

/* Appends a JSON string (escaped) to buf. */
static void json_str(char *buf, size_t size, const char *s)
{
    size_t n = strlen(buf);
    if (n + 2 >= size)
        return;
    buf[n++] = '"';
    for (; *s && n + 8 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(buf + n, size - n, "\\u%04x", c);
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n++] = '"';
    buf[n] = '\0';
}

/* Sets the leader of one partition, or of every partition (-1) of one topic. */
static rd_kafka_resp_err_t set_leader(broker_t *b, const char *topic, long partition, long id)
{
    for (int p = 0; p < b->partitions; p++) {
        if (partition >= 0 && p != partition)
            continue;
        rd_kafka_resp_err_t err = rd_kafka_mock_partition_set_leader(b->mc, topic, p, (int32_t)id);
        if (err)
            return err;
    }
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* Applies one command line; writes the JSON answer into out. Returns 0 when applied. */
static int apply(broker_t *b, char *line, char *out, size_t size)
{
    char *argv[8];
    int argc = 0;
    for (char *tok = strtok(line, " \t\r\n"); tok && argc < 8; tok = strtok(NULL, " \t\r\n"))
        argv[argc++] = tok;
    const char *problem = NULL;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    long id = 0, n = 0, part = 0;
    int16_t api = 0;
    rd_kafka_resp_err_t code = RD_KAFKA_RESP_ERR_NO_ERROR;
    char detail[256] = "";

    if (argc == 0) {
        problem = "empty command";
    } else if ((strcmp(argv[0], "down") == 0 || strcmp(argv[0], "up") == 0) && argc == 2) {
        if (parse_int(argv[1], -1, b->brokers, &id) < 0 || id == 0)
            problem = "broker id must be 1..brokers or -1";
        else if (strcmp(argv[0], "down") == 0)
            err = rd_kafka_mock_broker_set_down(b->mc, (int32_t)id);
        else
            err = rd_kafka_mock_broker_set_up(b->mc, (int32_t)id);
    } else if (strcmp(argv[0], "rtt") == 0 && argc == 3) {
        if (parse_int(argv[1], -1, b->brokers, &id) < 0 || id == 0)
            problem = "broker id must be 1..brokers or -1";
        else if (parse_int(argv[2], 0, 600000, &n) < 0)
            problem = "rtt must be 0..600000 ms";
        else
            err = rd_kafka_mock_broker_set_rtt(b->mc, (int32_t)id, (int)n);
    } else if (strcmp(argv[0], "errors") == 0 && argc == 4) {
        if (api_lookup(argv[1], &api) < 0)
            problem = "unknown api (Produce, Fetch, OffsetCommit, Metadata, ...)";
        else if (parse_int(argv[2], 1, MAX_ERRORS, &n) < 0)
            problem = "count must be 1..1000";
        else if (err_lookup(argv[3], &code) < 0)
            problem = "unknown error name (as in rd_kafka_err2name: NOT_LEADER_FOR_PARTITION, _TRANSPORT, ...)";
        else {
            rd_kafka_resp_err_t codes[MAX_ERRORS];
            for (long i = 0; i < n; i++)
                codes[i] = code;
            rd_kafka_mock_push_request_errors_array(b->mc, api, (size_t)n, codes);
            snprintf(detail, sizeof(detail), "%s", rd_kafka_err2name(code));
        }
    } else if (strcmp(argv[0], "clear") == 0 && argc == 2) {
        if (api_lookup(argv[1], &api) < 0)
            problem = "unknown api";
        else
            rd_kafka_mock_clear_request_errors(b->mc, api);
    } else if (strcmp(argv[0], "leader") == 0 && argc == 4) {
        dn_topic_id_t t;
        int all = strcmp(argv[1], "all") == 0;
        if (!all && dn_topic_lookup(argv[1], &t) < 0)
            problem = "unknown topic (a registry topic or all)";
        else if (parse_int(argv[2], -1, b->partitions - 1, &part) < 0)
            problem = "partition must be 0..partitions-1 or -1";
        else if (parse_int(argv[3], -1, b->brokers, &id) < 0 || id == 0)
            problem = "broker id must be 1..brokers or -1";
        else if (all) {
            for (int i = 0; i < DN_TOPIC__COUNT && !err; i++)
                err = set_leader(b, dn_topic_name((dn_topic_id_t)i), part, id);
        } else {
            err = set_leader(b, dn_topic_name(t), part, id);
        }
    } else if (strcmp(argv[0], "info") == 0 && argc == 1) {
        snprintf(detail, sizeof(detail), "%d brokers, %d partitions, %d topics", b->brokers, b->partitions,
                 (int)DN_TOPIC__COUNT);
    } else {
        problem = "usage: down ID | up ID | rtt ID MS | errors API COUNT ERR | clear API | "
                  "leader TOPIC PARTITION ID | info";
    }
    if (!problem && err)
        problem = rd_kafka_err2str(err);

    char cmd[512] = "";
    for (int i = 0; i < argc; i++)
        snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%s%s", i ? " " : "", argv[i]);
    snprintf(out, size, "{\"ok\":%s,\"command\":", problem ? "false" : "true");
    json_str(out, size, cmd);
    if (problem) {
        snprintf(out + strlen(out), size - strlen(out), ",\"error\":");
        json_str(out, size, problem);
    }
    if (!problem && strcmp(argv[0], "info") == 0)
        snprintf(out + strlen(out), size - strlen(out), ",\"brokers\":%d,\"partitions\":%d,\"topics\":%d", b->brokers,
                 b->partitions, (int)DN_TOPIC__COUNT);
    snprintf(out + strlen(out), size - strlen(out), "}");
    if (problem)
        dn_log_warn("control command refused", "command", cmd, "error", problem, NULL);
    else
        dn_log_info("control command applied", "command", cmd, "detail", detail[0] ? detail : NULL, NULL);
    return problem ? -1 : 0;
}

/* One pass over the control folder: every NAME.cmd is applied in name order, answered
 * in NAME.json and removed. */
static void serve_control(broker_t *b, const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        size_t len = strlen(name);
        if (len > 4 && strcmp(name + len - 4, ".cmd") == 0 && len < 200) {
            char path[4096], answer_path[4096], line[1024] = "", answer[2048];
            snprintf(path, sizeof(path), "%s/%s", dir, name);
            snprintf(answer_path, sizeof(answer_path), "%s/%.*s.json", dir, (int)(len - 4), name);
            FILE *f = fopen(path, "r");
            if (f) {
                if (!fgets(line, sizeof(line), f))
                    line[0] = '\0';
                fclose(f);
            }
            unlink(path);
            apply(b, line, answer, sizeof(answer));
            if (write_atomically(answer_path, answer) < 0)
                dn_log_error("cannot write the control answer", "path", answer_path, NULL);
        }
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    int partitions = 8, brokers = 1;
    const char *addr_file = NULL, *control_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
            partitions = atoi(argv[++i]);
        else if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
            brokers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--addr-file") == 0 && i + 1 < argc)
            addr_file = argv[++i];
        else if (strcmp(argv[i], "--control-dir") == 0 && i + 1 < argc)
            control_dir = argv[++i];
        else {
            fprintf(stderr, "usage: dunning-devbroker [--partitions N] [--brokers N] [--addr-file PATH] "
                            "[--control-dir DIR]\n");
            return 2;
        }
    }
    if (partitions < 1 || partitions > 1024 || brokers < 1 || brokers > 16) {
        fprintf(stderr, "dunning-devbroker: --partitions must be 1..1024 and --brokers 1..16\n");
        return 2;
    }
    dn_log_init("dunning-devbroker", getenv("DUNNING_LOG_LEVEL") ? getenv("DUNNING_LOG_LEVEL") : "info");
    dn_topics_init(getenv("DUNNING_TOPIC_PREFIX"));
    dn_signal_install();

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The handle only hosts the cluster; keep its own logging quiet. */
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        dn_log_error("cannot create the host handle", "detail", errstr, NULL);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        dn_log_error("cannot create the mock cluster", NULL);
        rd_kafka_destroy(rk);
        return 1;
    }
    broker_t b = {.mc = mc, .brokers = brokers, .partitions = partitions};
    char count[16], nbrokers[16];
    snprintf(count, sizeof(count), "%d", partitions);
    snprintf(nbrokers, sizeof(nbrokers), "%d", brokers);
    /* With several brokers every partition gets replicas (up to 3), so that a leader
     * can move to another broker the way it does in a real cluster. */
    int replicas = brokers < 3 ? brokers : 3;
    for (int t = 0; t < DN_TOPIC__COUNT; t++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, dn_topic_name((dn_topic_id_t)t), partitions, replicas);
        if (err) {
            dn_log_error("cannot create topic", "topic", dn_topic_name((dn_topic_id_t)t), "error",
                         rd_kafka_err2str(err), NULL);
            goto out;
        }
    }
    if (control_dir) {
        /* Requests left from an earlier broker are not for this one. */
        struct dirent **names = NULL;
        int n = scandir(control_dir, &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", control_dir, names[i]->d_name);
            if (names[i]->d_name[0] != '.')
                unlink(path);
            free(names[i]);
        }
        free(names);
        if (n < 0) {
            dn_log_error("cannot read the control folder", "path", control_dir, "detail", strerror(errno), NULL);
            goto out;
        }
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);
    if (addr_file && write_atomically(addr_file, bootstraps) < 0) {
        dn_log_error("cannot write the address file", "path", addr_file, NULL);
        goto out;
    }
    printf("%s\n", bootstraps);
    fflush(stdout);
    dn_log_info("broker ready", "bootstrap", bootstraps, "partitions", count, "brokers", nbrokers, "control_dir",
                control_dir, NULL);
    while (!dn_signal_stopping()) {
        if (control_dir)
            serve_control(&b, control_dir);
        usleep(100 * 1000);
    }
    dn_log_info("broker stopping", NULL);
out:
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    if (addr_file)
        unlink(addr_file);
    return 0;
}
