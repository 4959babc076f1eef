/* The dead letters for the overview: no table holds them (they are records on the
 * `dead-letter` topic), so the console reads the topic from its beginning in a consumer group
 * of its own (never committed) and keeps, in memory, what the overview counts of each: when,
 * the tenant, the service that gave up, the source topic and the error code. At most DL_MAX
 * are kept (the oldest go first; the overview says how many were dropped). */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dn_avro.h"
#include "dn_log.h"
#include "dn_topics.h"

#define DL_MAX   200000
#define DL_BATCH 500

struct console_dl {
    int64_t at;
    char tenant[64];
    char service[32];
    char topic[64];
    char code[32];
};

int dl_start(console_t *c, char *errstr, size_t errstr_size)
{
    unsigned char rnd[6];
    char hex[13], group[64];
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    snprintf(group, sizeof(group), "dunning-console-dl-%s", hex);
    const char *topics[] = {dn_topic_name(DN_TOPIC_DEAD_LETTER)};
    if (!(c->dl = calloc(DL_MAX, sizeof(*c->dl)))) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    c->dl_consumer = dn_kafka_consumer_new(c->cfg.common.kafka_brokers, group, topics, 1, errstr, errstr_size);
    return c->dl_consumer ? 0 : -1;
}

void dl_poll(console_t *c)
{
    if (!c->dl_consumer)
        return;
    rd_kafka_message_t *msgs[DL_BATCH];
    size_t n = dn_kafka_consumer_poll_batch(c->dl_consumer, msgs, DL_BATCH, 0);
    for (size_t i = 0; i < n; i++) {
        dn_dead_letter_t d;
        dn_avro_err_t err;
        if (dn_dead_letter_decode(msgs[i]->payload, msgs[i]->len, &d, &err) < 0) {
            dn_log_warn("dead letter not decoded", "code", dn_avro_code_str(err.code), "detail", err.msg, NULL);
            continue;
        }
        console_dl_t *e = &c->dl[(c->dl_first + c->dl_n) % DL_MAX];
        if (c->dl_n == DL_MAX) {
            c->dl_first = (c->dl_first + 1) % DL_MAX;
            c->dl_dropped++;
        } else {
            c->dl_n++;
        }
        e->at = d.occurred_at;
        snprintf(e->tenant, sizeof(e->tenant), "%s", d.tenant_id ? d.tenant_id : "");
        snprintf(e->service, sizeof(e->service), "%s", d.service ? d.service : "");
        snprintf(e->topic, sizeof(e->topic), "%s", d.source_topic ? d.source_topic : "");
        snprintf(e->code, sizeof(e->code), "%s", d.error_code ? d.error_code : "");
        dn_dead_letter_free(&d);
    }
    dn_kafka_messages_destroy(msgs, n);
}

/* 1 if the user (tenants_json) sees tenant, and tenant is `only` when that is given. */
static int dl_sees(json_t *tenants, const char *only, const char *tenant)
{
    if (only && strcmp(only, tenant) != 0)
        return 0;
    size_t i;
    json_t *t;
    json_array_foreach(tenants, i, t)
    {
        const char *s = json_string_value(t);
        if (s && (strcmp(s, "*") == 0 || strcmp(s, tenant) == 0))
            return 1;
    }
    return 0;
}

json_t *dl_overview(console_t *c, const char *tenants_json, const char *only, int64_t from_ms, int64_t to_ms)
{
    json_t *tenants = json_loads(tenants_json, 0, NULL), *groups = json_array();
    for (size_t k = 0; k < c->dl_n && tenants; k++) {
        const console_dl_t *e = &c->dl[(c->dl_first + k) % DL_MAX];
        if (e->at < from_ms || e->at >= to_ms || !dl_sees(tenants, only, e->tenant))
            continue;
        size_t i;
        json_t *g, *found = NULL;
        json_array_foreach(groups, i, g)
        {
            if (strcmp(json_string_value(json_object_get(g, "service")), e->service) == 0 &&
                strcmp(json_string_value(json_object_get(g, "source_topic")), e->topic) == 0 &&
                strcmp(json_string_value(json_object_get(g, "error_code")), e->code) == 0) {
                found = g;
                break;
            }
        }
        if (found)
            json_object_set_new(found, "count", json_integer(json_integer_value(json_object_get(found, "count")) + 1));
        else
            json_array_append_new(groups, json_pack("{s:s, s:s, s:s, s:i}", "service", e->service, "source_topic",
                                                    e->topic, "error_code", e->code, "count", 1));
    }
    json_decref(tenants);
    return json_pack("{s:o, s:I}", "groups", groups, "dropped", (json_int_t)c->dl_dropped);
}
