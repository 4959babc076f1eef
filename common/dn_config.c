#include "dn_config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int dn_config_parse_duration(const char *s, int64_t *out_ms)
{
    if (!s || !*s)
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0)
        return -1;
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            if (v > INT64_MAX / units[i].ms)
                return -1;
            *out_ms = (int64_t)v * units[i].ms;
            return 0;
        }
    }
    return -1;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

static int load_one(const dn_cfg_entry_t *e, void *target, char *errstr, size_t errstr_size)
{
    const char *raw = getenv(e->env);
    const char *src = raw ? raw : e->def;
    char *field = (char *)target + e->offset;
    if (!src) {
        snprintf(errstr, errstr_size, "%s: required but not set (%s)", e->env, e->desc);
        return -1;
    }
    int64_t v = 0;
    switch (e->type) {
    case DN_CFG_STRING: {
        char *copy = strdup(src);
        if (!copy) {
            snprintf(errstr, errstr_size, "%s: out of memory", e->env);
            return -1;
        }
        free(*(char **)field);
        *(char **)field = copy;
        return 0;
    }
    case DN_CFG_BOOL:
        if (parse_bool(src, (int *)field) < 0) {
            snprintf(errstr, errstr_size, "%s: '%s' is not a boolean (use true or false)", e->env, src);
            return -1;
        }
        return 0;
    case DN_CFG_INT: {
        char *end;
        errno = 0;
        long long ll = strtoll(src, &end, 10);
        if (errno || end == src || *end) {
            snprintf(errstr, errstr_size, "%s: '%s' is not an integer", e->env, src);
            return -1;
        }
        v = ll;
        break;
    }
    case DN_CFG_DURATION:
        if (dn_config_parse_duration(src, &v) < 0) {
            snprintf(errstr, errstr_size, "%s: '%s' is not a duration (e.g. 250ms, 45s, 30m, 36h, 7d)", e->env, src);
            return -1;
        }
        break;
    }
    if (e->min != 0 || e->max != 0) {
        if (v < e->min || v > e->max) {
            snprintf(errstr, errstr_size, "%s: %s is outside [%" PRId64 ", %" PRId64 "]%s", e->env, src, e->min, e->max,
                     e->type == DN_CFG_DURATION ? " ms" : "");
            return -1;
        }
    }
    *(int64_t *)field = v;
    return 0;
}

int dn_config_load(const dn_cfg_entry_t *tbl, size_t n, void *target, char *errstr, size_t errstr_size)
{
    for (size_t i = 0; i < n; i++) {
        if (load_one(&tbl[i], target, errstr, errstr_size) < 0)
            return -1;
    }
    return 0;
}

void dn_config_free(const dn_cfg_entry_t *tbl, size_t n, void *target)
{
    for (size_t i = 0; i < n; i++) {
        if (tbl[i].type == DN_CFG_STRING) {
            char **p = (char **)((char *)target + tbl[i].offset);
            free(*p);
            *p = NULL;
        }
    }
}

void dn_config_print_doc(FILE *out, const char *service, const dn_cfg_entry_t *tbl, size_t n)
{
    static const char *const type_names[] = {"string", "integer", "boolean", "duration"};
    fprintf(out, "## %s\n\n| variable | type | default | range | description |\n| --- | --- | --- | --- | --- |\n",
            service);
    for (size_t i = 0; i < n; i++) {
        const dn_cfg_entry_t *e = &tbl[i];
        char range[64] = "";
        if (e->min != 0 || e->max != 0) {
            if (e->max == INT64_MAX)
                snprintf(range, sizeof(range), ">= %" PRId64, e->min);
            else
                snprintf(range, sizeof(range), "%" PRId64 " to %" PRId64 "%s", e->min, e->max,
                         e->type == DN_CFG_DURATION ? " ms" : "");
        }
        fprintf(out, "| `%s` | %s | %s%s%s | %s | %s |\n", e->env, type_names[e->type], e->def ? "`" : "",
                e->def ? (*e->def ? e->def : "(empty)") : "required", e->def ? "`" : "", range, e->desc);
    }
    fputc('\n', out);
}
