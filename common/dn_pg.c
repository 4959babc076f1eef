#include "dn_pg.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dn_log.h"

/* Most distinct statements prepared per connection; more run unprepared. */
#define DN_PG_STMT_MAX 256

struct dn_pg {
    char *dsn;
    char *secrets[2]; /* the DSN's password, as written and decoded: scrubbed from errors */
    PGconn *conn;
    char errstr[512];
    char sqlstate[6];
    int retriable;
    int backoff_ms;
    /* Statements prepared on this connection (see dn_pg_query_bin), by their SQL text. */
    struct stmt {
        char *sql;
        int nparams;
    } stmts[DN_PG_STMT_MAX];
    int nstmts;
    int deferred; /* statements sent in pipeline mode whose results are not read yet */
};

/* Replaces every occurrence of each secret in msg by "***" (in place; never longer). */
static void scrub(dn_pg_t *pg, char *msg)
{
    for (size_t i = 0; i < sizeof(pg->secrets) / sizeof(pg->secrets[0]); i++) {
        const char *sec = pg->secrets[i];
        size_t n = sec ? strlen(sec) : 0;
        if (n == 0)
            continue;
        for (char *hit, *from = msg; (hit = strstr(from, sec)); from = hit + (n < 3 ? n : 3)) {
            size_t keep = n < 3 ? n : 3;
            memcpy(hit, "***", keep);
            memmove(hit + keep, hit + n, strlen(hit + n) + 1);
        }
    }
}

/* The password of a DSN, as written (URI userinfo or password=...) and as libpq decodes it,
 * so that no error message built from the DSN (libpq quotes bad parts of it) carries it. */
static void find_secrets(dn_pg_t *pg)
{
    const char *d = pg->dsn, *p = NULL;
    size_t n = 0;
    if (strncmp(d, "postgresql://", 13) == 0 || strncmp(d, "postgres://", 11) == 0) {
        const char *auth = strstr(d, "://") + 3;
        size_t alen = strcspn(auth, "/?");
        const char *at = NULL;
        for (const char *c = auth; c < auth + alen; c++)
            if (*c == '@')
                at = c;
        const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            p = colon + 1;
            n = (size_t)(at - p);
        }
    } else if ((p = strstr(d, "password"))) {
        p += strspn(p + 8, " =") + 8;
        n = strcspn(p, " ");
    }
    if (p && n)
        pg->secrets[0] = strndup(p, n);
    PQconninfoOption *opts = PQconninfoParse(d, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            pg->secrets[1] = strdup(o->val);
    PQconninfoFree(opts);
}

static void set_err(dn_pg_t *pg, const char *what, const PGresult *res)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = pg->conn ? PQerrorMessage(pg->conn) : "no connection";
    snprintf(pg->errstr, sizeof(pg->errstr), "%s: %s", what, msg);
    size_t n = strlen(pg->errstr);
    while (n && (pg->errstr[n - 1] == '\n' || pg->errstr[n - 1] == ' '))
        pg->errstr[--n] = '\0';
    scrub(pg, pg->errstr);
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(pg->sqlstate, sizeof(pg->sqlstate), "%s", state ? state : "");
    /* Class 08 = connection exception, 40001 serialization, 40P01 deadlock, 57P0x shutdown. */
    pg->retriable = !state || strncmp(state, "08", 2) == 0 || strcmp(state, "40001") == 0 ||
                    strcmp(state, "40P01") == 0 || strncmp(state, "57P", 3) == 0 ||
                    (pg->conn && PQstatus(pg->conn) != CONNECTION_OK);
}

static void notice_to_log(void *arg, const char *message)
{
    (void)arg;
    dn_log_debug("postgres notice", "detail", message, NULL);
}

static void stmts_forget(dn_pg_t *pg)
{
    for (int i = 0; i < pg->nstmts; i++)
        free(pg->stmts[i].sql);
    pg->nstmts = 0;
}

