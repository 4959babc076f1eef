/* The sender core's batched path: the steps of the per-record path (dn_sender.c) for a whole
 * poll batch, with a few statements instead of a dozen round trips per record
 * (docs/senders.md, "Batches"):
 *   decode and validate every record, prepare them (the driver renders what it renders
 *   before the claim); one statement takes the advisory locks of the batch (in event id
 *   order, so two instances never deadlock); one autocommitted INSERT .. SELECT FROM unnest
 *   .. ON CONFLICT DO UPDATE claims them all (the claim is on record before any send); one
 *   query does the last-mile check of all (repeated for the records not yet sent whenever
 *   it is older than LAST_MILE_MAX_AGE_MS); the messages go out one after the other; one
 *   autocommitted statement records the outcomes (data-modifying CTEs: UPDATE deliveries ..
 *   FROM unnest, INSERT INTO outbox .. SELECT FROM unnest with the outcomes and dead letters
 *   in record order), after the batch's last message and, while messages go out, every
 *   LAST_MILE_MAX_AGE_MS for those sent so far (so a crash re-sends no more than that); the
 *   locks are released.
 * A database error before the first send hands the whole batch to the per-record path,
 * which pins the error to its record; after some sends, the outcomes of what was sent are
 * recorded first. A transient failure, a deferral (quiet hours) or a shutdown ends the
 * batched part at that record: claims taken for the records after it are given back unsent,
 * and the per-record path takes over there (retries, pause, hold). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dn_clock.h"
#include "dn_notice.h"
#include "dn_outbox.h"
#include "dn_pgarray.h"
#include "dn_sender_int.h"
#include "dn_signal.h"
#include "dn_topics.h"

#define LAST_MILE_MAX_AGE_MS 100
#define status_names         dn_sender_status_names

enum { B_DEAD = 1, B_DUP, B_WORK };

typedef struct bjob {
    job_t j;
    int kind;     /* B_DEAD (dead letter), B_DUP (copy of an earlier record of the batch), B_WORK */
    int has_dead; /* B_DEAD: the dead letter encoded (else nothing is written, as in sender_dead_letter) */
    dead_t dead;
    size_t dup_of; /* B_DUP: the earlier record with the same event id */
    char prev[32]; /* deliveries status before the claim ("" if none) */
    int attempt;   /* B_WORK: the claimed attempt; 0 = already handled (prev) */
    int has_outcome;
    dn_outcome_t outcome;
    char reason[512];
    int64_t next_attempt_at;
    char outcome_id[DN_UUID_STR_LEN];
    char *outcome_value; /* encoded ReminderOutcome */
    size_t outcome_len;
    const char *provider_id;
} bjob_t;

static void arrs_free(dn_pgarray_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dn_pgarray_free(&a[i]);
}

static void time_param(char *buf, size_t size, int64_t ms)
{
    snprintf(buf, size, "%" PRId64, ms);
}

/* Runs sql with the finished arrays as parameters $1..$n (n <= 14; `extra` after them, each
 * if set). Returns the result, or NULL (error kept in s->pg, or out of memory). */
static PGresult *arr_query(sender_t *s, const char *sql, dn_pgarray_t *a, int n, const char *extra, const char *extra2)
{
    const char *params[16];
    for (int i = 0; i < n; i++)
        if (!(params[i] = dn_pgarray_text(&a[i])))
            return NULL;
    if (extra)
        params[n++] = extra;
    if (extra2)
        params[n++] = extra2;
    return dn_pg_query(s->pg, sql, n, params);
}

