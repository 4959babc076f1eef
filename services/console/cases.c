/* GET /api/cases/{id}: the case, its invoice, the customer's other open cases and the whole
 * timeline (the engine's audit trail and the console's notes, each with who did it).
 * POST /api/cases/{id}/actions: an action on the case, published as a CaseCommand with the
 * actor user:<login> (the engine applies it and publishes the case event); notes and
 * assignment are the console's own records (sql/017_console_worklist.sql).
 *
 * A case outside the user's tenants is 404, exactly as a case that does not exist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_publish.h"
#include "dn_uuid.h"

static int uuid_like(const char *s)
{
    if (!s || strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdefABCDEF", s[i]))
            return 0;
    }
    return 1;
}

static const char case_sql[] =
    "SELECT row_to_json(x)::text, x.tenant_id, x.invoice_id, x.customer_id, x.currency, x.state FROM ("
    "SELECT c.case_id, c.tenant_id, c.invoice_id, c.customer_id, c.policy, c.state, c.stage, c.amount_minor, "
    "c.paid_minor, c.outstanding_minor, c.fee_minor, c.interest_minor, c.credited_minor, c.overpaid_minor, "
    "c.outstanding_minor + c.fee_minor + c.interest_minor AS owed_minor, c.currency, c.next_action, "
    "c.next_action_at, c.pause_reason, c.paused_from, c.paused_until, c.resolved_reason, c.opened_at, c.updated_at, "
    "c.risk_score, c.risk_reasons, c.risk_track, ca.login AS assigned_to, ca.assigned_by, ca.assigned_at "
    "FROM cases c LEFT JOIN console_assignments ca ON ca.case_id = c.case_id "
    "WHERE c.case_id = $1::uuid AND ($2::text[] @> '{*}' OR c.tenant_id = ANY ($2::text[]))) x";

/* The case (scoped to the user's tenants): its row, or NULL after a 404/500 reply. */
static PGresult *load_case(console_t *c, dn_web_req_t *req, const console_user_t *u, const char *id)
{
    if (!uuid_like(id)) {
        dn_web_error(req, 404, "no such case");
        return NULL;
    }
    const char *params[] = {id, u->tenants};
    PGresult *r = dn_pg_query(c->pg, case_sql, 2, params);
    if (!r) {
        console_db_error(c, req);
        return NULL;
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        dn_web_error(req, 404, "no such case");
        return NULL;
    }
    return r;
}

static json_t *parse_json(const char *s)
{
    json_error_t jerr;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &jerr);
    return j ? j : json_null();
}

static const char details_sql[] =
    "SELECT (SELECT row_to_json(i)::text FROM (SELECT invoice_id, invoice_number, amount_minor, currency, "
    "  issue_date, due_date, policy, customer_segment, issued_at FROM invoices "
    "  WHERE tenant_id = $2 AND invoice_id = $3) i), "
    "(SELECT coalesce(json_agg(o ORDER BY o.invoice_id), '[]')::text FROM (SELECT case_id, invoice_id, state, stage, "
    "  outstanding_minor + fee_minor + interest_minor AS owed_minor, currency FROM cases "
    "  WHERE tenant_id = $2 AND customer_id = $4 AND case_id <> $1::uuid "
    "  AND state NOT IN ('resolved', 'written_off', 'handed_over')) o), "
    "(SELECT coalesce(json_agg(t ORDER BY t.at, t.source, t.seq), '[]')::text FROM (" CONSOLE_TIMELINE_ROWS ") t), "
    "(SELECT coalesce(json_agg(p ORDER BY p.made_at), '[]')::text FROM (SELECT p.promise_id, p.scope, p.amount_minor, "
    "  p.paid_minor, p.currency, p.promised_for, p.state, p.channel, p.actor, p.made_at, p.closed_at "
    "  FROM promise_cases pc JOIN promises p USING (promise_id) WHERE pc.case_id = $1::uuid) p), "
    "(SELECT coalesce(json_agg(d ORDER BY d.created_at, d.event_id), '[]')::text FROM (SELECT d.event_id, d.channel, "
    "  d.stage, d.status, d.attempts, d.last_error, d.created_at, d.updated_at, m.subject, m.body, m.template "
    "  FROM deliveries d LEFT JOIN sent_messages m ON m.event_id = d.event_id AND m.case_id = d.case_id "
    "  WHERE d.tenant_id = $2 AND d.invoice_id = $3) d)";

