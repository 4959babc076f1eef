/* dunning-portal's routes. Every one is public (the link's token is the credential):
 *
 *   GET  /healthz, /readyz                  liveness; readiness (the database answers)
 *   GET  /p/{token}                         the page (web/index.html); its script does the rest
 *   GET  /s/{short id}                      the same page for an SMS's short link: every /api/p/
 *                                           route takes the short id in place of its token
 *   GET  /api/p/{token}                     the customer's open invoices with that tenant, and a
 *                                           form token for one action
 *   POST /api/p/{token}/promise             {invoice_id, date}            -> CaseCommand promise
 *   POST /api/p/{token}/dispute             {invoice_id, reason, text}    -> CaseCommand pause (dispute)
 *   POST /api/p/{token}/claim-paid          {invoice_id, note}            -> CaseCommand claim_paid
 *   POST /api/p/{token}/plan                {invoice_id, count}           -> CaseCommand plan (the offer)
 *   POST /api/p/{token}/preferences         {invoice_id, no_sms, no_calls, email}
 *                                                                         -> CaseCommand set_preferences
 *   GET  /api/p/{token}/answers/{command}   what the engine made of it (its audit rows)
 *   GET  /api/p/{token}/letters/{id}        a letter's PDF (DUNNING_PORTAL_LETTER_DIR)
 *
 * A token that is tampered, expired, signed by a key no longer listed, or names a customer
 * with no case or one who was erased gets one neutral 404, the same for all. A POST needs
 * X-Form-Token, a nonce and its MAC from the last GET for this link: single use (the
 * nonce is portal_actions' key), so a double click or a replay is a 409. The command's
 * event id is derived from the nonce, so the engine applies a form once even if the portal
 * publishes it twice. Requests are limited per address and per link (429). */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_clock.h"
#include "dn_log.h"
#include "dn_payment_url.h"
#include "dn_prefs.h"
#include "dn_publish.h"
#include "dn_render.h"
#include "dn_uuid.h"
#include "portal.h"

#define NEUTRAL       "This link is not valid or has expired."
#define B64           sodium_base64_VARIANT_URLSAFE_NO_PADDING
#define TEXT_MAX      1000
#define OPEN_STATES   "('resolved', 'cancelled', 'written_off')"
#define FORM_TOKEN_SZ 96
/* The case's plan in force or waiting for a collector, as JSON text ('' for none). */
#define CURRENT_PLAN                                                                                                   \
    "coalesce((SELECT json_build_object('state', p.state, 'total_minor', p.total_minor, 'instalments', (SELECT "       \
    "json_agg(json_build_object('number', pi.number, 'due_date', pi.due_date, 'amount_minor', pi.amount_minor, "       \
    "'paid_minor', pi.paid_minor) ORDER BY pi.number) FROM plan_instalments pi WHERE pi.plan_id = p.plan_id))::text "  \
    "FROM plans p WHERE p.case_id = c.case_id AND p.state IN ('active', 'pending') ORDER BY p.agreed_at DESC LIMIT "   \
    "1), '')"
/* The letters sent for the invoice, as JSON text: [{id, sent_at, stage}]. */
#define LETTERS                                                                                                        \
    "coalesce((SELECT json_agg(json_build_object('id', d.event_id, 'sent_at', d.updated_at, 'stage', d.stage) ORDER "  \
    "BY d.updated_at)::text FROM deliveries d WHERE d.tenant_id = c.tenant_id AND d.invoice_id = c.invoice_id AND "    \
    "d.channel = 'letter' AND d.status = 'delivered'), '')"
#define COL_PLAN      18
#define COL_LETTERS   19
#define COL_PLAN_CASE 20

typedef struct who {
    dn_portal_claims_t c;
    const char *token;
    char short_token[DN_PORTAL_TOKEN_MAX]; /* the token a short id stands for */
} who_t;

/* A short id (an SMS's /s/<id>) for its token, into w->short_token; the token itself
 * otherwise. NULL when the database does not answer. An unknown id stays as it is, and
 * fails verification as a malformed token, the same neutral answer. */
static const char *long_token(portal_t *p, const char *token, who_t *w)
{
    if (!dn_portal_short_id_valid(token))
        return token;
    const char *params[] = {token};
    PGresult *q = dn_pg_query(p->pg, "SELECT token FROM portal_short_links WHERE short_id = $1", 1, params);
    if (!q)
        return NULL;
    if (PQntuples(q) == 1)
        snprintf(w->short_token, sizeof(w->short_token), "%s", PQgetvalue(q, 0, 0));
    PQclear(q);
    return w->short_token[0] ? w->short_token : token;
}

/* A POST in hand: whose, the form's nonce, the invoice it is about and its total due. */
typedef struct form {
    who_t w;
    char nonce[64];
    const char *inv;
    int64_t total;
    char currency[4];
} form_t;

