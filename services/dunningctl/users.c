/* dunningctl user add|disable|passwd|list: the console's users (sql/013_console.sql).
 * Passwords come from stdin (one line) or, on a terminal, from a prompt without echo;
 * never from the command line, where ps and shell history would show them. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "ctl.h"
#include "dn_pg.h"

#define PASSWORD_MIN 12
#define PASSWORD_MAX 256

static int valid_role(const char *r)
{
    return r && (strcmp(r, "viewer") == 0 || strcmp(r, "collector") == 0 || strcmp(r, "manager") == 0 ||
                 strcmp(r, "admin") == 0);
}

/* Reads the password: a prompt without echo on a terminal (asked twice), else one line of stdin.
 * 0, or -1 with the reason printed. */
static int read_password(const char *what, char *out, size_t size)
{
    int tty = isatty(STDIN_FILENO);
    char again[PASSWORD_MAX + 2];
    for (int round = 0; round < (tty ? 2 : 1); round++) {
        char *dst = round == 0 ? out : again;
        size_t dsize = round == 0 ? size : sizeof(again);
        struct termios old, noecho;
        if (tty) {
            fprintf(stderr, round == 0 ? "password for %s: " : "again: ", what);
            tcgetattr(STDIN_FILENO, &old);
            noecho = old;
            noecho.c_lflag &= ~(tcflag_t)ECHO;
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
        }
        char *got = fgets(dst, (int)dsize, stdin);
        if (tty) {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
            fputc('\n', stderr);
        }
        if (!got) {
            fprintf(stderr, "dunningctl user: no password on stdin\n");
            return -1;
        }
        dst[strcspn(dst, "\r\n")] = '\0';
    }
    if (tty && strcmp(out, again) != 0) {
        sodium_memzero(again, sizeof(again));
        fprintf(stderr, "dunningctl user: the passwords differ\n");
        return -1;
    }
    sodium_memzero(again, sizeof(again));
    size_t n = strlen(out);
    if (n < PASSWORD_MIN || n > PASSWORD_MAX) {
        fprintf(stderr, "dunningctl user: a password has %d to %d characters\n", PASSWORD_MIN, PASSWORD_MAX);
        return -1;
    }
    return 0;
}

/* argon2id with libsodium's interactive limits (~64 MiB, fast enough for a login). */
static int hash_password(const char *pw, char out[crypto_pwhash_STRBYTES])
{
    if (sodium_init() < 0)
        return -1;
    return crypto_pwhash_str_alg(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                 crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13);
}

/* "a,b" -> "{a,b}" as a PostgreSQL array literal; each tenant quoted. 0/-1. */
static int tenants_array(const char *list, char *out, size_t size)
{
    size_t off = 0;
    off += (size_t)snprintf(out + off, size - off, "{");
    const char *p = list;
    int n = 0;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > 128 || off + len * 2 + 8 >= size)
            return -1;
        out[off++] = n++ ? ',' : '"';
        if (n > 1)
            out[off++] = '"';
        for (size_t i = 0; i < len; i++) {
            if (p[i] == '"' || p[i] == '\\' || (unsigned char)p[i] < 0x20)
                return -1;
            out[off++] = p[i];
        }
        out[off++] = '"';
        p += len;
        if (*p == ',')
            p++;
    }
    if (n == 0)
        return -1;
    snprintf(out + off, size - off, "}");
    return 0;
}

