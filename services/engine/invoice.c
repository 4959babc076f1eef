/* InvoiceIssued (see handlers.h): the invoice is stored and its case opened; payments that
 * arrived before it are applied, held input replayed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "money.h"
#include "answers.h"
#include "risk.h"
#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_topics.h"
#include "effects.h"
#include "handlers.h"
#include "validate.h"
#include "writes.h"

int handle_invoice(engine_t *e, dn_invoice_issued_t *v, const void *payload, size_t len, held_handler_fn again)
{
    dn_avro_err_t err;
    int rc = H_OK;
    json_t *whole = NULL;
    char *contact = NULL;
    /* No processed_events row: the invoice row is the record that this event was applied
     * (a redelivered event finds its invoice below and is ignored as a duplicate). */
    const policy_t *pol = dn_policy_select(e->policies, v->tenant_id, v->policy, v->customer_segment);
    int64_t now = dn_clock_now_ms();
    char amount[24], issue[16], due[16], at[40];
    fmt_i64(amount, sizeof(amount), v->amount_minor);
    dn_date_format(v->issue_date, issue, sizeof(issue));
    dn_date_format(v->due_date, due, sizeof(due));
    dn_time_format(v->occurred_at, at, sizeof(at));
    whole = dn_avro_to_json(payload, len, &err);
    contact = whole ? json_dumps(json_object_get(whole, "contact"), JSON_COMPACT) : NULL;
    if (!contact) {
        rc = reject(e, "invalid_field", "field contact: cannot be represented as JSON");
        goto out;
    }
    const char *params[] = {
        v->tenant_id, v->invoice_id,       v->customer_id,  v->invoice_number, amount,  v->currency, issue, due,
        v->policy,    v->customer_segment, v->payment_link, contact,           payload, v->event_id, at};
    int lengths[15] = {0};
    int formats[15] = {0};
    lengths[12] = (int)len;
    formats[12] = 1;
    PGresult *r = NULL;
    int inserted = 1, flags = invoice_flags(e, v->tenant_id, v->invoice_id);
    if (flags >= 0 && !(flags & INV_EXISTS)) {
        /* The batch's lookup says it is new: no answer to wait for. Should it exist after
         * all, the insert fails and the batch is done again record by record. */
        for (size_t i = 0; i < INVOICE_COLS; i++)
            if ((i == 12 ? dn_pgarray_add_bytea(&invoice_rows[i], payload, len)
                         : dn_pgarray_add(&invoice_rows[i], params[i])) < 0) {
                e->batch_failed = 1;
                rc = H_DBERR;
                goto out;
            }
        invoice_mark(e, v->tenant_id, v->invoice_id, INV_EXISTS);
    } else
        r = query_bin(e,
                      "INSERT INTO invoices (tenant_id, invoice_id, customer_id, invoice_number, "
                      "amount_minor, currency, issue_date, due_date, policy, customer_segment, "
                      "payment_link, contact, source, issued_event_id, issued_at) VALUES ($1, $2, $3, $4, "
                      "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING RETURNING 1",
                      15, params, lengths, formats);
    if (flags < 0 || (flags & INV_EXISTS)) {
        if (!r) {
            rc = H_DBERR;
            goto out;
        }
        inserted = PQntuples(r) == 1;
        PQclear(r);
    }
    if (!inserted) {
        /* The same invoice under another event id: harmless if identical, a billing bug if not. */
        const char *kp[] = {v->tenant_id, v->invoice_id, amount, v->currency, due};
        r = query(e,
                  "SELECT amount_minor = $3::bigint AND currency = $4 AND due_date = $5::date FROM invoices "
                  "WHERE tenant_id = $1 AND invoice_id = $2",
                  5, kp);
        if (!r) {
            rc = H_DBERR;
            goto out;
        }
        int same = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        if (!same)
            rc = reject(e, "conflicting_duplicate",
                        "invoice %.64s was already issued with another amount, currency or due date", v->invoice_id);
        else {
            engine_note_duplicate(e);
            dn_log_info("invoice already known, ignored", "event_id", v->event_id, "tenant_id", v->tenant_id,
                        "invoice_id", v->invoice_id, NULL);
        }
        goto out;
    }

    case_row_t c = {.stage = 0,
                    .amount = v->amount_minor,
                    .outstanding = v->amount_minor,
                    .due_date = v->due_date,
                    .next_stage = 1,
                    .interest_through = -1,
                    .retry_base_ms = -1,
                    .paused_until = -1,
                    .offer_until = -1,
                    .risk_score = -1};
    case_id_for(v->tenant_id, v->invoice_id, c.case_id);
    snprintf(c.tenant_id, sizeof(c.tenant_id), "%s", v->tenant_id);
    snprintf(c.invoice_id, sizeof(c.invoice_id), "%s", v->invoice_id);
    snprintf(c.customer_id, sizeof(c.customer_id), "%s", v->customer_id);
    snprintf(c.policy, sizeof(c.policy), "%s", pol->name);
    snprintf(c.currency, sizeof(c.currency), "%s", v->currency);
    set_state(&c, ST_OPEN);
    /* The customer's risk score, and the tenant's track for it, before the first stage is
     * scheduled (risk.h). */
    char track_from[ID_MAX + 1];
    if (risk_score_case(e, &c, 1) < 0) {
        rc = H_DBERR;
        goto out;
    }
    int track_changed = risk_track_choose(e, &c, track_from, sizeof(track_from));
    if (track_changed)
        pol = case_policy(e, &c);
    schedule_next(&c, pol, now);
    char now_txt[40];
    dn_time_format(now, now_txt, sizeof(now_txt));
    const char *cp[] = {c.case_id, c.tenant_id, c.invoice_id, c.customer_id, c.policy, amount, c.currency, now_txt};
    /* On the fast path the case is buffered and inserted as the batch leaves it. */
    if (e->buffering ? case_buffer(e, &c, NULL, now, 1) < 0
                     : dn_pg_defer(e->pg,
                                   "INSERT INTO cases (case_id, tenant_id, invoice_id, customer_id, policy, state, "
                                   "amount_minor, outstanding_minor, currency, opened_at, updated_at) "
                                   "VALUES ($1, $2, $3, $4, $5, 'open', $6, $6, $7, $8, $8)",
                                   8, cp, NULL, NULL) < 0) {
        rc = H_DBERR;
        goto out;
    }
    if (save_case(e, &c, NULL, now) < 0 ||
        record(e, &c, "opened", NULL, NULL, v->event_id, now,
               json_pack("{s:s, s:s, s:I}", "policy", c.policy, "due_date", due, "amount_minor",
                         (json_int_t)v->amount_minor)) < 0 ||
        (track_changed && risk_track_record(e, &c, track_from, v->event_id, now) < 0)) {
        rc = H_DBERR;
        goto out;
    }

    /* Payments that arrived before their invoice: the batch's lookup has them (none, if it
     * found none and the batch held none); they are marked applied with the batch's
     * writes. Only if the batch held one itself, or on the careful path, is the database
     * asked (and they are marked at once). */
    const char *hp[] = {c.tenant_id, c.invoice_id};
    flags = invoice_flags(e, c.tenant_id, c.invoice_id);
    int row = 0, col = 0;
    if (flags >= 0 && !(flags & INV_PAYMENTS_NEW)) {
        if (flags & INV_PAYMENTS) {
            r = e->batch_lookup;
            row = lookup_payments(e, c.tenant_id, c.invoice_id);
            col = LOOKUP_PAYMENT_COL;
        }
    } else if (!(r = query(e,
                           "UPDATE payments SET applied = true WHERE tenant_id = $1 AND invoice_id = $2 AND NOT "
                           "applied RETURNING payment_id, amount_minor, currency, event_id",
                           2, hp))) {
        rc = H_DBERR;
        goto out;
    }
    for (int i = row; r && i >= 0 && i < PQntuples(r) && rc == H_OK; i++) {
        if (col && !lookup_row_is(r, i, 'p', c.tenant_id, c.invoice_id))
            break;
        const char *pid = PQgetvalue(r, i, col), *cur = PQgetvalue(r, i, col + 2), *pev = PQgetvalue(r, i, col + 3);
        if (col) {
            const char *ap[] = {c.tenant_id, pid};
            if (buffer_row(e, applied_rows, APPLIED_COLS, ap) < 0) {
                rc = H_DBERR;
                break;
            }
        }
        if (strcmp(cur, c.currency) != 0) {
            if (record(e, &c, "payment_rejected", c.state, "currency mismatch", pev, now,
                       json_pack("{s:s, s:s}", "payment_id", pid, "currency", cur)) < 0)
                rc = H_DBERR;
            continue;
        }
        if (apply_money(e, &c, pol, strtoll(PQgetvalue(r, i, col + 1), NULL, 10), 0, pid, pev, now) != H_OK)
            rc = H_DBERR;
    }
    if (r == e->batch_lookup)
        r = NULL; /* the batch's, not ours */
    PQclear(r);
    if (rc == H_OK)
        rc = replay_held(e, &c, now, again);
    dn_log_info("case opened", "event_id", v->event_id, "tenant_id", v->tenant_id, "invoice_id", v->invoice_id,
                "case_id", c.case_id, "policy", c.policy, NULL);
out:
    json_decref(whole);
    free(contact);
    return rc;
}