/* Session advisory locks (lock = 1) or their release (0) for every B_WORK record. 0/-1. */
static int batch_lock(sender_t *s, bjob_t *b, size_t n, int lock)
{
    dn_pgarray_t ids = {0};
    for (size_t i = 0; i < n; i++)
        if (b[i].kind == B_WORK)
            dn_pgarray_add(&ids, b[i].j.rd.event_id);
    PGresult *r = arr_query(s,
                            lock ? "SELECT count(pg_advisory_lock(hashtextextended(id, 727003))) FROM "
                                   "(SELECT DISTINCT id FROM unnest($1::text[]) AS u (id) ORDER BY id) AS ids"
                                 : "SELECT count(pg_advisory_unlock(hashtextextended(id, 727003))) FROM "
                                   "(SELECT DISTINCT id FROM unnest($1::text[]) AS u (id) ORDER BY id) AS ids",
                            &ids, 1, NULL, NULL);
    arrs_free(&ids, 1);
    PQclear(r);
    return r ? 0 : -1;
}

/* Claims every B_WORK record in one autocommitted statement: a row already delivered,
 * suppressed or failed_permanent is left alone (attempt 0); any other is 'attempting' with
 * attempts + 1, committed before anything is sent. 0/-1 (nothing claimed). */
static int batch_claim(sender_t *s, bjob_t *b, size_t n)
{
    dn_pgarray_t a[6];
    memset(a, 0, sizeof(a));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i].kind != B_WORK)
            continue;
        const dn_reminder_due_t *rd = &b[i].j.rd;
        char stage[16];
        snprintf(stage, sizeof(stage), "%d", (int)rd->stage);
        dn_pgarray_add(&a[0], rd->event_id);
        dn_pgarray_add(&a[1], rd->tenant_id);
        dn_pgarray_add(&a[2], rd->invoice_id);
        dn_pgarray_add(&a[3], rd->case_id);
        dn_pgarray_add(&a[4], stage);
        dn_pgarray_add(&a[5], sender_claim_id(s, &b[i].j));
        k++;
    }
    char now[24];
    time_param(now, sizeof(now), dn_clock_now_ms());
    PGresult *r = arr_query(
        s,
        "WITH u AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::int[], $6::text[]) "
        "WITH ORDINALITY AS u (event_id, tenant_id, invoice_id, case_id, stage, message_id, n)), "
        "prev AS (SELECT d.event_id, d.status FROM deliveries d JOIN u USING (event_id)), "
        "claimed AS (INSERT INTO deliveries (event_id, channel, tenant_id, invoice_id, case_id, stage, status, "
        "attempts, provider_message_id, created_at, updated_at) "
        "SELECT event_id, $8, tenant_id, invoice_id, case_id, stage, 'attempting', 1, message_id, "
        "to_timestamp($7::float8 / 1000), to_timestamp($7::float8 / 1000) FROM u ORDER BY n "
        "ON CONFLICT (event_id) DO UPDATE SET status = 'attempting', attempts = deliveries.attempts + 1, "
        "provider_message_id = coalesce(excluded.provider_message_id, deliveries.provider_message_id), "
        "updated_at = excluded.updated_at "
        "WHERE deliveries.status NOT IN (" SENDER_FINAL_STATUSES ") "
        "RETURNING event_id, attempts) "
        "SELECT coalesce(prev.status, ''), coalesce(claimed.attempts, 0) FROM u "
        "LEFT JOIN prev USING (event_id) LEFT JOIN claimed USING (event_id) ORDER BY u.n",
        a, 6, now, dn_channel_str(s->drv->channel));
    arrs_free(a, 6);
    if (!r)
        return -1;
    if ((size_t)PQntuples(r) != k) {
        PQclear(r);
        return -1;
    }
    int row = 0;
    for (size_t i = 0; i < n; i++) {
        bjob_t *x = &b[i];
        if (x->kind != B_WORK)
            continue;
        sender_copy(x->prev, sizeof(x->prev), PQgetvalue(r, row, 0));
        x->attempt = atoi(PQgetvalue(r, row, 1));
        row++;
        x->j.pub.attempt = x->attempt;
        if (x->attempt > 1 && strcmp(x->prev, "attempting") == 0) {
            x->j.pub.recovering = 1;
            sender_log_event(s, DN_LOG_WARN, x->j.has_pre ? "previous attempt did not finish" : s->nm->msg_resend,
                             &x->j, x->attempt, sender_claim_id(s, &x->j));
        }
    }
    PQclear(r);
    return 0;
}

