#include "templates.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dn_clock.h"
#include "dn_template.h"

#define MAX_TEMPLATE_BYTES (1 << 20)
#define MAX_LOCALES        6

static const char *const parts_ext[] = {"subject", "txt", "html"};

/* Copies with truncation (snprintf "%s" makes gcc warn about the truncation we want). */
static void copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void money(int64_t minor, const char *currency, const char *locale, char *buf, size_t size)
{
    if (dn_money_format(minor, currency, locale, buf, size) < 0)
        snprintf(buf, size, "%lld %s", (long long)minor, currency); /* unknown currency: raw, but visible */
}

json_t *templates_context(const dn_reminder_due_t *rd, const char *locale)
{
    char amount[64], outstanding[64], fee[64], interest[64], total[64], issued[48], due[48], issued_iso[16],
        due_iso[16];
    dn_date_format(rd->issue_date, issued_iso, sizeof(issued_iso));
    dn_date_format(rd->due_date, due_iso, sizeof(due_iso));
    money(rd->amount_minor, rd->currency, locale, amount, sizeof(amount));
    money(rd->outstanding_minor, rd->currency, locale, outstanding, sizeof(outstanding));
    money(rd->fee_minor, rd->currency, locale, fee, sizeof(fee));
    money(rd->interest_minor, rd->currency, locale, interest, sizeof(interest));
    money(rd->total_due_minor, rd->currency, locale, total, sizeof(total));
    /* Dates as the customer's locale writes them; the ISO forms are there too (*_iso). */
    dn_date_format_long(rd->issue_date, locale, issued, sizeof(issued));
    dn_date_format_long(rd->due_date, locale, due, sizeof(due));
    json_t *ctx =
        json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s, s:s, s:I, s:s}}", "tenant", rd->tenant_id, "customer",
                  "id", rd->customer_id, "name", rd->contact.name, "invoice", "id", rd->invoice_id, "number",
                  rd->invoice_number ? rd->invoice_number : rd->invoice_id, "issue_date", issued, "due_date", due,
                  "amount", amount, "amount_minor", (json_int_t)rd->amount_minor, "currency", rd->currency);
    if (!ctx)
        return NULL;
    json_object_set_new(ctx, "amounts",
                        json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s}", "outstanding", outstanding, "fee",
                                  fee, "interest", interest, "total_due", total, "outstanding_minor",
                                  (json_int_t)rd->outstanding_minor, "fee_minor", (json_int_t)rd->fee_minor,
                                  "interest_minor", (json_int_t)rd->interest_minor, "total_due_minor",
                                  (json_int_t)rd->total_due_minor, "currency", rd->currency));
    json_t *inv = json_object_get(ctx, "invoice");
    json_object_set_new(inv, "issue_date_iso", json_string(issued_iso));
    json_object_set_new(inv, "due_date_iso", json_string(due_iso));
    json_object_set_new(ctx, "stage", json_integer(rd->stage));
    json_object_set_new(ctx, "stage_name", json_string(rd->stage_name));
    json_object_set_new(ctx, "action", rd->action ? json_string(rd->action) : json_null());
    json_object_set_new(ctx, "days_overdue", json_integer(rd->days_overdue));
    /* Only web links: the link lands in an href, and a javascript: URL must never get there. */
    int web = rd->payment_link &&
              (strncasecmp(rd->payment_link, "https://", 8) == 0 || strncasecmp(rd->payment_link, "http://", 7) == 0);
    json_object_set_new(ctx, "payment_link", web ? json_string(rd->payment_link) : json_null());
    json_object_set_new(ctx, "policy", json_string(rd->policy));
    json_object_set_new(ctx, "locale", json_string(locale));
    return ctx;
}

static char *read_file(const char *path, char *errstr, size_t errstr_size)
{
    char err[256];
    char *buf = dn_template_read_file(path, MAX_TEMPLATE_BYTES, err, sizeof(err));
    if (!buf)
        snprintf(errstr, errstr_size, "%.300s: %s", path, err);
    return buf;
}

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

/* Renders the three files at base ("<dir>/<folder>/<key>.email.<locale>"); name is the
 * short form for messages. */
