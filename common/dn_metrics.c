#include "dn_metrics.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind_t;

static const char *const kind_names[] = {"counter", "gauge", "histogram"};

typedef struct series {
    struct series *next;
    char *values[DN_METRICS_MAX_LABELS];
    double value;      /* counter, gauge */
    uint64_t *buckets; /* histogram: count per bucket, not cumulative; [nbounds] is +Inf */
    double sum;
    uint64_t count;
} series_t;

struct dn_metric {
    struct dn_metric *next;
    kind_t kind;
    char *name, *help;
    size_t nlabels;
    char *labels[DN_METRICS_MAX_LABELS];
    double bounds[DN_METRICS_MAX_BUCKETS];
    size_t nbounds;
    dn_metrics_collect_fn fn; /* callback gauge */
    void *arg;
    series_t *series, **tail;
};

struct dn_metrics_emitter {
    FILE *out;
    const dn_metric_t *m;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static dn_metric_t *families;
static dn_metric_t **families_tail = &families;

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names, without ':' for label names. */
static int valid_name(const char *s, size_t n, int colon)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return 0;
    }
    return 1;
}

static void free_series(series_t *s)
{
    for (size_t i = 0; i < DN_METRICS_MAX_LABELS; i++)
        free(s->values[i]);
    free(s->buckets);
    free(s);
}

static void free_metric(dn_metric_t *m)
{
    if (!m)
        return;
    for (series_t *s = m->series, *next; s; s = next) {
        next = s->next;
        free_series(s);
    }
    for (size_t i = 0; i < DN_METRICS_MAX_LABELS; i++)
        free(m->labels[i]);
    free(m->name);
    free(m->help);
    free(m);
}