static void set_outcome(bjob_t *x, dn_outcome_t outcome, const char *reason)
{
    x->has_outcome = 1;
    x->outcome = outcome;
    sender_copy(x->reason, sizeof(x->reason), reason ? reason : "");
}

/* The last-mile check of every claimed record from `from` on that has no outcome yet, in
 * one query; a case that no longer dunns, or a channel the customer has opted out of since,
 * gives 'suppressed'. 0/-1. */
static int batch_last_mile(sender_t *s, bjob_t *b, size_t from, size_t n)
{
    dn_pgarray_t ids = {0};
    /* A notice about a customer is checked on its own (sender_last_mile): it is rare, and
     * its check reads the notice and its items, not one case. */
    for (size_t i = from; i < n; i++)
        if (b[i].kind == B_WORK && b[i].attempt > 0 && !b[i].has_outcome && !dn_notice_is_customer_level(&b[i].j.rd))
            dn_pgarray_add(&ids, b[i].j.rd.case_id);
    size_t k = ids.n;
    PGresult *r = arr_query(s,
                            "SELECT c.state, c.stage, cp.opted_out::text FROM unnest($1::uuid[]) WITH ORDINALITY "
                            "AS u (id, n) LEFT JOIN cases c ON c.case_id = u.id LEFT JOIN contact_preferences cp ON "
                            "cp.tenant_id = c.tenant_id AND cp.customer_id = c.customer_id ORDER BY u.n",
                            &ids, 1, NULL, NULL);
    arrs_free(&ids, 1);
    if (!r)
        return -1;
    if ((size_t)PQntuples(r) != k) {
        PQclear(r);
        return -1;
    }
    int row = 0;
    for (size_t i = from; i < n; i++) {
        bjob_t *x = &b[i];
        if (x->kind != B_WORK || x->attempt == 0 || x->has_outcome)
            continue;
        char reason[512];
        if (dn_notice_is_customer_level(&x->j.rd)) {
            int send = sender_last_mile(s, &x->j, reason, sizeof(reason));
            if (send < 0) {
                PQclear(r);
                return -1;
            }
            if (send == 0)
                set_outcome(x, DN_OUTCOME_SUPPRESSED, reason);
            continue;
        }
        int found = !PQgetisnull(r, row, 0);
        if (!sender_may_send(&x->j, found ? PQgetvalue(r, row, 0) : NULL, found ? atoi(PQgetvalue(r, row, 1)) : 0,
                             found && !PQgetisnull(r, row, 2) ? PQgetvalue(r, row, 2) : NULL, reason, sizeof(reason)))
            set_outcome(x, DN_OUTCOME_SUPPRESSED, reason);
        row++;
    }
    PQclear(r);
    return 0;
}

/* One transaction: the final status of every outcome of records [from, end), their
 * ReminderOutcomes and the dead letters in record order, and the claims of the records in
 * [release_from, n) given back (status as before, attempts - 1). 0/-1 (rolled back). */
