/* What an SMS is made of (see sms.h). Phone numbers and quiet hours are the sender core's
 * (common/dn_hours.h). */
#include "sms.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