/* Rate limits, the token, the customer: 1 when the request may go on (who filled), else
 * the reply is sent. */
static int resolve(portal_t *p, dn_web_req_t *r, who_t *w)
{
    int64_t now = dn_clock_real_now_ms();
    const char *token = dn_web_param(r, 0);
    if (!dn_web_limit_hit(p->by_addr, dn_web_remote(r), now) || (token && !dn_web_limit_hit(p->by_link, token, now))) {
        dn_web_error(r, 429, "Too many requests; please wait a minute.");
        return 0;
    }
    w->short_token[0] = '\0';
    if (!(token = token ? long_token(p, token, w) : NULL) && dn_web_param(r, 0)) {
        dn_log_error("portal query failed", "detail", dn_pg_errstr(p->pg), NULL);
        dn_web_error(r, 503, "Please try again in a moment.");
        return 0;
    }
    dn_portal_verdict_t v = dn_portal_token_verify(&p->keys, token, dn_clock_now_ms() / 1000, &w->c);
    if (v != DN_PORTAL_VALID) {
        dn_log_info("portal link refused", "why", dn_portal_verdict_name(v), "remote", dn_web_remote(r), NULL);
        dn_web_error(r, 404, NEUTRAL);
        return 0;
    }
    const char *params[] = {w->c.tenant, w->c.customer};
    PGresult *q = dn_pg_query(p->pg,
                              "SELECT EXISTS (SELECT 1 FROM cases WHERE tenant_id = $1 AND customer_id = $2) AND NOT "
                              "EXISTS (SELECT 1 FROM audit WHERE tenant_id = $1 AND customer_id = $2 AND kind = "
                              "'contact_erased')",
                              2, params);
    if (!q) {
        dn_log_error("portal query failed", "detail", dn_pg_errstr(p->pg), NULL);
        dn_web_error(r, 503, "Please try again in a moment.");
        return 0;
    }
    int ok = PQgetvalue(q, 0, 0)[0] == 't';
    PQclear(q);
    if (!ok) {
        dn_log_info("portal link refused", "why", "no_customer", "tenant_id", w->c.tenant, NULL);
        dn_web_error(r, 404, NEUTRAL);
        return 0;
    }
    w->token = token;
    return 1;
}

/* The form token: <nonce>.<HMAC(form key, token "\n" nonce)>, base64url. */
static void form_mac(portal_t *p, const char *token, const char *nonce, unsigned char mac[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, p->form_key, sizeof(p->form_key));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)token, strlen(token));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)"\n", 1);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)nonce, strlen(nonce));
    crypto_auth_hmacsha256_final(&st, mac);
}

static void form_token(portal_t *p, const char *token, char *out, size_t n)
{
    unsigned char raw[16], mac[32];
    randombytes_buf(raw, sizeof(raw));
    char nonce[sodium_base64_ENCODED_LEN(16, B64)], mac64[sodium_base64_ENCODED_LEN(32, B64)];
    sodium_bin2base64(nonce, sizeof(nonce), raw, sizeof(raw), B64);
    form_mac(p, token, nonce, mac);
    sodium_bin2base64(mac64, sizeof(mac64), mac, sizeof(mac), B64);
    snprintf(out, n, "%s.%s", nonce, mac64);
}

/* The nonce of a valid X-Form-Token for this link (into nonce), or 0. */
static int form_check(portal_t *p, dn_web_req_t *r, const char *token, char *nonce, size_t n)
{
    const char *h = dn_web_header(r, "X-Form-Token");
    const char *dot = h ? strchr(h, '.') : NULL;
    if (!dot || (size_t)(dot - h) >= n || dot - h < 16)
        return 0;
    memcpy(nonce, h, (size_t)(dot - h));
    nonce[dot - h] = '\0';
    unsigned char given[32], want[32];
    size_t glen = 0;
    if (sodium_base642bin(given, sizeof(given), dot + 1, strlen(dot + 1), NULL, &glen, NULL, B64) != 0 ||
        glen != sizeof(given))
        return 0;
    form_mac(p, token, nonce, want);
    return sodium_memcmp(given, want, sizeof(want)) == 0;
}

/* The customer's contact preferences as the engine keeps them: the opted-out set (a
 * mask), the address reminders go to (the corrected one, else the latest invoice's) and
 * whether it is a corrected one. -1 when the database does not answer. */
