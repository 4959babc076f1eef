/* dn_web: the small web layer of the console (and, later, the customer portal).
 *
 * libmicrohttpd driven from the service's own loop (dn_web_run: no thread of its own),
 * routes by method and path pattern ("/api/cases/{}": a {} matches one path segment),
 * bounded request bodies, jansson JSON in and out, errors as {"error": "reason"}, cookies,
 * a session lookup through the application's callback, a CSRF check on every
 * state-changing request, security headers on every reply, static files from a directory,
 * and a per-address limit for logins (dn_web_limit).
 *
 * Every reply carries:
 *   Content-Security-Policy  default-src 'self'; no inline script or style, no framing
 *   X-Content-Type-Options   nosniff
 *   X-Frame-Options          DENY
 *   Referrer-Policy          no-referrer
 *   Cache-Control            no-store (API and errors), no-cache (static files)
 *
 * Requests, in order:
 *   1. the body is read up to body_max bytes (413 beyond)
 *   2. a route is looked up: none for the path -> 404 (/api/...) or a static file (GET/HEAD);
 *      the path but not the method -> 405
 *   3. unless the route is DN_WEB_PUBLIC: the session cookie is looked up with session_fn;
 *      none -> 401; a method other than GET/HEAD needs the header X-CSRF-Token equal to
 *      the session's csrf token -> else 403
 *   4. a non-empty body must be Content-Type application/json (415) and parse as a JSON
 *      object (400 with the parser's reason)
 *   5. the handler runs and replies with dn_web_json, dn_web_error or dn_web_body.
 * Refusals in step 3 (and dn_web_deny by a handler) call denied_fn, for the access log.
 *
 * TLS: the service speaks plain HTTP on loopback or a private address; TLS ends at a
 * reverse proxy in front of it (docs/console.md). secure_cookies adds Secure to the
 * cookies (set it whenever users reach the service over https), trust_forwarded takes the
 * client address from the last X-Forwarded-For entry (only behind such a proxy). */
#ifndef DN_WEB_H
#define DN_WEB_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dn_web dn_web_t;
typedef struct dn_web_req dn_web_req_t;

#define DN_WEB_CSRF_MAX   96
#define DN_WEB_PARAMS_MAX 4

/* What the application's session lookup gives back. user is the application's (freed by
 * free_user after the request); csrf the token the request must echo in X-CSRF-Token. */
typedef struct dn_web_session {
    void *user;
    void (*free_user)(void *user);
    char csrf[DN_WEB_CSRF_MAX];
} dn_web_session_t;

/* 1 found (out filled), 0 no such session (or expired), -1 error (the request gets 500). */
typedef int (*dn_web_session_fn)(void *arg, dn_web_req_t *req, const char *token, dn_web_session_t *out);
/* A refusal: status 401/403/429 or a handler's dn_web_deny; reason as in the reply. */
typedef void (*dn_web_denied_fn)(void *arg, dn_web_req_t *req, unsigned status, const char *reason);
typedef void (*dn_web_handler_fn)(dn_web_req_t *req, void *arg);

typedef struct dn_web_conf {
    const char *addr;        /* "host:port" (dn_http_addr_valid syntax; port 0: any free port) */
    const char *addr_file;   /* written with the bound address when not NULL/"" */
    const char *static_dir;  /* files served for GET paths outside /api/ (NULL: none) */
    const char *cookie_name; /* the session cookie */
    size_t body_max;         /* bytes */
    int secure_cookies;      /* add Secure */
    int trust_forwarded;     /* client address from X-Forwarded-For */
    dn_web_session_fn session_fn;
    dn_web_denied_fn denied_fn;
    void *arg; /* passed to session_fn, denied_fn and the handlers */
} dn_web_conf_t;

enum {
    DN_WEB_PUBLIC = 1, /* no session needed (and so no CSRF check): the login */
};

/* Binds and starts listening (strings in conf are copied). NULL with errstr. */
dn_web_t *dn_web_new(const dn_web_conf_t *conf, char *errstr, size_t errstr_size);
/* "host:port" actually bound. */
const char *dn_web_bound(const dn_web_t *w);
/* Adds a route; method "GET", "POST", ...; pattern segments "{}" capture. 0/-1 (too many). */
int dn_web_route(dn_web_t *w, const char *method, const char *pattern, dn_web_handler_fn fn, int flags);
/* Serves what is ready, waiting at most timeout_ms for something to happen. 0/-1. */
int dn_web_run(dn_web_t *w, int timeout_ms);
/* Stops listening, ends open connections, frees. NULL does nothing. */
void dn_web_destroy(dn_web_t *w);

