/* dunning-engine internals: one loop, one thread (see main.c; docs/architecture.md has the
 * engine's source map). */
#ifndef DN_ENGINE_H
#define DN_ENGINE_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "dn_config.h"
#include "dn_kafka.h"
#include "dn_pg.h"
#include "dn_timers.h"
#include "dn_uuid.h"
#include "batch.h"
#include "dn_policy.h"

typedef struct engine_cfg {
    dn_common_cfg_t common;
    char *group;
    char *policy_file;
    char *timer_key;
    int64_t timer_buckets;
    int64_t timer_lease_ms; /* real time */
    int64_t reconcile_ms;   /* how often to check that Redis still has the index */
    char *http_addr;        /* /healthz, /readyz, /metrics ("" = off) */
    char *http_addr_file;
    int64_t metrics_ms; /* how often the loop refreshes the gauges read from Redis and PostgreSQL */
} engine_cfg_t;

/* Counters that move only when the transaction in hand commits (effects.h). */
typedef enum {
    EM_CONSUMED,
    EM_DEAD_LETTER,
    EM_REMINDER,
    EM_RETRY_REQUEST,
    EM_OUTCOME,         /* a ReminderOutcome applied to its case (channel, outcome) */
    EM_OUTCOME_UNKNOWN, /* a ReminderOutcome for a case the engine does not have (channel, outcome) */
} engine_metric_t;

typedef struct engine_note {
    engine_metric_t metric;
    char l1[128], l2[128]; /* label values */
} engine_note_t;

/* A Redis change to make once the transaction that caused it has committed. */
typedef struct timer_op {
    char member[DN_UUID_STR_LEN];
    int64_t due_ms; /* -1 = remove */
} timer_op_t;

typedef struct engine {
    engine_cfg_t cfg;
    policy_set_t *policies;
    struct dn_risk_model *risk_model; /* the points table (risk.c) */
    struct risk_fitted *risk_fitted;  /* the tenants' active fitted models (risk.c) */
    size_t nrisk_fitted;
    dn_pg_t *pg;
    dn_timers_t *timers;
    dn_kafka_consumer_t *consumer;
    dn_kafka_producer_t *producer; /* the relay thread's (dn_relay) */
    struct dn_relay *relay;
    timer_op_t *ops;
    size_t nops, ops_cap;
    int redis_stale;          /* re-add every timer from PostgreSQL at the next reconcile pass */
    const char *stale_reason; /* why, for the log */
    /* Why the record in hand is rejected (dead-lettered), set by the handlers. */
    const char *reject_code;
    char reject_reason[512];
    /* Metrics of the transaction in hand: applied after COMMIT, dropped on rollback (effects.h). */
    engine_note_t *notes;
    size_t nnotes, notes_cap, notes_mark; /* mark: where the item in hand (its savepoint) began */
    int item_duplicate;                   /* the record in hand was seen before: changes nothing */
    int item_dead_lettered;
    /* Answers fetched once for the batch in hand (fast path only, see prefetch.h:
     * handle_prefetch, fire_prefetch); forgotten by batch_reset after every attempt. */
    batch_map_t *batch;
    int prefetched;
    /* The batch's answers could not be kept (out of memory): the attempt must be rolled
     * back and done record by record, never continued with the database's answers (the
     * batch's event ids are already in processed_events). */
    int batch_failed;
    int buffering;          /* the fast path: rows are buffered and written per table (writes.h) */
    PGresult *batch_cases;  /* the cases the batch names, locked, with their invoice's source */
    PGresult *batch_lookup; /* handle_prefetch's answer: the waiting payments of the batch's invoices;
                             * fire_prefetch's: the behaviour of the claimed cases' customers */
    /* Whose behaviour batch_lookup's 'b' rows hold (risk.c): 'i' the customers of the
     * invoices the batch opens (their cases not counted yet), 'f' the claimed cases'
     * customers (their cases counted); 0 none. */
    char behaviour_rows;
} engine_t;

/* Handler results. */
enum { H_OK = 0, H_REJECT = 1, H_DBERR = -1 };

/* main.c */
/* Re-adds every pending timer from PostgreSQL (idempotent). Returns the count or -1. */
long engine_reconcile_timers(engine_t *e);

#endif
