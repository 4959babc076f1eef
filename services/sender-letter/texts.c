#include "texts.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dn_clock.h"
#include "dn_render.h"

#define MAX_TEMPLATE_BYTES (1 << 20)
/* What {{letter.table}} renders to; a line holding only this is replaced by the table. */
#define TABLE_MARK "\036letter.table\036"

static const labels_t labels_en = {
    .date = "Date",
    .invoice_no = "Invoice no.",
    .customer_no = "Customer no.",
    .page = "Page",
    .of = "of",
    .item = "Item",
    .issue_date = "Invoice date",
    .due_date = "Due date",
    .amount = "Amount",
    .invoice = "Invoice",
    .payments = "Payments and credits",
    .fees = "Dunning fees",
    .interest = "Interest",
    .total = "Total due",
    .payment_details = "Payment details",
    .reference = "Reference",
    .pay_online = "Pay online",
    .portal = "Your invoices online: promise a date, pay in instalments, ask a question. Scan the code or open:",
};

static const labels_t labels_de = {
    .date = "Datum",
    .invoice_no = "Rechnungsnr.",
    .customer_no = "Kundennr.",
    .page = "Seite",
    .of = "von",
    .item = "Position",
    .issue_date = "Rechnungsdatum",
    .due_date = "Fällig am",
    .amount = "Betrag",
    .invoice = "Rechnung",
    .payments = "Zahlungen und Gutschriften",
    .fees = "Mahngebühren",
    .interest = "Zinsen",
    .total = "Gesamtbetrag",
    .payment_details = "Zahlungsinformationen",
    .reference = "Verwendungszweck",
    .pay_online = "Online bezahlen",
    .portal =
        "Ihre Rechnungen online: Zahlung zusagen, Raten vereinbaren, Rückfragen stellen. Code scannen oder öffnen:",
};

static const char *const months_en[12] = {"January", "February", "March",     "April",   "May",      "June",
                                          "July",    "August",   "September", "October", "November", "December"};
static const char *const months_de[12] = {"Januar", "Februar", "März",      "April",   "Mai",      "Juni",
                                          "Juli",   "August",  "September", "Oktober", "November", "Dezember"};

static int is_de(const char *locale)
{
    return locale && locale[0] == 'd' && locale[1] == 'e' && (locale[2] == '\0' || locale[2] == '-');
}

const labels_t *texts_labels(const char *locale)
{
    return is_de(locale) ? &labels_de : &labels_en;
}

static void format_tm(const struct tm *tm, const char *locale, int longform, char *buf, size_t size)
{
    int m = tm->tm_mon >= 0 && tm->tm_mon < 12 ? tm->tm_mon : 0;
    if (is_de(locale)) {
        if (longform)
            snprintf(buf, size, "%d. %s %d", tm->tm_mday, months_de[m], tm->tm_year + 1900);
        else
            snprintf(buf, size, "%02d.%02d.%d", tm->tm_mday, m + 1, tm->tm_year + 1900);
    } else {
        if (longform)
            snprintf(buf, size, "%d %s %d", tm->tm_mday, months_en[m], tm->tm_year + 1900);
        else
            snprintf(buf, size, "%d %.3s %d", tm->tm_mday, months_en[m], tm->tm_year + 1900);
    }
}

/* An IANA name such as Europe/Berlin; anything else is not handed to the C library. */
static int tz_valid(const char *tz)
{
    size_t n = tz ? strlen(tz) : 0;
    if (n == 0 || n > 64 || tz[0] == '/' || strstr(tz, ".."))
        return 0;
    for (; *tz; tz++) {
        char c = *tz;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '/' || c == '_' ||
              c == '-' || c == '+'))
            return 0;
    }
    return 1;
}

void texts_date_long(int64_t ms, const char *tz, const char *locale, char *buf, size_t size)
{
    /* One thread: TZ is switched for this one conversion and put back. An unknown zone
     * name makes the C library use UTC. */
    char saved[256];
    const char *old = getenv("TZ");
    int had = old != NULL && strlen(old) < sizeof(saved);
    if (had)
        snprintf(saved, sizeof(saved), "%s", old);
    setenv("TZ", tz_valid(tz) ? tz : "UTC", 1);
    tzset();
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    localtime_r(&t, &tm);
    if (had)
        setenv("TZ", saved, 1);
    else
        unsetenv("TZ");
    tzset();
    format_tm(&tm, locale, 1, buf, size);
}