static int batch_record_once(sender_t *s, bjob_t *b, size_t from, size_t end, size_t release_from, size_t n, int sync)
{
    dn_pgarray_t all[10];
    memset(all, 0, sizeof(all));
    dn_pgarray_t *up = all, *rel = all + 4, *ob = all + 6;
    for (size_t i = from; i < end; i++) {
        bjob_t *x = &b[i];
        if (x->kind == B_DEAD && x->has_dead) {
            dn_pgarray_add(&ob[0], x->dead.event_id);
            dn_pgarray_add(&ob[1], dn_topic_name(DN_TOPIC_DEAD_LETTER));
            dn_pgarray_add(&ob[2], x->dead.key ? x->dead.key : "");
            dn_pgarray_add_bytea(&ob[3], x->dead.value, x->dead.value_len);
        } else if (x->kind == B_WORK && x->has_outcome && x->outcome_value) {
            dn_pgarray_add(&up[0], x->j.rd.event_id);
            dn_pgarray_add(&up[1], sender_status(&x->j, x->outcome));
            dn_pgarray_add(&up[2], x->outcome == DN_OUTCOME_DELIVERED ? NULL : x->reason);
            dn_pgarray_add(&up[3], x->provider_id);
            dn_pgarray_add(&ob[0], x->outcome_id);
            dn_pgarray_add(&ob[1], dn_topic_name(DN_TOPIC_REMINDER_OUTCOMES));
            dn_pgarray_add(&ob[2], x->j.key);
            dn_pgarray_add_bytea(&ob[3], x->outcome_value, x->outcome_len);
        }
    }
    for (size_t i = release_from; i < n; i++)
        if (b[i].kind == B_WORK && b[i].attempt > 0 && !b[i].has_outcome) {
            dn_pgarray_add(&rel[0], b[i].j.rd.event_id);
            dn_pgarray_add(&rel[1], b[i].prev);
        }
    if (!up[0].n && !ob[0].n && !rel[0].n) {
        arrs_free(all, 10);
        return 0; /* nothing to write (a batch of duplicates) */
    }
    /* One autocommitted statement (one round trip, one COMMIT): the status updates, the
     * claims given back and the outbox rows, each a data-modifying CTE over its arrays.
     * Not sync: the COMMIT does not wait for the WAL flush (synchronous_commit off for
     * this transaction); the batch's last, synchronous COMMIT flushes it, before any
     * offset is committed. A database crash in between loses at most outcomes of messages
     * that were sent: those reminders stay 'attempting' (see the crash window). */
    char now[24];
    time_param(now, sizeof(now), dn_clock_now_ms());
    PGresult *r = arr_query(
        s,
        "WITH up AS (UPDATE deliveries AS d SET status = u.status, last_error = u.err, provider_message_id = u.pid, "
        "updated_at = to_timestamp($12::float8 / 1000) "
        "FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS u (id, status, err, pid) "
        "WHERE d.event_id = u.id RETURNING 1), "
        "rel AS (UPDATE deliveries AS d SET status = coalesce(nullif(u.prev, ''), 'attempting'), "
        "attempts = d.attempts - 1 FROM unnest($5::uuid[], $6::text[]) AS u (id, prev) "
        "WHERE d.event_id = u.id AND d.status = 'attempting' RETURNING 1), "
        "ob AS (INSERT INTO outbox (event_id, topic, key, payload) SELECT ev, t, k, p "
        "FROM unnest($7::uuid[], $8::text[], $9::text[], $10::bytea[]) WITH ORDINALITY AS u (ev, t, k, p, n) "
        "ORDER BY n ON CONFLICT (event_id) DO NOTHING RETURNING 1), "
        "cfg AS (SELECT set_config('synchronous_commit', $11::text, true) AS v) "
        "SELECT (SELECT count(*) FROM up), (SELECT count(*) FROM rel), (SELECT count(*) FROM ob), (SELECT v FROM cfg)",
        all, 10, sync ? "on" : "off", now);
    PQclear(r);
    arrs_free(all, 10);
    return r ? 0 : -1;
}

/* The per-record writes of [from, end), for a transaction the database refuses for good:
 * each outcome with sender_finish (retried until it commits), each dead letter on its own.
 * Returns the first record not done (end if all are). */
