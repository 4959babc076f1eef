#include "dn_timers.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_buf.h"
#include "dn_log.h"
#include "dn_pg.h"
#include "dn_uuid.h"

/* One queued add (add = 1, at due_ms) or removal (add = 0); the member is the len bytes
 * at names.p + off. */
typedef struct op {
    size_t off, len;
    int64_t due_ms;
    unsigned bucket;
    int add;
} op_t;

/* Operations per script call: each call is short (Redis runs nothing else meanwhile),
 * and a flush pipelines as many calls as it needs. */
enum { OPS_PER_CALL = 256 };

enum { S_APPLY, S_CLAIM, S_STATS, S_N };

/* Every script gets KEYS[1] = the index of buckets, KEYS[2] = the count of timers and
 * ARGV[1] = the bucket key prefix ("<key>:b:"); a bucket's key is the prefix and its
 * number. The index's score of a bucket is the bucket's smallest score, a bucket is in the
 * index iff it is not empty, and the count is the sum of the buckets' sizes: every script
 * that changes a bucket restores all three before it returns. */
static const char *const script_src[S_N] = {
    /* apply: ARGV[2..] = triples (bucket, member, score); an empty score removes. A new
     * member can only lower its bucket's smallest score (ZADD LT, which also adds a bucket
     * missing from the index); a moved or removed one may raise it: recomputed at the end. */
    "local idx, prefix, touched, delta = KEYS[1], ARGV[1], {}, 0\n"
    "for i = 2, #ARGV, 3 do\n"
    "  local b, m, s = ARGV[i], ARGV[i + 1], ARGV[i + 2]\n"
    "  if s == '' then\n"
    "    if redis.call('ZREM', prefix .. b, m) == 1 then touched[b] = true; delta = delta - 1 end\n"
    "  elseif redis.call('ZADD', prefix .. b, s, m) == 1 then\n"
    "    redis.call('ZADD', idx, 'LT', s, b); delta = delta + 1\n"
    "  else touched[b] = true end\n"
    "end\n"
    "if delta ~= 0 then redis.call('INCRBY', KEYS[2], delta) end\n"
    "for b in pairs(touched) do\n"
    "  local first = redis.call('ZRANGE', prefix .. b, 0, 0, 'WITHSCORES')\n"
    "  if first[2] then redis.call('ZADD', idx, first[2], b) else redis.call('ZREM', idx, b) end\n"
    "end\n"
    "return 0\n",
    /* claim: ARGV[2] = now, ARGV[3] = lease end, ARGV[4] = max. Walks the due buckets
     * earliest first; every due bucket has at least one due member. */
    "local idx, prefix, now, lease, want = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])\n"
    "local out = {}\n"
    "for _, b in ipairs(redis.call('ZRANGEBYSCORE', idx, '-inf', now, 'LIMIT', 0, want)) do\n"
    "  local k = prefix .. b\n"
    "  local due = redis.call('ZRANGEBYSCORE', k, '-inf', now, 'LIMIT', 0, want - #out)\n"
    "  for i = 1, #due, 500 do\n"
    "    local args = {}\n"
    "    for j = i, math.min(i + 499, #due) do\n"
    "      args[#args + 1] = lease; args[#args + 1] = due[j]; out[#out + 1] = due[j]\n"
    "    end\n"
    "    redis.call('ZADD', k, 'XX', unpack(args))\n"
    "  end\n"
    "  local first = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')\n"
    "  if first[2] then redis.call('ZADD', idx, first[2], b) else redis.call('ZREM', idx, b) end\n"
    "  if #out >= want then break end\n"
    "end\n"
    "return out\n",
    /* stats: {pending, earliest score or ''}, both kept by the other scripts: O(1). */
    "local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "return {tonumber(redis.call('GET', KEYS[2]) or '0'), first[2] or ''}\n",
};

