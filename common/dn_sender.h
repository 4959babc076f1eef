/* dn_sender: the sender core. One program for every channel; a channel is a driver.
 *
 * The core owns, once for all channels: configuration (the sender group of DUNNING_*
 * variables below plus the driver's own rows), the operations endpoint (/healthz, /readyz,
 * /metrics), consuming reminder-due.<channel>, dead letters, the idempotent claim in table
 * deliveries, the last-mile check, the batched path (a poll batch in a few multi-row
 * statements), retries with backoff and the pause while the provider is down, deferrals
 * (quiet or calling hours), outcomes and their relay through the outbox, offsets committed
 * only after the effects, and graceful shutdown. docs/senders.md describes it; its section
 * "Writing a channel driver" walks through a skeleton.
 *
 * A driver holds only its transport and its rendering: a dn_sender_driver_t of callbacks,
 * in the manner of Fluent Bit's output plugins and Kannel's SMSC drivers, and a main:
 *
 *   int main(int argc, char **argv) { return dn_sender_main(&email_driver, argc, argv); }
 *
 * The driver's texts (log messages, metric names) keep each channel's established names.
 *
 * Every callback runs on the loop's thread, except `ready` (the HTTP thread: read atomics).
 * A record goes through: validate (can it be sent on this channel at all? a dead letter if
 * not) -> prepare (render, or decide an outcome that needs no provider) -> claim ->
 * last-mile check -> defer (not now: hold until a time) -> send -> outcome. */
#ifndef DN_SENDER_H
#define DN_SENDER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dn_config.h"
#include "dn_schemas_gen.h"

typedef enum {
    DN_SEND_OK = 0,    /* delivered (the provider accepted it) */
    DN_SEND_TRANSIENT, /* try again: retried with backoff, then failed_transient and a pause */
    DN_SEND_PERMANENT, /* never: failed_permanent, the engine falls back to the next channel */
    DN_SEND_UNREACHED, /* the provider took it, the person was not reached (a call busy, not answered,
                        * declined): failed_transient at once, no retry in process, no pause; the
                        * reminder is done here (deliveries 'unreached') and the engine decides
                        * whether to try again (voice.retries) or to fall back */
} dn_send_rc_t;

/* One reminder in hand, as a driver sees it. */
typedef struct dn_sender_job {
    const dn_reminder_due_t *rd; /* decoded and validated; borrowed for the job's life */
    void *state;                 /* the driver's job_size bytes, zeroed; see free_job */
    int attempt;                 /* the claimed attempt (1 = first), 0 before the claim */
    int recovering;              /* an earlier attempt may have reached the provider (it did not
                                  * finish, or this is a retry): sending again must be harmless */
} dn_sender_job_t;

/* What the core gives a driver at setup. */
typedef struct dn_sender_env {
    const char *service;      /* "sender-email" */
    const char *template_dir; /* DUNNING_TEMPLATE_DIR, or $DUNNING_HOME/config/templates */
    const char *home;         /* DUNNING_HOME */
    const char *pg_dsn;       /* DUNNING_PG_DSN, for a driver's own records (sender-voice's calls) */
} dn_sender_env_t;

/* An extra log field, for log_fields. */
typedef struct dn_sender_field {
    const char *key, *value; /* value NULL: left out */
} dn_sender_field_t;

/* What a channel is called: its provider, the names of its settings, metrics and log lines.
 * One row per channel in dn_sender_names.c (indexed by dn_channel_t), next to each other so
 * that a new channel's names follow the others'. */
typedef struct dn_sender_names {
    const char *provider;        /* "smtp": the /readyz check, the consumed result "<provider>_unavailable",
                                  * the log line "<provider> failing, consumption paused" */
    const char *msg_unreachable; /* /readyz while the last send did not reach the provider */
    /* The core's sender group of settings, named for the channel. */
    const char *group_env;    /* NULL: DUNNING_<CHANNEL>_GROUP */
    const char *retry_prefix; /* NULL: the channel; DUNNING_<P>_RETRIES, _BACKOFF, _PAUSE_MAX */
    const char *failure;      /* "a transient SMTP failure (4xx, no connection)": the retries' help */
    const char *failing;      /* "the SMTP server": "while <failing> keeps failing", the pause's help */
    const char *http_default; /* "127.0.0.1:9465" */
    /* Metrics and log lines. */
    const char *send_metric, *send_help; /* histogram of send durations by result; NULL: none */
    const char *send_results[4];         /* its labels for OK, TRANSIENT, PERMANENT, UNREACHED */
    const char *msg_outcome[4];          /* log message per outcome (dn_outcome_t) */
    const char *msg_retry;               /* "smtp transient failure, retrying" */
    const char *msg_resend;              /* "previous attempt did not finish; sending again ..." */
    /* Deferrals (with steps.defer): consumed result, counter and the log line of the hold. */
    const char *defer_result, *defer_metric, *defer_help, *msg_defer, *defer_hint;
} dn_sender_names_t;

extern const dn_sender_names_t dn_sender_names[];