static int current_prefs(portal_t *p, const who_t *w, unsigned *out, char *email, size_t esize, int *corrected)
{
    const char *params[] = {w->c.tenant, w->c.customer};
    PGresult *q =
        dn_pg_query(p->pg,
                    "SELECT coalesce(cp.opted_out::text, '{}'), coalesce(cp.email, (SELECT i.contact->>'email' "
                    "FROM invoices i WHERE i.tenant_id = $1 AND i.customer_id = $2 ORDER BY i.issue_date DESC, "
                    "i.invoice_id DESC LIMIT 1), ''), cp.email IS NOT NULL FROM (SELECT 1) one LEFT JOIN "
                    "contact_preferences cp ON cp.tenant_id = $1 AND cp.customer_id = $2",
                    2, params);
    if (!q) {
        dn_log_error("portal query failed", "detail", dn_pg_errstr(p->pg), NULL);
        return -1;
    }
    *out = 0;
    char buf[128], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", PQgetvalue(q, 0, 0));
    for (char *t = strtok_r(buf, "{},", &save); t; t = strtok_r(NULL, "{},", &save)) {
        channel_t ch;
        if (dn_prefs_channel_parse(t, &ch) == 0)
            *out |= 1u << ch;
    }
    snprintf(email, esize, "%s", PQgetvalue(q, 0, 1));
    *corrected = PQgetvalue(q, 0, 2)[0] == 't';
    PQclear(q);
    return 0;
}

/* "a***@example.com": enough for the customer to recognise the address, not enough to
 * give it away to whoever holds a forwarded link. */
static void mask_email(const char *email, char *out, size_t n)
{
    const char *at = strchr(email, '@');
    if (!at || at == email)
        snprintf(out, n, "%s", "");
    else
        snprintf(out, n, "%c***%s", email[0], at);
}

/* The overview's "preferences": {no_sms, no_calls, opted_out: [...], email_masked,
 * email_corrected}. NULL when the database does not answer. */
static json_t *preferences_json(portal_t *p, const who_t *w)
{
    unsigned out;
    int corrected;
    char email[DN_PREFS_EMAIL_MAX + 1], masked[DN_PREFS_EMAIL_MAX + 8];
    if (current_prefs(p, w, &out, email, sizeof(email), &corrected) < 0)
        return NULL;
    mask_email(email, masked, sizeof(masked));
    json_t *list = json_array();
    for (int c = 0; c < CH_COUNT; c++)
        if (out & (1u << c))
            json_array_append_new(list, json_string(dn_policy_channel_name((channel_t)c)));
    return json_pack("{s:b, s:b, s:o, s:s, s:b}", "no_sms", (out >> CH_SMS) & 1, "no_calls", (out >> CH_VOICE) & 1,
                     "opted_out", list, "email_masked", masked, "email_corrected", corrected);
}

