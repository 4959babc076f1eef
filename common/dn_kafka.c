#include "dn_kafka.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_log.h"

extern char **environ;

struct dn_kafka_consumer {
    rd_kafka_t *rk;
    int assigned;
};

struct dn_kafka_producer {
    rd_kafka_t *rk;
    int failed; /* delivery failures since the last flush */
};

int dn_kafka_conf_passthrough(rd_kafka_conf_t *conf, const char *role, char *errstr, size_t errstr_size)
{
    static const char prefix[] = "DUNNING_RDKAFKA_";
    static const char *const roles[] = {"CONSUMER_", "PRODUCER_"};
    for (char **e = environ; *e; e++) {
        if (strncmp(*e, prefix, sizeof(prefix) - 1) != 0)
            continue;
        const char *name = *e + sizeof(prefix) - 1;
        int skip = 0;
        for (size_t r = 0; r < sizeof(roles) / sizeof(roles[0]); r++) {
            size_t rl = strlen(roles[r]);
            if (strncmp(name, roles[r], rl) == 0) {
                skip = !role || strncmp(roles[r], role, rl - 1) != 0;
                name += rl;
                break;
            }
        }
        if (skip)
            continue;
        const char *eq = strchr(name, '=');
        if (!eq || eq == name)
            continue;
        char key[128];
        size_t n = (size_t)(eq - name);
        if (n >= sizeof(key)) {
            snprintf(errstr, errstr_size, "%.*s: name too long", (int)(eq - *e), *e);
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            key[i] = name[i] == '_' ? '.' : name[i];
        key[n] = '\0';
        char rderr[256];
        if (rd_kafka_conf_set(conf, key, eq + 1, rderr, sizeof(rderr)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "%.*s: %s", (int)(eq - *e), *e, rderr);
            return -1;
        }
    }
    return 0;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    dn_log_level_t l = level <= 3 ? DN_LOG_ERROR : level <= 4 ? DN_LOG_WARN : level <= 6 ? DN_LOG_INFO : DN_LOG_DEBUG;
    if (dn_log_enabled(l))
        dn_log(l, "kafka", "facility", fac, "detail", buf, NULL);
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    dn_log_warn("kafka error", "error", rd_kafka_err2name((rd_kafka_resp_err_t)err), "detail", reason, NULL);
}

static rd_kafka_conf_t *base_conf(const char *brokers, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, errstr_size) != RD_KAFKA_CONF_OK)
        goto fail;
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static int conf_set_all(rd_kafka_conf_t *conf, const char *const *kv, char *errstr, size_t errstr_size)
{
    for (; *kv; kv += 2) {
        if (rd_kafka_conf_set(conf, kv[0], kv[1], errstr, errstr_size) != RD_KAFKA_CONF_OK)
            return -1;
    }
    return 0;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    dn_kafka_consumer_t *c = opaque;
    char count[16];
    snprintf(count, sizeof(count), "%d", parts->cnt);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        c->assigned = parts->cnt;
        dn_log_info("partitions assigned", "count", count, NULL);
    } else {
        /* Every batch is committed before the next poll, so nothing is pending here. */
        rd_kafka_assign(rk, NULL);
        c->assigned = 0;
        dn_log_info("partitions revoked", "count", count, NULL);
    }
}

dn_kafka_consumer_t *dn_kafka_consumer_new(const char *brokers, const char *group, const char *const *topics,
                                           size_t ntopics, char *errstr, size_t errstr_size)
{
    static const char *const settings[] = {
        "enable.auto.commit", "false", "enable.auto.offset.store", "false", "auto.offset.reset", "earliest",
        "enable.partition.eof", "false",
        /* Reminders are latency-sensitive and traffic is light: do not let an idle fetch sit 500 ms. */
        "fetch.wait.max.ms", "100", NULL};
    dn_kafka_consumer_t *c = calloc(1, sizeof(*c));
    rd_kafka_topic_partition_list_t *subs = NULL;
    rd_kafka_conf_t *conf = base_conf(brokers, errstr, errstr_size);
    if (!c || !conf)
        goto fail;
    if (rd_kafka_conf_set(conf, "group.id", group, errstr, errstr_size) != RD_KAFKA_CONF_OK ||
        conf_set_all(conf, settings, errstr, errstr_size) < 0 ||
        dn_kafka_conf_passthrough(conf, "CONSUMER", errstr, errstr_size) < 0)
        goto fail;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!c->rk)
        goto fail;
    conf = NULL; /* now owned by rk */
    rd_kafka_poll_set_consumer(c->rk);
    subs = rd_kafka_topic_partition_list_new((int)ntopics);
    for (size_t i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    if (err) {
        snprintf(errstr, errstr_size, "subscribe: %s", rd_kafka_err2str(err));
        goto fail;
    }
    return c;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (c && c->rk)
        rd_kafka_destroy(c->rk);
    free(c);
    return NULL;
}