static void case_view(dn_web_req_t *req, void *arg)
{
    console_t *c = arg;
    const console_user_t *u = dn_web_user(req);
    const char *id = dn_web_param(req, 0);
    PGresult *r = load_case(c, req, u, id);
    if (!r)
        return;
    const char *params[] = {id, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3)};
    const char *format = dn_web_query(req, "format");
    if (format && strcmp(format, "csv") == 0) { /* the older address of timeline.csv */
        timeline_export(c, req, u->login, id, params + 1, "csv");
        PQclear(r);
        return;
    }
    if (format && strcmp(format, "json") != 0) {
        PQclear(r);
        dn_web_error(req, 400, "format: json or csv (the timeline)");
        return;
    }
    PGresult *d = dn_pg_query(c->pg, details_sql, 4, params);
    if (!d) {
        PQclear(r);
        console_db_error(c, req);
        return;
    }
    json_t *body = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}", "case", parse_json(PQgetvalue(r, 0, 0)), "invoice",
                             parse_json(PQgetisnull(d, 0, 0) ? "null" : PQgetvalue(d, 0, 0)), "customer_cases",
                             parse_json(PQgetvalue(d, 0, 1)), "timeline", parse_json(PQgetvalue(d, 0, 2)), "promises",
                             parse_json(PQgetvalue(d, 0, 3)), "deliveries", parse_json(PQgetvalue(d, 0, 4)));
    PQclear(d);
    PQclear(r);
    dn_web_json(req, 200, body);
}

/* ---- actions ---- */

typedef enum { ARG_NONE = 0, ARG_PAUSE, ARG_AMOUNT, ARG_PROMISE, ARG_PLAN, ARG_NOTE_TEXT, ARG_RESEND } action_args_t;

static const struct action {
    const char *name;
    const char *command; /* the CaseCommand kind; NULL: the console's own record */
    console_role_t role; /* the least role allowed */
    action_args_t args;
} actions[] = {
    {"pause", "pause", ROLE_COLLECTOR, ARG_PAUSE},
    {"dispute", "pause", ROLE_COLLECTOR, ARG_PAUSE},
    {"resume", "resume", ROLE_COLLECTOR, ARG_NONE},
    {"promise", "promise", ROLE_COLLECTOR, ARG_PROMISE},
    {"withdraw_promise", "withdraw_promise", ROLE_COLLECTOR, ARG_NONE},
    {"plan", "plan", ROLE_COLLECTOR, ARG_PLAN},
    {"callback", "callback", ROLE_COLLECTOR, ARG_NONE},
    {"claim_paid", "claim_paid", ROLE_COLLECTOR, ARG_NONE},
    {"resend", "resend", ROLE_COLLECTOR, ARG_RESEND},
    {"credit", "credit", ROLE_MANAGER, ARG_AMOUNT},
    {"cancel", "cancel", ROLE_MANAGER, ARG_NONE},
    {"write_off", "write_off", ROLE_MANAGER, ARG_NONE},
    {"hand_over", "hand_over", ROLE_MANAGER, ARG_NONE},
    {"note", NULL, ROLE_COLLECTOR, ARG_NOTE_TEXT},
    {"assign", NULL, ROLE_COLLECTOR, ARG_NONE},
    {"unassign", NULL, ROLE_COLLECTOR, ARG_NONE},
};

static const struct action *find_action(const char *name)
{
    for (size_t i = 0; name && i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(actions[i].name, name) == 0)
            return &actions[i];
    return NULL;
}

static int valid_date(const char *s)
{
    int32_t d;
    return s && strlen(s) == 10 && dn_date_parse(s, &d) == 0;
}

