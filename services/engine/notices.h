/* Notices about a customer rather than one invoice (notices.c; table notices, sql/010):
 * the consolidated customer notice (consolidate.c) and the card-expiry notice (cards.c).
 * A pending notice has its own timer in the index, keyed by notice_id; fire_timer finds it
 * when the id names no case. */
#ifndef DN_ENGINE_NOTICES_H
#define DN_ENGINE_NOTICES_H

#include "case.h"

typedef struct notice_row {
    char notice_id[DN_UUID_STR_LEN];
    char kind[24], state[16];
    char tenant_id[ID_MAX + 1], customer_id[ID_MAX + 1], currency[4], policy[ID_MAX + 1];
    char payment_method_id[ID_MAX + 1];
    int32_t notice_date;
    int32_t days_before; /* card_expiry */
    int64_t due_ms;      /* -1 = none */
} notice_row_t;

/* Loads and row-locks a notice. 1 found, 0 none, -1 database error. */
int load_notice(engine_t *e, const char *notice_id, notice_row_t *n);
/* Sets a notice's state (sent, undeliverable, dropped, cancelled), clears its timer and
 * keeps `detail` (stolen) with it. 0/-1. */
int notice_close(engine_t *e, const notice_row_t *n, const char *state, json_t *detail, int64_t now);
/* One audit row and one DunningCaseEvent about a notice (case_id = notice_id, invoice ""). 0/-1. */
int notice_record(engine_t *e, const notice_row_t *n, const char *kind, const char *reason, const char *caused_by,
                  int64_t now, json_t *detail);
/* The contact details to use for the customer: a case of their newest invoice, with its
 * policy (only tenant, customer, invoice and policy are set). 1 found, 0 none, -1 error. */
int customer_contact_case(engine_t *e, const char *tenant, const char *customer, case_row_t *c);

#endif