static void get_overview(dn_web_req_t *r, void *arg)
{
    portal_t *p = arg;
    who_t w;
    if (!resolve(p, r, &w))
        return;
    const char *params[] = {w.c.tenant, w.c.customer};
    PGresult *q = dn_pg_query(
        p->pg,
        "SELECT c.invoice_id, coalesce(i.invoice_number, c.invoice_id), i.issue_date::text, i.due_date::text, c.state, "
        "c.outstanding_minor, c.fee_minor, c.interest_minor, c.currency, coalesce(c.pause_reason, ''), "
        "coalesce(c.paused_until::text, ''), coalesce(i.payment_link, ''), coalesce(i.contact->>'locale', 'en'), "
        "coalesce(i.contact->>'name', ''), "
        "(SELECT count(*) FROM deliveries d WHERE d.tenant_id = c.tenant_id AND d.invoice_id = c.invoice_id AND "
        "d.status = 'delivered'), "
        "coalesce((SELECT max(pr.promised_for)::text FROM promises pr WHERE pr.tenant_id = c.tenant_id AND "
        "pr.invoice_id = c.invoice_id AND pr.state = 'open'), ''), "
        "coalesce(c.offer_until::text, ''), coalesce(c.offer_due_minor, 0), " CURRENT_PLAN ", " LETTERS
        ", " PORTAL_PLAN_COLS " FROM cases c JOIN invoices i USING (tenant_id, invoice_id) "
        "WHERE c.tenant_id = $1 AND c.customer_id = $2 AND c.state NOT IN " OPEN_STATES
        " ORDER BY i.due_date, c.invoice_id",
        2, params);
    if (!q) {
        dn_log_error("portal query failed", "detail", dn_pg_errstr(p->pg), NULL);
        dn_web_error(r, 503, "Please try again in a moment.");
        return;
    }
    json_t *list = json_array();
    const char *locale = "en", *name = "";
    int32_t today_d = dn_date_from_ms(dn_clock_now_ms());
    for (int i = 0; i < PQntuples(q); i++) {
        portal_case_t pc;
        portal_case_read(p, w.c.tenant, q, i, COL_PLAN_CASE, today_d, &pc);
        int64_t out = strtoll(PQgetvalue(q, i, 5), NULL, 10), fee = strtoll(PQgetvalue(q, i, 6), NULL, 10),
                interest = pc.interest; /* accrued to today, as the engine will */
        json_t *inv = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:I}", "invoice_id",
                                PQgetvalue(q, i, 0), "number", PQgetvalue(q, i, 1), "issue_date", PQgetvalue(q, i, 2),
                                "due_date", PQgetvalue(q, i, 3), "state", PQgetvalue(q, i, 4), "outstanding_minor",
                                (json_int_t)out, "fee_minor", (json_int_t)fee, "interest_minor", (json_int_t)interest,
                                "total_due_minor", (json_int_t)(out + fee + interest), "currency", PQgetvalue(q, i, 8),
                                "reminders_sent", (json_int_t)strtoll(PQgetvalue(q, i, 14), NULL, 10));
        if (!strcmp(PQgetvalue(q, i, 4), "paused"))
            json_object_set_new(inv, "paused",
                                json_pack("{s:s, s:s?}", "reason", PQgetvalue(q, i, 9), "until",
                                          PQgetvalue(q, i, 10)[0] ? PQgetvalue(q, i, 10) : NULL));
        if (PQgetvalue(q, i, 15)[0])
            json_object_set_new(inv, "promised_for", json_string(PQgetvalue(q, i, 15)));
        if (PQgetvalue(q, i, 16)[0])
            json_object_set_new(inv, "offer",
                                json_pack("{s:s, s:I}", "until", PQgetvalue(q, i, 16), "total_minor",
                                          (json_int_t)strtoll(PQgetvalue(q, i, 17), NULL, 10)));
        json_object_set_new(inv, "plans", portal_plan_offers(&pc, today_d));
        json_t *cur = PQgetvalue(q, i, COL_PLAN)[0] ? json_loads(PQgetvalue(q, i, COL_PLAN), 0, NULL) : NULL;
        if (cur)
            json_object_set_new(inv, "plan", cur);
        json_t *letters = p->cfg->letter_dir[0] && PQgetvalue(q, i, COL_LETTERS)[0]
                              ? json_loads(PQgetvalue(q, i, COL_LETTERS), 0, NULL)
                              : NULL;
        json_object_set_new(inv, "letters", letters ? letters : json_array());
        const char *pay = PQgetvalue(q, i, 11), *tpl = dn_policy_payment_url(p->policies, w.c.tenant);
        char url[2048];
        if (dn_render_web_link(pay))
            json_object_set_new(inv, "pay_url", json_string(pay));
        else if (tpl && dn_payment_url_expand(tpl, out + fee + interest, PQgetvalue(q, i, 8), PQgetvalue(q, i, 1), url,
                                              sizeof(url)) == 0)
            json_object_set_new(inv, "pay_url", json_string(url)); /* the tenant's payment page */
        json_array_append_new(list, inv);
        locale = PQgetvalue(q, i, 12);
        name = PQgetvalue(q, i, 13);
    }
    char ft[FORM_TOKEN_SZ], exp[40], today[16];
    form_token(p, w.token, ft, sizeof(ft));
    dn_time_format(w.c.expires_s * 1000, exp, sizeof(exp));
    dn_date_format(dn_date_from_ms(dn_clock_now_ms()), today, sizeof(today));
    json_t *body = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:I}", "tenant_id", w.c.tenant, "customer_name", name,
                             "locale", !strncmp(locale, "de", 2) ? "de" : "en", "invoices", list, "form_token", ft,
                             "link_expires_at", exp, "promise_max_days", (json_int_t)p->cfg->promise_max_days);
    json_object_set_new(body, "today", json_string(today));
    PQclear(q);
    json_t *pj = preferences_json(p, &w);
    if (!pj) {
        json_decref(body);
        dn_web_error(r, 503, "Please try again in a moment.");
        return;
    }
    json_object_set_new(body, "preferences", pj);
    dn_web_json(r, 200, body);
}

/* The open invoice of this customer named in the body; its total due into *total. NULL
 * (reply sent) when it is not one. */
static const char *body_invoice(portal_t *p, dn_web_req_t *r, const who_t *w, int64_t *total, char *currency)
{
    json_t *b = dn_web_body_json(r);
    const char *inv = b ? json_string_value(json_object_get(b, "invoice_id")) : NULL;
    if (!inv || !inv[0]) {
        dn_web_error(r, 400, "invoice_id is missing");
        return NULL;
    }
    const char *params[] = {w->c.tenant, w->c.customer, inv};
    PGresult *q = dn_pg_query(p->pg,
                              "SELECT outstanding_minor + fee_minor + interest_minor, currency FROM cases WHERE "
                              "tenant_id = $1 AND customer_id = $2 AND invoice_id = $3 AND state NOT IN " OPEN_STATES,
                              3, params);
    if (!q) {
        dn_web_error(r, 503, "Please try again in a moment.");
        return NULL;
    }
    int found = PQntuples(q) == 1;
    if (found) {
        *total = strtoll(PQgetvalue(q, 0, 0), NULL, 10);
        snprintf(currency, 4, "%s", PQgetvalue(q, 0, 1));
    }
    PQclear(q);
    if (!found) {
        dn_web_error(r, 404, "There is no open invoice %s here.", inv);
        return NULL;
    }
    return inv;
}

