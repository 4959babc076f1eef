/* sender-letter: the letter templates, and the words and dates the layout prints itself.
 *
 * Files: <dir>/<tenant_id>/<template_key>.letter.<locale>.txt, else the same under
 * <dir>/default/, locales from the most specific ("de-AT", "de", then "en"), for each locale
 * the tenant's folder before default/ (the same lookup as the email templates).
 *
 * A letter template is plain text with Mustache tags (common/dn_template.h), rendered with
 * the context of every channel (dn_render_context) plus `letter.*` (below). Its first line is the
 * subject, printed bold; the rest is the body. A newline is a line break (long lines wrap at
 * the text width), so a paragraph is written on one line. A line holding only
 * {{letter.table}} is where the table of amounts and the payment details go (after the body
 * when the template has no such line). */
#ifndef SENDER_LETTER_TEXTS_H
#define SENDER_LETTER_TEXTS_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "dn_render.h"

/* What the layout prints itself, per language (en, de; other locales get en). */
typedef struct labels {
    const char *date, *invoice_no, *customer_no, *page, *of; /* "Page 1 of 2" */
    const char *item, *issue_date, *due_date, *amount;
    const char *invoice, *payments, *fees, *interest, *total;
    const char *payment_details, *reference, *pay_online, *portal;
} labels_t;

typedef struct letter_text {
    char *subject;          /* one line */
    char *before;           /* body up to the {{letter.table}} line, or the whole body */
    char *after;            /* body after that line; "" when there is none */
    dn_render_source_t src; /* the file used; src.name is "<tenant or default>/<key>.letter.<locale>" */
} letter_text_t;

const labels_t *texts_labels(const char *locale);
/* The letter's date: ms (dunning clock) in the IANA time zone tz (UTC if it is not a valid
 * name), "24 March 2026" / "24. März 2026". */
void texts_date_long(int64_t ms, const char *tz, const char *locale, char *buf, size_t size);
/* An Avro date, "1 March 2026" / "1. März 2026" (long) or "1 Mar 2026" / "01.03.2026". */
void texts_day(int32_t days, const char *locale, int longform, char *buf, size_t size);

/* Renders the letter template of rd: the file given names (a check), else the one found for
 * rd. now_ms dates the letter; sender is {{letter.sender}}. 0, or -1 with errstr ("no letter
 * template final_notice for locale de", "default/final_notice.letter.de.txt: line 4: {{fee}}
 * is not defined"). */
int texts_render(const char *dir, const dn_render_source_t *given, const dn_reminder_due_t *rd, int64_t now_ms,
                 const char *sender, letter_text_t *out, char *errstr, size_t errstr_size);
void texts_free(letter_text_t *t);

#endif
