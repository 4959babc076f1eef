/* sender-voice's driver: what is the voice channel's own (the rest is the sender core).
 *
 * prepare: no or invalid (not E.164) phone number, the template (voice_reminder.voice.<locale>.txt),
 * the speech (dn_tts_render, cached in <audio dir>/cache), and with answering-machine
 * detection (DUNNING_VOICE_AMD) the voicemail (voicemail.voice.<locale>.txt, rendered with
 * the tenant and the customer's name only, so it cannot disclose the debt). defer: outside calling hours in
 * the customer's time zone (DUNNING_VOICE_CALLING_HOURS) the core records failed_transient
 * with next_attempt_at = the next start and holds the record. send: one call (call.c) run to
 * its end; the message is written as <audio dir>/<reminder event id>.wav first (and the
 * voicemail as <event id>.voicemail.wav).
 * Outcomes: answered, no_response, answering_machine -> delivered; busy, rejected, no_answer, trunk_error ->
 * transient; invalid_number -> permanent. The call record goes on the outcome (job.call).
 *
 * Crash window: a call has no idempotency key. A crash after the call but before its
 * outcome committed calls the customer again (logged as such by the core). */
#include "driver.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "call.h"
#include "dn_clock.h"
#include "dn_config.h"
#include "dn_log.h"
#include "dn_metrics.h"
#include "dn_render.h"
#include "dn_voice_media.h"
#include "dn_hours.h"
#include "rules.h"

#define MAX_TEMPLATE_BYTES (16 * 1024)

typedef struct voice {
    const voice_cfg_t *cfg;
    const char *template_dir;
    char cache_dir[1100];
    const char *pg_dsn;
    voice_rules_t *rules; /* calling hours, the limits, the ledger of calls */
    int ready;
    /* The trunk's OPTIONS ping: written on the loop thread, read by /readyz's. */
    pthread_mutex_t trunk_mu;
    int trunk_ok, trunk_checked;
    char trunk_why[300];
    int64_t next_ping; /* real ms */
    dn_metric_t *m_calls, *m_keys, *m_seconds, *m_answer, *m_ping;
    double calls_all, calls_answered;
} voice_t;

typedef struct voice_job {
    char *text; /* may hold contact data: never logged */
    dn_render_source_t src;
    dn_pcm_t pcm;
    char *vm_text; /* the voicemail for a machine (with DUNNING_VOICE_AMD) */
    dn_render_source_t vm_src;
    dn_pcm_t vm_pcm;
    call_report_t report;
    int called;
    dn_call_result_t call;
    char audio_s[24], plays[8], greeting_ms[16];
} voice_job_t;