/* Records the action under the form's nonce, then publishes the command (event id from
 * the nonce). Replies 202 {command_id}, 409 (the form was used), 503. */
static void act(portal_t *p, dn_web_req_t *r, const form_t *fm, const char *action, json_t *detail, json_t *cmd)
{
    const who_t *w = &fm->w;
    const char *nonce = fm->nonce, *invoice = fm->inv;
    char command_id[DN_UUID_STR_LEN];
    const char *parts[] = {"portal-form", w->c.tenant, nonce};
    dn_uuid_derive(command_id, parts, 3);
    char *ds = json_dumps(detail, JSON_COMPACT);
    const char *params[] = {nonce, w->c.tenant, w->c.customer, invoice, action, ds ? ds : "{}", command_id};
    PGresult *q = dn_pg_query(p->pg,
                              "INSERT INTO portal_actions (nonce, tenant_id, customer_id, invoice_id, action, detail, "
                              "command_id) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::uuid) ON CONFLICT DO NOTHING",
                              7, params);
    free(ds);
    json_decref(detail);
    if (!q) {
        json_decref(cmd);
        dn_log_error("portal action not recorded", "detail", dn_pg_errstr(p->pg), NULL);
        dn_web_error(r, 503, "Please try again in a moment.");
        return;
    }
    int fresh = atoi(PQcmdTuples(q)) == 1;
    PQclear(q);
    if (!fresh) {
        json_decref(cmd);
        dn_web_error(r, 409, "This form was already sent. Please reload the page.");
        return;
    }
    json_object_set_new(cmd, "event_id", json_string(command_id));
    json_object_set_new(cmd, "tenant_id", json_string(w->c.tenant));
    json_object_set_new(cmd, "customer_id", json_string(w->c.customer));
    json_object_set_new(cmd, "invoice_id", json_string(invoice));
    json_object_set_new(cmd, "channel", json_string("portal"));
    json_object_set_new(cmd, "actor", json_string("portal"));
    if (!json_object_get(cmd, "instalments"))
        json_object_set_new(cmd, "instalments", json_array());
    char err[512];
    if (dn_publish_json(p->producer, DN_TOPIC_CASE_COMMANDS, cmd, 10000, NULL, err, sizeof(err)) < 0) {
        dn_log_error("portal command not published", "command_id", command_id, "detail", err, NULL);
        const char *dp[] = {nonce};
        PQclear(dn_pg_query(p->pg, "DELETE FROM portal_actions WHERE nonce = $1", 1, dp));
        json_decref(cmd);
        dn_web_error(r, 503, "Please try again in a moment.");
        return;
    }
    json_decref(cmd);
    dn_log_info("portal action", "action", action, "tenant_id", w->c.tenant, "invoice_id", invoice, "command_id",
                command_id, NULL);
    dn_web_json(r, 202, json_pack("{s:s, s:s}", "status", "sent", "command_id", command_id));
}

/* resolve + the form token + the invoice. 1 to go on. */
static int begin_action(portal_t *p, dn_web_req_t *r, form_t *fm)
{
    if (!resolve(p, r, &fm->w))
        return 0;
    if (!form_check(p, r, fm->w.token, fm->nonce, sizeof(fm->nonce))) {
        dn_web_deny(r, 403, "The form has expired. Please reload the page.");
        return 0;
    }
    return (fm->inv = body_invoice(p, r, &fm->w, &fm->total, fm->currency)) != NULL;
}

static void post_promise(dn_web_req_t *r, void *arg)
{
    portal_t *p = arg;
    form_t fm;
    if (!begin_action(p, r, &fm))
        return;
    const char *date = json_string_value(json_object_get(dn_web_body_json(r), "date"));
    int32_t day, today = dn_date_from_ms(dn_clock_now_ms());
    if (!date || dn_date_parse(date, &day) < 0) {
        dn_web_error(r, 400, "date: use YYYY-MM-DD");
        return;
    }
    if (day < today || day > today + p->cfg->promise_max_days) {
        dn_web_error(r, 422, "The date must be between today and %" PRId64 " days from today.",
                     p->cfg->promise_max_days);
        return;
    }
    json_t *cmd = json_pack("{s:s, s:I, s:s, s:s}", "command", "promise", "amount_minor", (json_int_t)fm.total,
                            "promise_date", date, "scope", "invoice");
    act(p, r, &fm, "promise",
        json_pack("{s:s, s:I, s:s}", "date", date, "amount_minor", (json_int_t)fm.total, "currency", fm.currency), cmd);
}

