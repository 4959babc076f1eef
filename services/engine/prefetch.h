/* Set-based work for a batch (prefetch.c), in the transaction in hand, before its items
 * run: the answers the handlers then consult (answers.h) instead of a round trip each. */
#ifndef DN_ENGINE_PREFETCH_H
#define DN_ENGINE_PREFETCH_H

#include <librdkafka/rdkafka.h>

#include "engine.h"

/* Marks every record's event id processed in one statement (the handlers then ask the
 * answer, not the database; a second copy in the batch is a duplicate) and looks up the
 * batch's invoices (known already, payments or held events waiting) and payment ids in
 * the same one; a second statement locks and loads the cases its payments, failed charges
 * and case commands name. H_OK, or H_DBERR (nothing remembered). */
int handle_prefetch(engine_t *e, rd_kafka_message_t *const *msgs, size_t n);
/* Locks and loads the claimed cases with their invoices' contact snapshots in one
 * statement, for fire_timer. H_OK or H_DBERR. */
int fire_prefetch(engine_t *e, char *const *case_ids, size_t n);
/* Forgets what the prefetches remembered and the buffered rows (a rollback). */
void batch_reset(engine_t *e);
void batch_destroy(engine_t *e);

#endif