static const dn_cfg_entry_t voice_config[] = {
    DN_CFG("DUNNING_VOICE_PROXY", DN_CFG_STRING, "127.0.0.1:5060", 0, 0,
           "SIP proxy or trunk (host:port) every call's INVITE goes to over UDP; the stack's test peer is "
           "DUNNING_VOICE_PEER.",
           voice_cfg_t, proxy),
    DN_CFG("DUNNING_VOICE_CALLER", DN_CFG_STRING, "+4930000000", 0, 0,
           "Caller id: the From of each call, a sip: URI or a number (then sip:<number>@<our address>).", voice_cfg_t,
           caller),
    DN_CFG("DUNNING_VOICE_USER", DN_CFG_STRING, "", 0, 0,
           "Username for the trunk's digest authentication (401/407); empty: none.", voice_cfg_t, user),
    DN_CFG("DUNNING_VOICE_PASSWORD", DN_CFG_STRING, "", 0, 0, "Password for the digest authentication (never logged).",
           voice_cfg_t, password),
    DN_CFG("DUNNING_VOICE_AUDIO_DIR", DN_CFG_STRING, "", 0, 0,
           "Where each call's message is written as <reminder event id>.wav (8 kHz, 16-bit), and the speech cache "
           "(cache/); empty: $DUNNING_RUN_DIR/voice, or .run/voice.",
           voice_cfg_t, audio_dir),
    DN_CFG("DUNNING_VOICE_RING_TIMEOUT", DN_CFG_DURATION, "30s", 1000, 300000,
           "How long a call may ring before it is cancelled (no_answer, transient).", voice_cfg_t, ring_timeout_ms),
    DN_CFG("DUNNING_VOICE_KEY_TIMEOUT", DN_CFG_DURATION, "8s", 1000, 60000,
           "How long to wait for a key after the message; none: it is played once more, then the call ends as "
           "no_response.",
           voice_cfg_t, key_timeout_ms),
    DN_CFG("DUNNING_VOICE_CALLING_HOURS", DN_CFG_STRING, "08:00-21:00", 0, 0,
           "HH:MM-HH:MM in the customer's time zone (contact.time_zone) when calls may be made, for policies "
           "without voice.calling_hours (which may differ by tenant and day of the week); a reminder due "
           "outside waits for the next start (consumption pauses). Empty: any time.",
           voice_cfg_t, calling_hours),
    DN_CFG("DUNNING_VOICE_OPTIONS_INTERVAL", DN_CFG_DURATION, "30s", 1000, 3600000,
           "How often the SIP trunk is sent an OPTIONS request (/readyz fails while it does not answer).", voice_cfg_t,
           options_interval_ms),
    DN_CFG("DUNNING_VOICE_AMD", DN_CFG_BOOL, "on", 0, 0,
           "Answering-machine detection: listen to the callee's greeting before speaking; a machine gets the "
           "voicemail template (voicemail.voice.<locale>.txt: no amounts, no menu) after its beep. off: the "
           "reminder is played to whoever answers.",
           voice_cfg_t, amd),
    DN_CFG("DUNNING_POLICY_FILE", DN_CFG_STRING, "", 0, 0,
           "The engine's policy file: each tenant's voice settings (calling_hours, max_attempts_per_7d, "
           "quiet_after_answer). Empty: the defaults for every tenant.",
           voice_cfg_t, policy_file),
};

static int voice_setup(void *ctx, const void *cfg, const dn_sender_env_t *env, char *err, size_t errsz)
{
    voice_t *v = ctx;
    v->cfg = cfg;
    v->template_dir = env->template_dir;
    v->pg_dsn = env->pg_dsn;
    int on, start, end;
    if (dn_hours_parse(v->cfg->calling_hours, &on, &start, &end) < 0 || (on && start >= end)) {
        snprintf(err, errsz,
                 "DUNNING_VOICE_CALLING_HOURS: use HH:MM-HH:MM within a day (e.g. 08:00-21:00), or empty for any time");
        return -1;
    }
    if (!strchr(v->cfg->proxy, ':')) {
        snprintf(err, errsz, "DUNNING_VOICE_PROXY: use host:port");
        return -1;
    }
    if (!v->cfg->caller[0]) {
        snprintf(err, errsz, "DUNNING_VOICE_CALLER: a sip: URI or a number is needed");
        return -1;
    }
    return call_init(err, errsz);
}

/* The trunk's OPTIONS ping, at most every DUNNING_VOICE_OPTIONS_INTERVAL. */
static void ping_trunk(voice_t *v, int force)
{
    int64_t real = dn_clock_real_now_ms();
    if (!force && real < v->next_ping)
        return;
    v->next_ping = real + v->cfg->options_interval_ms;
    char why[256];
    int ok = call_ping(v->cfg->proxy, 2000, why, sizeof(why)) == 1;
    if (v->m_ping)
        dn_metrics_set(v->m_ping, NULL, ok);
    pthread_mutex_lock(&v->trunk_mu);
    if (!ok && (v->trunk_ok || !v->trunk_checked))
        dn_log_warn("the SIP trunk does not answer OPTIONS", "proxy", v->cfg->proxy, "detail", why, NULL);
    v->trunk_ok = ok;
    v->trunk_checked = 1;
    snprintf(v->trunk_why, sizeof(v->trunk_why), "the SIP trunk (DUNNING_VOICE_PROXY) does not answer OPTIONS: %s",
             why);
    pthread_mutex_unlock(&v->trunk_mu);
}

static void voice_tick(void *ctx)
{
    voice_t *v = ctx;
    if (v->ready)
        ping_trunk(v, 0);
}

