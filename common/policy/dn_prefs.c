/* Contact preferences: names, checks and the overlay (see dn_prefs.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dn_prefs.h"

int dn_prefs_channel_parse(const char *name, channel_t *out)
{
    for (int c = 0; name && c < CH_COUNT; c++)
        if (strcmp(name, dn_policy_channel_name((channel_t)c)) == 0) {
            *out = (channel_t)c;
            return 0;
        }
    return -1;
}

void dn_prefs_mask_format(unsigned mask, char *buf, size_t size)
{
    size_t at = 0;
    if (size)
        buf[0] = '\0';
    for (int c = 0; c < CH_COUNT; c++) {
        if (!(mask & (1u << c)))
            continue;
        int n =
            snprintf(buf + at, size > at ? size - at : 0, "%s%s", at ? "," : "", dn_policy_channel_name((channel_t)c));
        if (n < 0 || (size_t)n >= size - at)
            return;
        at += (size_t)n;
    }
}

int dn_prefs_email_valid(const char *s)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    const char *at = strchr(s, '@');
    if (n == 0 || n > DN_PREFS_EMAIL_MAX || !at || at == s || strchr(at + 1, '@'))
        return 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || strchr("\"<>(),;:[]\\", c))
            return 0;
    }
    const char *dom = at + 1, *dot = strrchr(dom, '.');
    /* a dotted domain: no empty label, none starting or ending with '-' */
    if (!dot || dot == dom || !dot[1] || dom[0] == '.' || strstr(dom, "..") || dom[strlen(dom) - 1] == '.')
        return 0;
    for (const char *p = dom; *p; p++)
        if (*p == '-' && (p == dom || p[-1] == '.' || p[1] == '.' || p[1] == '\0'))
            return 0;
    return 1;
}

__attribute__((format(printf, 5, 6))) static int fail(const char **code, char *why, size_t why_size, const char *c,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *code = c;
    vsnprintf(why, why_size, fmt, ap);
    va_end(ap);
    return -1;
}

int dn_prefs_apply(unsigned current, const char *const *opt_out, size_t nout, const char *const *opt_in, size_t nin,
                   const char *email, unsigned reach, unsigned *next, const char **code, char *why, size_t why_size)
{
    unsigned out = 0, in = 0;
    channel_t ch;
    for (size_t i = 0; i < nout; i++) {
        if (dn_prefs_channel_parse(opt_out[i], &ch) < 0)
            return fail(code, why, why_size, "invalid_field",
                        "field opt_out: %.64s is no channel (email, sms, letter or voice)", opt_out[i]);
        out |= 1u << ch;
    }
    for (size_t i = 0; i < nin; i++) {
        if (dn_prefs_channel_parse(opt_in[i], &ch) < 0)
            return fail(code, why, why_size, "invalid_field",
                        "field opt_in: %.64s is no channel (email, sms, letter or voice)", opt_in[i]);
        if (out & (1u << ch))
            return fail(code, why, why_size, "invalid_field", "fields opt_out and opt_in: both name %s",
                        dn_policy_channel_name(ch));
        in |= 1u << ch;
    }
    if (email && !dn_prefs_email_valid(email))
        return fail(code, why, why_size, "invalid_field", "field email: %s", "not an e-mail address");
    unsigned want = (current | out) & ~in;
    if (email)
        reach |= 1u << CH_EMAIL;
    if ((want & DN_PREFS_ALL) == DN_PREFS_ALL)
        return fail(code, why, why_size, "opt_out_refused", "%s",
                    "opting out of every channel is not possible: at least one must remain");
    if ((want & (1u << CH_EMAIL)) && !(reach & ~want & ~(1u << CH_EMAIL)))
        return fail(code, why, why_size, "opt_out_refused", "%s",
                    "e-mail can be opted out of only while another channel that reaches the customer remains");
    *next = want;
    return 0;
}

static int taken(const dn_prefs_choice_t *o, channel_t ch)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->pick[i].ch == ch)
            return 1;
    return 0;
}

void dn_prefs_choose(const channel_t *channels, size_t nchannels, int first_only, const channel_t *order, size_t norder,
                     unsigned reach, unsigned contact_out, unsigned pref_out, dn_prefs_choice_t *out)
{
    unsigned usable = reach & ~contact_out & ~pref_out;
#define USABLE(c) (usable & (1u << (c)))
    memset(out, 0, sizeof(*out));
    int by_prefs = 0;
    if (first_only) { /* a fallback: only the listed channels, never e-mail besides */
        for (size_t i = 0; i < nchannels && out->n == 0; i++)
            if (USABLE(channels[i]))
                out->pick[out->n++] = (dn_prefs_pick_t){.ch = channels[i], .instead_of = CH_COUNT};
        for (size_t i = 0; i < nchannels && out->n == 0; i++)
            out->skipped |= pref_out & (1u << channels[i]);
        return;
    }
    for (size_t i = 0; i < nchannels; i++) {
        channel_t ch = channels[i], use = CH_COUNT;
        if (USABLE(ch)) {
            use = ch;
        } else if (pref_out & (1u << ch)) {
            by_prefs = 1;
            for (size_t j = i + 1; j < nchannels && use == CH_COUNT; j++)
                if (USABLE(channels[j]))
                    use = channels[j];
            if (use == CH_COUNT && USABLE(CH_EMAIL))
                use = CH_EMAIL;
            if (use == CH_COUNT) {
                out->skipped |= 1u << ch;
                continue;
            }
        } else {
            continue; /* not reached, or the billing system's opt-out: as before */
        }
        if (taken(out, use))
            continue;
        out->pick[out->n].ch = use;
        out->pick[out->n].instead_of = use == ch ? CH_COUNT : ch;
        out->n++;
    }
    for (size_t i = 0; out->n == 0 && !by_prefs && i < norder; i++)
        if (USABLE(order[i])) {
            out->pick[0] = (dn_prefs_pick_t){.ch = order[i], .instead_of = CH_COUNT};
            out->n = 1;
        }
#undef USABLE
}
