/* Logins, sessions and the access log (sql/013_console.sql; docs/console.md#security-model).
 *
 * The session cookie holds a random token; the database keeps only its SHA-256, so a read
 * of console_sessions cannot be replayed. A session ends at its absolute expiry
 * (DUNNING_CONSOLE_SESSION_MAX), after DUNNING_CONSOLE_IDLE without a request, at logout,
 * or when its user is disabled. Failed logins are limited per client address (dn_web_limit):
 * past DUNNING_CONSOLE_LOGIN_MAX of them in DUNNING_CONSOLE_LOGIN_WINDOW, every login from
 * that address is refused (429) until the window has passed. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dn_clock.h"
#include "dn_log.h"

static int role_parse(const char *s, console_role_t *out)
{
    for (int i = 0; i <= ROLE_ADMIN; i++)
        if (strcmp(s, role_name((console_role_t)i)) == 0) {
            *out = (console_role_t)i;
            return 0;
        }
    return -1;
}

static void free_user(void *p)
{
    console_user_t *u = p;
    if (!u)
        return;
    free(u->tenants);
    free(u->tenants_json);
    free(u);
}

/* "\\x" + hex of SHA-256(token): the bytea literal of console_sessions.token_hash. */
static void token_hash_literal(const char *token, char out[2 + 2 * crypto_hash_sha256_BYTES + 1])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    out[0] = '\\';
    out[1] = 'x';
    sodium_bin2hex(out + 2, 2 * crypto_hash_sha256_BYTES + 1, h, sizeof(h));
}

static void random_hex(char *out, size_t bytes)
{
    unsigned char b[64];
    randombytes_buf(b, bytes);
    sodium_bin2hex(out, 2 * bytes + 1, b, bytes);
    sodium_memzero(b, sizeof(b));
}

int auth_session(void *arg, dn_web_req_t *req, const char *token, dn_web_session_t *out)
{
    (void)req;
    console_t *c = arg;
    if (strlen(token) != 64 || strspn(token, "0123456789abcdef") != 64)
        return 0;
    char hash[2 + 2 * crypto_hash_sha256_BYTES + 1], idle[32];
    token_hash_literal(token, hash);
    snprintf(idle, sizeof(idle), "%lld milliseconds", (long long)c->cfg.idle_ms);
    const char *params[] = {hash, idle};
    PGresult *r = dn_pg_query(c->pg,
                              "UPDATE console_sessions s SET last_seen = now() FROM console_users u "
                              "WHERE s.token_hash = $1::bytea AND u.user_id = s.user_id AND NOT u.disabled "
                              "AND s.expires_at > now() AND s.last_seen > now() - $2::interval "
                              "RETURNING u.user_id, u.login, u.role, u.tenants::text, array_to_json(u.tenants)::text, "
                              "s.csrf_token",
                              2, params);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found) {
        console_user_t *u = calloc(1, sizeof(*u));
        u->user_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        snprintf(u->login, sizeof(u->login), "%s", PQgetvalue(r, 0, 1));
        if (role_parse(PQgetvalue(r, 0, 2), &u->role) < 0)
            u->role = ROLE_VIEWER;
        u->tenants = strdup(PQgetvalue(r, 0, 3));
        u->tenants_json = strdup(PQgetvalue(r, 0, 4));
        out->user = u;
        out->free_user = free_user;
        snprintf(out->csrf, sizeof(out->csrf), "%s", PQgetvalue(r, 0, 5));
        snprintf(u->csrf, sizeof(u->csrf), "%s", out->csrf);
    }
    PQclear(r);
    return found;
}

void auth_denied(void *arg, dn_web_req_t *req, unsigned status, const char *reason)
{
    console_t *c = arg;
    const console_user_t *u = dn_web_user(req);
    json_t *d = json_pack("{s:i, s:s}", "status", (int)status, "reason", reason);
    access_log(c, req, u ? u->login : NULL, "denied", d);
    json_decref(d);
}

static json_t *me_json(const console_user_t *u, const char *csrf)
{
    json_error_t jerr;
    json_t *tenants = json_loads(u->tenants_json, JSON_DECODE_ANY, &jerr);
    return json_pack("{s:s, s:s, s:o, s:s}", "login", u->login, "role", role_name(u->role), "tenants",
                     tenants ? tenants : json_array(), "csrf_token", csrf);
}