/* Splits "a,b" into m->labels. 0/-1. */
static int parse_labels(dn_metric_t *m, const char *labels)
{
    const char *p = labels ? labels : "";
    if (!*p)
        return 0;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (m->nlabels == DN_METRICS_MAX_LABELS || !valid_name(p, n, 0) || (n >= 2 && p[0] == '_' && p[1] == '_'))
            return -1;
        if (m->kind == KIND_HISTOGRAM && n == 2 && memcmp(p, "le", 2) == 0)
            return -1;
        if (!(m->labels[m->nlabels] = strndup(p, n)))
            return -1;
        for (size_t i = 0; i < m->nlabels; i++)
            if (strcmp(m->labels[i], m->labels[m->nlabels]) == 0)
                return -1;
        m->nlabels++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

static int same_shape(const dn_metric_t *a, const dn_metric_t *b)
{
    if (a->kind != b->kind || a->nlabels != b->nlabels || (a->fn != NULL) != (b->fn != NULL) ||
        a->nbounds != b->nbounds)
        return 0;
    for (size_t i = 0; i < a->nlabels; i++)
        if (strcmp(a->labels[i], b->labels[i]) != 0)
            return 0;
    for (size_t i = 0; i < a->nbounds; i++)
        if (a->bounds[i] != b->bounds[i])
            return 0;
    return 1;
}

static series_t *new_series(const dn_metric_t *m, const char *const *values)
{
    series_t *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    for (size_t i = 0; i < m->nlabels; i++) {
        if (!(s->values[i] = strdup(values && values[i] ? values[i] : ""))) {
            free_series(s);
            return NULL;
        }
    }
    if (m->kind == KIND_HISTOGRAM && !(s->buckets = calloc(m->nbounds + 1, sizeof(*s->buckets)))) {
        free_series(s);
        return NULL;
    }
    return s;
}

/* With the lock held. NULL when out of memory. */
static series_t *find_series(dn_metric_t *m, const char *const *values)
{
    for (series_t *s = m->series; s; s = s->next) {
        size_t i = 0;
        while (i < m->nlabels && strcmp(s->values[i], values && values[i] ? values[i] : "") == 0)
            i++;
        if (i == m->nlabels)
            return s;
    }
    series_t *s = new_series(m, values);
    if (!s)
        return NULL;
    *m->tail = s;
    m->tail = &s->next;
    return s;
}

static dn_metric_t *add_metric(kind_t kind, const char *name, const char *help, const char *labels,
                               const double *bounds, size_t nbounds, dn_metrics_collect_fn fn, void *arg)
{
    if (!name || !valid_name(name, strlen(name), 1) || nbounds > DN_METRICS_MAX_BUCKETS)
        return NULL;
    if (kind == KIND_HISTOGRAM) {
        if (nbounds == 0)
            return NULL;
        for (size_t i = 0; i < nbounds; i++)
            if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
                return NULL;
    }
    dn_metric_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->kind = kind;
    m->fn = fn;
    m->arg = arg;
    m->nbounds = kind == KIND_HISTOGRAM ? nbounds : 0;
    if (m->nbounds)
        memcpy(m->bounds, bounds, nbounds * sizeof(*bounds));
    m->tail = &m->series;
    if (!(m->name = strdup(name)) || !(m->help = strdup(help ? help : "")) || parse_labels(m, labels) < 0) {
        free_metric(m);
        return NULL;
    }
    pthread_mutex_lock(&lock);
    dn_metric_t *result = m;
    for (dn_metric_t *f = families; f; f = f->next) {
        if (strcmp(f->name, name) == 0) {
            result = same_shape(f, m) ? f : NULL;
            break;
        }
    }
    if (result == m && m->nlabels == 0 && !fn && !find_series(m, NULL))
        result = NULL; /* out of memory for the one series */
    if (result == m) {
        *families_tail = m;
        families_tail = &m->next;
    }
    pthread_mutex_unlock(&lock);
    if (result != m)
        free_metric(m);
    return result;
}

dn_metric_t *dn_metrics_counter(const char *name, const char *help, const char *labels)
{
    return add_metric(KIND_COUNTER, name, help, labels, NULL, 0, NULL, NULL);
}

dn_metric_t *dn_metrics_gauge(const char *name, const char *help, const char *labels)
{
    return add_metric(KIND_GAUGE, name, help, labels, NULL, 0, NULL, NULL);
}

dn_metric_t *dn_metrics_histogram(const char *name, const char *help, const char *labels, const double *bounds,
                                  size_t nbounds)
{
    return add_metric(KIND_HISTOGRAM, name, help, labels, bounds, nbounds, NULL, NULL);
}

dn_metric_t *dn_metrics_gauge_fn(const char *name, const char *help, const char *labels, dn_metrics_collect_fn fn,
                                 void *arg)
{
    if (!fn)
        return NULL;
    return add_metric(KIND_GAUGE, name, help, labels, NULL, 0, fn, arg);
}

void dn_metrics_add(dn_metric_t *m, const char *const *values, double delta)
{
    if (!m || m->fn || m->kind == KIND_HISTOGRAM || (m->kind == KIND_COUNTER && !(delta >= 0)))
        return;
    pthread_mutex_lock(&lock);
    series_t *s = find_series(m, values);
    if (s)
        s->value += delta;
    pthread_mutex_unlock(&lock);
}

void dn_metrics_set(dn_metric_t *m, const char *const *values, double v)
{
    if (!m || m->fn || m->kind != KIND_GAUGE)
        return;
    pthread_mutex_lock(&lock);
    series_t *s = find_series(m, values);
    if (s)
        s->value = v;
    pthread_mutex_unlock(&lock);
}

void dn_metrics_observe(dn_metric_t *m, const char *const *values, double v)
{
    if (!m || m->kind != KIND_HISTOGRAM || isnan(v))
        return;
    pthread_mutex_lock(&lock);
    series_t *s = find_series(m, values);
    if (s) {
        size_t b = 0;
        while (b < m->nbounds && v > m->bounds[b])
            b++;
        s->buckets[b]++;
        s->sum += v;
        s->count++;
    }
    pthread_mutex_unlock(&lock);
}

/* ---- rendering ---- */

/* Shortest text that reads back as the same double; integers without a fraction. */
static void format_value(char *buf, size_t size, double v)
{
    if (isnan(v))
        snprintf(buf, size, "NaN");
    else if (isinf(v))
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
    else if (fabs(v) < 1e15 && v == (double)(int64_t)v)
        snprintf(buf, size, "%" PRId64, (int64_t)v);
    else {
        snprintf(buf, size, "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, size, "%.17g", v);
    }
}

/* Label values escape \, " and newline; HELP text escapes \ and newline. */
static void put_escaped(FILE *out, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (quote && *s == '"')
            fputs("\\\"", out);
        else
            fputc(*s, out);
    }
}

/* name{l1="v1",l2="v2",le="x"} value */
static void put_sample(FILE *out, const dn_metric_t *m, const char *suffix, const char *const *values, const char *le,
                       double v)
{
    char num[64];
    fputs(m->name, out);
    fputs(suffix, out);
    if (m->nlabels || le) {
        fputc('{', out);
        for (size_t i = 0; i < m->nlabels; i++) {
            fprintf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
            put_escaped(out, values && values[i] ? values[i] : "", 1);
            fputc('"', out);
        }
        if (le)
            fprintf(out, "%sle=\"%s\"", m->nlabels ? "," : "", le);
        fputc('}', out);
    }
    format_value(num, sizeof(num), v);
    fprintf(out, " %s\n", num);
}

void dn_metrics_emit(dn_metrics_emitter_t *em, const char *const *values, double v)
{
    put_sample(em->out, em->m, "", values, NULL, v);
}

static void put_metric(FILE *out, const dn_metric_t *m)
{
    fprintf(out, "# HELP %s ", m->name);
    put_escaped(out, m->help, 0);
    fprintf(out, "\n# TYPE %s %s\n", m->name, kind_names[m->kind]);
    if (m->fn) {
        dn_metrics_emitter_t em = {.out = out, .m = m};
        m->fn(&em, m->arg);
        return;
    }
    for (const series_t *s = m->series; s; s = s->next) {
        const char *const *values = (const char *const *)s->values;
        if (m->kind != KIND_HISTOGRAM) {
            put_sample(out, m, "", values, NULL, s->value);
            continue;
        }
        uint64_t cumulative = 0;
        char le[64];
        for (size_t b = 0; b < m->nbounds; b++) {
            cumulative += s->buckets[b];
            format_value(le, sizeof(le), m->bounds[b]);
            put_sample(out, m, "_bucket", values, le, (double)cumulative);
        }
        put_sample(out, m, "_bucket", values, "+Inf", (double)s->count);
        put_sample(out, m, "_sum", values, NULL, s->sum);
        put_sample(out, m, "_count", values, NULL, (double)s->count);
    }
}

int dn_metrics_render(char **out, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return -1;
    pthread_mutex_lock(&lock);
    for (const dn_metric_t *m = families; m; m = m->next)
        put_metric(f, m);
    pthread_mutex_unlock(&lock);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

void dn_metrics_reset(void)
{
    pthread_mutex_lock(&lock);
    dn_metric_t *m = families;
    families = NULL;
    families_tail = &families;
    pthread_mutex_unlock(&lock);
    while (m) {
        dn_metric_t *next = m->next;
        free_metric(m);
        m = next;
    }
}
