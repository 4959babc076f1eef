/* What the engine does with each input record and each due timer. Every handler
 * runs inside the caller's transaction; effects leave only through the outbox and
 * the timer ops applied after COMMIT. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dn_avro.h"
#include "dn_clock.h"
#include "dn_currency.h"
#include "dn_log.h"
#include "dn_outbox.h"
#include "dn_topics.h"
#include "engine.h"

#define ID_MAX   200  /* longest tenant, customer, invoice or payment id accepted */
#define TEXT_MAX 1000 /* longest name, link or other free text accepted */

typedef struct case_row {
    char case_id[DN_UUID_STR_LEN];
    char tenant_id[ID_MAX + 1], invoice_id[ID_MAX + 1], customer_id[ID_MAX + 1];
    char policy[ID_MAX + 1], state[32], currency[4];
    int stage, next_stage;
    int64_t amount, paid, outstanding, fee, interest;
    int64_t next_action_ms; /* -1 = none */
    int32_t due_date;
} case_row_t;

static const char *const case_columns =
    "c.case_id, c.tenant_id, c.invoice_id, c.customer_id, c.policy, c.state, c.stage, c.amount_minor, "
    "c.paid_minor, c.outstanding_minor, c.fee_minor, c.interest_minor, c.currency, coalesce(c.next_stage, 0), "
    "coalesce((extract(epoch from c.next_action_at) * 1000)::bigint, -1), (i.due_date - date '1970-01-01')";

int reject(engine_t *e, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->reject_reason, sizeof(e->reject_reason), fmt, ap);
    va_end(ap);
    e->reject_code = code;
    return H_REJECT;
}

static int is_resolved(const char *state)
{
    return strcmp(state, "resolved") == 0;
}

static void fmt_i64(char *buf, size_t size, int64_t v)
{
    snprintf(buf, size, "%" PRId64, v);
}

static void case_id_for(const char *tenant, const char *invoice, char out[DN_UUID_STR_LEN])
{
    const char *parts[] = {"case", tenant, invoice};
    dn_uuid_derive(out, parts, 3);
}

static void case_from_row(PGresult *r, case_row_t *c)
{
    snprintf(c->case_id, sizeof(c->case_id), "%s", PQgetvalue(r, 0, 0));
    snprintf(c->tenant_id, sizeof(c->tenant_id), "%s", PQgetvalue(r, 0, 1));
    snprintf(c->invoice_id, sizeof(c->invoice_id), "%s", PQgetvalue(r, 0, 2));
    snprintf(c->customer_id, sizeof(c->customer_id), "%s", PQgetvalue(r, 0, 3));
    snprintf(c->policy, sizeof(c->policy), "%s", PQgetvalue(r, 0, 4));
    snprintf(c->state, sizeof(c->state), "%s", PQgetvalue(r, 0, 5));
    c->stage = atoi(PQgetvalue(r, 0, 6));
    c->amount = strtoll(PQgetvalue(r, 0, 7), NULL, 10);
    c->paid = strtoll(PQgetvalue(r, 0, 8), NULL, 10);
    c->outstanding = strtoll(PQgetvalue(r, 0, 9), NULL, 10);
    c->fee = strtoll(PQgetvalue(r, 0, 10), NULL, 10);
    c->interest = strtoll(PQgetvalue(r, 0, 11), NULL, 10);
    snprintf(c->currency, sizeof(c->currency), "%s", PQgetvalue(r, 0, 12));
    c->next_stage = atoi(PQgetvalue(r, 0, 13));
    c->next_action_ms = strtoll(PQgetvalue(r, 0, 14), NULL, 10);
    c->due_date = (int32_t)atoi(PQgetvalue(r, 0, 15));
}

/* Loads and row-locks a case. 1 found, 0 none, -1 database error. */
static int load_case(engine_t *e, const char *case_id, case_row_t *c)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "SELECT %s FROM cases c JOIN invoices i USING (tenant_id, invoice_id) WHERE c.case_id = $1 "
             "FOR UPDATE OF c",
             case_columns);
    const char *params[] = {case_id};
    PGresult *r = dn_pg_query(e->pg, sql, 1, params);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found)
        case_from_row(r, c);
    PQclear(r);
    return found;
}