/* The process: set-up, start, readiness and the end. */
typedef struct dn_sender_process {
    /* Checks the driver's configuration and makes its transport handle; ctx is the driver's
     * ctx_size bytes. -1 with err: the sender exits 2 ("invalid configuration"). Runs before
     * the template check; destroy runs even when it fails. */
    int (*setup)(void *ctx, const void *cfg, const dn_sender_env_t *env, char *err, size_t errsz);
    /* After the templates passed, before consuming: probes, folders, the channel's own
     * metrics, environment defaults. 0; 2 with err: invalid configuration (exit 2); 1 with
     * err: cannot start (exit 1). */
    int (*start)(void *ctx, char *err, size_t errsz);
    /* /readyz beyond reachability (dn_sender_reached): 1 ready, 0 with why. Runs on the
     * HTTP thread. */
    int (*ready)(void *ctx, char *why, size_t n);
    /* On the loop thread, every DUNNING_METRICS_INTERVAL and while a record is held: the
     * driver's periodic work (sender-voice's OPTIONS ping of the trunk). */
    void (*tick)(void *ctx);
    void (*destroy)(void *ctx); /* frees what the context holds */
} dn_sender_process_t;

/* The steps of one reminder. */
typedef struct dn_sender_steps {
    /* Can rd be sent on this channel at all (beyond the core's checks of channel, ids and
     * key)? 0, or -1 with why: the record is dead-lettered (invalid_field). */
    int (*validate)(void *ctx, const dn_reminder_due_t *rd, char *why, size_t n);
    /* Renders what is cheap to render before the claim, or decides: 0 = to be sent; 1 =
     * decided without the provider (*outcome and why set: no address, template error). The
     * core has already suppressed an opted-out contact. */
    int (*prepare)(void *ctx, dn_sender_job_t *job, dn_outcome_t *outcome, char *why, size_t n);
    /* Not now? 1 with *until_ms (dunning clock) and why: failed_transient is recorded with
     * next_attempt_at = until and consumption holds until then. 0: send now. */
    int (*defer)(void *ctx, dn_sender_job_t *job, int64_t *until_ms, char *why, size_t n);
    /* The transport. why: the provider's reason on failure. */
    dn_send_rc_t (*send)(void *ctx, dn_sender_job_t *job, char *why, size_t n);
} dn_sender_steps_t;

/* A job's state and what the core asks of it. */
typedef struct dn_sender_jobs {
    size_t size; /* bytes of per-job state the core allocates (zeroed) and frees */
    /* The provider's id of the message (deliveries.provider_message_id, the outcome's):
     * claim = 1 when the claim is written, else for the outcome. Never called for a job
     * prepare decided. NULL: none. */
    const char *(*provider_id)(void *ctx, const dn_sender_job_t *job, int claim, dn_outcome_t outcome);
    /* Channel fields for the job's log lines, after the core's (never contact data).
     * Returns how many of max it filled; the strings live in the job's state. */
    size_t (*log_fields)(void *ctx, dn_sender_job_t *job, dn_sender_field_t *f, size_t max);
    /* The call record of the outcome (channel voice: how the call ended, the key pressed,
     * its length), living in the job's state; NULL: none. Never called for a job prepare
     * decided. */
    const dn_call_result_t *(*call)(void *ctx, const dn_sender_job_t *job, dn_outcome_t outcome);
    /* What the customer is sent, kept for the credit manager's case view (table
     * sent_messages, written with the claim, before the send): the subject (NULL: none),
     * the text and the template file it came from, living in the job's state. 0 = nothing
     * to keep (the letter and the call keep their own files). NULL: none. */
    int (*kept)(void *ctx, const dn_sender_job_t *job, const char **subject, const char **body, const char **source);
    /* After an outcome committed (a counter of the channel's own). */
    void (*recorded)(void *ctx, const dn_sender_job_t *job, dn_outcome_t outcome);
    void (*free)(void *ctx, dn_sender_job_t *job); /* frees what the job's state holds */
} dn_sender_jobs_t;

/* A channel driver. NULL callbacks: the channel has no such step. */
typedef struct dn_sender_driver {
    dn_channel_t channel; /* its names: dn_sender_names[channel] */
    /* The driver's own settings, loaded into a struct of cfg_size bytes handed to setup, and
     * the size of its context. DN_SENDER_CONFIG(table, cfg_type, ctx_type) sets all four. */
    const dn_cfg_entry_t *config;
    size_t nconfig, cfg_size, ctx_size;
    dn_sender_process_t process;
    dn_sender_steps_t steps;
    dn_sender_jobs_t job;
    /* Renders every template of the channel against the samples (dn_render_check); strict
     * (--check-templates) also reports what only real data might still fit. Problems. */
    int (*check_templates)(void *ctx, const char *dir, FILE *out, int strict);
} dn_sender_driver_t;

#define DN_SENDER_CONFIG(table, cfg_type, ctx_type)                                                                    \
    .config = table, .nconfig = sizeof(table) / sizeof(table[0]), .cfg_size = sizeof(cfg_type),                        \
    .ctx_size = sizeof(ctx_type)

/* Whether the provider answered the last request (or the start-up probe): /readyz fails
 * with msg_unreachable while it did not. Any thread. */
void dn_sender_reached(int reached);

/* Logs, at error level, that rd's template failed to render (detail: the renderer's
 * message), with the hint to run `sender-<channel> --check-templates`. The driver still
 * gives the outcome its reason ("template error: ..."). */
void dn_sender_log_template_failed(const dn_reminder_due_t *rd, const char *detail);

/* The sender's main: --config-doc, --check-templates, or the service. Exit status. */
int dn_sender_main(const dn_sender_driver_t *drv, int argc, char **argv);

#endif
