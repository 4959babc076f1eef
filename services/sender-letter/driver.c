/* sender-letter's driver: what is the letter channel's own (the rest is the sender core).
 *
 * prepare decides what needs no rendering (no usable postal address) and is cheap: nothing is
 * rendered before the claim, so a redelivered reminder costs no PDF. send renders the
 * template and the PDF (once per job), writes it atomically to the spool folder as
 * letter-<event_id>.pdf and appends its manifest line.
 *
 * Crash window: a crash after the spool write but before the outcome committed leaves the
 * row 'attempting'. The record comes back and the letter is written again under the same
 * file name (replacing the file, not adding a second letter); the manifest gets its line
 * only if it does not have one for the event yet. If the print house took the file in
 * between, it sees the same file name and event id again and must drop the copy
 * (docs/letters.md).
 *
 * Spool trouble (disk full, folder gone, no permission) is transient. Readiness of spool:
 * the last spool write succeeded (disk full fails it until the next write works) and the
 * folder is still there and writable (one access() per /readyz). No probe writes: an idle
 * sender stays ready. */
#include "driver.h"

#include <errno.h>
#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "dn_clock.h"
#include "dn_config.h"
#include "dn_log.h"
#include "dn_metrics.h"
#include "pdf.h"
#include "spool.h"
#include "texts.h"

#define MAX_LINES 8

typedef struct letter_drv {
    const letter_cfg_t *cfg;
    const char *template_dir;
    char spool_dir[4096];
    char *from_lines[MAX_LINES];
    size_t from_n;
    char *payment_lines[MAX_LINES];
    size_t payment_n;
    dn_metric_t *render_seconds;
} letter_drv_t;

/* One reminder's letter. */
typedef struct letter_job {
    char file[96]; /* letter-<event_id>.pdf */
    char *address; /* the window lines (contact data: never logged) */
    char template_source[512];
    char *pdf; /* rendered once, after the claim and the last-mile check */
    size_t pdf_len;
    int pages;
    char pages_txt[16];
} letter_job_t;

