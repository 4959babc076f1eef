/* Payment methods and card-expiry notices (see cards.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "cards.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_pgarray.h"
#include "dn_rules.h"
#include "dn_topics.h"
#include "effects.h"
#include "reminders.h"
#include "writes.h"

/* A card is valid through the last day of its expiry month: it "expires" the day after. */
static int32_t expiry_day(int exp_year, int exp_month)
{
    char d[16];
    snprintf(d, sizeof(d), "%04d-%02d-01", exp_month == 12 ? exp_year + 1 : exp_year,
             exp_month == 12 ? 1 : exp_month + 1);
    int32_t day = 0;
    dn_date_parse(d, &day);
    return day;
}

static void card_notice_id(const char *tenant, const char *pm, int exp_year, int exp_month, int64_t before_ms,
                           char out[DN_UUID_STR_LEN])
{
    char exp[16], before[24];
    snprintf(exp, sizeof(exp), "%04d-%02d", exp_year, exp_month);
    snprintf(before, sizeof(before), "%" PRId64, (int64_t)(before_ms / RULES_DAY_MS));
    const char *parts[] = {"card-expiry", tenant, pm, exp, before};
    dn_uuid_derive(out, parts, 5);
}

/* Cancels the pending card notices of the customer's method `pm` (every other method of
 * the customer's when `others`), except `keep` (a uuid[] literal of ids, or "{}"). */
static int cancel_notices(engine_t *e, const char *tenant, const char *customer, const char *pm, int others,
                          const char *keep, const char *caused_by, int64_t now)
{
    char at[40];
    dn_time_format(now, at, sizeof(at));
    const char *params[] = {tenant, customer, pm, others ? "t" : "f", keep, at};
    PGresult *r = query(e,
                        "UPDATE notices SET state = 'cancelled', due_at = NULL, updated_at = $6 WHERE tenant_id = $1 "
                        "AND customer_id = $2 AND kind = 'card_expiry' AND state = 'pending' AND "
                        "(CASE WHEN $4::boolean THEN payment_method_id <> $3 ELSE payment_method_id = $3 END) AND "
                        "NOT notice_id = ANY($5::uuid[]) RETURNING notice_id, policy, payment_method_id, days_before",
                        6, params);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        notice_row_t n = {0};
        snprintf(n.notice_id, sizeof(n.notice_id), "%s", PQgetvalue(r, i, 0));
        snprintf(n.kind, sizeof(n.kind), "card_expiry");
        snprintf(n.state, sizeof(n.state), "cancelled");
        snprintf(n.tenant_id, sizeof(n.tenant_id), "%s", tenant);
        snprintf(n.customer_id, sizeof(n.customer_id), "%s", customer);
        engine_timer_op(e, n.notice_id, -1);
        rc = notice_record(e, &n, "card_notice_cancelled", "the payment method was updated, replaced or removed",
                           caused_by, now,
                           json_pack("{s:s, s:i}", "payment_method_id", PQgetvalue(r, i, 2), "days_before",
                                     atoi(PQgetvalue(r, i, 3))));
    }
    PQclear(r);
    return rc;
}

/* The customer's retrying cases: their next retry now rather than on the schedule. */
static int retry_now(engine_t *e, const dn_payment_method_updated_t *v, int64_t now)
{
    const char *params[] = {v->tenant_id, v->customer_id};
    PGresult *r = query(e,
                        "SELECT case_id FROM cases WHERE tenant_id = $1 AND customer_id = $2 AND state = 'retrying' "
                        "AND next_action = 'retry' ORDER BY case_id",
                        2, params);
    if (!r)
        return -1;
    int rc = 0;
    for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
        case_row_t c;
        int found = load_case(e, PQgetvalue(r, i, 0), &c);
        if (found < 0)
            rc = -1;
        if (found <= 0 || strcmp(c.next_action, "retry") != 0 || c.next_action_ms <= now)
            continue;
        char was[40];
        dn_time_format(c.next_action_ms, was, sizeof(was));
        c.next_action_ms = now;
        rc = save_case(e, &c, NULL, now) < 0 ||
                     record(e, &c, "retry_brought_forward", c.state, "the customer updated the payment method",
                            v->event_id, now,
                            json_pack("{s:s, s:s}", "payment_method_id", v->payment_method_id, "scheduled_at", was)) < 0
                 ? -1
                 : 0;
    }
    PQclear(r);
    return rc;
}

