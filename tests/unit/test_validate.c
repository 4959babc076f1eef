/* The engine's input contract (dn_validate): the accepted date range of invoices, the
 * whitespace rule for ids, the currency wording (issue 22), and a property test over the
 * whole range of dates the schema allows: every invoice is either accepted with every stage
 * time storable and printable (so its case gets a timer), or refused with invalid_field
 * naming a date field; none is accepted with a stage the engine would read as "no timer". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dn_clock.h"
#include "dn_rules.h"
#include "dn_validate.h"

/* The documented bounds (docs/contracts.md, "Accepted values"), written out here rather
 * than taken from the header, so the test is an independent statement of the contract. */
#define DAY_1970_01_01 0
#define DAY_9999_12_31 2932896
#define MS_MAX         253402300799999LL /* 9999-12-31T23:59:59.999Z */

#define DAY_MS 86400000LL

static stage_t stages[4];
static char sname[4][16];
static policy_t pol = {.name = "p", .stages = stages};
static tenant_policies_t tp = {.tenant = "default", .default_policy = "p", .policies = &pol, .npolicies = 1};
static policy_set_t ps = {.tenants = &tp, .ntenants = 1};

/* The one policy "p": n stages at the given offsets, grace days. */
static void set_policy(const int64_t *offsets, size_t n, int32_t grace)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(sname[i], sizeof(sname[i]), "s%zu", i + 1);
        stages[i] = (stage_t){.name = sname[i], .template_key = sname[i], .offset_ms = offsets[i], .nchannels = 1};
    }
    pol.nstages = n;
    pol.grace_days = grace;
}

static dn_invoice_issued_t invoice(int32_t issue, int32_t due)
{
    return (dn_invoice_issued_t){.event_id = "6f1c1f2e-0000-4000-8000-000000000001",
                                 .occurred_at = 1772409600000LL,
                                 .tenant_id = "t",
                                 .customer_id = "c",
                                 .invoice_id = "I-1",
                                 .invoice_number = "N-1",
                                 .amount_minor = 5000,
                                 .currency = "EUR",
                                 .issue_date = issue,
                                 .due_date = due,
                                 .contact = {.name = "Customer", .email = "c@example.com"}};
}

static const char *code;
static char reason[256];

static int check(const dn_invoice_issued_t *v)
{
    code = NULL;
    reason[0] = '\0';
    return dn_validate_invoice(&ps, v, &code, reason, sizeof(reason));
}

static void assert_refused(const dn_invoice_issued_t *v, const char *want_reason)
{
    assert_int_equal(check(v), DN_VALIDATE_REJECT);
    assert_string_equal(code, "invalid_field");
    assert_string_equal(reason, want_reason);
}

static void assert_accepted(const dn_invoice_issued_t *v)
{
    if (check(v) != DN_VALIDATE_OK)
        fail_msg("refused: %s: %s", code, reason);
}

static int32_t day(const char *iso)
{
    int32_t d;
    assert_int_equal(dn_date_parse(iso, &d), 0);
    return d;
}

/* 1. A stage before 1970-01-01 was accepted and read as "no timer": the case was never dunned. */
static void test_lower_bound(void **state)
{
    (void)state;
    const int64_t off[] = {-2 * DAY_MS, 0, 7 * DAY_MS};
    set_policy(off, 3, 0);
    dn_invoice_issued_t v = invoice(day("1969-11-01"), day("1969-12-01"));
    assert_refused(&v, "field issue_date: 1969-11-01 is outside 1970-01-01..9999-12-31");
    v = invoice(day("1970-01-01"), day("1969-12-01"));
    assert_refused(&v, "field due_date: 1969-12-01 is outside 1970-01-01..9999-12-31");
    v = invoice(day("1970-01-03"), day("1970-01-02"));
    assert_refused(&v, "field due_date: before issue_date");
    v = invoice(day("1900-01-01"), day("1900-01-31"));
    assert_refused(&v, "field issue_date: 1900-01-01 is outside 1970-01-01..9999-12-31");
    /* The due date is in range, its pre-due stage is not. */
    v = invoice(day("1970-01-01"), day("1970-01-01"));
    assert_refused(&v, "field due_date: stage 1 (s1) of policy p would fall due at 1969-12-30T00:00:00.000Z, "
                       "before 1970-01-01T00:00:00.000Z");
    v = invoice(day("1970-01-01"), day("1970-01-02"));
    assert_refused(&v, "field due_date: stage 1 (s1) of policy p would fall due at 1969-12-31T00:00:00.000Z, "
                       "before 1970-01-01T00:00:00.000Z");
    v = invoice(day("1970-01-01"), day("1970-01-03"));
    assert_accepted(&v); /* the first stage at the epoch itself: a timer at 0 */
    v = invoice(day("1970-01-01"), day("1970-01-05"));
    assert_accepted(&v);
}

