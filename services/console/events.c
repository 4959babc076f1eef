/* Real time: the engine's case events (dunning-case-events) pushed to the open pages as
 * server-sent events (GET /api/events; docs/console.md#real-time).
 *
 * Every console instance reads the topic in a consumer group of its own (so that each
 * sees every event), from the end (auto.offset.reset=latest, offsets never committed: a
 * restarted console has no pages open that missed anything). An event goes to each open
 * stream whose user sees the event's tenant, as one "case" event of compact JSON: the
 * case's id, tenant, invoice, what happened and the state after it (no customer data).
 * A stream is checked against its session every EVENTS_PING_MS (a ping then keeps it
 * alive): one whose session ended (logout, expiry, a disabled user) is closed. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_topics.h"

#define EVENTS_PING_MS     15000
#define EVENTS_STREAMS_MAX 200 /* of the 256 connections libdnweb takes: room for the API */
#define EVENTS_BATCH       200

struct console_sub {
    console_t *c;
    dn_web_stream_t *s;
    char token[72];
    int all;        /* tenant '*' */
    char **tenants; /* else these */
    size_t ntenants;
    console_sub_t *prev, *next;
};

static void sub_closed(void *arg, dn_web_stream_t *s)
{
    (void)s;
    console_sub_t *sub = arg;
    console_t *c = sub->c;
    if (sub->prev)
        sub->prev->next = sub->next;
    else
        c->subs = sub->next;
    if (sub->next)
        sub->next->prev = sub->prev;
    c->nsubs--;
    for (size_t i = 0; i < sub->ntenants; i++)
        free(sub->tenants[i]);
    free(sub->tenants);
    sodium_memzero(sub->token, sizeof(sub->token));
    free(sub);
}

static int sub_sees(const console_sub_t *sub, const char *tenant)
{
    if (sub->all)
        return 1;
    for (size_t i = 0; i < sub->ntenants; i++)
        if (strcmp(sub->tenants[i], tenant) == 0)
            return 1;
    return 0;
}

static void events_stream(dn_web_req_t *req, void *arg)
{
    console_t *c = arg;
    const console_user_t *u = dn_web_user(req);
    const char *token = dn_web_cookie(req, COOKIE_NAME);
    if (!c->consumer) {
        dn_web_error(req, 503, "real time is off (no consumer of the case events)");
        return;
    }
    if (c->nsubs >= EVENTS_STREAMS_MAX) {
        dn_web_error(req, 503, "too many open event streams");
        return;
    }
    console_sub_t *sub = calloc(1, sizeof(*sub));
    json_t *ts = json_loads(u->tenants_json, 0, NULL);
    size_t n = json_array_size(ts);
    if (!sub || !ts || (n && !(sub->tenants = calloc(n, sizeof(char *))))) {
        free(sub);
        json_decref(ts);
        dn_web_error(req, 500, "out of memory");
        return;
    }
    sub->c = c;
    snprintf(sub->token, sizeof(sub->token), "%s", token ? token : "");
    for (size_t i = 0; i < n; i++) {
        const char *t = json_string_value(json_array_get(ts, i));
        if (!t)
            continue;
        if (strcmp(t, "*") == 0)
            sub->all = 1;
        else if ((sub->tenants[sub->ntenants] = strdup(t)))
            sub->ntenants++;
    }
    json_decref(ts);
    sub->next = c->subs;
    if (sub->next)
        sub->next->prev = sub;
    c->subs = sub;
    c->nsubs++;
    if (!(sub->s = dn_web_stream(req, sub_closed, sub))) {
        /* never opened: unlink by hand (closed_fn is only for opened streams) */
        sub->s = NULL;
        sub_closed(sub, NULL);
    }
}

/* The JSON the pages get for a case event (compact: one "data:" line). */
static char *event_json(const dn_dunning_case_event_t *e)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:i, s:I, s:s, s:s?, s:I}", "event_id", e->event_id,
                          "case_id", e->case_id, "tenant_id", e->tenant_id, "invoice_id", e->invoice_id, "event_type",
                          e->event_type, "from_state", e->from_state, "to_state", e->to_state, "stage", (int)e->stage,
                          "outstanding_minor", (json_int_t)e->outstanding_minor, "currency", e->currency,
                          "caused_by_event_id", e->caused_by_event_id, "occurred_at", (json_int_t)e->occurred_at);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

