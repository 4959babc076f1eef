/* Payment methods and card-expiry notices (cards.c): PaymentMethodUpdated keeps the
 * customer's card as the billing system last described it (payment_methods), schedules
 * the policy's card_expiry.notices before a card that expires before the next charge,
 * cancels them when the card is updated, replaced or removed, and brings the next retry of
 * the customer's retrying cases forward when a usable card arrives. */
#ifndef DN_ENGINE_CARDS_H
#define DN_ENGINE_CARDS_H

#include "dn_schemas_gen.h"
#include "notices.h"

int handle_payment_method(engine_t *e, dn_payment_method_updated_t *v);
/* A card-expiry notice's timer fired. H_OK or H_DBERR. */
int card_notice_due(engine_t *e, const notice_row_t *n, int64_t now);

#endif
