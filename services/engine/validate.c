/* The engine's rejections (see validate.h): reject() and the library's input checks
 * pointed at the record in hand. */
#include <stdarg.h>
#include <stdio.h>

#include "validate.h"

_Static_assert((int)DN_VALIDATE_OK == (int)H_OK && (int)DN_VALIDATE_REJECT == (int)H_REJECT,
               "the library's verdicts are the handlers'");

int reject(engine_t *e, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->reject_reason, sizeof(e->reject_reason), fmt, ap);
    va_end(ap);
    e->reject_code = code;
    return H_REJECT;
}

int validate_invoice(engine_t *e, const dn_invoice_issued_t *v)
{
    return dn_validate_invoice(e->policies, v, &e->reject_code, e->reject_reason, sizeof(e->reject_reason));
}

int validate_payment(engine_t *e, const dn_payment_received_t *v)
{
    return dn_validate_payment(e->policies, v, &e->reject_code, e->reject_reason, sizeof(e->reject_reason));
}

int validate_failed(engine_t *e, const dn_payment_failed_t *v)
{
    return dn_validate_failed(e->policies, v, &e->reject_code, e->reject_reason, sizeof(e->reject_reason));
}

int validate_command(engine_t *e, const dn_case_command_t *v)
{
    return dn_validate_command(e->policies, v, &e->reject_code, e->reject_reason, sizeof(e->reject_reason));
}

int validate_outcome(engine_t *e, const dn_reminder_outcome_t *v)
{
    return dn_validate_outcome(e->policies, v, &e->reject_code, e->reject_reason, sizeof(e->reject_reason));
}

int validate_payment_method(engine_t *e, const dn_payment_method_updated_t *v)
{
    return dn_validate_payment_method(e->policies, v, &e->reject_code, e->reject_reason, sizeof(e->reject_reason));
}