int handle_payment_method(engine_t *e, dn_payment_method_updated_t *v)
{
    int first = first_time(e, v->event_id, dn_topic_name(DN_TOPIC_PAYMENT_METHOD_UPDATED));
    if (first <= 0) {
        if (first == 0)
            engine_note_duplicate(e);
        return first < 0 ? H_DBERR : H_OK;
    }
    int64_t now = dn_clock_now_ms();
    static const char *const status[] = {"active", "active", "expiring", "expired", "removed"};
    char at[40], changed[40], next[16], month[8], year[8];
    dn_time_format(now, at, sizeof(at));
    dn_time_format(v->occurred_at, changed, sizeof(changed));
    if (v->has_next_charge_date)
        dn_date_format(v->next_charge_date, next, sizeof(next));
    snprintf(month, sizeof(month), "%d", (int)v->exp_month);
    snprintf(year, sizeof(year), "%d", (int)v->exp_year);
    const char *params[] = {v->tenant_id,
                            v->payment_method_id,
                            v->customer_id,
                            status[v->change],
                            v->brand,
                            v->last4,
                            month,
                            year,
                            v->has_next_charge_date ? next : NULL,
                            v->update_link,
                            v->is_default ? "t" : "f",
                            changed,
                            at};
    /* Older than what is stored (reordered input): changes nothing. */
    PGresult *r = query(e,
                        "INSERT INTO payment_methods (tenant_id, payment_method_id, customer_id, status, brand, last4, "
                        "exp_month, exp_year, next_charge_date, update_link, is_default, changed_at, updated_at) "
                        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (tenant_id, "
                        "payment_method_id) DO UPDATE SET customer_id = excluded.customer_id, status = "
                        "excluded.status, brand = excluded.brand, last4 = excluded.last4, exp_month = "
                        "excluded.exp_month, exp_year = excluded.exp_year, next_charge_date = "
                        "excluded.next_charge_date, update_link = excluded.update_link, is_default = "
                        "excluded.is_default, changed_at = excluded.changed_at, updated_at = excluded.updated_at "
                        "WHERE payment_methods.changed_at <= excluded.changed_at RETURNING 1",
                        13, params);
    if (!r)
        return H_DBERR;
    int applied = PQntuples(r) == 1;
    PQclear(r);
    if (!applied) {
        dn_log_info("payment method change older than the one stored, ignored", "event_id", v->event_id, NULL);
        return H_OK;
    }
    /* The notices this description of the card calls for. */
    case_row_t cc;
    int known = customer_contact_case(e, v->tenant_id, v->customer_id, &cc);
    if (known < 0)
        return H_DBERR;
    const policy_t *pol = known ? case_policy(e, &cc) : dn_policy_select(e->policies, v->tenant_id, NULL, NULL);
    const card_expiry_policy_t *ce = &pol->card_expiry;
    int usable = v->change == DN_PAYMENT_METHOD_CHANGE_ADDED || v->change == DN_PAYMENT_METHOD_CHANGE_UPDATED ||
                 v->change == DN_PAYMENT_METHOD_CHANGE_EXPIRING;
    int32_t exp = expiry_day(v->exp_year, v->exp_month), today = dn_date_from_ms(now);
    /* Before the next charge it would fail: a notice only then (or when no charge is known). */
    int matters = usable && v->is_default && exp > today && (!v->has_next_charge_date || v->next_charge_date >= exp);
    dn_pgarray_t keep = {0};
    int64_t dues[POLICY_MAX_CARD_NOTICES];
    char ids[POLICY_MAX_CARD_NOTICES][DN_UUID_STR_LEN];
    size_t nwant = 0;
    for (size_t i = 0; matters && i < ce->nbefore; i++) {
        int64_t due = dn_date_to_ms(exp) - ce->before_ms[i];
        int last_passed = due < now && (i + 1 == ce->nbefore || dn_date_to_ms(exp) - ce->before_ms[i + 1] > now);
        if (due < now && !last_passed)
            continue; /* passed over: only the latest notice that applies now goes out */
        card_notice_id(v->tenant_id, v->payment_method_id, v->exp_year, v->exp_month, ce->before_ms[i], ids[nwant]);
        dues[nwant] = due < now ? now : due;
        dn_pgarray_add(&keep, ids[nwant]);
        nwant++;
    }
    const char *keep_txt = dn_pgarray_text(&keep);
    int rc = cancel_notices(e, v->tenant_id, v->customer_id, v->payment_method_id, 0, keep_txt ? keep_txt : "{}",
                            v->event_id, now);
    if (rc == 0 && usable && v->is_default && v->change != DN_PAYMENT_METHOD_CHANGE_EXPIRING)
        rc = cancel_notices(e, v->tenant_id, v->customer_id, v->payment_method_id, 1, "{}", v->event_id, now);
    dn_pgarray_free(&keep);
    if (rc < 0)
        return H_DBERR;
    for (size_t i = 0; i < nwant; i++) {
        char due_txt[40], date[16], before[16];
        dn_time_format(dues[i], due_txt, sizeof(due_txt));
        dn_date_format(dn_date_from_ms(dues[i]), date, sizeof(date));
        snprintf(before, sizeof(before), "%d", (int)(ce->before_ms[i] / RULES_DAY_MS));
        /* A notice already sent stays sent (no duplicate); a cancelled one comes back. */
        const char *np[] = {ids[i],  v->tenant_id,         v->customer_id, pol->name, date,
                            due_txt, v->payment_method_id, before,         at};
        r = query(e,
                  "INSERT INTO notices (notice_id, kind, tenant_id, customer_id, policy, notice_date, due_at, "
                  "payment_method_id, days_before, created_at, updated_at) VALUES ($1, 'card_expiry', $2, $3, $4, "
                  "$5, $6, $7, $8, $9, $9) ON CONFLICT (notice_id) DO UPDATE SET state = 'pending', due_at = "
                  "excluded.due_at, updated_at = excluded.updated_at WHERE notices.state = 'cancelled' "
                  "RETURNING (xmax = 0)",
                  9, np);
        if (!r)
            return H_DBERR;
        int scheduled = PQntuples(r) == 1;
        PQclear(r);
        if (!scheduled)
            continue;
        engine_timer_op(e, ids[i], dues[i]);
        notice_row_t n = {0};
        snprintf(n.notice_id, sizeof(n.notice_id), "%s", ids[i]);
        snprintf(n.kind, sizeof(n.kind), "card_expiry");
        snprintf(n.state, sizeof(n.state), "pending");
        snprintf(n.tenant_id, sizeof(n.tenant_id), "%s", v->tenant_id);
        snprintf(n.customer_id, sizeof(n.customer_id), "%s", v->customer_id);
        if (notice_record(e, &n, "card_notice_scheduled", NULL, v->event_id, now,
                          json_pack("{s:s, s:s, s:i, s:s}", "payment_method_id", v->payment_method_id, "due_at",
                                    due_txt, "days_before", atoi(before), "last4", v->last4)) < 0)
            return H_DBERR;
    }
    if ((v->change == DN_PAYMENT_METHOD_CHANGE_ADDED || v->change == DN_PAYMENT_METHOD_CHANGE_UPDATED) && exp > today &&
        retry_now(e, v, now) < 0)
        return H_DBERR;
    return H_OK;
}

int card_notice_due(engine_t *e, const notice_row_t *n, int64_t now)
{
    const char *params[] = {n->tenant_id, n->payment_method_id};
    PGresult *r = query(e,
                        "SELECT status, brand, last4, exp_month, exp_year, update_link, is_default FROM "
                        "payment_methods WHERE tenant_id = $1 AND payment_method_id = $2",
                        2, params);
    if (!r)
        return H_DBERR;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return notice_close(e, n, "cancelled", json_pack("{s:s}", "reason", "payment method not known"), now) < 0
                   ? H_DBERR
                   : H_OK;
    }
    const policy_t *pol = dn_policy_find(e->policies, n->tenant_id, n->policy);
    if (!pol)
        pol = dn_policy_select(e->policies, n->tenant_id, NULL, NULL);
    int exp_month = atoi(PQgetvalue(r, 0, 3)), exp_year = atoi(PQgetvalue(r, 0, 4));
    char still[DN_UUID_STR_LEN];
    card_notice_id(n->tenant_id, n->payment_method_id, exp_year, exp_month, (int64_t)n->days_before * RULES_DAY_MS,
                   still);
    const char *st = PQgetvalue(r, 0, 0);
    if (strcmp(still, n->notice_id) != 0 || strcmp(st, "removed") == 0 || strcmp(st, "expired") == 0) {
        PQclear(r);
        return notice_close(e, n, "cancelled", json_pack("{s:s}", "reason", "the card changed since"), now) < 0
                   ? H_DBERR
                   : H_OK;
    }
    char brand[64], last4[8], link[1024];
    snprintf(brand, sizeof(brand), "%s", PQgetvalue(r, 0, 1));
    snprintf(last4, sizeof(last4), "%s", PQgetvalue(r, 0, 2));
    snprintf(link, sizeof(link), "%s", PQgetvalue(r, 0, 5));
    int has_brand = !PQgetisnull(r, 0, 1), has_link = !PQgetisnull(r, 0, 5);
    PQclear(r);
    case_row_t cc;
    int known = customer_contact_case(e, n->tenant_id, n->customer_id, &cc);
    if (known < 0)
        return H_DBERR;
    if (!known)
        return notice_close(e, n, "undeliverable",
                            json_pack("{s:s}", "reason", "no invoice of the customer gives contact details"), now) < 0
                   ? H_DBERR
                   : H_OK;
    dn_card_ref_t card = {
        .brand = has_brand ? brand : NULL, .last4 = last4, .exp_month = exp_month, .exp_year = exp_year};
    const card_expiry_policy_t *ce = &pol->card_expiry;
    reminder_spec_t rs = {.stage = 0,
                          .stage_name = "card_expiry",
                          .template_key = ce->template_key ? ce->template_key : "card_expiry",
                          .channels = ce->channels,
                          .nchannels = ce->nchannels,
                          .due_ms = now,
                          .id_salt = "card-expiry",
                          .notice_kind = "card_expiry",
                          .notice_id = n->notice_id,
                          .card = &card,
                          .update_link = has_link ? link : NULL};
    json_t *emitted = json_array();
    int sent = emit_reminders(e, &cc, pol, &rs, now, emitted);
    if (sent < 0) {
        json_decref(emitted);
        return H_DBERR;
    }
    notice_row_t closed = *n;
    snprintf(closed.state, sizeof(closed.state), "%s", sent > 0 ? "sent" : "undeliverable");
    if (notice_close(e, n, closed.state, json_pack("{s:O, s:s}", "reminders", emitted, "last4", last4), now) < 0 ||
        notice_record(e, &closed, sent > 0 ? "card_notice_sent" : "card_notice_undeliverable",
                      sent > 0 ? NULL : "no channel reaches the customer", NULL, now,
                      json_pack("{s:o, s:i}", "reminders", emitted, "days_before", (int)n->days_before)) < 0)
        return H_DBERR;
    dn_log_info("card expiry notice", "tenant_id", n->tenant_id, "notice_id", n->notice_id, "state", closed.state,
                NULL);
    return H_OK;
}
