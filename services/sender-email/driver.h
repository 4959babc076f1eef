/* sender-email: the e-mail channel's driver of the sender core (common/dn_sender.h):
 * MIME messages from the e-mail templates, delivered over SMTP with libcurl. */
#ifndef SENDER_EMAIL_DRIVER_H
#define SENDER_EMAIL_DRIVER_H

#include <stdint.h>

#include "dn_sender.h"

typedef struct email_cfg {
    char *smtp_url;
    char *smtp_from;
    char *smtp_tls;
    int64_t smtp_timeout_ms;
    char *list_unsubscribe;
} email_cfg_t;

extern const dn_sender_driver_t email_driver;

#endif
