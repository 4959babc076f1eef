/* dn_http: a service's operations endpoint (libmicrohttpd, one internal thread).
 *
 *   GET /healthz  200 "ok" while the process runs (liveness)
 *   GET /readyz   200 "ready", or 503 with one "name: reason" line per failing check
 *                 (and "shutdown: ..." once a stop was requested)
 *   GET /metrics  dn_metrics_render(), Content-Type text/plain; version=0.0.4
 * HEAD is answered like GET without the body; any other method gets 405, any other
 * path 404.
 *
 * The address is "host:port" or "[ipv6]:port"; port 0 picks a free port and an empty
 * host listens on every IPv4 interface. The bound address is logged ("http listening",
 * addr) and, when addr_file is given, written to that file as one "host:port" line
 * (atomically, by rename; removed again by dn_http_destroy).
 *
 * Readiness checks run on the HTTP thread, one after the other, at every /readyz: they
 * must be thread-safe and quick. Prefer reading a flag the service loop keeps up to date
 * over touching a connection the loop owns. */
#ifndef DN_HTTP_H
#define DN_HTTP_H

#include <stddef.h>

typedef struct dn_http dn_http_t;

/* Returns 1 when ready; else 0 with a short reason (one line) in why. */
typedef int (*dn_http_check_fn)(void *arg, char *why, size_t why_size);

typedef struct dn_http_check {
    const char *name; /* "kafka", "postgres", ... (a string literal: not copied) */
    dn_http_check_fn fn;
    void *arg;
} dn_http_check_t;

#define DN_HTTP_MAX_CHECKS 8

/* Syntax check of an address (no name lookup), for configuration validation: 0, or -1
 * with errstr. "" is valid (disabled). */
int dn_http_addr_valid(const char *addr, char *errstr, size_t errstr_size);

/* Starts serving on addr with the given readiness checks (copied). An empty addr
 * returns a handle that serves nothing (dn_http_bound gives ""). NULL with errstr when
 * the address is invalid, cannot be bound, or addr_file cannot be written. */
dn_http_t *dn_http_start(const char *addr, const char *addr_file, const dn_http_check_t *checks, size_t nchecks,
                         char *errstr, size_t errstr_size);
/* The bound "host:port" ("" when disabled). */
const char *dn_http_bound(const dn_http_t *h);
/* Stops the server (waits for the request in progress), removes addr_file, frees. NULL
 * does nothing. Call it before destroying what the checks and callback gauges read. */
void dn_http_destroy(dn_http_t *h);

#endif