static int save_case(engine_t *e, const case_row_t *c, const char *resolved_reason, int64_t now)
{
    char stage[16], paid[24], outstanding[24], fee[24], interest[24], next_stage[16], next_at[40], upd[40];
    snprintf(stage, sizeof(stage), "%d", c->stage);
    fmt_i64(paid, sizeof(paid), c->paid);
    fmt_i64(outstanding, sizeof(outstanding), c->outstanding);
    fmt_i64(fee, sizeof(fee), c->fee);
    fmt_i64(interest, sizeof(interest), c->interest);
    snprintf(next_stage, sizeof(next_stage), "%d", c->next_stage);
    dn_time_format(c->next_action_ms, next_at, sizeof(next_at));
    dn_time_format(now, upd, sizeof(upd));
    int has_next = c->next_action_ms >= 0;
    const char *params[] = {c->case_id,
                            c->state,
                            stage,
                            paid,
                            outstanding,
                            fee,
                            interest,
                            has_next ? next_stage : NULL,
                            has_next ? next_at : NULL,
                            resolved_reason,
                            upd};
    PGresult *r = dn_pg_query(e->pg,
                              "UPDATE cases SET state = $2, stage = $3, paid_minor = $4, outstanding_minor = $5, "
                              "fee_minor = $6, interest_minor = $7, next_stage = $8, next_action_at = $9, "
                              "resolved_reason = coalesce($10, resolved_reason), updated_at = $11 WHERE case_id = $1",
                              11, params);
    if (!r)
        return -1;
    PQclear(r);
    engine_timer_op(e, c->case_id, has_next ? c->next_action_ms : -1);
    return 0;
}

/* One audit row and one DunningCaseEvent, in the caller's transaction. `detail` is stolen. */
static int record(engine_t *e, const case_row_t *c, const char *kind, const char *from, const char *reason,
                  const char *caused_by, int64_t now, json_t *detail)
{
    int rc = -1;
    char at[40], stage[16], outstanding[24];
    char *detail_txt = NULL, *buf = NULL;
    size_t len = 0;
    dn_time_format(now, at, sizeof(at));
    snprintf(stage, sizeof(stage), "%d", c->stage);
    fmt_i64(outstanding, sizeof(outstanding), c->outstanding);
    if (!detail)
        detail = json_object();
    if (reason)
        json_object_set_new(detail, "reason", json_string(reason));
    detail_txt = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
    const char *params[] = {c->tenant_id, c->customer_id, c->invoice_id, c->case_id,  at,        kind,
                            from,         c->state,       stage,         outstanding, caused_by, detail_txt};
    PGresult *r = dn_pg_query(e->pg,
                              "INSERT INTO audit (tenant_id, customer_id, invoice_id, case_id, at, kind, from_state, "
                              "to_state, stage, outstanding_minor, caused_by, detail) "
                              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                              12, params);
    if (!r)
        goto out;
    PQclear(r);

    char event_id[DN_UUID_STR_LEN];
    const char *parts[] = {"case-event", c->case_id, kind, caused_by ? caused_by : "", stage};
    dn_uuid_derive(event_id, parts, 5);
    dn_dunning_case_event_t ev = {.event_id = event_id,
                                  .occurred_at = now,
                                  .tenant_id = (char *)c->tenant_id,
                                  .customer_id = (char *)c->customer_id,
                                  .case_id = (char *)c->case_id,
                                  .invoice_id = (char *)c->invoice_id,
                                  .event_type = (char *)kind,
                                  .from_state = (char *)from,
                                  .to_state = (char *)c->state,
                                  .stage = c->stage,
                                  .outstanding_minor = c->outstanding,
                                  .fee_minor = c->fee,
                                  .interest_minor = c->interest,
                                  .currency = (char *)c->currency,
                                  .reason = (char *)reason,
                                  .caused_by_event_id = (char *)caused_by};
    char key[2 * ID_MAX + 2];
    dn_topic_key(c->tenant_id, c->customer_id, key, sizeof(key));
    if (dn_dunning_case_event_encode(&ev, &buf, &len) < 0) {
        dn_log_error("cannot encode case event", "case_id", c->case_id, NULL);
        goto out;
    }
    if (dn_outbox_add(e->pg, event_id, dn_topic_name(DN_TOPIC_CASE_EVENTS), key, buf, len) < 0)
        goto out;
    rc = 0;
out:
    json_decref(detail);
    free(detail_txt);
    free(buf);
    return rc;
}