struct dn_timers {
    redisContext *ctx;
    char host[256];
    int port;
    int db;
    char password[256];
    char key[128];
    char idx[160];    /* <key>:idx */
    char count[160];  /* <key>:count */
    char prefix[160]; /* <key>:b: */
    char marker[160]; /* <key>:built */
    unsigned buckets;
    char sha[S_N][41];
    op_t *ops; /* queued by add/remove, sent by flush */
    size_t nops, ops_cap;
    dn_buf_t names; /* the queued members */
    char errstr[256];
};

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

static int is_noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

/* SCRIPT LOAD of every script: after each connect, and when Redis says NOSCRIPT (its
 * script cache was flushed, or it is another server now). */
static int load_scripts(dn_timers_t *t)
{
    for (int i = 0; i < S_N; i++) {
        redisReply *r = redisCommand(t->ctx, "SCRIPT LOAD %s", script_src[i]);
        if (!r || r->type != REDIS_REPLY_STRING || r->len != 40)
            return command_ok(t, r, "script load"), -1;
        memcpy(t->sha[i], r->str, 40);
        t->sha[i][40] = '\0';
        freeReplyObject(r);
    }
    return 0;
}

static int connect_now(dn_timers_t *t)
{
    if (t->ctx)
        redisFree(t->ctx);
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
    if (load_scripts(t) < 0)
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

/* EVALSHA of one script with KEYS = idx, count, ARGV[1] = prefix and the given further
 * arguments; loads the scripts again once if Redis lost them. The reply, or NULL with
 * errstr set. */
static redisReply *run_script(dn_timers_t *t, int s, const char *what, int nargs, const char *const *args)
{
    if (live(t) < 0)
        return NULL;
    const char *argv[10];
    size_t lens[10];
    argv[0] = "EVALSHA";
    argv[2] = "2";
    argv[3] = t->idx;
    argv[4] = t->count;
    argv[5] = t->prefix;
    for (int i = 0; i < nargs; i++)
        argv[6 + i] = args[i];
    for (int attempt = 0; attempt < 2; attempt++) {
        argv[1] = t->sha[s];
        for (int i = 0; i < 6 + nargs; i++)
            lens[i] = strlen(argv[i]);
        redisReply *r = redisCommandArgv(t->ctx, 6 + nargs, argv, lens);
        if (!is_noscript(r) || attempt == 1 || load_scripts(t) < 0) {
            if (r && r->type == REDIS_REPLY_ERROR)
                return command_ok(t, r, what), NULL;
            if (!r)
                set_err(t, what);
            return r;
        }
        freeReplyObject(r);
    }
    return NULL; /* not reached */
}

/* FNV-1a: stable across processes and versions, which is all a bucket needs. */
static unsigned bucket_of(unsigned buckets, const char *member, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)member[i]) * 16777619u;
    return h % buckets;
}

unsigned dn_timers_bucket_of(const dn_timers_t *t, const char *member)
{
    return bucket_of(t->buckets, member, strlen(member));
}

dn_timers_t *dn_timers_new(const char *url, const char *key, unsigned buckets, char *errstr, size_t errstr_size)
{
    dn_timers_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    snprintf(t->key, sizeof(t->key), "%s", key);
    snprintf(t->idx, sizeof(t->idx), "%s:idx", key);
    snprintf(t->count, sizeof(t->count), "%s:count", key);
    snprintf(t->prefix, sizeof(t->prefix), "%s:b:", key);
    snprintf(t->marker, sizeof(t->marker), "%s:built", key);
    t->buckets = buckets;
    if (buckets < 1 || buckets > DN_TIMERS_MAX_BUCKETS) {
        snprintf(errstr, errstr_size, "timer buckets must be 1 to %d", DN_TIMERS_MAX_BUCKETS);
        goto fail;
    }
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
    free(t->ops);
    dn_buf_free(&t->names);
    free(t);
}

const char *dn_timers_errstr(const dn_timers_t *t)
{
    return t->errstr;
}

