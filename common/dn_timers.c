#include "dn_timers.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_log.h"
#include "dn_pg.h"
#include "dn_uuid.h"

struct dn_timers {
    redisContext *ctx;
    char host[256];
    int port;
    int db;
    char password[256];
    char key[128];
    char marker[160];
    int pending; /* replies owed by the pipeline */
    char errstr[256];
};

/* Moves every due member's score to the lease end and returns them, atomically. */
static const char claim_script[] =
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))\n"
    "for i = 1, #due do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], due[i]) end\n"
    "return due\n";

static int parse_url(dn_timers_t *t, const char *url)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0)
        return -1;
    p += 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        snprintf(t->password, sizeof(t->password), "%.*s", (int)(at - pw), pw);
        p = at + 1;
    }
    const char *colon = strchr(p, ':'), *slash = strchr(p, '/');
    size_t hostlen = colon ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
    snprintf(t->host, sizeof(t->host), "%.*s", (int)hostlen, p);
    t->port = colon ? atoi(colon + 1) : 6379;
    t->db = slash ? atoi(slash + 1) : 0;
    return t->host[0] && t->port > 0 ? 0 : -1;
}

static void set_err(dn_timers_t *t, const char *what)
{
    snprintf(t->errstr, sizeof(t->errstr), "%s: %s", what, t->ctx && t->ctx->err ? t->ctx->errstr : "error");
}

static int command_ok(dn_timers_t *t, redisReply *r, const char *what)
{
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok) {
        if (r)
            snprintf(t->errstr, sizeof(t->errstr), "%s: %s", what, r->str);
        else
            set_err(t, what);
    }
    if (r)
        freeReplyObject(r);
    return ok ? 0 : -1;
}

static int connect_now(dn_timers_t *t)
{
    if (t->ctx)
        redisFree(t->ctx);
    t->pending = 0;
    struct timeval tv = {2, 0};
    t->ctx = redisConnectWithTimeout(t->host, t->port, tv);
    if (!t->ctx || t->ctx->err) {
        set_err(t, "connect");
        goto fail;
    }
    redisSetTimeout(t->ctx, tv);
    if (t->password[0] && command_ok(t, redisCommand(t->ctx, "AUTH %s", t->password), "auth") < 0)
        goto fail;
    if (t->db && command_ok(t, redisCommand(t->ctx, "SELECT %d", t->db), "select") < 0)
        goto fail;
    return 0;
fail:
    if (t->ctx)
        redisFree(t->ctx);
    t->ctx = NULL;
    return -1;
}

/* A failed connection is not reused: every call starts by making sure it is live. */
static int live(dn_timers_t *t)
{
    if (t->ctx && !t->ctx->err)
        return 0;
    if (connect_now(t) < 0) {
        dn_log_warn("redis reconnect failed", "detail", t->errstr, NULL);
        return -1;
    }
    return 0;
}

dn_timers_t *dn_timers_new(const char *url, const char *key, char *errstr, size_t errstr_size)
{
    dn_timers_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    snprintf(t->key, sizeof(t->key), "%s", key);
    snprintf(t->marker, sizeof(t->marker), "%s:built", key);
    if (parse_url(t, url) < 0) {
        /* Never the URL itself: it may carry the password. */
        snprintf(errstr, errstr_size, "DUNNING_REDIS_URL is not a redis://[:password@]host[:port][/db] URL%s",
                 strncmp(url, "rediss://", 9) == 0 ? " (rediss:// is not supported: this hiredis has no TLS)" : "");
        goto fail;
    }
    if (connect_now(t) < 0) {
        snprintf(errstr, errstr_size, "%s", t->errstr);
        goto fail;
    }
    return t;
fail:
    dn_timers_destroy(t);
    return NULL;
}

void dn_timers_destroy(dn_timers_t *t)
{
    if (!t)
        return;
    if (t->ctx)
        redisFree(t->ctx);
    free(t);
}

const char *dn_timers_errstr(const dn_timers_t *t)
{
    return t->errstr;
}

int dn_timers_add(dn_timers_t *t, const char *member, int64_t due_ms)
{
    if (live(t) < 0)
        return -1;
    char score[24];
    snprintf(score, sizeof(score), "%" PRId64, due_ms);
    if (redisAppendCommand(t->ctx, "ZADD %s %s %s", t->key, score, member) != REDIS_OK)
        return set_err(t, "zadd"), -1;
    t->pending++;
    return 0;
}

int dn_timers_remove(dn_timers_t *t, const char *member)
{
    if (live(t) < 0)
        return -1;
    if (redisAppendCommand(t->ctx, "ZREM %s %s", t->key, member) != REDIS_OK)
        return set_err(t, "zrem"), -1;
    t->pending++;
    return 0;
}

