#include "dn_web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dn_http.h"
#include "dn_log.h"

#define ROUTES_MAX   64
#define COOKIES_MAX  4
#define PATH_MAX_LEN 1024
#define CSP                                                                                                            \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "              \
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

#define STREAM_QUEUE_MAX (1024 * 1024)

struct dn_web_stream {
    dn_web_t *w;
    struct MHD_Connection *conn;
    char *buf;
    size_t len, cap, off;
    int suspended, ending;
    dn_web_stream_closed_fn closed_fn;
    void *arg;
    dn_web_stream_t *prev, *next; /* the daemon's open streams */
};

typedef struct route {
    char method[8];
    char *pattern;
    dn_web_handler_fn fn;
    int flags;
} route_t;

struct dn_web {
    struct MHD_Daemon *daemon;
    dn_web_conf_t conf; /* strings below are owned copies */
    char *addr_file, *static_dir, *cookie_name;
    route_t routes[ROUTES_MAX];
    size_t nroutes;
    char bound[INET6_ADDRSTRLEN + 10];
    dn_web_stream_t *streams;
};

struct dn_web_req {
    dn_web_t *w;
    struct MHD_Connection *conn;
    const char *method, *path;
    char *body;
    size_t body_len;
    int too_big;
    json_t *json;
    char *params[DN_WEB_PARAMS_MAX];
    char remote[INET6_ADDRSTRLEN];
    dn_web_session_t session;
    int has_session;
    char *cookies[COOKIES_MAX];
    size_t ncookies;
    int replied;
    enum MHD_Result rc;
};

/* ---- replies ---- */

static void add_security_headers(struct MHD_Response *resp, int api)
{
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cache-Control", api ? "no-store" : "no-cache");
}

static void queue(dn_web_req_t *r, unsigned status, struct MHD_Response *resp, const char *type, int api)
{
    if (r->replied) { /* a handler bug: one reply per request */
        dn_log_error("second reply to a request", "path", r->path, NULL);
        if (resp)
            MHD_destroy_response(resp);
        return;
    }
    r->replied = 1;
    if (!resp) {
        r->rc = MHD_NO;
        return;
    }
    if (type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    add_security_headers(resp, api);
    for (size_t i = 0; i < r->ncookies; i++)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->cookies[i]);
    r->rc = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
}

void dn_web_body(dn_web_req_t *r, unsigned status, const char *content_type, char *data, size_t len,
                 const char *disposition)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        free(data);
    if (resp && disposition)
        MHD_add_response_header(resp, "Content-Disposition", disposition);
    queue(r, status, resp, content_type, 1);
}

void dn_web_json(dn_web_req_t *r, unsigned status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s) {
        const char *oom = "{\"error\":\"out of memory\"}";
        queue(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
              MHD_create_response_from_buffer(strlen(oom), (void *)oom, MHD_RESPMEM_PERSISTENT), "application/json", 1);
        return;
    }
    size_t n = strlen(s);
    s[n] = '\n'; /* the NUL becomes the last byte of the body */
    dn_web_body(r, status, "application/json", s, n + 1, NULL);
}

