/* dunningctl internals: one file per group of subcommands. */
#ifndef DN_CTL_H
#define DN_CTL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stddef.h>

#include "dn_config.h"
#include "dn_topics.h"

typedef struct ctl_cfg {
    dn_common_cfg_t common;
    char *timer_key;
    int64_t timer_buckets;
} ctl_cfg_t;

/* Publishes one JSON object as a framed record of the topic's schema. 0/-1 with errstr. */
int ctl_publish_json(ctl_cfg_t *cfg, dn_topic_id_t topic, const char *json_line, char *errstr, size_t errstr_size);

/* Each returns the process exit status: 0 ok, 1 failure, 2 usage. */
int ctl_publish(ctl_cfg_t *cfg, int argc, char **argv);
int ctl_encode(ctl_cfg_t *cfg, int argc, char **argv);
int ctl_consume(ctl_cfg_t *cfg, int argc, char **argv);
int ctl_case_show(ctl_cfg_t *cfg, int argc, char **argv);
/* case pause|resume|credit|cancel|write-off|hand-over INVOICE ...: publishes a CaseCommand. */
int ctl_case_command(ctl_cfg_t *cfg, const char *command, int argc, char **argv);
int ctl_timers_rebuild(ctl_cfg_t *cfg);
int ctl_timers_stats(ctl_cfg_t *cfg, int argc, char **argv);
/* timers get CASE_ID: the due time in ms; exit 1 (nothing printed) when there is no timer. */
int ctl_timers_get(ctl_cfg_t *cfg, int argc, char **argv);
/* pause|resume INVOICE|--customer ID ...: a CaseCommand per open case of the customer. */
int ctl_pause_resume(ctl_cfg_t *cfg, const char *command, int argc, char **argv);
int ctl_cases_list(ctl_cfg_t *cfg, int argc, char **argv);
int ctl_aging(ctl_cfg_t *cfg, int argc, char **argv);
int ctl_dlq(ctl_cfg_t *cfg, int argc, char **argv);
int ctl_policy_check(ctl_cfg_t *cfg, int argc, char **argv);
int ctl_templates_check(ctl_cfg_t *cfg, int argc, char **argv);
/* topics create [--dry-run] ...: the topics of deploy/topics.json on a real cluster. */
int ctl_topics(ctl_cfg_t *cfg, int argc, char **argv);
/* customer erase TENANT CUSTOMER [--dry-run]: GDPR erasure of the contact data (erase.c). */
int ctl_customer_erase(ctl_cfg_t *cfg, int argc, char **argv);
/* customer prefs TENANT CUSTOMER [--json]: contact preferences and consent history (prefs.c). */
int ctl_customer_prefs(ctl_cfg_t *cfg, int argc, char **argv);

/* user add|disable|passwd|list: the console's users (users.c). */
int ctl_user(ctl_cfg_t *cfg, int argc, char **argv);
/* portal link --tenant T --customer C [--days N] | portal verify TOKEN|LINK (portal.c). */
int ctl_portal(ctl_cfg_t *cfg, int argc, char **argv);

/* risk fit|show|list: the tenants' fitted risk models (risk.c). */
int ctl_risk(ctl_cfg_t *cfg, int argc, char **argv);
/* report effectiveness [--tenant T] [--from D] [--to D] [--csv | --json] (effectiveness.c). */
int ctl_report_effectiveness(ctl_cfg_t *cfg, int argc, char **argv);

/* Rows of a result as a JSON array of objects (column name -> text; a jsonb "detail" parsed). */
json_t *ctl_rows_json(PGresult *r);

/* "25050" EUR -> "250.50 EUR" (the currency's exponent). */
void ctl_money(const char *minor_txt, const char *currency, char *buf, size_t size);

#endif