/* {invoice_id, count}: the plan of `count` instalments the page offered, computed again
 * here (the amounts never come from the browser), sent as the CaseCommand plan. */
static void post_plan(dn_web_req_t *r, void *arg)
{
    portal_t *p = arg;
    form_t fm;
    if (!begin_action(p, r, &fm))
        return;
    json_t *n = json_object_get(dn_web_body_json(r), "count");
    if (!json_is_integer(n) || json_integer_value(n) < 2 || json_integer_value(n) > DN_PLAN_MAX) {
        dn_web_error(r, 400, "count: the number of instalments, 2 or more");
        return;
    }
    const char *params[] = {fm.w.c.tenant, fm.w.c.customer, fm.inv};
    PGresult *q = dn_pg_query(p->pg,
                              "SELECT " PORTAL_PLAN_COLS " FROM cases c JOIN invoices i USING (tenant_id, invoice_id) "
                              "WHERE c.tenant_id = $1 AND c.customer_id = $2 AND c.invoice_id = $3",
                              3, params);
    if (!q || PQntuples(q) != 1) {
        PQclear(q);
        dn_web_error(r, 503, "Please try again in a moment.");
        return;
    }
    int32_t today = dn_date_from_ms(dn_clock_now_ms());
    portal_case_t pc;
    portal_case_read(p, fm.w.c.tenant, q, 0, 0, today, &pc);
    static dn_plan_t pl;
    dn_plan_cost_t cost;
    const char *code = "policy_limit";
    char why[256] = "";
    int ok = pc.plan_allowed && dn_plan_offer(&pc.pol->plan, pc.currency, pc.principal, pc.owed, today,
                                              (int)json_integer_value(n), &pl, &cost, &code, why, sizeof(why)) == 0;
    int auto_ok = ok && pl.n <= pc.pol->plan.auto_approve_max;
    PQclear(q);
    if (!ok) {
        dn_web_error(r, 422, "This plan is not available for this invoice%s%s.", why[0] ? ": " : "", why);
        return;
    }
    json_t *cmd = json_pack("{s:s, s:o}", "command", "plan", "instalments", portal_plan_instalments(&pl));
    act(p, r, &fm, "plan",
        json_pack("{s:i, s:I, s:s, s:b, s:o}", "count", pl.n, "total_minor", (json_int_t)cost.total, "currency",
                  fm.currency, "auto_approved", auto_ok, "instalments", portal_plan_instalments(&pl)),
        cmd);
}

static int text_ok(const char *s, size_t max)
{
    return !s || strlen(s) <= max;
}

static void post_dispute(dn_web_req_t *r, void *arg)
{
    portal_t *p = arg;
    form_t fm;
    if (!begin_action(p, r, &fm))
        return;
    json_t *b = dn_web_body_json(r);
    static const char *const reasons[] = {"not_received", "wrong_amount", "already_paid", "quality", "other"};
    const char *reason = json_string_value(json_object_get(b, "reason")),
               *text = json_string_value(json_object_get(b, "text"));
    int known = 0;
    for (size_t i = 0; reason && i < sizeof(reasons) / sizeof(reasons[0]); i++)
        known |= !strcmp(reason, reasons[i]);
    if (!known) {
        dn_web_error(r, 400, "reason: one of not_received, wrong_amount, already_paid, quality, other");
        return;
    }
    if (!text_ok(text, TEXT_MAX)) {
        dn_web_error(r, 400, "text: at most %d characters", TEXT_MAX);
        return;
    }
    json_t *cmd = json_pack("{s:s, s:s}", "command", "pause", "reason", "dispute");
    act(p, r, &fm, "dispute", json_pack("{s:s, s:s}", "reason", reason, "text", text ? text : ""), cmd);
}

static void post_claim_paid(dn_web_req_t *r, void *arg)
{
    portal_t *p = arg;
    form_t fm;
    if (!begin_action(p, r, &fm))
        return;
    const char *note = json_string_value(json_object_get(dn_web_body_json(r), "note"));
    if (!text_ok(note, TEXT_MAX)) {
        dn_web_error(r, 400, "note: at most %d characters", TEXT_MAX);
        return;
    }
    json_t *cmd = json_pack("{s:s, s:s}", "command", "claim_paid", "reason", "paid, says the customer (portal)");
    act(p, r, &fm, "claim_paid", json_pack("{s:s}", "note", note ? note : ""), cmd);
}

/* {invoice_id, no_sms, no_calls, email}: the form's wanted state, sent as the changes
 * from the current preferences (opt_out, opt_in, a corrected address) in one
 * set_preferences. The address is checked here as the engine checks it, and kept out of
 * portal_actions and the log (only that it changed). */
