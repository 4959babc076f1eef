/* The engine's input contract checks (see dn_validate.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dn_clock.h"
#include "dn_currency.h"
#include "dn_rules.h"
#include "dn_uuid.h"
#include "dn_validate.h"

/* Where a rejection goes: the caller's code pointer and reason buffer. */
typedef struct verdict {
    const char **code;
    char *reason;
    size_t reason_size;
} verdict_t;

__attribute__((format(printf, 3, 4))) static int reject(verdict_t *vd, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vd->reason, vd->reason_size, fmt, ap);
    va_end(ap);
    *vd->code = code;
    return DN_VALIDATE_REJECT;
}

/* The length in bytes of the whitespace character (Unicode White_Space, UTF-8) at p, 0 if
 * p holds another one. Controls (tab, line breaks) are refused before this is asked. */
static size_t space_at(const unsigned char *p)
{
    if (p[0] == 0x20)
        return 1;
    if (p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) /* next line, no-break space */
        return 2;
    if (p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) /* ogham space mark */
        return 3;
    if (p[0] == 0xe2 && p[1] == 0x80 &&
        ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf))
        return 3; /* en quad .. hair space, line and paragraph separators, narrow no-break space */
    if (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) /* medium mathematical space */
        return 3;
    if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80) /* ideographic space */
        return 3;
    return 0;
}

/* An id is taken verbatim (a payment must name its invoice byte for byte), so one that
 * could be read differently by the billing system is refused: empty, blank, a control
 * character, whitespace at either end. */
static int check_id(verdict_t *vd, const char *field, const char *v)
{
    if (!v || !*v)
        return reject(vd, "invalid_field", "field %s: must not be empty", field);
    size_t n = strlen(v);
    if (n > ID_MAX)
        return reject(vd, "invalid_field", "field %s: longer than %d bytes", field, ID_MAX);
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20)
            return reject(vd, "invalid_field", "field %s: contains a control character", field);
    const unsigned char *u = (const unsigned char *)v;
    size_t lead = 0, k;
    while (lead < n && (k = space_at(u + lead)) > 0)
        lead += k;
    if (lead == n)
        return reject(vd, "invalid_field", "field %s: must not be blank", field);
    size_t last = n - 1; /* the first byte of the last character (the decoder checked the UTF-8) */
    while (last > 0 && (u[last] & 0xc0) == 0x80)
        last--;
    if (lead > 0 || space_at(u + last) == n - last)
        return reject(vd, "invalid_field", "field %s: must not start or end with whitespace", field);
    return DN_VALIDATE_OK;
}

/* A date the engine stores: 1970-01-01..9999-12-31 (shown as a date when it has one). */
static int check_date(verdict_t *vd, const char *field, int32_t days)
{
    if (days >= DN_DATE_MIN && days <= DN_DATE_MAX)
        return DN_VALIDATE_OK;
    char shown[16];
    if (days >= -719162 && days < DN_DATE_MIN) /* 0001-01-01 .. 1969-12-31 */
        dn_date_format(days, shown, sizeof(shown));
    else
        snprintf(shown, sizeof(shown), "%" PRId32, days);
    return reject(vd, "invalid_field", "field %s: %s is outside 1970-01-01..9999-12-31", field, shown);
}

/* occurred_at is stored with the record (issued_at, received_at): a time PostgreSQL holds. */
static int check_occurred_at(verdict_t *vd, int64_t ms)
{
    if (ms < DN_TIME_MIN_MS || ms > DN_TIME_MAX_MS)
        return reject(vd, "invalid_field",
                      "field occurred_at: %" PRId64 " is outside 1970-01-01T00:00:00.000Z..9999-12-31T23:59:59.999Z",
                      ms);
    return DN_VALIDATE_OK;
}

/* Every stage of the invoice's policy becomes a timer at due date + offset (grace
 * included, dn_rules_stage_time_ms): each must be a time the engine can store, or the
 * case would wait without a timer (before 1970) or fail in PostgreSQL (after 9999). */
static int check_stage_times(verdict_t *vd, const policy_t *p, int32_t due_date)
{
    for (size_t i = 0; i < p->nstages; i++) {
        int64_t t = dn_rules_stage_time_ms(due_date, p->stages[i].offset_ms, p->grace_days);
        if (t >= DN_TIME_MIN_MS && t <= DN_TIME_MAX_MS)
            continue;
        char at[40];
        dn_time_format(t, at, sizeof(at));
        return reject(vd, "invalid_field", "field due_date: stage %zu (%.64s) of policy %.64s would fall due at %s, %s",
                      i + 1, p->stages[i].name, p->name, at,
                      t < DN_TIME_MIN_MS ? "before 1970-01-01T00:00:00.000Z" : "after 9999-12-31T23:59:59.999Z");
    }
    return DN_VALIDATE_OK;
}