static int queue(dn_timers_t *t, const char *member, int add, int64_t due_ms)
{
    if (t->nops == t->ops_cap) {
        size_t cap = t->ops_cap ? t->ops_cap * 2 : 256;
        op_t *grown = realloc(t->ops, cap * sizeof(*grown));
        if (!grown)
            return snprintf(t->errstr, sizeof(t->errstr), "out of memory"), -1;
        t->ops = grown;
        t->ops_cap = cap;
    }
    size_t len = strlen(member);
    op_t *o = &t->ops[t->nops];
    o->off = t->names.len;
    o->len = len;
    o->due_ms = due_ms;
    o->add = add;
    o->bucket = bucket_of(t->buckets, member, len);
    if (dn_buf_addn(&t->names, member, len) < 0)
        return snprintf(t->errstr, sizeof(t->errstr), "out of memory"), -1;
    t->nops++;
    return 0;
}

int dn_timers_add(dn_timers_t *t, const char *member, int64_t due_ms)
{
    return queue(t, member, 1, due_ms);
}

int dn_timers_remove(dn_timers_t *t, const char *member)
{
    return queue(t, member, 0, 0);
}

/* Appends the apply script call for ops [from, to). */
static int append_apply(dn_timers_t *t, size_t from, size_t to)
{
    enum { FIXED = 6 };
    const char *argv[FIXED + 3 * OPS_PER_CALL];
    size_t lens[FIXED + 3 * OPS_PER_CALL];
    char nums[OPS_PER_CALL][12], scores[OPS_PER_CALL][24];
    argv[0] = "EVALSHA";
    argv[1] = t->sha[S_APPLY];
    argv[2] = "2";
    argv[3] = t->idx;
    argv[4] = t->count;
    argv[5] = t->prefix;
    for (int i = 0; i < FIXED; i++)
        lens[i] = strlen(argv[i]);
    int argc = FIXED;
    for (size_t i = from; i < to; i++) {
        const op_t *o = &t->ops[i];
        size_t k = i - from;
        lens[argc] = (size_t)snprintf(nums[k], sizeof(nums[k]), "%u", o->bucket);
        argv[argc++] = nums[k];
        lens[argc] = o->len;
        argv[argc++] = t->names.p + o->off;
        lens[argc] = o->add ? (size_t)snprintf(scores[k], sizeof(scores[k]), "%" PRId64, o->due_ms) : 0;
        argv[argc++] = o->add ? scores[k] : "";
    }
    if (redisAppendCommandArgv(t->ctx, argc, argv, lens) != REDIS_OK)
        return set_err(t, "pipeline"), -1;
    return 0;
}

/* Sends the queued operations in order, OPS_PER_CALL per pipelined script call. Calls
 * that met NOSCRIPT are sent again, from the first of them on, after loading the scripts:
 * every operation sets a final state, so repeating later ones keeps the order's result. */
int dn_timers_flush(dn_timers_t *t)
{
    int rc = 0;
    size_t from = 0;
    for (int attempt = 0; attempt < 2 && from < t->nops; attempt++) {
        if (live(t) < 0) {
            rc = -1;
            break;
        }
        size_t calls = 0, retry_from = SIZE_MAX;
        for (size_t i = from; i < t->nops && rc == 0; i += OPS_PER_CALL)
            if ((rc = append_apply(t, i, i + OPS_PER_CALL < t->nops ? i + OPS_PER_CALL : t->nops)) == 0)
                calls++;
        for (size_t c = 0; c < calls; c++) {
            redisReply *r = NULL;
            if (redisGetReply(t->ctx, (void **)&r) != REDIS_OK) {
                set_err(t, "pipeline");
                rc = -1;
                break; /* the connection is broken: live() makes a new one next time */
            }
            if (is_noscript(r) && attempt == 0) {
                if (retry_from == SIZE_MAX)
                    retry_from = from + c * OPS_PER_CALL;
                freeReplyObject(r);
            } else if (command_ok(t, r, "timer update") < 0)
                rc = -1;
        }
        if (rc < 0 || retry_from == SIZE_MAX || load_scripts(t) < 0) {
            if (rc == 0 && retry_from != SIZE_MAX)
                rc = -1;
            break;
        }
        from = retry_from;
    }
    t->nops = 0;
    t->names.len = 0;
    t->names.oom = 0;
    return rc;
}