static int user_add(dn_pg_t *pg, int argc, char **argv)
{
    const char *login = NULL, *role = NULL, *tenants = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
            role = argv[++i];
        else if (strcmp(argv[i], "--tenants") == 0 && i + 1 < argc)
            tenants = argv[++i];
        else if (!login && argv[i][0] != '-')
            login = argv[i];
        else {
            fprintf(stderr, "dunningctl user add: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    char arr[4096];
    if (!login || !valid_role(role) || !tenants || tenants_array(tenants, arr, sizeof(arr)) < 0) {
        fprintf(stderr, "usage: dunningctl user add LOGIN --role viewer|collector|manager|admin --tenants T1,T2 "
                        "< password\n");
        return 2;
    }
    if (strcmp(role, "admin") != 0 && strstr(arr, "\"*\"")) {
        fprintf(stderr, "dunningctl user add: only an admin may have the tenant '*' (every tenant)\n");
        return 2;
    }
    char pw[PASSWORD_MAX + 2], hash[crypto_pwhash_STRBYTES];
    if (read_password(login, pw, sizeof(pw)) < 0)
        return 1;
    int h = hash_password(pw, hash);
    sodium_memzero(pw, sizeof(pw));
    if (h < 0) {
        fprintf(stderr, "dunningctl user add: cannot hash the password (out of memory)\n");
        return 1;
    }
    const char *params[] = {login, hash, role, arr};
    PGresult *r = dn_pg_query(pg,
                              "INSERT INTO console_users (login, password_hash, role, tenants) "
                              "VALUES ($1, $2, $3, $4::text[])",
                              4, params);
    if (!r) {
        fprintf(stderr, "dunningctl user add: %s%s\n", dn_pg_errstr(pg),
                strcmp(dn_pg_sqlstate(pg), "23505") == 0 ? " (the login exists)" : "");
        return 1;
    }
    PQclear(r);
    printf("user %s added (%s of %s)\n", login, role, tenants);
    return 0;
}

/* Changes one user: disable (and end its sessions) or a new password (ends its sessions too). */
static int user_change(dn_pg_t *pg, const char *cmd, int argc, char **argv)
{
    if (argc != 1 || argv[0][0] == '-') {
        fprintf(stderr, "usage: dunningctl user %s LOGIN%s\n", cmd, strcmp(cmd, "passwd") == 0 ? " < password" : "");
        return 2;
    }
    const char *login = argv[0];
    PGresult *r;
    if (strcmp(cmd, "disable") == 0) {
        const char *params[] = {login};
        r = dn_pg_query(pg, "UPDATE console_users SET disabled = true WHERE login = $1 RETURNING user_id", 1, params);
    } else {
        char pw[PASSWORD_MAX + 2], hash[crypto_pwhash_STRBYTES];
        if (read_password(login, pw, sizeof(pw)) < 0)
            return 1;
        int h = hash_password(pw, hash);
        sodium_memzero(pw, sizeof(pw));
        if (h < 0) {
            fprintf(stderr, "dunningctl user passwd: cannot hash the password (out of memory)\n");
            return 1;
        }
        const char *params[] = {login, hash};
        r = dn_pg_query(pg,
                        "UPDATE console_users SET password_hash = $2, password_changed_at = now() "
                        "WHERE login = $1 RETURNING user_id",
                        2, params);
    }
    if (!r) {
        fprintf(stderr, "dunningctl user %s: %s\n", cmd, dn_pg_errstr(pg));
        return 1;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        fprintf(stderr, "dunningctl user %s: no user %s\n", cmd, login);
        return 1;
    }
    const char *params[] = {PQgetvalue(r, 0, 0)};
    PGresult *d = dn_pg_query(pg, "DELETE FROM console_sessions WHERE user_id = $1", 1, params);
    PQclear(r);
    if (!d) {
        fprintf(stderr, "dunningctl user %s: %s\n", cmd, dn_pg_errstr(pg));
        return 1;
    }
    printf("user %s %s; %s session%s ended\n", login, strcmp(cmd, "disable") == 0 ? "disabled" : "has a new password",
           PQcmdTuples(d), strcmp(PQcmdTuples(d), "1") == 0 ? "" : "s");
    PQclear(d);
    return 0;
}

static int user_list(dn_pg_t *pg, int argc, char **argv)
{
    int json = argc == 1 && strcmp(argv[0], "--json") == 0;
    if (argc > 1 || (argc == 1 && !json)) {
        fprintf(stderr, "usage: dunningctl user list [--json]\n");
        return 2;
    }
    PGresult *r = dn_pg_query(pg,
                              "SELECT login, role, array_to_string(tenants, ',') AS tenants, disabled::text, "
                              "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS created_at, "
                              "to_char(password_changed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
                              "AS password_changed_at FROM console_users ORDER BY login",
                              0, NULL);
    if (!r) {
        fprintf(stderr, "dunningctl user list: %s\n", dn_pg_errstr(pg));
        return 1;
    }
    if (json) {
        json_t *rows = ctl_rows_json(r);
        json_dumpf(rows, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(rows);
    } else {
        printf("%-24s %-10s %-8s %s\n", "login", "role", "disabled", "tenants");
        for (int i = 0; i < PQntuples(r); i++)
            printf("%-24s %-10s %-8s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                   strcmp(PQgetvalue(r, i, 3), "true") == 0 ? "yes" : "no", PQgetvalue(r, i, 2));
    }
    PQclear(r);
    return 0;
}

int ctl_user(ctl_cfg_t *cfg, int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "usage: dunningctl user add|disable|passwd|list ...\n");
        return 2;
    }
    const char *cmd = argv[0];
    if (strcmp(cmd, "add") != 0 && strcmp(cmd, "disable") != 0 && strcmp(cmd, "passwd") != 0 &&
        strcmp(cmd, "list") != 0) {
        fprintf(stderr, "dunningctl user: unknown command '%s' (add, disable, passwd, list)\n", cmd);
        return 2;
    }
    char errstr[512];
    dn_pg_t *pg = dn_pg_new(cfg->common.pg_dsn, errstr, sizeof(errstr));
    if (!pg) {
        fprintf(stderr, "dunningctl user %s: %s\n", cmd, errstr);
        return 1;
    }
    int rc = strcmp(cmd, "add") == 0    ? user_add(pg, argc - 1, argv + 1)
             : strcmp(cmd, "list") == 0 ? user_list(pg, argc - 1, argv + 1)
                                        : user_change(pg, cmd, argc - 1, argv + 1);
    dn_pg_destroy(pg);
    return rc;
}
