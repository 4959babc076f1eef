#include "dn_pg.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dn_log.h"

struct dn_pg {
    char *dsn;
    PGconn *conn;
    char errstr[512];
    char sqlstate[6];
    int retriable;
    int backoff_ms;
};

static void set_err(dn_pg_t *pg, const char *what, const PGresult *res)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = pg->conn ? PQerrorMessage(pg->conn) : "no connection";
    snprintf(pg->errstr, sizeof(pg->errstr), "%s: %s", what, msg);
    size_t n = strlen(pg->errstr);
    while (n && (pg->errstr[n - 1] == '\n' || pg->errstr[n - 1] == ' '))
        pg->errstr[--n] = '\0';
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

static int connect_now(dn_pg_t *pg)
{
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

PGresult *dn_pg_query_bin(dn_pg_t *pg, const char *sql, int nparams, const char *const *params, const int *lengths,
                          const int *formats)
{
    PGconn *c = dn_pg_conn(pg);
    if (!c)
        return NULL;
    return check(pg, PQexecParams(c, sql, nparams, NULL, params, lengths, formats, 0), "query");
}

PGresult *dn_pg_query(dn_pg_t *pg, const char *sql, int nparams, const char *const *params)
{
    return dn_pg_query_bin(pg, sql, nparams, params, NULL, NULL);
}

int dn_pg_exec(dn_pg_t *pg, const char *sql)
{
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