int dn_timers_claim_due(dn_timers_t *t, int64_t now_ms, int64_t lease_ms, size_t max, char ***members)
{
    *members = NULL;
    char now[24], until[24], limit[24];
    snprintf(now, sizeof(now), "%" PRId64, now_ms);
    snprintf(until, sizeof(until), "%" PRId64, now_ms + lease_ms);
    snprintf(limit, sizeof(limit), "%zu", max);
    const char *args[] = {now, until, limit};
    redisReply *r = run_script(t, S_CLAIM, "claim", 3, args);
    if (!r)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        snprintf(t->errstr, sizeof(t->errstr), "claim: unexpected reply");
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
    redisReply *r = run_script(t, S_STATS, "stats", 0, NULL);
    if (!r)
        return -1;
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 && r->element[0]->type == REDIS_REPLY_INTEGER &&
             r->element[1]->type == REDIS_REPLY_STRING;
    if (ok) {
        *pending = r->element[0]->integer;
        *earliest_ms = r->element[1]->len ? strtoll(r->element[1]->str, NULL, 10) : INT64_MAX;
    } else
        snprintf(t->errstr, sizeof(t->errstr), "stats: unexpected reply");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Not a script: at a million due timers the walk takes ~0.1 s, which Redis should not
 * spend blocked for an operator's number. The due buckets, then one pipelined ZCOUNT each. */
int dn_timers_count_due(dn_timers_t *t, int64_t now_ms, int64_t *due)
{
    if (live(t) < 0)
        return -1;
    redisReply *r = redisCommand(t->ctx, "ZRANGEBYSCORE %s -inf %lld", t->idx, (long long)now_ms);
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return command_ok(t, r, "zrangebyscore"), -1;
    int rc = 0;
    size_t sent = 0;
    for (size_t i = 0; i < r->elements && rc == 0; i++) {
        if (redisAppendCommand(t->ctx, "ZCOUNT %s%s -inf %lld", t->prefix, r->element[i]->str, (long long)now_ms) ==
            REDIS_OK)
            sent++;
        else {
            set_err(t, "zcount");
            rc = -1;
        }
    }
    freeReplyObject(r);
    *due = 0;
    for (size_t i = 0; i < sent; i++) {
        redisReply *c = NULL;
        if (redisGetReply(t->ctx, (void **)&c) != REDIS_OK)
            return set_err(t, "zcount"), -1; /* the connection is not reused */
        if (c->type == REDIS_REPLY_INTEGER) {
            *due += c->integer;
            freeReplyObject(c);
        } else {
            command_ok(t, c, "zcount");
            rc = -1;
        }
    }
    return rc;
}

int dn_timers_get(dn_timers_t *t, const char *member, int64_t *due_ms)
{
    if (live(t) < 0)
        return -1;
    redisReply *r =
        redisCommand(t->ctx, "ZSCORE %s%u %s", t->prefix, bucket_of(t->buckets, member, strlen(member)), member);
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
        return command_ok(t, r, "zscore"), -1;
    int found = r->type == REDIS_REPLY_STRING;
    if (found)
        *due_ms = strtoll(r->str, NULL, 10);
    freeReplyObject(r);
    return found;
}

/* The bucket count the marker ("buckets=N") names: N, 0 when absent or in another form
 * (the single sorted set before buckets wrote "1"), -1 on error. */
static long marker_buckets(dn_timers_t *t)
{
    if (live(t) < 0)
        return -1;
    redisReply *r = redisCommand(t->ctx, "GET %s", t->marker);
    if (!r || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL))
        return command_ok(t, r, "get"), -1;
    long n = 0;
    if (r->type == REDIS_REPLY_STRING && strncmp(r->str, "buckets=", 8) == 0)
        n = strtol(r->str + 8, NULL, 10);
    freeReplyObject(r);
    return n > 0 ? n : 0;
}

int dn_timers_marker_exists(dn_timers_t *t)
{
    long n = marker_buckets(t);
    return n < 0 ? -1 : n == (long)t->buckets;
}

