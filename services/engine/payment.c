/* PaymentReceived (see handlers.h): recorded once by payment id, applied to its case, or
 * held (as a waiting payment) until the invoice arrives. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "money.h"
#include "answers.h"
#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_topics.h"
#include "effects.h"
#include "handlers.h"
#include "validate.h"
#include "writes.h"

int handle_payment(engine_t *e, dn_payment_received_t *v)
{
    int rc;
    /* No processed_events row: the payments row (unique payment id) is the record that this
     * event was applied; a redelivered event finds it below and is ignored as a duplicate. */
    int64_t now = dn_clock_now_ms();
    case_row_t c;
    char case_id[DN_UUID_STR_LEN];
    case_id_for(v->tenant_id, v->invoice_id, case_id);
    int found = load_case(e, case_id, &c);
    if (found < 0) {
        rc = H_DBERR;
        goto out;
    }
    if (found && strcmp(c.currency, v->currency) != 0) {
        rc = reject(e, "currency_mismatch", "payment in %.8s for invoice %.64s in %s", v->currency, v->invoice_id,
                    c.currency);
        goto out;
    }
    char amount[24], at[40];
    fmt_i64(amount, sizeof(amount), v->amount_minor);
    dn_time_format(v->occurred_at, at, sizeof(at));
    const char *pp[] = {v->tenant_id, v->payment_id,    v->invoice_id, v->customer_id,
                        amount,       v->currency,      v->method,     v->event_id,
                        at,           found ? "t" : "f"};
    int inserted;
    if (payment_known(e, v->tenant_id, v->payment_id) == 0) {
        /* New, says the batch's lookup: no answer to wait for (a conflict after all fails
         * the batch, which is then done record by record). */
        char key[2 * ID_MAX + 32];
        if (buffer_row(e, payment_rows, PAYMENT_COLS, pp) < 0) {
            rc = H_DBERR;
            goto out;
        }
        payment_key(key, sizeof(key), v->tenant_id, v->payment_id);
        if (batch_map_put(e->batch, key, 1) < 0)
            e->batch_failed = 1;
        inserted = 1;
    } else {
        PGresult *r = query(e,
                            "INSERT INTO payments (tenant_id, payment_id, invoice_id, customer_id, "
                            "amount_minor, currency, method, event_id, received_at, applied) VALUES ($1, $2, "
                            "$3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING 1",
                            10, pp);
        if (!r) {
            rc = H_DBERR;
            goto out;
        }
        inserted = PQntuples(r) == 1;
        PQclear(r);
    }
    if (!inserted) {
        engine_note_duplicate(e);
        dn_log_info("payment already known, ignored", "event_id", v->event_id, "tenant_id", v->tenant_id, "invoice_id",
                    v->invoice_id, "payment_id", v->payment_id, NULL);
        rc = H_OK;
        goto out;
    }
    if (!found) {
        /* Held until the invoice arrives; recorded against the case id the invoice will get. */
        invoice_mark(e, v->tenant_id, v->invoice_id, INV_PAYMENTS_NEW);
        case_row_t held = {
            .interest_through = -1, .paused_until = -1, .retry_base_ms = -1, .offer_until = -1, .risk_score = -1};
        snprintf(held.case_id, sizeof(held.case_id), "%s", case_id);
        snprintf(held.tenant_id, sizeof(held.tenant_id), "%s", v->tenant_id);
        snprintf(held.invoice_id, sizeof(held.invoice_id), "%s", v->invoice_id);
        snprintf(held.customer_id, sizeof(held.customer_id), "%s", v->customer_id);
        snprintf(held.currency, sizeof(held.currency), "%s", v->currency);
        snprintf(held.state, sizeof(held.state), "awaiting_invoice");
        rc = record(e, &held, "payment_held", NULL, "invoice not yet known", v->event_id, now,
                    json_pack("{s:s, s:I}", "payment_id", v->payment_id, "amount_minor", (json_int_t)v->amount_minor)) <
                     0
                 ? H_DBERR
                 : H_OK;
        dn_log_info("payment held for unknown invoice", "event_id", v->event_id, "tenant_id", v->tenant_id,
                    "invoice_id", v->invoice_id, NULL);
        goto out;
    }
    rc = apply_money(e, &c, case_policy(e, &c), v->amount_minor, 0, v->payment_id, v->event_id, now);
    dn_log_info("payment applied", "event_id", v->event_id, "tenant_id", v->tenant_id, "invoice_id", v->invoice_id,
                "case_id", c.case_id, "state", c.state, NULL);
out:
    return rc;
}