/* Marks an input event processed. 1 = first time, 0 = already processed, -1 = error. */
static int first_time(engine_t *e, const char *event_id, const char *topic)
{
    const char *params[] = {event_id, topic};
    PGresult *r = dn_pg_query(e->pg,
                              "INSERT INTO processed_events (event_id, topic) VALUES ($1, $2) "
                              "ON CONFLICT DO NOTHING RETURNING 1",
                              2, params);
    if (!r)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n == 1;
}

static int check_id(engine_t *e, const char *field, const char *v)
{
    if (!v || !*v)
        return reject(e, "invalid_field", "field %s: must not be empty", field);
    if (strlen(v) > ID_MAX)
        return reject(e, "invalid_field", "field %s: longer than %d bytes", field, ID_MAX);
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20)
            return reject(e, "invalid_field", "field %s: contains a control character", field);
    return H_OK;
}

static int check_text(engine_t *e, const char *field, const char *v)
{
    if (v && strlen(v) > TEXT_MAX)
        return reject(e, "invalid_field", "field %s: longer than %d bytes", field, TEXT_MAX);
    for (const char *p = v; p && *p; p++)
        if (*p == '\r' || *p == '\n')
            return reject(e, "invalid_field", "field %s: contains a line break", field);
    return H_OK;
}

static int check_money(engine_t *e, int64_t amount, const char *currency)
{
    if (amount <= 0)
        return reject(e, "invalid_field", "field amount_minor: %" PRId64 " is not a positive amount", amount);
    if (amount > INT64_MAX / 1000)
        return reject(e, "invalid_field", "field amount_minor: %" PRId64 " is too large", amount);
    if (dn_currency_exponent(currency) < 0)
        return reject(e, "invalid_field", "field currency: '%.8s' is not an ISO 4217 currency", currency);
    return H_OK;
}

static int validate_invoice(engine_t *e, const dn_invoice_issued_t *v)
{
    int rc;
    if ((rc = check_id(e, "tenant_id", v->tenant_id)) || (rc = check_id(e, "customer_id", v->customer_id)) ||
        (rc = check_id(e, "invoice_id", v->invoice_id)) || (rc = check_money(e, v->amount_minor, v->currency)) ||
        (rc = check_text(e, "invoice_number", v->invoice_number)) ||
        (rc = check_text(e, "payment_link", v->payment_link)) ||
        (rc = check_text(e, "contact.name", v->contact.name)) ||
        (rc = check_text(e, "contact.email", v->contact.email)) ||
        (rc = check_text(e, "contact.phone", v->contact.phone)))
        return rc;
    if (!v->contact.name[0])
        return reject(e, "invalid_field", "field contact.name: must not be empty");
    if (v->contact.email && (!strchr(v->contact.email, '@') || strpbrk(v->contact.email, " <>,;\"")))
        return reject(e, "invalid_field", "field contact.email: not an e-mail address");
    if (v->due_date < v->issue_date)
        return reject(e, "invalid_field", "field due_date: before issue_date");
    if (!policy_select(e->policies, v->tenant_id, v->policy, v->customer_segment))
        return reject(e, "invalid_field", "field policy: '%.64s' is not a policy of tenant '%.64s'",
                      v->policy ? v->policy : "", v->tenant_id);
    return H_OK;
}

static int64_t stage_due_ms(const case_row_t *c, const policy_t *p, int stage)
{
    return dn_date_to_ms(c->due_date) + p->stages[stage - 1].offset_ms;
}

static const policy_t *case_policy(engine_t *e, const case_row_t *c)
{
    const policy_t *p = policy_find(e->policies, c->tenant_id, c->policy);
    if (!p) {
        dn_log_warn("case policy no longer configured, using the tenant default", "case_id", c->case_id, "policy",
                    c->policy, NULL);
        p = policy_select(e->policies, c->tenant_id, NULL, NULL);
    }
    return p;
}

