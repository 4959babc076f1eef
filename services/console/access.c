/* What every handler shares: role names, the access log (console_access_log) and the reply
 * after a database error. Calls nothing of the console's other files. */
#include <stdlib.h>

#include "console.h"
#include "dn_log.h"

static const char *const role_names[] = {"viewer", "collector", "manager", "admin"};

const char *role_name(console_role_t r)
{
    return role_names[r];
}

void access_log(console_t *c, dn_web_req_t *req, const char *login, const char *kind, json_t *detail)
{
    char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    const char *params[] = {login, kind, dn_web_method(req), dn_web_path(req), dn_web_remote(req), d ? d : "{}"};
    PGresult *r = dn_pg_query(c->pg,
                              "INSERT INTO console_access_log (login, kind, method, path, remote_addr, detail) "
                              "VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
                              6, params);
    if (!r)
        dn_log_error("access log not written", "kind", kind, "login", login, "detail", dn_pg_errstr(c->pg), NULL);
    PQclear(r);
    free(d);
}

void console_db_error(console_t *c, dn_web_req_t *req)
{
    dn_log_error("database error", "path", dn_web_path(req), "detail", dn_pg_errstr(c->pg), NULL);
    dn_web_error(req, 500, "database unavailable");
}
