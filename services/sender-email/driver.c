/* sender-email's driver: what is the e-mail channel's own (the rest is the sender core).
 *
 * prepare renders the templates and builds the RFC 5322 message before the claim, with the
 * Message-ID <reminder-EVENTID@dunning>; send is one SMTP transaction over a reused
 * connection (a fresh one after a failure).
 *
 * Crash window: a crash after the SMTP server accepted a message but before its outcome
 * committed leaves the row 'attempting'. The record comes back and the message is sent
 * AGAIN with the same Message-ID, which lets receiving systems drop the duplicate; the core
 * logs that it did so. SMTP offers no way to ask whether a message was accepted, so this
 * window cannot be closed, only narrowed and made recognisable.
 *
 * Readiness of smtp: the last SMTP attempt got an answer from the server (a reply code, even
 * a refusal); it fails while the server cannot be reached (no connection, timeout) and
 * recovers with the next answered attempt. No probe of its own: an idle sender stays ready. */
#include "driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_clock.h"
#include "dn_config.h"
#include "dn_log.h"
#include "mail.h"
#include "templates.h"

typedef struct email {
    const email_cfg_t *cfg;
    const char *template_dir;
    char from_name[256], from_addr[256];
    char unsubscribe[1024];
    smtp_t *smtp;
    int smtp_fresh; /* the last send failed: open a new connection for the next */
} email_t;

/* One reminder's message. */
typedef struct email_job {
    char message_id[96];
    char *mail; /* the RFC 5322 message */
    size_t mail_len;
    char template_source[512];
    char *subject, *text; /* what the customer reads (kept for the case view) */
} email_job_t;

static int email_setup(void *ctx, const void *cfg, const dn_sender_env_t *env, char *err, size_t errsz)
{
    email_t *e = ctx;
    e->cfg = cfg;
    e->template_dir = env->template_dir;
    if (mail_parse_mailbox(e->cfg->smtp_from, e->from_name, sizeof(e->from_name), e->from_addr, sizeof(e->from_addr)) <
        0) {
        snprintf(err, errsz, "DUNNING_SMTP_FROM: not \"Name <address>\" or an address");
        return -1;
    }
    if (e->cfg->list_unsubscribe[0]) {
        if (strpbrk(e->cfg->list_unsubscribe, "\r\n") || strlen(e->cfg->list_unsubscribe) >= sizeof(e->unsubscribe)) {
            snprintf(err, errsz, "DUNNING_LIST_UNSUBSCRIBE: must be one line of at most 1000 characters");
            return -1;
        }
        snprintf(e->unsubscribe, sizeof(e->unsubscribe), "%s", e->cfg->list_unsubscribe);
    } else {
        snprintf(e->unsubscribe, sizeof(e->unsubscribe), "<mailto:%s?subject=unsubscribe>", e->from_addr);
    }
    e->smtp = smtp_new(e->cfg->smtp_url, e->cfg->smtp_tls, e->cfg->smtp_timeout_ms, err, errsz);
    return e->smtp ? 0 : -1;
}

static void email_destroy(void *ctx)
{
    email_t *e = ctx;
    smtp_destroy(e->smtp);
}

/* The channel's own settings (the sender group is the core's). */
static const dn_cfg_entry_t email_config[] = {
    DN_CFG("DUNNING_SMTP_FROM", DN_CFG_STRING, "Accounts Receivable <billing@example.com>", 0, 0,
           "From header and envelope sender: \"Name <address>\" or an address.", email_cfg_t, smtp_from),
    DN_CFG("DUNNING_SMTP_TLS", DN_CFG_STRING, "try", 0, 0,
           "STARTTLS on smtp:// URLs: none, try (when offered) or required.", email_cfg_t, smtp_tls),
    DN_CFG("DUNNING_SMTP_TIMEOUT", DN_CFG_DURATION, "30s", 100, 600000,
           "Bound on one SMTP transaction (connect included).", email_cfg_t, smtp_timeout_ms),
    DN_CFG("DUNNING_SMTP_URL", DN_CFG_STRING, "smtp://127.0.0.1:25", 0, 0,
           "SMTP server: smtp://[user:password@]host[:port][/helo-name], or smtps:// for implicit TLS.", email_cfg_t,
           smtp_url),
    DN_CFG("DUNNING_LIST_UNSUBSCRIBE", DN_CFG_STRING, "", 0, 0,
           "List-Unsubscribe header value, e.g. <https://example.com/unsubscribe> (default: a mailto: to the "
           "From address).",
           email_cfg_t, list_unsubscribe),
};

/* Reads "Name <addr>" from <dir>/<tenant>/<file> into name/addr; leaves them as they are
 * when the file is absent or the line is not a valid mailbox (logged). */
