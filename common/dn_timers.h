/* dn_timers: due-time index in a Redis sorted set (score = due time in ms,
 * member = case id). PostgreSQL holds the truth (cases.next_action_at); this is an
 * index that dn_timers can be rebuilt from at any time.
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

/* url: redis://[:password@]host:port[/db]; key: the sorted set's name. */
dn_timers_t *dn_timers_new(const char *url, const char *key, char *errstr, size_t errstr_size);
void dn_timers_destroy(dn_timers_t *t);
const char *dn_timers_errstr(const dn_timers_t *t);

/* Queues ZADD / ZREM in a pipeline; dn_timers_flush sends them all. 0/-1. */
int dn_timers_add(dn_timers_t *t, const char *member, int64_t due_ms);
int dn_timers_remove(dn_timers_t *t, const char *member);
int dn_timers_flush(dn_timers_t *t);

/* Claims up to max members due at now_ms, leasing them until now_ms + lease_ms.
 * *members is a malloc'd array of malloc'd strings; free with dn_timers_free_members.
 * Returns the count, or -1 on error. */
int dn_timers_claim_due(dn_timers_t *t, int64_t now_ms, int64_t lease_ms, size_t max, char ***members);
void dn_timers_free_members(char **members, int n);

/* Pending count and the smallest score (INT64_MAX if empty). 0/-1. */
int dn_timers_stats(dn_timers_t *t, int64_t *pending, int64_t *earliest_ms);
/* Timers due at now_ms (score <= now), claimed ones included. 0/-1. */
int dn_timers_count_due(dn_timers_t *t, int64_t now_ms, int64_t *due);
/* A marker key that says the index was built; gone after FLUSHALL or a Redis restart
 * without persistence, which tells the engine to rebuild. 1 = present, 0 = absent, -1 = error. */
int dn_timers_marker_exists(dn_timers_t *t);
int dn_timers_marker_set(dn_timers_t *t);
/* Deletes the whole set (before a rebuild). */
int dn_timers_clear(dn_timers_t *t);

struct dn_pg;
/* Re-adds every pending timer from PostgreSQL (cases.next_action_at, the source of
 * truth) and sets the marker. Idempotent; safe while engines run. Count or -1. */
long dn_timers_rebuild(dn_timers_t *t, struct dn_pg *pg);

#endif