/* The channel's own settings (the sender group is the core's). */
static const dn_cfg_entry_t letter_config[] = {
    DN_CFG("DUNNING_LETTER_SPOOL_DIR", DN_CFG_STRING, "", 0, 0,
           "Spool folder the print-and-mail house collects from: letter-<event_id>.pdf and manifest.jsonl "
           "(default: $DUNNING_HOME/.run/spool; created if missing).",
           letter_cfg_t, spool_dir),
    DN_CFG("DUNNING_LETTER_FROM_NAME", DN_CFG_STRING, "Accounts Receivable", 0, 0,
           "Sender name on the letterhead and the return line.", letter_cfg_t, from_name),
    DN_CFG("DUNNING_LETTER_FROM_ADDRESS", DN_CFG_STRING, "Example Street 1; 12345 Example City", 0, 0,
           "Sender's postal address, lines separated by semicolons (at most 8): letterhead and return line.",
           letter_cfg_t, from_address),
    DN_CFG("DUNNING_LETTER_FROM_COUNTRY", DN_CFG_STRING, "DE", 0, 0,
           "Sender's country (ISO 3166-1 alpha-2); recipients elsewhere get a country line.", letter_cfg_t,
           from_country),
    DN_CFG("DUNNING_LETTER_PAYMENT_DETAILS", DN_CFG_STRING, "", 0, 0,
           "Lines printed under \"Payment details\", separated by semicolons (e.g. IBAN; BIC).", letter_cfg_t,
           payment_details),
    DN_CFG("DUNNING_LETTER_FONT", DN_CFG_STRING, "DejaVu Sans", 0, 0,
           "Font family (fontconfig name); it must cover every script the letters use.", letter_cfg_t, font),
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "a ; b;c" -> {"a", "b", "c"} (also split at newlines; empty lines dropped). 0, or -1 with errstr. */
static int split_lines(const char *var, const char *value, char **out, size_t *n, char *errstr, size_t errstr_size)
{
    *n = 0;
    for (const char *p = value; *p;) {
        size_t len = strcspn(p, ";\n");
        const char *b = p, *e = p + len;
        while (b < e && (*b == ' ' || *b == '\t' || *b == '\r'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (e > b) {
            if (*n == MAX_LINES) {
                snprintf(errstr, errstr_size, "%s: more than %d lines", var, MAX_LINES);
                return -1;
            }
            if (!g_utf8_validate(b, e - b, NULL)) {
                snprintf(errstr, errstr_size, "%s: not valid UTF-8", var);
                return -1;
            }
            for (const char *c = b; c < e; c++) {
                if ((unsigned char)*c < 0x20 && *c != '\t') {
                    snprintf(errstr, errstr_size, "%s: contains a control character", var);
                    return -1;
                }
            }
            if (!(out[(*n)++] = strndup(b, (size_t)(e - b)))) {
                snprintf(errstr, errstr_size, "out of memory");
                return -1;
            }
        }
        p += len + (p[len] != '\0');
    }
    return 0;
}

static int letter_setup(void *ctx, const void *cfg, const dn_sender_env_t *env, char *err, size_t errsz)
{
    letter_drv_t *l = ctx;
    l->cfg = cfg;
    l->template_dir = env->template_dir;
    const letter_cfg_t *c = l->cfg;
    if (!c->from_name[0] || strpbrk(c->from_name, "\r\n") || !g_utf8_validate(c->from_name, -1, NULL)) {
        snprintf(err, errsz, "DUNNING_LETTER_FROM_NAME: must be one non-empty line of UTF-8");
        return -1;
    }
    if (split_lines("DUNNING_LETTER_FROM_ADDRESS", c->from_address, l->from_lines, &l->from_n, err, errsz) < 0 ||
        split_lines("DUNNING_LETTER_PAYMENT_DETAILS", c->payment_details, l->payment_lines, &l->payment_n, err, errsz) <
            0)
        return -1;
    if (!address_country_name(c->from_country)) {
        snprintf(err, errsz, "DUNNING_LETTER_FROM_COUNTRY: not an ISO 3166-1 alpha-2 code");
        return -1;
    }
    if (!c->font[0]) {
        snprintf(err, errsz, "DUNNING_LETTER_FONT: must not be empty");
        return -1;
    }
    if (c->spool_dir[0])
        snprintf(l->spool_dir, sizeof(l->spool_dir), "%s", c->spool_dir);
    else
        snprintf(l->spool_dir, sizeof(l->spool_dir), "%s/.run/spool", env->home);
    return 0;
}

static void letter_destroy(void *ctx)
{
    letter_drv_t *l = ctx;
    for (size_t i = 0; i < l->from_n; i++)
        free(l->from_lines[i]);
    for (size_t i = 0; i < l->payment_n; i++)
        free(l->payment_lines[i]);
    pdf_shutdown();
}

static int letter_start(void *ctx, char *err, size_t errsz)
{
    letter_drv_t *l = ctx;
    char why[900];
    if (spool_prepare(l->spool_dir, why, sizeof(why)) < 0) {
        snprintf(err, errsz, "%s (check DUNNING_LETTER_SPOOL_DIR)", why);
        return 1;
    }
    l->render_seconds = dn_metrics_histogram("dunning_letter_render_duration_seconds",
                                             "Time to render one letter (template and PDF layout), by result (ok, "
                                             "transient, permanent).",
                                             "result", DN_METRICS_LATENCY_BUCKETS);
    return 0;
}

/* The name of a field that goes into the manifest (JSON) or the outcome and is not UTF-8, as
 * every Avro string must be: a dead letter. */
static int letter_validate(void *ctx, const dn_reminder_due_t *rd, char *why, size_t n)
{
    const char *names[] = {"tenant_id", "customer_id", "invoice_id", "invoice_number", "stage_name"};
    const char *values[] = {rd->tenant_id, rd->customer_id, rd->invoice_id, rd->invoice_number, rd->stage_name};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (values[i] && !g_utf8_validate(values[i], -1, NULL)) {
            snprintf(why, n, "field %s: not valid UTF-8", names[i]);
            return -1;
        }
    }
    return 0;
}

/* Decides what needs no rendering: no (usable) postal address. */
static int letter_prepare(void *ctx, dn_sender_job_t *job, dn_outcome_t *outcome, char *why, size_t n)
{
    letter_drv_t *l = ctx;
    letter_job_t *j = job->state;
    const dn_reminder_due_t *rd = job->rd;
    snprintf(j->file, sizeof(j->file), "letter-%s.pdf", rd->event_id);
    const char *bad = NULL;
    j->address = address_block(rd->contact.name, rd->contact.address, l->cfg->from_country, &bad);
    if (j->address)
        return 0;
    *outcome = DN_OUTCOME_FAILED_PERMANENT;
    snprintf(why, n, "%s", bad);
    return 1;
}

/* The PDF of one letter with this sender's letterhead (pdf_render's contract). */
static char *layout(const letter_drv_t *l, const dn_reminder_due_t *rd, const letter_text_t *text, const char *address,
                    int64_t now, size_t *len, int *pages, int *permanent, char *err, size_t errsz)
{
    letter_t lt = {.rd = rd,
                   .text = text,
                   .address = address,
                   .from_name = l->cfg->from_name,
                   .from_lines = (const char *const *)l->from_lines,
                   .from_n = l->from_n,
                   .payment_lines = (const char *const *)l->payment_lines,
                   .payment_n = l->payment_n,
                   .font = l->cfg->font,
                   .now_ms = now};
    return pdf_render(&lt, len, pages, permanent, err, errsz);
}

/* Renders the template and the PDF into j->pdf. DN_SEND_OK; PERMANENT (a template error, the
 * address does not fit the window); TRANSIENT, why set. */
static dn_send_rc_t render(letter_drv_t *l, dn_sender_job_t *job, char *why, size_t n)
{
    letter_job_t *j = job->state;
    const dn_reminder_due_t *rd = job->rd;
    letter_text_t text;
    char err[1024];
    int64_t now = dn_clock_now_ms();
    if (texts_render(l->template_dir, NULL, rd, now, l->cfg->from_name, &text, err, sizeof(err)) < 0) {
        snprintf(why, n, "template error: %s", err);
        dn_sender_log_template_failed(rd, err);
        return DN_SEND_PERMANENT;
    }
    snprintf(j->template_source, sizeof(j->template_source), "%s", text.src.name);
    int permanent = 0;
    j->pdf = layout(l, rd, &text, j->address, now, &j->pdf_len, &j->pages, &permanent, err, sizeof(err));
    texts_free(&text);
    if (j->pdf)
        return DN_SEND_OK;
    if (permanent) {
        snprintf(why, n, "%s", err);
        return DN_SEND_PERMANENT;
    }
    snprintf(why, n, "render: %s", err);
    return DN_SEND_TRANSIENT;
}

/* The manifest line: what the print house needs, no contact data but the country. */
static char *manifest_line(const dn_sender_job_t *job)
{
    const letter_job_t *j = job->state;
    const dn_reminder_due_t *rd = job->rd;
    char created[40], country[3] = {0};
    dn_time_format(dn_clock_now_ms(), created, sizeof(created));
    if (rd->contact.address) {
        for (int i = 0; i < 2 && rd->contact.address->country[i]; i++)
            country[i] = (char)(rd->contact.address->country[i] & ~0x20);
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:i, s:s, s:s}", "event_id", rd->event_id,
                          "tenant_id", rd->tenant_id, "invoice_id", rd->invoice_id, "invoice_number",
                          rd->invoice_number ? rd->invoice_number : rd->invoice_id, "case_id", rd->case_id,
                          "stage_name", rd->stage_name, "stage", (int)rd->stage, "template", j->template_source, "file",
                          j->file, "pages", j->pages, "country", country, "created_at", created);
    if (!o)
        return NULL;
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return line;
}

/* Writes the PDF and its manifest line. 0, or -1 with why (transient). */
static int spool(letter_drv_t *l, const dn_sender_job_t *job, char *why, size_t n)
{
    const letter_job_t *j = job->state;
    char err[600];
    int existed = 0;
    if (spool_write(l->spool_dir, j->file, j->pdf, j->pdf_len, &existed, err, sizeof(err)) < 0) {
        snprintf(why, n, "spool: %s", err);
        return -1;
    }
    if (existed || job->recovering) {
        int has = spool_manifest_has(l->spool_dir, job->rd->event_id, err, sizeof(err));
        if (has < 0) {
            snprintf(why, n, "spool: %s", err);
            return -1;
        }
        if (has)
            return 0; /* written before the crash; the file was replaced by the same letter */
    }
    char *line = manifest_line(job);
    if (!line) {
        snprintf(why, n, "spool: out of memory");
        return -1;
    }
    int rc = spool_manifest_append(l->spool_dir, line, err, sizeof(err));
    free(line);
    if (rc < 0)
        snprintf(why, n, "spool: %s", err);
    return rc;
}

static dn_send_rc_t letter_send(void *ctx, dn_sender_job_t *job, char *why, size_t n)
{
    letter_drv_t *l = ctx;
    letter_job_t *j = job->state;
    if (!j->pdf) {
        static const char *const render_results[] = {"ok", "transient", "permanent"};
        double started = mono_s();
        dn_send_rc_t rc = render(l, job, why, n);
        dn_metrics_observe(l->render_seconds, DN_LABELS(render_results[rc]), mono_s() - started);
        if (rc != DN_SEND_OK)
            return rc;
    }
    int rc = spool(l, job, why, n);
    dn_sender_reached(rc == 0);
    return rc == 0 ? DN_SEND_OK : DN_SEND_TRANSIENT;
}

/* The file name, when there is (or was meant to be) a file. */
static const char *letter_provider_id(void *ctx, const dn_sender_job_t *job, int claim, dn_outcome_t outcome)
{
    const letter_job_t *j = job->state;
    return claim || outcome == DN_OUTCOME_DELIVERED || outcome == DN_OUTCOME_FAILED_TRANSIENT ? j->file : NULL;
}

static size_t letter_log_fields(void *ctx, dn_sender_job_t *job, dn_sender_field_t *f, size_t max)
{
    letter_job_t *j = job->state;
    snprintf(j->pages_txt, sizeof(j->pages_txt), "%d", j->pages);
    f[0] = (dn_sender_field_t){"template", j->template_source[0] ? j->template_source : NULL};
    f[1] = (dn_sender_field_t){"file", j->pdf ? j->file : NULL};
    f[2] = (dn_sender_field_t){"pages", j->pdf ? j->pages_txt : NULL};
    return 3;
}

/* One access(), no I/O on the folder. */
static int letter_ready(void *ctx, char *why, size_t n)
{
    letter_drv_t *l = ctx;
    if (access(l->spool_dir, W_OK | X_OK) < 0) {
        int e = errno;
        snprintf(why, n, "the spool folder %s", e == ENOENT ? "is missing" : "is not writable");
        return 0;
    }
    return 1;
}

static int check_one(void *arg, const char *dir, const dn_render_source_t *src, const dn_reminder_due_t *sample,
                     int full, FILE *out)
{
    letter_drv_t *l = arg;
    letter_text_t text;
    char err[1200];
    int64_t now = dn_clock_now_ms();
    if (texts_render(dir, src, sample, now, l->cfg->from_name, &text, err, sizeof(err)) < 0) {
        fprintf(out, "%s (%s sample)\n", err, full ? "full" : "minimal");
        return 1;
    }
    const char *why = NULL;
    char *address = address_block(sample->contact.name, sample->contact.address, l->cfg->from_country, &why);
    size_t len = 0;
    int pages = 0, permanent = 0, problems = 0;
    char *pdf = layout(l, sample, &text, address ? address : "", now, &len, &pages, &permanent, err, sizeof(err));
    if (!pdf) {
        fprintf(out, "%s: %s (%s sample)\n", text.src.name, err, full ? "full" : "minimal");
        problems++;
    }
    free(pdf);
    free(address);
    texts_free(&text);
    return problems;
}

static int letter_check_templates(void *ctx, const char *dir, FILE *out, int strict)
{
    return dn_render_check(dir, DN_CHANNEL_LETTER, "txt", "letter template", check_one, ctx, out);
}

static void letter_free_job(void *ctx, dn_sender_job_t *job)
{
    letter_job_t *j = job->state;
    free(j->pdf);
    free(j->address);
    j->pdf = j->address = NULL;
}

const dn_sender_driver_t letter_driver = {
    .channel = DN_CHANNEL_LETTER,
    DN_SENDER_CONFIG(letter_config, letter_cfg_t, letter_drv_t),
    .process = {.setup = letter_setup, .start = letter_start, .ready = letter_ready, .destroy = letter_destroy},
    .steps = {.validate = letter_validate, .prepare = letter_prepare, .send = letter_send},
    .job = {.size = sizeof(letter_job_t),
            .provider_id = letter_provider_id,
            .log_fields = letter_log_fields,
            .free = letter_free_job},
    .check_templates = letter_check_templates,
};