/* 2. A stage after 9999-12-31 became a database_error with SQL text. */
static void test_upper_bound(void **state)
{
    (void)state;
    const int64_t off[] = {0, DAY_MS};
    set_policy(off, 2, 0);
    dn_invoice_issued_t v = invoice(day("9999-12-01"), day("9999-12-31"));
    assert_refused(&v, "field due_date: stage 2 (s2) of policy p would fall due at 253402300800000, "
                       "after 9999-12-31T23:59:59.999Z");
    v = invoice(day("9999-12-01"), day("9999-12-30"));
    assert_accepted(&v);
    /* Grace moves an overdue stage later: it counts. */
    set_policy(off, 1, 1);
    v = invoice(day("9999-12-01"), day("9999-12-31"));
    assert_refused(&v, "field due_date: stage 1 (s1) of policy p would fall due at 253402300800000, "
                       "after 9999-12-31T23:59:59.999Z");
    set_policy(off, 1, 0);
    assert_accepted(&v);
    /* The ends of the int range. */
    v = invoice(INT32_MIN, INT32_MAX);
    assert_refused(&v, "field issue_date: -2147483648 is outside 1970-01-01..9999-12-31");
    v = invoice(0, INT32_MAX);
    assert_refused(&v, "field due_date: 2147483647 is outside 1970-01-01..9999-12-31");
    v = invoice(DAY_9999_12_31 + 1, DAY_9999_12_31 + 1);
    assert_refused(&v, "field issue_date: 2932897 is outside 1970-01-01..9999-12-31");
}

/* occurred_at is stored too: a timestamp PostgreSQL cannot hold is refused, not a database error. */
static void test_occurred_at(void **state)
{
    (void)state;
    const int64_t off[] = {DAY_MS};
    set_policy(off, 1, 0);
    dn_invoice_issued_t v = invoice(day("2026-03-01"), day("2026-03-20"));
    v.occurred_at = -1;
    assert_refused(&v, "field occurred_at: -1 is outside 1970-01-01T00:00:00.000Z..9999-12-31T23:59:59.999Z");
    v.occurred_at = MS_MAX + 1;
    assert_refused(&v, "field occurred_at: 253402300800000 is outside "
                       "1970-01-01T00:00:00.000Z..9999-12-31T23:59:59.999Z");
    v.occurred_at = 0;
    assert_accepted(&v);
    v.occurred_at = MS_MAX;
    assert_accepted(&v);
    dn_payment_received_t p = {.event_id = v.event_id,
                               .occurred_at = INT64_MAX,
                               .tenant_id = "t",
                               .customer_id = "c",
                               .payment_id = "P-1",
                               .invoice_id = "I-1",
                               .amount_minor = 100,
                               .currency = "EUR"};
    assert_int_equal(dn_validate_payment(&ps, &p, &code, reason, sizeof(reason)), DN_VALIDATE_REJECT);
    assert_string_equal(reason, "field occurred_at: 9223372036854775807 is outside "
                                "1970-01-01T00:00:00.000Z..9999-12-31T23:59:59.999Z");
}

/* A pause's end date is stored as a date and becomes the case's timer. */
static void test_pause_until(void **state)
{
    (void)state;
    dn_case_command_t c = {.event_id = "6f1c1f2e-0000-4000-8000-000000000002",
                           .occurred_at = 1772409600000LL,
                           .tenant_id = "t",
                           .customer_id = "c",
                           .invoice_id = "I-1",
                           .command = DN_CASE_COMMAND_KIND_PAUSE,
                           .reason = "dispute",
                           .has_until = true,
                           .until = INT32_MAX,
                           .actor = "agent"};
    assert_int_equal(dn_validate_command(&ps, &c, &code, reason, sizeof(reason)), DN_VALIDATE_REJECT);
    assert_string_equal(code, "invalid_field");
    assert_string_equal(reason, "field until: 2147483647 is outside 1970-01-01..9999-12-31");
    c.until = DAY_9999_12_31;
    assert_int_equal(dn_validate_command(&ps, &c, &code, reason, sizeof(reason)), DN_VALIDATE_OK);
}

