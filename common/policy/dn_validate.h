/* What the engine accepts: the contract checks every input record passes before it touches
 * PostgreSQL. Ids are taken verbatim: not empty, not blank, no control characters, and no
 * whitespace (Unicode White_Space) at either end, which is refused rather than trimmed. Each function returns
 * DN_VALIDATE_OK, or DN_VALIDATE_REJECT with *code (a static string) and `reason` (naming the field) set; they read
 * nothing but the record and the policies, so the fuzz target (tests/fuzz/fuzz_decode.c) runs exactly the engine's
 * checks. */
#ifndef DN_VALIDATE_H
#define DN_VALIDATE_H

#include <stddef.h>

#include "dn_policy.h"
#include "dn_schemas_gen.h"

#define ID_MAX       200  /* longest tenant, customer, invoice or payment id accepted */
#define TEXT_MAX     1000 /* longest name, link or other free text accepted */
#define TOKEN_MAX    64   /* longest locale, time zone, country or channel name accepted */
#define CHANNELS_MAX 8    /* most opted-out channels accepted (there are three) */

/* The accepted dates and times (docs/contracts.md, "Accepted values"): every date the
 * engine stores or turns into a timer lies in 1970-01-01..9999-12-31, every time in
 * 1970-01-01T00:00:00.000Z..9999-12-31T23:59:59.999Z. Before it a time would read as "no
 * timer" (negative), after it PostgreSQL and dn_time_format cannot hold it. */
#define DN_DATE_MIN    0       /* 1970-01-01, in days since 1970-01-01 */
#define DN_DATE_MAX    2932896 /* 9999-12-31 */
#define DN_TIME_MIN_MS 0LL
#define DN_TIME_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

enum { DN_VALIDATE_OK = 0, DN_VALIDATE_REJECT = 1 };

int dn_validate_invoice(const policy_set_t *ps, const dn_invoice_issued_t *v, const char **code, char *reason,
                        size_t reason_size);
int dn_validate_payment(const policy_set_t *ps, const dn_payment_received_t *v, const char **code, char *reason,
                        size_t reason_size);
int dn_validate_failed(const policy_set_t *ps, const dn_payment_failed_t *v, const char **code, char *reason,
                       size_t reason_size);
int dn_validate_command(const policy_set_t *ps, const dn_case_command_t *v, const char **code, char *reason,
                        size_t reason_size);
int dn_validate_payment_method(const policy_set_t *ps, const dn_payment_method_updated_t *v, const char **code,
                               char *reason, size_t reason_size);
int dn_validate_outcome(const policy_set_t *ps, const dn_reminder_outcome_t *v, const char **code, char *reason,
                        size_t reason_size);

#endif