static void post_preferences(dn_web_req_t *r, void *arg)
{
    portal_t *p = arg;
    form_t fm;
    if (!begin_action(p, r, &fm))
        return;
    json_t *b = dn_web_body_json(r), *no_sms = json_object_get(b, "no_sms"), *no_calls = json_object_get(b, "no_calls"),
           *em = json_object_get(b, "email");
    if ((no_sms && !json_is_boolean(no_sms)) || (no_calls && !json_is_boolean(no_calls))) {
        dn_web_error(r, 400, "no_sms, no_calls: true or false");
        return;
    }
    if (em && !json_is_null(em) && !json_is_string(em)) {
        dn_web_error(r, 400, "email: a string");
        return;
    }
    const char *email = json_string_value(em);
    if (email && !email[0])
        email = NULL; /* left empty: unchanged */
    if (email && !dn_prefs_email_valid(email)) {
        dn_web_error(r, 400, "email: not an e-mail address");
        return;
    }
    unsigned cur;
    int corrected;
    char now_email[DN_PREFS_EMAIL_MAX + 1];
    if (current_prefs(p, &fm.w, &cur, now_email, sizeof(now_email), &corrected) < 0) {
        dn_web_error(r, 503, "Please try again in a moment.");
        return;
    }
    unsigned want = cur, sms = 1u << CH_SMS, voice = 1u << CH_VOICE;
    if (no_sms)
        want = json_is_true(no_sms) ? want | sms : want & ~sms;
    if (no_calls)
        want = json_is_true(no_calls) ? want | voice : want & ~voice;
    if (email && strcmp(email, now_email) == 0)
        email = NULL;
    unsigned add = want & ~cur, remove = cur & ~want;
    if (!add && !remove && !email) {
        dn_web_error(r, 422, "Nothing to change: these are your current preferences.");
        return;
    }
    json_t *out = json_array(), *in = json_array();
    for (int c = 0; c < CH_COUNT; c++) {
        if (add & (1u << c))
            json_array_append_new(out, json_string(dn_policy_channel_name((channel_t)c)));
        if (remove & (1u << c))
            json_array_append_new(in, json_string(dn_policy_channel_name((channel_t)c)));
    }
    json_t *cmd = json_pack("{s:s, s:O, s:O}", "command", "set_preferences", "opt_out", out, "opt_in", in);
    if (email)
        json_object_set_new(cmd, "email", json_string(email));
    act(p, r, &fm, "preferences", json_pack("{s:o, s:o, s:b}", "opt_out", out, "opt_in", in, "email_changed", !!email),
        cmd);
}

static void get_answers(dn_web_req_t *r, void *arg)
{
    portal_t *p = arg;
    who_t w;
    if (!resolve(p, r, &w))
        return;
    const char *cmd = dn_web_param(r, 1);
    if (!cmd || !dn_uuid_valid(cmd)) {
        dn_web_error(r, 404, "No such request.");
        return;
    }
    /* One row per audit row the command caused; one row of NULLs while none; no row: the
     * command is not this customer's. */
    const char *params[] = {w.c.tenant, w.c.customer, cmd};
    PGresult *q = dn_pg_query(
        p->pg,
        "SELECT a.kind, coalesce(a.to_state, ''), a.invoice_id FROM portal_actions pa LEFT JOIN audit a ON "
        "a.tenant_id = pa.tenant_id AND a.caused_by = pa.command_id WHERE pa.tenant_id = $1 AND pa.customer_id = $2 "
        "AND pa.command_id = $3::uuid ORDER BY a.id",
        3, params);
    if (!q) {
        dn_web_error(r, 503, "Please try again in a moment.");
        return;
    }
    if (PQntuples(q) == 0) {
        PQclear(q);
        dn_web_error(r, 404, "No such request.");
        return;
    }
    json_t *rows = json_array();
    for (int i = 0; i < PQntuples(q) && !PQgetisnull(q, i, 0); i++)
        json_array_append_new(rows, json_pack("{s:s, s:s, s:s}", "kind", PQgetvalue(q, i, 0), "state",
                                              PQgetvalue(q, i, 1), "invoice_id", PQgetvalue(q, i, 2)));
    PQclear(q);
    dn_web_json(r, 200,
                json_pack("{s:s, s:o}", "status", json_array_size(rows) ? "answered" : "pending", "answers", rows));
}

/* GET /api/p/{token}/letters/{id}: the PDF of a letter sent for one of this customer's
 * invoices. The file name is made here from the delivery's id (a UUID, checked), never
 * taken from the URL. */