void texts_day(int32_t days, const char *locale, int longform, char *buf, size_t size)
{
    time_t t = (time_t)days * 86400;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    gmtime_r(&t, &tm);
    format_tm(&tm, locale, longform, buf, size);
}

/* ---- lookup (the rules of sender-email/templates.c, for .letter. files) ---- */

/* ---- rendering ---- */

static int blank_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return 0;
    }
    return 1;
}

/* A copy of s[0..n) without leading and trailing blank lines and trailing whitespace. */
static char *trim_block(const char *s, size_t n)
{
    for (;;) { /* leading blank lines */
        const char *nl = memchr(s, '\n', n);
        if (!nl || !blank_line(s, (size_t)(nl - s)))
            break;
        n -= (size_t)(nl - s) + 1;
        s = nl + 1;
    }
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return strndup(s, n);
}

/* Splits the rendered text into subject, before and after the table. */
static int split(const char *text, letter_text_t *out, char *errstr, size_t errstr_size)
{
    const char *s = text;
    while (*s) { /* blank lines before the subject */
        size_t len = strcspn(s, "\n");
        if (!blank_line(s, len))
            break;
        s += len + (s[len] == '\n');
    }
    size_t len = strcspn(s, "\n");
    size_t lead = strspn(s, " \t");
    size_t end = len;
    while (end > lead && (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\r'))
        end--;
    if (end == lead) {
        snprintf(errstr, errstr_size, "the first line (the subject) is empty");
        return -1;
    }
    if (memmem(s, len, TABLE_MARK, strlen(TABLE_MARK))) {
        snprintf(errstr, errstr_size, "{{letter.table}} cannot be the subject");
        return -1;
    }
    out->subject = strndup(s + lead, end - lead);
    const char *body = s + len + (s[len] == '\n');
    /* The table line. */
    const char *mark = NULL, *after = NULL;
    for (const char *p = body; *p;) {
        size_t l = strcspn(p, "\n");
        const char *hit = memmem(p, l, TABLE_MARK, strlen(TABLE_MARK));
        if (hit) {
            size_t before_ws = strspn(p, " \t");
            const char *rest = hit + strlen(TABLE_MARK);
            if (p + before_ws != hit || !blank_line(rest, (size_t)(p + l - rest))) {
                snprintf(errstr, errstr_size, "{{letter.table}} must stand alone on its line");
                return -1;
            }
            if (mark) {
                snprintf(errstr, errstr_size, "{{letter.table}} appears more than once");
                return -1;
            }
            mark = p;
            after = p + l + (p[l] == '\n');
        }
        p += l + (p[l] == '\n');
    }
    out->before = trim_block(body, mark ? (size_t)(mark - body) : strlen(body));
    out->after = trim_block(after ? after : "", after ? strlen(after) : 0);
    if (!out->subject || !out->before || !out->after) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

typedef struct letter_words {
    int64_t now_ms;
    const char *sender;
} letter_words_t;

/* letter.*: the dates as the letter prints them, the sender, the table's mark. */
static int extend(json_t *ctx, const dn_reminder_due_t *rd, const char *locale, void *arg)
{
    const letter_words_t *w = arg;
    char date[64], issued[64], due[64];
    texts_date_long(w->now_ms, rd->contact.time_zone, locale, date, sizeof(date));
    texts_day(rd->issue_date, locale, 1, issued, sizeof(issued));
    texts_day(rd->due_date, locale, 1, due, sizeof(due));
    return json_object_set_new(ctx, "letter",
                               json_pack("{s:s, s:s, s:s, s:s, s:s}", "date", date, "issue_date", issued, "due_date",
                                         due, "sender", w->sender, "table", TABLE_MARK));
}

int texts_render(const char *dir, const dn_render_source_t *given, const dn_reminder_due_t *rd, int64_t now_ms,
                 const char *sender, letter_text_t *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    letter_words_t words = {now_ms, sender};
    char *text = dn_render_text(dir, "letter", "txt", given, rd, extend, &words, MAX_TEMPLATE_BYTES, &out->src, errstr,
                                errstr_size);
    if (!text)
        return -1;
    char err[512];
    int rc = split(text, out, err, sizeof(err));
    free(text);
    if (rc == 0)
        return 0;
    snprintf(errstr, errstr_size, "%s.txt: %s", out->src.name, err);
    texts_free(out);
    return -1;
}

void texts_free(letter_text_t *t)
{
    char **parts[] = {&t->subject, &t->before, &t->after};
    for (size_t i = 0; t && i < sizeof(parts) / sizeof(parts[0]); i++) {
        free(*parts[i]);
        *parts[i] = NULL;
    }
}
