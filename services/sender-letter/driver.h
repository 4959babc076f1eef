/* sender-letter: the letter channel's driver of the sender core (common/dn_sender.h):
 * print-ready PDF letters (cairo and pango, DIN 5008 window envelope) written to a spool
 * folder, the hand-off to a print-and-mail house. */
#ifndef SENDER_LETTER_DRIVER_H
#define SENDER_LETTER_DRIVER_H

#include "dn_sender.h"

typedef struct letter_cfg {
    char *spool_dir;
    char *from_name;
    char *from_address;
    char *from_country;
    char *payment_details;
    char *font;
} letter_cfg_t;

extern const dn_sender_driver_t letter_driver;

#endif
