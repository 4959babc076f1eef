/* A tenant's payment page template (see dn_payment_url.h). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dn_currency.h"
#include "dn_payment_url.h"

static const char *const NAMES[] = {"amount", "amount_minor", "currency", "reference"};
#define NNAMES (sizeof(NAMES) / sizeof(NAMES[0]))

/* The placeholder at s ("{name}"): its index, -1 unknown; *len its length. */
static int placeholder(const char *s, size_t *len)
{
    const char *end = strchr(s, '}');
    if (!end)
        return -1;
    *len = (size_t)(end - s) + 1;
    for (size_t i = 0; i < NNAMES; i++)
        if (strlen(NAMES[i]) == *len - 2 && !strncmp(s + 1, NAMES[i], *len - 2))
            return (int)i;
    return -1;
}

int dn_payment_url_check(const char *tpl, char *why, size_t whysz)
{
    if (strncmp(tpl, "https://", 8) != 0) {
        snprintf(why, whysz, "expected an https:// URL");
        return -1;
    }
    const char *host = tpl + 8, *path = host + strcspn(host, "/?#");
    if (path == host || memchr(host, '{', (size_t)(path - host))) {
        snprintf(why, whysz, "expected a host name before the first placeholder");
        return -1;
    }
    int has_ref = 0;
    for (const char *s = path; *s; s++) {
        if ((unsigned char)*s <= ' ' || *s == '"' || *s == '<' || *s == '>' || *s == '\\' || *s == '`' || *s == '}' ||
            (unsigned char)*s >= 0x7f) {
            snprintf(why, whysz, "character %zu is not allowed in a URL", (size_t)(s - tpl) + 1);
            return -1;
        }
        if (*s != '{')
            continue;
        size_t len = 0;
        int k = placeholder(s, &len);
        if (k < 0) {
            snprintf(why, whysz,
                     "unknown placeholder at character %zu (use {amount}, {amount_minor}, {currency}, {reference})",
                     (size_t)(s - tpl) + 1);
            return -1;
        }
        has_ref |= k == 3;
        s += len - 1;
    }
    if (!has_ref) {
        snprintf(why, whysz, "the template needs {reference} (the payment page must know the invoice)");
        return -1;
    }
    return 0;
}

static int put_encoded(char *out, size_t n, size_t *at, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
        int plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
                    *c == '.' || *c == '_' || *c == '~';
        if (*at + (plain ? 1 : 3) >= n)
            return -1;
        if (plain)
            out[(*at)++] = (char)*c;
        else {
            out[(*at)++] = '%';
            out[(*at)++] = hex[*c >> 4];
            out[(*at)++] = hex[*c & 15];
        }
    }
    return 0;
}

int dn_payment_url_expand(const char *tpl, int64_t amount_minor, const char *currency, const char *reference, char *out,
                          size_t n)
{
    char minor[24], decimal[40];
    snprintf(minor, sizeof(minor), "%" PRId64, amount_minor);
    int exp = dn_currency_exponent(currency);
    if (exp <= 0)
        snprintf(decimal, sizeof(decimal), "%" PRId64, amount_minor);
    else {
        int64_t scale = 1;
        for (int i = 0; i < exp; i++)
            scale *= 10;
        snprintf(decimal, sizeof(decimal), "%s%" PRId64 ".%0*" PRId64, amount_minor < 0 ? "-" : "",
                 (amount_minor < 0 ? -amount_minor : amount_minor) / scale, exp,
                 (amount_minor < 0 ? -amount_minor : amount_minor) % scale);
    }
    const char *values[] = {decimal, minor, currency, reference};
    size_t at = 0;
    for (const char *s = tpl; *s; s++) {
        size_t len = 0;
        int k = *s == '{' ? placeholder(s, &len) : -1;
        if (k >= 0) {
            if (put_encoded(out, n, &at, values[k]) < 0)
                return -1;
            s += len - 1;
            continue;
        }
        if (at + 1 >= n)
            return -1;
        out[at++] = *s;
    }
    if (at >= n)
        return -1;
    out[at] = '\0';
    return 0;
}