static void tenant_mailbox(const char *dir, const char *tenant, const char *file, char *name, size_t name_size,
                           char *addr, size_t addr_size)
{
    char path[4300], line[600], n[256], a[256];
    if (!tenant || !*tenant || strchr(tenant, '/') || tenant[0] == '.')
        return;
    snprintf(path, sizeof(path), "%s/%s/%s", dir, tenant, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    int got = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    if (!got)
        return;
    line[strcspn(line, "\r\n")] = '\0';
    if (mail_parse_mailbox(line, n, sizeof(n), a, sizeof(a)) < 0) {
        dn_log_warn("tenant sender identity ignored", "file", path, "detail", "not a mailbox like Name <addr>", NULL);
        return;
    }
    snprintf(name, name_size, "%s", n);
    snprintf(addr, addr_size, "%s", a);
}

/* Renders and builds the message, or decides an outcome that needs no SMTP server. */
static int email_prepare(void *ctx, dn_sender_job_t *job, dn_outcome_t *outcome, char *why, size_t n)
{
    email_t *e = ctx;
    email_job_t *j = job->state;
    const dn_reminder_due_t *rd = job->rd;
    snprintf(j->message_id, sizeof(j->message_id), "reminder-%s@dunning", rd->event_id);
    *outcome = DN_OUTCOME_FAILED_PERMANENT;
    if (!rd->contact.email || !*rd->contact.email) {
        snprintf(why, n, "no email address");
        return 1;
    }
    if (!mail_addr_valid(rd->contact.email)) {
        snprintf(why, n, "email address is not valid");
        return 1;
    }
    rendered_t r;
    char err[1024];
    if (templates_render(e->template_dir, rd, &r, err, sizeof(err)) < 0) {
        snprintf(why, n, "template error: %s", err);
        dn_sender_log_template_failed(rd, err);
        return 1;
    }
    snprintf(j->template_source, sizeof(j->template_source), "%s", r.source);
    /* The tenant's own sender identity, if its template folder has one:
     * <template dir>/<tenant>/email.from and email.reply_to, one "Name <addr>" line each. */
    char from_name[256], from_addr[256], reply_name[256] = "", reply_addr[256] = "";
    snprintf(from_name, sizeof(from_name), "%s", e->from_name);
    snprintf(from_addr, sizeof(from_addr), "%s", e->from_addr);
    tenant_mailbox(e->template_dir, rd->tenant_id, "email.from", from_name, sizeof(from_name), from_addr,
                   sizeof(from_addr));
    tenant_mailbox(e->template_dir, rd->tenant_id, "email.reply_to", reply_name, sizeof(reply_name), reply_addr,
                   sizeof(reply_addr));
    mail_msg_t msg = {.from_name = from_name,
                      .from_addr = from_addr,
                      .reply_to_name = reply_name[0] ? reply_name : NULL,
                      .reply_to_addr = reply_addr[0] ? reply_addr : NULL,
                      .to_name = rd->contact.name,
                      .to_addr = rd->contact.email,
                      .subject = r.subject,
                      .text = r.text,
                      .html = r.html,
                      .message_id = j->message_id,
                      .list_unsubscribe = e->unsubscribe,
                      .date_ms = dn_clock_now_ms()};
    j->mail = mail_build(&msg, &j->mail_len, err, sizeof(err));
    j->subject = strdup(r.subject ? r.subject : "");
    j->text = strdup(r.text ? r.text : "");
    rendered_free(&r);
    if (!j->mail) {
        snprintf(why, n, "%s", err);
        return 1;
    }
    return 0;
}

/* One SMTP transaction. On failure, why gets "smtp CODE: ...". */
static dn_send_rc_t email_send(void *ctx, dn_sender_job_t *job, char *why, size_t n)
{
    email_t *e = ctx;
    email_job_t *j = job->state;
    long code = 0;
    char err[512];
    smtp_result_t sr = smtp_send(e->smtp, e->from_addr, job->rd->contact.email, j->mail, j->mail_len, e->smtp_fresh,
                                 &code, err, sizeof(err));
    dn_sender_reached(sr != SMTP_TRANSIENT || code != 0);
    e->smtp_fresh = sr != SMTP_OK;
    if (sr != SMTP_OK)
        snprintf(why, n, "smtp %ld: %.400s", code, err);
    return sr == SMTP_OK ? DN_SEND_OK : sr == SMTP_PERMANENT ? DN_SEND_PERMANENT : DN_SEND_TRANSIENT;
}

/* The Message-ID; not for a suppressed reminder (nothing was sent). */
static const char *email_provider_id(void *ctx, const dn_sender_job_t *job, int claim, dn_outcome_t outcome)
{
    const email_job_t *j = job->state;
    return claim || outcome != DN_OUTCOME_SUPPRESSED ? j->message_id : NULL;
}

static size_t email_log_fields(void *ctx, dn_sender_job_t *job, dn_sender_field_t *f, size_t max)
{
    email_job_t *j = job->state;
    f[0] = (dn_sender_field_t){"template", j->template_source[0] ? j->template_source : NULL};
    return 1;
}

static int email_check_templates(void *ctx, const char *dir, FILE *out, int strict)
{
    return templates_check(dir, out);
}

/* The subject and the plain-text part as sent (the HTML part says the same). */
static int email_kept(void *ctx, const dn_sender_job_t *job, const char **subject, const char **body,
                      const char **source)
{
    (void)ctx;
    const email_job_t *j = job->state;
    if (!j->mail || !j->text)
        return 0;
    *subject = j->subject;
    *body = j->text;
    *source = j->template_source;
    return 1;
}

static void email_free_job(void *ctx, dn_sender_job_t *job)
{
    email_job_t *j = job->state;
    free(j->subject);
    free(j->text);
    free(j->mail);
    j->mail = NULL;
}

const dn_sender_driver_t email_driver = {
    .channel = DN_CHANNEL_EMAIL,
    DN_SENDER_CONFIG(email_config, email_cfg_t, email_t),
    .process = {.setup = email_setup, .destroy = email_destroy},
    .steps = {.prepare = email_prepare, .send = email_send},
    .job = {.size = sizeof(email_job_t),
            .provider_id = email_provider_id,
            .log_fields = email_log_fields,
            .kept = email_kept,
            .free = email_free_job},
    .check_templates = email_check_templates,
};
