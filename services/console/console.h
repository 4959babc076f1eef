/* services/console: the credit-manager console's JSON API (docs/console.md).
 *
 * One thread, one loop: libdnweb serves requests from the loop (dn_web_run), libpq runs
 * synchronously on it, case actions go out as CaseCommands through the Kafka producer
 * (dn_publish). The console never writes case state: only its own tables (users' sessions,
 * the access log, assignments and notes; sql/013_console.sql, sql/017_console_worklist.sql). */
#ifndef CONSOLE_H
#define CONSOLE_H

#include <stdint.h>

#include "dn_buf.h"
#include "dn_config.h"
#include "dn_kafka.h"
#include "dn_pg.h"
#include "dn_policy.h"
#include "dn_web.h"

typedef struct console_cfg {
    dn_common_cfg_t common;
    char *addr;
    char *addr_file;
    char *static_dir;
    char *policy_file;
    int64_t idle_ms;
    int64_t session_ms;
    int secure_cookies;
    int trust_forwarded;
    int64_t login_max;
    int64_t login_window_ms;
    int64_t worklist_max;
    int64_t publish_ms;
    char *spool_dir;  /* sender-letter's DUNNING_LETTER_SPOOL_DIR: the letters' PDFs */
    char *audio_dir;  /* sender-voice's DUNNING_VOICE_AUDIO_DIR: the calls' messages */
    char *lag_groups; /* DUNNING_CONSOLE_LAG_GROUPS: group=topic,topic;... */
} console_cfg_t;

typedef struct console_sub console_sub_t; /* events.c: an open event stream */
typedef struct console_dl console_dl_t;   /* deadletters.c: what is kept of a dead letter */
typedef struct console_lag console_lag_t; /* lag.c: the consumer groups watched */

typedef struct console {
    console_cfg_t cfg;
    dn_pg_t *pg;
    dn_kafka_producer_t *producer;
    policy_set_t *policies;
    dn_web_limit_t *login_limit;
    dn_web_t *web;
    char *wl_strategies;           /* worklist_rows.c: the strategies' scoring SQL (and fingerprint) */
    char *wl_insert_sql;           /* the open cases' facts, scored, into console_worklist */
    char *wl_reprice_sql;          /* the rows scored again for a new day */
    int64_t wl_synced_ms;          /* real time of the last worklist_sync */
    dn_kafka_consumer_t *consumer; /* dunning-case-events, for the event streams */
    console_sub_t *subs;
    size_t nsubs;
    int64_t last_ping_ms;
    dn_kafka_consumer_t *dl_consumer; /* dead-letter, for the overview */
    console_dl_t *dl;                 /* a ring of dl_n, oldest at dl_first */
    size_t dl_first, dl_n, dl_dropped;
    console_lag_t *lag;
} console_t;

typedef enum { ROLE_VIEWER = 0, ROLE_COLLECTOR, ROLE_MANAGER, ROLE_ADMIN } console_role_t;

/* The logged-in user of a request (dn_web_user). */
typedef struct console_user {
    int64_t user_id;
    char login[72];
    console_role_t role;
    char *tenants;              /* PostgreSQL array literal, as stored ({a,b} or {*}): every query's scope */
    char *tenants_json;         /* the same as a JSON array */
    char csrf[DN_WEB_CSRF_MAX]; /* the session's CSRF token (GET /api/me gives it to a reloaded page) */
} console_user_t;

#define COOKIE_NAME "dn_console"

/* access.c: what every handler shares. */
/* A row of console_access_log (kind login|login_failed|logout|denied|action); detail may be NULL. */
void access_log(console_t *c, dn_web_req_t *req, const char *login, const char *kind, json_t *detail);
const char *role_name(console_role_t r);
/* Replies 500 after a database error (logged with the request's path). */
void console_db_error(console_t *c, dn_web_req_t *req);

/* csv.c: appends one field (and "," or, for the last of a row, CRLF). A field with , " CR
 * or LF is quoted; one starting with = + - @ gets a leading ' so that a spreadsheet does
 * not run it as a formula. */
void csv_field(dn_buf_t *b, const char *v, int last);

