/* dn_notice: the senders' last look at a notice about a customer (ReminderDue.notice_kind
 * customer_notice or card_expiry) before it goes out. The engine wrote the notice's items
 * when it fired; an item can be paid, written off or put on hold between then and the send.
 *
 *   dn_notice_case_t now[3] = {...one per rd.items[i], read from the cases table...};
 *   int changed = 0;
 *   int dunned = dn_notice_refresh(&rd, now, &changed);
 *   if (dunned == 0) ... suppress: nothing left to dun ...
 *   if (changed) ... render again ...
 */
#ifndef DN_NOTICE_H
#define DN_NOTICE_H

#include <stdint.h>

#include "dn_schemas_gen.h"

/* 1 for the notice kinds whose case_id is a notice_id (notices table), not a case. */
int dn_notice_is_customer_level(const dn_reminder_due_t *rd);

/* What the cases table says now of one listed invoice. */
typedef struct dn_notice_case {
    int found;                /* 0: no case for (tenant, invoice) */
    const char *state;        /* cases.state */
    const char *pause_reason; /* cases.pause_reason, or NULL */
    int64_t outstanding_minor;
    int64_t fee_minor;
    int64_t interest_minor;
} dn_notice_case_t;

/* Brings rd's items (customer_notice) up to date with now[i] (one per rd->items[i], in
 * order): an item whose case is gone, resolved or written off is taken off the list; one now
 * promised, on a plan, paused or disputed stays listed but is no longer dunned
 * (not_dunned_reason promise, plan, paused, dispute). An item is never made dunned here that
 * the engine listed as not dunned. An item whose case owes less now (a part payment) shows
 * the lower amounts. The top-level amounts are then the sums of the dunned items
 * (amount_minor = their outstanding). *changed is set to 1 if anything changed. Returns the
 * number of dunned items left, or -1 when out of memory (rd is then consistent but may be
 * only partly updated). */
int dn_notice_refresh(dn_reminder_due_t *rd, const dn_notice_case_t *now, int *changed);

#endif
