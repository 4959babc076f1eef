/* dn-bench-watch: watches the benchmark's output topics.
 *
 *   dn-bench-watch count --topic T --target N [--timeout S]
 *     reads the sum of the topic's high watermarks at start (the baseline), prints
 *     "ready" on stderr, then polls every 100 ms until N more records are on the topic.
 *     Result: the real time (epoch ms) the first new record and the last one were seen.
 *   dn-bench-watch latency --topic T --expect N [--match PREFIX] [--timeout S]
 *     consumes the topic from the start (a fresh consumer group) and, for each ReminderDue,
 *     the delay from its due_at (dunning clock) to its publication (the record's
 *     timestamp, turned into dunning-clock time with the clock file). Result: count and
 *     p50/p99/max in ms. Meaningful with a clock running at speed 1. --match: only
 *     reminders whose invoice id starts with PREFIX count.
 * The result is one JSON line on stdout. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_kafka.h"
#include "dn_log.h"
#include "dn_topics.h"

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *group, char *errstr, size_t size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", getenv("DUNNING_KAFKA_BROKERS"), errstr, size) ||
        (group && (rd_kafka_conf_set(conf, "group.id", group, errstr, size) ||
                   rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, size) ||
                   rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, size)))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, size);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

static int64_t watermark_sum(rd_kafka_t *rk, const char *topic, int *ok)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    *ok = 0;
    int64_t sum = 0;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
        *ok = 1;
        for (int p = 0; p < md->topics[0].partition_cnt; p++) {
            int64_t lo, hi;
            if (rd_kafka_query_watermark_offsets(rk, topic, md->topics[0].partitions[p].id, &lo, &hi, 5000))
                *ok = 0;
            else
                sum += hi;
        }
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return sum;
}

static int count(const char *topic, long target, int timeout_s)
{
    char errstr[512];
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, NULL, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "dn-bench-watch: %s\n", errstr);
        return 1;
    }
    int ok;
    int64_t base = watermark_sum(rk, topic, &ok), seen = 0, first_ms = 0, last_ms = 0;
    if (!ok) {
        fprintf(stderr, "dn-bench-watch: cannot read the watermarks of %s\n", topic);
        return 1;
    }
    fprintf(stderr, "ready\n");
    int64_t start = real_ms(), printed = 0;
    while (seen < target && real_ms() - start < (int64_t)timeout_s * 1000) {
        usleep(100000);
        int64_t sum = watermark_sum(rk, topic, &ok);
        if (!ok)
            continue;
        int64_t now = real_ms();
        if (sum - base > seen) {
            if (seen == 0)
                first_ms = now;
            last_ms = now;
            seen = sum - base;
        }
        if (now - printed >= 1000) {
            printed = now;
            fprintf(stderr, "\r  %s: %" PRId64 "/%ld records   ", topic, seen, target);
        }
    }
    fprintf(stderr, "\r%60s\r", "");
    printf("{\"topic\":\"%s\",\"records\":%" PRId64 ",\"first_ms\":%" PRId64 ",\"last_ms\":%" PRId64 ",\"ok\":%s}\n",
           topic, seen, first_ms, last_ms, seen >= target ? "true" : "false");
    rd_kafka_destroy(rk);
    return seen >= target ? 0 : 1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int latency(const char *topic, long expect, int timeout_s, const char *match)
{
    char errstr[512], group[64];
    snprintf(group, sizeof(group), "bench-watch-%d", (int)getpid());
    rd_kafka_t *rk = client(RD_KAFKA_CONSUMER, group, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "dn-bench-watch: %s\n", errstr);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    int64_t *lat = calloc((size_t)expect + 1, sizeof(*lat));
    long n = 0, bad = 0;
    int64_t start = real_ms(), printed = 0;
    while (n < expect && real_ms() - start < (int64_t)timeout_s * 1000) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (!m->err) {
            dn_reminder_due_t v = {0};
            dn_avro_err_t err;
            rd_kafka_timestamp_type_t tt;
            int64_t ts = rd_kafka_message_timestamp(m, &tt);
            if (dn_reminder_due_decode(m->payload, m->len, &v, &err) == 0 && ts > 0) {
                if (match && strncmp(v.invoice_id, match, strlen(match)) != 0) {
                    dn_reminder_due_free(&v);
                    rd_kafka_message_destroy(m);
                    continue;
                }
                /* Publication time on the dunning clock: the clock file's formula. */
                int64_t pub = dn_clock_now_ms() - (real_ms() - ts) * dn_clock_speed();
                lat[n++] = pub - v.due_at;
            } else {
                bad++;
            }
            dn_reminder_due_free(&v);
        }
        rd_kafka_message_destroy(m);
        if (real_ms() - printed >= 1000) {
            printed = real_ms();
            fprintf(stderr, "\r  %s: %ld/%ld reminders   ", topic, n, expect);
        }
    }
    fprintf(stderr, "\r%60s\r", "");
    qsort(lat, (size_t)n, sizeof(*lat), cmp_i64);
    printf("{\"topic\":\"%s\",\"records\":%ld,\"undecodable\":%ld,\"p50_ms\":%" PRId64 ",\"p99_ms\":%" PRId64
           ",\"max_ms\":%" PRId64 ",\"ok\":%s}\n",
           topic, n, bad, n ? lat[n / 2] : 0, n ? lat[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] : 0,
           n ? lat[n - 1] : 0, n >= expect ? "true" : "false");
    free(lat);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n >= expect ? 0 : 1;
}

int main(int argc, char **argv)
{
    static const struct option lopts[] = {{"topic", 1, 0, 't'},   {"target", 1, 0, 'n'}, {"expect", 1, 0, 'n'},
                                          {"timeout", 1, 0, 'T'}, {"match", 1, 0, 'm'},  {0, 0, 0, 0}};
    const char *topic = NULL, *match = NULL;
    long n = 0;
    int timeout_s = 600;
    if (argc < 2 || (strcmp(argv[1], "count") != 0 && strcmp(argv[1], "latency") != 0)) {
        fprintf(stderr, "usage: dn-bench-watch count|latency --topic T --target N [--timeout S]\n");
        return 2;
    }
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
        if (ch == 't')
            topic = optarg;
        else if (ch == 'n')
            n = atol(optarg);
        else if (ch == 'm')
            match = optarg;
        else if (ch == 'T')
            timeout_s = atoi(optarg);
        else
            return 2;
    }
    char errstr[512];
    dn_log_init("dn-bench-watch", "warn");
    dn_topics_init(getenv("DUNNING_TOPIC_PREFIX") ? getenv("DUNNING_TOPIC_PREFIX") : "");
    const char *clock_file = getenv("DUNNING_CLOCK_FILE");
    if (!topic || n < 1 || !getenv("DUNNING_KAFKA_BROKERS") || dn_avro_init(errstr, sizeof(errstr)) < 0 ||
        (clock_file && *clock_file && dn_clock_init_file(clock_file) < 0)) {
        fprintf(stderr, "dn-bench-watch: need --topic, a positive count, DUNNING_KAFKA_BROKERS and the schemas\n");
        return 2;
    }
    dn_topic_id_t id;
    if (dn_topic_lookup(topic, &id) == 0)
        topic = dn_topic_name(id);
    return argv[1][0] == 'c' ? count(topic, n, timeout_s) : latency(topic, n, timeout_s, match);
}
