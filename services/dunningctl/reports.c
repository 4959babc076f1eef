/* dunningctl cases list and aging: what a credit manager asks of the receivables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "dn_clock.h"
#include "dn_config.h"
#include "dn_pg.h"

static dn_pg_t *connect_or_say(ctl_cfg_t *cfg, const char *what)
{
    char errstr[512];
    dn_pg_t *pg = dn_pg_new(cfg->common.pg_dsn, errstr, sizeof(errstr));
    if (!pg)
        fprintf(stderr, "dunningctl %s: %s\n", what, errstr);
    return pg;
}

int ctl_cases_list(ctl_cfg_t *cfg, int argc, char **argv)
{
    const char *tenant = NULL, *status = NULL, *stage = NULL, *customer = NULL;
    long limit = 50, offset = 0;
    int64_t overdue_ms = -1;
    int json = 0, all = 0;
    for (int i = 0; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--tenant") == 0 && next)
            tenant = argv[++i];
        else if (strcmp(argv[i], "--all") == 0)
            all = 1;
        else if (strcmp(argv[i], "--customer") == 0 && next)
            customer = argv[++i];
        else if (strcmp(argv[i], "--status") == 0 && next)
            status = argv[++i];
        else if (strcmp(argv[i], "--stage") == 0 && next)
            stage = argv[++i];
        else if (strcmp(argv[i], "--overdue-more-than") == 0 && next) {
            if (dn_config_parse_duration(argv[++i], &overdue_ms) < 0) {
                fprintf(stderr, "dunningctl cases list: --overdue-more-than takes a duration such as 30d\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--limit") == 0 && next)
            limit = atol(argv[++i]);
        else if (strcmp(argv[i], "--offset") == 0 && next)
            offset = atol(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else {
            fprintf(stderr, "usage: dunningctl cases list [--tenant T] [--customer C] [--status STATE | --all]\n"
                            "         [--stage N] [--overdue-more-than 30d] [--limit 50] [--offset 0] [--json]\n"
                            "Without --status or --all, closed cases (resolved, written_off) are left out.\n");
            return 2;
        }
    }
    if (limit < 1 || limit > 10000 || offset < 0) {
        fprintf(stderr, "dunningctl cases list: --limit is 1..10000, --offset >= 0\n");
        return 2;
    }
    dn_pg_t *pg = connect_or_say(cfg, "cases list");
    if (!pg)
        return 1;
    char today[16], lim[24], off[24], days[24];
    dn_date_format(dn_date_from_ms(dn_clock_now_ms()), today, sizeof(today));
    snprintf(lim, sizeof(lim), "%ld", limit + 1); /* one more: is there a next page? */
    snprintf(off, sizeof(off), "%ld", offset);
    snprintf(days, sizeof(days), "%lld", overdue_ms < 0 ? -1000000LL : (long long)(overdue_ms / 86400000));
    const char *params[] = {tenant, status, stage, customer, today, days, lim, off, status || all ? "t" : "f"};
    PGresult *r = dn_pg_query(
        pg,
        "SELECT c.tenant_id, c.invoice_id, c.customer_id, c.state, c.stage, c.policy, c.currency, "
        "c.outstanding_minor, c.fee_minor, c.interest_minor, "
        "c.outstanding_minor + c.fee_minor + c.interest_minor AS total_due_minor, "
        "to_char(i.due_date, 'YYYY-MM-DD') AS due_date, ($5::date - i.due_date) AS days_overdue, "
        "c.next_action, to_char(c.next_action_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS "
        "next_action_at "
        "FROM cases c JOIN invoices i USING (tenant_id, invoice_id) "
        "WHERE ($1::text IS NULL OR c.tenant_id = $1) AND ($2::text IS NULL OR c.state = $2) "
        "AND ($3::int IS NULL OR c.stage = $3) AND ($4::text IS NULL OR c.customer_id = $4) "
        "AND ($5::date - i.due_date) > $6::int AND ($9::boolean OR c.state NOT IN ('resolved', 'written_off')) "
        "ORDER BY i.due_date, c.tenant_id, c.invoice_id LIMIT $7::bigint OFFSET $8::bigint",
        9, params);
    if (!r) {
        fprintf(stderr, "dunningctl cases list: %s\n", dn_pg_errstr(pg));
        dn_pg_destroy(pg);
        return 1;
    }
    int n = PQntuples(r), more = n > limit;
    if (more)
        n = (int)limit;
    if (json) {
        /* Drop the look-ahead row for the JSON output too. */
        json_t *rows = ctl_rows_json(r);
        if (more)
            json_array_remove(rows, (size_t)n);
        json_t *out =
            json_pack("{s:o, s:o}", "cases", rows, "next_offset", more ? json_integer(offset + limit) : json_null());
        char *s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(out);
    } else {
        printf("%-12s %-16s %-12s %-16s %5s %10s %18s  %s\n", "tenant", "invoice", "customer", "state", "stage",
               "overdue", "total due", "next action");
        for (int i = 0; i < n; i++) {
            char total[48];
            ctl_money(PQgetvalue(r, i, 10), PQgetvalue(r, i, 6), total, sizeof(total));
            printf("%-12s %-16s %-12s %-16s %5s %9sd %18s  %s %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                   PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 12), total,
                   PQgetisnull(r, i, 14) ? "-" : PQgetvalue(r, i, 13),
                   PQgetisnull(r, i, 14) ? "" : PQgetvalue(r, i, 14));
        }
        if (more)
            printf("(more: --offset %ld)\n", offset + limit);
    }
    PQclear(r);
    dn_pg_destroy(pg);
    return 0;
}