/* Applies `amount` to an open case; resolves it when nothing is left to pay. */
static int apply_payment(engine_t *e, case_row_t *c, int64_t amount, const char *payment_id, const char *caused_by,
                         int64_t now)
{
    char from[32];
    snprintf(from, sizeof(from), "%s", c->state);
    int was_resolved = is_resolved(c->state);
    c->paid += amount;
    int64_t left = c->amount - c->paid;
    c->outstanding = left > 0 ? left : 0;
    json_t *detail = json_pack("{s:s, s:I}", "payment_id", payment_id, "amount_minor", (json_int_t)amount);
    if (left < 0)
        json_object_set_new(detail, "overpaid_minor", json_integer(-left));
    if (!was_resolved && left <= 0) {
        snprintf(c->state, sizeof(c->state), "resolved");
        c->next_stage = 0;
        c->next_action_ms = -1;
    }
    if (save_case(e, c, !was_resolved && left <= 0 ? "paid" : NULL, now) < 0 ||
        record(e, c, "payment_applied", from, NULL, caused_by, now, detail) < 0)
        return H_DBERR;
    if (!was_resolved && left <= 0 && record(e, c, "resolved", from, "paid", caused_by, now, NULL) < 0)
        return H_DBERR;
    return H_OK;
}

static int handle_invoice(engine_t *e, const rd_kafka_message_t *m)
{
    dn_invoice_issued_t v = {0};
    dn_avro_err_t err;
    int rc = H_OK;
    json_t *whole = NULL;
    char *contact = NULL;
    if (dn_invoice_issued_decode(m->payload, m->len, &v, &err) < 0)
        return reject(e, dn_avro_code_str(err.code), "%s", err.msg);
    if ((rc = validate_invoice(e, &v)) != H_OK)
        goto out;
    int first = first_time(e, v.event_id, rd_kafka_topic_name(m->rkt));
    if (first <= 0) {
        rc = first < 0 ? H_DBERR : H_OK;
        goto out;
    }
    const policy_t *pol = policy_select(e->policies, v.tenant_id, v.policy, v.customer_segment);
    int64_t now = dn_clock_now_ms();
    char amount[24], issue[16], due[16], at[40];
    fmt_i64(amount, sizeof(amount), v.amount_minor);
    dn_date_format(v.issue_date, issue, sizeof(issue));
    dn_date_format(v.due_date, due, sizeof(due));
    dn_time_format(v.occurred_at, at, sizeof(at));
    whole = dn_avro_to_json(m->payload, m->len, &err);
    contact = whole ? json_dumps(json_object_get(whole, "contact"), JSON_COMPACT) : NULL;
    if (!contact) {
        rc = reject(e, "invalid_field", "field contact: cannot be represented as JSON");
        goto out;
    }
    const char *params[] = {v.tenant_id,    v.invoice_id, v.customer_id, v.invoice_number, amount,
                            v.currency,     issue,        due,           v.policy,         v.customer_segment,
                            v.payment_link, contact,      m->payload,    v.event_id,       at};
    int lengths[15] = {0};
    int formats[15] = {0};
    lengths[12] = (int)m->len;
    formats[12] = 1;
    PGresult *r =
        dn_pg_query_bin(e->pg,
                        "INSERT INTO invoices (tenant_id, invoice_id, customer_id, invoice_number, "
                        "amount_minor, currency, issue_date, due_date, policy, customer_segment, "
                        "payment_link, contact, source, issued_event_id, issued_at) VALUES ($1, $2, $3, $4, "
                        "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING RETURNING 1",
                        15, params, lengths, formats);
    if (!r) {
        rc = H_DBERR;
        goto out;
    }
    int inserted = PQntuples(r) == 1;
    PQclear(r);
    if (!inserted) {
        /* The same invoice under another event id: harmless if identical, a billing bug if not. */
        const char *kp[] = {v.tenant_id, v.invoice_id, amount, v.currency, due};
        r = dn_pg_query(e->pg,
                        "SELECT amount_minor = $3::bigint AND currency = $4 AND due_date = $5::date FROM invoices "
                        "WHERE tenant_id = $1 AND invoice_id = $2",
                        5, kp);
        if (!r) {
            rc = H_DBERR;
            goto out;
        }
        int same = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
        PQclear(r);
        if (!same)
            rc = reject(e, "conflicting_duplicate",
                        "invoice %.64s was already issued with another amount, currency or due date", v.invoice_id);
        else
            dn_log_info("invoice already known, ignored", "event_id", v.event_id, "tenant_id", v.tenant_id,
                        "invoice_id", v.invoice_id, NULL);
        goto out;
    }

    case_row_t c = {
        .stage = 0, .amount = v.amount_minor, .outstanding = v.amount_minor, .due_date = v.due_date, .next_stage = 1};
    case_id_for(v.tenant_id, v.invoice_id, c.case_id);
    snprintf(c.tenant_id, sizeof(c.tenant_id), "%s", v.tenant_id);
    snprintf(c.invoice_id, sizeof(c.invoice_id), "%s", v.invoice_id);
    snprintf(c.customer_id, sizeof(c.customer_id), "%s", v.customer_id);
    snprintf(c.policy, sizeof(c.policy), "%s", pol->name);
    snprintf(c.currency, sizeof(c.currency), "%s", v.currency);
    snprintf(c.state, sizeof(c.state), "open");
    c.next_action_ms = stage_due_ms(&c, pol, 1);
    char now_txt[40];
    dn_time_format(now, now_txt, sizeof(now_txt));
    const char *cp[] = {c.case_id, c.tenant_id, c.invoice_id, c.customer_id, c.policy, amount, c.currency, now_txt};
    r = dn_pg_query(e->pg,
                    "INSERT INTO cases (case_id, tenant_id, invoice_id, customer_id, policy, state, amount_minor, "
                    "outstanding_minor, currency, opened_at, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, 'open', $6, $6, $7, $8, $8)",
                    8, cp);
    if (!r) {
        rc = H_DBERR;
        goto out;
    }
    PQclear(r);
    if (save_case(e, &c, NULL, now) < 0 || record(e, &c, "opened", NULL, NULL, v.event_id, now,
                                                  json_pack("{s:s, s:s, s:I}", "policy", c.policy, "due_date", due,
                                                            "amount_minor", (json_int_t)v.amount_minor)) < 0) {
        rc = H_DBERR;
        goto out;
    }

    /* Payments that arrived before their invoice. */
    const char *hp[] = {c.tenant_id, c.invoice_id};
    r = dn_pg_query(e->pg,
                    "UPDATE payments SET applied = true WHERE tenant_id = $1 AND invoice_id = $2 AND NOT applied "
                    "RETURNING payment_id, amount_minor, currency, event_id",
                    2, hp);
    if (!r) {
        rc = H_DBERR;
        goto out;
    }
    for (int i = 0; i < PQntuples(r) && rc == H_OK; i++) {
        const char *pid = PQgetvalue(r, i, 0), *cur = PQgetvalue(r, i, 2), *pev = PQgetvalue(r, i, 3);
        if (strcmp(cur, c.currency) != 0) {
            if (record(e, &c, "payment_rejected", c.state, "currency mismatch", pev, now,
                       json_pack("{s:s, s:s}", "payment_id", pid, "currency", cur)) < 0)
                rc = H_DBERR;
            continue;
        }
        if (apply_payment(e, &c, strtoll(PQgetvalue(r, i, 1), NULL, 10), pid, pev, now) != H_OK)
            rc = H_DBERR;
    }
    PQclear(r);
    dn_log_info("case opened", "event_id", v.event_id, "tenant_id", v.tenant_id, "invoice_id", v.invoice_id, "case_id",
                c.case_id, "state", c.state, NULL);
out:
    json_decref(whole);
    free(contact);
    dn_invoice_issued_free(&v);
    return rc;
}

