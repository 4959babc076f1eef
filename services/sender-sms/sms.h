/* sender-sms: what an SMS is made of. Pure functions, no I/O (unit-testable).
 *
 * Encoding: a text goes as GSM-7 (GSM 03.38) when every character is in the basic table
 * (1 septet) or the extension table (^ { } \ [ ~ ] | € and form feed: 2 septets, an escape
 * and the character); otherwise as UCS-2 (UTF-16 code units; a character outside the BMP
 * takes 2). Parts: GSM-7 fits 160 septets in one SMS, 153 per part when concatenated
 * (the 6-byte UDH); UCS-2 70 / 67 units. An escaped pair or a surrogate pair is never split
 * across parts, so a part may hold one unit less.
 *
 * Phone numbers and quiet hours are the sender core's (common/dn_hours.h). */
#ifndef SENDER_SMS_H
#define SENDER_SMS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SMS_GSM7 = 0, SMS_UCS2 = 1 } sms_coding_t;

typedef struct sms_size {
    sms_coding_t coding;
    size_t units; /* septets (GSM-7) or UTF-16 code units (UCS-2) */
    int parts;    /* SMS needed: 1, or the concatenated parts */
} sms_size_t;

/* Measures a UTF-8 text. 0, or -1 if it is not valid UTF-8. */
int sms_measure(const char *text, sms_size_t *out);
const char *sms_coding_name(sms_coding_t c); /* "gsm7", "ucs2" */

#endif