/* Sessions still valid (without counting as use: an open page does not keep a session
 * from its idle end). 1/0, -1 on a database error (then the stream stays). */
static int session_alive(console_t *c, const char *token)
{
    if (strlen(token) != 64)
        return 0;
    unsigned char h[crypto_hash_sha256_BYTES];
    char hash[2 + 2 * crypto_hash_sha256_BYTES + 1] = "\\x", idle[32];
    crypto_hash_sha256(h, (const unsigned char *)token, 64);
    sodium_bin2hex(hash + 2, sizeof(hash) - 2, h, sizeof(h));
    snprintf(idle, sizeof(idle), "%lld milliseconds", (long long)c->cfg.idle_ms);
    PGresult *r = dn_pg_query(c->pg,
                              "SELECT 1 FROM console_sessions s JOIN console_users u USING (user_id) "
                              "WHERE s.token_hash = $1::bytea AND NOT u.disabled AND s.expires_at > now() "
                              "AND s.last_seen > now() - $2::interval",
                              2, (const char *const[]){hash, idle});
    if (!r)
        return -1;
    int alive = PQntuples(r) == 1;
    PQclear(r);
    return alive;
}

void events_poll(console_t *c)
{
    if (!c->consumer)
        return;
    rd_kafka_message_t *msgs[EVENTS_BATCH];
    size_t n = dn_kafka_consumer_poll_batch(c->consumer, msgs, EVENTS_BATCH, 0);
    for (size_t i = 0; i < n; i++) {
        dn_dunning_case_event_t e;
        dn_avro_err_t err;
        if (dn_dunning_case_event_decode(msgs[i]->payload, msgs[i]->len, &e, &err) < 0) {
            dn_log_warn("case event not decoded", "code", dn_avro_code_str(err.code), "detail", err.msg, NULL);
            continue;
        }
        char *data = c->subs ? event_json(&e) : NULL;
        for (console_sub_t *s = c->subs, *next; s && data; s = next) {
            next = s->next; /* a send over the queue limit ends the stream (freed later, by libdnweb) */
            if (s->s && sub_sees(s, e.tenant_id))
                dn_web_stream_send(s->s, "case", data);
        }
        free(data);
        dn_dunning_case_event_free(&e);
    }
    dn_kafka_messages_destroy(msgs, n);
    int64_t now = dn_clock_real_now_ms();
    if (now - c->last_ping_ms >= EVENTS_PING_MS) {
        c->last_ping_ms = now;
        for (console_sub_t *s = c->subs; s; s = s->next)
            if (s->s) {
                if (session_alive(c, s->token) == 0)
                    dn_web_stream_end(s->s);
                else
                    dn_web_stream_send(s->s, NULL, NULL);
            }
    }
}

int events_start(console_t *c, char *errstr, size_t errstr_size)
{
    /* from the end, unless the operator says otherwise (DUNNING_RDKAFKA_CONSUMER_...) */
    setenv("DUNNING_RDKAFKA_CONSUMER_auto_offset_reset", "latest", 0);
    unsigned char rnd[6];
    char hex[13], group[64];
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    snprintf(group, sizeof(group), "dunning-console-%s", hex);
    const char *topics[] = {dn_topic_name(DN_TOPIC_CASE_EVENTS)};
    c->consumer = dn_kafka_consumer_new(c->cfg.common.kafka_brokers, group, topics, 1, errstr, errstr_size);
    return c->consumer ? 0 : -1;
}

static void readyz(dn_web_req_t *req, void *arg)
{
    console_t *c = arg;
    if (c->consumer && dn_kafka_consumer_assigned(c->consumer) > 0)
        dn_web_json(req, 200, json_pack("{s:s}", "status", "ready"));
    else
        dn_web_json(req, 503, json_pack("{s:s}", "status", "waiting for the case events' partitions"));
}

void events_routes(console_t *c)
{
    dn_web_route(c->web, "GET", "/api/events", events_stream, 0);
    dn_web_route(c->web, "GET", "/readyz", readyz, DN_WEB_PUBLIC);
}
