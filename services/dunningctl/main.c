/* dunningctl: the command line for users, tests and the demo. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_pg.h"
#include "dn_topics.h"

static const dn_cfg_entry_t config_table[] = {
    DN_CFG_COMMON(ctl_cfg_t),
    DN_CFG("DUNNING_TIMER_KEY", DN_CFG_STRING, "dunning:timers", 0, 0,
           "Prefix of the Redis keys of the timer index (timers rebuild, stats, get).", ctl_cfg_t, timer_key),
    DN_CFG("DUNNING_TIMER_BUCKETS", DN_CFG_INT, "16384", 1, 4194304,
           "Bucket count of the timer index: the engines' value (timers rebuild, stats, get).", ctl_cfg_t,
           timer_buckets),
};
#define CONFIG_N (sizeof(config_table) / sizeof(config_table[0]))

static const char usage[] =
    "usage: dunningctl COMMAND [ARGS]\n"
    "\n"
    "  publish TOPIC [--raw] < lines   publish JSON lines (one event each) as framed Avro;\n"
    "                                  event_id and occurred_at are filled in when absent;\n"
    "                                  --raw: each line is the hex of a record value, sent as is\n"
    "  encode SCHEMA < lines           JSON lines -> hex of framed records (for publish --raw)\n"
    "  consume TOPIC [--max N] [--idle-ms MS]\n"
    "                                  print a topic's records as JSON lines, from the beginning\n"
    "                                  to the end it had at the start (gives up after --idle-ms,\n"
    "                                  default 10000, without records)\n"
    "  case show INVOICE [--tenant T] [--json]\n"
    "                                  a case's state and its audit trail\n"
    "  case pause|resume|credit|cancel|write-off|hand-over INVOICE --tenant T [--customer C]\n"
    "       [--reason R] [--until YYYY-MM-DD] [--amount MINOR] [--actor WHO]\n"
    "                                  publish a CaseCommand (pause reasons: dispute,\n"
    "                                  promise_to_pay, manual_hold; credit needs --amount)\n"
    "  case promise INVOICE --tenant T --amount MINOR --date YYYY-MM-DD [--scope invoice|customer]\n"
    "  case withdraw-promise INVOICE --tenant T\n"
    "  case plan INVOICE --tenant T --instalment MINOR@YYYY-MM-DD ... [--channel collector|portal]\n"
    "                                  the collections workflow: a promise to pay, an instalment\n"
    "                                  plan (the instalments add up to what is owed + the plan's\n"
    "                                  fee and interest; a rejection names the right total)\n"
    "  case callback|claim-paid INVOICE --tenant T [--reason NOTE] [--until YYYY-MM-DD] [--channel C]\n"
    "                                  the customer asks to be called back (callback_requested),\n"
    "                                  or says it is paid (the case holds voice.verify_days)\n"
    "  case resend INVOICE --tenant T [--target-channel email|sms|letter|voice]\n"
    "                                  the case's last reminder again (same stage and template,\n"
    "                                  a new reminder id; refused unless the case is active)\n"
    "  pause|resume INVOICE|--customer ID --tenant T [--reason R] [--until YYYY-MM-DD]\n"
    "                                  the dispute / promise-to-pay hold, for one invoice or\n"
    "                                  every open case of a customer\n"
    "  cases list [--tenant T] [--customer C] [--status STATE | --all] [--stage N]\n"
    "       [--overdue-more-than 30d] [--limit 50] [--offset 0] [--json]\n"
    "                                  cases by due date, with what is owed and the next action\n"
    "  aging [--tenant T] [--as-of YYYY-MM-DD] [--csv | --json]\n"
    "                                  receivables aging: current, 1-30, 31-60, 61-90, 90+ days\n"
    "                                  per currency, and the share of each stage\n"
    "  portal link --tenant T --customer C [--days 30]\n"
    "                                  a signed link to the customer's portal page\n"
    "                                  (DUNNING_PORTAL_URL, DUNNING_PORTAL_KEYS)\n"
    "  portal verify TOKEN|LINK        whether a portal link is valid, whose, until when\n"
    "  timers rebuild                  restore every pending timer in Redis from PostgreSQL\n"
    "  timers stats [--json]           pending, due now, how overdue the oldest due timer is\n"
    "  timers get CASE_ID              the case's timer in Redis: due time in ms (exit 1: none)\n"
    "  dlq list [--topic T] [--code C] [--json]\n"
    "                                  dead-lettered records with their reasons\n"
    "  dlq replay (--id ID ... | --code C | --topic T | --all)\n"
    "                                  publish dead letters again to their source topic\n"
    "  policy check [FILE]             validate a policy file (default config/policies/default.yaml)\n"
    "  templates check [DIR]           render every e-mail, SMS and letter template against\n"
    "                                  sample reminders (default config/templates)\n"
    "  clock now                       the (possibly simulated) time of the stack\n"
    "  clock set TIME [--speed N]      move the simulated clock (DUNNING_CLOCK_FILE) to TIME\n"
    "                                  (ISO 8601), running N times real time (0 = frozen;\n"
    "                                  default: keep the current speed)\n"
    "  migrate                         apply sql/*.sql migrations not applied yet\n"
    "  topics create [--dry-run] [--replication-factor N] [--min-insync-replicas N] [--file F]\n"
    "                                  create the topics on a Kafka cluster with the settings of\n"
    "                                  deploy/topics.json (existing ones are left alone);\n"
    "                                  --dry-run prints the kafka-topics.sh commands instead\n"
    "  customer erase TENANT CUSTOMER [--dry-run] [--actor NAME]\n"
    "                                  GDPR erasure: remove the customer's contact data everywhere,\n"
    "                                  keep the audit trail without it (docs/privacy.md)\n"
    "  customer prefs TENANT CUSTOMER [--json]\n"
    "                                  the customer's contact preferences (opt-outs, corrected\n"
    "                                  e-mail) and consent history (docs/policies.md)\n"
    "  user add LOGIN --role viewer|collector|manager|admin --tenants T1,T2 < password\n"
    "  user passwd LOGIN < password    the console's users: the password is one line of stdin\n"
    "  user disable LOGIN              (or a prompt without echo), never an argument; hashed with\n"
    "  user list [--json]              argon2id; disable and passwd end the user's sessions;\n"
    "                                  the tenant '*' (every tenant) only for an admin\n"
    "  risk fit --tenant T [--holdout 0.2] [--seed N] [--actor WHO]\n"
    "                                  fit the tenant's logistic risk model on its cases with a\n"
    "                                  known outcome; active only if it beats the points table\n"
    "                                  on the held-out customers (AUC and Brier score)\n"
    "  risk list [--tenant T] [--json] the fitted versions and their figures\n"
    "  risk show --tenant T [--version N] [--json]\n"
    "                                  one version (default: the active one) with its coefficients\n"
    "  report effectiveness [--tenant T] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--csv | --json]\n"
    "                                  per tenant, policy, stage, channel, template and variant:\n"
    "                                  reminders sent, delivered, paid within 7 and 14 days after,\n"
    "                                  median days to pay, amount recovered (docs/risk.md)\n"
    "  config-doc                      print the configuration reference (Markdown)\n"
    "\n"
    "Configured by the DUNNING_* environment variables (eval \"$(scripts/stack env)\").\n";

static int cmd_migrate(ctl_cfg_t *cfg)
{
    char errstr[1024], dir[4096];
    dn_pg_t *pg = dn_pg_new(cfg->common.pg_dsn, errstr, sizeof(errstr));
    if (!pg) {
        fprintf(stderr, "dunningctl: %s\n", errstr);
        return 1;
    }
    snprintf(dir, sizeof(dir), "%s/sql", cfg->common.home);
    int n = dn_pg_migrate(pg, dir, errstr, sizeof(errstr));
    dn_pg_destroy(pg);
    if (n < 0) {
        fprintf(stderr, "dunningctl: migration failed: %s\n", errstr);
        return 1;
    }
    printf("%d migration%s applied\n", n, n == 1 ? "" : "s");
    return 0;
}

/* Rewrites the clock file atomically: every service picks the new line up within ~20 ms. */
static int cmd_clock_set(const ctl_cfg_t *cfg, int argc, char **argv)
{
    if (!cfg->common.clock_file || !cfg->common.clock_file[0]) {
        fprintf(stderr, "dunningctl clock set: DUNNING_CLOCK_FILE is not set (eval \"$(scripts/stack env)\")\n");
        return 2;
    }
    int64_t at, speed = -1;
    if (argc < 1 || dn_time_parse(argv[0], &at) < 0) {
        fprintf(stderr, "dunningctl clock set: give a time like 2026-03-06T00:00:00Z\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--speed") == 0 && i + 1 < argc) {
            speed = strtoll(argv[++i], &end, 10);
            if (*end || speed < 0 || speed > 10000000) {
                fprintf(stderr, "dunningctl clock set: --speed takes 0..10000000\n");
                return 2;
            }
        } else {
            fprintf(stderr, "dunningctl clock set: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (speed < 0)
        speed = dn_clock_frozen() ? 0 : dn_clock_speed();
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", cfg->common.clock_file, (int)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "dunningctl clock set: %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    fprintf(f, "%lld %lld %lld\n", (long long)speed, (long long)at, (long long)dn_clock_real_now_ms());
    if (fclose(f) != 0 || rename(tmp, cfg->common.clock_file) != 0) {
        fprintf(stderr, "dunningctl clock set: %s: %s\n", cfg->common.clock_file, strerror(errno));
        unlink(tmp);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static ctl_cfg_t cfg;
    char errstr[512];
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* `dunningctl SUBCOMMAND --help` anywhere: the usage, exit 0. */
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
    if (dn_config_load(config_table, CONFIG_N, &cfg, errstr, sizeof(errstr)) < 0) {
        fprintf(stderr, "dunningctl: invalid configuration: %s\n", errstr);
        return 2;
    }
    dn_log_init("dunningctl", strcmp(cfg.common.log_level, "info") == 0 ? "warn" : cfg.common.log_level);
    if (dn_clock_init_from_cfg(&cfg.common) < 0) {
        fprintf(stderr, "dunningctl: DUNNING_CLOCK_FILE %s: cannot read a clock line from it\n", cfg.common.clock_file);
        return 2;
    }
    dn_topics_init(cfg.common.topic_prefix);
    if (dn_avro_init(errstr, sizeof(errstr)) < 0) {
        fprintf(stderr, "dunningctl: %s\n", errstr);
        return 1;
    }
    const char *cmd = argv[1];
    int rc = 2;
    if (strcmp(cmd, "publish") == 0)
        rc = ctl_publish(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "encode") == 0)
        rc = ctl_encode(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "consume") == 0)
        rc = ctl_consume(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "case") == 0 && argc > 2 && strcmp(argv[2], "show") == 0)
        rc = ctl_case_show(&cfg, argc - 3, argv + 3);
    else if (strcmp(cmd, "case") == 0 && argc > 2)
        rc = ctl_case_command(&cfg, argv[2], argc - 3, argv + 3);
    else if (strcmp(cmd, "cases") == 0 && argc > 2 && strcmp(argv[2], "list") == 0)
        rc = ctl_cases_list(&cfg, argc - 3, argv + 3);
    else if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0)
        rc = ctl_pause_resume(&cfg, cmd, argc - 2, argv + 2);
    else if (strcmp(cmd, "aging") == 0)
        rc = ctl_aging(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "timers") == 0 && argc > 2 && strcmp(argv[2], "rebuild") == 0)
        rc = ctl_timers_rebuild(&cfg);
    else if (strcmp(cmd, "timers") == 0 && argc > 2 && strcmp(argv[2], "stats") == 0)
        rc = ctl_timers_stats(&cfg, argc - 3, argv + 3);
    else if (strcmp(cmd, "timers") == 0 && argc > 2 && strcmp(argv[2], "get") == 0)
        rc = ctl_timers_get(&cfg, argc - 3, argv + 3);
    else if (strcmp(cmd, "dlq") == 0)
        rc = ctl_dlq(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "policy") == 0 && argc > 2 && strcmp(argv[2], "check") == 0)
        rc = ctl_policy_check(&cfg, argc - 3, argv + 3);
    else if (strcmp(cmd, "templates") == 0 && argc > 2 && strcmp(argv[2], "check") == 0)
        rc = ctl_templates_check(&cfg, argc - 3, argv + 3);
    else if (strcmp(cmd, "clock") == 0 && argc > 2 && strcmp(argv[2], "now") == 0) {
        char buf[40];
        dn_time_format(dn_clock_now_ms(), buf, sizeof(buf));
        printf("%s\n", buf);
        rc = 0;
    } else if (strcmp(cmd, "clock") == 0 && argc > 2 && strcmp(argv[2], "set") == 0)
        rc = cmd_clock_set(&cfg, argc - 3, argv + 3);
    else if (strcmp(cmd, "migrate") == 0)
        rc = cmd_migrate(&cfg);
    else if (strcmp(cmd, "topics") == 0)
        rc = ctl_topics(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "customer") == 0 && argc > 2 && strcmp(argv[2], "erase") == 0)
        rc = ctl_customer_erase(&cfg, argc - 3, argv + 3);
    else if (strcmp(cmd, "customer") == 0 && argc > 2 && strcmp(argv[2], "prefs") == 0)
        rc = ctl_customer_prefs(&cfg, argc - 3, argv + 3);
    else if (strcmp(cmd, "user") == 0)
        rc = ctl_user(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "report") == 0 && argc > 2 && strcmp(argv[2], "effectiveness") == 0)
        rc = ctl_report_effectiveness(&cfg, argc - 3, argv + 3);
    else if (strcmp(cmd, "risk") == 0)
        rc = ctl_risk(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "portal") == 0)
        rc = ctl_portal(&cfg, argc - 2, argv + 2);
    else if (strcmp(cmd, "config-doc") == 0) {
        dn_config_print_doc(stdout, "dunningctl", config_table, CONFIG_N);
        rc = 0;
    } else
        fprintf(stderr, "dunningctl: unknown command '%s'\n\n%s", cmd, usage);
    dn_config_free(config_table, CONFIG_N, &cfg);
    return rc;
}
