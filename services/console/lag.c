/* Consumer lag for the overview (see console.h): for each consumer group of the pipeline
 * (DUNNING_CONSOLE_LAG_GROUPS: the engine's and each sender's, with the topics it reads),
 * the sum over every partition of those topics of (high watermark - the group's committed
 * offset), read from outside the group (dn_kafka_group_lag: it never joins it). One handle
 * per group, made when first asked for and kept. Calls nothing of the console's other files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dn_log.h"

enum { LAG_MAX_GROUPS = 16, LAG_MAX_TOPICS = 16, LAG_TIMEOUT_MS = 2000 };

struct console_lag {
    size_t n;
    struct {
        char name[128];
        char *topics[LAG_MAX_TOPICS];
        size_t ntopics;
        dn_kafka_group_t *g;
    } groups[LAG_MAX_GROUPS];
};

static void lag_free(console_lag_t *l)
{
    for (size_t i = 0; l && i < l->n; i++) {
        for (size_t t = 0; t < l->groups[i].ntopics; t++)
            free(l->groups[i].topics[t]);
        dn_kafka_group_destroy(l->groups[i].g);
    }
    free(l);
}

int lag_start(console_t *c, char *errstr, size_t errstr_size)
{
    console_lag_t *l = calloc(1, sizeof(*l));
    char *spec = strdup(c->cfg.lag_groups), *save = NULL;
    if (!l || !spec)
        abort();
    int rc = 0;
    for (char *g = strtok_r(spec, ";", &save); g && rc == 0; g = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(g, '=');
        if (!eq || eq == g || !eq[1] || l->n == LAG_MAX_GROUPS || (size_t)(eq - g) >= sizeof(l->groups[0].name)) {
            snprintf(errstr, errstr_size, "DUNNING_CONSOLE_LAG_GROUPS: expected group=topic,topic;... (at most %d)",
                     LAG_MAX_GROUPS);
            rc = -1;
            break;
        }
        *eq = '\0';
        snprintf(l->groups[l->n].name, sizeof(l->groups[0].name), "%s", g);
        char *tsave = NULL;
        for (char *t = strtok_r(eq + 1, ",", &tsave); t; t = strtok_r(NULL, ",", &tsave)) {
            if (l->groups[l->n].ntopics == LAG_MAX_TOPICS) {
                snprintf(errstr, errstr_size, "DUNNING_CONSOLE_LAG_GROUPS: at most %d topics a group", LAG_MAX_TOPICS);
                rc = -1;
                break;
            }
            char name[512];
            snprintf(name, sizeof(name), "%s%s", c->cfg.common.topic_prefix, t);
            l->groups[l->n].topics[l->groups[l->n].ntopics++] = strdup(name);
        }
        l->n++;
    }
    free(spec);
    if (rc < 0) {
        lag_free(l);
        return -1;
    }
    c->lag = l;
    return 0;
}

void lag_stop(console_t *c)
{
    lag_free(c->lag);
    c->lag = NULL;
}

json_t *lag_overview(console_t *c)
{
    json_t *out = json_array();
    console_lag_t *l = c->lag;
    for (size_t i = 0; l && i < l->n; i++) {
        char err[512] = "";
        int64_t lag = 0;
        int parts = 0;
        json_t *topics = json_array();
        for (size_t t = 0; t < l->groups[i].ntopics; t++)
            json_array_append_new(topics, json_string(l->groups[i].topics[t]));
        if (!l->groups[i].g)
            l->groups[i].g = dn_kafka_group_new(c->cfg.common.kafka_brokers, l->groups[i].name, err, sizeof(err));
        int ok = l->groups[i].g &&
                 dn_kafka_group_lag(l->groups[i].g, (const char *const *)l->groups[i].topics, l->groups[i].ntopics,
                                    LAG_TIMEOUT_MS, &lag, &parts, err, sizeof(err)) == 0;
        json_t *row = json_pack("{s:s, s:o}", "group", l->groups[i].name, "topics", topics);
        if (ok) {
            json_object_set_new(row, "lag", json_integer(lag));
            json_object_set_new(row, "partitions", json_integer(parts));
        } else {
            dn_log_warn("consumer lag not read", "group", l->groups[i].name, "detail", err, NULL);
            json_object_set_new(row, "lag", json_null());
            json_object_set_new(row, "error", json_string(err));
        }
        json_array_append_new(out, row);
    }
    return out;
}
