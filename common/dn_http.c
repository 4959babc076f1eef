#include "dn_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dn_log.h"
#include "dn_metrics.h"
#include "dn_signal.h"

#define TEXT_PLAIN    "text/plain; charset=utf-8"
#define TEXT_METRICS  "text/plain; version=0.0.4; charset=utf-8"
#define HOST_MAX      256
#define BOUND_MAX     (INET6_ADDRSTRLEN + 10)
#define WHY_MAX       256
#define ADDR_FILE_MAX 4096

struct dn_http {
    struct MHD_Daemon *daemon;
    dn_http_check_t checks[DN_HTTP_MAX_CHECKS];
    size_t nchecks;
    char bound[BOUND_MAX];
    char *addr_file; /* written, to remove at the end */
    atomic_int starting;
    char start_err[256]; /* what libmicrohttpd said while starting */
};

/* Splits "host:port" or "[v6]:port". 0, or -1 with errstr. */
static int split_addr(const char *addr, char *host, size_t host_size, char *port, size_t port_size, char *errstr,
                      size_t errstr_size)
{
    const char *h, *hend, *colon;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':') {
            snprintf(errstr, errstr_size, "'%s' is not [ipv6-address]:port", addr);
            return -1;
        }
        h = addr + 1;
        hend = close;
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon) {
            snprintf(errstr, errstr_size, "'%s' is not host:port", addr);
            return -1;
        }
        h = addr;
        hend = colon;
        if (memchr(h, ':', (size_t)(hend - h))) {
            snprintf(errstr, errstr_size, "'%s': write an IPv6 address in brackets, e.g. [::1]:9464", addr);
            return -1;
        }
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    long v = 0;
    for (size_t i = 0; i < plen; i++) {
        if (p[i] < '0' || p[i] > '9' || i >= 5) {
            v = -1;
            break;
        }
        v = v * 10 + (p[i] - '0');
    }
    if (plen == 0 || v < 0 || v > 65535) {
        snprintf(errstr, errstr_size, "'%s': the port must be a number from 0 to 65535", addr);
        return -1;
    }
    if ((size_t)(hend - h) >= host_size || plen >= port_size) {
        snprintf(errstr, errstr_size, "'%s': host name too long", addr);
        return -1;
    }
    memcpy(host, h, (size_t)(hend - h));
    host[hend - h] = '\0';
    memcpy(port, p, plen + 1);
    return 0;
}

int dn_http_addr_valid(const char *addr, char *errstr, size_t errstr_size)
{
    char host[HOST_MAX], port[8];
    if (!addr || !*addr)
        return 0;
    return split_addr(addr, host, sizeof(host), port, sizeof(port), errstr, errstr_size);
}

/* ---- requests ---- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status, const char *type, void *body, size_t len,
                             enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned int status, const char *body)
{
    return reply(conn, status, TEXT_PLAIN, (void *)body, strlen(body), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result readyz(dn_http_t *h, struct MHD_Connection *conn)
{
    char body[DN_HTTP_MAX_CHECKS * (WHY_MAX + 40) + 64];
    size_t off = 0;
    if (dn_signal_stopping())
        off += (size_t)snprintf(body + off, sizeof(body) - off, "shutdown: the service is stopping\n");
    for (size_t i = 0; i < h->nchecks; i++) {
        char why[WHY_MAX] = "";
        if (h->checks[i].fn(h->checks[i].arg, why, sizeof(why)))
            continue;
        why[strcspn(why, "\r\n")] = '\0';
        off +=
            (size_t)snprintf(body + off, sizeof(body) - off, "%s: %s\n", h->checks[i].name, why[0] ? why : "not ready");
    }
    if (off == 0)
        return text(conn, MHD_HTTP_OK, "ready\n");
    return reply(conn, MHD_HTTP_SERVICE_UNAVAILABLE, TEXT_PLAIN, body, strlen(body), MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result metrics(struct MHD_Connection *conn)
{
    char *buf = NULL;
    size_t len = 0;
    if (dn_metrics_render(&buf, &len) < 0)
        return text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render the metrics (out of memory)\n");
    return reply(conn, MHD_HTTP_OK, TEXT_METRICS, buf, len, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    dn_http_t *h = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (strcmp(url, "/healthz") == 0)
        return text(conn, MHD_HTTP_OK, "ok\n");
    if (strcmp(url, "/readyz") == 0)
        return readyz(h, conn);
    if (strcmp(url, "/metrics") == 0)
        return metrics(conn);
    return text(conn, MHD_HTTP_NOT_FOUND, "not found\n");
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    dn_http_t *h = cls;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    if (atomic_load(&h->starting))
        snprintf(h->start_err, sizeof(h->start_err), "%s", msg);
    else
        dn_log_warn("http server", "detail", msg, NULL);
}

/* ---- start and stop ---- */