/* A hash to verify unknown logins against, so that they take as long as known ones. */
static const char *dummy_hash(void)
{
    static char h[crypto_pwhash_STRBYTES];
    if (!h[0] && crypto_pwhash_str_alg(h, "not a password", 14, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                       crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
        h[0] = '\0';
    return h;
}

static void login(dn_web_req_t *req, void *arg)
{
    console_t *c = arg;
    const char *remote = dn_web_remote(req);
    int64_t now = dn_clock_real_now_ms();
    json_t *body = dn_web_body_json(req);
    const char *name = body ? json_string_value(json_object_get(body, "login")) : NULL;
    const char *password = body ? json_string_value(json_object_get(body, "password")) : NULL;
    if (dn_web_limit_blocked(c->login_limit, remote, now)) {
        /* logged here rather than through dn_web_deny, so that the row names the login tried */
        json_t *d = json_pack("{s:i, s:s}", "status", 429, "reason", "too many failed logins from this address");
        access_log(c, req, name, "denied", d);
        json_decref(d);
        dn_web_error(req, 429, "too many login attempts; try again later");
        return;
    }
    if (!name || !password || !*name || !*password) {
        dn_web_error(req, 400, "login and password are required (JSON strings)");
        return;
    }
    if (strlen(name) > 64 || strlen(password) > 256) {
        dn_web_error(req, 400, "login or password too long");
        return;
    }
    const char *params[] = {name};
    PGresult *r = dn_pg_query(c->pg,
                              "SELECT user_id, password_hash, role, tenants::text, array_to_json(tenants)::text, "
                              "disabled FROM console_users WHERE login = $1",
                              1, params);
    if (!r) {
        console_db_error(c, req);
        return;
    }
    int known = PQntuples(r) == 1;
    const char *hash = known ? PQgetvalue(r, 0, 1) : dummy_hash();
    int ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0 && known;
    const char *why = !known ? "unknown login" : !ok ? "wrong password" : NULL;
    if (ok && strcmp(PQgetvalue(r, 0, 5), "t") == 0) {
        ok = 0;
        why = "disabled";
    }
    if (!ok) {
        dn_web_limit_hit(c->login_limit, remote, now); /* failures count, so an office behind one address logs in */
        json_t *d = json_pack("{s:s}", "reason", why);
        access_log(c, req, name, "login_failed", d);
        json_decref(d);
        PQclear(r);
        dn_web_error(req, 401, "wrong login or password");
        return;
    }
    console_user_t u = {.user_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10)};
    snprintf(u.login, sizeof(u.login), "%s", name);
    if (role_parse(PQgetvalue(r, 0, 2), &u.role) < 0)
        u.role = ROLE_VIEWER;
    u.tenants = PQgetvalue(r, 0, 3);
    u.tenants_json = PQgetvalue(r, 0, 4);
    char token[65], csrf[65], thash[2 + 2 * crypto_hash_sha256_BYTES + 1], uid[24], ttl[32];
    random_hex(token, 32);
    random_hex(csrf, 32);
    token_hash_literal(token, thash);
    snprintf(uid, sizeof(uid), "%lld", (long long)u.user_id);
    snprintf(ttl, sizeof(ttl), "%lld milliseconds", (long long)c->cfg.session_ms);
    const char *ip[] = {thash, uid, csrf, ttl};
    PGresult *ins = dn_pg_query(c->pg,
                                "INSERT INTO console_sessions (token_hash, user_id, csrf_token, expires_at) "
                                "VALUES ($1::bytea, $2, $3, now() + $4::interval)",
                                4, ip);
    if (!ins) {
        PQclear(r);
        console_db_error(c, req);
        return;
    }
    PQclear(ins);
    PQclear(dn_pg_query(c->pg, "DELETE FROM console_sessions WHERE expires_at < now()", 0, NULL));
    access_log(c, req, name, "login", NULL);
    dn_log_info("login", "login", name, "remote_addr", remote, NULL);
    dn_web_set_cookie(req, COOKIE_NAME, token, c->cfg.session_ms / 1000);
    sodium_memzero(token, sizeof(token));
    dn_web_json(req, 200, me_json(&u, csrf));
    PQclear(r);
}

static void logout(dn_web_req_t *req, void *arg)
{
    console_t *c = arg;
    const console_user_t *u = dn_web_user(req);
    char hash[2 + 2 * crypto_hash_sha256_BYTES + 1];
    token_hash_literal(dn_web_cookie(req, COOKIE_NAME), hash);
    const char *params[] = {hash};
    PGresult *r = dn_pg_query(c->pg, "DELETE FROM console_sessions WHERE token_hash = $1::bytea", 1, params);
    if (!r) {
        console_db_error(c, req);
        return;
    }
    PQclear(r);
    access_log(c, req, u->login, "logout", NULL);
    dn_web_set_cookie(req, COOKIE_NAME, "", 0);
    dn_web_json(req, 200, json_pack("{s:b}", "logged_out", 1));
}

static void me(dn_web_req_t *req, void *arg)
{
    (void)arg;
    const console_user_t *u = dn_web_user(req);
    dn_web_json(req, 200, me_json(u, u->csrf));
}

void auth_routes(console_t *c)
{
    dn_web_route(c->web, "POST", "/api/login", login, DN_WEB_PUBLIC);
    dn_web_route(c->web, "POST", "/api/logout", logout, 0);
    dn_web_route(c->web, "GET", "/api/me", me, 0);
}
