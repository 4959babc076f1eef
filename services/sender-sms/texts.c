#include "texts.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dn_template.h"
#include "templates.h"

#define MAX_TEMPLATE_BYTES (64 * 1024)
#define MAX_LOCALES        6

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

int texts_render_file(const char *dir, const char *folder, const dn_reminder_due_t *rd, const char *locale,
                      sms_text_t *out, char *errstr, size_t errstr_size)
{
    char path[1400], err[512];
    memset(out, 0, sizeof(*out));
    snprintf(out->source, sizeof(out->source), "%s/%s.sms.%s", folder, rd->template_key, locale);
    copy(out->locale, sizeof(out->locale), locale);
    snprintf(path, sizeof(path), "%s/%s.txt", dir, out->source);
    char *tmpl = dn_template_read_file(path, MAX_TEMPLATE_BYTES, err, sizeof(err));
    if (!tmpl) {
        snprintf(errstr, errstr_size, "%s.txt: %s", out->source, err);
        return -1;
    }
    json_t *ctx = templates_context(rd, locale);
    char *text = ctx ? dn_template_render(tmpl, ctx, DN_TEMPLATE_TEXT, err, sizeof(err)) : NULL;
    if (!ctx)
        snprintf(err, sizeof(err), "out of memory");
    json_decref(ctx);
    free(tmpl);
    if (!text) {
        snprintf(errstr, errstr_size, "%s.txt: %s", out->source, err);
        return -1;
    }
    trim(text);
    if (!text[0]) {
        snprintf(errstr, errstr_size, "%s.txt: the text is empty", out->source);
        free(text);
        return -1;
    }
    out->text = text;
    return 0;
}

int texts_render(const char *dir, const dn_reminder_due_t *rd, sms_text_t *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    char folder[160], loc[40];
    if (dn_template_resolve(dir, rd->tenant_id, rd->template_key, "sms", rd->contact.locale, "txt", folder,
                            sizeof(folder), loc, sizeof(loc), errstr, errstr_size) < 0)
        return -1;
    return texts_render_file(dir, folder, rd, loc, out, errstr, errstr_size);
}

void texts_free(sms_text_t *t)
{
    if (!t)
        return;
    free(t->text);
    t->text = NULL;
}

int texts_each(const char *dir, texts_check_fn fn, void *arg, FILE *out, int *sets)
{
    return dn_template_each(dir, "sms", "txt", fn, arg, out, sets);
}