/* ---- in a handler ---- */
const char *dn_web_method(const dn_web_req_t *r);
const char *dn_web_path(const dn_web_req_t *r);
/* The i-th {} of the pattern (URL-decoded), or NULL. */
const char *dn_web_param(const dn_web_req_t *r, int i);
/* A query-string argument (decoded), or NULL. */
const char *dn_web_query(const dn_web_req_t *r, const char *name);
const char *dn_web_header(const dn_web_req_t *r, const char *name);
const char *dn_web_cookie(const dn_web_req_t *r, const char *name);
const char *dn_web_remote(const dn_web_req_t *r);
/* The parsed JSON object of the body (borrowed), or NULL when the body was empty. */
json_t *dn_web_body_json(const dn_web_req_t *r);
/* The session's user (the application's), NULL on public routes. */
void *dn_web_user(const dn_web_req_t *r);

/* Adds "Set-Cookie: name=value; Path=/; HttpOnly; SameSite=Strict[; Secure]" to the reply;
 * max_age_s < 0 omits Max-Age (a browser-session cookie), 0 deletes the cookie. */
void dn_web_set_cookie(dn_web_req_t *r, const char *name, const char *value, long max_age_s);
/* Replies: each takes ownership of what it is given (body: JSON decref'd; data freed). */
void dn_web_json(dn_web_req_t *r, unsigned status, json_t *body);
void dn_web_error(dn_web_req_t *r, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A refusal by the application (e.g. a role without the right): the error reply, and denied_fn. */
void dn_web_deny(dn_web_req_t *r, unsigned status, const char *reason);
void dn_web_body(dn_web_req_t *r, unsigned status, const char *content_type, char *data, size_t len,
                 const char *disposition);
/* Replies with a file of the static directory, as a GET of `path` outside a route would
 * (e.g. one page for every /p/{token}): 404 when there is none. */
void dn_web_file(dn_web_req_t *r, const char *path);

/* ---- server-sent events (text/event-stream) ----
 * dn_web_stream replies 200 with an event stream that stays open: the handler keeps the
 * returned handle and sends on it later, from the service's loop, with dn_web_stream_send.
 * The connection is suspended while nothing is queued (no busy loop) and resumed by a send.
 * closed_fn(arg, s) is called once when the connection has ended (client gone, timeout, or
 * dn_web_stream_end, or dn_web_destroy); after it the handle is freed and must not be used.
 * When dn_web_stream returns NULL (out of memory, the connection failed), closed_fn is
 * never called.
 * A stream queues at most 1 MiB: a client that reads nothing is cut off (closed_fn). */
typedef struct dn_web_stream dn_web_stream_t;
typedef void (*dn_web_stream_closed_fn)(void *arg, dn_web_stream_t *s);
/* NULL (and a 500 reply) when out of memory. */
dn_web_stream_t *dn_web_stream(dn_web_req_t *r, dn_web_stream_closed_fn closed_fn, void *arg);
/* Queues one event: "event: <event>\ndata: <data>\n\n" (data without newlines: JSON in
 * compact form); event NULL sends data alone; data NULL sends a comment (": ping"), which
 * keeps the connection alive through proxies. 0/-1 (over the queue limit: the stream ends). */
int dn_web_stream_send(dn_web_stream_t *s, const char *event, const char *data);
/* Ends the stream after what is queued (closed_fn follows once the connection has gone). */
void dn_web_stream_end(dn_web_stream_t *s);

/* ---- dn_web_limit: at most max events per window per key (client address) ---- */
typedef struct dn_web_limit dn_web_limit_t;
/* slots: how many keys are tracked (the oldest is forgotten when full). */
dn_web_limit_t *dn_web_limit_new(size_t slots, unsigned max, int64_t window_ms);
/* Records an event for key at now_ms; 1 if it is within the limit, 0 if over it. */
int dn_web_limit_hit(dn_web_limit_t *l, const char *key, int64_t now_ms);
/* 1 if key is over the limit at now_ms (without recording anything). */
int dn_web_limit_blocked(dn_web_limit_t *l, const char *key, int64_t now_ms);
void dn_web_limit_destroy(dn_web_limit_t *l);

/* The MIME type of a file name, by its extension ("application/octet-stream" when unknown). */
const char *dn_web_mime(const char *path);
/* 1 if path (the URL path) is safe to map into the static directory: starts with '/', only
 * [A-Za-z0-9._-/], no empty segment and no segment starting with '.'. */
int dn_web_path_safe(const char *path);

#endif
