#include "texts.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dn_render.h"

#define MAX_TEMPLATE_BYTES (64 * 1024)

/* Drops leading and trailing whitespace, and trailing whitespace before each newline. */
static void trim(char *s)
{
    size_t lead = strspn(s, " \t\r\n");
    memmove(s, s + lead, strlen(s + lead) + 1);
    char *w = s;
    for (const char *r = s; *r; r++) {
        if (*r == '\r')
            continue;
        if (*r == '\n') {
            while (w > s && (w[-1] == ' ' || w[-1] == '\t'))
                w--;
        }
        *w++ = *r;
    }
    while (w > s && (w[-1] == ' ' || w[-1] == '\t' || w[-1] == '\n'))
        w--;
    *w = '\0';
}

int texts_render(const char *dir, const dn_render_source_t *given, const dn_reminder_due_t *rd, sms_text_t *out,
                 char *errstr, size_t errstr_size)
{
    out->text =
        dn_render_text(dir, "sms", "txt", given, rd, NULL, NULL, MAX_TEMPLATE_BYTES, &out->src, errstr, errstr_size);
    if (!out->text)
        return -1;
    trim(out->text);
    if (out->text[0])
        return 0;
    snprintf(errstr, errstr_size, "%s.txt: the text is empty", out->src.name);
    texts_free(out);
    return -1;
}

void texts_free(sms_text_t *t)
{
    if (!t)
        return;
    free(t->text);
    t->text = NULL;
}