static int handle_payment(engine_t *e, const rd_kafka_message_t *m)
{
    dn_payment_received_t v = {0};
    dn_avro_err_t err;
    int rc;
    if (dn_payment_received_decode(m->payload, m->len, &v, &err) < 0)
        return reject(e, dn_avro_code_str(err.code), "%s", err.msg);
    if ((rc = check_id(e, "tenant_id", v.tenant_id)) || (rc = check_id(e, "customer_id", v.customer_id)) ||
        (rc = check_id(e, "invoice_id", v.invoice_id)) || (rc = check_id(e, "payment_id", v.payment_id)) ||
        (rc = check_text(e, "method", v.method)) || (rc = check_money(e, v.amount_minor, v.currency)))
        goto out;
    int first = first_time(e, v.event_id, rd_kafka_topic_name(m->rkt));
    if (first <= 0) {
        rc = first < 0 ? H_DBERR : H_OK;
        goto out;
    }
    int64_t now = dn_clock_now_ms();
    case_row_t c;
    char case_id[DN_UUID_STR_LEN];
    case_id_for(v.tenant_id, v.invoice_id, case_id);
    int found = load_case(e, case_id, &c);
    if (found < 0) {
        rc = H_DBERR;
        goto out;
    }
    if (found && strcmp(c.currency, v.currency) != 0) {
        rc = reject(e, "currency_mismatch", "payment in %.8s for invoice %.64s in %s", v.currency, v.invoice_id,
                    c.currency);
        goto out;
    }
    char amount[24], at[40];
    fmt_i64(amount, sizeof(amount), v.amount_minor);
    dn_time_format(v.occurred_at, at, sizeof(at));
    const char *pp[] = {v.tenant_id, v.payment_id, v.invoice_id, v.customer_id,    amount, v.currency,
                        v.method,    v.event_id,   at,           found ? "t" : "f"};
    PGresult *r = dn_pg_query(e->pg,
                              "INSERT INTO payments (tenant_id, payment_id, invoice_id, customer_id, amount_minor, "
                              "currency, method, event_id, received_at, applied) VALUES ($1, $2, $3, $4, $5, $6, $7, "
                              "$8, $9, $10) ON CONFLICT DO NOTHING RETURNING 1",
                              10, pp);
    if (!r) {
        rc = H_DBERR;
        goto out;
    }
    int inserted = PQntuples(r) == 1;
    PQclear(r);
    if (!inserted) {
        dn_log_info("payment already known, ignored", "event_id", v.event_id, "tenant_id", v.tenant_id, "invoice_id",
                    v.invoice_id, "payment_id", v.payment_id, NULL);
        rc = H_OK;
        goto out;
    }
    if (!found) {
        /* Held until the invoice arrives; recorded against the case id the invoice will get. */
        case_row_t held = {.outstanding = 0};
        snprintf(held.case_id, sizeof(held.case_id), "%s", case_id);
        snprintf(held.tenant_id, sizeof(held.tenant_id), "%s", v.tenant_id);
        snprintf(held.invoice_id, sizeof(held.invoice_id), "%s", v.invoice_id);
        snprintf(held.customer_id, sizeof(held.customer_id), "%s", v.customer_id);
        snprintf(held.currency, sizeof(held.currency), "%s", v.currency);
        snprintf(held.state, sizeof(held.state), "awaiting_invoice");
        rc = record(e, &held, "payment_held", NULL, "invoice not yet known", v.event_id, now,
                    json_pack("{s:s, s:I}", "payment_id", v.payment_id, "amount_minor", (json_int_t)v.amount_minor)) < 0
                 ? H_DBERR
                 : H_OK;
        dn_log_info("payment held for unknown invoice", "event_id", v.event_id, "tenant_id", v.tenant_id, "invoice_id",
                    v.invoice_id, NULL);
        goto out;
    }
    rc = apply_payment(e, &c, v.amount_minor, v.payment_id, v.event_id, now);
    dn_log_info("payment applied", "event_id", v.event_id, "tenant_id", v.tenant_id, "invoice_id", v.invoice_id,
                "case_id", c.case_id, "state", c.state, NULL);
out:
    dn_payment_received_free(&v);
    return rc;
}

