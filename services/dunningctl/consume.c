/* dunningctl consume: a topic's records as JSON lines, from the beginning up to the end
 * the topic had when the command started, without joining a consumer group (nothing is
 * committed). So `consume` right after a write sees that write, on any machine speed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_kafka.h"
#include "dn_topics.h"

int ctl_consume(ctl_cfg_t *cfg, int argc, char **argv)
{
    const char *topic_arg = NULL;
    long max = -1, idle_ms = 10000;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--max") == 0 && i + 1 < argc)
            max = atol(argv[++i]);
        else if (strcmp(argv[i], "--idle-ms") == 0 && i + 1 < argc)
            idle_ms = atol(argv[++i]);
        else if (!topic_arg && argv[i][0] != '-')
            topic_arg = argv[i];
        else {
            fprintf(stderr, "dunningctl consume: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    dn_topic_id_t topic;
    if (!topic_arg || dn_topic_lookup(topic_arg, &topic) < 0) {
        fprintf(stderr, "dunningctl consume: %s topic %s\n", topic_arg ? "unknown" : "missing",
                topic_arg ? topic_arg : "");
        return 2;
    }
    const char *name = dn_topic_name(topic);
    char errstr[512];
    int rc = 1;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->common.kafka_brokers, errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "group.id", "dunningctl-consume", errstr, sizeof(errstr)) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
        dn_kafka_conf_passthrough(conf, "CONSUMER", errstr, sizeof(errstr)) < 0 ||
        !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr)))) {
        fprintf(stderr, "dunningctl consume: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, name, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (err || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "dunningctl consume: no metadata for %s: %s\n", name,
                rd_kafka_err2str(err ? err : md->topics[0].err));
        goto out;
    }
    parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, name, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    /* The end to read up to: each partition's high watermark now. */
    int np = parts->cnt, pending = 0;
    int64_t *end = calloc((size_t)np, sizeof(*end)), *next = calloc((size_t)np, sizeof(*next));
    if (!end || !next) {
        free(end);
        free(next);
        fprintf(stderr, "dunningctl consume: out of memory\n");
        goto out;
    }
    for (int i = 0; i < np; i++) {
        int64_t lo, hi;
        err = rd_kafka_query_watermark_offsets(rk, name, parts->elems[i].partition, &lo, &hi, 10000);
        if (err) {
            fprintf(stderr, "dunningctl consume: %s [%d]: %s\n", name, parts->elems[i].partition,
                    rd_kafka_err2str(err));
            free(end);
            free(next);
            goto out;
        }
        end[i] = hi;
        next[i] = lo;
        pending += lo < hi;
    }
    rd_kafka_assign(rk, parts);
    long seen = 0;
    int64_t last = dn_clock_real_now_ms();
    while (pending > 0 && (max < 0 || seen < max) && dn_clock_real_now_ms() - last < idle_ms) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        last = dn_clock_real_now_ms();
        for (int i = 0; i < np; i++)
            if (parts->elems[i].partition == m->partition) {
                int was_pending = next[i] < end[i];
                next[i] = m->offset + 1;
                if (was_pending && next[i] >= end[i])
                    pending--;
                break;
            }
        dn_avro_err_t aerr;
        json_t *out = json_pack("{s:s, s:i, s:I}", "topic", name, "partition", (int)m->partition, "offset",
                                (json_int_t)m->offset);
        json_object_set_new(out, "key", m->key ? json_stringn(m->key, m->key_len) : json_null());
        json_t *value = dn_avro_to_json(m->payload, m->len, &aerr);
        if (value)
            json_object_set_new(out, "value", value);
        else
            json_object_set_new(out, "error", json_string(aerr.msg));
        char *line = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (line)
            printf("%s\n", line);
        free(line);
        json_decref(out);
        rd_kafka_message_destroy(m);
        seen++;
    }
    fflush(stdout);
    if (pending > 0 && (max < 0 || seen < max))
        fprintf(stderr, "dunningctl consume: %d partition(s) of %s not read to the end after %ld ms without records\n",
                pending, name, idle_ms);
    rc = pending > 0 && (max < 0 || seen < max) ? 1 : 0;
    free(end);
    free(next);
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
