/* dn_sender internals, shared by the core's three files (no driver includes this):
 *   dn_sender_ops.c    the steps of one record: dead letters, claim, last-mile check,
 *                      outcomes, logging, send with its metrics, retry and pause timing;
 *   dn_sender_batch.c  the batched path: those steps for a whole poll batch at once;
 *   dn_sender.c        configuration, the per-record path, the loop, main.
 * Calls go one way: dn_sender.c -> dn_sender_batch.c -> dn_sender_ops.c. */
#ifndef DN_SENDER_INT_H
#define DN_SENDER_INT_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>

#include "dn_config.h"
#include "dn_kafka.h"
#include "dn_log.h"
#include "dn_metrics.h"
#include "dn_pg.h"
#include "dn_sender.h"
#include "dn_uuid.h"

typedef struct sender_cfg {
    dn_common_cfg_t common;
    char *group;
    int64_t retries;
    int64_t backoff_ms;
    int64_t pause_max_ms;
    char *template_dir;
    char *http_addr;
    char *http_addr_file;
    int64_t metrics_ms;
    char *portal_url;
    char *portal_keys;
    int64_t portal_lifetime_ms;
} sender_cfg_t;

/* What handling a record tells the loop. */
enum {
    R_DONE = 0, /* finished (or dead-lettered): its offset may be committed */
    R_RETRY,    /* database trouble: nothing final happened, try the same record again */
    R_DOWN,     /* failed_transient recorded: pause, then try the same record again */
    R_DEFER,    /* deferred (quiet hours): failed_transient recorded; hold until hold_until */
};

/* One record in hand. */
typedef struct job {
    const rd_kafka_message_t *m;
    dn_reminder_due_t rd;
    int decoded;
    int prepared; /* the driver's prepare ran: free_job is owed */
    char key[512];
    int has_pre; /* decided without the provider */
    dn_outcome_t pre;
    char pre_reason[512];
    dn_sender_job_t pub; /* what the driver sees; pub.state is the driver's */
    int unreached;       /* DN_SEND_UNREACHED: failed_transient, recorded as 'unreached' (final) */
} job_t;

/* A dead letter ready for the outbox. */
typedef struct dead {
    char event_id[DN_UUID_STR_LEN]; /* derived from topic/partition/offset */
    char *key;                      /* malloc'd, or NULL for a record without a key */
    char *value;                    /* malloc'd encoded DeadLetter */
    size_t value_len;
    const char *code;
    char reason[600];
} dead_t;

typedef struct sender_metrics {
    dn_metric_t *consumed, *dead_letters, *deliveries, *send_seconds, *deferrals, *batch_seconds, *batch_size, *relayed,
        *outbox_pending;
} sender_metrics_t;

typedef struct sender {
    const dn_sender_driver_t *drv;
    const dn_sender_names_t *nm; /* dn_sender_names[drv->channel] */
    void *ctx;                   /* the driver's */
    sender_cfg_t cfg;
    void *dcfg; /* the driver's configuration struct (drv->cfg_size bytes) */
    dn_cfg_entry_t table[32];
    size_t ntable;
    char env_names[4][80]; /* DUNNING_<PREFIX>_RETRIES, _BACKOFF, _PAUSE_MAX, _GROUP */
    char service[64];      /* sender-<channel> */
    char helps[3][300];    /* the group's, the retries' and the pause's help */
    char template_dir[4096];
    char unavailable[64]; /* "<provider>_unavailable" */
    const char *topic;
    int topic_id;
    dn_pg_t *pg;
    dn_kafka_consumer_t *consumer;
    dn_kafka_producer_t *producer;
    int64_t pause_ms;   /* real ms to wait before the next round on the held record */
    int64_t hold_until; /* dunning-clock ms: the end of the deferral of the held record */
    unsigned int jitter;
    const char *result;          /* metrics: how the record in hand ended (ok, duplicate, dead_letter) */
    char tried[DN_UUID_STR_LEN]; /* event id whose first try the batched path made, failing transiently */
    char tried_reason[512];
    atomic_int pg_ok, provider_ok;
    sender_metrics_t M;
} sender_t;