int dn_timers_marker_set(dn_timers_t *t)
{
    if (live(t) < 0)
        return -1;
    return command_ok(t, redisCommand(t->ctx, "SET %s buckets=%u", t->marker, t->buckets), "set");
}

/* The bucket keys of any bucket count: SCAN for "<key>:b:<digits>" (the glob escapes the
 * key's own special characters), then unlink them batch by batch. */
int dn_timers_clear(dn_timers_t *t)
{
    if (live(t) < 0)
        return -1;
    char pattern[400];
    size_t p = 0;
    for (const char *s = t->prefix; *s && p < sizeof(pattern) - 4; s++) {
        if (strchr("*?[]\\", *s))
            pattern[p++] = '\\';
        pattern[p++] = *s;
    }
    pattern[p++] = '*';
    pattern[p] = '\0';
    size_t plen = strlen(t->prefix);
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(t->ctx, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY)
            return command_ok(t, r, "scan"), -1;
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        const char **argv = malloc((keys->elements + 1) * sizeof(*argv));
        size_t *lens = malloc((keys->elements + 1) * sizeof(*lens));
        if (!argv || !lens) {
            free(argv);
            free(lens);
            freeReplyObject(r);
            return snprintf(t->errstr, sizeof(t->errstr), "out of memory"), -1;
        }
        int argc = 0;
        argv[argc] = "UNLINK";
        lens[argc++] = 6;
        for (size_t i = 0; i < keys->elements; i++) {
            const char *k = keys->element[i]->str;
            size_t klen = keys->element[i]->len;
            if (klen > plen && strspn(k + plen, "0123456789") == klen - plen) {
                argv[argc] = k;
                lens[argc++] = klen;
            }
        }
        int rc = argc > 1 ? command_ok(t, redisCommandArgv(t->ctx, argc, argv, lens), "unlink") : 0;
        free(argv);
        free(lens);
        freeReplyObject(r);
        if (rc < 0)
            return -1;
    } while (strcmp(cursor, "0") != 0);
    return command_ok(t, redisCommand(t->ctx, "DEL %s %s %s %s", t->idx, t->count, t->marker, t->key), "del");
}

long dn_timers_rebuild(dn_timers_t *t, dn_pg_t *pg)
{
    long built = marker_buckets(t);
    if (built < 0)
        return -1;
    if (built != (long)t->buckets) {
        /* Absent: Redis lost the index, or it was built before buckets or by hand; another
         * count: every member may belong to another bucket now. Either way start empty. */
        char was[24], now[24];
        snprintf(was, sizeof(was), "%ld", built);
        snprintf(now, sizeof(now), "%u", t->buckets);
        dn_log_info("timer index cleared before the rebuild", "built_buckets", built ? was : "unknown", "buckets", now,
                    NULL);
        if (dn_timers_clear(t) < 0)
            return -1;
    }
    long total = 0;
    char last[DN_UUID_STR_LEN] = "00000000-0000-0000-0000-000000000000";
    for (;;) {
        const char *params[] = {last};
        PGresult *r = dn_pg_query(pg,
                                  "SELECT case_id, (extract(epoch from next_action_at) * 1000)::bigint FROM cases "
                                  "WHERE next_action_at IS NOT NULL AND next_action <> 'notice' AND case_id > $1 "
                                  "ORDER BY case_id LIMIT 10000",
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
    /* The notices about a customer rather than one invoice have timers of their own. */
    PGresult *r = dn_pg_query(pg,
                              "SELECT notice_id, (extract(epoch from due_at) * 1000)::bigint FROM notices "
                              "WHERE state = 'pending' AND due_at IS NOT NULL",
                              0, NULL);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++)
        rc = dn_timers_add(t, PQgetvalue(r, i, 0), strtoll(PQgetvalue(r, i, 1), NULL, 10));
    total += PQntuples(r);
    PQclear(r);
    if (rc < 0 || dn_timers_flush(t) < 0)
        return -1;
    if (dn_timers_marker_set(t) < 0)
        return -1;
    return total;
}