/* A positive whole amount in minor units, in the case's currency when one is named. */
static int read_amount(dn_web_req_t *req, json_t *body, const char *currency, json_int_t *out)
{
    json_t *a = json_object_get(body, "amount_minor");
    const char *cur = json_string_value(json_object_get(body, "currency"));
    if (!json_is_integer(a) || json_integer_value(a) <= 0) {
        dn_web_error(req, 400, "amount_minor: a positive whole number of minor units (1250 = 12.50 EUR)");
        return -1;
    }
    if (json_object_get(body, "currency") && (!cur || strcmp(cur, currency) != 0)) {
        dn_web_error(req, 400, "currency: the case is in %s", currency);
        return -1;
    }
    *out = json_integer_value(a);
    return 0;
}

/* Fills the command's own fields from the body; 0, or -1 after a 400 reply. */
static int command_fields(dn_web_req_t *req, const struct action *a, json_t *body, const char *currency, json_t *cmd)
{
    json_int_t amount;
    switch (a->args) {
    case ARG_PAUSE: {
        const char *reason =
            strcmp(a->name, "dispute") == 0 ? "dispute" : json_string_value(json_object_get(body, "reason"));
        if (!reason || (strcmp(reason, "dispute") != 0 && strcmp(reason, "promise_to_pay") != 0 &&
                        strcmp(reason, "manual_hold") != 0)) {
            dn_web_error(req, 400, "reason: dispute, promise_to_pay or manual_hold");
            return -1;
        }
        json_object_set_new(cmd, "reason", json_string(reason));
        json_t *until = json_object_get(body, "until");
        if (until && !json_is_null(until)) {
            if (!valid_date(json_string_value(until))) {
                dn_web_error(req, 400, "until: a date YYYY-MM-DD (the case resumes that day), or null");
                return -1;
            }
            json_object_set(cmd, "until", until);
        }
        return 0;
    }
    case ARG_AMOUNT:
        if (read_amount(req, body, currency, &amount) < 0)
            return -1;
        json_object_set_new(cmd, "amount_minor", json_integer(amount));
        return 0;
    case ARG_PROMISE: {
        const char *date = json_string_value(json_object_get(body, "promise_date"));
        const char *scope = json_string_value(json_object_get(body, "scope"));
        if (read_amount(req, body, currency, &amount) < 0)
            return -1;
        if (!valid_date(date)) {
            dn_web_error(req, 400, "promise_date: a date YYYY-MM-DD");
            return -1;
        }
        if (json_object_get(body, "scope") &&
            (!scope || (strcmp(scope, "invoice") != 0 && strcmp(scope, "customer") != 0))) {
            dn_web_error(req, 400, "scope: invoice or customer");
            return -1;
        }
        json_object_set_new(cmd, "amount_minor", json_integer(amount));
        json_object_set_new(cmd, "promise_date", json_string(date));
        if (scope)
            json_object_set_new(cmd, "scope", json_string(scope));
        return 0;
    }
    case ARG_PLAN: {
        json_t *list = json_object_get(body, "instalments"), *in;
        size_t i;
        if (!json_is_array(list) || json_array_size(list) == 0) {
            dn_web_error(req, 400, "instalments: a list of {amount_minor, due_date}, in due-date order");
            return -1;
        }
        json_t *out = json_array();
        json_array_foreach(list, i, in)
        {
            json_t *am = json_object_get(in, "amount_minor");
            const char *due = json_string_value(json_object_get(in, "due_date"));
            if (!json_is_integer(am) || json_integer_value(am) <= 0 || !valid_date(due)) {
                json_decref(out);
                dn_web_error(req, 400, "instalments[%zu]: {amount_minor: > 0 minor units, due_date: YYYY-MM-DD}", i);
                return -1;
            }
            json_array_append_new(out,
                                  json_pack("{s:I, s:s}", "amount_minor", json_integer_value(am), "due_date", due));
        }
        json_object_set_new(cmd, "instalments", out);
        return 0;
    }
    case ARG_RESEND: {
        json_t *to = json_object_get(body, "target_channel");
        const char *ch = json_string_value(to);
        if (to && !json_is_null(to) &&
            (!ch || (strcmp(ch, "email") != 0 && strcmp(ch, "sms") != 0 && strcmp(ch, "letter") != 0 &&
                     strcmp(ch, "voice") != 0))) {
            dn_web_error(req, 400, "target_channel: email, sms, letter or voice, or null (the last reminder's)");
            return -1;
        }
        if (ch)
            json_object_set_new(cmd, "target_channel", json_string(ch));
        return 0;
    }
    case ARG_NONE:
    case ARG_NOTE_TEXT:
        break;
    }
    if (strcmp(a->command, "resume") == 0 || strcmp(a->command, "callback") == 0 ||
        strcmp(a->command, "claim_paid") == 0) {
        const char *reason = json_string_value(json_object_get(body, "reason"));
        if (reason)
            json_object_set_new(cmd, "reason", json_string(reason));
    }
    return 0;
}

