/* The engine's input contract checks (see validate.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dn_currency.h"
#include "dn_uuid.h"
#include "validate.h"

int reject(engine_t *e, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->reject_reason, sizeof(e->reject_reason), fmt, ap);
    va_end(ap);
    e->reject_code = code;
    return H_REJECT;
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

/* A short token: at most max bytes, no control characters (locale, time zone, channel). */
static int check_token(engine_t *e, const char *field, const char *v, size_t max)
{
    if (v && strlen(v) > max)
        return reject(e, "invalid_field", "field %s: longer than %zu bytes", field, max);
    for (const char *p = v; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return reject(e, "invalid_field", "field %s: contains a control character", field);
    return H_OK;
}

/* Everything of the contact travels in each ReminderDue and into letters: every field is
 * bounded and single-line, so that no reminder can outgrow a Kafka message. */
static int check_contact(engine_t *e, const dn_customer_contact_t *c)
{
    int rc;
    if ((rc = check_text(e, "contact.name", c->name)) || (rc = check_text(e, "contact.email", c->email)) ||
        (rc = check_text(e, "contact.phone", c->phone)) ||
        (rc = check_token(e, "contact.locale", c->locale, TOKEN_MAX)) ||
        (rc = check_token(e, "contact.time_zone", c->time_zone, TOKEN_MAX)))
        return rc;
    const dn_postal_address_t *a = c->address;
    if (a && ((rc = check_text(e, "contact.address.line1", a->line1)) ||
              (rc = check_text(e, "contact.address.line2", a->line2)) ||
              (rc = check_text(e, "contact.address.postal_code", a->postal_code)) ||
              (rc = check_text(e, "contact.address.city", a->city)) ||
              (rc = check_text(e, "contact.address.region", a->region)) ||
              (rc = check_token(e, "contact.address.country", a->country, TOKEN_MAX))))
        return rc;
    if (c->opted_out_channels_n > CHANNELS_MAX)
        return reject(e, "invalid_field", "field contact.opted_out_channels: more than %d entries", CHANNELS_MAX);
    for (size_t i = 0; i < c->opted_out_channels_n; i++)
        if ((rc = check_token(e, "contact.opted_out_channels", c->opted_out_channels[i], TOKEN_MAX)))
            return rc;
    return H_OK;
}

int validate_invoice(engine_t *e, const dn_invoice_issued_t *v)
{
    int rc;
    if ((rc = check_id(e, "tenant_id", v->tenant_id)) || (rc = check_id(e, "customer_id", v->customer_id)) ||
        (rc = check_id(e, "invoice_id", v->invoice_id)) || (rc = check_money(e, v->amount_minor, v->currency)) ||
        (rc = check_text(e, "invoice_number", v->invoice_number)) ||
        (rc = check_text(e, "payment_link", v->payment_link)) || (rc = check_token(e, "policy", v->policy, ID_MAX)) ||
        (rc = check_token(e, "customer_segment", v->customer_segment, ID_MAX)) || (rc = check_contact(e, &v->contact)))
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

int validate_payment(engine_t *e, const dn_payment_received_t *v)
{
    int rc;
    if ((rc = check_id(e, "tenant_id", v->tenant_id)) || (rc = check_id(e, "customer_id", v->customer_id)) ||
        (rc = check_id(e, "invoice_id", v->invoice_id)) || (rc = check_id(e, "payment_id", v->payment_id)) ||
        (rc = check_text(e, "method", v->method)) || (rc = check_money(e, v->amount_minor, v->currency)))
        return rc;
    return H_OK;
}

int validate_failed(engine_t *e, const dn_payment_failed_t *v)
{
    int rc;
    if ((rc = check_id(e, "tenant_id", v->tenant_id)) || (rc = check_id(e, "customer_id", v->customer_id)) ||
        (rc = check_id(e, "invoice_id", v->invoice_id)) || (rc = check_id(e, "payment_id", v->payment_id)) ||
        (rc = check_id(e, "decline_code", v->decline_code)) ||
        (rc = check_text(e, "decline_message", v->decline_message)) ||
        (rc = check_money(e, v->amount_minor, v->currency)))
        return rc;
    if (strlen(v->decline_code) > 64)
        return reject(e, "invalid_field", "field decline_code: longer than 64 bytes");
    return H_OK;
}

int validate_command(engine_t *e, const dn_case_command_t *v)
{
    int rc;
    if ((rc = check_id(e, "tenant_id", v->tenant_id)) || (rc = check_id(e, "customer_id", v->customer_id)) ||
        (rc = check_id(e, "invoice_id", v->invoice_id)) || (rc = check_text(e, "reason", v->reason)) ||
        (rc = check_text(e, "actor", v->actor)))
        return rc;
    if (v->command == DN_CASE_COMMAND_KIND_PAUSE &&
        (!v->reason || (strcmp(v->reason, "dispute") != 0 && strcmp(v->reason, "promise_to_pay") != 0 &&
                        strcmp(v->reason, "manual_hold") != 0)))
        return reject(e, "invalid_field", "field reason: a pause needs dispute, promise_to_pay or manual_hold");
    if (v->command == DN_CASE_COMMAND_KIND_CREDIT && (!v->has_amount_minor || v->amount_minor <= 0))
        return reject(e, "invalid_field", "field amount_minor: a credit needs a positive amount");
    return H_OK;
}

int validate_outcome(engine_t *e, const dn_reminder_outcome_t *v)
{
    int rc;
    if ((rc = check_id(e, "tenant_id", v->tenant_id)) || (rc = check_id(e, "customer_id", v->customer_id)) ||
        (rc = check_id(e, "invoice_id", v->invoice_id)) || (rc = check_id(e, "case_id", v->case_id)) ||
        (rc = check_id(e, "reminder_event_id", v->reminder_event_id)) || (rc = check_text(e, "reason", v->reason)) ||
        (rc = check_text(e, "provider_message_id", v->provider_message_id)))
        return rc;
    if (!dn_uuid_valid(v->case_id) || !dn_uuid_valid(v->reminder_event_id))
        return reject(e, "invalid_field", "field %s: not a UUID",
                      dn_uuid_valid(v->case_id) ? "reminder_event_id" : "case_id");
    if (v->attempt < 1)
        return reject(e, "invalid_field", "field attempt: %d is not a positive attempt number", (int)v->attempt);
    return H_OK;
}