void dn_web_error(dn_web_req_t *r, unsigned status, const char *fmt, ...)
{
    char reason[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    dn_web_json(r, status, json_pack("{s:s}", "error", reason));
}

void dn_web_deny(dn_web_req_t *r, unsigned status, const char *reason)
{
    if (r->w->conf.denied_fn)
        r->w->conf.denied_fn(r->w->conf.arg, r, status, reason);
    dn_web_error(r, status, "%s", reason);
}

void dn_web_set_cookie(dn_web_req_t *r, const char *name, const char *value, long max_age_s)
{
    if (r->ncookies >= COOKIES_MAX)
        return;
    char age[40] = "";
    if (max_age_s >= 0)
        snprintf(age, sizeof(age), "; Max-Age=%ld", max_age_s);
    size_t n = strlen(name) + strlen(value) + 96;
    char *c = malloc(n);
    if (!c)
        return;
    snprintf(c, n, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", name, value, age,
             r->w->conf.secure_cookies ? "; Secure" : "");
    r->cookies[r->ncookies++] = c;
}

/* ---- request accessors ---- */

const char *dn_web_method(const dn_web_req_t *r)
{
    return r->method;
}
const char *dn_web_path(const dn_web_req_t *r)
{
    return r->path;
}
const char *dn_web_remote(const dn_web_req_t *r)
{
    return r->remote;
}
json_t *dn_web_body_json(const dn_web_req_t *r)
{
    return r->json;
}
void *dn_web_user(const dn_web_req_t *r)
{
    return r->has_session ? r->session.user : NULL;
}

const char *dn_web_param(const dn_web_req_t *r, int i)
{
    return i >= 0 && i < DN_WEB_PARAMS_MAX ? r->params[i] : NULL;
}

const char *dn_web_query(const dn_web_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *dn_web_header(const dn_web_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *dn_web_cookie(const dn_web_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

/* ---- paths, MIME types ---- */

int dn_web_path_safe(const char *path)
{
    if (path[0] != '/' || strlen(path) > PATH_MAX_LEN)
        return 0;
    for (const char *p = path; *p; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                 c == '-' || c == '/';
        if (!ok)
            return 0;
        if (c == '/' && (p[1] == '/' || p[1] == '.'))
            return 0;
    }
    return 1;
}

const char *dn_web_mime(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {{".html", "text/html; charset=utf-8"},
                 {".js", "text/javascript; charset=utf-8"},
                 {".mjs", "text/javascript; charset=utf-8"},
                 {".css", "text/css; charset=utf-8"},
                 {".json", "application/json"},
                 {".svg", "image/svg+xml"},
                 {".png", "image/png"},
                 {".ico", "image/x-icon"},
                 {".woff2", "font/woff2"},
                 {".txt", "text/plain; charset=utf-8"},
                 {".pdf", "application/pdf"}};
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* Replies with the static directory's file at URL path `path` (a '/' at its end: its
 * index.html), or 404. */
static void send_static(dn_web_req_t *r, const char *path)
{
    dn_web_t *w = r->w;
    char file[PATH_MAX_LEN + 4096];
    if (!w->static_dir || !dn_web_path_safe(path)) {
        dn_web_error(r, MHD_HTTP_NOT_FOUND, "not found");
        return;
    }
    size_t n = strlen(path);
    snprintf(file, sizeof(file), "%s%s%s", w->static_dir, path, path[n - 1] == '/' ? "index.html" : "");
    int fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        dn_web_error(r, MHD_HTTP_NOT_FOUND, "not found");
        return;
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)st.st_size, fd); /* fd now owned */
    if (!resp)
        close(fd);
    queue(r, MHD_HTTP_OK, resp, dn_web_mime(file), 0);
}

static void serve_static(dn_web_req_t *r)
{
    send_static(r, r->path);
}

void dn_web_file(dn_web_req_t *r, const char *path)
{
    send_static(r, path);
}

/* ---- routing ---- */

int dn_web_route(dn_web_t *w, const char *method, const char *pattern, dn_web_handler_fn fn, int flags)
{
    if (w->nroutes >= ROUTES_MAX || strlen(method) >= sizeof(w->routes[0].method))
        return -1;
    route_t *rt = &w->routes[w->nroutes];
    snprintf(rt->method, sizeof(rt->method), "%s", method);
    if (!(rt->pattern = strdup(pattern)))
        return -1;
    rt->fn = fn;
    rt->flags = flags;
    w->nroutes++;
    return 0;
}

static void free_params(dn_web_req_t *r)
{
    for (int i = 0; i < DN_WEB_PARAMS_MAX; i++) {
        free(r->params[i]);
        r->params[i] = NULL;
    }
}

/* 1 if path matches pattern; the {} segments are copied into r->params. */
static int match(const char *pattern, const char *path, dn_web_req_t *r)
{
    int np = 0;
    const char *p = pattern, *s = path;
    free_params(r);
    while (*p && *s) {
        if (p[0] == '{' && p[1] == '}') {
            size_t len = strcspn(s, "/");
            if (len == 0 || np >= DN_WEB_PARAMS_MAX || !(r->params[np] = strndup(s, len)))
                return 0;
            np++;
            s += len;
            p += 2;
        } else if (*p++ != *s++) {
            return 0;
        }
    }
    return *p == '\0' && *s == '\0';
}

static void dispatch(dn_web_req_t *r)
{
    dn_web_t *w = r->w;
    route_t *found = NULL;
    int path_known = 0;
    for (size_t i = 0; i < w->nroutes && !found; i++)
        if (match(w->routes[i].pattern, r->path, r)) {
            path_known = 1;
            const char *m = r->method;
            if (strcmp(w->routes[i].method, m) == 0 ||
                (strcmp(m, MHD_HTTP_METHOD_HEAD) == 0 && strcmp(w->routes[i].method, "GET") == 0))
                found = &w->routes[i];
        }
    if (!found) {
        int is_get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
        if (path_known)
            dn_web_error(r, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed here", r->method);
        else if (strncmp(r->path, "/api/", 5) == 0 || strcmp(r->path, "/api") == 0 || !is_get)
            dn_web_error(r, MHD_HTTP_NOT_FOUND, "no such endpoint");
        else
            serve_static(r);
        return;
    }
    if (r->too_big) {
        dn_web_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "request body larger than %zu bytes", w->conf.body_max);
        return;
    }
    if (!(found->flags & DN_WEB_PUBLIC)) {
        const char *token = dn_web_cookie(r, w->cookie_name);
        int got = token && token[0] ? w->conf.session_fn(w->conf.arg, r, token, &r->session) : 0;
        if (got < 0) {
            dn_web_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "session store unavailable");
            return;
        }
        if (got == 0) {
            dn_web_deny(r, MHD_HTTP_UNAUTHORIZED, "not logged in");
            return;
        }
        r->has_session = 1;
        if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0) {
            const char *csrf = dn_web_header(r, "X-CSRF-Token");
            size_t n = strlen(r->session.csrf);
            if (!csrf || strlen(csrf) != n || n == 0 || sodium_memcmp(csrf, r->session.csrf, n) != 0) {
                dn_web_deny(r, MHD_HTTP_FORBIDDEN, "missing or wrong X-CSRF-Token");
                return;
            }
        }
    }
    if (r->body_len > 0) {
        const char *ct = dn_web_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (!ct || strncmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';')) {
            dn_web_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "the body must be application/json");
            return;
        }
        json_error_t jerr;
        r->json = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!r->json) {
            dn_web_error(r, MHD_HTTP_BAD_REQUEST, "invalid JSON: %s (line %d, column %d)", jerr.text, jerr.line,
                         jerr.column);
            return;
        }
        if (!json_is_object(r->json)) {
            dn_web_error(r, MHD_HTTP_BAD_REQUEST, "invalid JSON: the body must be an object");
            return;
        }
    }
    found->fn(r, w->conf.arg);
    if (!r->replied) {
        dn_log_error("handler did not reply", "path", r->path, NULL);
        dn_web_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
    }
}

