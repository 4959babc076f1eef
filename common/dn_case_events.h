/* dn_case_events: the case events published from the audit table itself.
 *
 * Every audit row the engine writes about a case is a DunningCaseEvent (one per row; the
 * schema says so). Instead of a second copy in the outbox, the relay reads the audit rows
 * after a durable cursor (relay_cursors 'case-events'), publishes them in id order with
 * the idempotent producer, waits for the broker's acknowledgement and only then moves the
 * cursor, in one transaction. Rows without a case (dunningctl's erasure record) are passed
 * over.
 *
 * Why id order is commit order: every INSERT INTO audit first takes one transaction-level
 * advisory lock (the statement trigger of sql/011_case_events_from_audit.sql), so ids are
 * handed out to one transaction at a time and the lock is released only after its commit
 * is visible. A row the relay sees therefore has no lower-numbered row still to come (a
 * rolled-back transaction leaves a gap, never a late row). One relay at a time moves the
 * cursor (pg_try_advisory_xact_lock), so per-case order is kept across engine instances.
 * A crash between the broker's acknowledgement and the cursor's commit publishes those
 * rows again with the same event ids; consumers are idempotent on event_id. */
#ifndef DN_CASE_EVENTS_H
#define DN_CASE_EVENTS_H

#include <stddef.h>

#include "dn_kafka.h"
#include "dn_pg.h"

/* Publishes up to max audit rows after the cursor. The number of rows the cursor moved over
 * (published or passed over), 0 when there were none (or another relay holds the lock), -1
 * on error (the cursor stays; retried next call). */
int dn_case_events_relay(dn_pg_t *pg, dn_kafka_producer_t *p, size_t max, int flush_timeout_ms);

#endif