/* resend: what the engine would refuse, said at once (the engine checks again when it
 * applies the command: a payment may arrive in between). 0, or -1 after a 409/500 reply. */
static int resend_possible(console_t *c, dn_web_req_t *req, const char *tenant, const char *invoice, const char *state)
{
    static const char *const active[] = {"open", "pre_due_reminded", "overdue", "final_notice", "retrying"};
    int ok = 0;
    for (size_t i = 0; i < sizeof(active) / sizeof(active[0]); i++)
        ok |= strcmp(state, active[i]) == 0;
    if (!ok) {
        dn_web_error(req, 409, "cannot resend the last reminder: the case is %s", state);
        return -1;
    }
    PGresult *r = dn_pg_query(c->pg,
                              "SELECT count(*) FROM audit WHERE tenant_id = $1 AND invoice_id = $2 "
                              "AND kind IN ('reminder_emitted', 'reminder_fallback', 'redial', 'reminder_resent') "
                              "AND jsonb_array_length(coalesce(detail->'reminders', '[]')) > 0",
                              2, (const char *const[]){tenant, invoice});
    if (!r) {
        console_db_error(c, req);
        return -1;
    }
    ok = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
    PQclear(r);
    if (!ok) {
        dn_web_error(req, 409, "cannot resend the last reminder: no reminder was sent yet");
        return -1;
    }
    return 0;
}

static int insert_note(console_t *c, const char *case_id, const char *tenant, const char *author, const char *text)
{
    char at[40];
    dn_time_format(dn_clock_now_ms(), at, sizeof(at));
    const char *params[] = {case_id, tenant, author, at, text};
    PGresult *r = dn_pg_query(c->pg,
                              "INSERT INTO console_notes (case_id, tenant_id, author, at, text) "
                              "VALUES ($1::uuid, $2, $3, $4::timestamptz, $5)",
                              5, params);
    PQclear(r);
    return r ? 0 : -1;
}

