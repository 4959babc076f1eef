#include "texts.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dn_render.h"

#define MAX_TEMPLATE_BYTES (64 * 1024)

static void copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

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

int texts_render_file(const char *dir, const dn_render_source_t *src, const dn_reminder_due_t *rd, sms_text_t *out,
                      char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    copy(out->source, sizeof(out->source), src->name);
    copy(out->locale, sizeof(out->locale), src->locale);
    json_t *ctx = dn_render_context(rd, src->locale);
    if (!ctx) {
        snprintf(errstr, errstr_size, "%s.txt: out of memory", src->name);
        return -1;
    }
    char *text = dn_render_file(dir, src, "txt", ctx, DN_TEMPLATE_TEXT, MAX_TEMPLATE_BYTES, errstr, errstr_size);
    json_decref(ctx);
    if (!text)
        return -1;
    trim(text);
    if (!text[0]) {
        snprintf(errstr, errstr_size, "%s.txt: the text is empty", src->name);
        free(text);
        return -1;
    }
    out->text = text;
    return 0;
}

int texts_render(const char *dir, const dn_reminder_due_t *rd, sms_text_t *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    dn_render_source_t src;
    if (dn_render_find(dir, rd, "sms", "txt", &src, errstr, errstr_size) < 0)
        return -1;
    return texts_render_file(dir, &src, rd, out, errstr, errstr_size);
}

void texts_free(sms_text_t *t)
{
    if (!t)
        return;
    free(t->text);
    t->text = NULL;
}
