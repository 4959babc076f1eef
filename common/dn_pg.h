/* dn_pg: a PostgreSQL connection that reconnects, plus the migration runner.
 *
 * A failed connection is not reused: dn_pg_conn() checks the state and reconnects
 * with backoff. Every call checks PQresultStatus; errors are classified retriable
 * (connection lost, serialization failure, deadlock) or permanent. */
#ifndef DN_PG_H
#define DN_PG_H

#include <libpq-fe.h>
#include <stddef.h>

typedef struct dn_pg dn_pg_t;

dn_pg_t *dn_pg_new(const char *dsn, char *errstr, size_t errstr_size);
void dn_pg_destroy(dn_pg_t *pg);
/* The live connection, reconnecting if it was lost (NULL if that fails; see dn_pg_errstr). */
PGconn *dn_pg_conn(dn_pg_t *pg);
const char *dn_pg_errstr(const dn_pg_t *pg);

/* Runs a command with no result rows. 0 ok, -1 error (kept in pg; dn_pg_retriable tells). */
int dn_pg_exec(dn_pg_t *pg, const char *sql);
/* Parameterised statement (text params). Returns the PGresult (caller PQclear's) if its status
 * is COMMAND_OK or TUPLES_OK, else NULL with the error kept. */
PGresult *dn_pg_query(dn_pg_t *pg, const char *sql, int nparams, const char *const *params);
/* Same with per-parameter lengths and formats (1 = binary, for bytea). */
PGresult *dn_pg_query_bin(dn_pg_t *pg, const char *sql, int nparams, const char *const *params, const int *lengths,
                          const int *formats);
/* A statement whose result the caller does not look at (INSERT/UPDATE without RETURNING),
 * inside a transaction block: it is sent at once (libpq pipeline mode) and its result is
 * read at the next dn_pg_query/exec/flush/commit, which fails with its error if it
 * failed. Saves a round trip per statement. Outside a transaction block, or the first
 * time a statement is seen, it simply runs now. 0/-1. */
int dn_pg_defer(dn_pg_t *pg, const char *sql, int nparams, const char *const *params, const int *lengths,
                const int *formats);
/* Reads the results of the deferred statements. 0, or -1 with the first failure kept. */
int dn_pg_flush(dn_pg_t *pg);
/* Sends the deferred statements buffered so far without waiting for their results, so
 * the server works on them while the caller goes on (libpq keeps up to 64 KiB of a
 * pipeline unsent otherwise). 0/-1. */
int dn_pg_push(dn_pg_t *pg);
int dn_pg_begin(dn_pg_t *pg);
int dn_pg_commit(dn_pg_t *pg);
void dn_pg_rollback(dn_pg_t *pg); /* best effort */
/* 1 if the last error was retriable (connection, serialization, deadlock), 0 if permanent. */
int dn_pg_retriable(const dn_pg_t *pg);
/* SQLSTATE of the last error ("" if none). */
const char *dn_pg_sqlstate(const dn_pg_t *pg);

/* Applies sql/NNN_*.sql files in order, each once, recorded in schema_migrations.
 * Serialised across processes with an advisory lock. Returns the number applied or -1. */
int dn_pg_migrate(dn_pg_t *pg, const char *sql_dir, char *errstr, size_t errstr_size);

#endif
