/* The event contracts: every schema round-trips through the wire format, the generated
 * structs and JSON; every kind of bad input is refused with the right code and a reason
 * that names the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dn_avro.h"
#include "dn_schemas_gen.h"

static const struct {
    const char *name;
    const dn_record_desc_t *desc;
} records[] = {
    {"InvoiceIssued", &dn_invoice_issued_desc},      {"PaymentReceived", &dn_payment_received_desc},
    {"PaymentFailed", &dn_payment_failed_desc},      {"ReminderDue", &dn_reminder_due_desc},
    {"PaymentRetryDue", &dn_payment_retry_due_desc}, {"DunningCaseEvent", &dn_dunning_case_event_desc},
    {"ReminderOutcome", &dn_reminder_outcome_desc},  {"DeadLetter", &dn_dead_letter_desc},
    {"CaseCommand", &dn_case_command_desc},          {"PaymentMethodUpdated", &dn_payment_method_updated_desc},
};
#define NRECORDS (sizeof(records) / sizeof(records[0]))

static int setup(void **state)
{
    (void)state;
    char err[256];
    return dn_avro_init(err, sizeof(err));
}

static const dn_field_desc_t *field_desc(const dn_record_desc_t *d, const char *name)
{
    for (size_t i = 0; d && i < d->nfields; i++)
        if (strcmp(d->fields[i].name, name) == 0)
            return &d->fields[i];
    return NULL;
}

/* Fills v with a value for every field. with_nulls: unions take their null branch;
 * otherwise the non-null branch, so every field carries data. */
static void fill(avro_value_t *v, const dn_field_desc_t *fd, int with_nulls, int *seq)
{
    (*seq)++;
    switch (avro_value_get_type(v)) {
    case AVRO_STRING:
        if (fd && fd->logical == DN_L_UUID) {
            char u[40];
            snprintf(u, sizeof(u), "0f8fad5b-d9cb-469f-a165-%012d", *seq);
            assert_int_equal(avro_value_set_string(v, u), 0);
        } else {
            char s[64];
            snprintf(s, sizeof(s), "Müller & Söhne – %s #%d", fd ? fd->name : "item", *seq);
            assert_int_equal(avro_value_set_string(v, s), 0);
        }
        break;
    case AVRO_BYTES: {
        unsigned char b[] = {0, 1, 0xfe, 0xff, (unsigned char)*seq};
        assert_int_equal(avro_value_set_bytes(v, b, sizeof(b)), 0);
        break;
    }
    case AVRO_INT32:
        assert_int_equal(avro_value_set_int(v, 20000 + *seq), 0);
        break;
    case AVRO_INT64:
        assert_int_equal(avro_value_set_long(v, 1772000000000LL + *seq), 0);
        break;
    case AVRO_BOOLEAN:
        assert_int_equal(avro_value_set_boolean(v, 1), 0);
        break;
    case AVRO_ENUM: {
        avro_schema_t s = avro_value_get_schema(v);
        assert_int_equal(avro_value_set_enum(v, avro_schema_enum_number_of_symbols(s) - 1), 0);
        break;
    }
    case AVRO_UNION: {
        avro_value_t branch;
        assert_int_equal(avro_value_set_branch(v, with_nulls ? 0 : 1, &branch), 0);
        fill(&branch, fd, with_nulls, seq);
        break;
    }
    case AVRO_NULL:
        assert_int_equal(avro_value_set_null(v), 0);
        break;
    case AVRO_ARRAY:
        for (int i = 0; i < 2; i++) {
            avro_value_t item;
            assert_int_equal(avro_value_append(v, &item, NULL), 0);
            fill(&item, fd, with_nulls, seq);
        }
        break;
    case AVRO_RECORD: {
        size_t n;
        avro_value_get_size(v, &n);
        const dn_record_desc_t *rd = fd ? fd->rec : NULL;
        for (size_t i = 0; i < n; i++) {
            avro_value_t f;
            const char *name;
            assert_int_equal(avro_value_get_by_index(v, i, &f, &name), 0);
            fill(&f, field_desc(rd, name), with_nulls, seq);
        }
        break;
    }
    default:
        fail_msg("a schema uses a type the test does not fill: %d", avro_value_get_type(v));
    }
}

