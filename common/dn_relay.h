/* dn_relay: the outbox relay (dn_outbox_relay) on its own thread, with its own
 * PostgreSQL connection, so publishing what a transaction wrote overlaps with the next
 * transaction instead of following it on the service's one loop.
 *
 * The thread owns the producer while it runs (nobody else may produce or poll on it).
 * It relays whenever dn_relay_kick says a transaction committed outbox rows, and every
 * idle_ms anyway (rows another instance left, a retry after an error). Guarantees are
 * dn_outbox's: publish in id order, delete only after the broker acknowledged, one relay
 * at a time on the table (advisory lock); and, with case_events, dn_case_events'. */
#ifndef DN_RELAY_H
#define DN_RELAY_H

#include <stddef.h>

#include "dn_kafka.h"
#include "dn_metrics.h"

typedef struct dn_relay dn_relay_t;

/* Connects (dsn) and starts the thread. batch: rows per relay transaction; case_events:
 * also publish the audit rows as case events (dn_case_events, the engine); published: a
 * counter (no labels) the thread adds to, or NULL. NULL with errstr on failure. */
dn_relay_t *dn_relay_start(const char *dsn, dn_kafka_producer_t *producer, size_t batch, int idle_ms, int case_events,
                           dn_metric_t *published, char *errstr, size_t errstr_size);
/* There are new rows: relay now. Cheap; any thread. */
void dn_relay_kick(dn_relay_t *r);
/* 1 if the last relay attempt worked (or none was needed), 0 if it failed. */
int dn_relay_ok(const dn_relay_t *r);
/* Relays what is pending (until a round publishes less than a batch, or fails), stops
 * the thread and closes its connection. NULL does nothing. */
void dn_relay_stop(dn_relay_t *r);

#endif
