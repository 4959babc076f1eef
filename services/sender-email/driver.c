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

#include <stdatomic.h>
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
    atomic_int smtp_ok;
} email_t;

/* One reminder's message. */
typedef struct email_job {
    char message_id[96];
    char *mail; /* the RFC 5322 message */
    size_t mail_len;
    char template_source[512];
} email_job_t;

static void copy(char *dst, size_t size, const char *src)
{
    size_t n = strnlen(src, size - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int email_setup(void **ctx, const void *cfg, const dn_sender_env_t *env, char *err, size_t errsz)
{
    email_t *e = calloc(1, sizeof(*e));
    if (!e) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    *ctx = e; /* destroyed by the core, also after a failure here */
    e->cfg = cfg;
    e->template_dir = env->template_dir;
    atomic_store(&e->smtp_ok, 1);
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
    copy(name, name_size, n);
    copy(addr, addr_size, a);
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
        dn_log_error("template failed", "event_id", rd->event_id, "tenant_id", rd->tenant_id, "invoice_id",
                     rd->invoice_id, "case_id", rd->case_id, "template_key", rd->template_key, "detail", err, "hint",
                     "check the templates with: sender-email --check-templates", NULL);
        return 1;
    }
    copy(j->template_source, sizeof(j->template_source), r.source);
    /* The tenant's own sender identity, if its template folder has one:
     * <template dir>/<tenant>/email.from and email.reply_to, one "Name <addr>" line each. */
    char from_name[256], from_addr[256], reply_name[256] = "", reply_addr[256] = "";
    copy(from_name, sizeof(from_name), e->from_name);
    copy(from_addr, sizeof(from_addr), e->from_addr);
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
    atomic_store(&e->smtp_ok, sr != SMTP_TRANSIENT || code != 0);
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

static int email_ready(void *ctx, char *why, size_t n)
{
    email_t *e = ctx;
    if (atomic_load(&e->smtp_ok))
        return 1;
    snprintf(why, n, "the last attempt got no answer from the smtp server (connection or timeout)");
    return 0;
}

static int email_check_templates(void *ctx, const char *dir, FILE *out, int strict)
{
    return templates_check(dir, out);
}

static void email_free_job(void *ctx, dn_sender_job_t *job)
{
    email_job_t *j = job->state;
    free(j->mail);
    j->mail = NULL;
}

static void email_destroy(void *ctx)
{
    email_t *e = ctx;
    smtp_destroy(e->smtp);
    free(e);
}

static const dn_cfg_entry_t email_config[] = {
    DN_CFG("DUNNING_SMTP_URL", DN_CFG_STRING, "smtp://127.0.0.1:25", 0, 0,
           "SMTP server: smtp://[user:password@]host[:port][/helo-name], or smtps:// for implicit TLS.", email_cfg_t,
           smtp_url),
    DN_CFG("DUNNING_SMTP_FROM", DN_CFG_STRING, "Accounts Receivable <billing@example.com>", 0, 0,
           "From header and envelope sender: \"Name <address>\" or an address.", email_cfg_t, smtp_from),
    DN_CFG("DUNNING_SMTP_TLS", DN_CFG_STRING, "try", 0, 0,
           "STARTTLS on smtp:// URLs: none, try (when offered) or required.", email_cfg_t, smtp_tls),
    DN_CFG("DUNNING_SMTP_TIMEOUT", DN_CFG_DURATION, "30s", 100, 600000,
           "Bound on one SMTP transaction (connect included).", email_cfg_t, smtp_timeout_ms),
    DN_CFG("DUNNING_LIST_UNSUBSCRIBE", DN_CFG_STRING, "", 0, 0,
           "List-Unsubscribe header value, e.g. <https://example.com/unsubscribe> (default: a mailto: to the "
           "From address).",
           email_cfg_t, list_unsubscribe),
};

const dn_sender_driver_t email_driver = {
    .service = "sender-email",
    .channel = DN_CHANNEL_EMAIL,
    .topic = DN_TOPIC_REMINDER_DUE_EMAIL,
    .provider = "smtp",
    .what_down = "smtp server failing",
    .group_env = "DUNNING_SENDER_GROUP",
    .group_default = "sender-email",
    .group_help = "Kafka consumer group of the email senders.",
    .retry_prefix = "SMTP",
    .retries_help =
        "In-process retries of a transient SMTP failure (4xx, no connection) before recording failed_transient.",
    .pause_help = "Longest pause between rounds while the SMTP server keeps failing (consumption is paused meanwhile).",
    .http_default = "127.0.0.1:9465",
    .config = email_config,
    .nconfig = sizeof(email_config) / sizeof(email_config[0]),
    .cfg_size = sizeof(email_cfg_t),
    .send_metric = "dunning_smtp_send_duration_seconds",
    .send_help = "Time of one SMTP transaction, by result (ok, transient, permanent).",
    .send_results = {"ok", "transient", "permanent"},
    .msg_outcome = {[DN_OUTCOME_DELIVERED] = "reminder delivered",
                    [DN_OUTCOME_SUPPRESSED] = "reminder suppressed",
                    [DN_OUTCOME_FAILED_TRANSIENT] = "reminder delivery failed, will retry",
                    [DN_OUTCOME_FAILED_PERMANENT] = "reminder delivery failed permanently"},
    .msg_retry = "smtp transient failure, retrying",
    .msg_resend = "previous attempt did not finish; sending again with the same message-id",
    .job_size = sizeof(email_job_t),
    .setup = email_setup,
    .prepare = email_prepare,
    .send = email_send,
    .provider_id = email_provider_id,
    .log_fields = email_log_fields,
    .ready = email_ready,
    .check_templates = email_check_templates,
    .free_job = email_free_job,
    .destroy = email_destroy,
};
