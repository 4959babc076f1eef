/* sender-sms: what an SMS is made of. Pure functions, no I/O (unit-testable).
 *
 * Encoding: a text goes as GSM-7 (GSM 03.38) when every character is in the basic table
 * (1 septet) or the extension table (^ { } \ [ ~ ] | € and form feed: 2 septets, an escape
 * and the character); otherwise as UCS-2 (UTF-16 code units; a character outside the BMP
 * takes 2). Parts: GSM-7 fits 160 septets in one SMS, 153 per part when concatenated
 * (the 6-byte UDH); UCS-2 70 / 67 units. An escaped pair or a surrogate pair is never split
 * across parts, so a part may hold one unit less.
 *
 * Quiet hours: a daily window in local time, "21:00-08:00" (may wrap midnight), checked in
 * the customer's IANA time zone. */
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

/* An E.164 number: '+', a non-zero digit, 7 to 15 digits in all. */
int sms_phone_valid(const char *phone);

/* "21:00-08:00" -> minutes of the day; "" -> none (*enabled = 0). 0, or -1 if malformed or
 * both ends are the same time. */
int sms_quiet_parse(const char *spec, int *enabled, int *start_min, int *end_min);
/* Whether now_ms falls into the window in time zone tz (an IANA name; UTC if it is not a
 * valid one, *tz_used says which was used). Returns 1 and sets *until_ms to the end of the
 * quiet period (the next end time, local, as Unix ms), or 0. Switches TZ for the conversion
 * and puts it back: call it from one thread only (see the top of sms.c). */
int sms_quiet_until(int64_t now_ms, const char *tz, int start_min, int end_min, int64_t *until_ms,
                    const char **tz_used);
/* An IANA name such as Europe/Berlin (letters, digits, '/', '_', '-', '+'; no "..") whose
 * zoneinfo file exists. */
int sms_tz_valid(const char *tz);

#endif
