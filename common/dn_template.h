/* dn_template: a strict Mustache renderer over a jansson context, and money formatting.
 *
 *   char err[256];
 *   char *html = dn_template_render("<p>Dear {{customer.name}},</p>", ctx, DN_TEMPLATE_HTML, err, sizeof(err));
 *   if (!html) ... err is "line 1: {{customer.name}} is not defined" ...
 *   free(html);
 *
 * Supported: {{name}}, dotted {{a.b.c}}, the current value {{.}}, {{#section}}..{{/section}},
 * {{^inverted}}..{{/inverted}}, {{{raw}}} and {{& raw}}, {{! comments }} (may span lines).
 * Section, inverted and comment tags alone on their line take the whole line with them
 * (Mustache's "standalone" rule), so templates can be laid out one tag per line.
 * Not supported (an error): partials {{> x}} and delimiter changes {{=<% %>=}}.
 *
 * Strict where Mustache is lenient, so that a template check catches typos:
 *  - a name that is not in the context (at any level of the section stack for its first
 *    part; below that exact) is an error, for variables AND for sections;
 *    a name present with value null renders as nothing and is a false section;
 *  - a variable whose value is an object or an array is an error.
 * Falsy for sections: null, false, "", [], 0 and 0.0. An array iterates (each element
 * becomes the top of the context stack); any other truthy value is entered once.
 * Values: strings as they are, integers in decimal, reals with %.15g, true/false.
 * HTML mode escapes & < > " ' in {{name}} (not in raw tags); TEXT mode escapes nothing. */
#ifndef DN_TEMPLATE_H
#define DN_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

typedef enum {
    DN_TEMPLATE_TEXT = 0, /* plain text (email text part, subject, SMS) */
    DN_TEMPLATE_HTML,     /* HTML: {{name}} is escaped */
} dn_template_mode_t;

/* Renders tmpl (NUL-terminated) with ctx (borrowed; usually an object). Returns a malloc'd
 * NUL-terminated string the caller frees, or NULL with errstr set, e.g.
 * "line 4: {{fee}} is not defined", "line 3: {{#items}} is not closed",
 * "line 7: {{/item}} does not close {{#items}} opened on line 3", "out of memory". */
char *dn_template_render(const char *tmpl, json_t *ctx, dn_template_mode_t mode, char *errstr, size_t errstr_size);

/* Formats an amount in minor units for people, by locale family:
 *   en (and any locale that is not de): "€1,234.56", "-$5.00", "¥1,235", "CHF 1,234.56", "BHD 1,234.567"
 *   de*:                                 "1.234,56 €", "-5,00 $", "1.235 ¥", "1.234,56 CHF", "1.234,567 BHD"
 * Symbols: EUR €, USD $, GBP £, JPY ¥; any other active ISO 4217 currency is shown by its
 * code (before the number in en with a space, after it in de). Plain spaces, no NBSP.
 * The number of decimals is dn_currency_exponent(currency). Returns 0, or -1 if the currency
 * is unknown or buf is too small (buf is then ""). */
int dn_money_format(int64_t minor, const char *currency, const char *locale, char *buf, size_t size);

/* A calendar date (days since 1970-01-01) as people write it in the locale:
 * en "27 November 2026", de "27. November 2026", fr "27 novembre 2026", es "27 de noviembre
 * de 2026"; other locales fall back to English. */
void dn_date_format_long(int32_t days, const char *locale, char *buf, size_t size);

/* Where the template for (tenant, key, channel, customer locale) lives. The files are
 * <dir>/<folder>/<key>.<channel>.<locale>.<ext>; the search goes
 *   1. the tenant's folder: the customer's locale ("de-AT"), its language ("de"), then the
 *      tenant's default locale (one line in <dir>/<tenant>/default_locale, if present);
 *   2. the "default" folder: the same locales, its own default_locale, then "en".
 * A tenant or key that is not a plain file name component is refused. Returns 0 and
 * fills folder ("acme" or "default") and locale, or -1 with errstr listing what was tried. */
int dn_template_resolve(const char *dir, const char *tenant, const char *key, const char *channel, const char *locale,
                        const char *ext, char *folder, size_t folder_size, char *found_locale, size_t locale_size,
                        char *errstr, size_t errstr_size);

/* Reads a whole template file (at most max_bytes) into a malloc'd string. NULL with
 * errstr ("No such file or directory", "cannot read (or larger than 64 KiB)") on failure. */
char *dn_template_read_file(const char *path, size_t max_bytes, char *errstr, size_t errstr_size);

/* Calls fn for every template set <dir>/<folder>/<key>.<channel>.<locale>.<ext> found under
 * dir (every folder: "default" and each tenant's), counting them in *sets; returns the sum
 * of fn's results (problems found), or 1 if dir cannot be read (said on out). */
typedef int (*dn_template_each_fn)(const char *dir, const char *folder, const char *key, const char *locale, void *arg,
                                   FILE *out);
int dn_template_each(const char *dir, const char *channel, const char *ext, dn_template_each_fn fn, void *arg,
                     FILE *out, int *sets);

#endif