static int format_bound(int fd, char *out, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN];
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -1;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        if (!inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip)))
            return -1;
        snprintf(out, size, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        if (!inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip)))
            return -1;
        snprintf(out, size, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    } else {
        return -1;
    }
    return 0;
}

static int write_addr_file(const char *path, const char *bound, char *errstr, size_t errstr_size)
{
    char tmp[ADDR_FILE_MAX + 32];
    if (strlen(path) >= ADDR_FILE_MAX) {
        snprintf(errstr, errstr_size, "DUNNING_HTTP_ADDR_FILE: path too long");
        return -1;
    }
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    int bad = fprintf(f, "%s\n", bound) < 0;
    if (fclose(f) != 0 || bad || rename(tmp, path) < 0) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

dn_http_t *dn_http_start(const char *addr, const char *addr_file, const dn_http_check_t *checks, size_t nchecks,
                         char *errstr, size_t errstr_size)
{
    char host[HOST_MAX], port[8];
    struct addrinfo *ai = NULL;
    dn_http_t *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (nchecks > DN_HTTP_MAX_CHECKS) {
        snprintf(errstr, errstr_size, "more than %d readiness checks", DN_HTTP_MAX_CHECKS);
        goto fail;
    }
    if (nchecks)
        memcpy(h->checks, checks, nchecks * sizeof(*checks));
    h->nchecks = nchecks;
    if (!addr || !*addr)
        return h; /* disabled */
    if (split_addr(addr, host, sizeof(host), port, sizeof(port), errstr, errstr_size) < 0)
        goto fail;
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(host[0] ? host : "0.0.0.0", port, &hints, &ai);
    if (gai != 0) {
        snprintf(errstr, errstr_size, "%s: %s", addr, gai_strerror(gai));
        goto fail;
    }
    unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The server thread inherits this mask: termination signals go to the service's threads. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    atomic_store(&h->starting, 1);
    h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                 MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                                 MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    freeaddrinfo(ai);
    if (!h->daemon) {
        /* libmicrohttpd says "Failed to bind to port 0: Address already in use" (the port
         * argument, not the one asked for): keep the reason. */
        const char *why = strrchr(h->start_err, ':');
        snprintf(errstr, errstr_size, "cannot listen on %s: %s", addr,
                 why && why[1] == ' ' ? why + 2
                 : h->start_err[0]    ? h->start_err
                                      : "libmicrohttpd refused to start");
        goto fail;
    }
    atomic_store(&h->starting, 0);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    if (!info || format_bound(info->listen_fd, h->bound, sizeof(h->bound)) < 0) {
        snprintf(errstr, errstr_size, "cannot read the address bound for %s", addr);
        goto fail;
    }
    if (addr_file && *addr_file) {
        if (write_addr_file(addr_file, h->bound, errstr, errstr_size) < 0)
            goto fail;
        if (!(h->addr_file = strdup(addr_file))) {
            unlink(addr_file);
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
    }
    dn_log_info("http listening", "addr", h->bound, "paths", "/healthz /readyz /metrics", NULL);
    return h;
fail:
    dn_http_destroy(h);
    return NULL;
}

const char *dn_http_bound(const dn_http_t *h)
{
    return h->bound;
}

void dn_http_destroy(dn_http_t *h)
{
    if (!h)
        return;
    if (h->daemon)
        MHD_stop_daemon(h->daemon);
    if (h->addr_file)
        unlink(h->addr_file);
    free(h->addr_file);
    free(h);
}
