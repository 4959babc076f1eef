/* dunningctl case pause|resume|credit|cancel|write-off|hand-over|promise|withdraw-promise|plan|
 * callback|claim-paid|resend:
 * CaseCommand events on
 * the case-commands topic (the engine applies them in order with the customer's other
 * events); and dunningctl timers rebuild. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "ctl.h"
#include "dn_clock.h"
#include "dn_pg.h"
#include "dn_timers.h"

static const struct {
    const char *cli, *symbol;
} kinds[] = {{"pause", "pause"},
             {"resume", "resume"},
             {"credit", "credit"},
             {"cancel", "cancel"},
             {"write-off", "write_off"},
             {"hand-over", "hand_over"},
             {"promise", "promise"},
             {"withdraw-promise", "withdraw_promise"},
             {"plan", "plan"},
             {"callback", "callback"},
             {"claim-paid", "claim_paid"},
             {"resend", "resend"}};

int ctl_case_command(ctl_cfg_t *cfg, const char *command, int argc, char **argv)
{
    const char *symbol = NULL;
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (strcmp(command, kinds[i].cli) == 0)
            symbol = kinds[i].symbol;
    const char *invoice = NULL, *tenant = NULL, *customer = NULL, *reason = NULL, *until = NULL, *actor = NULL;
    const char *date = NULL, *scope = NULL, *channel = NULL, *target = NULL;
    long long amount = -1;
    json_t *instalments = json_array();
    for (int i = 0; i < argc; i++) {
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--tenant") == 0 && next)
            tenant = argv[++i];
        else if (strcmp(argv[i], "--customer") == 0 && next)
            customer = argv[++i];
        else if (strcmp(argv[i], "--reason") == 0 && next)
            reason = argv[++i];
        else if (strcmp(argv[i], "--until") == 0 && next)
            until = argv[++i];
        else if (strcmp(argv[i], "--actor") == 0 && next)
            actor = argv[++i];
        else if (strcmp(argv[i], "--date") == 0 && next)
            date = argv[++i];
        else if (strcmp(argv[i], "--scope") == 0 && next)
            scope = argv[++i];
        else if (strcmp(argv[i], "--channel") == 0 && next)
            channel = argv[++i];
        else if (strcmp(argv[i], "--target-channel") == 0 && next)
            target = argv[++i];
        else if (strcmp(argv[i], "--instalment") == 0 && next) {
            /* AMOUNT@YYYY-MM-DD, in due-date order */
            const char *at = strchr(next, '@');
            char *end;
            long long a = strtoll(next, &end, 10);
            if (!at || end != at || a <= 0 || strlen(at + 1) != 10) {
                fprintf(stderr, "dunningctl case %s: --instalment takes AMOUNT@YYYY-MM-DD (minor units), got '%s'\n",
                        command, next);
                json_decref(instalments);
                return 2;
            }
            json_array_append_new(instalments,
                                  json_pack("{s:I, s:s}", "amount_minor", (json_int_t)a, "due_date", at + 1));
            i++;
        } else if (strcmp(argv[i], "--amount") == 0 && next) {
            char *end;
            amount = strtoll(argv[++i], &end, 10);
            if (*end || amount <= 0) {
                fprintf(stderr, "dunningctl case %s: --amount takes a positive amount in minor units\n", command);
                json_decref(instalments);
                return 2;
            }
        } else if (!invoice && argv[i][0] != '-')
            invoice = argv[i];
        else {
            fprintf(stderr, "dunningctl case %s: unexpected argument '%s'\n", command, argv[i]);
            json_decref(instalments);
            return 2;
        }
    }
    if (!symbol || !invoice || !tenant) {
        fprintf(stderr,
                "usage: dunningctl case pause|resume|credit|cancel|write-off|hand-over INVOICE --tenant T\n"
                "         [--customer C] [--reason R] [--until YYYY-MM-DD] [--amount MINOR] [--actor WHO]\n"
                "       dunningctl case promise INVOICE --tenant T --amount MINOR --date YYYY-MM-DD\n"
                "         [--scope invoice|customer] [--channel collector|portal|voice|billing|api]\n"
                "       dunningctl case withdraw-promise INVOICE --tenant T\n"
                "       dunningctl case plan INVOICE --tenant T --instalment MINOR@YYYY-MM-DD ... [--channel C]\n"
                "       dunningctl case callback|claim-paid INVOICE --tenant T [--reason NOTE] [--until YYYY-MM-DD]\n"
                "         [--channel C]\n"
                "       dunningctl case resend INVOICE --tenant T [--target-channel email|sms|letter|voice]\n");
        json_decref(instalments);
        return 2;
    }
    char errstr[512];
    char *customer_owned = NULL;
    if (!customer) { /* the key needs the customer: look it up */
        dn_pg_t *pg = dn_pg_new(cfg->common.pg_dsn, errstr, sizeof(errstr));
        if (!pg) {
            fprintf(stderr, "dunningctl case %s: %s (or give --customer)\n", command, errstr);
            json_decref(instalments);
            return 1;
        }
        const char *params[] = {tenant, invoice};
        PGresult *r =
            dn_pg_query(pg, "SELECT customer_id FROM invoices WHERE tenant_id = $1 AND invoice_id = $2", 2, params);
        if (r && PQntuples(r) == 1)
            customer = customer_owned = strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
        dn_pg_destroy(pg);
        if (!customer) {
            fprintf(stderr, "dunningctl case %s: invoice %s of tenant %s is not known; give --customer\n", command,
                    invoice, tenant);
            json_decref(instalments);
            return 1;
        }
    }
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "tenant_id", tenant, "customer_id", customer, "invoice_id", invoice,
                          "command", symbol);
    if (reason)
        json_object_set_new(j, "reason", json_string(reason));
    if (until)
        json_object_set_new(j, "until", json_string(until));
    if (amount > 0)
        json_object_set_new(j, "amount_minor", json_integer(amount));
    if (date)
        json_object_set_new(j, "promise_date", json_string(date));
    if (scope)
        json_object_set_new(j, "scope", json_string(scope));
    if (target)
        json_object_set_new(j, "target_channel", json_string(target));
    json_object_set_new(j, "channel", json_string(channel ? channel : "collector"));
    json_object_set_new(j, "instalments", instalments);
    json_object_set_new(j, "actor", json_string(actor ? actor : "dunningctl"));
    char *line = json_dumps(j, JSON_COMPACT);
    int rc = ctl_publish_json(cfg, DN_TOPIC_CASE_COMMANDS, line, errstr, sizeof(errstr));
    if (rc < 0)
        fprintf(stderr, "dunningctl case %s: %s\n", command, errstr);
    else
        fprintf(stderr, "dunningctl case %s: published to %s; the engine applies it (dunningctl case show %s)\n",
                command, dn_topic_name(DN_TOPIC_CASE_COMMANDS), invoice);
    free(line);
    json_decref(j);
    free(customer_owned);
    return rc < 0 ? 1 : 0;
}

int ctl_timers_rebuild(ctl_cfg_t *cfg)
{
    char errstr[512];
    dn_pg_t *pg = dn_pg_new(cfg->common.pg_dsn, errstr, sizeof(errstr));
    dn_timers_t *t =
        pg ? dn_timers_new(cfg->common.redis_url, cfg->timer_key, (unsigned)cfg->timer_buckets, errstr, sizeof(errstr))
           : NULL;
    if (!pg || !t) {
        fprintf(stderr, "dunningctl timers rebuild: %s\n", errstr);
        dn_pg_destroy(pg);
        return 1;
    }
    long n = dn_timers_rebuild(t, pg);
    if (n < 0)
        fprintf(stderr, "dunningctl timers rebuild: failed: %s %s\n", dn_pg_errstr(pg), dn_timers_errstr(t));
    else
        printf("%ld timers restored from PostgreSQL into %s\n", n, cfg->timer_key);
    dn_timers_destroy(t);
    dn_pg_destroy(pg);
    return n < 0 ? 1 : 0;
}
