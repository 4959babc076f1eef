/* sender-email: the e-mail templates of a reminder, rendered.
 *
 * Files: <dir>/<tenant_id>/<template_key>.email.<locale>.{subject,txt,html}, else the same
 * under <dir>/default/ (the lookup of common/dn_render.h); the render context is
 * dn_render_context, the same in every channel. */
#ifndef SENDER_TEMPLATES_H
#define SENDER_TEMPLATES_H

#include <stdio.h>

#include "dn_schemas_gen.h"

typedef struct rendered {
    char *subject; /* one line, trimmed */
    char *text;
    char *html;
    char locale[40];  /* the locale of the templates used */
    char source[512]; /* "<tenant or default>/<key>.email.<locale>" for logs */
} rendered_t;

/* Finds the templates and renders them. 0, or -1 with errstr ("no template first_reminder for
 * locale de-AT", "first_reminder.email.de.txt: line 4: {{fee}} is not defined"). */
int templates_render(const char *dir, const dn_reminder_due_t *rd, rendered_t *out, char *errstr, size_t errstr_size);
void rendered_free(rendered_t *r);

/* Renders every *.email.*.{subject,txt,html} under dir against the sample reminders (with and
 * without the optional fields) and reports each problem on out. Returns the number of problems. */
int templates_check(const char *dir, FILE *out);

#endif