static void new_filled(const char *name, const dn_record_desc_t *d, int with_nulls, avro_value_t *v)
{
    const dn_schema_info_t *info = dn_avro_schema_by_name(name);
    assert_non_null(info);
    avro_value_iface_t *iface = avro_generic_class_from_schema(dn_avro_schema(info->id));
    assert_non_null(iface);
    assert_int_equal(avro_generic_value_new(iface, v), 0);
    avro_value_iface_decref(iface);
    dn_field_desc_t top = {.name = name, .kind = DN_F_RECORD, .rec = d};
    int seq = 0;
    fill(v, &top, with_nulls, &seq);
}

/* wire -> value -> struct -> value -> wire -> JSON -> value: nothing changes. */
static void round_trip(const char *name, const dn_record_desc_t *d, int with_nulls)
{
    const dn_schema_info_t *info = dn_avro_schema_by_name(name);
    avro_value_t v;
    new_filled(name, d, with_nulls, &v);

    char *wire;
    size_t len;
    assert_int_equal(dn_avro_encode(info->id, &v, &wire, &len), 0);
    assert_int_equal(wire[0], 0);
    assert_int_equal(((unsigned char)wire[4]), info->id);

    dn_avro_err_t err;
    avro_value_t back;
    if (dn_avro_decode(wire, len, name, &back, &err) != 0)
        fail_msg("%s: %s", name, err.msg);
    assert_true(avro_value_equal(&v, &back));

    /* Through the generated struct. */
    void *rec = calloc(1, d->size);
    if (dn_record_decode(d, wire, len, rec, &err) != 0)
        fail_msg("%s struct: %s", name, err.msg);
    char *wire2;
    size_t len2;
    assert_int_equal(dn_record_encode(d, rec, &wire2, &len2), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(wire2, wire, len);
    dn_record_free(d, rec);
    free(rec);

    /* Through JSON. */
    json_t *j = dn_avro_to_json(wire, len, &err);
    if (!j)
        fail_msg("%s to JSON: %s", name, err.msg);
    avro_value_t from_json;
    if (dn_avro_from_json(name, j, &from_json, &err) != 0)
        fail_msg("%s from JSON: %s", name, err.msg);
    assert_true(avro_value_equal(&v, &from_json));

    json_decref(j);
    avro_value_decref(&from_json);
    avro_value_decref(&back);
    avro_value_decref(&v);
    free(wire);
    free(wire2);
}

static void test_every_schema_round_trips(void **state)
{
    (void)state;
    size_t ncurrent = 0; /* every record name once, whatever its number of versions */
    for (size_t i = 0; i < dn_schema_infos_n; i++)
        ncurrent += dn_avro_schema_by_name(dn_schema_infos[i].name) == &dn_schema_infos[i];
    assert_int_equal(ncurrent, NRECORDS);
    for (size_t i = 0; i < NRECORDS; i++) {
        round_trip(records[i].name, records[i].desc, 0);
        round_trip(records[i].name, records[i].desc, 1);
    }
}

static const char invoice_json[] =
    "{\"event_id\":\"6f1c1a5e-3d2b-4c1a-9e7f-1b2c3d4e5f60\",\"occurred_at\":\"2026-03-01T10:00:00Z\","
    "\"tenant_id\":\"acme\",\"customer_id\":\"C-1\",\"invoice_id\":\"INV-1\",\"amount_minor\":25050,"
    "\"currency\":\"EUR\",\"issue_date\":\"2026-03-01\",\"due_date\":\"2026-03-15\","
    "\"contact\":{\"name\":\"Jörg Müller\",\"email\":\"j@example.com\",\"locale\":\"de\"}}";

static void encode_invoice(const char *text, char **wire, size_t *len)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    assert_non_null(j);
    avro_value_t v;
    dn_avro_err_t err;
    if (dn_avro_from_json("InvoiceIssued", j, &v, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(dn_avro_encode(DN_SCHEMA_ID_INVOICE_ISSUED, &v, wire, len), 0);
    avro_value_decref(&v);
    json_decref(j);
}

static void test_json_fields_and_defaults(void **state)
{
    (void)state;
    char *wire;
    size_t len;
    encode_invoice(invoice_json, &wire, &len);
    dn_invoice_issued_t inv;
    dn_avro_err_t err;
    assert_int_equal(dn_invoice_issued_decode(wire, len, &inv, &err), 0);
    assert_string_equal(inv.event_id, "6f1c1a5e-3d2b-4c1a-9e7f-1b2c3d4e5f60");
    assert_int_equal(inv.occurred_at, 1772359200000LL);
    assert_int_equal(inv.amount_minor, 25050);
    assert_int_equal(inv.issue_date, 20513); /* 2026-03-01 in days since 1970 */
    assert_int_equal(inv.due_date, 20527);
    assert_string_equal(inv.contact.name, "Jörg Müller");
    assert_null(inv.invoice_number); /* absent optional fields take their default, null */
    assert_null(inv.policy);
    assert_null(inv.contact.phone);
    dn_invoice_issued_free(&inv);

    /* And back to JSON in the same friendly form. */
    json_t *j = dn_avro_to_json(wire, len, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "due_date")), "2026-03-15");
    assert_string_equal(json_string_value(json_object_get(j, "occurred_at")), "2026-03-01T10:00:00.000Z");
    assert_true(json_is_null(json_object_get(j, "policy")));
    json_decref(j);
    free(wire);
}