extern const char *const dn_sender_status_names[4];
/* The deliveries status of an outcome: its name, or 'unreached' (final, see DN_SEND_UNREACHED). */
const char *sender_status(const job_t *j, dn_outcome_t outcome);
/* The statuses after which a reminder is not sent again (SQL list). */
#define SENDER_FINAL_STATUSES "'delivered', 'suppressed', 'failed_permanent', 'unreached'"

/* ---- dn_sender_ops.c ---- */
double sender_mono_s(void);
void sender_copy(char *dst, size_t size, const char *src);
void sender_sleep_ms(int64_t ms);
int sender_pg_unreachable(const dn_pg_t *pg);
void sender_register_metrics(sender_t *s);

int sender_dead_build(sender_t *s, const job_t *j, const char *code, const char *reason, int32_t schema_id, dead_t *d);
void sender_dead_done(sender_t *s, const job_t *j, const dead_t *d);
void sender_dead_free(dead_t *d);
int sender_dead_letter(sender_t *s, job_t *j, const char *code, const char *reason, int32_t schema_id);
int sender_db_trouble(sender_t *s, job_t *j, const char *what);

/* Decodes and checks m into j (j->m set): NULL, or the dead letter's code with reason and
 * schema_id set. */
const char *sender_check(sender_t *s, job_t *j, const rd_kafka_message_t *m, char *reason, size_t reason_size,
                         int32_t *schema_id);
/* The opt-out and the driver's prepare. */
void sender_prepare(sender_t *s, job_t *j);
void sender_job_free(sender_t *s, job_t *j);

int sender_lock(sender_t *s, const char *event_id, int lock);
int sender_claim(sender_t *s, job_t *j, char *prev, size_t prev_size);
/* Keeps what the claimed jobs send (the driver's kept callback) in sent_messages, one
 * statement for all of them; a job already kept keeps its first text. 0/-1. */
int sender_keep_sent(sender_t *s, job_t *const *jobs, size_t n);
const char *sender_claim_id(sender_t *s, const job_t *j);
int sender_may_send(const job_t *j, const char *state, int case_stage, const char *opted_out, char *reason,
                    size_t reason_size);
/* For a notice about a customer (dn_notice.h) it reads the notices row instead of a case and
 * may bring the notice's items up to date, rendering j again. */
int sender_last_mile(sender_t *s, job_t *j, char *reason, size_t reason_size);

int sender_outcome_build(sender_t *s, job_t *j, dn_outcome_t outcome, const char *reason, int attempt,
                         int64_t next_attempt_at, int64_t now, char event_id[DN_UUID_STR_LEN], char **buf, size_t *len,
                         const char **provider_id);
int sender_finish(sender_t *s, job_t *j, dn_outcome_t outcome, const char *reason, int attempt,
                  int64_t next_attempt_at);
void sender_outcome_done(sender_t *s, job_t *j, dn_outcome_t outcome, const char *reason, int attempt);
void sender_log_event(sender_t *s, dn_log_level_t level, const char *msg, job_t *j, int attempt, const char *reason);

dn_send_rc_t sender_send(sender_t *s, job_t *j, char *reason, size_t reason_size);
int sender_defer(sender_t *s, job_t *j, int64_t *until, char *reason, size_t reason_size);
int64_t sender_retry_delay(sender_t *s, int try);
int64_t sender_pause(sender_t *s);
void sender_log_retry(sender_t *s, job_t *j, const char *reason, int64_t delay);

/* ---- dn_sender_batch.c ---- */
/* Handles msgs[0..n) on the batched path. Returns how many records from the start are
 * done (effects committed); *rc says what holds the next one: R_DONE (nothing: the
 * per-record path goes on with it) or R_DOWN (failed_transient recorded: pause first). */
size_t sender_batch(sender_t *s, rd_kafka_message_t **msgs, size_t n, int *rc);

#endif
