#include "dn_relay.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dn_case_events.h"
#include "dn_outbox.h"
#include "dn_pg.h"

struct dn_relay {
    dn_pg_t *pg;
    dn_kafka_producer_t *producer;
    size_t batch;
    int idle_ms;
    int case_events;
    dn_metric_t *published;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int kicked, stopping; /* under lock */
    atomic_int ok;
};

/* Relays until a round publishes less than a full batch. -1 if a round failed. */
static int drain(dn_relay_t *r)
{
    for (;;) {
        int n = dn_outbox_relay(r->pg, r->producer, r->batch, 10000);
        int m = n >= 0 && r->case_events ? dn_case_events_relay(r->pg, r->producer, r->batch, 10000) : 0;
        atomic_store(&r->ok, n >= 0 && m >= 0);
        if (n > 0 && r->published)
            dn_metrics_add(r->published, NULL, n);
        if (m > 0 && r->published)
            dn_metrics_add(r->published, NULL, m);
        if (n < 0 || m < 0)
            return -1;
        if ((size_t)n < r->batch && (size_t)m < r->batch)
            return 0;
    }
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *run(void *arg)
{
    dn_relay_t *r = arg;
    int backoff = 0;
    for (;;) {
        pthread_mutex_lock(&r->lock);
        /* After a failure, wait before trying again even if kicked (the database or the
         * broker is down: do not spin). */
        int wait_ms = backoff ? backoff : r->idle_ms;
        struct timespec until;
        deadline_in(&until, wait_ms);
        while (!r->stopping && (!r->kicked || backoff))
            if (pthread_cond_timedwait(&r->wake, &r->lock, &until) == ETIMEDOUT)
                break;
        int stopping = r->stopping;
        r->kicked = 0;
        pthread_mutex_unlock(&r->lock);
        int rc = drain(r);
        dn_kafka_producer_poll(r->producer);
        if (stopping)
            return NULL;
        backoff = rc < 0 ? (backoff ? (backoff * 2 > 5000 ? 5000 : backoff * 2) : 100) : 0;
    }
}

dn_relay_t *dn_relay_start(const char *dsn, dn_kafka_producer_t *producer, size_t batch, int idle_ms, int case_events,
                           dn_metric_t *published, char *errstr, size_t errstr_size)
{
    dn_relay_t *r = calloc(1, sizeof(*r));
    if (!r) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    r->producer = producer;
    r->batch = batch ? batch : 1000;
    r->idle_ms = idle_ms > 0 ? idle_ms : 100;
    r->published = published;
    r->case_events = case_events;
    atomic_init(&r->ok, 1);
    if (!(r->pg = dn_pg_new(dsn, errstr, errstr_size))) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    if (pthread_create(&r->thread, NULL, run, r) != 0) {
        snprintf(errstr, errstr_size, "cannot start the relay thread");
        pthread_cond_destroy(&r->wake);
        pthread_mutex_destroy(&r->lock);
        dn_pg_destroy(r->pg);
        free(r);
        return NULL;
    }
    return r;
}

void dn_relay_kick(dn_relay_t *r)
{
    pthread_mutex_lock(&r->lock);
    r->kicked = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

int dn_relay_ok(const dn_relay_t *r)
{
    return atomic_load(&r->ok);
}

void dn_relay_stop(dn_relay_t *r)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    r->stopping = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    dn_pg_destroy(r->pg);
    free(r);
}
