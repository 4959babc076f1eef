#include "dn_clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "dn_config.h"

static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t clock_speed = 1, clock_epoch_ms, clock_origin_ms;
static char clock_file[4096];
static int64_t file_checked_ms; /* real time of the last stat() */
static struct timespec file_mtime;
static off_t file_size;

/* How often (real ms) a clock file is checked for changes. */
#define CLOCK_FILE_CHECK_MS 20

void dn_clock_init(int64_t speed, int64_t epoch_ms, int64_t origin_ms)
{
    pthread_mutex_lock(&clock_lock);
    clock_speed = speed >= 0 ? speed : 1;
    clock_epoch_ms = epoch_ms;
    clock_origin_ms = origin_ms;
    clock_file[0] = '\0';
    pthread_mutex_unlock(&clock_lock);
}

int dn_clock_parse_line(const char *line, int64_t *speed, int64_t *epoch_ms, int64_t *origin_ms)
{
    long long s, e, o;
    char extra;
    if (sscanf(line, "%lld %lld %lld %c", &s, &e, &o, &extra) != 3 || s < 0 || s > 10000000 || e < 0 || o < 0)
        return -1;
    *speed = s;
    *epoch_ms = e;
    *origin_ms = o;
    return 0;
}

/* Called with clock_lock held. Keeps the old values when the file is missing or half written. */
static void reload_file(int64_t real)
{
    if (!clock_file[0] || real - file_checked_ms < CLOCK_FILE_CHECK_MS)
        return;
    file_checked_ms = real;
    struct stat st;
    if (stat(clock_file, &st) != 0)
        return;
    if (st.st_mtim.tv_sec == file_mtime.tv_sec && st.st_mtim.tv_nsec == file_mtime.tv_nsec && st.st_size == file_size)
        return;
    FILE *f = fopen(clock_file, "r");
    if (!f)
        return;
    char line[128];
    int64_t sp, ep, or ;
    if (fgets(line, sizeof(line), f) && dn_clock_parse_line(line, &sp, &ep, & or) == 0) {
        clock_speed = sp;
        clock_epoch_ms = ep;
        clock_origin_ms = or ;
        file_mtime = st.st_mtim;
        file_size = st.st_size;
    }
    fclose(f);
}

