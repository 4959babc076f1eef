/* dunning-devbroker: the embedded development broker. Hosts librdkafka's mock cluster
 * (a Kafka-protocol broker in this process), creates every topic of the registry with
 * the given partition count, writes its bootstrap address to a file and serves until
 * SIGTERM/SIGINT. In memory only; ~5 MiB retained per partition (see docs/stack.md).
 *
 *   dunning-devbroker [--partitions N] [--brokers N] [--addr-file PATH]
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dn_log.h"
#include "dn_signal.h"
#include "dn_topics.h"

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

int main(int argc, char **argv)
{
    int partitions = 8, brokers = 1;
    const char *addr_file = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--partitions") == 0 && i + 1 < argc)
            partitions = atoi(argv[++i]);
        else if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
            brokers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--addr-file") == 0 && i + 1 < argc)
            addr_file = argv[++i];
        else {
            fprintf(stderr, "usage: dunning-devbroker [--partitions N] [--brokers N] [--addr-file PATH]\n");
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
    char count[16];
    snprintf(count, sizeof(count), "%d", partitions);
    for (int t = 0; t < DN_TOPIC__COUNT; t++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc, dn_topic_name((dn_topic_id_t)t), partitions, 1);
        if (err) {
            dn_log_error("cannot create topic", "topic", dn_topic_name((dn_topic_id_t)t), "error",
                         rd_kafka_err2str(err), NULL);
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
    dn_log_info("broker ready", "bootstrap", bootstraps, "partitions", count, NULL);
    while (!dn_signal_stopping())
        usleep(100 * 1000);
    dn_log_info("broker stopping", NULL);
out:
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    if (addr_file)
        unlink(addr_file);
    return 0;
}