static void client_address(dn_web_req_t *r)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    r->remote[0] = '\0';
    if (r->w->conf.trust_forwarded) {
        const char *xff = dn_web_header(r, "X-Forwarded-For");
        if (xff && *xff) {
            const char *last = strrchr(xff, ',');
            last = last ? last + 1 : xff;
            while (*last == ' ')
                last++;
            snprintf(r->remote, sizeof(r->remote), "%.*s", (int)strcspn(last, " "), last);
            return;
        }
    }
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->remote, sizeof(r->remote));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->remote, sizeof(r->remote));
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    dn_web_t *w = cls;
    dn_web_req_t *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof(*r))))
            return MHD_NO;
        r->w = w;
        r->conn = conn;
        r->method = method;
        r->path = url;
        *con_cls = r;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->too_big || r->body_len + n > w->conf.body_max) {
            r->too_big = 1;
            return MHD_YES;
        }
        char *nb = realloc(r->body, r->body_len + n + 1);
        if (!nb)
            return MHD_NO;
        r->body = nb;
        memcpy(r->body + r->body_len, upload_data, n);
        r->body_len += n;
        r->body[r->body_len] = '\0';
        return MHD_YES;
    }
    r->rc = MHD_YES;
    client_address(r);
    dispatch(r);
    return r->rc;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    dn_web_req_t *r = *con_cls;
    if (!r)
        return;
    if (r->has_session && r->session.free_user)
        r->session.free_user(r->session.user);
    json_decref(r->json);
    free(r->body);
    free_params(r);
    for (size_t i = 0; i < r->ncookies; i++)
        free(r->cookies[i]);
    free(r);
    *con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\r\n")] = '\0';
    dn_log_warn("http server", "detail", msg, NULL);
}

