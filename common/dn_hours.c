/* Daily windows in the customer's time zone, and phone numbers (see dn_hours.h).
 *
 * Time zones: the C library converts between UTC and a named zone only through the TZ
 * environment variable. dn_hours_until sets TZ to the customer's zone, calls tzset(),
 * converts with localtime_r/mktime, and restores TZ (and tzset()) before returning. setenv
 * and tzset are not thread-safe: this is called only from a sender's one loop thread; the
 * other threads (libmicrohttpd's, librdkafka's) never read local time (dn_log writes UTC).
 * The same pattern as sender-letter's letter date (texts_date_long). */
#include "dn_hours.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dn_clock.h"

int dn_phone_valid(const char *phone)
{
    if (!phone || phone[0] != '+' || phone[1] < '1' || phone[1] > '9')
        return 0;
    size_t digits = strspn(phone + 1, "0123456789");
    return phone[1 + digits] == '\0' && digits >= 7 && digits <= 15;
}

const char *dn_phone_problem(const char *phone, const char *not_e164)
{
    if (!phone || !phone[0])
        return "no phone number";
    return dn_phone_valid(phone) ? NULL : not_e164;
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

int dn_hours_parse(const char *spec, int *enabled, int *start_min, int *end_min)
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

int dn_tz_valid(const char *tz)
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

/* The process's TZ switched to a zone for a conversion, and put back (see the top). */
typedef struct tz_saved {
    char value[256];
    int had;
} tz_saved_t;

static void tz_enter(tz_saved_t *t, const char *zone)
{
    const char *old = getenv("TZ");
    t->had = old != NULL && strlen(old) < sizeof(t->value);
    if (t->had)
        snprintf(t->value, sizeof(t->value), "%s", old);
    setenv("TZ", zone, 1);
    tzset();
}

static void tz_leave(const tz_saved_t *t)
{
    if (t->had)
        setenv("TZ", t->value, 1);
    else
        unsetenv("TZ");
    tzset();
}

int dn_hours_until(int64_t now_ms, const char *tz, int start_min, int end_min, int64_t *until_ms, const char **tz_used)
{
    *tz_used = dn_tz_valid(tz) ? tz : "UTC";
    tz_saved_t saved;
    tz_enter(&saved, *tz_used);

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

    tz_leave(&saved);
    return quiet;
}

int dn_hours_week_until(int64_t now_ms, const char *tz, const int16_t start[7], const int16_t end[7], int64_t *until_ms,
                        const char **tz_used)
{
    int open_days = 0;
    for (int d = 0; d < 7; d++)
        open_days += start[d] >= 0 && end[d] > start[d];
    if (!open_days)
        return -1;
    *tz_used = dn_tz_valid(tz) ? tz : "UTC";
    tz_saved_t saved;
    tz_enter(&saved, *tz_used);

    time_t now = (time_t)(now_ms >= 0 ? now_ms / 1000 : (now_ms - 999) / 1000);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    localtime_r(&now, &tm);
    int m = tm.tm_hour * 60 + tm.tm_min, wd = tm.tm_wday;
    int inside = start[wd] >= 0 && m >= start[wd] && m < end[wd];
    if (!inside) {
        /* The next start: later today, or on the next day with calling hours. */
        for (int ahead = 0; ahead <= 7; ahead++) {
            int d = (wd + ahead) % 7;
            if (start[d] < 0 || end[d] <= start[d] || (ahead == 0 && m >= start[d]))
                continue;
            struct tm next = tm;
            next.tm_mday += ahead;
            next.tm_hour = start[d] / 60;
            next.tm_min = start[d] % 60;
            next.tm_sec = 0;
            next.tm_isdst = -1;
            time_t t = mktime(&next);
            *until_ms = (int64_t)(t > now ? t : now + 60) * 1000;
            break;
        }
    }

    tz_leave(&saved);
    return !inside;
}

int dn_hours_setup(dn_hours_t *h, const char *spec, int allowed)
{
    int start, end;
    if (dn_hours_parse(spec, &h->on, &start, &end) < 0)
        return -1;
    h->spec = spec;
    /* Allowed hours: the window to hold back is from their end to their start. */
    h->start = allowed ? end : start;
    h->end = allowed ? start : end;
    return 0;
}

int dn_hours_defer(const dn_hours_t *h, const char *tz, const char *what, int64_t *until_ms, char *why, size_t n)
{
    if (!h->on)
        return 0;
    const char *used = NULL;
    if (!dn_hours_until(dn_clock_now_ms(), tz, h->start, h->end, until_ms, &used))
        return 0;
    char end[40];
    dn_time_format(*until_ms, end, sizeof(end));
    snprintf(why, n, "%s (%s in %s) until %s", what, h->spec, used, end);
    return 1;
}