static size_t batch_record_each(sender_t *s, bjob_t *b, size_t from, size_t end)
{
    size_t done = end;
    for (size_t i = from; i < end; i++) {
        bjob_t *x = &b[i];
        int rc = R_DONE;
        if (x->kind == B_DEAD && x->has_dead) {
            if (dn_pg_begin(s->pg) < 0 ||
                dn_outbox_add(s->pg, x->dead.event_id, dn_topic_name(DN_TOPIC_DEAD_LETTER),
                              x->dead.key ? x->dead.key : "", x->dead.value, x->dead.value_len) < 0 ||
                dn_pg_commit(s->pg) < 0) {
                dn_pg_rollback(s->pg);
                rc = R_RETRY;
            } else {
                sender_dead_done(s, &x->j, &x->dead);
            }
            x->has_dead = 0; /* logged (or left to the per-record path) */
        } else if (x->kind == B_WORK && x->has_outcome) {
            rc = sender_finish(s, &x->j, x->outcome, x->reason, x->attempt, x->next_attempt_at);
            x->has_outcome = 0; /* logged by sender_finish */
        }
        if (rc != R_DONE && done == end)
            done = i; /* the per-record path goes on from here; outcomes after it are recorded still */
    }
    return done;
}

/* Records [from, end) and gives back the claims from release_from on, retrying until it
 * commits (or the service stops); sync: the COMMIT waits for the WAL flush (see
 * batch_record_once). Returns the first record not done (end if all are). */
static size_t batch_record(sender_t *s, bjob_t *b, size_t from, size_t end, size_t release_from, size_t n, int sync,
                           int *gave_up)
{
    *gave_up = 0;
    int64_t now = dn_clock_now_ms();
    for (size_t i = from; i < end; i++) {
        bjob_t *x = &b[i];
        if (x->kind == B_WORK && x->has_outcome && !x->outcome_value &&
            sender_outcome_build(s, &x->j, x->outcome, x->reason, x->attempt, x->next_attempt_at, now, x->outcome_id,
                                 &x->outcome_value, &x->outcome_len, &x->provider_id) < 0)
            return batch_record_each(s, b, from, end); /* sender_finish keeps trying that one */
    }
    int64_t wait = 100;
    while (batch_record_once(s, b, from, end, release_from, n, sync) < 0) {
        if (!dn_pg_retriable(s->pg)) {
            dn_log_warn("batch outcomes refused, recording them one by one", "detail", dn_pg_errstr(s->pg), NULL);
            size_t done = batch_record_each(s, b, from, end);
            if (release_from < n && batch_record_once(s, b, end, end, release_from, n, 1) < 0)
                dn_log_warn("unsent claims not given back", "detail", dn_pg_errstr(s->pg), "hint",
                            "those reminders are sent once, their attempts count one more", NULL);
            return done;
        }
        dn_log_warn("batch outcomes not recorded, retrying", "detail", dn_pg_errstr(s->pg), NULL);
        if (dn_signal_stopping()) {
            for (size_t i = from; i < end; i++)
                if (b[i].kind == B_WORK && b[i].has_outcome)
                    sender_log_event(s, DN_LOG_ERROR,
                                     "outcome not recorded before shutdown; the reminder stays 'attempting'", &b[i].j,
                                     b[i].attempt, status_names[b[i].outcome]);
            *gave_up = 1;
            return from;
        }
        sender_sleep_ms(wait);
        wait = wait * 2 > 5000 ? 5000 : wait * 2;
    }
    return end;
}

/* Decodes and checks msgs[i] into b[i]; a record that cannot be sent on this channel becomes
 * B_DEAD with its dead letter encoded. */
static void batch_decode(sender_t *s, bjob_t *b, size_t i, const rd_kafka_message_t *m)
{
    bjob_t *x = &b[i];
    char reason[600];
    int32_t schema_id = -1;
    const char *code = sender_check(s, &x->j, m, reason, sizeof(reason), &schema_id);
    if (code) {
        x->kind = B_DEAD;
        x->has_dead = sender_dead_build(s, &x->j, code, reason, schema_id, &x->dead) == 0;
        return;
    }
    for (size_t k = 0; k < i; k++)
        if (b[k].kind == B_WORK && strcasecmp(b[k].j.rd.event_id, x->j.rd.event_id) == 0) {
            x->kind = B_DUP;
            x->dup_of = k;
            return;
        }
    x->kind = B_WORK;
    sender_prepare(s, &x->j);
}