int dn_clock_init_file(const char *path)
{
    pthread_mutex_lock(&clock_lock);
    snprintf(clock_file, sizeof(clock_file), "%s", path);
    file_checked_ms = 0;
    file_mtime.tv_sec = 0;
    file_mtime.tv_nsec = 0;
    file_size = -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    reload_file((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    int ok = file_size >= 0;
    pthread_mutex_unlock(&clock_lock);
    return ok ? 0 : -1;
}

int dn_clock_init_from_cfg(const dn_common_cfg_t *cfg)
{
    dn_clock_init(cfg->clock_speed, cfg->clock_epoch_ms, cfg->clock_origin_ms);
    if (cfg->clock_file && cfg->clock_file[0])
        return dn_clock_init_file(cfg->clock_file);
    return 0;
}

int64_t dn_clock_real_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dn_clock_now_ms(void)
{
    int64_t real = dn_clock_real_now_ms();
    pthread_mutex_lock(&clock_lock);
    reload_file(real);
    int64_t now = clock_epoch_ms == 0 ? real : clock_epoch_ms + (real - clock_origin_ms) * clock_speed;
    pthread_mutex_unlock(&clock_lock);
    return now;
}

int64_t dn_clock_speed(void)
{
    pthread_mutex_lock(&clock_lock);
    int64_t s = clock_epoch_ms == 0 || clock_speed == 0 ? 1 : clock_speed;
    pthread_mutex_unlock(&clock_lock);
    return s;
}

int dn_clock_frozen(void)
{
    pthread_mutex_lock(&clock_lock);
    int frozen = clock_epoch_ms != 0 && clock_speed == 0;
    pthread_mutex_unlock(&clock_lock);
    return frozen;
}

int64_t dn_clock_real_delay_ms(int64_t sim_ms)
{
    int64_t d = sim_ms - dn_clock_now_ms();
    if (d <= 0)
        return 0;
    if (dn_clock_frozen())
        return CLOCK_FILE_CHECK_MS; /* only a change of the clock file moves time */
    return d / dn_clock_speed();
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int32_t dn_date_from_ms(int64_t ms)
{
    return (int32_t)floor_div(ms, 86400000);
}

int64_t dn_date_to_ms(int32_t days)
{
    return (int64_t)days * 86400000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static int days_in_month(int y, unsigned m)
{
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dim[m - 1];
}

/* Parses YYYY-MM-DD at s; returns the number of characters read or -1. */
static int parse_ymd(const char *s, int32_t *days)
{
    int y, n = 0;
    unsigned m, d;
    if (sscanf(s, "%4d-%2u-%2u%n", &y, &m, &d, &n) != 3 || n != 10)
        return -1;
    if (y < 1 || m < 1 || m > 12 || d < 1 || (int)d > days_in_month(y, m))
        return -1;
    *days = (int32_t)days_from_civil(y, m, d);
    return n;
}

int dn_date_parse(const char *s, int32_t *days)
{
    int32_t v;
    if (!s || parse_ymd(s, &v) < 0 || s[10] != '\0')
        return -1;
    *days = v;
    return 0;
}

void dn_date_format(int32_t days, char *buf, size_t size)
{
    int y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    snprintf(buf, size, "%04d-%02u-%02u", y, m, d);
}

int dn_time_parse(const char *s, int64_t *ms)
{
    int32_t days;
    if (!s)
        return -1;
    int n = parse_ymd(s, &days);
    if (n < 0)
        return -1;
    const char *p = s + n;
    int64_t t = dn_date_to_ms(days);
    if (*p == '\0') {
        *ms = t;
        return 0;
    }
    if (*p != 'T' && *p != ' ')
        return -1;
    unsigned hh, mi, ss = 0;
    int k = 0;
    if (sscanf(p + 1, "%2u:%2u%n", &hh, &mi, &k) != 2 || k != 5)
        return -1;
    p += 1 + k;
    if (*p == ':') {
        if (sscanf(p + 1, "%2u%n", &ss, &k) != 1 || k != 2)
            return -1;
        p += 3;
    }
    if (hh > 23 || mi > 59 || ss > 60)
        return -1;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (digits < 3)
                frac = frac * 10 + (*p - '0');
        }
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            frac *= 10;
    }
    int64_t offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        unsigned oh, om = 0;
        int sign = *p == '-' ? -1 : 1;
        if (sscanf(p + 1, "%2u:%2u%n", &oh, &om, &k) == 2 && k == 5)
            p += 6;
        else if (sscanf(p + 1, "%2u%2u%n", &oh, &om, &k) == 2 && k == 4)
            p += 5;
        else
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        offset_min = sign * (int64_t)(oh * 60 + om);
    } else {
        return -1; /* a time without a zone is ambiguous */
    }
    if (*p != '\0')
        return -1;
    *ms = t + ((int64_t)hh * 3600 + mi * 60 + ss) * 1000 + frac - offset_min * 60000;
    return 0;
}

void dn_time_format(int64_t ms, char *buf, size_t size)
{
    /* Years 0000-9999 as ISO 8601; anything else (a hostile or broken timestamp-millis can
     * be any long) as the plain number, without the day arithmetic overflowing. */
    if (ms < -62167219200000LL || ms > 253402300799999LL) {
        snprintf(buf, size, "%lld", (long long)ms);
        return;
    }
    int32_t days = dn_date_from_ms(ms);
    int64_t rem = ms - dn_date_to_ms(days);
    char date[16];
    dn_date_format(days, date, sizeof(date));
    snprintf(buf, size, "%sT%02d:%02d:%02d.%03dZ", date, (int)(rem / 3600000), (int)(rem / 60000 % 60),
             (int)(rem / 1000 % 60), (int)(rem % 1000));
}
