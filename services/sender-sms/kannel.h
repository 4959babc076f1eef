/* sender-sms: Kannel's HTTP sendsms interface (smsbox), over libcurl.
 *
 *   GET <DUNNING_KANNEL_URL>?username=..&password=..&from=..&to=..&text=..&charset=UTF-8[&coding=2]
 *
 * The text goes as UTF-8 (charset=UTF-8); coding=2 asks Kannel for UCS-2, without it Kannel
 * sends GSM-7. Kannel answers 202 "0: Accepted for delivery" or "3: Queued for later
 * delivery" (both: accepted), 4xx for a request it refuses (a bad number: 400; wrong
 * credentials: 403), 5xx when it cannot take messages. One easy handle is reused, so
 * consecutive sends share the connection. The URL (it holds the password) is never logged. */
#ifndef SENDER_SMS_KANNEL_H
#define SENDER_SMS_KANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "sms.h"

typedef struct kannel kannel_t;

typedef enum {
    KANNEL_ACCEPTED = 0, /* Kannel took the message */
    KANNEL_TRANSIENT,    /* not reached, 5xx, or a refusal that a fix on our side cures (401, 403, 429) */
    KANNEL_PERMANENT,    /* any other 4xx: this message will never be taken */
} kannel_result_t;

/* url: the sendsms URL (http or https); from may be "" (Kannel's default sender). NULL with
 * errstr on a bad URL or no memory. */
kannel_t *kannel_new(const char *url, const char *user, const char *password, const char *from, int64_t timeout_ms,
                     char *errstr, size_t errstr_size);
/* Sends one text to an E.164 number. *reached: Kannel answered (any status). reason: what
 * Kannel said ("kannel 202: 0: Accepted for delivery", "kannel 400: ...", or libcurl's error,
 * "kannel: Couldn't connect to server"), digits runs that could be a number masked. */
kannel_result_t kannel_send(kannel_t *k, const char *to, const char *text, sms_coding_t coding, int *reached,
                            char *reason, size_t reason_size);
/* Whether Kannel answers at all: a request without credentials (Kannel refuses it, nothing
 * is sent). 1/0. */
int kannel_probe(kannel_t *k);
void kannel_destroy(kannel_t *k);

#endif
