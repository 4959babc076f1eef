/* What the engine accepts: the contract checks every input record passes before it touches
 * PostgreSQL. Each function returns H_OK, or H_REJECT with e->reject_code and
 * e->reject_reason set (naming the field); they read nothing but the record and
 * e->policies, so the fuzz target (tests/fuzz/fuzz_decode.c) runs exactly this code. */
#ifndef DN_ENGINE_VALIDATE_H
#define DN_ENGINE_VALIDATE_H

#include "dn_schemas_gen.h"
#include "engine.h"

#define ID_MAX       200  /* longest tenant, customer, invoice or payment id accepted */
#define TEXT_MAX     1000 /* longest name, link or other free text accepted */
#define TOKEN_MAX    64   /* longest locale, time zone, country or channel name accepted */
#define CHANNELS_MAX 8    /* most opted-out channels accepted (there are three) */

int validate_invoice(engine_t *e, const dn_invoice_issued_t *v);
int validate_payment(engine_t *e, const dn_payment_received_t *v);
int validate_failed(engine_t *e, const dn_payment_failed_t *v);
int validate_command(engine_t *e, const dn_case_command_t *v);
int validate_outcome(engine_t *e, const dn_reminder_outcome_t *v);

#endif
