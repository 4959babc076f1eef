/* dn_hours: a daily window in the customer's local time (a sender's quiet hours, a voice
 * call's calling hours), "21:00-08:00" (may wrap midnight), checked in the customer's IANA
 * time zone; and E.164 phone numbers. Shared by the senders that reach a phone. */
#ifndef DN_HOURS_H
#define DN_HOURS_H

#include <stddef.h>
#include <stdint.h>

/* An E.164 number: '+', a non-zero digit, 7 to 15 digits in all. */
int dn_phone_valid(const char *phone);
/* Why a reminder cannot go to phone: "no phone number", or not_e164 (the channel's own
 * wording) when it is not E.164; NULL when it can. */
const char *dn_phone_problem(const char *phone, const char *not_e164);

/* "21:00-08:00" -> minutes of the day; "" -> none (*enabled = 0). 0, or -1 if malformed or
 * both ends are the same time. */
int dn_hours_parse(const char *spec, int *enabled, int *start_min, int *end_min);
/* Whether now_ms falls into the window in time zone tz (an IANA name; UTC if it is not a
 * valid one, *tz_used says which was used). Returns 1 and sets *until_ms to the end of the
 * window (the next end time, local, as Unix ms), or 0. Switches TZ for the conversion and
 * puts it back: call it from one thread only (see the top of dn_hours.c). */
int dn_hours_until(int64_t now_ms, const char *tz, int start_min, int end_min, int64_t *until_ms, const char **tz_used);
/* Calling hours by day of the week: start[d]/end[d] minutes of the local day (d = tm_wday,
 * 0 = Sunday; start < 0: none that day). 0 inside them; 1 outside, with *until_ms the next
 * start; -1 if no day has any. Same TZ rules as dn_hours_until. */
int dn_hours_week_until(int64_t now_ms, const char *tz, const int16_t start[7], const int16_t end[7], int64_t *until_ms,
                        const char **tz_used);
/* An IANA name such as Europe/Berlin (letters, digits, '/', '_', '-', '+'; no "..") whose
 * zoneinfo file exists. */
int dn_tz_valid(const char *tz);

/* The window a sender holds reminders back in, from its setting. */
typedef struct dn_hours {
    int on, start, end; /* minutes of the day of the window held back */
    const char *spec;   /* the setting, for the reason */
} dn_hours_t;
/* spec is the quiet window (allowed = 0) or the allowed hours (allowed = 1: held back is
 * their complement). spec must outlive h. 0, or -1 if malformed. */
int dn_hours_setup(dn_hours_t *h, const char *spec, int allowed);
/* A driver's defer step: 1 while the dunning clock is inside the window in zone tz, with
 * *until_ms its end and why "<what> (<spec> in <zone>) until <time>"; else 0. */
int dn_hours_defer(const dn_hours_t *h, const char *tz, const char *what, int64_t *until_ms, char *why, size_t n);

#endif
