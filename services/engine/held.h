/* Input about an invoice not seen yet (held.c): kept in held_events, and replayed in
 * arrival order once the invoice arrives. */
#ifndef DN_ENGINE_HELD_H
#define DN_ENGINE_HELD_H

#include "case.h"
#include "dn_topics.h"

/* Handles one input record's bytes again: the dispatcher (records.c) hands its own entry
 * point to the invoice handler, which hands it to replay_held. */
typedef int (*held_handler_fn)(engine_t *e, dn_topic_id_t topic, const void *payload, size_t len, int replay);

/* Keeps a record whose invoice is not known yet. H_OK or H_DBERR. */
int hold_event(engine_t *e, const char *tenant, const char *customer, const char *invoice, const char *event_id,
               dn_topic_id_t topic, const void *payload, size_t len, int64_t now);
/* Replays the case's held input through `handle`, in arrival order. A held record that is
 * invalid for the case is recorded in the audit trail, not dead-lettered. */
int replay_held(engine_t *e, const case_row_t *c, int64_t now, held_handler_fn handle);

#endif