int handle_record(engine_t *e, const rd_kafka_message_t *m)
{
    dn_topic_id_t topic;
    e->reject_code = NULL;
    if (dn_topic_lookup(rd_kafka_topic_name(m->rkt), &topic) < 0)
        return reject(e, "unknown_topic", "no handler for topic %s", rd_kafka_topic_name(m->rkt));
    if (!m->payload || m->len == 0)
        return reject(e, "bad_framing", "empty record");
    switch (topic) {
    case DN_TOPIC_INVOICE_ISSUED:
        return handle_invoice(e, m);
    case DN_TOPIC_PAYMENT_RECEIVED:
        return handle_payment(e, m);
    default:
        return reject(e, "unknown_topic", "no handler for topic %s", rd_kafka_topic_name(m->rkt));
    }
}

static int contact_has(const dn_customer_contact_t *ct, channel_t ch)
{
    for (size_t i = 0; i < ct->opted_out_channels_n; i++)
        if (strcmp(ct->opted_out_channels[i], channel_name(ch)) == 0)
            return 0;
    switch (ch) {
    case CH_EMAIL:
        return ct->email && *ct->email;
    case CH_SMS:
        return ct->phone && *ct->phone;
    case CH_LETTER:
        return ct->address != NULL;
    }
    return 0;
}