/* The accounts-receivable aging report: open receivables (every case not resolved or
 * written off) by days past the due date as of a day, per currency; and how the open
 * cases spread over the dunning stages. Amounts are what is owed: principal, fees and
 * interest as last accrued by the engine. */
int ctl_aging(ctl_cfg_t *cfg, int argc, char **argv)
{
    const char *tenant = NULL, *as_of = NULL;
    int csv = 0, json = 0;
    for (int i = 0; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--tenant") == 0 && next)
            tenant = argv[++i];
        else if (strcmp(argv[i], "--as-of") == 0 && next)
            as_of = argv[++i];
        else if (strcmp(argv[i], "--csv") == 0)
            csv = 1;
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else {
            fprintf(stderr, "usage: dunningctl aging [--tenant T] [--as-of YYYY-MM-DD] [--csv | --json]\n");
            return 2;
        }
    }
    int32_t day;
    char day_txt[16];
    if (as_of && dn_date_parse(as_of, &day) < 0) {
        fprintf(stderr, "dunningctl aging: --as-of takes a date like 2026-03-31\n");
        return 2;
    }
    if (!as_of)
        day = dn_date_from_ms(dn_clock_now_ms());
    dn_date_format(day, day_txt, sizeof(day_txt));
    dn_pg_t *pg = connect_or_say(cfg, "aging");
    if (!pg)
        return 1;
    const char *params[] = {tenant, day_txt};
    static const char bucket_sql[] =
        "WITH open AS (SELECT c.currency, c.state, c.stage, c.outstanding_minor + c.fee_minor + c.interest_minor AS "
        "owed, "
        "  $2::date - i.due_date AS days FROM cases c JOIN invoices i USING (tenant_id, invoice_id) "
        "  WHERE c.state NOT IN ('resolved', 'written_off') AND ($1::text IS NULL OR c.tenant_id = $1) "
        "  AND i.issue_date <= $2::date), "
        "b AS (SELECT currency, owed, CASE WHEN days <= 0 THEN 0 WHEN days <= 30 THEN 1 WHEN days <= 60 THEN 2 "
        "  WHEN days <= 90 THEN 3 ELSE 4 END AS bucket FROM open) "
        "SELECT currency, bucket, count(*), sum(owed) FROM b GROUP BY 1, 2 ORDER BY 1, 2";
    static const char stage_sql[] =
        "SELECT c.state, c.stage, count(*), round(100.0 * count(*) / sum(count(*)) OVER (), 1) "
        "FROM cases c JOIN invoices i USING (tenant_id, invoice_id) "
        "WHERE c.state NOT IN ('resolved', 'written_off') AND ($1::text IS NULL OR c.tenant_id = $1) "
        "AND i.issue_date <= $2::date GROUP BY 1, 2 ORDER BY 2, 1";
    PGresult *b = dn_pg_query(pg, bucket_sql, 2, params);
    PGresult *s = b ? dn_pg_query(pg, stage_sql, 2, params) : NULL;
    if (!b || !s) {
        fprintf(stderr, "dunningctl aging: %s\n", dn_pg_errstr(pg));
        PQclear(b);
        dn_pg_destroy(pg);
        return 1;
    }
    static const char *const names[] = {"current", "1-30", "31-60", "61-90", "90+"};
    if (csv) {
        printf("as_of,currency,bucket,count,amount_minor\n");
        for (int i = 0; i < PQntuples(b); i++)
            printf("%s,%s,%s,%s,%s\n", day_txt, PQgetvalue(b, i, 0), names[atoi(PQgetvalue(b, i, 1))],
                   PQgetvalue(b, i, 2), PQgetvalue(b, i, 3));
    } else if (json) {
        json_t *buckets = json_array(), *stages = json_array();
        for (int i = 0; i < PQntuples(b); i++)
            json_array_append_new(buckets, json_pack("{s:s, s:s, s:I, s:I}", "currency", PQgetvalue(b, i, 0), "bucket",
                                                     names[atoi(PQgetvalue(b, i, 1))], "count",
                                                     (json_int_t)atoll(PQgetvalue(b, i, 2)), "amount_minor",
                                                     (json_int_t)atoll(PQgetvalue(b, i, 3))));
        for (int i = 0; i < PQntuples(s); i++)
            json_array_append_new(stages,
                                  json_pack("{s:s, s:i, s:I, s:f}", "state", PQgetvalue(s, i, 0), "stage",
                                            atoi(PQgetvalue(s, i, 1)), "count", (json_int_t)atoll(PQgetvalue(s, i, 2)),
                                            "percent", atof(PQgetvalue(s, i, 3))));
        json_t *out = json_pack("{s:s, s:o, s:o}", "as_of", day_txt, "buckets", buckets, "stages", stages);
        char *txt = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", txt);
        free(txt);
        json_decref(out);
    } else {
        printf("Accounts receivable aging as of %s%s%s (open cases; amounts owed incl. fees and interest)\n\n", day_txt,
               tenant ? ", tenant " : "", tenant ? tenant : "");
        printf("%-9s %-8s %8s %22s\n", "currency", "bucket", "count", "amount");
        for (int i = 0; i < PQntuples(b); i++) {
            char amount[48];
            ctl_money(PQgetvalue(b, i, 3), PQgetvalue(b, i, 0), amount, sizeof(amount));
            printf("%-9s %-8s %8s %22s\n", PQgetvalue(b, i, 0), names[atoi(PQgetvalue(b, i, 1))], PQgetvalue(b, i, 2),
                   amount);
        }
        printf("\n%-18s %6s %8s %8s\n", "state", "stage", "count", "share");
        for (int i = 0; i < PQntuples(s); i++)
            printf("%-18s %6s %8s %7s%%\n", PQgetvalue(s, i, 0), PQgetvalue(s, i, 1), PQgetvalue(s, i, 2),
                   PQgetvalue(s, i, 3));
    }
    PQclear(b);
    PQclear(s);
    dn_pg_destroy(pg);
    return 0;
}