static void batch_free(sender_t *s, bjob_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sender_job_free(s, &b[i].j);
        sender_dead_free(&b[i].dead);
        free(b[i].outcome_value);
    }
    free(b);
}

/* After the COMMIT of records [from, to): their logs and metrics. */
static void batch_done(sender_t *s, bjob_t *b, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        bjob_t *x = &b[i];
        const char *result = "ok";
        if (x->kind == B_DEAD) {
            result = "dead_letter";
            if (x->has_dead)
                sender_dead_done(s, &x->j, &x->dead);
        } else if (x->kind == B_DUP) {
            const bjob_t *o = &b[x->dup_of];
            result = "duplicate";
            sender_log_event(s, DN_LOG_INFO, "reminder already handled, skipped", &x->j, 0,
                             o->attempt == 0 ? o->prev : status_names[o->outcome]);
        } else if (x->attempt == 0) {
            result = "duplicate";
            sender_log_event(s, DN_LOG_INFO, "reminder already handled, skipped", &x->j, 0, x->prev);
        } else if (x->has_outcome) {
            sender_outcome_done(s, &x->j, x->outcome, x->reason, x->attempt);
        }
        dn_metrics_add(s->M.consumed, DN_LABELS(s->topic, result), 1);
    }
}

size_t sender_batch(sender_t *s, rd_kafka_message_t **msgs, size_t n, int *rc)
{
    *rc = R_DONE;
    s->tried[0] = '\0';
    bjob_t *b = calloc(n, sizeof(*b));
    if (!b)
        return 0;
    size_t nwork = 0, end = n, release_from = n, done = 0, recorded = 0;
    int gave_up = 0;
    const char *why = NULL;
    for (size_t i = 0; i < n; i++) {
        batch_decode(s, b, i, msgs[i]);
        nwork += b[i].kind == B_WORK;
    }
    if (nwork && batch_lock(s, b, n, 1) < 0) {
        why = "lock"; /* session locks taken before the error stay: release them all */
        goto unlock;
    }
    if (nwork && batch_claim(s, b, n) < 0) {
        why = "claim";
        goto unlock;
    }
    if (nwork && s->drv->job.kept) { /* what the claimed ones send, for the case view */
        job_t **kept = malloc(n * sizeof(*kept));
        size_t nk = 0;
        for (size_t i = 0; kept && i < n; i++)
            if (b[i].kind == B_WORK && b[i].attempt > 0 && !b[i].has_outcome && !b[i].j.has_pre)
                kept[nk++] = &b[i].j;
        int bad = !kept || sender_keep_sent(s, kept, nk) < 0;
        free(kept);
        if (bad) {
            why = "keep";
            goto unlock;
        }
    }
    int64_t checked = 0;
    for (size_t i = 0; i < n && end == n; i++) {
        bjob_t *x = &b[i];
        if (x->kind != B_WORK || x->attempt == 0 || x->has_outcome)
            continue;
        int64_t real = dn_clock_real_now_ms();
        if (real - checked > LAST_MILE_MAX_AGE_MS) {
            if (recorded < i) {
                size_t d = batch_record(s, b, recorded, i, n, n, 0, &gave_up);
                batch_done(s, b, recorded, d);
                if (d < i) {
                    /* Not all recorded (shutdown, or a dead letter refused): stop here. */
                    done = recorded = d;
                    end = release_from = i;
                    goto record;
                }
                recorded = i;
            }
            if (batch_last_mile(s, b, i, n) < 0) {
                why = "last-mile check";
                end = release_from = i;
                break;
            }
            checked = dn_clock_real_now_ms();
            if (x->has_outcome)
                continue;
        }
        if (x->j.has_pre) {
            set_outcome(x, x->j.pre, x->j.pre_reason);
            continue;
        }
        char reason[1200];
        int64_t until = 0;
        if (dn_signal_stopping() || sender_defer(s, &x->j, &until, reason, sizeof(reason))) {
            end = release_from = i; /* finish what was sent; a deferral is the per-record path's */
            break;
        }
        dn_send_rc_t sr = sender_send(s, &x->j, reason, sizeof(reason));
        if (sr == DN_SEND_OK) {
            set_outcome(x, DN_OUTCOME_DELIVERED, NULL);
        } else if (sr == DN_SEND_PERMANENT) {
            set_outcome(x, DN_OUTCOME_FAILED_PERMANENT, reason);
        } else if (sr == DN_SEND_UNREACHED) {
            x->j.unreached = 1;
            set_outcome(x, DN_OUTCOME_FAILED_TRANSIENT, reason);
        } else if (s->cfg.retries > 0 && !dn_signal_stopping()) {
            /* The per-record path retries it (this try counts) and pauses if need be. */
            sender_copy(s->tried, sizeof(s->tried), x->j.rd.event_id);
            sender_copy(s->tried_reason, sizeof(s->tried_reason), reason);
            end = i;
            release_from = i + 1;
        } else {
            /* No retries: failed_transient now, then the pause, as the per-record path does. */
            if (i > 0)
                s->pause_ms = 0;
            x->next_attempt_at = sender_pause(s);
            set_outcome(x, DN_OUTCOME_FAILED_TRANSIENT, reason);
            end = i;
            release_from = i + 1;
            *rc = R_DOWN;
        }
    }
    if (*rc == R_DOWN) {
        /* The held record's outcome goes into the same transaction; the record stays held. */
        done = batch_record(s, b, recorded, end + 1, release_from, n, 1, &gave_up);
        if (done == end + 1) {
            batch_done(s, b, recorded, end);
            sender_outcome_done(s, &b[end].j, b[end].outcome, b[end].reason, b[end].attempt);
            dn_metrics_add(s->M.consumed, DN_LABELS(s->topic, s->unavailable), 1);
            done = end;
        } else {
            *rc = R_DONE;
            done = done > end ? end : done;
            batch_done(s, b, recorded, done);
        }
    } else {
        done = batch_record(s, b, recorded, end, release_from, n, 1, &gave_up);
        batch_done(s, b, recorded, done);
    }
    if (gave_up)
        done = 0; /* the chunks' COMMITs may not be flushed: no offsets, the records come back */
    goto unlock;
record:
    /* A chunk stopped the batch: give back the claims not sent (best effort). No offsets for
     * this batch: its records come back and what was recorded is skipped as duplicates. */
    if (release_from < n)
        batch_record(s, b, end, end, release_from, n, 1, &gave_up);
    done = 0;
unlock:
    if (nwork && batch_lock(s, b, n, 0) < 0)
        dn_log_warn("advisory locks not released", "detail", dn_pg_errstr(s->pg), NULL);
    if (why) {
        if (dn_pg_retriable(s->pg) && sender_pg_unreachable(s->pg))
            atomic_store(&s->pg_ok, 0);
        dn_log_warn("batch step failed, handling the records one by one", "step", why, "detail", dn_pg_errstr(s->pg),
                    NULL);
    } else {
        atomic_store(&s->pg_ok, 1);
    }
    if (dn_log_enabled(DN_LOG_DEBUG)) {
        char records[24], batched[24];
        snprintf(records, sizeof(records), "%zu", n);
        snprintf(batched, sizeof(batched), "%zu", done);
        dn_log_debug("batch handled", "records", records, "batched", batched, "fallback_step", why, NULL);
    }
    batch_free(s, b, n);
    return done;
}
