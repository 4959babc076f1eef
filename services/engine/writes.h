/* The multi-row write buffer (writes.c): on the fast path the handlers append their rows
 * to it and it sends one statement per table (engine_flush_writes); query() and query_bin()
 * send the buffered rows first. */
#ifndef DN_ENGINE_WRITES_H
#define DN_ENGINE_WRITES_H

#include "case.h"
#include "dn_pgarray.h"
#include "engine.h"

enum { AUDIT_COLS = 15, OUTBOX_COLS = 4, INVOICE_COLS = 15, PAYMENT_COLS = 10, APPLIED_COLS = 2 };
enum { CASE_UPDATE_COLS = 31, CASE_INSERT_COLS = 38, MAX_COLS = 38 };
/* Buffered rows per table, one array literal per column (the handlers add to these). */
extern dn_pgarray_t audit_rows[AUDIT_COLS], invoice_rows[INVOICE_COLS], payment_rows[PAYMENT_COLS],
    applied_rows[APPLIED_COLS];

/* A case the batch wrote: its latest state, found by "w:<case id>" in the batch map. It
 * stays after a flush (the batch holds the row's lock, so it is what the database has)
 * and answers load_case without a round trip. */
typedef struct case_write {
    case_row_t c;
    int is_new;        /* not in the database yet: inserted at the flush */
    int dirty;         /* changed since the last flush */
    int64_t at;        /* updated_at */
    int64_t opened;    /* opened_at, for a new case */
    char resolved[48]; /* resolved_reason to set ("" = keep) */
} case_write_t;

/* save_case's parameters ($1..$26 of its UPDATE) for a case; the strings live in `t`. */
typedef struct case_text {
    char stage[16], paid[24], outstanding[24], fee[24], interest[24], next_stage[16], next_at[40], upd[40];
    char fees_charged[24], micro[24], through[16], ipaid[24], credited[24], overpaid[24], attempt[16], base[40],
        until[16], offer_until[16], offer_due[24], risk_score[8];
} case_text_t;

/* Forgets every buffered row (a rollback, or the batch is done). */
void drop_writes(void);
/* Frees the buffer's memory (at exit). */
void writes_destroy(void);
/* Adds one row to a table's columns. 0, or -1 (out of memory: the batch fails). */
int buffer_row(engine_t *e, dn_pgarray_t *cols, size_t ncols, const char *const *values);
void case_params(const case_row_t *c, const char *resolved_reason, int64_t now, case_text_t *t,
                 const char *params[CASE_UPDATE_COLS]);
/* Sends the buffered rows (invoices, cases, payments, outbox, audit), one deferred
 * statement per table, without waiting for them. 0/-1. */
int engine_flush_writes(engine_t *e);
/* The same without the audit rows (which take the audit append lock until COMMIT): the
 * flushes in the middle of a batch. 0/-1. */
int engine_push_writes(engine_t *e);
/* A statement that reads or writes a table the fast path buffers: the buffered rows go first. */
PGresult *query(engine_t *e, const char *sql, int n, const char *const *params);
PGresult *query_bin(engine_t *e, const char *sql, int n, const char *const *params, const int *lengths,
                    const int *formats);
/* The batch's buffered state of a case, or NULL. */
case_write_t *case_written(engine_t *e, const char *case_id);
/* Buffers a case's new state (fast path). is_new: a case the batch opens. 0/-1. */
int case_buffer(engine_t *e, const case_row_t *c, const char *resolved_reason, int64_t now, int is_new);
/* dn_outbox_add, or its row buffered on the fast path. 0/-1. */
int outbox_add(engine_t *e, const char *event_id, const char *topic, const char *key, const void *value,
               size_t value_len);

#endif
