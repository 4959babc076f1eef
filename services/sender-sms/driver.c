/* sender-sms's driver: what is the SMS channel's own (the rest is the sender core).
 *
 * prepare: no or invalid phone number, the template, the encoding (GSM-7 or UCS-2) and the
 * number of parts; a text needing more than DUNNING_SMS_MAX_PARTS parts fails permanently.
 * defer: if it is night in the customer's time zone (DUNNING_SMS_QUIET_HOURS,
 * contact.time_zone, the dunning clock), the core records 'failed_transient' with
 * next_attempt_at = the end of the quiet period and holds the record (and consumption) until
 * then. send: one sendsms request; Kannel trouble (refused connection, timeout, 5xx,
 * 401/403/429) is transient.
 *
 * Crash window: Kannel's sendsms has no idempotency key. A crash after Kannel accepted the
 * message but before its outcome committed leaves the row 'attempting'; the record comes
 * back and is sent again: the customer may get the same text twice (logged as such). The
 * window is Kannel's answer to our COMMIT.
 *
 * Readiness of kannel: the last request reached Kannel; a probe at start. */
#include "driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_clock.h"
#include "dn_config.h"
#include "dn_log.h"
#include "dn_metrics.h"
#include "kannel.h"
#include "dn_hours.h"
#include "shortlink.h"
#include "sms.h"
#include "texts.h"

typedef struct sms {
    const sms_cfg_t *cfg;
    const char *template_dir;
    dn_hours_t quiet;
    kannel_t *kannel;
    dn_metric_t *parts;
    const char *pg_dsn;
    dn_pg_t *pg; /* the short links' table (shortlink.h) */
} sms_t;

/* One reminder's text (may hold contact data: never logged). */
typedef struct sms_job {
    sms_text_t text;
    sms_size_t size;
    int measured;
    int has_short; /* the text carries the short portal link `sh` */
    dn_render_short_t sh;
    char parts[16], units[24]; /* for the log lines */
} sms_job_t;

/* The channel's own settings (the sender group is the core's). */
static const dn_cfg_entry_t sms_config[] = {
    DN_CFG("DUNNING_KANNEL_URL", DN_CFG_STRING, "http://127.0.0.1:13013/cgi-bin/sendsms", 0, 0,
           "Kannel's HTTP sendsms interface (smsbox's sendsms-port), without a query.", sms_cfg_t, kannel_url),
    DN_CFG("DUNNING_KANNEL_USER", DN_CFG_STRING, "", 0, 0, "Kannel sendsms-user username.", sms_cfg_t, kannel_user),
    DN_CFG("DUNNING_KANNEL_PASSWORD", DN_CFG_STRING, "", 0, 0, "Kannel sendsms-user password (never logged).",
           sms_cfg_t, kannel_password),
    DN_CFG("DUNNING_KANNEL_TIMEOUT", DN_CFG_DURATION, "10s", 100, 600000,
           "Longest wait for Kannel's answer to one sendsms request.", sms_cfg_t, kannel_timeout_ms),
    DN_CFG("DUNNING_SMS_FROM", DN_CFG_STRING, "Dunning", 0, 0,
           "Sender shown on the phone: up to 11 letters and digits, or a number (+ and up to 15 digits); empty: "
           "Kannel's default.",
           sms_cfg_t, from),
    DN_CFG("DUNNING_SMS_QUIET_HOURS", DN_CFG_STRING, "21:00-08:00", 0, 0,
           "HH:MM-HH:MM in the customer's time zone (contact.time_zone) when no SMS is sent; a reminder due then "
           "waits for the end (consumption pauses). Empty: no quiet hours.",
           sms_cfg_t, quiet_hours),
    DN_CFG("DUNNING_SMS_MAX_PARTS", DN_CFG_INT, "3", 1, 10,
           "Most concatenated parts one text may take (GSM-7: 160 characters single, 153 per part; UCS-2: 70 / 67); "
           "a longer text fails permanently.",
           sms_cfg_t, max_parts),
};

/* An alphanumeric sender (1-11 letters, digits, spaces) or a number ('+' optional, up to 15
 * digits); "" is allowed (Kannel's default). */
static int from_valid(const char *from)
{
    size_t n = strlen(from);
    if (n == 0)
        return 1;
    const char *digits = from[0] == '+' ? from + 1 : from;
    if (digits[0] && strspn(digits, "0123456789") == strlen(digits) && strlen(digits) <= 15)
        return 1;
    if (n > 11)
        return 0;
    for (const char *p = from; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' || c == '-' ||
              c == '.'))
            return 0;
    }
    return 1;
}

