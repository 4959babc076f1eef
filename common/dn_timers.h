/* dn_timers: due-time index in Redis (due time in ms -> case id). PostgreSQL holds the
 * truth (cases.next_action_at); this is an index that dn_timers can be rebuilt from at
 * any time.
 *
 * Layout (issue 6: small sets cost a third of one big one): the members are spread over
 * `buckets` small sorted sets `<key>:b:<n>` by a hash of the member (FNV-1a mod buckets),
 * so that each stays in Redis' compact listpack encoding (up to zset-max-listpack-entries
 * members; pick buckets ~ pending timers / 64). `<key>:idx` is a sorted set of the
 * non-empty buckets scored by their smallest due time, and `<key>:count` the number of
 * timers, both kept exact by the Lua scripts that change a bucket. `<key>:built` is the
 * marker; its value names the bucket count.
 *
 * Claiming is atomic (one Lua script): due members get their score pushed to
 * now + lease, so a second engine instance does not see them until the lease runs
 * out; the claimer then reschedules or removes them after its database COMMIT. A
 * crash between claim and commit only delays the timer by the lease. */
#ifndef DN_TIMERS_H
#define DN_TIMERS_H

#include <stddef.h>
#include <stdint.h>

typedef struct dn_timers dn_timers_t;

/* Default bucket count (DUNNING_TIMER_BUCKETS): ~61 timers per bucket at a million. */
#define DN_TIMERS_DEFAULT_BUCKETS 16384
#define DN_TIMERS_MAX_BUCKETS     4194304

/* url: redis://[:password@]host:port[/db]; key: the prefix of the index's keys;
 * buckets: 1..DN_TIMERS_MAX_BUCKETS, the same for every process sharing the key. */
dn_timers_t *dn_timers_new(const char *url, const char *key, unsigned buckets, char *errstr, size_t errstr_size);
void dn_timers_destroy(dn_timers_t *t);
const char *dn_timers_errstr(const dn_timers_t *t);

/* Queue an add (or reschedule) / a removal; dn_timers_flush sends them all, in order,
 * as pipelined script calls. add/remove: 0, or -1 when out of memory; flush: 0/-1. */
int dn_timers_add(dn_timers_t *t, const char *member, int64_t due_ms);
int dn_timers_remove(dn_timers_t *t, const char *member);
int dn_timers_flush(dn_timers_t *t);

/* Claims up to max members due at now_ms, leasing them until now_ms + lease_ms.
 * *members is a malloc'd array of malloc'd strings; free with dn_timers_free_members.
 * Returns the count, or -1 on error. */
int dn_timers_claim_due(dn_timers_t *t, int64_t now_ms, int64_t lease_ms, size_t max, char ***members);
void dn_timers_free_members(char **members, int n);

/* Pending count and the smallest score (INT64_MAX if empty), in O(1). 0/-1. */
int dn_timers_stats(dn_timers_t *t, int64_t *pending, int64_t *earliest_ms);
/* Timers due at now_ms (score <= now), claimed ones whose lease ran out included: one
 * ZCOUNT per due bucket, pipelined (for operators; not atomic). 0/-1. */
int dn_timers_count_due(dn_timers_t *t, int64_t now_ms, int64_t *due);
/* One member's due time: 1 (set *due_ms), 0 no timer, -1 error. */
int dn_timers_get(dn_timers_t *t, const char *member, int64_t *due_ms);
/* The bucket a member lives in (0..buckets-1). */
unsigned dn_timers_bucket_of(const dn_timers_t *t, const char *member);
/* A marker key that says the index was built, and with how many buckets; gone after
 * FLUSHALL or a Redis restart without persistence, which tells the engine to rebuild.
 * 1 = present with this handle's bucket count, 0 = absent or built with another bucket
 * count, -1 = error. */
int dn_timers_marker_exists(dn_timers_t *t);
int dn_timers_marker_set(dn_timers_t *t);
/* Deletes the whole index: every bucket (whatever the bucket count), the index of
 * buckets, the count, the marker, and a single sorted set of the layout before buckets. */
int dn_timers_clear(dn_timers_t *t);

struct dn_pg;
/* Re-adds every pending timer from PostgreSQL (cases.next_action_at, the source of
 * truth) and sets the marker. Idempotent; safe while engines run. When the marker is
 * absent or names another bucket count, the index is cleared first (no entry may stay
 * in a bucket the new count no longer maps it to). Count or -1. */
long dn_timers_rebuild(dn_timers_t *t, struct dn_pg *pg);

#endif