/* assign {to: login} (default: oneself; another user: manager and up), unassign. 0/-1 (replied). */
static int assignment(console_t *c, dn_web_req_t *req, const console_user_t *u, const struct action *a, json_t *body,
                      const char *case_id, const char *tenant, json_t *detail)
{
    const char *to = json_string_value(json_object_get(body, "to"));
    if (strcmp(a->name, "unassign") == 0) {
        PGresult *r =
            dn_pg_query(c->pg,
                        "DELETE FROM console_assignments WHERE case_id = $1::uuid "
                        "AND ($2 OR login = $3) RETURNING login",
                        3, (const char *const[]){case_id, u->role >= ROLE_MANAGER ? "true" : "false", u->login});
        if (!r) {
            console_db_error(c, req);
            return -1;
        }
        int n = PQntuples(r);
        PQclear(r);
        if (n == 0 && u->role < ROLE_MANAGER) {
            dn_web_deny(req, 403, "a collector may unassign only cases assigned to them");
            return -1;
        }
        return 0;
    }
    if (!to)
        to = u->login;
    if (strcmp(to, u->login) != 0 && u->role < ROLE_MANAGER) {
        dn_web_deny(req, 403, "role collector may assign cases only to themselves");
        return -1;
    }
    /* the assignee must be an enabled user who sees the case's tenant, and may act on it */
    PGresult *r = dn_pg_query(c->pg,
                              "SELECT 1 FROM console_users WHERE login = $1 AND NOT disabled AND role <> 'viewer' "
                              "AND ($2 = ANY (tenants) OR '*' = ANY (tenants))",
                              2, (const char *const[]){to, tenant});
    if (!r) {
        console_db_error(c, req);
        return -1;
    }
    int ok = PQntuples(r) == 1;
    PQclear(r);
    if (!ok) {
        dn_web_error(req, 400, "to: no enabled collector, manager or admin of this tenant has that login");
        return -1;
    }
    r = dn_pg_query(c->pg,
                    "INSERT INTO console_assignments (case_id, tenant_id, login, assigned_by) "
                    "VALUES ($1::uuid, $2, $3, $4) ON CONFLICT (case_id) DO UPDATE SET login = EXCLUDED.login, "
                    "assigned_by = EXCLUDED.assigned_by, assigned_at = now()",
                    4, (const char *const[]){case_id, tenant, to, u->login});
    if (!r) {
        console_db_error(c, req);
        return -1;
    }
    PQclear(r);
    json_object_set_new(detail, "to", json_string(to));
    return 0;
}

static void case_action(dn_web_req_t *req, void *arg)
{
    console_t *c = arg;
    const console_user_t *u = dn_web_user(req);
    const char *id = dn_web_param(req, 0);
    PGresult *r = load_case(c, req, u, id);
    if (!r)
        return;
    json_t *body = dn_web_body_json(req), *cmd = NULL, *detail = NULL;
    const char *name = body ? json_string_value(json_object_get(body, "action")) : NULL;
    const struct action *a = find_action(name);
    const char *tenant = PQgetvalue(r, 0, 1), *invoice = PQgetvalue(r, 0, 2), *customer = PQgetvalue(r, 0, 3);
    const char *currency = PQgetvalue(r, 0, 4);
    char why[160], actor[80], event_id[DN_UUID_STR_LEN] = "";
    if (!a) {
        dn_web_error(
            req, 400,
            "action: one of pause, dispute, resume, promise, withdraw_promise, plan, callback, claim_paid, resend, "
            "credit, cancel, write_off, hand_over, note, assign, unassign");
        goto out;
    }
    if (u->role < a->role) {
        snprintf(why, sizeof(why), "role %s may not %s (needs %s)", role_name(u->role), a->name, role_name(a->role));
        dn_web_deny(req, 403, why);
        goto out;
    }
    const char *note = json_string_value(json_object_get(body, a->args == ARG_NOTE_TEXT ? "text" : "note"));
    if (json_object_get(body, a->args == ARG_NOTE_TEXT ? "text" : "note") && (!note || !*note || strlen(note) > 4000)) {
        dn_web_error(req, 400, "%s: 1 to 4000 characters of text", a->args == ARG_NOTE_TEXT ? "text" : "note");
        goto out;
    }
    if (a->args == ARG_NOTE_TEXT && !note) {
        dn_web_error(req, 400, "text: required (the note)");
        goto out;
    }
    detail = json_pack("{s:s, s:s, s:s}", "action", a->name, "case_id", id, "tenant_id", tenant);
    snprintf(actor, sizeof(actor), "user:%s", u->login);
    if (a->command) {
        cmd = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "tenant_id", tenant, "customer_id", customer, "invoice_id",
                        invoice, "command", a->command, "actor", actor, "channel", "collector");
        if (command_fields(req, a, body, currency, cmd) < 0)
            goto out;
        if (a->args == ARG_RESEND && resend_possible(c, req, tenant, invoice, PQgetvalue(r, 0, 5)) < 0)
            goto out;
        char err[512];
        if (dn_publish_json(c->producer, DN_TOPIC_CASE_COMMANDS, cmd, (int)c->cfg.publish_ms, event_id, err,
                            sizeof(err)) < 0) {
            dn_log_error("case command not published", "case_id", id, "tenant_id", tenant, "invoice_id", invoice,
                         "detail", err, NULL);
            dn_web_error(req, 503, "the command could not be published: %s", err);
            goto out;
        }
        json_object_set_new(detail, "command", json_string(a->command));
        json_object_set_new(detail, "event_id", json_string(event_id));
    } else if (strcmp(a->name, "assign") == 0 || strcmp(a->name, "unassign") == 0) {
        if (assignment(c, req, u, a, body, id, tenant, detail) < 0)
            goto out;
    }
    if (note && insert_note(c, id, tenant, actor, note) < 0) {
        console_db_error(c, req);
        goto out;
    }
    access_log(c, req, u->login, "action", detail);
    dn_log_info("case action", "action", a->name, "login", u->login, "case_id", id, "tenant_id", tenant, "invoice_id",
                invoice, "event_id", event_id[0] ? event_id : NULL, NULL);
    json_t *reply = json_pack("{s:s, s:s}", "action", a->name, "case_id", id);
    if (a->command) {
        json_object_set_new(reply, "command", json_string(a->command));
        json_object_set_new(reply, "event_id", json_string(event_id));
        json_object_set_new(reply, "status",
                            json_string("published: the engine applies it and publishes the case event"));
        dn_web_json(req, 202, reply);
    } else {
        json_object_set_new(reply, "status", json_string("recorded"));
        dn_web_json(req, 200, reply);
    }
