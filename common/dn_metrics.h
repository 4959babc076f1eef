/* dn_metrics: the process's Prometheus registry, rendered in the text exposition
 * format 0.0.4 (served as GET /metrics by dn_http).
 *
 * Counters, gauges and histograms with up to DN_METRICS_MAX_LABELS label names, fixed
 * at registration as a comma-separated list ("topic,result"). The label values are
 * given with each update; a series is created the first time its values are used (an
 * unlabelled metric has its one series from the start, so it shows 0). One mutex guards
 * everything: the service loop updates while the HTTP thread renders.
 *
 *   static dn_metric_t *consumed;
 *   consumed = dn_metrics_counter("dunning_events_consumed_total", "Records consumed.", "topic,result");
 *   dn_metrics_add(consumed, DN_LABELS(topic, "ok"), 1);
 *   dn_metrics_observe(latency, NULL, 0.042);   (unlabelled: values NULL)
 *
 * Gauges come in two kinds. A plain gauge holds what the service last set
 * (dn_metrics_set): services set those from their loop, e.g. every few seconds for
 * values that cost a Redis or PostgreSQL round trip on the loop's own connection. A
 * callback gauge (dn_metrics_gauge_fn) is evaluated at render time, on the HTTP thread:
 * for values that are cheap and thread-safe to read on demand (Kafka consumer lag from
 * librdkafka's local state).
 *
 * Registration returns a handle valid until dn_metrics_reset(). It returns NULL for an
 * invalid name or label list, a name already registered with another type or labels,
 * or when out of memory; every update on a NULL handle does nothing. Registering the
 * same name again with the same type and labels returns the existing metric. */
#ifndef DN_METRICS_H
#define DN_METRICS_H

#include <stddef.h>

#define DN_METRICS_MAX_LABELS  3
#define DN_METRICS_MAX_BUCKETS 32

typedef struct dn_metric dn_metric_t;

/* Label values of one update, in the order of the registered names: DN_LABELS(topic, "ok"). */
#define DN_LABELS(...) ((const char *const[]){__VA_ARGS__})
/* Histogram bucket upper bounds (strictly increasing; +Inf is implied) and their count,
 * as the last two arguments of dn_metrics_histogram. */
#define DN_METRICS_BUCKETS(...) (const double[]){__VA_ARGS__}, sizeof((const double[]){__VA_ARGS__}) / sizeof(double)
/* Latencies in seconds, 1 ms to 10 s. */
#define DN_METRICS_LATENCY_BUCKETS DN_METRICS_BUCKETS(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10)
/* Batch sizes (records per batch). */
#define DN_METRICS_SIZE_BUCKETS DN_METRICS_BUCKETS(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)

/* labels: "" or NULL for none, else "name1,name2" (at most 3; "le" is reserved). */
dn_metric_t *dn_metrics_counter(const char *name, const char *help, const char *labels);
dn_metric_t *dn_metrics_gauge(const char *name, const char *help, const char *labels);
dn_metric_t *dn_metrics_histogram(const char *name, const char *help, const char *labels, const double *bounds,
                                  size_t nbounds);

/* A callback gauge. At every render, with the registry locked, fn reports its series by
 * calling dn_metrics_emit (any number of times, once per set of label values). fn runs on
 * the rendering thread: it must be thread-safe, must return quickly, and must not call
 * any other dn_metrics function. */
typedef struct dn_metrics_emitter dn_metrics_emitter_t;
typedef void (*dn_metrics_collect_fn)(dn_metrics_emitter_t *em, void *arg);
dn_metric_t *dn_metrics_gauge_fn(const char *name, const char *help, const char *labels, dn_metrics_collect_fn fn,
                                 void *arg);
void dn_metrics_emit(dn_metrics_emitter_t *em, const char *const *values, double v);

/* values: one per label name (NULL when the metric has none); a NULL value is "".
 * Counters: delta >= 0 (a negative delta is ignored). Gauges: add (or subtract) and set. */
void dn_metrics_add(dn_metric_t *m, const char *const *values, double delta);
void dn_metrics_set(dn_metric_t *m, const char *const *values, double v);
void dn_metrics_observe(dn_metric_t *m, const char *const *values, double v);

/* Every metric in registration order, series in creation order: # HELP, # TYPE, samples;
 * histograms as _bucket{le=...} (cumulative, ending with +Inf), _sum and _count. *out is
 * malloc'd (caller frees). 0, or -1 when out of memory. */
int dn_metrics_render(char **out, size_t *len);
/* Forgets every metric (tests; the end of main). Handles become invalid. */
void dn_metrics_reset(void);

#endif
