#include "dn_log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static dn_log_level_t min_level = DN_LOG_INFO;
static char service_name[64] = "dunning";

int dn_log_init(const char *service, const char *level)
{
    if (service)
        snprintf(service_name, sizeof(service_name), "%s", service);
    if (!level)
        return 0;
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(level, level_names[i]) == 0) {
            min_level = (dn_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

int dn_log_enabled(dn_log_level_t level)
{
    return level >= min_level;
}

void dn_logv(dn_log_level_t level, const char *msg, va_list kv)
{
    if (level < min_level)
        return;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(tv.tv_usec / 1000));

    json_t *o = json_object();
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(level_names[level]));
    json_object_set_new(o, "service", json_string(service_name));
    json_object_set_new(o, "msg", json_string(msg));
    for (;;) {
        const char *k = va_arg(kv, const char *);
        if (!k)
            break;
        const char *v = va_arg(kv, const char *);
        if (v)
            json_object_set_new(o, k, json_stringn(v, strnlen(v, 4096)));
    }
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (line) {
        /* One write per line so lines from several threads never interleave. */
        size_t len = strlen(line);
        line[len] = '\n';
        fwrite(line, 1, len + 1, stderr);
        free(line);
    }
    json_decref(o);
}

void dn_log(dn_log_level_t level, const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    dn_logv(level, msg, ap);
    va_end(ap);
}
