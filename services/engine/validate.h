/* The engine's side of the input contract (common/policy/dn_validate.h has the checks):
 * each validate_* runs the library's check on the record in hand and, on H_REJECT, leaves
 * the code and reason in e->reject_code and e->reject_reason for the dead letter. */
#ifndef DN_ENGINE_VALIDATE_H
#define DN_ENGINE_VALIDATE_H

#include "dn_validate.h"
#include "engine.h"

/* Rejects the record in hand: sets e->reject_code and e->reject_reason, returns H_REJECT. */
int reject(engine_t *e, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int validate_invoice(engine_t *e, const dn_invoice_issued_t *v);
int validate_payment(engine_t *e, const dn_payment_received_t *v);
int validate_failed(engine_t *e, const dn_payment_failed_t *v);
int validate_command(engine_t *e, const dn_case_command_t *v);
int validate_payment_method(engine_t *e, const dn_payment_method_updated_t *v);
int validate_outcome(engine_t *e, const dn_reminder_outcome_t *v);

#endif