static const dn_topic_id_t channel_topics[] = {DN_TOPIC_REMINDER_DUE_EMAIL, DN_TOPIC_REMINDER_DUE_SMS,
                                               DN_TOPIC_REMINDER_DUE_LETTER};
static const dn_channel_t channel_enums[] = {DN_CHANNEL_EMAIL, DN_CHANNEL_SMS, DN_CHANNEL_LETTER};

/* Writes one ReminderDue per available channel of `stage` into the outbox. Returns the
 * number emitted, or -1. */
static int emit_reminders(engine_t *e, const case_row_t *c, const policy_t *pol, int stage, int64_t due_ms, int64_t now,
                          json_t *emitted)
{
    const stage_t *st = &pol->stages[stage - 1];
    int n = -1;
    PGresult *r = NULL;
    dn_invoice_issued_t inv = {0};
    dn_avro_err_t err;
    const char *params[] = {c->tenant_id, c->invoice_id};
    r = dn_pg_query_bin(e->pg, "SELECT source FROM invoices WHERE tenant_id = $1 AND invoice_id = $2", 2, params, NULL,
                        NULL);
    if (!r || PQntuples(r) != 1)
        goto out;
    size_t srclen;
    unsigned char *src = PQunescapeBytea((const unsigned char *)PQgetvalue(r, 0, 0), &srclen);
    int bad = !src || dn_invoice_issued_decode(src, srclen, &inv, &err) < 0;
    PQfreemem(src);
    if (bad) {
        dn_log_error("stored invoice does not decode", "case_id", c->case_id, "detail", bad && src ? err.msg : "",
                     NULL);
        goto out;
    }
    char stage_txt[16], key[2 * ID_MAX + 2];
    snprintf(stage_txt, sizeof(stage_txt), "%d", stage);
    dn_topic_key(c->tenant_id, c->customer_id, key, sizeof(key));
    n = 0;
    for (size_t i = 0; i < st->nchannels; i++) {
        channel_t ch = st->channels[i];
        if (!contact_has(&inv.contact, ch))
            continue;
        char event_id[DN_UUID_STR_LEN];
        const char *parts[] = {"reminder", c->case_id, stage_txt, channel_name(ch)};
        dn_uuid_derive(event_id, parts, 4);
        dn_reminder_due_t rd = {.event_id = event_id,
                                .occurred_at = now,
                                .tenant_id = (char *)c->tenant_id,
                                .customer_id = (char *)c->customer_id,
                                .case_id = (char *)c->case_id,
                                .invoice_id = (char *)c->invoice_id,
                                .invoice_number = inv.invoice_number,
                                .channel = channel_enums[ch],
                                .stage = stage,
                                .stage_name = st->name,
                                .template_key = st->template_key,
                                .policy = pol->name,
                                .issue_date = inv.issue_date,
                                .due_date = inv.due_date,
                                .days_overdue = (int32_t)((due_ms - dn_date_to_ms(inv.due_date)) / 86400000),
                                .amount_minor = c->amount,
                                .outstanding_minor = c->outstanding,
                                .fee_minor = c->fee,
                                .interest_minor = c->interest,
                                .total_due_minor = c->outstanding + c->fee + c->interest,
                                .currency = (char *)c->currency,
                                .action = st->action,
                                .payment_link = inv.payment_link,
                                .due_at = due_ms,
                                .contact = inv.contact};
        char *buf = NULL;
        size_t len = 0;
        int ok = dn_reminder_due_encode(&rd, &buf, &len) == 0 &&
                 dn_outbox_add(e->pg, event_id, dn_topic_name(channel_topics[ch]), key, buf, len) == 0;
        free(buf);
        if (!ok) {
            n = -1;
            goto out;
        }
        json_array_append_new(emitted, json_pack("{s:s, s:s}", "channel", channel_name(ch), "event_id", event_id));
        n++;
    }
out:
    PQclear(r);
    dn_invoice_issued_free(&inv);
    return n;
}

