/* Time zones: the C library converts between UTC and a named zone only through the TZ
 * environment variable. sms_quiet_until sets TZ to the customer's zone, calls tzset(),
 * converts with localtime_r/mktime, and restores TZ (and tzset()) before returning. setenv
 * and tzset are not thread-safe: this is called only from the sender's one loop thread; the
 * other threads (libmicrohttpd's, librdkafka's) never read local time (dn_log writes UTC).
 * The same pattern as sender-letter's letter date (texts_date_long). */
#include "sms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* GSM 03.38 basic table, the characters that are not printable ASCII or are not themselves. */
static const uint32_t gsm_basic_extra[] = {
    0x00A3, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7, 0x000A, 0x00D8, 0x00F8, 0x000D, 0x00C5, 0x00E5,
    0x0394, 0x03A6, 0x0393, 0x039B, 0x03A9, 0x03A0, 0x03A8, 0x03A3, 0x0398, 0x039E, 0x00C6, 0x00E6, 0x00DF, 0x00C9,
    0x00A4, 0x00A1, 0x00C4, 0x00D6, 0x00D1, 0x00DC, 0x00A7, 0x00BF, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0,
};
/* The extension table: an escape plus the character, 2 septets. */
static const uint32_t gsm_ext[] = {0x000C, '^', '{', '}', '\\', '[', '~', ']', '|', 0x20AC};

/* Septets for code point c in GSM-7: 1, 2, or 0 if it has none. */
static int gsm_septets(uint32_t c)
{
    for (size_t i = 0; i < sizeof(gsm_ext) / sizeof(gsm_ext[0]); i++) {
        if (c == gsm_ext[i])
            return 2;
    }
    /* Printable ASCII is basic, except the backtick (absent) and the extension characters above. */
    if (c >= 0x20 && c < 0x7F)
        return c == '`' ? 0 : 1;
    for (size_t i = 0; i < sizeof(gsm_basic_extra) / sizeof(gsm_basic_extra[0]); i++) {
        if (c == gsm_basic_extra[i])
            return 1;
    }
    return 0;
}

/* Decodes one UTF-8 sequence at *p. The code point, or -1 if invalid (overlong, surrogate,
 * beyond U+10FFFF, truncated). */
static int32_t utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t c;
    int n;
    if (s[0] < 0x80) {
        c = s[0];
        n = 0;
    } else if ((s[0] & 0xE0) == 0xC0) {
        c = s[0] & 0x1F;
        n = 1;
    } else if ((s[0] & 0xF0) == 0xE0) {
        c = s[0] & 0x0F;
        n = 2;
    } else if ((s[0] & 0xF8) == 0xF0) {
        c = s[0] & 0x07;
        n = 3;
    } else {
        return -1;
    }
    for (int i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return -1;
        c = (c << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return -1;
    *p = s + n + 1;
    return (int32_t)c;
}

/* Parts for a sequence of characters of the given widths (1 or 2 units each). */
static int count_parts(const unsigned char *widths, size_t n, size_t total, size_t single, size_t per_part)
{
    if (total <= single)
        return 1;
    int parts = 1;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (used + widths[i] > per_part) {
            parts++;
            used = 0;
        }
        used += widths[i];
    }
    return parts;
}

int sms_measure(const char *text, sms_size_t *out)
{
    size_t len = strlen(text);
    unsigned char *gsm = malloc(len + 1), *ucs = malloc(len + 1);
    int rc = -1;
    if (!gsm || !ucs)
        goto out;
    size_t n = 0, septets = 0, units = 0;
    int fits_gsm = 1;
    for (const unsigned char *p = (const unsigned char *)text; *p; n++) {
        int32_t c = utf8_next(&p);
        if (c < 0)
            goto out;
        int w = gsm_septets((uint32_t)c);
        if (w == 0)
            fits_gsm = 0;
        gsm[n] = (unsigned char)w;
        septets += (size_t)w;
        ucs[n] = c > 0xFFFF ? 2 : 1;
        units += ucs[n];
    }
    if (fits_gsm) {
        out->coding = SMS_GSM7;
        out->units = septets;
        out->parts = count_parts(gsm, n, septets, 160, 153);
    } else {
        out->coding = SMS_UCS2;
        out->units = units;
        out->parts = count_parts(ucs, n, units, 70, 67);
    }
    rc = 0;
out:
    free(gsm);
    free(ucs);
    return rc;
}

