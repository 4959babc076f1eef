/* ReminderDue records (reminders.c): one per channel that reaches the customer, into the
 * outbox; the policy's channel_order when a stage's own channels reach nobody; the
 * customer's contact preferences over the invoice's contact (prefs.h). */
#ifndef DN_ENGINE_REMINDERS_H
#define DN_ENGINE_REMINDERS_H

#include "case.h"

/* What one reminder says: a stage of the policy, or the "update your payment method"
 * message after a hard decline. */
typedef struct reminder_spec {
    int stage;
    const char *stage_name, *template_key, *action;
    const channel_t *channels;
    size_t nchannels;
    int64_t due_ms;          /* when it was due (days_overdue counts to it) */
    const char *id_salt;     /* makes the event ids: "stage N" or the causing event id */
    int first_only;          /* a fallback: only the first of `channels` that reaches the customer, if any */
    const char *notice_kind; /* NULL = a stage reminder; "instalment" (ReminderDue.notice_kind) */
    const dn_discount_offer_t *discount;   /* the stage's early-settlement offer, or NULL */
    const dn_instalment_ref_t *instalment; /* the plan instalment it is about, or NULL */
    /* A notice about the customer rather than one invoice (customer_notice, card_expiry):
     * notice_id is the ReminderDue's case_id, its invoice_id is "", the amounts are
     * `totals` and the case passed in only names the tenant, the customer and the invoice
     * whose contact details reach them. */
    const char *notice_id;
    const int64_t *totals; /* amount, outstanding, fee, interest, total due (customer_notice) */
    const dn_notice_item_t *items;
    size_t nitems;
    const dn_card_ref_t *card;
    const char *update_link;
} reminder_spec_t;

/* Writes one ReminderDue per channel of `rs` that reaches the customer. Returns the
 * number emitted (listed in `emitted`), or -1. */
int emit_reminders(engine_t *e, const case_row_t *c, const policy_t *pol, const reminder_spec_t *rs, int64_t now,
                   json_t *emitted);

#endif