int dn_timers_flush(dn_timers_t *t)
{
    int rc = 0;
    while (t->pending > 0) {
        redisReply *r = NULL;
        if (!t->ctx || redisGetReply(t->ctx, (void **)&r) != REDIS_OK) {
            set_err(t, "pipeline");
            t->pending = 0;
            return -1;
        }
        t->pending--;
        if (command_ok(t, r, "pipeline") < 0)
            rc = -1;
    }
    return rc;
}

int dn_timers_claim_due(dn_timers_t *t, int64_t now_ms, int64_t lease_ms, size_t max, char ***members)
{
    *members = NULL;
    if (live(t) < 0)
        return -1;
    char now[24], until[24], limit[24];
    snprintf(now, sizeof(now), "%" PRId64, now_ms);
    snprintf(until, sizeof(until), "%" PRId64, now_ms + lease_ms);
    snprintf(limit, sizeof(limit), "%zu", max);
    redisReply *r = redisCommand(t->ctx, "EVAL %s 1 %s %s %s %s", claim_script, t->key, now, until, limit);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        command_ok(t, r, "claim");
        return -1;
    }
    int n = (int)r->elements;
    char **out = n ? calloc((size_t)n, sizeof(*out)) : NULL;
    for (int i = 0; i < n; i++)
        out[i] = strndup(r->element[i]->str, r->element[i]->len);
    freeReplyObject(r);
    *members = out;
    return n;
}

void dn_timers_free_members(char **members, int n)
{
    for (int i = 0; i < n; i++)
        free(members[i]);
    free(members);
}

int dn_timers_stats(dn_timers_t *t, int64_t *pending, int64_t *earliest_ms)
{
    if (live(t) < 0)
        return -1;
    redisReply *r = redisCommand(t->ctx, "ZCARD %s", t->key);
    if (!r || r->type != REDIS_REPLY_INTEGER)
        return command_ok(t, r, "zcard"), -1;
    *pending = r->integer;
    freeReplyObject(r);
    r = redisCommand(t->ctx, "ZRANGE %s 0 0 WITHSCORES", t->key);
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return command_ok(t, r, "zrange"), -1;
    *earliest_ms = r->elements == 2 ? strtoll(r->element[1]->str, NULL, 10) : INT64_MAX;
    freeReplyObject(r);
    return 0;
}

int dn_timers_count_due(dn_timers_t *t, int64_t now_ms, int64_t *due)
{
    if (live(t) < 0)
        return -1;
    redisReply *r = redisCommand(t->ctx, "ZCOUNT %s -inf %lld", t->key, (long long)now_ms);
    if (!r || r->type != REDIS_REPLY_INTEGER)
        return command_ok(t, r, "zcount"), -1;
    *due = r->integer;
    freeReplyObject(r);
    return 0;
}

int dn_timers_marker_exists(dn_timers_t *t)
{
    if (live(t) < 0)
        return -1;
    redisReply *r = redisCommand(t->ctx, "EXISTS %s", t->marker);
    if (!r || r->type != REDIS_REPLY_INTEGER)
        return command_ok(t, r, "exists"), -1;
    int v = r->integer > 0;
    freeReplyObject(r);
    return v;
}

int dn_timers_marker_set(dn_timers_t *t)
{
    if (live(t) < 0)
        return -1;
    return command_ok(t, redisCommand(t->ctx, "SET %s 1", t->marker), "set");
}

int dn_timers_clear(dn_timers_t *t)
{
    if (live(t) < 0)
        return -1;
    return command_ok(t, redisCommand(t->ctx, "DEL %s %s", t->key, t->marker), "del");
}

long dn_timers_rebuild(dn_timers_t *t, dn_pg_t *pg)
{
    long total = 0;
    char last[DN_UUID_STR_LEN] = "00000000-0000-0000-0000-000000000000";
    for (;;) {
        const char *params[] = {last};
        PGresult *r = dn_pg_query(pg,
                                  "SELECT case_id, (extract(epoch from next_action_at) * 1000)::bigint FROM cases "
                                  "WHERE next_action_at IS NOT NULL AND case_id > $1 ORDER BY case_id LIMIT 10000",
                                  1, params);
        if (!r)
            return -1;
        int n = PQntuples(r);
        int rc = 0;
        for (int i = 0; i < n && rc == 0; i++)
            rc = dn_timers_add(t, PQgetvalue(r, i, 0), strtoll(PQgetvalue(r, i, 1), NULL, 10));
        if (n > 0)
            snprintf(last, sizeof(last), "%s", PQgetvalue(r, n - 1, 0));
        PQclear(r);
        if (rc < 0 || dn_timers_flush(t) < 0)
            return -1;
        total += n;
        if (n < 10000)
            break;
    }
    if (dn_timers_marker_set(t) < 0)
        return -1;
    return total;
}
