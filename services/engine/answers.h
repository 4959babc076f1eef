/* The batch's set-based answers (answers.c), as the handlers consult them: what the
 * prefetches (prefetch.c) found about the batch's events, cases, invoices and payments,
 * kept in e->batch (batch.h) until batch_reset. Only the fast path fills them. */
#ifndef DN_ENGINE_ANSWERS_H
#define DN_ENGINE_ANSWERS_H

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"

enum { CASE_ABSENT = -1, CASE_UNKNOWN = -2, CASE_CHANGED = -3 };
/* load_cases' rows: case_columns, then the invoice's source and (with it) the customer's
 * contact preferences: opted_out as text[] text, the corrected e-mail ("" none). */
enum { CASE_SOURCE_COL = 36, CASE_PREFS_OUT_COL = 37, CASE_PREFS_EMAIL_COL = 38 };
/* INV_PAYMENTS: the lookup found payments waiting (their rows are in e->batch_lookup);
 * INV_PAYMENTS_NEW: the batch itself held a payment for the invoice (ask the database). */
enum { INV_EXISTS = 1, INV_PAYMENTS = 2, INV_HELD = 4, INV_PAYMENTS_NEW = 8 };
enum { LOOKUP_PAYMENT_COL = 3 }; /* batch_lookup's 'p' rows: payment_id, amount, currency, event_id */

/* Map keys: "e:<event id>", "c:<case id>" (UUIDs in lower case, as PostgreSQL prints
 * them), "i:<tenant length>:<tenant>:<invoice>" and "p:<tenant length>:<tenant>:<payment>". */
static inline void uuid_key(char *out, size_t size, char kind, const char *id)
{
    snprintf(out, size, "%c:%s", kind, id);
    for (char *p = out + 2; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
}

static inline void invoice_key(char *out, size_t size, const char *tenant, const char *invoice)
{
    snprintf(out, size, "i:%zu:%s:%s", strlen(tenant), tenant, invoice);
}

static inline void payment_key(char *out, size_t size, const char *tenant, const char *payment)
{
    snprintf(out, size, "p:%zu:%s:%s", strlen(tenant), tenant, payment);
}

/* The prefetched row of a case, CASE_ABSENT (asked, no such case) or CASE_UNKNOWN (not
 * asked, or changed by the batch since: ask the database). */
int cached_case(engine_t *e, const char *case_id);
/* The batch wrote the case: from now on it is read from the database. */
void forget_case(engine_t *e, const char *case_id);
/* What the batch's lookup said about a payment id: 1 known, 0 new, -1 not asked. */
int payment_known(engine_t *e, const char *tenant, const char *payment);
/* What the batch's lookup said about an invoice (INV_* bits), or -1 if it was not asked. */
int invoice_flags(engine_t *e, const char *tenant, const char *invoice);
/* Something this batch wrote about an invoice it asked about (an INV_* bit). */
void invoice_mark(engine_t *e, const char *tenant, const char *invoice, int bit);
/* The row of batch_lookup where an invoice's waiting payments start (INV_PAYMENTS), or -1. */
int lookup_payments(engine_t *e, const char *tenant, const char *invoice);
int lookup_row_is(PGresult *r, int row, char kind, const char *tenant, const char *invoice);

#endif