static int voice_ready(void *ctx, char *why, size_t n)
{
    voice_t *v = ctx;
    pthread_mutex_lock(&v->trunk_mu);
    int ok = v->trunk_ok;
    if (!ok)
        snprintf(why, n, "%s", v->trunk_checked ? v->trunk_why : "the SIP trunk has not been checked yet");
    pthread_mutex_unlock(&v->trunk_mu);
    return ok;
}

static void voice_destroy(void *ctx)
{
    voice_t *v = ctx;
    rules_destroy(v->rules);
    v->rules = NULL;
    call_close();
}

static int mkdir_p(const char *path)
{
    char buf[1100];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static const char *audio_dir(const voice_t *v)
{
    return v->cfg->audio_dir;
}

static int voice_start(void *ctx, char *err, size_t errsz)
{
    voice_t *v = ctx;
    voice_cfg_t *cfg = (voice_cfg_t *)v->cfg;
    if (!cfg->audio_dir[0]) {
        const char *run = getenv("DUNNING_RUN_DIR");
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s/voice", run && run[0] ? run : ".run");
        free(cfg->audio_dir);
        if (!(cfg->audio_dir = strdup(dir))) {
            snprintf(err, errsz, "out of memory");
            return 1;
        }
    }
    snprintf(v->cache_dir, sizeof(v->cache_dir), "%s/cache", audio_dir(v));
    if (mkdir_p(v->cache_dir) < 0) {
        snprintf(err, errsz, "DUNNING_VOICE_AUDIO_DIR: cannot create %s: %s", v->cache_dir, strerror(errno));
        return 2;
    }
    /* A held record (calling hours) is not polled for; keep the group membership over a
     * night unless the operator chose otherwise (docs/voice.md). */
    if (!getenv("DUNNING_RDKAFKA_CONSUMER_max_poll_interval_ms") && !getenv("DUNNING_RDKAFKA_max_poll_interval_ms"))
        setenv("DUNNING_RDKAFKA_CONSUMER_max_poll_interval_ms", "86400000", 0);
    char rerr[600];
    if (!(v->rules = rules_new(cfg->policy_file, cfg->calling_hours, v->pg_dsn, rerr, sizeof(rerr)))) {
        snprintf(err, errsz, "%s", rerr);
        return cfg->policy_file[0] && strstr(rerr, cfg->policy_file) ? 2 : 1;
    }
    pthread_mutex_init(&v->trunk_mu, NULL);
    v->m_calls =
        dn_metrics_counter("dunning_voice_calls_total",
                           "Calls placed, by how they ended (answered, no_response, busy, no_answer, rejected, "
                           "invalid_number, trunk_error).",
                           "result");
    v->m_keys = dn_metrics_counter("dunning_voice_keypad_choices_total",
                                   "Menu keys that ended a call (1 promise, 2 callback, 3 already paid).", "digit");
    v->m_seconds = dn_metrics_counter("dunning_voice_call_seconds_total",
                                      "Seconds of connected calls, from the answer to the hang-up.", NULL);
    v->m_answer =
        dn_metrics_gauge("dunning_voice_answer_ratio",
                         "Share of the calls placed since the start that were answered by the customer.", NULL);
    v->m_ping =
        dn_metrics_gauge("dunning_voice_trunk_up",
                         "1 while the SIP trunk answers OPTIONS (DUNNING_VOICE_OPTIONS_INTERVAL), else 0.", NULL);
    dn_sender_reached(1);
    v->ready = 1;
    ping_trunk(v, 1);
    return 0;
}

/* Folds runs of whitespace in t to one space, trims it. 0, or -1 when nothing is left. */
static int fold_space(char *t)
{
    char *w = t;
    int space = 1;
    for (const char *r = t; *r; r++) {
        int s = *r == ' ' || *r == '\t' || *r == '\r' || *r == '\n';
        if (s && space)
            continue;
        *w++ = s ? ' ' : *r;
        space = s;
    }
    while (w > t && w[-1] == ' ')
        w--;
    *w = '\0';
    return t[0] ? 0 : -1;
}

/* Renders the message's text. A malloc'd string (whitespace folded), or NULL with err. */
static char *render_text(const char *dir, const dn_render_source_t *given, const dn_reminder_due_t *rd,
                         dn_render_source_t *src, char *err, size_t errsz)
{
    char *t = dn_render_text(dir, "voice", "txt", given, rd, NULL, NULL, MAX_TEMPLATE_BYTES, src, err, errsz);
    if (!t)
        return NULL;
    if (fold_space(t) < 0) {
        snprintf(err, errsz, "%s.txt: the text is empty", src->name);
        free(t);
        return NULL;
    }
    return t;
}

#define VOICEMAIL_KEY "voicemail"

/* Whether src is a voicemail template (<folder>/voicemail.voice.<locale>). */
static int is_voicemail(const dn_render_source_t *src)
{
    const char *slash = strrchr(src->name, '/');
    return slash && !strncmp(slash + 1, VOICEMAIL_KEY ".voice.", sizeof(VOICEMAIL_KEY ".voice.") - 1);
}

/* Renders the voicemail a machine gets: the tenant's voicemail.voice.<locale>.txt with a
 * context of only tenant, customer.name and locale. Whoever hears a machine's recording may
 * not be the customer, so the template cannot name an amount, an invoice or the debt: such
 * a name is an error ("... is not defined"). */
static char *render_voicemail(const char *dir, const dn_render_source_t *given, const dn_reminder_due_t *rd,
                              dn_render_source_t *src, char *err, size_t errsz)
{
    if (given) {
        *src = *given;
    } else {
        dn_reminder_due_t vm = *rd;
        vm.template_key = VOICEMAIL_KEY;
        if (dn_render_find(dir, &vm, "voice", "txt", src, err, errsz) < 0)
            return NULL;
    }
    json_t *ctx = json_pack("{s:s, s:{s:s?}, s:s}", "tenant", rd->tenant_id, "customer", "name", rd->contact.name,
                            "locale", src->locale);
    if (!ctx) {
        snprintf(err, errsz, "%s.txt: out of memory", src->name);
        return NULL;
    }
    char *t = dn_render_file(dir, src, "txt", ctx, DN_TEMPLATE_TEXT, MAX_TEMPLATE_BYTES, err, errsz);
    json_decref(ctx);
    if (t && fold_space(t) < 0) {
        snprintf(err, errsz, "%s.txt: the text is empty", src->name);
        free(t);
        return NULL;
    }
    return t;
}

static int voice_prepare(void *ctx, dn_sender_job_t *job, dn_outcome_t *outcome, char *why, size_t n)
{
    voice_t *v = ctx;
    voice_job_t *j = job->state;
    const dn_reminder_due_t *rd = job->rd;
    *outcome = DN_OUTCOME_FAILED_PERMANENT;
    const char *bad =
        dn_phone_problem(rd->contact.phone, "phone number is not in E.164 format (+, a digit 1-9, 7 to 15 digits)");
    if (bad) {
        snprintf(why, n, "%s", bad);
        return 1;
    }
    char err[1024];
    if (!(j->text = render_text(v->template_dir, NULL, rd, &j->src, err, sizeof(err)))) {
        snprintf(why, n, "template error: %s", err);
        dn_sender_log_template_failed(rd, err);
        return 1;
    }
    dn_tts_t tts = {.cache_dir = v->cache_dir};
    if (dn_tts_render(&tts, j->text, j->src.locale, &j->pcm, err, sizeof(err)) < 0) {
        snprintf(why, n, "speech synthesis failed: %s", err);
        return 1;
    }
    if (!v->cfg->amd)
        return 0;
    if (!(j->vm_text = render_voicemail(v->template_dir, NULL, rd, &j->vm_src, err, sizeof(err)))) {
        snprintf(why, n, "voicemail template error: %s", err);
        dn_log_error("voicemail template failed", "event_id", rd->event_id, "tenant_id", rd->tenant_id, "case_id",
                     rd->case_id, "detail", err, "hint",
                     "add voicemail.voice.<locale>.txt, or set DUNNING_VOICE_AMD=off; check with: sender-voice "
                     "--check-templates",
                     NULL);
        return 1;
    }
    if (dn_tts_render(&tts, j->vm_text, j->vm_src.locale, &j->vm_pcm, err, sizeof(err)) < 0) {
        snprintf(why, n, "speech synthesis failed (voicemail): %s", err);
        return 1;
    }
    return 0;
}

static int voice_defer(void *ctx, dn_sender_job_t *job, int64_t *until, char *why, size_t n)
{
    voice_t *v = ctx;
    return rules_defer(v->rules, job->rd, dn_clock_now_ms(), until, why, n);
}

static dn_send_rc_t voice_send(void *ctx, dn_sender_job_t *job, char *why, size_t n)
{
    voice_t *v = ctx;
    voice_job_t *j = job->state;
    const dn_reminder_due_t *rd = job->rd;
    char path[1200], err[512];
    /* The limits, just before the dial: a refused call is a permanent failure of this
     * reminder on voice (the engine sends it on the next channel). */
    int refused = rules_check(v->rules, rd, dn_clock_now_ms(), why, n);
    if (refused)
        return refused > 0 ? DN_SEND_PERMANENT : DN_SEND_TRANSIENT;
    int64_t ledger = rules_dial_begin(v->rules, rd, dn_clock_now_ms(), why, n);
    if (ledger < 0)
        return DN_SEND_TRANSIENT;
    snprintf(path, sizeof(path), "%s/%s.wav", audio_dir(v), rd->event_id);
    if (dn_wav_write(path, &j->pcm, err, sizeof(err)) < 0)
        dn_log_warn("message audio not written", "event_id", rd->event_id, "detail", err, NULL);
    snprintf(path, sizeof(path), "%s/%s.voicemail.wav", audio_dir(v), rd->event_id);
    if (v->cfg->amd && dn_wav_write(path, &j->vm_pcm, err, sizeof(err)) < 0)
        dn_log_warn("voicemail audio not written", "event_id", rd->event_id, "detail", err, NULL);
    call_params_t p = {.proxy = v->cfg->proxy,
                       .number = rd->contact.phone,
                       .caller = v->cfg->caller,
                       .user = v->cfg->user,
                       .password = v->cfg->password,
                       .ring_timeout_ms = v->cfg->ring_timeout_ms,
                       .key_timeout_ms = v->cfg->key_timeout_ms,
                       .message = &j->pcm,
                       .voicemail = v->cfg->amd ? &j->vm_pcm : NULL};
    call_report_t *r = &j->report;
    if (call_run(&p, r) < 0) {
        dn_sender_reached(0);
        r->result = DN_CALL_OUTCOME_TRUNK_ERROR;
        rules_dial_end(v->rules, ledger, r);
        snprintf(why, n, "%s", r->reason);
        return DN_SEND_TRANSIENT;
    }
    rules_dial_end(v->rules, ledger, r);
    j->called = 1;
    v->calls_all += 1;
    v->calls_answered += r->result == DN_CALL_OUTCOME_ANSWERED || r->result == DN_CALL_OUTCOME_NO_RESPONSE;
    dn_metrics_add(v->m_calls, DN_LABELS(dn_call_outcome_str(r->result)), 1);
    if (r->result == DN_CALL_OUTCOME_ANSWERED && r->digit[0])
        dn_metrics_add(v->m_keys, DN_LABELS(r->digit), 1);
    if (r->duration_ms > 0)
        dn_metrics_add(v->m_seconds, NULL, (double)r->duration_ms / 1000.0);
    dn_metrics_set(v->m_answer, NULL, v->calls_answered / v->calls_all);
    dn_sender_reached(r->reached);
    j->call.result = r->result;
    j->call.digit = r->digit[0] ? r->digit : NULL;
    j->call.duration_ms = r->duration_ms;
    j->call.ring_ms = r->ring_ms;
    switch (r->result) {
    case DN_CALL_OUTCOME_ANSWERED:
        snprintf(why, n, "answered, key %s", r->digit);
        return DN_SEND_OK;
    case DN_CALL_OUTCOME_NO_RESPONSE:
    case DN_CALL_OUTCOME_ANSWERING_MACHINE:
        snprintf(why, n, "%s", r->reason[0] ? r->reason : "answered, no key");
        return DN_SEND_OK;
    case DN_CALL_OUTCOME_INVALID_NUMBER:
        snprintf(why, n, "invalid number: %s", r->reason);
        return DN_SEND_PERMANENT;
    case DN_CALL_OUTCOME_BUSY:
    case DN_CALL_OUTCOME_NO_ANSWER:
    case DN_CALL_OUTCOME_REJECTED:
        /* Not reached: done here; the engine calls again (voice.retries) or falls back. */
        snprintf(why, n, "%s", r->reason);
        return DN_SEND_UNREACHED;
    default:
        snprintf(why, n, "%s", r->reason);
        return DN_SEND_TRANSIENT;
    }
}

static const dn_call_result_t *voice_call(void *ctx, const dn_sender_job_t *job, dn_outcome_t outcome)
{
    (void)ctx;
    (void)outcome;
    const voice_job_t *j = job->state;
    return j->called ? &j->call : NULL;
}

static size_t voice_log_fields(void *ctx, dn_sender_job_t *job, dn_sender_field_t *f, size_t max)
{
    (void)ctx;
    if (max < 8)
        return 0;
    voice_job_t *j = job->state;
    snprintf(j->audio_s, sizeof(j->audio_s), "%.2f", dn_pcm_seconds(&j->pcm));
    snprintf(j->plays, sizeof(j->plays), "%d", j->report.plays);
    snprintf(j->greeting_ms, sizeof(j->greeting_ms), "%d", j->report.greeting_ms);
    int amd = j->called && j->report.amd != DN_AMD_UNKNOWN;
    f[0] = (dn_sender_field_t){"template", j->text ? j->src.name : NULL};
    f[1] = (dn_sender_field_t){"audio_s", j->pcm.samples ? j->audio_s : NULL};
    f[2] = (dn_sender_field_t){"call_result", j->called ? dn_call_outcome_str(j->report.result) : NULL};
    f[3] = (dn_sender_field_t){"digit", j->called && j->report.digit[0] ? j->report.digit : NULL};
    f[4] = (dn_sender_field_t){"plays", j->called ? j->plays : NULL};
    f[5] = (dn_sender_field_t){"amd", amd ? dn_amd_result_name(j->report.amd) : NULL};
    f[6] = (dn_sender_field_t){"greeting_ms", amd ? j->greeting_ms : NULL};
    f[7] = (dn_sender_field_t){"amd_reason", amd ? j->report.amd_reason : NULL};
    return 8;
}

static int check_one(void *arg, const char *dir, const dn_render_source_t *src, const dn_reminder_due_t *sample,
                     int full, FILE *out)
{
    (void)arg;
    dn_render_source_t used;
    char err[1200];
    char *t = is_voicemail(src) ? render_voicemail(dir, src, sample, &used, err, sizeof(err))
                                : render_text(dir, src, sample, &used, err, sizeof(err));
    if (!t) {
        fprintf(out, "%s (%s sample)\n", err, full ? "full" : "minimal");
        return 1;
    }
    free(t);
    return 0;
}

static int voice_check_templates(void *ctx, const char *dir, FILE *out, int strict)
{
    (void)strict;
    return dn_render_check(dir, DN_CHANNEL_VOICE, "txt", "voice template", check_one, ctx, out);
}

static void voice_free_job(void *ctx, dn_sender_job_t *job)
{
    (void)ctx;
    voice_job_t *j = job->state;
    free(j->text);
    j->text = NULL;
    dn_pcm_free(&j->pcm);
    free(j->vm_text);
    j->vm_text = NULL;
    dn_pcm_free(&j->vm_pcm);
}

const dn_sender_driver_t voice_driver = {
    .channel = DN_CHANNEL_VOICE,
    DN_SENDER_CONFIG(voice_config, voice_cfg_t, voice_t),
    .process = {.setup = voice_setup,
                .start = voice_start,
                .ready = voice_ready,
                .tick = voice_tick,
                .destroy = voice_destroy},
    .steps = {.prepare = voice_prepare, .defer = voice_defer, .send = voice_send},
    .job = {.size = sizeof(voice_job_t), .log_fields = voice_log_fields, .call = voice_call, .free = voice_free_job},
    .check_templates = voice_check_templates,
};