/* ---- start, loop, stop ---- */

static int write_addr_file(const char *path, const char *bound)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int bad = fprintf(f, "%s\n", bound) < 0;
    if (fclose(f) != 0 || bad || rename(tmp, path) < 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

dn_web_t *dn_web_new(const dn_web_conf_t *conf, char *errstr, size_t errstr_size)
{
    char host[256], port[8];
    struct addrinfo *ai = NULL;
    if (dn_http_addr_valid(conf->addr, errstr, errstr_size) < 0)
        return NULL;
    if (!conf->addr || !*conf->addr || !conf->session_fn || !conf->cookie_name || !conf->body_max) {
        snprintf(errstr, errstr_size, "an address, a session lookup, a cookie name and a body limit are needed");
        return NULL;
    }
    if (sodium_init() < 0) {
        snprintf(errstr, errstr_size, "libsodium cannot start");
        return NULL;
    }
    dn_web_t *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    w->conf = *conf;
    w->cookie_name = strdup(conf->cookie_name);
    w->static_dir = conf->static_dir && *conf->static_dir ? strdup(conf->static_dir) : NULL;
    /* "[v6]:port" or "host:port" (already checked by dn_http_addr_valid) */
    const char *a = conf->addr, *colon = strrchr(a, ':');
    size_t hlen = (size_t)(colon - a);
    if (a[0] == '[') {
        a++;
        hlen -= 2;
    }
    snprintf(host, sizeof(host), "%.*s", (int)hlen, a);
    snprintf(port, sizeof(port), "%s", colon + 1);
    struct addrinfo hints = {.ai_flags = AI_PASSIVE | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
    int gai = getaddrinfo(host[0] ? host : "0.0.0.0", port, &hints, &ai);
    if (gai != 0) {
        snprintf(errstr, errstr_size, "%s: %s", conf->addr, gai_strerror(gai));
        goto fail;
    }
    unsigned int flags = MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    w->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, w,
                                 MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
                                 MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!w->daemon) {
        snprintf(errstr, errstr_size, "cannot listen on %s", conf->addr);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(w->daemon, MHD_DAEMON_INFO_LISTEN_FD);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN];
    if (!info || getsockname(info->listen_fd, (struct sockaddr *)&ss, &sl) < 0) {
        snprintf(errstr, errstr_size, "cannot read the address bound for %s", conf->addr);
        goto fail;
    }
    if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip));
        snprintf(w->bound, sizeof(w->bound), "[%s]:%u", ip, ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
        snprintf(w->bound, sizeof(w->bound), "%s:%u", ip, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
    if (conf->addr_file && *conf->addr_file) {
        if (write_addr_file(conf->addr_file, w->bound) < 0 || !(w->addr_file = strdup(conf->addr_file))) {
            snprintf(errstr, errstr_size, "%s: %s", conf->addr_file, strerror(errno));
            goto fail;
        }
    }
    w->conf.addr = w->conf.addr_file = w->conf.static_dir = w->conf.cookie_name = NULL; /* use the copies */
    return w;
fail:
    dn_web_destroy(w);
    return NULL;
}

const char *dn_web_bound(const dn_web_t *w)
{
    return w->bound;
}

int dn_web_run(dn_web_t *w, int timeout_ms)
{
    fd_set rs, ws, es;
    MHD_socket max = 0;
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_ZERO(&es);
    if (MHD_get_fdset(w->daemon, &rs, &ws, &es, &max) != MHD_YES)
        return -1;
    MHD_UNSIGNED_LONG_LONG mhd_ms;
    if (MHD_get_timeout(w->daemon, &mhd_ms) == MHD_YES && mhd_ms < (MHD_UNSIGNED_LONG_LONG)timeout_ms)
        timeout_ms = (int)mhd_ms;
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    if (select(max + 1, &rs, &ws, &es, &tv) < 0 && errno != EINTR)
        return -1;
    MHD_run_from_select(w->daemon, &rs, &ws, &es);
    return 0;
}

void dn_web_destroy(dn_web_t *w)
{
    if (!w)
        return;
    /* a suspended connection must be resumed before the daemon stops */
    for (dn_web_stream_t *s = w->streams; s; s = s->next)
        dn_web_stream_end(s);
    if (w->daemon && w->streams)
        MHD_run(w->daemon);
    if (w->daemon)
        MHD_stop_daemon(w->daemon);
    if (w->addr_file)
        unlink(w->addr_file);
    for (size_t i = 0; i < w->nroutes; i++)
        free(w->routes[i].pattern);
    free(w->addr_file);
    free(w->static_dir);
    free(w->cookie_name);
    free(w);
}

/* ---- server-sent events ---- */

static void stream_wake(dn_web_stream_t *s)
{
    if (s->suspended) {
        s->suspended = 0;
        MHD_resume_connection(s->conn);
    }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    dn_web_stream_t *s = cls;
    if (s->off < s->len) {
        size_t n = s->len - s->off < max ? s->len - s->off : max;
        memcpy(out, s->buf + s->off, n);
        s->off += n;
        if (s->off == s->len)
            s->off = s->len = 0;
        return (ssize_t)n;
    }
    if (s->ending)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* nothing to send: wait without polling until dn_web_stream_send resumes it */
    s->suspended = 1;
    MHD_suspend_connection(s->conn);
    return 0;
}

static void stream_free(void *cls)
{
    dn_web_stream_t *s = cls;
    if (s->prev)
        s->prev->next = s->next;
    else
        s->w->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (s->closed_fn)
        s->closed_fn(s->arg, s);
    free(s->buf);
    free(s);
}

dn_web_stream_t *dn_web_stream(dn_web_req_t *r, dn_web_stream_closed_fn closed_fn, void *arg)
{
    dn_web_stream_t *s = calloc(1, sizeof(*s));
    struct MHD_Response *resp =
        s ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free) : NULL;
    if (!resp) {
        free(s);
        dn_web_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return NULL;
    }
    s->w = r->w;
    s->conn = r->conn;
    s->arg = arg;
    s->next = r->w->streams;
    if (s->next)
        s->next->prev = s;
    r->w->streams = s;
    dn_web_stream_send(s, NULL, NULL);                        /* the first bytes: the client knows the stream is open */
    MHD_add_response_header(resp, "X-Accel-Buffering", "no"); /* a proxy must not hold events back */
    queue(r, MHD_HTTP_OK, resp, "text/event-stream; charset=utf-8", 1);
    if (r->rc != MHD_YES)
        return NULL; /* the response, and s with it, is gone (closed_fn was not set: not called) */
    s->closed_fn = closed_fn;
    return s;
}

