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

static int safe_component(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.')
        return 0;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-' || *s == '.'))
            return 0;
    }
    return 1;
}

static char *read_file(const char *path, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f) {
        snprintf(errstr, errstr_size, "%s", strerror(errno));
        return NULL;
    }
    long n;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n <= MAX_TEMPLATE_BYTES && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(f);
    if (!buf)
        snprintf(errstr, errstr_size, "cannot read (or larger than 64 KiB)");
    return buf;
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
    char *tmpl = read_file(path, err, sizeof(err));
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
    if (!safe_component(rd->template_key)) {
        snprintf(errstr, errstr_size, "template key is not a valid file name");
        return -1;
    }
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