static int connect_now(dn_pg_t *pg)
{
    stmts_forget(pg); /* prepared statements live and die with their session */
    pg->deferred = 0;
    if (pg->conn)
        PQfinish(pg->conn);
    pg->conn = PQconnectdb(pg->dsn);
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        set_err(pg, "connect", NULL);
        pg->retriable = 1;
        PQfinish(pg->conn);
        pg->conn = NULL;
        return -1;
    }
    PQsetNoticeProcessor(pg->conn, notice_to_log, NULL);
    /* No DETAIL lines in error messages: "Failing row contains (...)" would carry a
     * customer's contact data into logs and dead-letter reasons. */
    PQsetErrorVerbosity(pg->conn, PQERRORS_TERSE);
    PGresult *r = PQexec(pg->conn, "SET application_name = 'dunning'; SET TIME ZONE 'UTC'");
    PQclear(r);
    pg->backoff_ms = 0;
    return 0;
}

dn_pg_t *dn_pg_new(const char *dsn, char *errstr, size_t errstr_size)
{
    dn_pg_t *pg = calloc(1, sizeof(*pg));
    if (!pg || !(pg->dsn = strdup(dsn))) {
        snprintf(errstr, errstr_size, "out of memory");
        free(pg);
        return NULL;
    }
    find_secrets(pg);
    if (connect_now(pg) < 0) {
        snprintf(errstr, errstr_size, "%s", pg->errstr);
        dn_pg_destroy(pg);
        return NULL;
    }
    return pg;
}

void dn_pg_destroy(dn_pg_t *pg)
{
    if (!pg)
        return;
    if (pg->conn)
        PQfinish(pg->conn);
    stmts_forget(pg);
    for (size_t i = 0; i < sizeof(pg->secrets) / sizeof(pg->secrets[0]); i++)
        free(pg->secrets[i]);
    free(pg->dsn);
    free(pg);
}