const char *sms_coding_name(sms_coding_t c)
{
    return c == SMS_UCS2 ? "ucs2" : "gsm7";
}

int sms_phone_valid(const char *phone)
{
    if (!phone || phone[0] != '+' || phone[1] < '1' || phone[1] > '9')
        return 0;
    size_t digits = strspn(phone + 1, "0123456789");
    return phone[1 + digits] == '\0' && digits >= 7 && digits <= 15;
}

static int parse_hhmm(const char *s, size_t len, int *min)
{
    /* "H:MM" or "HH:MM" */
    if (len < 4 || len > 5 || s[len - 3] != ':')
        return -1;
    int h = 0;
    for (size_t i = 0; i < len - 3; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        h = h * 10 + (s[i] - '0');
    }
    if (s[len - 2] < '0' || s[len - 2] > '5' || s[len - 1] < '0' || s[len - 1] > '9' || h > 23)
        return -1;
    *min = h * 60 + (s[len - 2] - '0') * 10 + (s[len - 1] - '0');
    return 0;
}

int sms_quiet_parse(const char *spec, int *enabled, int *start_min, int *end_min)
{
    *enabled = 0;
    *start_min = *end_min = 0;
    if (!spec[0])
        return 0;
    const char *dash = strchr(spec, '-');
    if (!dash || parse_hhmm(spec, (size_t)(dash - spec), start_min) < 0 ||
        parse_hhmm(dash + 1, strlen(dash + 1), end_min) < 0 || *start_min == *end_min)
        return -1;
    *enabled = 1;
    return 0;
}

int sms_tz_valid(const char *tz)
{
    size_t n = tz ? strlen(tz) : 0;
    if (n == 0 || n > 64 || tz[0] == '/' || strstr(tz, ".."))
        return 0;
    for (const char *p = tz; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '_' ||
              c == '-' || c == '+'))
            return 0;
    }
    if (strcmp(tz, "UTC") == 0)
        return 1;
    char path[128];
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
    return access(path, R_OK) == 0;
}

int sms_quiet_until(int64_t now_ms, const char *tz, int start_min, int end_min, int64_t *until_ms, const char **tz_used)
{
    *tz_used = sms_tz_valid(tz) ? tz : "UTC";
    char saved[256];
    const char *old = getenv("TZ");
    int had = old != NULL && strlen(old) < sizeof(saved);
    if (had)
        snprintf(saved, sizeof(saved), "%s", old);
    setenv("TZ", *tz_used, 1);
    tzset();

    time_t now = (time_t)(now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    localtime_r(&now, &tm);
    int m = tm.tm_hour * 60 + tm.tm_min;
    int quiet = start_min < end_min ? (m >= start_min && m < end_min) : (m >= start_min || m < end_min);
    if (quiet) {
        /* The end is today at end_min if that is still ahead, else tomorrow. mktime with
         * tm_isdst = -1 resolves the local time (a time in a DST gap is moved forward). */
        struct tm end = tm;
        end.tm_hour = end_min / 60;
        end.tm_min = end_min % 60;
        end.tm_sec = 0;
        end.tm_isdst = -1;
        if (m >= end_min)
            end.tm_mday += 1;
        time_t t = mktime(&end);
        if (t <= now) /* cannot happen but for odd zone rules: never a deadline in the past */
            t = now + 60;
        *until_ms = (int64_t)t * 1000;
    }

    if (had)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    return quiet;
}