/* auth.c: login, logout, me; the session lookup and the denials' access log rows. */
void auth_routes(console_t *c);
int auth_session(void *arg, dn_web_req_t *req, const char *token, dn_web_session_t *out);
void auth_denied(void *arg, dn_web_req_t *req, unsigned status, const char *reason);

/* worklist.c: GET /api/worklist (JSON or CSV). */
void worklist_routes(console_t *c);

/* worklist_rows.c: the worklist's rows (sql/024). worklist_rows_build compiles the tenants'
 * strategies to SQL and, with it, the rows'
 * statements (0/-1); worklist_sync brings the rows up to date (all: until the audit
 * trail's end, else one batch; 0/-1, logged); worklist_sync_poll does that every second.
 * A page's rows are checked against their cases before they are shown (worklist_refresh),
 * so a change that left no audit row is seen where it matters. */
int worklist_rows_build(console_t *c);
void worklist_rows_free(console_t *c);
int worklist_sync(console_t *c, int all);
void worklist_sync_poll(console_t *c);
/* Reads the cases of ids (a uuid[] literal) again: the number of rows changed, -1 (logged). */
long worklist_refresh(console_t *c, const char *ids);

/* The timeline of a case ($1 case id, $2 tenant, $3 invoice): the engine's audit rows of the
 * invoice and the console's notes, with who did each thing; ordered by at, source, seq. */
#define CONSOLE_TIMELINE_ROWS                                                                                          \
    "SELECT a.at, 'audit' AS source, a.id AS seq, a.kind, a.from_state, a.to_state, a.stage, a.outstanding_minor, "    \
    "coalesce(a.detail->>'actor', 'engine') AS actor, a.detail FROM audit a WHERE a.case_id = $1::uuid "               \
    "AND a.tenant_id = $2 AND a.invoice_id = $3 "                                                                      \
    "UNION ALL "                                                                                                       \
    "SELECT n.at, 'note', n.id, 'note', NULL, NULL, NULL, NULL, n.author, jsonb_build_object('text', n.text) "         \
    "FROM console_notes n WHERE n.case_id = $1::uuid"

/* export.c: the timeline of case `id` (facts: tenant, invoice, customer; already scoped to
 * the user) as format "csv" or "pdf", logged as an export in console_access_log. */
void timeline_export(console_t *c, dn_web_req_t *req, const char *login, const char *id, const char *const *facts,
                     const char *format);

/* sent.c: a letter's PDF (kind "letter") or a call's WAV ("voice") of reminder event_id of
 * case case_id (already scoped to the user), from the sender's folder; 404 when the
 * reminder is not the case's or the file is gone. Logged as an export. */
void sent_file(console_t *c, dn_web_req_t *req, const char *login, const char *case_id, const char *event_id,
               const char *kind);

/* cases.c: GET /api/cases/{id} (and its timeline.csv, timeline.pdf), POST /api/cases/{id}/actions. */
void cases_routes(console_t *c);

/* deadletters.c: the dead-letter topic, read from its beginning (dl_start 0/-1 with errstr;
 * dl_poll without waiting), and the overview's counts of the user's tenants' dead letters in
 * [from_ms, to_ms) by service, source topic and error code: {"groups": [...], "dropped": n}. */
int dl_start(console_t *c, char *errstr, size_t errstr_size);
void dl_poll(console_t *c);
json_t *dl_overview(console_t *c, const char *tenants_json, const char *only, int64_t from_ms, int64_t to_ms);

/* overview.c: GET /api/overview (the figures of docs/console.md#overview). */
void overview_routes(console_t *c);

/* events.c: GET /api/events (server-sent events of the user's tenants' case events) and
 * GET /readyz; events_start subscribes to dunning-case-events (0/-1 with errstr),
 * events_poll hands what arrived to the open streams (without waiting). */
int events_start(console_t *c, char *errstr, size_t errstr_size);
void events_routes(console_t *c);
void events_poll(console_t *c);

/* lag.c: the consumer groups of DUNNING_CONSOLE_LAG_GROUPS (lag_start 0/-1 with errstr),
 * and their lag now: [{group, topics, lag, partitions} or {group, topics, lag: null, error}]. */
int lag_start(console_t *c, char *errstr, size_t errstr_size);
json_t *lag_overview(console_t *c);
void lag_stop(console_t *c);

#endif
