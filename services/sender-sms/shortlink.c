/* The SMS's short portal link (see shortlink.h). */
#include "shortlink.h"

#include <stdio.h>
#include <string.h>

#include "dn_clock.h"

int shortlink_store(dn_pg_t *pg, const dn_reminder_due_t *rd, const dn_render_short_t *sh, char *why, size_t n)
{
    char exp[40];
    dn_time_format(sh->expires_s * 1000, exp, sizeof(exp));
    const char *params[] = {sh->id, rd->event_id, rd->tenant_id, rd->customer_id, sh->token, exp};
    PGresult *r = dn_pg_query(pg,
                              "INSERT INTO portal_short_links (short_id, reminder_id, tenant_id, customer_id, token, "
                              "expires_at) VALUES ($1, $2::uuid, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                              6, params);
    if (!r) {
        snprintf(why, n, "postgres: %s", dn_pg_errstr(pg));
        return -1;
    }
    PQclear(r);
    const char *sp[] = {sh->id};
    r = dn_pg_query(pg, "SELECT reminder_id::text FROM portal_short_links WHERE short_id = $1", 1, sp);
    if (!r) {
        snprintf(why, n, "postgres: %s", dn_pg_errstr(pg));
        return -1;
    }
    int mine = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), rd->event_id) == 0;
    PQclear(r);
    if (!mine) {
        snprintf(why, n, "the portal short link %s is taken by another reminder", sh->id);
        return -2;
    }
    return 0;
}