int fire_timer(engine_t *e, const char *case_id, int64_t now)
{
    case_row_t c;
    if (!dn_uuid_valid(case_id)) {
        engine_timer_op(e, case_id, -1);
        return H_OK;
    }
    int found = load_case(e, case_id, &c);
    if (found < 0)
        return H_DBERR;
    if (!found || is_resolved(c.state) || c.next_action_ms < 0) {
        engine_timer_op(e, case_id, -1); /* stale index entry */
        return H_OK;
    }
    if (c.next_action_ms > now) {
        engine_timer_op(e, case_id, c.next_action_ms); /* claimed early or moved: put the true time back */
        return H_OK;
    }
    const policy_t *pol = case_policy(e, &c);
    int stage = c.next_stage;
    if (stage < 1 || stage > (int)pol->nstages) {
        c.next_action_ms = -1;
        return save_case(e, &c, NULL, now) < 0 ? H_DBERR : H_OK;
    }
    /* Catch-up: if the engine was away past several stages, fire only the latest that
     * applies now and record the ones passed over; never a burst of stale reminders. */
    char from[32];
    snprintf(from, sizeof(from), "%s", c.state);
    while (stage < (int)pol->nstages && stage_due_ms(&c, pol, stage + 1) <= now) {
        c.stage = stage;
        if (record(e, &c, "stage_skipped", from, "a later stage is already due", NULL, now,
                   json_pack("{s:s}", "stage_name", pol->stages[stage - 1].name)) < 0)
            return H_DBERR;
        stage++;
    }
    const stage_t *st = &pol->stages[stage - 1];
    int64_t due_ms = stage_due_ms(&c, pol, stage);
    c.stage = stage;
    snprintf(c.state, sizeof(c.state), "%s",
             st->action && strcmp(st->action, "final_notice") == 0 ? "final_notice"
             : st->offset_ms < 0                                   ? "pre_due_reminded"
                                                                   : "overdue");
    json_t *emitted = json_array();
    int n = emit_reminders(e, &c, pol, stage, due_ms, now, emitted);
    if (n < 0) {
        json_decref(emitted);
        return H_DBERR;
    }
    if (stage < (int)pol->nstages) {
        c.next_stage = stage + 1;
        c.next_action_ms = stage_due_ms(&c, pol, stage + 1);
    } else {
        c.next_stage = 0;
        c.next_action_ms = -1;
    }
    char caused_by[DN_UUID_STR_LEN], stage_txt[16];
    snprintf(stage_txt, sizeof(stage_txt), "%d", stage);
    const char *parts[] = {"timer", c.case_id, stage_txt};
    dn_uuid_derive(caused_by, parts, 3);
    if (save_case(e, &c, NULL, now) < 0 ||
        record(e, &c, n > 0 ? "reminder_emitted" : "reminder_undeliverable", from,
               n > 0 ? NULL : "no channel of the stage reaches the customer", caused_by, now,
               json_pack("{s:s, s:s, s:o}", "stage_name", st->name, "template", st->template_key, "reminders",
                         emitted)) < 0)
        return H_DBERR;
    if (st->action && record(e, &c, st->action, from, NULL, caused_by, now, NULL) < 0)
        return H_DBERR;
    dn_log_info("stage fired", "tenant_id", c.tenant_id, "invoice_id", c.invoice_id, "case_id", c.case_id, "stage_name",
                st->name, "state", c.state, NULL);
    return H_OK;
}
