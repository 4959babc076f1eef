/* sender-sms: the SMS templates.
 *
 * Files: <dir>/<tenant_id>/<template_key>.sms.<locale>.txt, else the same under
 * <dir>/default/, locales from the most specific ("de-AT", "de", then "en"), for each locale
 * the tenant's folder before default/ (the lookup of the email and letter templates).
 * Plain text with Mustache tags (common/dn_template.h), rendered with the context of every
 * channel (dn_render_context). Leading and trailing whitespace is dropped; a newline inside stays a
 * line break in the SMS. Keep them short: see sms.h for what fits in one SMS. */
#ifndef SENDER_SMS_TEXTS_H
#define SENDER_SMS_TEXTS_H

#include <stdio.h>

#include "dn_render.h"

typedef struct sms_text {
    char *text;
    dn_render_source_t src; /* the file used; src.name is "<tenant or default>/<key>.sms.<locale>" */
} sms_text_t;

/* Renders the SMS template of rd: the file given names (a check), else the one found for rd.
 * 0, or -1 with errstr ("no sms template final_notice for locale de",
 * "default/final_notice.sms.de.txt: line 1: {{fee}} is not defined"). */
int texts_render(const char *dir, const dn_render_source_t *given, const dn_reminder_due_t *rd, sms_text_t *out,
                 char *errstr, size_t errstr_size);
void texts_free(sms_text_t *t);

#endif
