/* dunningctl customer prefs TENANT CUSTOMER [--json]: the customer's contact preferences as
 * the engine applies them (contact_preferences) and the consent history (consent_events),
 * oldest first. The corrected address is shown (this is the operator's tool, not a log). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "dn_pg.h"

static int usage(void)
{
    fprintf(stderr, "usage: dunningctl customer prefs TENANT CUSTOMER [--json]\n");
    return 2;
}

/* "{sms,voice}" -> "sms, voice"; "{}" -> "none". */
static void list_text(const char *arr, char *out, size_t n)
{
    size_t k = 0;
    for (const char *p = arr; *p && k + 3 < n; p++) {
        if (*p == '{' || *p == '}')
            continue;
        if (*p == ',') {
            out[k++] = ',';
            out[k++] = ' ';
        } else
            out[k++] = *p;
    }
    out[k] = '\0';
    if (!k)
        snprintf(out, n, "none");
}

int ctl_customer_prefs(ctl_cfg_t *cfg, int argc, char **argv)
{
    const char *tenant = NULL, *customer = NULL;
    int as_json = 0, rc = 1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (argv[i][0] == '-')
            return usage();
        else if (!tenant)
            tenant = argv[i];
        else if (!customer)
            customer = argv[i];
        else
            return usage();
    }
    if (!tenant || !customer)
        return usage();
    char err[512];
    dn_pg_t *pg = dn_pg_new(cfg->common.pg_dsn, err, sizeof(err));
    PGresult *cur = NULL, *hist = NULL;
    if (!pg)
        goto out;
    const char *params[] = {tenant, customer};
    cur = dn_pg_query(pg,
                      "SELECT opted_out::text AS opted_out, email, to_char(updated_at AT TIME ZONE 'UTC', "
                      "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS updated_at, event_id::text AS event_id FROM "
                      "contact_preferences WHERE tenant_id = $1 AND customer_id = $2",
                      2, params);
    hist = cur ? dn_pg_query(pg,
                             "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS at, actor, "
                             "channel, invoice_id, opted_out::text AS opted_out, opted_in::text AS opted_in, "
                             "email_changed::text AS email_changed, result::text AS result, event_id::text AS "
                             "event_id FROM consent_events WHERE tenant_id = $1 AND customer_id = $2 ORDER BY at, id",
                             2, params)
               : NULL;
    if (!hist) {
        snprintf(err, sizeof(err), "%s", dn_pg_errstr(pg));
        goto out;
    }
    if (as_json) {
        json_t *c = ctl_rows_json(cur),
               *o = json_pack("{s:s, s:s, s:o, s:o}", "tenant_id", tenant, "customer_id", customer, "preferences",
                              json_null(), "history", ctl_rows_json(hist));
        if (json_array_size(c))
            json_object_set(o, "preferences", json_array_get(c, 0));
        json_decref(c);
        char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
        rc = 0;
        goto out;
    }
    char list[128];
    printf("customer %s of tenant %s\n", customer, tenant);
    if (PQntuples(cur) == 0) {
        printf("  no contact preferences: every channel of the policy, the invoices' contact e-mail\n");
    } else {
        list_text(PQgetvalue(cur, 0, 0), list, sizeof(list));
        printf("  opted out of: %s\n", list);
        printf("  e-mail: %s\n", PQgetisnull(cur, 0, 1) ? "the invoices' contact e-mail" : PQgetvalue(cur, 0, 1));
        printf("  changed: %s (command %s)\n", PQgetvalue(cur, 0, 2), PQgetvalue(cur, 0, 3));
    }
    printf("consent history (%d):\n", PQntuples(hist));
    for (int i = 0; i < PQntuples(hist); i++) {
        char out_l[128], in_l[128];
        list_text(PQgetvalue(hist, i, 4), out_l, sizeof(out_l));
        list_text(PQgetvalue(hist, i, 5), in_l, sizeof(in_l));
        list_text(PQgetvalue(hist, i, 7), list, sizeof(list));
        printf("  %s  %s via %s (invoice %s): opted out of %s; opted in to %s; e-mail %s; now opted out of %s\n",
               PQgetvalue(hist, i, 0), PQgetisnull(hist, i, 1) ? "-" : PQgetvalue(hist, i, 1),
               PQgetisnull(hist, i, 2) ? "-" : PQgetvalue(hist, i, 2),
               PQgetisnull(hist, i, 3) ? "-" : PQgetvalue(hist, i, 3), out_l, in_l,
               PQgetvalue(hist, i, 6)[0] == 't' ? "changed" : "unchanged", list);
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "dunningctl customer prefs: %s\n", err);
    PQclear(cur);
    PQclear(hist);
    dn_pg_destroy(pg);
    return rc;
}