static int sms_setup(void *ctx, const void *cfg, const dn_sender_env_t *env, char *err, size_t errsz)
{
    sms_t *s = ctx;
    s->cfg = cfg;
    s->template_dir = env->template_dir;
    s->pg_dsn = env->pg_dsn;
    dn_render_set_portal_short(1); /* {{portal_short_link}}: on when the portal links are */
    if (!from_valid(s->cfg->from)) {
        snprintf(err, errsz,
                 "DUNNING_SMS_FROM: up to 11 letters, digits, spaces, '-' or '.', or a number of up to 15 digits");
        return -1;
    }
    if (dn_hours_setup(&s->quiet, s->cfg->quiet_hours, 0) < 0) {
        snprintf(err, errsz, "DUNNING_SMS_QUIET_HOURS: use HH:MM-HH:MM (e.g. 21:00-08:00), or empty for none");
        return -1;
    }
    return 0;
}

static void sms_destroy(void *ctx)
{
    sms_t *s = ctx;
    kannel_destroy(s->kannel);
    dn_pg_destroy(s->pg);
}

static int sms_start(void *ctx, char *err, size_t errsz)
{
    sms_t *s = ctx;
    char why[1024];
    if (!(s->kannel = kannel_new(s->cfg->kannel_url, s->cfg->kannel_user, s->cfg->kannel_password, s->cfg->from,
                                 s->cfg->kannel_timeout_ms, why, sizeof(why)))) {
        snprintf(err, errsz, "DUNNING_KANNEL_URL: %s", why);
        return 2;
    }
    if (!(s->pg = dn_pg_new(s->pg_dsn, why, sizeof(why)))) {
        snprintf(err, errsz, "postgres: %s", why);
        return 1;
    }
    /* A held record (quiet hours, Kannel down) is not polled for; keep the group membership
     * over a whole night unless the operator chose otherwise (docs/sms.md). */
    if (!getenv("DUNNING_RDKAFKA_CONSUMER_max_poll_interval_ms") && !getenv("DUNNING_RDKAFKA_max_poll_interval_ms"))
        setenv("DUNNING_RDKAFKA_CONSUMER_max_poll_interval_ms", "86400000", 0);
    s->parts = dn_metrics_counter("dunning_sms_parts_total",
                                  "SMS parts Kannel accepted, by coding (gsm7, ucs2); a concatenated text counts each "
                                  "part.",
                                  "coding");
    dn_metrics_add(s->parts, DN_LABELS("gsm7"), 0);
    dn_metrics_add(s->parts, DN_LABELS("ucs2"), 0);
    int reached = kannel_probe(s->kannel);
    dn_sender_reached(reached);
    if (!reached)
        dn_log_warn("kannel does not answer", "hint", "check DUNNING_KANNEL_URL and that smsbox runs", NULL);
    return 0;
}

/* Decides what needs no gateway: no or invalid number, a template error, a text too long.
 * Renders and measures the text otherwise. */
static int sms_prepare(void *ctx, dn_sender_job_t *job, dn_outcome_t *outcome, char *why, size_t n)
{
    sms_t *s = ctx;
    sms_job_t *j = job->state;
    const dn_reminder_due_t *rd = job->rd;
    *outcome = DN_OUTCOME_FAILED_PERMANENT;
    const char *bad =
        dn_phone_problem(rd->contact.phone, "phone number is not in E.164 format (+ and up to 15 digits)");
    if (bad) {
        snprintf(why, n, "%s", bad);
        return 1;
    }
    char err[1024];
    if (texts_render(s->template_dir, NULL, rd, &j->text, err, sizeof(err)) < 0) {
        snprintf(why, n, "template error: %s", err);
        dn_sender_log_template_failed(rd, err);
        return 1;
    }
    if (sms_measure(j->text.text, &j->size) < 0) {
        snprintf(why, n, "template error: %s.txt: the text is not valid UTF-8", j->text.src.name);
        return 1;
    }
    j->measured = 1;
    j->has_short = dn_render_portal_short(rd, &j->sh) == 0 && strstr(j->text.text, j->sh.link) != NULL;
    if (j->size.parts > s->cfg->max_parts) {
        snprintf(why, n, "text needs %d parts, at most %d allowed (%s, %zu %s)", j->size.parts, (int)s->cfg->max_parts,
                 sms_coding_name(j->size.coding), j->size.units,
                 j->size.coding == SMS_GSM7 ? "septets" : "UTF-16 units");
        return 1;
    }
    return 0;
}

/* Quiet hours: 1 (deferred: *until set, why written), or 0. */
static int sms_defer(void *ctx, dn_sender_job_t *job, int64_t *until, char *why, size_t n)
{
    sms_t *s = ctx;
    return dn_hours_defer(&s->quiet, job->rd->contact.time_zone, "quiet hours", until, why, n);
}

