/* dunningctl case show: a case, its audit trail and its deliveries. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "dn_currency.h"
#include "dn_pg.h"

void ctl_money(const char *minor_txt, const char *currency, char *buf, size_t size)
{
    int64_t v = strtoll(minor_txt, NULL, 10);
    int exp = dn_currency_exponent(currency);
    int64_t scale = 1;
    for (int i = 0; i < exp; i++)
        scale *= 10;
    const char *sign = v < 0 ? "-" : "";
    int64_t a = v < 0 ? -v : v;
    if (exp > 0) {
        char frac[24];
        snprintf(frac, sizeof(frac), "%" PRId64, a % scale + scale); /* scale + x keeps the leading zeros */
        snprintf(buf, size, "%s%" PRId64 ".%s %s", sign, a / scale, frac + 1, currency);
    } else
        snprintf(buf, size, "%s%" PRId64 " %s", sign, a, currency);
}

json_t *ctl_rows_json(PGresult *r)
{
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_object();
        for (int c = 0; c < PQnfields(r); c++) {
            if (PQgetisnull(r, i, c))
                json_object_set_new(o, PQfname(r, c), json_null());
            else if (strcmp(PQfname(r, c), "detail") == 0)
                json_object_set_new(o, "detail", json_loads(PQgetvalue(r, i, c), 0, NULL));
            else
                json_object_set_new(o, PQfname(r, c), json_string(PQgetvalue(r, i, c)));
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

int ctl_case_show(ctl_cfg_t *cfg, int argc, char **argv)
{
    const char *invoice = NULL, *tenant = NULL;
    int as_json = 0, rc = 1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--tenant") == 0 && i + 1 < argc)
            tenant = argv[++i];
        else if (strcmp(argv[i], "--json") == 0)
            as_json = 1;
        else if (!invoice && argv[i][0] != '-')
            invoice = argv[i];
        else {
            fprintf(stderr, "dunningctl case show: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!invoice) {
        fprintf(stderr, "usage: dunningctl case show INVOICE [--tenant T] [--json]\n");
        return 2;
    }
    char errstr[512];
    dn_pg_t *pg = dn_pg_new(cfg->common.pg_dsn, errstr, sizeof(errstr));
    if (!pg) {
        fprintf(stderr, "dunningctl: %s\n", errstr);
        return 1;
    }
    PGresult *c = NULL, *a = NULL, *d = NULL, *pr = NULL, *pl = NULL;
    const char *p1[] = {invoice, tenant};
    c = dn_pg_query(pg,
                    "SELECT case_id, tenant_id, invoice_id, customer_id, policy, state, stage, amount_minor, "
                    "paid_minor, outstanding_minor, fee_minor, interest_minor, currency, next_stage, "
                    "to_char(next_action_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS next_action_at, resolved_reason, "
                    "CASE next_action WHEN 'stage' THEN 'stage ' || coalesce(next_stage::text, '?') ELSE next_action "
                    "END AS next_action FROM cases WHERE invoice_id = $1 AND ($2::text IS NULL OR tenant_id = $2)",
                    2, p1);
    if (!c)
        goto fail;
    if (PQntuples(c) != 1) {
        /* Maybe only payments arrived so far: show what the audit knows. */
        fprintf(stderr, "dunningctl: %s\n",
                PQntuples(c) ? "several tenants have this invoice id: add --tenant" : "no case for this invoice");
        if (PQntuples(c) == 0) {
            a = dn_pg_query(pg,
                            "SELECT to_char(at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS at, kind, detail FROM audit "
                            "WHERE invoice_id = $1 AND ($2::text IS NULL OR tenant_id = $2) ORDER BY id",
                            2, p1);
            for (int i = 0; a && i < PQntuples(a); i++)
                printf("  %s  %-24s %s\n", PQgetvalue(a, i, 0), PQgetvalue(a, i, 1), PQgetvalue(a, i, 2));
        }
        goto out;
    }
    const char *case_id = PQgetvalue(c, 0, 0);
    const char *p2[] = {case_id};
    a = dn_pg_query(pg,
                    "SELECT id, to_char(at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS at, kind, from_state, to_state, "
                    "stage, outstanding_minor, caused_by, detail FROM audit WHERE case_id = $1 ORDER BY id",
                    1, p2);
    d = a ? dn_pg_query(pg,
                        "SELECT event_id, channel, stage, status, attempts, provider_message_id, last_error "
                        "FROM deliveries WHERE case_id = $1 ORDER BY stage, channel",
                        1, p2)
          : NULL;
    if (!a || !d)
        goto fail;
    /* The collections workflow: promises with their fate, plans with their instalments. */
    pr = dn_pg_query(
        pg,
        "SELECT p.promise_id, p.state, p.scope, p.amount_minor, p.paid_minor, p.promised_for::text AS "
        "promised_for, p.hold_until::text AS hold_until, p.level, p.channel, p.actor, "
        "to_char(p.made_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS made_at FROM promises p JOIN promise_cases pc "
        "USING (promise_id) WHERE pc.case_id = $1 ORDER BY p.made_at, p.promise_id",
        1, p2);
    pl =
        pr ? dn_pg_query(pg,
                         "SELECT p.plan_id, p.state, p.total_minor, p.fee_minor, p.interest_minor, p.channel, p.actor, "
                         "i.number, i.due_date::text AS due_date, i.amount_minor, i.paid_minor FROM plans p JOIN "
                         "plan_instalments i USING (plan_id) WHERE p.case_id = $1 ORDER BY p.agreed_at, p.plan_id, "
                         "i.number",
                         1, p2)
           : NULL;
    if (!pr || !pl)
        goto fail;
    if (as_json) {
        json_t *cj = ctl_rows_json(c);
        json_t *o = json_pack("{s:O, s:o, s:o, s:o, s:o}", "case", json_array_get(cj, 0), "audit", ctl_rows_json(a),
                              "deliveries", ctl_rows_json(d), "promises", ctl_rows_json(pr), "plan_instalments",
                              ctl_rows_json(pl));
        json_decref(cj);
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(o);
        rc = 0;
        goto out;
    }
    const char *cur = PQgetvalue(c, 0, 12);
    char amount[48], paid[48], outstanding[48], fee[48], interest[48];
    ctl_money(PQgetvalue(c, 0, 7), cur, amount, sizeof(amount));
    ctl_money(PQgetvalue(c, 0, 8), cur, paid, sizeof(paid));
    ctl_money(PQgetvalue(c, 0, 9), cur, outstanding, sizeof(outstanding));
    ctl_money(PQgetvalue(c, 0, 10), cur, fee, sizeof(fee));
    ctl_money(PQgetvalue(c, 0, 11), cur, interest, sizeof(interest));
    printf("invoice %s (tenant %s, customer %s), case %s\n", PQgetvalue(c, 0, 2), PQgetvalue(c, 0, 1),
           PQgetvalue(c, 0, 3), case_id);
    printf("  state %s%s%s%s, stage %s, policy %s\n", PQgetvalue(c, 0, 5), PQgetisnull(c, 0, 15) ? "" : " (",
           PQgetisnull(c, 0, 15) ? "" : PQgetvalue(c, 0, 15), PQgetisnull(c, 0, 15) ? "" : ")", PQgetvalue(c, 0, 6),
           PQgetvalue(c, 0, 4));
    printf("  amount %s, paid %s, outstanding %s, fees %s, interest %s\n", amount, paid, outstanding, fee, interest);
    if (PQgetisnull(c, 0, 14))
        printf("  next action: none\n");
    else
        printf("  next action: %s at %s\n", PQgetvalue(c, 0, 16), PQgetvalue(c, 0, 14));
    printf("  timeline (dunning clock):\n");
    for (int i = 0; i < PQntuples(a); i++) {
        char states[80];
        if (PQgetisnull(a, i, 3) || strcmp(PQgetvalue(a, i, 3), PQgetvalue(a, i, 4)) == 0)
            snprintf(states, sizeof(states), "%s", PQgetvalue(a, i, 4));
        else
            snprintf(states, sizeof(states), "%s -> %s", PQgetvalue(a, i, 3), PQgetvalue(a, i, 4));
        printf("    %s  %-22s %-28s %s\n", PQgetvalue(a, i, 1), PQgetvalue(a, i, 2), states, PQgetvalue(a, i, 8));
    }
    if (PQntuples(pr) > 0)
        printf("  promises to pay:\n");
    for (int i = 0; i < PQntuples(pr); i++) {
        char amt[48], paid_p[48];
        ctl_money(PQgetvalue(pr, i, 3), cur, amt, sizeof(amt));
        ctl_money(PQgetvalue(pr, i, 4), cur, paid_p, sizeof(paid_p));
        printf("    %s  %-14s %s by %s (held to %s), paid %s, level %s, %s, by %s%s%s\n", PQgetvalue(pr, i, 10),
               PQgetvalue(pr, i, 1), amt, PQgetvalue(pr, i, 5), PQgetvalue(pr, i, 6), paid_p, PQgetvalue(pr, i, 7),
               PQgetvalue(pr, i, 2), PQgetisnull(pr, i, 9) ? "?" : PQgetvalue(pr, i, 9),
               PQgetisnull(pr, i, 8) ? "" : " via ", PQgetisnull(pr, i, 8) ? "" : PQgetvalue(pr, i, 8));
    }
    for (int i = 0; i < PQntuples(pl); i++) {
        char amt[48], paid_i[48];
        if (i == 0 || strcmp(PQgetvalue(pl, i, 0), PQgetvalue(pl, i - 1, 0)) != 0) {
            char total[48], pfee[48];
            ctl_money(PQgetvalue(pl, i, 2), cur, total, sizeof(total));
            ctl_money(PQgetvalue(pl, i, 3), cur, pfee, sizeof(pfee));
            printf("  instalment plan %s: %s, total %s (plan fee %s), by %s\n", PQgetvalue(pl, i, 0),
                   PQgetvalue(pl, i, 1), total, pfee, PQgetisnull(pl, i, 6) ? "?" : PQgetvalue(pl, i, 6));
        }
        ctl_money(PQgetvalue(pl, i, 9), cur, amt, sizeof(amt));
        ctl_money(PQgetvalue(pl, i, 10), cur, paid_i, sizeof(paid_i));
        printf("    %s. %s  %s, paid %s\n", PQgetvalue(pl, i, 7), PQgetvalue(pl, i, 8), amt, paid_i);
    }
    printf("  deliveries:\n");
    if (PQntuples(d) == 0)
        printf("    none\n");
    for (int i = 0; i < PQntuples(d); i++)
        printf("    stage %s %-6s %-16s attempts %s%s%s\n", PQgetvalue(d, i, 2), PQgetvalue(d, i, 1),
               PQgetvalue(d, i, 3), PQgetvalue(d, i, 4), PQgetisnull(d, i, 6) ? "" : "  ",
               PQgetisnull(d, i, 6) ? "" : PQgetvalue(d, i, 6));
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "dunningctl: %s\n", dn_pg_errstr(pg));
out:
    PQclear(c);
    PQclear(a);
    PQclear(d);
    PQclear(pr);
    PQclear(pl);
    dn_pg_destroy(pg);
    return rc;
}
