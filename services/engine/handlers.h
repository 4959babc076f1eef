/* One handler per input record type, each in its own file (invoice.c, payment.c, failed.c,
 * command.c, outcome.c). The dispatcher (records.c) decodes and validates the record and
 * frees it afterwards; a handler applies it inside the caller's transaction. Effects leave
 * only through the outbox and the timer ops applied after COMMIT (effects.h). Each returns
 * H_OK, H_REJECT (e->reject_code and e->reject_reason set) or H_DBERR. */
#ifndef DN_ENGINE_HANDLERS_H
#define DN_ENGINE_HANDLERS_H

#include "dn_schemas_gen.h"
#include "engine.h"
#include "held.h"

/* `again` handles the invoice's held input (replay_held). */
int handle_invoice(engine_t *e, dn_invoice_issued_t *v, const void *payload, size_t len, held_handler_fn again);
int handle_payment(engine_t *e, dn_payment_received_t *v);
/* payload and len: the record's bytes, held if its invoice is not known yet; replay: it
 * comes from held_events (already marked processed). */
int handle_failed(engine_t *e, dn_payment_failed_t *v, const void *payload, size_t len, int replay);
int handle_command(engine_t *e, dn_case_command_t *v, const void *payload, size_t len, int replay);
int handle_outcome(engine_t *e, dn_reminder_outcome_t *v);

#endif