static int check_text(verdict_t *vd, const char *field, const char *v)
{
    if (v && strlen(v) > TEXT_MAX)
        return reject(vd, "invalid_field", "field %s: longer than %d bytes", field, TEXT_MAX);
    for (const char *p = v; p && *p; p++)
        if (*p == '\r' || *p == '\n')
            return reject(vd, "invalid_field", "field %s: contains a line break", field);
    return DN_VALIDATE_OK;
}

static int check_money(verdict_t *vd, int64_t amount, const char *currency)
{
    if (amount <= 0)
        return reject(vd, "invalid_field", "field amount_minor: %" PRId64 " is not a positive amount", amount);
    if (amount > INT64_MAX / 1000)
        return reject(vd, "invalid_field", "field amount_minor: %" PRId64 " is too large", amount);
    if (dn_currency_exponent(currency) < 0)
        return reject(vd, "invalid_field", "field currency: '%.8s' is not a currency that can be dunned", currency);
    return DN_VALIDATE_OK;
}

/* A short token: at most max bytes, no control characters (locale, time zone, channel). */
static int check_token(verdict_t *vd, const char *field, const char *v, size_t max)
{
    if (v && strlen(v) > max)
        return reject(vd, "invalid_field", "field %s: longer than %zu bytes", field, max);
    for (const char *p = v; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return reject(vd, "invalid_field", "field %s: contains a control character", field);
    return DN_VALIDATE_OK;
}

/* Everything of the contact travels in each ReminderDue and into letters: every field is
 * bounded and single-line, so that no reminder can outgrow a Kafka message. */
static int check_contact(verdict_t *vd, const dn_customer_contact_t *c)
{
    int rc;
    if ((rc = check_text(vd, "contact.name", c->name)) || (rc = check_text(vd, "contact.email", c->email)) ||
        (rc = check_text(vd, "contact.phone", c->phone)) ||
        (rc = check_token(vd, "contact.locale", c->locale, TOKEN_MAX)) ||
        (rc = check_token(vd, "contact.time_zone", c->time_zone, TOKEN_MAX)))
        return rc;
    const dn_postal_address_t *a = c->address;
    if (a && ((rc = check_text(vd, "contact.address.line1", a->line1)) ||
              (rc = check_text(vd, "contact.address.line2", a->line2)) ||
              (rc = check_text(vd, "contact.address.postal_code", a->postal_code)) ||
              (rc = check_text(vd, "contact.address.city", a->city)) ||
              (rc = check_text(vd, "contact.address.region", a->region)) ||
              (rc = check_token(vd, "contact.address.country", a->country, TOKEN_MAX))))
        return rc;
    if (c->opted_out_channels_n > CHANNELS_MAX)
        return reject(vd, "invalid_field", "field contact.opted_out_channels: more than %d entries", CHANNELS_MAX);
    for (size_t i = 0; i < c->opted_out_channels_n; i++)
        if ((rc = check_token(vd, "contact.opted_out_channels", c->opted_out_channels[i], TOKEN_MAX)))
            return rc;
    return DN_VALIDATE_OK;
}

static int check_invoice(verdict_t *vd, const policy_set_t *ps, const dn_invoice_issued_t *v)
{
    int rc;
    if ((rc = check_id(vd, "tenant_id", v->tenant_id)) || (rc = check_id(vd, "customer_id", v->customer_id)) ||
        (rc = check_id(vd, "invoice_id", v->invoice_id)) || (rc = check_money(vd, v->amount_minor, v->currency)) ||
        (rc = check_text(vd, "invoice_number", v->invoice_number)) ||
        (rc = check_text(vd, "payment_link", v->payment_link)) || (rc = check_token(vd, "policy", v->policy, ID_MAX)) ||
        (rc = check_token(vd, "customer_segment", v->customer_segment, ID_MAX)) ||
        (rc = check_contact(vd, &v->contact)))
        return rc;
    if (!v->contact.name[0])
        return reject(vd, "invalid_field", "field contact.name: must not be empty");
    if (v->contact.email && (!strchr(v->contact.email, '@') || strpbrk(v->contact.email, " <>,;\"")))
        return reject(vd, "invalid_field", "field contact.email: not an e-mail address");
    if ((rc = check_occurred_at(vd, v->occurred_at)) || (rc = check_date(vd, "issue_date", v->issue_date)) ||
        (rc = check_date(vd, "due_date", v->due_date)))
        return rc;
    if (v->due_date < v->issue_date)
        return reject(vd, "invalid_field", "field due_date: before issue_date");
    const policy_t *p = dn_policy_select(ps, v->tenant_id, v->policy, v->customer_segment);
    if (!p)
        return reject(vd, "invalid_field", "field policy: '%.64s' is not a policy of tenant '%.64s'",
                      v->policy ? v->policy : "", v->tenant_id);
    return check_stage_times(vd, p, v->due_date);
}

static int check_payment(verdict_t *vd, const policy_set_t *ps, const dn_payment_received_t *v)
{
    int rc;
    if ((rc = check_id(vd, "tenant_id", v->tenant_id)) || (rc = check_id(vd, "customer_id", v->customer_id)) ||
        (rc = check_id(vd, "invoice_id", v->invoice_id)) || (rc = check_id(vd, "payment_id", v->payment_id)) ||
        (rc = check_text(vd, "method", v->method)) || (rc = check_money(vd, v->amount_minor, v->currency)) ||
        (rc = check_occurred_at(vd, v->occurred_at)))
        return rc;
    return DN_VALIDATE_OK;
}

static int check_failed(verdict_t *vd, const policy_set_t *ps, const dn_payment_failed_t *v)
{
    int rc;
    if ((rc = check_id(vd, "tenant_id", v->tenant_id)) || (rc = check_id(vd, "customer_id", v->customer_id)) ||
        (rc = check_id(vd, "invoice_id", v->invoice_id)) || (rc = check_id(vd, "payment_id", v->payment_id)) ||
        (rc = check_id(vd, "decline_code", v->decline_code)) ||
        (rc = check_text(vd, "decline_message", v->decline_message)) ||
        (rc = check_money(vd, v->amount_minor, v->currency)) || (rc = check_occurred_at(vd, v->occurred_at)))
        return rc;
    if (strlen(v->decline_code) > 64)
        return reject(vd, "invalid_field", "field decline_code: longer than 64 bytes");
    return DN_VALIDATE_OK;
}

static int check_command(verdict_t *vd, const policy_set_t *ps, const dn_case_command_t *v)
{
    int rc;
    if ((rc = check_id(vd, "tenant_id", v->tenant_id)) || (rc = check_id(vd, "customer_id", v->customer_id)) ||
        (rc = check_id(vd, "invoice_id", v->invoice_id)) || (rc = check_text(vd, "reason", v->reason)) ||
        (rc = check_text(vd, "actor", v->actor)) || (rc = check_occurred_at(vd, v->occurred_at)) ||
        (v->has_until && (rc = check_date(vd, "until", v->until))))
        return rc;
    if (v->command == DN_CASE_COMMAND_KIND_PAUSE &&
        (!v->reason || (strcmp(v->reason, "dispute") != 0 && strcmp(v->reason, "promise_to_pay") != 0 &&
                        strcmp(v->reason, "manual_hold") != 0)))
        return reject(vd, "invalid_field", "field reason: a pause needs dispute, promise_to_pay or manual_hold");
    if (v->command == DN_CASE_COMMAND_KIND_CREDIT && (!v->has_amount_minor || v->amount_minor <= 0))
        return reject(vd, "invalid_field", "field amount_minor: a credit needs a positive amount");
    if ((rc = check_text(vd, "channel", v->channel)) || (rc = check_text(vd, "scope", v->scope)))
        return rc;
    if (v->command == DN_CASE_COMMAND_KIND_PROMISE) {
        /* A promise made on a call (key 1) names neither: the engine takes the total due and
         * the policy's voice.promise_days. */
        int by_voice = v->channel && strcmp(v->channel, "voice") == 0;
        if (v->has_amount_minor ? v->amount_minor <= 0 : !by_voice)
            return reject(vd, "invalid_field", "field amount_minor: a promise needs the positive amount promised");
        if (!v->has_promise_date && !by_voice)
            return reject(vd, "invalid_field", "field promise_date: a promise needs the date it is for");
        if (v->has_promise_date && (rc = check_date(vd, "promise_date", v->promise_date)))
            return rc;
        if (v->scope && strcmp(v->scope, "invoice") != 0 && strcmp(v->scope, "customer") != 0)
            return reject(vd, "invalid_field", "field scope: expected invoice or customer");
    }
    if (v->command == DN_CASE_COMMAND_KIND_PLAN) {
        if (v->instalments_n == 0)
            return reject(vd, "invalid_field", "field instalments: a plan needs its instalments");
        for (size_t i = 0; i < v->instalments_n; i++) {
            char field[48];
            snprintf(field, sizeof(field), "instalments[%zu].due_date", i);
            if (v->instalments[i].amount_minor <= 0)
                return reject(vd, "invalid_field", "field instalments[%zu].amount_minor: %lld is not a positive amount",
                              i, (long long)v->instalments[i].amount_minor);
            if ((rc = check_date(vd, field, v->instalments[i].due_date)))
                return rc;
        }
    }
    if (v->command == DN_CASE_COMMAND_KIND_RESEND && v->target_channel && strcmp(v->target_channel, "email") != 0 &&
        strcmp(v->target_channel, "sms") != 0 && strcmp(v->target_channel, "letter") != 0 &&
        strcmp(v->target_channel, "voice") != 0)
        return reject(vd, "invalid_field", "field target_channel: expected email, sms, letter or voice");
    return DN_VALIDATE_OK;
}

static int check_outcome(verdict_t *vd, const policy_set_t *ps, const dn_reminder_outcome_t *v)
{
    int rc;
    /* invoice_id "" : the outcome of a notice about the customer (customer_notice, card_expiry). */
    if ((rc = check_id(vd, "tenant_id", v->tenant_id)) || (rc = check_id(vd, "customer_id", v->customer_id)) ||
        (v->invoice_id && !*v->invoice_id ? 0 : (rc = check_id(vd, "invoice_id", v->invoice_id))) ||
        (rc = check_id(vd, "case_id", v->case_id)) || (rc = check_id(vd, "reminder_event_id", v->reminder_event_id)) ||
        (rc = check_text(vd, "reason", v->reason)) ||
        (rc = check_text(vd, "provider_message_id", v->provider_message_id)) ||
        (rc = check_occurred_at(vd, v->occurred_at)))
        return rc;
    if (!dn_uuid_valid(v->case_id) || !dn_uuid_valid(v->reminder_event_id))
        return reject(vd, "invalid_field", "field %s: not a UUID",
                      dn_uuid_valid(v->case_id) ? "reminder_event_id" : "case_id");
    if (v->attempt < 1)
        return reject(vd, "invalid_field", "field attempt: %d is not a positive attempt number", (int)v->attempt);
    return DN_VALIDATE_OK;
}

static int check_payment_method(verdict_t *vd, const policy_set_t *ps, const dn_payment_method_updated_t *v)
{
    int rc;
    if ((rc = check_id(vd, "tenant_id", v->tenant_id)) || (rc = check_id(vd, "customer_id", v->customer_id)) ||
        (rc = check_id(vd, "payment_method_id", v->payment_method_id)) || (rc = check_text(vd, "brand", v->brand)) ||
        (rc = check_text(vd, "update_link", v->update_link)) || (rc = check_occurred_at(vd, v->occurred_at)))
        return rc;
    /* The last four digits, never more: a record that carries a longer number is refused
     * (and the dead letter keeps only what the contract allows: see docs/contracts.md). */
    if (!v->last4 || strlen(v->last4) != 4 || strspn(v->last4, "0123456789") != 4)
        return reject(vd, "invalid_field", "field last4: expected exactly the last four digits of the card");
    if (v->exp_month < 1 || v->exp_month > 12)
        return reject(vd, "invalid_field", "field exp_month: %d is not a month (1 to 12)", (int)v->exp_month);
    if (v->exp_year < 2000 || v->exp_year > 9998)
        return reject(vd, "invalid_field", "field exp_year: %d is not a four-digit year from 2000", (int)v->exp_year);
    if (v->has_next_charge_date && (rc = check_date(vd, "next_charge_date", v->next_charge_date)))
        return rc;
    if (v->update_link && strncmp(v->update_link, "https://", 8) != 0 && strncmp(v->update_link, "http://", 7) != 0)
        return reject(vd, "invalid_field", "field update_link: not an http(s) URL");
    (void)ps;
    return DN_VALIDATE_OK;
}

int dn_validate_payment_method(const policy_set_t *ps, const dn_payment_method_updated_t *v, const char **code,
                               char *reason, size_t reason_size)
{
    verdict_t vd = {code, reason, reason_size};
    return check_payment_method(&vd, ps, v);
}

int dn_validate_invoice(const policy_set_t *ps, const dn_invoice_issued_t *v, const char **code, char *reason,
                        size_t reason_size)
{
    verdict_t vd = {code, reason, reason_size};
    return check_invoice(&vd, ps, v);
}

int dn_validate_payment(const policy_set_t *ps, const dn_payment_received_t *v, const char **code, char *reason,
                        size_t reason_size)
{
    verdict_t vd = {code, reason, reason_size};
    return check_payment(&vd, ps, v);
}

int dn_validate_failed(const policy_set_t *ps, const dn_payment_failed_t *v, const char **code, char *reason,
                       size_t reason_size)
{
    verdict_t vd = {code, reason, reason_size};
    return check_failed(&vd, ps, v);
}

int dn_validate_command(const policy_set_t *ps, const dn_case_command_t *v, const char **code, char *reason,
                        size_t reason_size)
{
    verdict_t vd = {code, reason, reason_size};
    return check_command(&vd, ps, v);
}

int dn_validate_outcome(const policy_set_t *ps, const dn_reminder_outcome_t *v, const char **code, char *reason,
                        size_t reason_size)
{
    verdict_t vd = {code, reason, reason_size};
    return check_outcome(&vd, ps, v);
}