static int render_set(const char *base, const char *name, json_t *ctx, rendered_t *out, char *errstr,
                      size_t errstr_size)
{
    char *outs[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        char path[1024], err[512];
        snprintf(path, sizeof(path), "%s.%s", base, parts_ext[i]);
        char *tmpl = read_file(path, err, sizeof(err));
        if (!tmpl) {
            snprintf(errstr, errstr_size, "%s.%s: template incomplete (%s)", name, parts_ext[i], err);
            goto fail;
        }
        outs[i] = dn_template_render(tmpl, ctx, i == 2 ? DN_TEMPLATE_HTML : DN_TEMPLATE_TEXT, err, sizeof(err));
        free(tmpl);
        if (!outs[i]) {
            snprintf(errstr, errstr_size, "%s.%s: %s", name, parts_ext[i], err);
            goto fail;
        }
    }
    if (one_line(outs[0]) < 0) {
        snprintf(errstr, errstr_size, "%s.subject: the subject renders to more than one line", name);
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
    char folder[160], loc[40];
    if (dn_template_resolve(dir, rd->tenant_id, rd->template_key, "email", rd->contact.locale, "subject", folder,
                            sizeof(folder), loc, sizeof(loc), errstr, errstr_size) < 0)
        return -1;
    char base[1024];
    snprintf(base, sizeof(base), "%s/%s/%s.email.%s", dir, folder, rd->template_key, loc);
    snprintf(out->source, sizeof(out->source), "%s/%s.email.%s", folder, rd->template_key, loc);
    copy(out->locale, sizeof(out->locale), loc);
    json_t *ctx = templates_context(rd, loc);
    if (!ctx) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    int rc = render_set(base, out->source, ctx, out, errstr, errstr_size);
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

/* ---- check ---- */

static void sample(dn_reminder_due_t *rd, int full, const char *tenant, const char *key, const char *locale)
{
    memset(rd, 0, sizeof(*rd));
    rd->event_id = "00000000-0000-5000-8000-000000000000";
    rd->tenant_id = (char *)tenant;
    rd->customer_id = "C-1";
    rd->case_id = "00000000-0000-5000-8000-000000000001";
    rd->invoice_id = "INV-1";
    rd->invoice_number = full ? "2026-0001" : NULL;
    rd->channel = DN_CHANNEL_EMAIL;
    rd->stage = 2;
    rd->stage_name = (char *)key;
    rd->template_key = (char *)key;
    rd->policy = "standard";
    rd->issue_date = 20750;
    rd->due_date = 20764;
    rd->days_overdue = 10;
    rd->amount_minor = 123456;
    rd->outstanding_minor = full ? 100000 : 123456;
    rd->fee_minor = full ? 500 : 0;
    rd->interest_minor = full ? 321 : 0;
    rd->total_due_minor = rd->outstanding_minor + rd->fee_minor + rd->interest_minor;
    rd->currency = "EUR";
    rd->action = full ? "final_notice" : NULL;
    rd->payment_link = full ? "https://pay.example.com/i/INV-1" : NULL;
    rd->contact.name = "Muster & Söhne <GmbH>";
    rd->contact.locale = (char *)locale;
}

int templates_check(const char *dir, FILE *out)
{
    int problems = 0, checked = 0;
    DIR *top = opendir(dir);
    if (!top) {
        fprintf(out, "%s: %s\n", dir, strerror(errno));
        return 1;
    }
    struct dirent *de;
    while ((de = readdir(top))) {
        if (de->d_name[0] == '.')
            continue;
        char folder[1024];
        snprintf(folder, sizeof(folder), "%s/%s", dir, de->d_name);
        DIR *d = opendir(folder);
        if (!d)
            continue;
        struct dirent *fe;
        while ((fe = readdir(d))) {
            /* <key>.email.<locale>.subject marks one set */
            char key[256], locale[64];
            const char *name = fe->d_name, *mark = strstr(name, ".email.");
            size_t len = strlen(name);
            if (!mark || len < 8 || strcmp(name + len - 8, ".subject") != 0)
                continue;
            size_t klen = (size_t)(mark - name), llen = (size_t)(name + len - 8 - (mark + 7));
            if (klen == 0 || klen >= sizeof(key) || llen == 0 || llen >= sizeof(locale))
                continue;
            memcpy(key, name, klen);
            key[klen] = '\0';
            memcpy(locale, mark + 7, llen);
            locale[llen] = '\0';
            for (int full = 1; full >= 0; full--) {
                dn_reminder_due_t rd;
                rendered_t r;
                char base[1400], label[640], err[1024];
                sample(&rd, full, de->d_name, key, locale);
                snprintf(base, sizeof(base), "%s/%s.email.%s", folder, key, locale);
                snprintf(label, sizeof(label), "%s/%s.email.%s", de->d_name, key, locale);
                json_t *ctx = templates_context(&rd, locale);
                memset(&r, 0, sizeof(r));
                if (!ctx || render_set(base, label, ctx, &r, err, sizeof(err)) < 0) {
                    fprintf(out, "%s (%s sample)\n", ctx ? err : "out of memory", full ? "full" : "minimal");
                    problems++;
                }
                json_decref(ctx);
                rendered_free(&r);
            }
            checked++;
        }
        closedir(d);
    }
    closedir(top);
    fprintf(out, "%d template set%s checked, %d problem%s\n", checked, checked == 1 ? "" : "s", problems,
            problems == 1 ? "" : "s");
    return problems;
}
