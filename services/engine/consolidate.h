/* Customer-level notices (consolidate.c; policy consolidate: customer): a stage that falls
 * due for one of the customer's invoices puts the case on the customer's notice of the day
 * for its currency (notice_join); when that notice's timer fires, every case waiting on it
 * takes its stage (fee, state) and one ReminderDue per channel lists all the customer's
 * overdue invoices in that currency, each with its own stage, fee and interest, the notice's
 * level the highest of theirs (customer_notice_due). */
#ifndef DN_ENGINE_CONSOLIDATE_H
#define DN_ENGINE_CONSOLIDATE_H

#include "case.h"
#include "notices.h"

/* The case's stage is due: it waits for the customer's notice (next_action "notice", no
 * timer of its own). H_OK or H_DBERR. */
int notice_join(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now);
/* A customer notice's timer fired. H_OK or H_DBERR. */
int customer_notice_due(engine_t *e, const notice_row_t *n, int64_t now);

#endif