static void expect_json_error(const char *text, const char *needle)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    assert_non_null(j);
    avro_value_t v;
    dn_avro_err_t err;
    int rc = dn_avro_from_json("InvoiceIssued", j, &v, &err);
    json_decref(j);
    if (rc == 0) {
        avro_value_decref(&v);
        fail_msg("accepted: %s", text);
    }
    assert_int_equal(err.code, DN_AVRO_JSON_ERROR);
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

static char *with(const char *from, const char *to)
{
    static char buf[2048];
    const char *p = strstr(invoice_json, from);
    assert_non_null(p);
    snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - invoice_json), invoice_json, to, p + strlen(from));
    return buf;
}

static void test_json_errors_name_the_field(void **state)
{
    (void)state;
    expect_json_error(with("\"amount_minor\":25050,", ""), "amount_minor");
    expect_json_error(with("\"amount_minor\":25050", "\"amount_minor\":\"lots\""), "amount_minor");
    expect_json_error(with("\"due_date\":\"2026-03-15\"", "\"due_date\":\"15/03/2026\""), "due_date");
    expect_json_error(with("\"occurred_at\":\"2026-03-01T10:00:00Z\"", "\"occurred_at\":\"yesterday\""), "occurred_at");
    expect_json_error(with("\"email\":\"j@example.com\"", "\"email\":42"), "contact.email");
    expect_json_error(with("\"tenant_id\":\"acme\"", "\"tenant_id\":\"acme\",\"colour\":\"red\""), "colour");
}

static void expect_decode_error(const void *buf, size_t len, dn_avro_code_t code, const char *needle)
{
    avro_value_t v;
    dn_avro_err_t err;
    int rc = dn_avro_decode(buf, len, "InvoiceIssued", &v, &err);
    if (rc == 0) {
        avro_value_decref(&v);
        fail_msg("decoded bad input (expected %s)", dn_avro_code_str(code));
    }
    if (err.code != code)
        fail_msg("code %s (%s), expected %s", dn_avro_code_str(err.code), err.msg, dn_avro_code_str(code));
    if (!strstr(err.msg, needle))
        fail_msg("error '%s' does not mention '%s'", err.msg, needle);
}

