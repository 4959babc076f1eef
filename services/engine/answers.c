/* The batch's set-based answers (see answers.h). */
#include <string.h>

#include "answers.h"
#include "dn_uuid.h"
#include "dn_validate.h"

/* The prefetched row of a case, CASE_ABSENT (asked, no such case) or CASE_UNKNOWN (not
 * asked, or changed by the batch since: ask the database). */
int cached_case(engine_t *e, const char *case_id)
{
    char key[64];
    int row;
    if (!e->prefetched || !e->batch_cases || strlen(case_id) != DN_UUID_STR_LEN - 1)
        return CASE_UNKNOWN;
    uuid_key(key, sizeof(key), 'c', case_id);
    if (!batch_map_get(e->batch, key, &row))
        return CASE_UNKNOWN;
    return row >= 0 || row == CASE_ABSENT ? row : CASE_UNKNOWN;
}

/* The batch wrote the case: from now on it is read from the database (which has the
 * batch's earlier statements) rather than from the prefetched row. */
void forget_case(engine_t *e, const char *case_id)
{
    char key[64];
    int row;
    if (!e->prefetched || strlen(case_id) != DN_UUID_STR_LEN - 1)
        return;
    uuid_key(key, sizeof(key), 'c', case_id);
    if (batch_map_get(e->batch, key, &row) && batch_map_put(e->batch, key, CASE_CHANGED) < 0)
        e->batch_failed = 1; /* out of memory: the batch is done again record by record */
}

/* What the batch's lookup said about a payment id: 1 known, 0 new, -1 not asked. */
int payment_known(engine_t *e, const char *tenant, const char *payment)
{
    char key[2 * ID_MAX + 32];
    int known;
    if (!e->prefetched || strlen(tenant) > ID_MAX || strlen(payment) > ID_MAX)
        return -1;
    payment_key(key, sizeof(key), tenant, payment);
    return batch_map_get(e->batch, key, &known) ? known : -1;
}

/* What the batch's lookup said about an invoice (INV_* bits), or -1 if it was not asked. */
int invoice_flags(engine_t *e, const char *tenant, const char *invoice)
{
    char key[2 * ID_MAX + 32];
    int flags;
    if (!e->prefetched || strlen(tenant) > ID_MAX || strlen(invoice) > ID_MAX)
        return -1;
    invoice_key(key, sizeof(key), tenant, invoice);
    return batch_map_get(e->batch, key, &flags) ? flags : -1;
}

/* Something this batch wrote about an invoice it asked about. */
void invoice_mark(engine_t *e, const char *tenant, const char *invoice, int bit)
{
    int flags = invoice_flags(e, tenant, invoice);
    char key[2 * ID_MAX + 32];
    if (flags < 0)
        return;
    invoice_key(key, sizeof(key), tenant, invoice);
    if (batch_map_put(e->batch, key, flags | bit) < 0)
        e->batch_failed = 1; /* out of memory: the batch is done again record by record */
}

/* The row of batch_lookup where an invoice's waiting payments start (INV_PAYMENTS), or -1. */
int lookup_payments(engine_t *e, const char *tenant, const char *invoice)
{
    char key[2 * ID_MAX + 32];
    int row;
    invoice_key(key, sizeof(key), tenant, invoice);
    key[0] = 'P';
    return e->batch_lookup && batch_map_get(e->batch, key, &row) ? row : -1;
}

int lookup_row_is(PGresult *r, int row, char kind, const char *tenant, const char *invoice)
{
    return PQgetvalue(r, row, 0)[0] == kind && strcmp(PQgetvalue(r, row, 1), tenant) == 0 &&
           strcmp(PQgetvalue(r, row, 2), invoice) == 0;
}