static void get_letter(dn_web_req_t *r, void *arg)
{
    portal_t *p = arg;
    who_t w;
    if (!resolve(p, r, &w))
        return;
    const char *id = dn_web_param(r, 1);
    if (!p->cfg->letter_dir[0] || !id || !dn_uuid_valid(id)) {
        dn_web_error(r, 404, "No such letter.");
        return;
    }
    const char *params[] = {w.c.tenant, w.c.customer, id};
    PGresult *q = dn_pg_query(p->pg,
                              "SELECT d.event_id::text, coalesce(i.invoice_number, d.invoice_id) FROM deliveries d "
                              "JOIN cases c ON c.tenant_id = d.tenant_id AND c.invoice_id = d.invoice_id JOIN "
                              "invoices i ON i.tenant_id = d.tenant_id AND i.invoice_id = d.invoice_id WHERE "
                              "d.tenant_id = $1 AND c.customer_id = $2 AND d.event_id = $3::uuid AND d.channel = "
                              "'letter' AND d.status = 'delivered'",
                              3, params);
    if (!q) {
        dn_web_error(r, 503, "Please try again in a moment.");
        return;
    }
    char path[1400] = "", number[64] = "";
    if (PQntuples(q) == 1) {
        snprintf(path, sizeof(path), "%s/letter-%s.pdf", p->cfg->letter_dir, PQgetvalue(q, 0, 0));
        snprintf(number, sizeof(number), "%s", PQgetvalue(q, 0, 1));
    }
    PQclear(q);
    FILE *f = path[0] ? fopen(path, "rb") : NULL;
    if (!f) {
        dn_web_error(r, 404, "No such letter.");
        return;
    }
    char *data = NULL;
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len <= 16L * 1024 * 1024 && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)len + 1)) && fread(data, 1, (size_t)len, f) != (size_t)len) {
        free(data);
        data = NULL;
    }
    fclose(f);
    if (!data) {
        dn_web_error(r, 503, "Please try again in a moment.");
        return;
    }
    for (char *c = number; *c; c++) /* the download's name: letters, digits, - and _ only */
        if (!((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == '-'))
            *c = '_';
    char disp[128];
    snprintf(disp, sizeof(disp), "attachment; filename=\"letter-%s.pdf\"", number);
    dn_web_body(r, 200, "application/pdf", data, (size_t)len, disp);
}

static void get_page(dn_web_req_t *r, void *arg)
{
    (void)arg;
    dn_web_file(r, "/index.html");
}

/* /healthz: the process serves; /readyz: and the database answers (the broker is asked
 * only when a command is published: a failure there is a 503 to that request). */
static void get_healthz(dn_web_req_t *r, void *arg)
{
    (void)arg;
    dn_web_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void get_readyz(dn_web_req_t *r, void *arg)
{
    portal_t *p = arg;
    PGresult *q = dn_pg_query(p->pg, "SELECT 1", 0, NULL);
    int ok = q != NULL;
    PQclear(q);
    if (ok)
        dn_web_json(r, 200, json_pack("{s:s}", "status", "ready"));
    else
        dn_web_error(r, 503, "postgres: %s", dn_pg_errstr(p->pg));
}

int portal_routes(portal_t *p, dn_web_t *w)
{
    (void)p;
    return dn_web_route(w, "GET", "/healthz", get_healthz, DN_WEB_PUBLIC) < 0 ||
                   dn_web_route(w, "GET", "/readyz", get_readyz, DN_WEB_PUBLIC) < 0 ||
                   dn_web_route(w, "GET", "/p/{}", get_page, DN_WEB_PUBLIC) < 0 ||
                   dn_web_route(w, "GET", "/s/{}", get_page, DN_WEB_PUBLIC) < 0 ||
                   dn_web_route(w, "GET", "/api/p/{}", get_overview, DN_WEB_PUBLIC) < 0 ||
                   dn_web_route(w, "POST", "/api/p/{}/promise", post_promise, DN_WEB_PUBLIC) < 0 ||
                   dn_web_route(w, "POST", "/api/p/{}/dispute", post_dispute, DN_WEB_PUBLIC) < 0 ||
                   dn_web_route(w, "POST", "/api/p/{}/claim-paid", post_claim_paid, DN_WEB_PUBLIC) < 0 ||
                   dn_web_route(w, "POST", "/api/p/{}/plan", post_plan, DN_WEB_PUBLIC) < 0 ||
                   dn_web_route(w, "POST", "/api/p/{}/preferences", post_preferences, DN_WEB_PUBLIC) < 0 ||
                   dn_web_route(w, "GET", "/api/p/{}/answers/{}", get_answers, DN_WEB_PUBLIC) < 0 ||
                   dn_web_route(w, "GET", "/api/p/{}/letters/{}", get_letter, DN_WEB_PUBLIC) < 0
               ? -1
               : 0;
}