/* A resend's target_channel names a channel, or nothing (the last reminder's). */
static void test_resend_target(void **state)
{
    (void)state;
    dn_case_command_t c = {.event_id = "6f1c1f2e-0000-4000-8000-000000000003",
                           .occurred_at = 1772409600000LL,
                           .tenant_id = "t",
                           .customer_id = "c",
                           .invoice_id = "I-1",
                           .command = DN_CASE_COMMAND_KIND_RESEND,
                           .actor = "user:alice"};
    assert_int_equal(dn_validate_command(&ps, &c, &code, reason, sizeof(reason)), DN_VALIDATE_OK);
    c.target_channel = "sms";
    assert_int_equal(dn_validate_command(&ps, &c, &code, reason, sizeof(reason)), DN_VALIDATE_OK);
    c.target_channel = "fax";
    assert_int_equal(dn_validate_command(&ps, &c, &code, reason, sizeof(reason)), DN_VALIDATE_REJECT);
    assert_string_equal(code, "invalid_field");
    assert_string_equal(reason, "field target_channel: expected email, sms, letter or voice");
}

/* 4. Ids are taken verbatim: blank ones are refused like empty ones, and none may start or
 * end with whitespace (a payment sent with the trimmed id would never find its invoice). */
static void test_whitespace_ids(void **state)
{
    (void)state;
    const int64_t off[] = {DAY_MS};
    set_policy(off, 1, 0);
    dn_invoice_issued_t v = invoice(day("2026-03-01"), day("2026-03-20"));
    v.customer_id = "";
    assert_refused(&v, "field customer_id: must not be empty");
    v.customer_id = "   ";
    assert_refused(&v, "field customer_id: must not be blank");
    v.customer_id = "\xc2\xa0\xe3\x80\x80"; /* no-break space, ideographic space */
    assert_refused(&v, "field customer_id: must not be blank");
    v.customer_id = "c";
    v.invoice_id = " INV-1";
    assert_refused(&v, "field invoice_id: must not start or end with whitespace");
    v.invoice_id = "INV-1 ";
    assert_refused(&v, "field invoice_id: must not start or end with whitespace");
    v.invoice_id = "INV-1\xc2\xa0";
    assert_refused(&v, "field invoice_id: must not start or end with whitespace");
    v.invoice_id = "\xe2\x80\x83INV-1"; /* em space */
    assert_refused(&v, "field invoice_id: must not start or end with whitespace");
    v.invoice_id = "INV 1"; /* inside: kept verbatim */
    assert_accepted(&v);
    v.invoice_id = "Rechnung-\xc3\xa4"; /* a non-ASCII last character that is no space */
    assert_accepted(&v);
    v.tenant_id = " t";
    assert_refused(&v, "field tenant_id: must not start or end with whitespace");
    dn_payment_received_t p = {.event_id = v.event_id,
                               .occurred_at = v.occurred_at,
                               .tenant_id = "t",
                               .customer_id = "c",
                               .payment_id = "   ",
                               .invoice_id = "I-1",
                               .amount_minor = 100,
                               .currency = "EUR"};
    assert_int_equal(dn_validate_payment(&ps, &p, &code, reason, sizeof(reason)), DN_VALIDATE_REJECT);
    assert_string_equal(reason, "field payment_id: must not be blank");
}

/* 5. XXX is an ISO 4217 code ("no currency"), just not one that can be dunned. */
static void test_currency_wording(void **state)
{
    (void)state;
    const int64_t off[] = {DAY_MS};
    set_policy(off, 1, 0);
    dn_invoice_issued_t v = invoice(day("2026-03-01"), day("2026-03-20"));
    v.currency = "XXX";
    assert_refused(&v, "field currency: 'XXX' is not a currency that can be dunned");
    v.currency = "eur";
    assert_refused(&v, "field currency: 'eur' is not a currency that can be dunned");
}