static void test_bad_wire_input(void **state)
{
    (void)state;
    char *wire;
    size_t len;
    encode_invoice(invoice_json, &wire, &len);
    char *buf = malloc(len + 4);

    expect_decode_error("\0\0", 2, DN_AVRO_BAD_FRAMING, "shorter than the 5-byte framing");
    memcpy(buf, wire, len);
    buf[0] = 1;
    expect_decode_error(buf, len, DN_AVRO_BAD_FRAMING, "magic");
    memcpy(buf, "\0\0\0\0\x63", 5);
    expect_decode_error(buf, 5, DN_AVRO_UNKNOWN_SCHEMA, "schema id 99");
    memcpy(buf, wire, len);
    buf[4] = DN_SCHEMA_ID_PAYMENT_RECEIVED;
    expect_decode_error(buf, len, DN_AVRO_WRONG_TYPE, "PaymentReceived");
    for (size_t cut = 5; cut < len; cut += 7)
        expect_decode_error(wire, cut, DN_AVRO_DECODE_ERROR, "InvoiceIssued");
    memcpy(buf, wire, len);
    memcpy(buf + len, "\x01\x02\x03", 3);
    expect_decode_error(buf, len + 3, DN_AVRO_DECODE_ERROR, "bytes left over");
    /* A string length far beyond the record must not allocate it. */
    memcpy(buf, "\0\0\0\0\x01\xfe\xff\xff\xff\x0f", 10);
    expect_decode_error(buf, 10, DN_AVRO_DECODE_ERROR, "InvoiceIssued");
    free(buf);
    free(wire);
}

static void test_bad_field_content(void **state)
{
    (void)state;
    dn_invoice_issued_t inv;
    dn_avro_err_t err;
    char *wire;
    size_t len;

    /* Not a UUID: JSON accepts any string, the typed decode refuses it. */
    encode_invoice(with("6f1c1a5e-3d2b-4c1a-9e7f-1b2c3d4e5f60", "not-a-uuid"), &wire, &len);
    assert_int_equal(dn_invoice_issued_decode(wire, len, &inv, &err), -1);
    assert_int_equal(err.code, DN_AVRO_INVALID_FIELD);
    assert_non_null(strstr(err.msg, "event_id"));
    dn_invoice_issued_free(&inv);
    free(wire);

    /* Invalid UTF-8 in a nested string: patch the name's bytes on the wire. */
    encode_invoice(invoice_json, &wire, &len);
    char *p = memmem(wire, len, "J\xc3\xb6rg", 5);
    assert_non_null(p);
    p[1] = (char)0xff;
    assert_int_equal(dn_invoice_issued_decode(wire, len, &inv, &err), -1);
    assert_int_equal(err.code, DN_AVRO_INVALID_FIELD);
    assert_non_null(strstr(err.msg, "contact.name"));
    assert_non_null(strstr(err.msg, "UTF-8"));
    dn_invoice_issued_free(&inv);
    free(wire);
}

