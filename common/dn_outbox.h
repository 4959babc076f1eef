/* dn_outbox: the transactional outbox.
 *
 * A service writes what it wants to publish into the outbox table inside the same
 * transaction as the state change (dn_outbox_add). The relay (dn_outbox_relay)
 * publishes pending rows in id order with the idempotent producer, waits for the
 * broker's acknowledgement, then deletes them. A crash between publish and delete
 * publishes a row again; consumers are idempotent on event_id. One relay at a time
 * works the table (pg_try_advisory_xact_lock), so per-key order is kept. */
#ifndef DN_OUTBOX_H
#define DN_OUTBOX_H

#include <stddef.h>
#include "dn_kafka.h"
#include "dn_pg.h"

/* Inside the caller's transaction. Idempotent on event_id (a second add of the same
 * event id is ignored). 0/-1 (error kept in pg). The insert is pipelined (dn_pg_defer):
 * if it fails, the next statement or the COMMIT on pg reports it. */
int dn_outbox_add(dn_pg_t *pg, const char *event_id, const char *topic, const char *key, const void *value,
                  size_t value_len);
/* Publishes up to max pending rows. Returns the number published, 0 if none (or another
 * relay holds the lock), -1 on error (nothing deleted; retried next call). */
int dn_outbox_relay(dn_pg_t *pg, dn_kafka_producer_t *p, size_t max, int flush_timeout_ms);

#endif
