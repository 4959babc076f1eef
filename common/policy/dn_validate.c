/* The engine's input contract checks (see dn_validate.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dn_currency.h"
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

static int check_id(verdict_t *vd, const char *field, const char *v)
{
    if (!v || !*v)
        return reject(vd, "invalid_field", "field %s: must not be empty", field);
    if (strlen(v) > ID_MAX)
        return reject(vd, "invalid_field", "field %s: longer than %d bytes", field, ID_MAX);
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20)
            return reject(vd, "invalid_field", "field %s: contains a control character", field);
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
        return reject(vd, "invalid_field", "field currency: '%.8s' is not an ISO 4217 currency", currency);
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
    if (v->due_date < v->issue_date)
        return reject(vd, "invalid_field", "field due_date: before issue_date");
    if (!dn_policy_select(ps, v->tenant_id, v->policy, v->customer_segment))
        return reject(vd, "invalid_field", "field policy: '%.64s' is not a policy of tenant '%.64s'",
                      v->policy ? v->policy : "", v->tenant_id);
    return DN_VALIDATE_OK;
}

static int check_payment(verdict_t *vd, const policy_set_t *ps, const dn_payment_received_t *v)
{
    int rc;
    if ((rc = check_id(vd, "tenant_id", v->tenant_id)) || (rc = check_id(vd, "customer_id", v->customer_id)) ||
        (rc = check_id(vd, "invoice_id", v->invoice_id)) || (rc = check_id(vd, "payment_id", v->payment_id)) ||
        (rc = check_text(vd, "method", v->method)) || (rc = check_money(vd, v->amount_minor, v->currency)))
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
        (rc = check_money(vd, v->amount_minor, v->currency)))
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
        (rc = check_text(vd, "actor", v->actor)))
        return rc;
    if (v->command == DN_CASE_COMMAND_KIND_PAUSE &&
        (!v->reason || (strcmp(v->reason, "dispute") != 0 && strcmp(v->reason, "promise_to_pay") != 0 &&
                        strcmp(v->reason, "manual_hold") != 0)))
        return reject(vd, "invalid_field", "field reason: a pause needs dispute, promise_to_pay or manual_hold");
    if (v->command == DN_CASE_COMMAND_KIND_CREDIT && (!v->has_amount_minor || v->amount_minor <= 0))
        return reject(vd, "invalid_field", "field amount_minor: a credit needs a positive amount");
    return DN_VALIDATE_OK;
}

static int check_outcome(verdict_t *vd, const policy_set_t *ps, const dn_reminder_outcome_t *v)
{
    int rc;
    if ((rc = check_id(vd, "tenant_id", v->tenant_id)) || (rc = check_id(vd, "customer_id", v->customer_id)) ||
        (rc = check_id(vd, "invoice_id", v->invoice_id)) || (rc = check_id(vd, "case_id", v->case_id)) ||
        (rc = check_id(vd, "reminder_event_id", v->reminder_event_id)) || (rc = check_text(vd, "reason", v->reason)) ||
        (rc = check_text(vd, "provider_message_id", v->provider_message_id)))
        return rc;
    if (!dn_uuid_valid(v->case_id) || !dn_uuid_valid(v->reminder_event_id))
        return reject(vd, "invalid_field", "field %s: not a UUID",
                      dn_uuid_valid(v->case_id) ? "reminder_event_id" : "case_id");
    if (v->attempt < 1)
        return reject(vd, "invalid_field", "field attempt: %d is not a positive attempt number", (int)v->attempt);
    return DN_VALIDATE_OK;
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
