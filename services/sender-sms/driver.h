/* sender-sms: the SMS channel's driver of the sender core (common/dn_sender.h): texts from
 * the SMS templates, measured (GSM-7 or UCS-2, parts), sent through Kannel's HTTP sendsms
 * interface, never during the customer's quiet hours. */
#ifndef SENDER_SMS_DRIVER_H
#define SENDER_SMS_DRIVER_H

#include <stdint.h>

#include "dn_sender.h"

typedef struct sms_cfg {
    char *kannel_url;
    char *kannel_user;
    char *kannel_password;
    int64_t kannel_timeout_ms;
    char *from;
    char *quiet_hours;
    int64_t max_parts;
} sms_cfg_t;

extern const dn_sender_driver_t sms_driver;

#endif