static void test_registry_lookups(void **state)
{
    (void)state;
    for (size_t i = 0; i < dn_schema_infos_n; i++) {
        const dn_schema_info_t *by_id = dn_avro_schema_by_id(dn_schema_infos[i].id);
        assert_ptr_equal(by_id, &dn_schema_infos[i]);
        const dn_schema_info_t *cur = dn_avro_schema_by_name(by_id->name);
        assert_non_null(cur);
        assert_true(cur->id >= by_id->id); /* the current version is the highest id */
        assert_non_null(dn_avro_schema(by_id->id));
    }
    assert_int_equal(dn_avro_schema_by_name("CaseCommand")->id, DN_SCHEMA_ID_CASE_COMMAND);
    assert_int_equal(DN_SCHEMA_ID_CASE_COMMAND_V1, 9);
    assert_int_equal(DN_SCHEMA_ID_CASE_COMMAND_V2, 10);
    assert_int_equal(DN_SCHEMA_ID_CASE_COMMAND_V3, 15); /* v3: callback, claim_paid */
    assert_int_equal(DN_SCHEMA_ID_CASE_COMMAND, 18);    /* v4: set_preferences, resend */
    assert_int_equal(DN_SCHEMA_ID_REMINDER_DUE_V2, 11);
    assert_int_equal(DN_SCHEMA_ID_REMINDER_DUE_V3, 13); /* v3: channel voice */
    assert_int_equal(DN_SCHEMA_ID_REMINDER_DUE, 16);    /* v4: risk_score, risk_reasons */
    assert_int_equal(DN_SCHEMA_ID_DUNNING_CASE_EVENT_V1, 6);
    assert_int_equal(DN_SCHEMA_ID_DUNNING_CASE_EVENT, 17); /* v2: risk_score, risk_reasons */
    assert_int_equal(DN_SCHEMA_ID_REMINDER_OUTCOME_V1, 7);
    assert_int_equal(DN_SCHEMA_ID_REMINDER_OUTCOME, 14); /* v2: channel voice, call */
    assert_int_equal(dn_avro_schema_by_name("ReminderDue")->id, DN_SCHEMA_ID_REMINDER_DUE);
    assert_int_equal(dn_avro_schema_by_name("ReminderOutcome")->id, DN_SCHEMA_ID_REMINDER_OUTCOME);
    assert_null(dn_avro_schema_by_id(0));
    assert_null(dn_avro_schema_by_name("Nope"));
    assert_string_equal(dn_avro_code_str(DN_AVRO_WRONG_TYPE), "wrong_record_type");
    assert_string_equal(dn_avro_code_str(DN_AVRO_INVALID_FIELD), "invalid_field");
}

/* A DunningCaseEvent written with version 1 (id 6) decodes into the current struct without
 * a score; the current version carries the score and its reasons. */
static void test_case_event_versions(void **state)
{
    (void)state;
    avro_schema_t v1 = dn_avro_schema(DN_SCHEMA_ID_DUNNING_CASE_EVENT_V1);
    assert_non_null(v1);
    avro_value_iface_t *iface = avro_generic_class_from_schema(v1);
    avro_value_t v, f, b;
    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    avro_value_iface_decref(iface);
    static const char *const strings[][2] = {{"event_id", "6f1c1a5e-3d2b-4c1a-9e7f-1b2c3d4e5f60"},
                                             {"tenant_id", "acme"},
                                             {"customer_id", "C-1"},
                                             {"case_id", "7f1c1a5e-3d2b-4c1a-9e7f-1b2c3d4e5f60"},
                                             {"invoice_id", "INV-1"},
                                             {"event_type", "opened"},
                                             {"to_state", "open"},
                                             {"currency", "EUR"}};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        assert_int_equal(avro_value_get_by_name(&v, strings[i][0], &f, NULL), 0);
        assert_int_equal(avro_value_set_string(&f, strings[i][1]), 0);
    }
    static const char *const longs[] = {"occurred_at", "outstanding_minor", "fee_minor", "interest_minor"};
    for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++) {
        assert_int_equal(avro_value_get_by_name(&v, longs[i], &f, NULL), 0);
        assert_int_equal(avro_value_set_long(&f, 1000 + (int64_t)i), 0);
    }
    assert_int_equal(avro_value_get_by_name(&v, "stage", &f, NULL), 0);
    assert_int_equal(avro_value_set_int(&f, 0), 0);
    static const char *const nulls[] = {"from_state", "reason", "caused_by_event_id"};
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        assert_int_equal(avro_value_get_by_name(&v, nulls[i], &f, NULL), 0);
        assert_int_equal(avro_value_set_branch(&f, 0, &b), 0);
        assert_int_equal(avro_value_set_null(&b), 0);
    }
    char *wire;
    size_t len;
    assert_int_equal(dn_avro_encode(DN_SCHEMA_ID_DUNNING_CASE_EVENT_V1, &v, &wire, &len), 0);
    avro_value_decref(&v);
    assert_int_equal((unsigned char)wire[4], 6);
    dn_dunning_case_event_t ev;
    dn_avro_err_t err;
    if (dn_dunning_case_event_decode(wire, len, &ev, &err) != 0)
        fail_msg("%s", err.msg);
    free(wire);
    assert_string_equal(ev.event_type, "opened");
    assert_int_equal(ev.outstanding_minor, 1001);
    assert_false(ev.has_risk_score);
    assert_int_equal(ev.risk_reasons_n, 0);

    /* The current version: the score and its reasons survive a round trip. */
    char *reasons[] = {"broke 2 promises to pay", "no payment history yet"};
    ev.has_risk_score = true;
    ev.risk_score = 26;
    char **kept = ev.risk_reasons;
    ev.risk_reasons = reasons;
    ev.risk_reasons_n = 2;
    assert_int_equal(dn_dunning_case_event_encode(&ev, &wire, &len), 0);
    ev.risk_reasons = kept;
    ev.risk_reasons_n = 0;
    dn_dunning_case_event_free(&ev);
    assert_int_equal((unsigned char)wire[4], 17);
    if (dn_dunning_case_event_decode(wire, len, &ev, &err) != 0)
        fail_msg("%s", err.msg);
    free(wire);
    assert_true(ev.has_risk_score);
    assert_int_equal(ev.risk_score, 26);
    assert_int_equal(ev.risk_reasons_n, 2);
    assert_string_equal(ev.risk_reasons[0], "broke 2 promises to pay");
    assert_string_equal(ev.risk_reasons[1], "no payment history yet");
    dn_dunning_case_event_free(&ev);
}