size_t dn_kafka_consumer_poll_batch(dn_kafka_consumer_t *c, rd_kafka_message_t **msgs, size_t max, int timeout_ms)
{
    size_t n = 0;
    while (n < max) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, n == 0 ? timeout_ms : 0);
        if (!m)
            break;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                dn_log_warn("consume error", "error", rd_kafka_err2name(m->err), "detail", rd_kafka_message_errstr(m),
                            NULL);
            rd_kafka_message_destroy(m);
            continue;
        }
        msgs[n++] = m;
    }
    return n;
}

int dn_kafka_consumer_commit(dn_kafka_consumer_t *c, rd_kafka_message_t **msgs, size_t n)
{
    if (n == 0)
        return 0;
    rd_kafka_topic_partition_list_t *offs = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++) {
        const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(offs, topic, msgs[i]->partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(offs, topic, msgs[i]->partition);
        if (msgs[i]->offset + 1 > tp->offset)
            tp->offset = msgs[i]->offset + 1;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(c->rk, offs, 0);
    rd_kafka_topic_partition_list_destroy(offs);
    if (err) {
        dn_log_warn("offset commit failed", "error", rd_kafka_err2name(err), "hint",
                    "records will be redelivered and skipped as duplicates", NULL);
        return -1;
    }
    return 0;
}

int dn_kafka_consumer_assigned(dn_kafka_consumer_t *c)
{
    return c->assigned;
}

int dn_kafka_consumer_lag(dn_kafka_consumer_t *c, dn_kafka_lag_fn fn, void *arg)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(c->rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    rd_kafka_position(c->rk, parts);
    rd_kafka_topic_partition_list_sort(parts, NULL, NULL); /* by topic, then partition */
    int64_t lag = 0;
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo, hi;
        if (p->offset >= 0 &&
            rd_kafka_get_watermark_offsets(c->rk, p->topic, p->partition, &lo, &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi > p->offset)
            lag += hi - p->offset;
        if (i + 1 == parts->cnt || strcmp(p->topic, parts->elems[i + 1].topic) != 0) {
            fn(p->topic, lag, arg);
            lag = 0;
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return 0;
}

struct dn_kafka_group {
    rd_kafka_t *rk;
};

dn_kafka_group_t *dn_kafka_group_new(const char *brokers, const char *group, char *errstr, size_t errstr_size)
{
    static const char *const settings[] = {"enable.auto.commit", "false", "enable.auto.offset.store", "false", NULL};
    dn_kafka_group_t *g = calloc(1, sizeof(*g));
    rd_kafka_conf_t *conf = base_conf(brokers, errstr, errstr_size);
    if (!g || !conf)
        goto fail;
    if (rd_kafka_conf_set(conf, "group.id", group, errstr, errstr_size) != RD_KAFKA_CONF_OK ||
        conf_set_all(conf, settings, errstr, errstr_size) < 0 ||
        dn_kafka_conf_passthrough(conf, "CONSUMER", errstr, errstr_size) < 0)
        goto fail;
    g->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!g->rk)
        goto fail;
    return g; /* conf is owned by rk */
fail:
    if (conf && !(g && g->rk))
        rd_kafka_conf_destroy(conf);
    free(g);
    return NULL;
}

int dn_kafka_group_lag(dn_kafka_group_t *g, const char *const *topics, size_t ntopics, int timeout_ms, int64_t *lag,
                       int *partitions, char *errstr, size_t errstr_size)
{
    int rc = -1;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(64);
    *lag = 0;
    *partitions = 0;
    for (size_t t = 0; t < ntopics; t++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(g->rk, topics[t], NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rkt ? rd_kafka_metadata(g->rk, 0, rkt, &md, timeout_ms) : RD_KAFKA_RESP_ERR__FAIL;
        if (rkt)
            rd_kafka_topic_destroy(rkt);
        if (err) {
            snprintf(errstr, errstr_size, "metadata of %s: %s", topics[t], rd_kafka_err2str(err));
            goto out;
        }
        for (int i = 0; i < md->topic_cnt; i++)
            if (!md->topics[i].err)
                for (int p = 0; p < md->topics[i].partition_cnt; p++)
                    rd_kafka_topic_partition_list_add(parts, topics[t], md->topics[i].partitions[p].id);
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_resp_err_t err = rd_kafka_committed(g->rk, parts, timeout_ms);
    if (err) {
        snprintf(errstr, errstr_size, "committed offsets: %s", rd_kafka_err2str(err));
        goto out;
    }
    for (int i = 0; i < parts->cnt; i++) {
        const rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t lo, hi;
        err = rd_kafka_query_watermark_offsets(g->rk, p->topic, p->partition, &lo, &hi, timeout_ms);
        if (err) {
            snprintf(errstr, errstr_size, "watermarks of %s [%d]: %s", p->topic, (int)p->partition,
                     rd_kafka_err2str(err));
            goto out;
        }
        int64_t from = p->err == RD_KAFKA_RESP_ERR_NO_ERROR && p->offset >= 0 ? p->offset : lo;
        if (from < lo)
            from = lo; /* committed below what is retained: only what is left can be read */
        if (hi > from)
            *lag += hi - from;
    }
    *partitions = parts->cnt;
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(parts);
    return rc;
}

void dn_kafka_group_destroy(dn_kafka_group_t *g)
{
    if (!g)
        return;
    rd_kafka_destroy(g->rk);
    free(g);
}

int dn_kafka_consumer_ready(dn_kafka_consumer_t *c, int timeout_ms, char *why, size_t why_size)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(c->rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        int assigned = parts->cnt;
        rd_kafka_topic_partition_list_destroy(parts);
        if (assigned > 0)
            return 1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(c->rk, 0, NULL, &md, timeout_ms);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        int brokers = md->broker_cnt;
        rd_kafka_metadata_destroy(md);
        if (brokers > 0)
            return 1;
    }
    snprintf(why, why_size, "no partitions assigned and no broker answered (%s)",
             err ? rd_kafka_err2name(err) : "no brokers");
    return 0;
}

void dn_kafka_consumer_destroy(dn_kafka_consumer_t *c)
{
    if (!c)
        return;
    rd_kafka_consumer_close(c->rk);
    rd_kafka_destroy(c->rk);
    free(c);
}

void dn_kafka_messages_destroy(rd_kafka_message_t **msgs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_destroy(msgs[i]);
        msgs[i] = NULL;
    }
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    dn_kafka_producer_t *p = opaque;
    if (m->err) {
        p->failed++;
        dn_log_warn("delivery failed", "topic", rd_kafka_topic_name(m->rkt), "error", rd_kafka_err2name(m->err), NULL);
    }
}

dn_kafka_producer_t *dn_kafka_producer_new(const char *brokers, char *errstr, size_t errstr_size)
{
    static const char *const settings[] = {"enable.idempotence", "true", "acks", "all", "linger.ms", "5", NULL};
    dn_kafka_producer_t *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = base_conf(brokers, errstr, errstr_size);
    if (!p || !conf)
        goto fail;
    if (conf_set_all(conf, settings, errstr, errstr_size) < 0 ||
        dn_kafka_conf_passthrough(conf, "PRODUCER", errstr, errstr_size) < 0)
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!p->rk)
        goto fail;
    return p;
fail:
    if (conf && !(p && p->rk))
        rd_kafka_conf_destroy(conf);
    free(p);
    return NULL;
}

int dn_kafka_producer_send(dn_kafka_producer_t *p, const char *topic, const void *key, size_t key_len,
                           const void *value, size_t value_len)
{
    for (int tries = 0;; tries++) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key_len),
            RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!err)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries >= 100) {
            dn_log_warn("produce failed", "topic", topic, "error", rd_kafka_err2name(err), NULL);
            return -1;
        }
        rd_kafka_poll(p->rk, 100);
    }
}

int dn_kafka_producer_flush(dn_kafka_producer_t *p, int timeout_ms)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, timeout_ms);
    int failed = p->failed;
    p->failed = 0;
    if (err) {
        dn_log_warn("producer flush timed out", "error", rd_kafka_err2name(err), NULL);
        return -1;
    }
    return failed ? -1 : 0;
}

void dn_kafka_producer_poll(dn_kafka_producer_t *p)
{
    rd_kafka_poll(p->rk, 0);
}

void dn_kafka_producer_destroy(dn_kafka_producer_t *p, int flush_timeout_ms)
{
    if (!p)
        return;
    if (rd_kafka_flush(p->rk, flush_timeout_ms))
        dn_log_warn("producer closed with undelivered records", NULL);
    rd_kafka_destroy(p->rk);
    free(p);
}
