/* dn_config: one declarative table per service, read from the environment.
 *
 * Each entry names the variable, its type, default, bounds and description, and
 * where in the service's config struct the value goes. dn_config_load validates
 * every entry and fails naming the variable. dn_config_print_doc prints the table
 * as a Markdown reference (docs/configuration.md is generated from it). */
#ifndef DN_CONFIG_H
#define DN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    DN_CFG_STRING,   /* char * (owned by the struct; freed by dn_config_free) */
    DN_CFG_INT,      /* int64_t, within [min, max] */
    DN_CFG_BOOL,     /* int: 1/0 from true/false/1/0/yes/no/on/off */
    DN_CFG_DURATION, /* int64_t milliseconds, from "250ms", "45s", "30m", "36h", "7d" or plain ms */
} dn_cfg_type_t;

typedef struct dn_cfg_entry {
    const char *env; /* DUNNING_... */
    dn_cfg_type_t type;
    const char *def;  /* default as text; NULL = required (for strings: "" allowed) */
    int64_t min, max; /* bounds for INT and DURATION (ms); ignored when min == max == 0 */
    const char *desc;
    size_t offset; /* offsetof(struct, member) */
} dn_cfg_entry_t;

#define DN_CFG(env, type, def, min, max, desc, st, member)                                                             \
    {                                                                                                                  \
        env, type, def, min, max, desc, offsetof(st, member)                                                           \
    }

/* Settings every service has. Embed as the member `common` of the service struct
 * and add DN_CFG_COMMON(struct_type) to its table. */
typedef struct dn_common_cfg {
    char *kafka_brokers;
    char *topic_prefix;
    char *pg_dsn;
    char *redis_url;
    char *log_level;
    char *home; /* repo / install root: schemas/, config/ live under it */
    int64_t clock_speed;
    int64_t clock_epoch_ms;
    int64_t clock_origin_ms;
    char *clock_file;
    int64_t batch_max;
    int64_t poll_ms;
    int64_t shutdown_ms;
} dn_common_cfg_t;

#define DN_CFG_COMMON(st)                                                                                              \
    DN_CFG("DUNNING_KAFKA_BROKERS", DN_CFG_STRING, "127.0.0.1:9092", 0, 0, "Kafka bootstrap servers (host:port,...).", \
           st, common.kafka_brokers),                                                                                  \
        DN_CFG("DUNNING_TOPIC_PREFIX", DN_CFG_STRING, "", 0, 0, "Prefix put before every topic name (e.g. prod.).",    \
               st, common.topic_prefix),                                                                               \
        DN_CFG("DUNNING_PG_DSN", DN_CFG_STRING, "postgresql:///dunning", 0, 0,                                         \
               "libpq connection string of the state database.", st, common.pg_dsn),                                   \
        DN_CFG("DUNNING_REDIS_URL", DN_CFG_STRING, "redis://127.0.0.1:6379/0", 0, 0,                                   \
               "Redis URL (redis://[:password@]host:port/db) for timers.", st, common.redis_url),                      \
        DN_CFG("DUNNING_LOG_LEVEL", DN_CFG_STRING, "info", 0, 0, "debug, info, warn or error.", st, common.log_level), \
        DN_CFG("DUNNING_HOME", DN_CFG_STRING, ".", 0, 0, "Directory holding schemas/ and config/.", st, common.home),  \
        DN_CFG("DUNNING_CLOCK_SPEED", DN_CFG_INT, "1", 0, 10000000,                                                    \
               "Simulated seconds per real second (86400 = a day per second); 0 = frozen.", st, common.clock_speed),   \
        DN_CFG("DUNNING_CLOCK_EPOCH_MS", DN_CFG_INT, "0", 0, INT64_MAX,                                                \
               "Simulated time (Unix ms) at DUNNING_CLOCK_ORIGIN_MS; 0 = real time.", st, common.clock_epoch_ms),      \
        DN_CFG("DUNNING_CLOCK_ORIGIN_MS", DN_CFG_INT, "0", 0, INT64_MAX,                                               \
               "Real time (Unix ms) at which the simulated clock showed its epoch.", st, common.clock_origin_ms),      \
        DN_CFG("DUNNING_CLOCK_FILE", DN_CFG_STRING, "", 0, 0,                                                          \
               "File with one line \"speed epoch_ms origin_ms\", re-read when it changes; overrides the three "        \
               "above (scripts/stack writes .run/clock).",                                                             \
               st, common.clock_file),                                                                                 \
        DN_CFG("DUNNING_BATCH_MAX", DN_CFG_INT, "500", 1, 100000, "Most records handled in one database transaction.", \
               st, common.batch_max),                                                                                  \
        DN_CFG("DUNNING_POLL_MS", DN_CFG_DURATION, "100ms", 1, 10000, "Kafka poll timeout per loop turn.", st,         \
               common.poll_ms),                                                                                        \
        DN_CFG("DUNNING_SHUTDOWN_TIMEOUT", DN_CFG_DURATION, "10s", 100, 3600000,                                       \
               "Bound on a graceful shutdown (finish batch, commit, flush).", st, common.shutdown_ms)

/* Reads every entry from the environment into `target`. On error returns -1 with
 * errstr naming the variable, e.g. "DUNNING_BATCH_MAX: 0 is below the minimum 1". */
int dn_config_load(const dn_cfg_entry_t *tbl, size_t n, void *target, char *errstr, size_t errstr_size);
void dn_config_free(const dn_cfg_entry_t *tbl, size_t n, void *target);
/* Markdown table of the entries, for docs/configuration.md. */
void dn_config_print_doc(FILE *out, const char *service, const dn_cfg_entry_t *tbl, size_t n);
/* Parses "7d", "36h", "30m", "45s", "250ms" (or bare ms) into ms; -1 on error. */
int dn_config_parse_duration(const char *s, int64_t *out_ms);

#endif