int dn_web_stream_send(dn_web_stream_t *s, const char *event, const char *data)
{
    if (s->ending)
        return -1;
    size_t need = (event ? strlen(event) + 8 : 0) + (data ? strlen(data) + 8 : 8) + 2;
    if (s->len + need > STREAM_QUEUE_MAX) {
        dn_web_stream_end(s);
        return -1;
    }
    if (s->len + need + 1 > s->cap) {
        size_t cap = (s->len + need + 1) * 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) {
            dn_web_stream_end(s);
            return -1;
        }
        s->buf = nb;
        s->cap = cap;
    }
    int n;
    if (!data)
        n = snprintf(s->buf + s->len, s->cap - s->len, ": ping\n\n");
    else if (event)
        n = snprintf(s->buf + s->len, s->cap - s->len, "event: %s\ndata: %s\n\n", event, data);
    else
        n = snprintf(s->buf + s->len, s->cap - s->len, "data: %s\n\n", data);
    s->len += (size_t)n;
    stream_wake(s);
    return 0;
}

void dn_web_stream_end(dn_web_stream_t *s)
{
    s->ending = 1;
    stream_wake(s);
}

/* ---- dn_web_limit ---- */

typedef struct limit_slot {
    char key[INET6_ADDRSTRLEN];
    int64_t window_start, last;
    unsigned count;
} limit_slot_t;