/* A CaseCommand written with version 1 (id 9) decodes into the current struct: the fields
 * it had keep their values (the enum by symbol), the new ones take their defaults. */
static void test_old_version_decodes(void **state)
{
    (void)state;
    avro_schema_t v1 = dn_avro_schema(DN_SCHEMA_ID_CASE_COMMAND_V1);
    assert_non_null(v1);
    avro_value_iface_t *iface = avro_generic_class_from_schema(v1);
    avro_value_t v, f, b;
    assert_int_equal(avro_generic_value_new(iface, &v), 0);
    avro_value_iface_decref(iface);
    assert_int_equal(avro_value_get_by_name(&v, "event_id", &f, NULL), 0);
    assert_int_equal(avro_value_set_string(&f, "6f1c1a5e-3d2b-4c1a-9e7f-1b2c3d4e5f60"), 0);
    assert_int_equal(avro_value_get_by_name(&v, "occurred_at", &f, NULL), 0);
    assert_int_equal(avro_value_set_long(&f, 1772000000000LL), 0);
    assert_int_equal(avro_value_get_by_name(&v, "tenant_id", &f, NULL), 0);
    assert_int_equal(avro_value_set_string(&f, "acme"), 0);
    assert_int_equal(avro_value_get_by_name(&v, "customer_id", &f, NULL), 0);
    assert_int_equal(avro_value_set_string(&f, "C-1"), 0);
    assert_int_equal(avro_value_get_by_name(&v, "invoice_id", &f, NULL), 0);
    assert_int_equal(avro_value_set_string(&f, "INV-1"), 0);
    assert_int_equal(avro_value_get_by_name(&v, "command", &f, NULL), 0);
    assert_int_equal(avro_value_set_enum(&f, 2), 0); /* credit */
    assert_int_equal(avro_value_get_by_name(&v, "reason", &f, NULL), 0);
    assert_int_equal(avro_value_set_branch(&f, 1, &b), 0);
    assert_int_equal(avro_value_set_string(&b, "goodwill"), 0);
    assert_int_equal(avro_value_get_by_name(&v, "until", &f, NULL), 0);
    assert_int_equal(avro_value_set_branch(&f, 1, &b), 0);
    assert_int_equal(avro_value_set_int(&b, 20600), 0);
    assert_int_equal(avro_value_get_by_name(&v, "amount_minor", &f, NULL), 0);
    assert_int_equal(avro_value_set_branch(&f, 1, &b), 0);
    assert_int_equal(avro_value_set_long(&b, 1250), 0);
    assert_int_equal(avro_value_get_by_name(&v, "actor", &f, NULL), 0);
    assert_int_equal(avro_value_set_branch(&f, 0, &b), 0);
    assert_int_equal(avro_value_set_null(&b), 0);
    char *wire;
    size_t len;
    assert_int_equal(dn_avro_encode(DN_SCHEMA_ID_CASE_COMMAND_V1, &v, &wire, &len), 0);
    avro_value_decref(&v);
    assert_int_equal((unsigned char)wire[4], 9);

    dn_case_command_t cc;
    dn_avro_err_t err;
    if (dn_case_command_decode(wire, len, &cc, &err) != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(cc.event_id, "6f1c1a5e-3d2b-4c1a-9e7f-1b2c3d4e5f60");
    assert_int_equal(cc.occurred_at, 1772000000000LL);
    assert_string_equal(cc.tenant_id, "acme");
    assert_string_equal(cc.customer_id, "C-1");
    assert_string_equal(cc.invoice_id, "INV-1");
    assert_int_equal(cc.command, DN_CASE_COMMAND_KIND_CREDIT);
    assert_string_equal(cc.reason, "goodwill");
    assert_true(cc.has_until);
    assert_int_equal(cc.until, 20600);
    assert_true(cc.has_amount_minor);
    assert_int_equal(cc.amount_minor, 1250);
    assert_null(cc.actor);
    /* Version 2's fields, at their defaults. */
    assert_false(cc.has_promise_date);
    assert_null(cc.channel);
    assert_null(cc.scope);
    assert_int_equal(cc.instalments_n, 0);

    /* Re-encoded, it is a current (id 10) record. */
    char *wire2;
    size_t len2;
    assert_int_equal(dn_case_command_encode(&cc, &wire2, &len2), 0);
    assert_int_equal((unsigned char)wire2[4], DN_SCHEMA_ID_CASE_COMMAND);
    dn_case_command_free(&cc);

    /* JSON of the old record shows the current shape. */
    json_t *j = dn_avro_to_json(wire, len, &err);
    if (!j)
        fail_msg("%s", err.msg);
    assert_string_equal(json_string_value(json_object_get(j, "command")), "credit");
    assert_true(json_is_null(json_object_get(j, "scope")));
    json_decref(j);
    free(wire);
    free(wire2);
}

/* Every older version, filled in full (and with nulls), decodes into the current struct and
 * shows as JSON; the fields it shares with the current version keep their values. */
static void test_every_old_version_decodes(void **state)
{
    (void)state;
    int nold = 0;
    for (size_t i = 0; i < dn_schema_infos_n; i++) {
        const dn_schema_info_t *old = &dn_schema_infos[i], *cur = dn_avro_schema_by_name(old->name);
        if (cur == old)
            continue;
        nold++;
        const dn_record_desc_t *d = NULL;
        for (size_t k = 0; k < NRECORDS; k++)
            if (strcmp(records[k].name, old->name) == 0)
                d = records[k].desc;
        assert_non_null(d);
        for (int with_nulls = 0; with_nulls < 2; with_nulls++) {
            avro_value_iface_t *iface = avro_generic_class_from_schema(dn_avro_schema(old->id));
            avro_value_t v;
            assert_int_equal(avro_generic_value_new(iface, &v), 0);
            avro_value_iface_decref(iface);
            dn_field_desc_t top = {.name = old->name, .kind = DN_F_RECORD, .rec = d};
            int seq = 0;
            fill(&v, &top, with_nulls, &seq);
            char *wire;
            size_t len;
            assert_int_equal(dn_avro_encode(old->id, &v, &wire, &len), 0);
            void *rec = calloc(1, d->size);
            dn_avro_err_t err;
            if (dn_record_decode(d, wire, len, rec, &err) != 0)
                fail_msg("%s id %d: %s", old->name, old->id, err.msg);
            /* Back to the old version's value: the shared fields are unchanged. */
            avro_value_t cv;
            assert_int_equal(dn_avro_decode(wire, len, old->name, &cv, &err), 0);
            size_t n;
            avro_value_get_size(&v, &n);
            for (size_t k = 0; k < n; k++) {
                avro_value_t of, nf;
                const char *name;
                assert_int_equal(avro_value_get_by_index(&v, k, &of, &name), 0);
                assert_int_equal(avro_value_get_by_name(&cv, name, &nf, NULL), 0);
                if (avro_value_get_type(&of) != AVRO_ENUM && avro_value_get_type(&of) != AVRO_RECORD)
                    assert_true(avro_value_equal(&of, &nf));
            }
            json_t *j = dn_avro_to_json(wire, len, &err);
            if (!j)
                fail_msg("%s id %d to JSON: %s", old->name, old->id, err.msg);
            json_decref(j);
            avro_value_decref(&cv);
            avro_value_decref(&v);
            dn_record_free(d, rec);
            free(rec);
            free(wire);
        }
    }
    assert_true(nold >= 2); /* CaseCommand v1 and ReminderDue v1 */
}

/* DN_F_RECARRAY: an array of records goes struct -> wire -> struct unchanged, with the
 * nested strings and has_ flags, and an empty array stays empty. */
static void test_record_array_round_trips(void **state)
{
    (void)state;
    dn_instalment_t plan[3] = {{.amount_minor = 10000, .due_date = 20600},
                               {.amount_minor = 10000, .due_date = 20630},
                               {.amount_minor = 5050, .due_date = 20661}};
    dn_case_command_t in = {.event_id = "6f1c1a5e-3d2b-4c1a-9e7f-1b2c3d4e5f60",
                            .occurred_at = 1772000000000LL,
                            .tenant_id = "acme",
                            .customer_id = "C-1",
                            .invoice_id = "INV-1",
                            .command = DN_CASE_COMMAND_KIND_PLAN,
                            .channel = "portal",
                            .instalments = plan,
                            .instalments_n = 3};
    char *wire;
    size_t len;
    assert_int_equal(dn_case_command_encode(&in, &wire, &len), 0);
    dn_case_command_t out;
    dn_avro_err_t err;
    if (dn_case_command_decode(wire, len, &out, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(out.command, DN_CASE_COMMAND_KIND_PLAN);
    assert_string_equal(out.channel, "portal");
    assert_int_equal(out.instalments_n, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(out.instalments[i].amount_minor, plan[i].amount_minor);
        assert_int_equal(out.instalments[i].due_date, plan[i].due_date);
    }
    char *wire2;
    size_t len2;
    assert_int_equal(dn_case_command_encode(&out, &wire2, &len2), 0);
    assert_int_equal(len2, len);
    assert_memory_equal(wire2, wire, len);
    json_t *j = dn_avro_to_json(wire, len, &err);
    assert_non_null(j);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "instalments"), 2), "due_date")),
        "2026-07-27");
    json_decref(j);
    dn_case_command_free(&out);
    assert_null(out.instalments); /* _free leaves the struct zeroed */
    free(wire);
    free(wire2);

    /* No instalments (every command but plan). */
    in.command = DN_CASE_COMMAND_KIND_RESUME;
    in.instalments = NULL;
    in.instalments_n = 0;
    assert_int_equal(dn_case_command_encode(&in, &wire, &len), 0);
    if (dn_case_command_decode(wire, len, &out, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(out.instalments_n, 0);
    dn_case_command_free(&out);
    free(wire);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_schema_round_trips),   cmocka_unit_test(test_json_fields_and_defaults),
        cmocka_unit_test(test_json_errors_name_the_field), cmocka_unit_test(test_bad_wire_input),
        cmocka_unit_test(test_bad_field_content),          cmocka_unit_test(test_registry_lookups),
        cmocka_unit_test(test_old_version_decodes),        cmocka_unit_test(test_case_event_versions),
        cmocka_unit_test(test_every_old_version_decodes),  cmocka_unit_test(test_record_array_round_trips),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
