/* dunningctl report effectiveness: what each reminder achieved (docs/risk.md
 * "Effectiveness"), from the audit trail alone, the rows the case events are published from.
 *
 * One reminder is one channel of a reminder_emitted row (its detail names the policy, the
 * template, the variant and, per channel, the ReminderDue's event id). For each:
 *   delivered      a reminder_delivered row names its event id;
 *   paid 7d / 14d  the case was resolved paid (paid, paid_within_tolerance,
 *                  settled_with_discount) within 7 / 14 days after the reminder;
 *   days to pay    from the reminder to that resolution (the median over the paid ones);
 *   recovered      the payments applied to the case from the reminder until the case's next
 *                  reminder (the last reminder before a payment gets it; a stage sent on two
 *                  channels shows its payments on both).
 * Grouped by tenant, policy, stage, channel, template, variant and currency. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "dn_clock.h"
#include "dn_pg.h"

// clang-format off
static const char report_sql[] =
    "WITH s AS ("
    "  SELECT a.id, a.tenant_id, a.case_id, a.at, a.currency, a.stage, a.detail,"
    "         lead(a.at) OVER (PARTITION BY a.case_id ORDER BY a.at, a.id) AS next_at"
    "  FROM audit a WHERE a.kind = 'reminder_emitted' AND ($1::text IS NULL OR a.tenant_id = $1)"
    "), r AS ("
    "  SELECT s.*, x->>'channel' AS channel, x->>'event_id' AS event_id,"
    "    (SELECT min(p.at) FROM audit p WHERE p.case_id = s.case_id AND p.kind = 'resolved' AND p.at >= s.at"
    "       AND p.detail->>'reason' IN ('paid', 'paid_within_tolerance', 'settled_with_discount')) AS paid_at,"
    "    (SELECT coalesce(sum((p.detail->>'amount_minor')::bigint), 0) FROM audit p WHERE p.case_id = s.case_id"
    "       AND p.kind = 'payment_applied' AND p.at >= s.at AND (s.next_at IS NULL OR p.at < s.next_at)) AS recovered,"
    "    EXISTS (SELECT 1 FROM audit d WHERE d.case_id = s.case_id AND d.kind = 'reminder_delivered'"
    "       AND d.detail->>'reminder_event_id' = x->>'event_id') AS delivered"
    "  FROM s CROSS JOIN LATERAL jsonb_array_elements(s.detail->'reminders') x"
    "  WHERE ($2::date IS NULL OR s.at >= $2::date) AND ($3::date IS NULL OR s.at < $3::date + 1)"
    ") "
    "SELECT r.tenant_id, coalesce(r.detail->>'policy', c.policy) AS policy, r.stage,"
    "  coalesce(r.detail->>'stage_name', '') AS stage_name, r.channel, coalesce(r.detail->>'template', '') AS template,"
    "  coalesce(r.detail->>'variant', '') AS variant, r.currency, count(*) AS sent,"
    "  count(*) FILTER (WHERE r.delivered) AS delivered,"
    "  count(*) FILTER (WHERE r.paid_at <= r.at + interval '7 days') AS paid_7d,"
    "  count(*) FILTER (WHERE r.paid_at <= r.at + interval '14 days') AS paid_14d,"
    "  coalesce(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM r.paid_at - r.at) / 86400)"
    "    FILTER (WHERE r.paid_at IS NOT NULL))::numeric, 1)::text, '') AS median_days_to_pay,"
    "  sum(r.recovered) AS recovered_minor "
    "FROM r JOIN cases c ON c.case_id = r.case_id "
    "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 5, 6, 7, 8";
// clang-format on

int ctl_report_effectiveness(ctl_cfg_t *cfg, int argc, char **argv)
{
    const char *tenant = NULL, *from = NULL, *to = NULL;
    int csv = 0, json = 0;
    for (int i = 0; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        int32_t day;
        if (strcmp(argv[i], "--tenant") == 0 && next)
            tenant = argv[++i];
        else if ((strcmp(argv[i], "--from") == 0 || strcmp(argv[i], "--to") == 0) && next) {
            if (dn_date_parse(next, &day) < 0) {
                fprintf(stderr, "dunningctl report effectiveness: %s takes a date YYYY-MM-DD\n", argv[i]);
                return 2;
            }
            if (argv[i][2] == 'f')
                from = next;
            else
                to = next;
            i++;
        } else if (strcmp(argv[i], "--csv") == 0)
            csv = 1;
        else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else {
            fprintf(stderr,
                    "usage: dunningctl report effectiveness [--tenant T] [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
                    "         [--csv | --json]\n"
                    "Reminders sent on those days (inclusive) and what followed: delivered, paid within\n"
                    "7 and 14 days, the median days to pay, the amount recovered (docs/risk.md).\n");
            return 2;
        }
    }
    char errstr[512];
    dn_pg_t *pg = dn_pg_new(cfg->common.pg_dsn, errstr, sizeof(errstr));
    if (!pg) {
        fprintf(stderr, "dunningctl report effectiveness: %s\n", errstr);
        return 1;
    }
    const char *p[] = {tenant, from, to};
    PGresult *r = dn_pg_query(pg, report_sql, 3, p);
    if (!r) {
        fprintf(stderr, "dunningctl report effectiveness: %s\n", dn_pg_errstr(pg));
        dn_pg_destroy(pg);
        return 1;
    }
    int n = PQntuples(r), nf = PQnfields(r);
    if (json) {
        json_t *rows = ctl_rows_json(r);
        char *s = json_dumps(rows, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(rows);
    } else if (csv) {
        for (int f = 0; f < nf; f++)
            printf("%s%s", f ? "," : "", PQfname(r, f));
        printf("\n");
        for (int i = 0; i < n; i++)
            for (int f = 0; f < nf; f++) {
                const char *v = PQgetvalue(r, i, f);
                int quote = strpbrk(v, ",\"\n") != NULL;
                printf("%s%s", f ? "," : "", quote ? "\"" : "");
                for (const char *c = v; *c; c++)
                    printf(*c == '"' && quote ? "\"\"" : "%c", *c);
                printf("%s%s", quote ? "\"" : "", f == nf - 1 ? "\n" : "");
            }
    } else {
        printf("%-14s %-10s %-16s %-7s %-22s %-7s %6s %9s %7s %8s %9s %16s\n", "tenant", "policy", "stage", "channel",
               "template", "variant", "sent", "delivered", "paid 7d", "paid 14d", "days (med)", "recovered");
        for (int i = 0; i < n; i++) {
            char money[48];
            ctl_money(PQgetvalue(r, i, 13), PQgetvalue(r, i, 7), money, sizeof(money));
            printf("%-14s %-10s %-16s %-7s %-22s %-7s %6s %9s %7s %8s %9s %16s\n", PQgetvalue(r, i, 0),
                   PQgetvalue(r, i, 1), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5),
                   *PQgetvalue(r, i, 6) ? PQgetvalue(r, i, 6) : "-", PQgetvalue(r, i, 8), PQgetvalue(r, i, 9),
                   PQgetvalue(r, i, 10), PQgetvalue(r, i, 11), *PQgetvalue(r, i, 12) ? PQgetvalue(r, i, 12) : "-",
                   money);
        }
    }
    PQclear(r);
    dn_pg_destroy(pg);
    return 0;
}