PGconn *dn_pg_conn(dn_pg_t *pg)
{
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK)
        return pg->conn;
    /* A failed connection is not reused: reconnect, backing off up to 5 s between tries. */
    if (pg->backoff_ms) {
        struct timespec ts = {pg->backoff_ms / 1000, (long)(pg->backoff_ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    pg->backoff_ms = pg->backoff_ms ? (pg->backoff_ms * 2 > 5000 ? 5000 : pg->backoff_ms * 2) : 100;
    if (connect_now(pg) < 0) {
        dn_log_warn("postgres reconnect failed", "detail", pg->errstr, NULL);
        return NULL;
    }
    dn_log_info("postgres reconnected", NULL);
    return pg->conn;
}

const char *dn_pg_errstr(const dn_pg_t *pg)
{
    return pg->errstr;
}

int dn_pg_retriable(const dn_pg_t *pg)
{
    return pg->retriable;
}

const char *dn_pg_sqlstate(const dn_pg_t *pg)
{
    return pg->sqlstate;
}

static PGresult *check(dn_pg_t *pg, PGresult *res, const char *what)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return res;
    set_err(pg, what, res);
    PQclear(res);
    return NULL;
}

/* Sets name to sql's prepared statement, preparing it on first use; "" when the cache is
 * full (run it unprepared). -1 with the error kept if preparing failed. */
static int stmt_name(dn_pg_t *pg, PGconn *c, const char *sql, int nparams, char name[16])
{
    name[0] = '\0';
    for (int i = 0; i < pg->nstmts; i++)
        if (pg->stmts[i].nparams == nparams && strcmp(pg->stmts[i].sql, sql) == 0) {
            snprintf(name, 16, "dn_%d", i);
            return 0;
        }
    char *copy = pg->nstmts < DN_PG_STMT_MAX ? strdup(sql) : NULL;
    if (!copy)
        return 0;
    snprintf(name, 16, "dn_%d", pg->nstmts);
    PGresult *r = check(pg, PQprepare(c, name, sql, nparams, NULL), "prepare");
    if (!r) {
        free(copy);
        return -1;
    }
    PQclear(r);
    pg->stmts[pg->nstmts++] = (struct stmt){copy, nparams};
    return 0;
}

/* Ends the pipeline: reads the result of each deferred statement and, if `last` is set,
 * of one more statement sent after them (returned in *last, NULL if it failed or was
 * skipped). 0, or -1 with the first failure kept in pg. */
static int pipeline_end(dn_pg_t *pg, PGresult **last)
{
    PGconn *c = pg->conn;
    int rc = 0, n = pg->deferred + (last ? 1 : 0);
    pg->deferred = 0;
    if (last)
        *last = NULL;
    if (!c || PQpipelineSync(c) != 1) {
        set_err(pg, "pipeline", NULL);
        goto broken;
    }
    /* One result (then NULL) per statement, then the sync. The first failure is the
     * error; the statements after it come back PGRES_PIPELINE_ABORTED. */
    for (int i = 0; i < n; i++) {
        PGresult *r = PQgetResult(c);
        if (!r) {
            set_err(pg, "pipeline", NULL);
            goto broken;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            if (rc == 0)
                set_err(pg, last && i == n - 1 ? "query" : "deferred", r);
            rc = -1;
            PQclear(r);
        } else if (last && i == n - 1 && rc == 0) {
            *last = r;
        } else {
            PQclear(r);
        }
        while ((r = PQgetResult(c)))
            PQclear(r);
    }
    PGresult *r = PQgetResult(c);
    int synced = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (!synced || PQexitPipelineMode(c) != 1) {
        set_err(pg, "pipeline", NULL);
        goto broken;
    }
    return rc;
broken:
    /* Out of step with the server: this connection is not reused. */
    if (last && *last) {
        PQclear(*last);
        *last = NULL;
    }
    pg->retriable = 1;
    PQfinish(pg->conn);
    pg->conn = NULL;
    stmts_forget(pg);
    return -1;
}

int dn_pg_flush(dn_pg_t *pg)
{
    return pg->deferred ? pipeline_end(pg, NULL) : 0;
}

int dn_pg_defer(dn_pg_t *pg, const char *sql, int nparams, const char *const *params, const int *lengths,
                const int *formats)
{
    PGconn *c = dn_pg_conn(pg);
    if (!c)
        return -1;
    char name[16];
    int known = 0;
    for (int i = 0; i < pg->nstmts && !known; i++)
        known = pg->stmts[i].nparams == nparams && strcmp(pg->stmts[i].sql, sql) == 0;
    /* Only inside a transaction block (its COMMIT flushes), and only statements already
     * prepared: anything else runs now. */
    if (!pg->deferred && PQtransactionStatus(c) != PQTRANS_INTRANS)
        known = 0;
    if (!known) {
        PGresult *r = dn_pg_query_bin(pg, sql, nparams, params, lengths, formats);
        PQclear(r);
        return r ? 0 : -1;
    }
    if (stmt_name(pg, c, sql, nparams, name) < 0)
        return -1;
    if (!pg->deferred && PQenterPipelineMode(c) != 1) {
        set_err(pg, "pipeline", NULL);
        return -1;
    }
    if (PQsendQueryPrepared(c, name, nparams, params, lengths, formats, 0) != 1) {
        set_err(pg, "deferred", NULL);
        pg->deferred++; /* let dn_pg_flush find the connection out of step */
        dn_pg_flush(pg);
        return -1;
    }
    pg->deferred++;
    return 0;
}

int dn_pg_push(dn_pg_t *pg)
{
    if (!pg->deferred || !pg->conn)
        return 0;
    if (PQflush(pg->conn) != 0) {
        set_err(pg, "send", NULL);
        return -1;
    }
    return 0;
}

PGresult *dn_pg_query_bin(dn_pg_t *pg, const char *sql, int nparams, const char *const *params, const int *lengths,
                          const int *formats)
{
    if (pg->deferred && pg->conn) {
        /* Statements are pipelined: send this one after them and read all the results in
         * one round trip (if it is prepared already; else end the pipeline first). */
        for (int i = 0; i < pg->nstmts; i++)
            if (pg->stmts[i].nparams == nparams && strcmp(pg->stmts[i].sql, sql) == 0) {
                char name[16];
                snprintf(name, sizeof(name), "dn_%d", i);
                PGresult *last = NULL;
                if (PQsendQueryPrepared(pg->conn, name, nparams, params, lengths, formats, 0) != 1) {
                    set_err(pg, "query", NULL);
                    dn_pg_flush(pg);
                    return NULL;
                }
                pipeline_end(pg, &last);
                return last;
            }
    }
    if (dn_pg_flush(pg) < 0)
        return NULL;
    PGconn *c = dn_pg_conn(pg);
    if (!c)
        return NULL;
    /* Every statement is prepared once per connection (server-side, named dn_<n>) and then
     * only executed: the loops run the same few dozen statements hundreds of times per
     * batch, and parsing and planning each one again was a large part of the server's
     * work per event (docs/performance.md). Same semantics as PQexecParams: parameter
     * types are inferred by the server from the statement. */
    char name[16];
    if (stmt_name(pg, c, sql, nparams, name) < 0)
        return NULL;
    if (!name[0])
        return check(pg, PQexecParams(c, sql, nparams, NULL, params, lengths, formats, 0), "query");
    PGresult *r = check(pg, PQexecPrepared(c, name, nparams, params, lengths, formats, 0), "query");
    /* 26000: the session lost its prepared statements (DISCARD ALL, a pooler). Prepare anew next time. */
    if (!r && strcmp(pg->sqlstate, "26000") == 0)
        stmts_forget(pg);
    return r;
}

PGresult *dn_pg_query(dn_pg_t *pg, const char *sql, int nparams, const char *const *params)
{
    return dn_pg_query_bin(pg, sql, nparams, params, NULL, NULL);
}

int dn_pg_exec(dn_pg_t *pg, const char *sql)
{
    if (dn_pg_flush(pg) < 0)
        return -1;
    PGconn *c = dn_pg_conn(pg);
    if (!c)
        return -1;
    PGresult *r = check(pg, PQexec(c, sql), "exec");
    if (!r)
        return -1;
    PQclear(r);
    return 0;
}

int dn_pg_begin(dn_pg_t *pg)
{
    return dn_pg_exec(pg, "BEGIN");
}

int dn_pg_commit(dn_pg_t *pg)
{
    return dn_pg_exec(pg, "COMMIT");
}

void dn_pg_rollback(dn_pg_t *pg)
{
    dn_pg_flush(pg); /* whatever the deferred statements did is rolled back next */
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK)
        PQclear(PQexec(pg->conn, "ROLLBACK"));
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    long n;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc(n + 1))) {
        if (fread(buf, 1, n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

int dn_pg_migrate(dn_pg_t *pg, const char *sql_dir, char *errstr, size_t errstr_size)
{
    int applied = -1, nfiles = 0;
    char **files = NULL;
    DIR *d = opendir(sql_dir);
    if (!d) {
        snprintf(errstr, errstr_size, "%s: cannot open migrations directory", sql_dir);
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".sql") == 0 && de->d_name[0] >= '0' && de->d_name[0] <= '9') {
            char **grown = realloc(files, sizeof(*files) * (nfiles + 1));
            if (!grown)
                goto out;
            files = grown;
            files[nfiles++] = strdup(de->d_name);
        }
    }
    qsort(files, nfiles, sizeof(*files), name_cmp);
    if (dn_pg_exec(pg, "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, "
                       "applied_at timestamptz NOT NULL DEFAULT now())") < 0 ||
        dn_pg_exec(pg, "SELECT pg_advisory_lock(727001)") < 0) {
        snprintf(errstr, errstr_size, "%s", pg->errstr);
        goto out;
    }
    applied = 0;
    for (int i = 0; i < nfiles; i++) {
        const char *params[] = {files[i]};
        PGresult *r = dn_pg_query(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params);
        if (!r) {
            applied = -1;
            break;
        }
        int done = PQntuples(r) > 0;
        PQclear(r);
        if (done)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", sql_dir, files[i]);
        char *sql = read_file(path);
        if (!sql) {
            snprintf(pg->errstr, sizeof(pg->errstr), "%.400s: cannot read", path);
            applied = -1;
            break;
        }
        /* One transaction per file: the file and its schema_migrations row land together. */
        int ok = dn_pg_begin(pg) == 0 && dn_pg_exec(pg, sql) == 0 &&
                 (r = dn_pg_query(pg, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, params)) != NULL;
        free(sql);
        if (ok) {
            PQclear(r);
            ok = dn_pg_commit(pg) == 0;
        }
        if (!ok) {
            char detail[sizeof(pg->errstr)];
            snprintf(detail, sizeof(detail), "%.100s: %.400s", files[i], pg->errstr);
            snprintf(pg->errstr, sizeof(pg->errstr), "%s", detail);
            dn_pg_rollback(pg);
            applied = -1;
            break;
        }
        dn_log_info("migration applied", "version", files[i], NULL);
        applied++;
    }
    if (applied < 0)
        snprintf(errstr, errstr_size, "%s", pg->errstr);
    dn_pg_exec(pg, "SELECT pg_advisory_unlock(727001)");
out:
    closedir(d);
    for (int i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    return applied;
}