out:
    json_decref(cmd);
    json_decref(detail);
    PQclear(r);
}

/* GET /api/cases/{id}/timeline.csv and .pdf: viewer and up, the case in the user's tenants. */
static void timeline_file(dn_web_req_t *req, void *arg, const char *format)
{
    console_t *c = arg;
    const console_user_t *u = dn_web_user(req);
    const char *id = dn_web_param(req, 0);
    PGresult *r = load_case(c, req, u, id);
    if (!r)
        return;
    const char *facts[] = {PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3)};
    timeline_export(c, req, u->login, id, facts, format);
    PQclear(r);
}

/* GET /api/cases/{id}/sent/{event_id}/letter.pdf and audio.wav: viewer and up. */
static void sent_kind(dn_web_req_t *req, void *arg, const char *kind)
{
    console_t *c = arg;
    const console_user_t *u = dn_web_user(req);
    const char *id = dn_web_param(req, 0), *event_id = dn_web_param(req, 1);
    PGresult *r = load_case(c, req, u, id);
    if (!r)
        return;
    if (!uuid_like(event_id))
        dn_web_error(req, 404, "no such %s for this case", strcmp(kind, "letter") == 0 ? "letter" : "call");
    else
        sent_file(c, req, u->login, id, event_id, kind);
    PQclear(r);
}

static void sent_letter(dn_web_req_t *req, void *arg)
{
    sent_kind(req, arg, "letter");
}

static void sent_audio(dn_web_req_t *req, void *arg)
{
    sent_kind(req, arg, "voice");
}

static void timeline_csv_file(dn_web_req_t *req, void *arg)
{
    timeline_file(req, arg, "csv");
}

static void timeline_pdf_file(dn_web_req_t *req, void *arg)
{
    timeline_file(req, arg, "pdf");
}

void cases_routes(console_t *c)
{
    dn_web_route(c->web, "GET", "/api/cases/{}/timeline.csv", timeline_csv_file, 0);
    dn_web_route(c->web, "GET", "/api/cases/{}/timeline.pdf", timeline_pdf_file, 0);
    dn_web_route(c->web, "GET", "/api/cases/{}/sent/{}/letter.pdf", sent_letter, 0);
    dn_web_route(c->web, "GET", "/api/cases/{}/sent/{}/audio.wav", sent_audio, 0);
    dn_web_route(c->web, "GET", "/api/cases/{}", case_view, 0);
    dn_web_route(c->web, "POST", "/api/cases/{}/actions", case_action, 0);
}