struct dn_web_limit {
    limit_slot_t *slots;
    size_t nslots;
    unsigned max;
    int64_t window_ms;
};

dn_web_limit_t *dn_web_limit_new(size_t slots, unsigned max, int64_t window_ms)
{
    dn_web_limit_t *l = calloc(1, sizeof(*l));
    if (!l || !(l->slots = calloc(slots, sizeof(*l->slots)))) {
        free(l);
        return NULL;
    }
    l->nslots = slots;
    l->max = max;
    l->window_ms = window_ms;
    return l;
}

/* The key's slot; with create, the key's or else the least recently used one, reset. */
static limit_slot_t *limit_slot(dn_web_limit_t *l, const char *key, int64_t now_ms, int create)
{
    limit_slot_t *lru = &l->slots[0];
    for (size_t i = 0; i < l->nslots; i++) {
        limit_slot_t *s = &l->slots[i];
        if (s->key[0] && strcmp(s->key, key) == 0) {
            if (now_ms - s->window_start >= l->window_ms) {
                s->window_start = now_ms;
                s->count = 0;
            }
            return s;
        }
        if (s->last < lru->last)
            lru = s;
    }
    if (!create)
        return NULL;
    snprintf(lru->key, sizeof(lru->key), "%s", key);
    lru->window_start = now_ms;
    lru->count = 0;
    return lru;
}

/* A key as the slots hold it: itself when it fits, else the hex of its BLAKE2b-128 (a
 * portal link, say), so that long keys neither collide on a prefix nor miss. */
static const char *slot_key(const char *key, char out[INET6_ADDRSTRLEN])
{
    size_t n = strlen(key);
    if (n < INET6_ADDRSTRLEN)
        return key;
    unsigned char h[16];
    crypto_generichash(h, sizeof(h), (const unsigned char *)key, n, NULL, 0);
    sodium_bin2hex(out, INET6_ADDRSTRLEN, h, sizeof(h));
    return out;
}

int dn_web_limit_hit(dn_web_limit_t *l, const char *key, int64_t now_ms)
{
    char hk[INET6_ADDRSTRLEN];
    key = slot_key(key, hk);
    limit_slot_t *s = limit_slot(l, key, now_ms, 1);
    s->last = now_ms;
    if (s->count < l->max)
        s->count++;
    return s->count < l->max;
}

int dn_web_limit_blocked(dn_web_limit_t *l, const char *key, int64_t now_ms)
{
    char hk[INET6_ADDRSTRLEN];
    key = slot_key(key, hk);
    limit_slot_t *s = limit_slot(l, key, now_ms, 0);
    return s && s->count >= l->max;
}

void dn_web_limit_destroy(dn_web_limit_t *l)
{
    if (!l)
        return;
    free(l->slots);
    free(l);
}