static dn_send_rc_t sms_send(void *ctx, dn_sender_job_t *job, char *why, size_t n)
{
    sms_t *s = ctx;
    sms_job_t *j = job->state;
    int reached = 0;
    int stored = j->has_short ? shortlink_store(s->pg, job->rd, &j->sh, why, n) : 0;
    if (stored < 0)
        return stored == -1 ? DN_SEND_TRANSIENT : DN_SEND_PERMANENT;
    kannel_result_t kr = kannel_send(s->kannel, job->rd->contact.phone, j->text.text, j->size.coding, &reached, why, n);
    dn_sender_reached(reached);
    return kr == KANNEL_ACCEPTED ? DN_SEND_OK : kr == KANNEL_PERMANENT ? DN_SEND_PERMANENT : DN_SEND_TRANSIENT;
}

static size_t sms_log_fields(void *ctx, dn_sender_job_t *job, dn_sender_field_t *f, size_t max)
{
    sms_job_t *j = job->state;
    snprintf(j->parts, sizeof(j->parts), "%d", j->size.parts);
    snprintf(j->units, sizeof(j->units), "%zu", j->size.units);
    f[0] = (dn_sender_field_t){"template", j->text.text ? j->text.src.name : NULL};
    f[1] = (dn_sender_field_t){"coding", j->measured ? sms_coding_name(j->size.coding) : NULL};
    f[2] = (dn_sender_field_t){"parts", j->measured ? j->parts : NULL};
    f[3] = (dn_sender_field_t){"units", j->measured ? j->units : NULL};
    return 4;
}

static void sms_recorded(void *ctx, const dn_sender_job_t *job, dn_outcome_t outcome)
{
    sms_t *s = ctx;
    const sms_job_t *j = job->state;
    if (outcome == DN_OUTCOME_DELIVERED)
        dn_metrics_add(s->parts, DN_LABELS(sms_coding_name(j->size.coding)), j->size.parts);
}

typedef struct check_arg {
    sms_t *s;
    int strict;
} check_arg_t;

/* At start only what can never work stops the sender (a missing variable or file, invalid
 * UTF-8); a text that is too long with the samples may still fit real data, so it is only
 * reported by --check-templates (strict), and fails that one reminder permanently if it
 * happens. */
static int check_one(void *arg, const char *dir, const dn_render_source_t *src, const dn_reminder_due_t *sample,
                     int full, FILE *out)
{
    const check_arg_t *c = arg;
    sms_text_t text;
    sms_size_t size;
    char err[1200];
    if (texts_render(dir, src, sample, &text, err, sizeof(err)) < 0) {
        fprintf(out, "%s (%s sample)\n", err, full ? "full" : "minimal");
        return 1;
    }
    int problems = 0;
    if (sms_measure(text.text, &size) < 0) {
        fprintf(out, "%s.txt: the text is not valid UTF-8 (%s sample)\n", text.src.name, full ? "full" : "minimal");
        problems++;
    } else if (c->strict && size.parts > c->s->cfg->max_parts) {
        fprintf(out, "%s.txt: text needs %d parts, at most %d allowed (%s, %zu units; %s sample)\n", text.src.name,
                size.parts, (int)c->s->cfg->max_parts, sms_coding_name(size.coding), size.units,
                full ? "full" : "minimal");
        problems++;
    }
    texts_free(&text);
    return problems;
}

static int sms_check_templates(void *ctx, const char *dir, FILE *out, int strict)
{
    check_arg_t c = {ctx, strict};
    return dn_render_check(dir, DN_CHANNEL_SMS, "txt", "sms template", check_one, &c, out);
}

/* The text as sent (with the short portal link when it has one). */
static int sms_kept(void *ctx, const dn_sender_job_t *job, const char **subject, const char **body, const char **source)
{
    (void)ctx;
    const sms_job_t *j = job->state;
    if (!j->text.text)
        return 0;
    *subject = NULL;
    *body = j->text.text;
    *source = j->text.src.name;
    return 1;
}

static void sms_free_job(void *ctx, dn_sender_job_t *job)
{
    sms_job_t *j = job->state;
    texts_free(&j->text);
}

const dn_sender_driver_t sms_driver = {
    .channel = DN_CHANNEL_SMS,
    DN_SENDER_CONFIG(sms_config, sms_cfg_t, sms_t),
    .process = {.setup = sms_setup, .start = sms_start, .destroy = sms_destroy},
    .steps = {.prepare = sms_prepare, .defer = sms_defer, .send = sms_send},
    .job = {.size = sizeof(sms_job_t),
            .log_fields = sms_log_fields,
            .recorded = sms_recorded,
            .kept = sms_kept,
            .free = sms_free_job},
    .check_templates = sms_check_templates,
};