/* xorshift64*: a fixed seed, so a failure is reproducible. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1dULL;
}

/* A day from the whole int range, with its edges and the accepted bounds often. */
static int32_t any_day(void)
{
    static const int32_t edges[] = {
        INT32_MIN,          INT32_MIN + 1,      -719528,       -1,       0, 1, 2, 3, 20512, DAY_9999_12_31,
        DAY_9999_12_31 - 1, DAY_9999_12_31 + 1, INT32_MAX - 1, INT32_MAX};
    uint64_t r = next();
    switch (r % 4) {
    case 0:
        return edges[(r >> 8) % (sizeof(edges) / sizeof(edges[0]))];
    case 1:
        return (int32_t)(uint32_t)(r >> 16); /* anywhere */
    case 2:
        return (int32_t)((r >> 16) % 40) - 20; /* near 1970-01-01 */
    default:
        return DAY_9999_12_31 + (int32_t)((r >> 16) % 40) - 20; /* near 9999-12-31 */
    }
}

/* An offset of any sign and size: days, odd milliseconds, the ends of int64. */
static int64_t any_offset(void)
{
    uint64_t r = next();
    switch (r % 5) {
    case 0:
        return ((int64_t)((r >> 8) % 61) - 30) * DAY_MS;
    case 1:
        return (int64_t)((r >> 8) % 2000001) - 1000000;
    case 2:
        return (r & 0x100) ? INT64_MAX - (int64_t)((r >> 16) % 3) : INT64_MIN + (int64_t)((r >> 16) % 3);
    case 3:
        return (int64_t)(r >> 1) * ((r & 1) ? 1 : -1);
    default:
        return ((int64_t)((r >> 8) % 20001) - 10000) * DAY_MS;
    }
}

static int printable(int64_t ms)
{
    char buf[40];
    dn_time_format(ms, buf, sizeof(buf));
    return strlen(buf) == 24 && buf[10] == 'T' && buf[23] == 'Z';
}

/* Issue and due dates from the schema's minimum to its maximum int day, offsets of every
 * sign: accepted means every stage has a timer the engine stores and prints; refused means
 * invalid_field on a date field. */
static void test_property_date_range(void **state)
{
    (void)state;
    size_t accepted = 0, refused = 0;
    for (int i = 0; i < 200000; i++) {
        size_t n = 1 + next() % 4;
        int64_t off[4];
        for (size_t k = 0; k < n; k++)
            off[k] = any_offset();
        for (size_t k = 1; k < n; k++) /* the loader keeps offsets increasing; the order does not matter here */
            if (off[k] <= off[k - 1] && off[k - 1] < INT64_MAX)
                off[k] = off[k - 1] + 1;
        set_policy(off, n, (int32_t)(next() % 31));
        dn_invoice_issued_t v = invoice(any_day(), any_day());
        if (next() % 2) { /* mostly an issue date shortly before the due date */
            int32_t back = (int32_t)(next() % 60);
            v.issue_date = v.due_date >= INT32_MIN + back ? v.due_date - back : v.due_date;
        }
        int rc = check(&v);
        if (rc == DN_VALIDATE_OK) {
            accepted++;
            assert_true(v.issue_date >= DAY_1970_01_01 && v.issue_date <= DAY_9999_12_31);
            assert_true(v.due_date >= v.issue_date && v.due_date <= DAY_9999_12_31);
            for (size_t k = 0; k < n; k++) {
                int64_t t = dn_rules_stage_time_ms(v.due_date, off[k], pol.grace_days);
                if (t < 0 || t > MS_MAX || !printable(t))
                    fail_msg("accepted issue %d due %d stage %zu offset %lld grace %d: stage time %lld", v.issue_date,
                             v.due_date, k + 1, (long long)off[k], pol.grace_days, (long long)t);
            }
        } else {
            refused++;
            assert_int_equal(rc, DN_VALIDATE_REJECT);
            assert_string_equal(code, "invalid_field");
            if (strncmp(reason, "field issue_date: ", 18) != 0 && strncmp(reason, "field due_date: ", 16) != 0)
                fail_msg("refused with another field: %s", reason);
        }
    }
    /* Both outcomes happen often enough to mean something. */
    print_message("%zu accepted, %zu refused\n", accepted, refused);
    assert_true(accepted > 3000);
    assert_true(refused > 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lower_bound),         cmocka_unit_test(test_upper_bound),
        cmocka_unit_test(test_occurred_at),         cmocka_unit_test(test_pause_until),
        cmocka_unit_test(test_whitespace_ids),      cmocka_unit_test(test_currency_wording),
        cmocka_unit_test(test_property_date_range), cmocka_unit_test(test_resend_target),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
