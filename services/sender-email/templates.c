#include "templates.h"

#include <stdlib.h>
#include <string.h>

#include "dn_render.h"

#define MAX_TEMPLATE_BYTES (1 << 20)

static const char *const parts_ext[] = {"subject", "txt", "html"};

/* Trims the subject to one line; -1 if it has more than one. */
static int one_line(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    size_t lead = strspn(s, " \t\r\n");
    memmove(s, s + lead, n - lead + 1);
    return strpbrk(s, "\r\n") ? -1 : 0;
}

/* Renders the three files of src with ctx. */
static int render_set(const char *dir, const dn_render_source_t *src, json_t *ctx, rendered_t *out, char *errstr,
                      size_t errstr_size)
{
    char *outs[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        outs[i] = dn_render_file(dir, src, parts_ext[i], ctx, i == 2 ? DN_TEMPLATE_HTML : DN_TEMPLATE_TEXT,
                                 MAX_TEMPLATE_BYTES, errstr, errstr_size);
        if (!outs[i])
            goto fail;
    }
    if (one_line(outs[0]) < 0) {
        snprintf(errstr, errstr_size, "%s.subject: the subject renders to more than one line", src->name);
        goto fail;
    }
    out->subject = outs[0];
    out->text = outs[1];
    out->html = outs[2];
    return 0;
fail:
    for (int i = 0; i < 3; i++)
        free(outs[i]);
    return -1;
}

int templates_render(const char *dir, const dn_reminder_due_t *rd, rendered_t *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof(*out));
    dn_render_source_t src;
    if (dn_render_find(dir, rd, "email", "subject", &src, errstr, errstr_size) < 0)
        return -1;
    snprintf(out->source, sizeof(out->source), "%s", src.name);
    snprintf(out->locale, sizeof(out->locale), "%s", src.locale);
    json_t *ctx = dn_render_context(rd, src.locale);
    if (!ctx) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    int rc = render_set(dir, &src, ctx, out, errstr, errstr_size);
    json_decref(ctx);
    return rc;
}

void rendered_free(rendered_t *r)
{
    if (!r)
        return;
    free(r->subject);
    free(r->text);
    free(r->html);
    r->subject = r->text = r->html = NULL;
}

static int check_one(void *arg, const char *dir, const dn_render_source_t *src, const dn_reminder_due_t *sample,
                     int full, FILE *out)
{
    (void)arg;
    rendered_t r;
    char err[1024];
    memset(&r, 0, sizeof(r));
    json_t *ctx = dn_render_context(sample, src->locale);
    int problem = !ctx || render_set(dir, src, ctx, &r, err, sizeof(err)) < 0;
    if (problem)
        fprintf(out, "%s (%s sample)\n", ctx ? err : "out of memory", full ? "full" : "minimal");
    json_decref(ctx);
    rendered_free(&r);
    return problem;
}

int templates_check(const char *dir, FILE *out)
{
    return dn_render_check(dir, DN_CHANNEL_EMAIL, "subject", "template set", check_one, NULL, out);
}
