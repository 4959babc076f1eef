/* sender-sms's sms.c: GSM-7 / UCS-2 measurement, E.164 numbers, quiet hours. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dn_hours.h"
#include "sms.h"

/* n copies of the UTF-8 sequence s, malloc'd. */
static char *rep(const char *s, size_t n)
{
    size_t len = strlen(s);
    char *p = malloc(len * n + 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        memcpy(p + i * len, s, len);
    p[len * n] = '\0';
    return p;
}

/* The concatenation of up to three parts (NULL ends), malloc'd; the parts are freed. */
static char *cat3(char *a, char *b, char *c)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0, lc = c ? strlen(c) : 0;
    char *p = malloc(la + lb + lc + 1);
    assert_non_null(p);
    memcpy(p, a, la);
    if (b)
        memcpy(p + la, b, lb);
    if (c)
        memcpy(p + la + lb, c, lc);
    p[la + lb + lc] = '\0';
    free(a);
    free(b);
    free(c);
    return p;
}

static void expect_size(const char *text, sms_coding_t coding, size_t units, int parts)
{
    sms_size_t sz = {.coding = 99, .units = 99999, .parts = -7};
    assert_int_equal(sms_measure(text, &sz), 0);
    assert_int_equal(sz.coding, coding);
    assert_int_equal(sz.units, units);
    assert_int_equal(sz.parts, parts);
}

/* expect_size on a malloc'd text, which it frees. */
static void expect_size_free(char *text, sms_coding_t coding, size_t units, int parts)
{
    expect_size(text, coding, units, parts);
    free(text);
}

static void test_gsm7_basic(void **state)
{
    (void)state;
    expect_size("", SMS_GSM7, 0, 1);
    expect_size("Hello", SMS_GSM7, 5, 1);
    expect_size("Invoice 2026-001: 49.90 EUR due @ 1 Feb!", SMS_GSM7, 40, 1);
    /* Basic-table letters beyond ASCII: one septet each. */
    expect_size("\xC3\xA4\xC3\xB6\xC3\xBC\xC3\x9F\xC3\xA9\xC3\x89\xC2\xA3\xC2\xA7", SMS_GSM7, 8, 1); /* äöüßéÉ£§ */
    expect_size("\xCE\x94\xCE\xA9", SMS_GSM7, 2, 1);                                                 /* ΔΩ */
    expect_size("line\nline\r", SMS_GSM7, 10, 1);
    assert_string_equal(sms_coding_name(SMS_GSM7), "gsm7");
    assert_string_equal(sms_coding_name(SMS_UCS2), "ucs2");
}

static void test_gsm7_extension(void **state)
{
    (void)state;
    expect_size("\xE2\x82\xAC", SMS_GSM7, 2, 1); /* € */
    expect_size("[]{}^~\\|", SMS_GSM7, 16, 1);
    expect_size("\f", SMS_GSM7, 2, 1);
    expect_size("Total: 12,50 \xE2\x82\xAC", SMS_GSM7, 15, 1);
}

static void test_gsm7_parts(void **state)
{
    (void)state;
    expect_size_free(rep("a", 160), SMS_GSM7, 160, 1);
    expect_size_free(rep("a", 161), SMS_GSM7, 161, 2);
    expect_size_free(rep("a", 306), SMS_GSM7, 306, 2);
    expect_size_free(rep("a", 307), SMS_GSM7, 307, 3);
    expect_size_free(rep("a", 459), SMS_GSM7, 459, 3);
    expect_size_free(rep("a", 460), SMS_GSM7, 460, 4);
    /* Escaped characters count 2 towards the single-SMS limit too. */
    expect_size_free(rep("\xE2\x82\xAC", 80), SMS_GSM7, 160, 1);
    expect_size_free(cat3(rep("a", 159), rep("\xE2\x82\xAC", 1), NULL), SMS_GSM7, 161, 2);
    expect_size_free(cat3(rep("a", 158), rep("\xE2\x82\xAC", 1), NULL), SMS_GSM7, 160, 1);
    /* An escape pair is never split: 152 + [€] does not fit 153, so € starts part 2, whose
     * 153 septets are full one character early. 306 septets, 3 parts. */
    expect_size_free(cat3(rep("a", 152), rep("\xE2\x82\xAC", 1), rep("a", 152)), SMS_GSM7, 306, 3);
    /* The same count with the pair aligned: 151 + € = 153, then 153. */
    expect_size_free(cat3(rep("a", 151), rep("\xE2\x82\xAC", 1), rep("a", 153)), SMS_GSM7, 306, 2);
}

static void test_ucs2(void **state)
{
    (void)state;
    expect_size("\xC4\x85", SMS_UCS2, 1, 1);                 /* ą is not in GSM-7 */
    expect_size("a`", SMS_UCS2, 2, 1);                       /* the backtick is not either */
    expect_size("a\tb", SMS_UCS2, 3, 1);                     /* nor a tab */
    expect_size("\xC3\xA7", SMS_UCS2, 1, 1);                 /* ç (only Ç is) */
    expect_size("\xE2\x82\xAC\xC4\x85", SMS_UCS2, 2, 1);     /* € counts 1 unit in UCS-2 */
    expect_size("\xD0\x9F\xD1\x80\xD0\xB8", SMS_UCS2, 3, 1); /* При */
    /* Outside the BMP: a surrogate pair, 2 units. */
    expect_size("\xF0\x9F\x98\x80", SMS_UCS2, 2, 1); /* U+1F600 */
    expect_size("ok \xF0\x9F\x98\x80\xF0\x9F\x98\x80", SMS_UCS2, 7, 1);
}

static void test_ucs2_parts(void **state)
{
    (void)state;
    expect_size_free(cat3(rep("\xC4\x85", 1), rep("a", 69), NULL), SMS_UCS2, 70, 1);
    expect_size_free(cat3(rep("\xC4\x85", 1), rep("a", 70), NULL), SMS_UCS2, 71, 2);
    expect_size_free(cat3(rep("\xC4\x85", 1), rep("a", 133), NULL), SMS_UCS2, 134, 2);
    expect_size_free(cat3(rep("\xC4\x85", 1), rep("a", 134), NULL), SMS_UCS2, 135, 3);
    expect_size_free(rep("\xC4\x85", 201), SMS_UCS2, 201, 3);
    expect_size_free(rep("\xC4\x85", 202), SMS_UCS2, 202, 4);
    /* 35 emoji are 70 units: one SMS; 36 are 72: 33 pairs per part (66 of 67). */
    expect_size_free(rep("\xF0\x9F\x98\x80", 35), SMS_UCS2, 70, 1);
    expect_size_free(rep("\xF0\x9F\x98\x80", 36), SMS_UCS2, 72, 2);
    expect_size_free(rep("\xF0\x9F\x98\x80", 66), SMS_UCS2, 132, 2);
    expect_size_free(rep("\xF0\x9F\x98\x80", 67), SMS_UCS2, 134, 3);
    /* A surrogate pair is never split: 66 + pair does not fit 67. */
    expect_size_free(cat3(rep("a", 66), rep("\xF0\x9F\x98\x80", 1), rep("a", 66)), SMS_UCS2, 134, 3);
    expect_size_free(cat3(rep("a", 65), rep("\xF0\x9F\x98\x80", 1), rep("a", 67)), SMS_UCS2, 134, 2);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xC3",             /* truncated */
        "ab\xE2\x82",       /* truncated at the end */
        "\x80",             /* lone continuation byte */
        "\xC0\xAF",         /* overlong '/' */
        "\xE0\x80\xAF",     /* overlong, 3 bytes */
        "\xED\xA0\x80",     /* a surrogate, U+D800 */
        "\xF4\x90\x80\x80", /* beyond U+10FFFF */
        "\xFF",
        "ok \xF8\x88\x80\x80\x80", /* 5-byte form */
        "\xC3\x28",                /* continuation byte missing */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sms_size_t sz;
        if (sms_measure(bad[i], &sz) != -1)
            fail_msg("accepted bad UTF-8 #%zu", i);
    }
    /* The largest code point is fine. */
    expect_size("\xF4\x8F\xBF\xBF", SMS_UCS2, 2, 1);
}

static void test_phone(void **state)
{
    (void)state;
    assert_int_equal(dn_phone_valid("+4915112345678"), 1);
    assert_int_equal(dn_phone_valid("+1234567"), 1);         /* 7 digits */
    assert_int_equal(dn_phone_valid("+123456789012345"), 1); /* 15 digits */
    assert_int_equal(dn_phone_valid("+123456"), 0);
    assert_int_equal(dn_phone_valid("+1234567890123456"), 0);
    assert_int_equal(dn_phone_valid("+0151123456"), 0);
    assert_int_equal(dn_phone_valid("4915112345678"), 0);
    assert_int_equal(dn_phone_valid("004915112345678"), 0);
    assert_int_equal(dn_phone_valid("+49 151 12345678"), 0);
    assert_int_equal(dn_phone_valid("+49-15112345678"), 0);
    assert_int_equal(dn_phone_valid("+4915112345678 "), 0);
    assert_int_equal(dn_phone_valid("+"), 0);
    assert_int_equal(dn_phone_valid(""), 0);
    assert_int_equal(dn_phone_valid(NULL), 0);
    assert_null(dn_phone_problem("+4915112345678", "not E.164"));
    assert_string_equal(dn_phone_problem(NULL, "not E.164"), "no phone number");
    assert_string_equal(dn_phone_problem("", "not E.164"), "no phone number");
    assert_string_equal(dn_phone_problem("call me maybe", "not E.164"), "not E.164");
}

static void expect_quiet(const char *spec, int rc, int enabled, int start, int end)
{
    int e = -1, s = -1, t = -1;
    assert_int_equal(dn_hours_parse(spec, &e, &s, &t), rc);
    if (rc == 0) {
        assert_int_equal(e, enabled);
        assert_int_equal(s, start);
        assert_int_equal(t, end);
    }
}

static void test_quiet_parse(void **state)
{
    (void)state;
    expect_quiet("21:00-08:00", 0, 1, 1260, 480);
    expect_quiet("8:30-9:00", 0, 1, 510, 540);
    expect_quiet("00:00-23:59", 0, 1, 0, 1439);
    expect_quiet("12:15-14:45", 0, 1, 735, 885);
    expect_quiet("", 0, 0, 0, 0);
    expect_quiet("21:00-21:00", -1, 0, 0, 0);
    expect_quiet("24:00-08:00", -1, 0, 0, 0);
    expect_quiet("21:60-08:00", -1, 0, 0, 0);
    expect_quiet("21:00-8:0", -1, 0, 0, 0);
    expect_quiet("2100-0800", -1, 0, 0, 0);
    expect_quiet("21:00", -1, 0, 0, 0);
    expect_quiet("21:00-", -1, 0, 0, 0);
    expect_quiet("-08:00", -1, 0, 0, 0);
    expect_quiet("21:00 - 08:00", -1, 0, 0, 0);
    expect_quiet("21:00-08:00x", -1, 0, 0, 0);
    expect_quiet("021:00-08:00", -1, 0, 0, 0);
    expect_quiet("a1:00-08:00", -1, 0, 0, 0);
    /* A failed parse leaves the window disabled. */
    int e = 1, s = 1, t = 1;
    assert_int_equal(dn_hours_parse("25:00-08:00", &e, &s, &t), -1);
    assert_int_equal(e, 0);
}

/* Calls dn_hours_until and checks its answer; until is compared only when quiet. */
static void expect_until(int64_t now_s, const char *tz, const char *spec, int quiet, int64_t until_s,
                         const char *tz_used)
{
    int e, s, t;
    assert_int_equal(dn_hours_parse(spec, &e, &s, &t), 0);
    int64_t until = -1;
    const char *used = NULL;
    int rc = dn_hours_until(now_s * 1000 + 250, tz, s, t, &until, &used);
    if (rc != quiet)
        fail_msg("%s at %lld in %s: quiet %d, want %d", spec, (long long)now_s, tz ? tz : "(null)", rc, quiet);
    assert_non_null(used);
    assert_string_equal(used, tz_used);
    if (quiet)
        assert_int_equal(until, until_s * 1000);
}

static void test_quiet_until_utc(void **state)
{
    (void)state;
    /* 21:00-08:00 wraps midnight. 2026-01-15 in UTC. */
    expect_until(1768516200, "UTC", "21:00-08:00", 1, 1768550400, "UTC"); /* 22:30 -> next day 08:00 */
    expect_until(1768460400, "UTC", "21:00-08:00", 1, 1768464000, "UTC"); /* 07:00 -> 08:00 same day */
    expect_until(1768521599, "UTC", "21:00-08:00", 1, 1768550400, "UTC"); /* 23:59:59 */
    expect_until(1768521600, "UTC", "21:00-08:00", 1, 1768550400, "UTC"); /* 00:00 of the 16th */
    expect_until(1768510800, "UTC", "21:00-08:00", 1, 1768550400, "UTC"); /* 21:00 starts it */
    expect_until(1768510740, "UTC", "21:00-08:00", 0, 0, "UTC");          /* 20:59 */
    expect_until(1768464000, "UTC", "21:00-08:00", 0, 0, "UTC");          /* 08:00 ends it */
    /* A window within one day. */
    expect_until(1768482000, "UTC", "12:00-14:00", 1, 1768485600, "UTC"); /* 13:00 -> 14:00 */
    expect_until(1768485600, "UTC", "12:00-14:00", 0, 0, "UTC");
    expect_until(1768516200, "UTC", "12:00-14:00", 0, 0, "UTC");
}

static void test_quiet_until_zones(void **state)
{
    (void)state;
    /* Europe/Berlin in winter (UTC+1): 20:30 UTC is 21:30 local; the end is 08:00 CET = 07:00 UTC. */
    expect_until(1768509000, "Europe/Berlin", "21:00-08:00", 1, 1768546800, "Europe/Berlin");
    expect_until(1768507200, "Europe/Berlin", "21:00-08:00", 1, 1768546800, "Europe/Berlin"); /* 21:00 local */
    expect_until(1768507199, "Europe/Berlin", "21:00-08:00", 0, 0, "Europe/Berlin");          /* 20:59:59 local */
    expect_until(1768546800, "Europe/Berlin", "21:00-08:00", 0, 0, "Europe/Berlin");          /* 08:00 local */
    /* In summer (UTC+2): 19:30 UTC is 21:30 CEST; the end is 08:00 CEST = 06:00 UTC. */
    expect_until(1784143800, "Europe/Berlin", "21:00-08:00", 1, 1784181600, "Europe/Berlin");
    /* Nights over the clock changes: into CEST (2026-03-29) and back into CET (2026-10-25). */
    expect_until(1774731600, "Europe/Berlin", "21:00-08:00", 1, 1774764000, "Europe/Berlin");
    expect_until(1792875600, "Europe/Berlin", "21:00-08:00", 1, 1792911600, "Europe/Berlin");
    /* America/New_York (UTC-5): 03:00 UTC on the 16th is 22:00 on the 15th; the end 13:00 UTC. */
    expect_until(1768532400, "America/New_York", "21:00-08:00", 1, 1768568400, "America/New_York");
    /* The same instant is not quiet in UTC. */
    expect_until(1768532400, "UTC", "21:00-08:00", 1, 1768550400, "UTC");
}

static void test_quiet_until_bad_tz(void **state)
{
    (void)state;
    /* Not a valid zone: UTC is used, and said so. 20:30 UTC is quiet in Berlin, not in UTC. */
    expect_until(1768509000, "Mars/Olympus_Mons", "21:00-08:00", 0, 0, "UTC");
    expect_until(1768516200, "Mars/Olympus_Mons", "21:00-08:00", 1, 1768550400, "UTC");
    expect_until(1768516200, "../../etc/passwd", "21:00-08:00", 1, 1768550400, "UTC");
    expect_until(1768516200, "/usr/share/zoneinfo/Europe/Berlin", "21:00-08:00", 1, 1768550400, "UTC");
    expect_until(1768516200, "Europe/Berlin;rm", "21:00-08:00", 1, 1768550400, "UTC");
    expect_until(1768516200, "", "21:00-08:00", 1, 1768550400, "UTC");
    expect_until(1768516200, NULL, "21:00-08:00", 1, 1768550400, "UTC");
    assert_int_equal(dn_tz_valid("Europe/Berlin"), 1);
    assert_int_equal(dn_tz_valid("UTC"), 1);
    assert_int_equal(dn_tz_valid("Europe/Nowhere"), 0);
    assert_int_equal(dn_tz_valid("Europe/../Berlin"), 0);
}

static void test_quiet_until_restores_tz(void **state)
{
    (void)state;
    int64_t until;
    const char *used;
    setenv("TZ", "Asia/Tokyo", 1);
    assert_int_equal(dn_hours_until(1768509000000, "Europe/Berlin", 1260, 480, &until, &used), 1);
    assert_string_equal(getenv("TZ"), "Asia/Tokyo");
    unsetenv("TZ");
    assert_int_equal(dn_hours_until(1768509000000, "Europe/Berlin", 1260, 480, &until, &used), 1);
    assert_null(getenv("TZ"));
}

/* Calling hours by day of the week (dn_hours_week_until), in Berlin (UTC+1 in March 2026):
 * Monday-Friday 08:00-21:00, Saturday 10:00-14:00, no Sunday. */
static void test_week_until(void **state)
{
    (void)state;
    const int16_t start[7] = {-1, 480, 480, 480, 480, 480, 600}, end[7] = {-1, 1260, 1260, 1260, 1260, 1260, 840};
    int64_t until = 0;
    const char *used = NULL;
    /* Wednesday 2026-03-11 10:00Z = 11:00 local: inside */
    assert_int_equal(dn_hours_week_until(1773223200000, "Europe/Berlin", start, end, &until, &used), 0);
    /* Sunday 2026-03-15 21:00Z = 22:00 local: Monday 08:00 local = 2026-03-16T07:00Z */
    assert_int_equal(dn_hours_week_until(1773608400000, "Europe/Berlin", start, end, &until, &used), 1);
    assert_int_equal(until, 1773644400000);
    assert_string_equal(used, "Europe/Berlin");
    /* Saturday 2026-03-21 14:30Z = 15:30 local, after Saturday's hours, no Sunday: Monday
     * 2026-03-23 08:00 local = 07:00Z */
    assert_int_equal(dn_hours_week_until(1774103400000, "Europe/Berlin", start, end, &until, &used), 1);
    assert_int_equal(until, 1774249200000);
    /* Saturday 2026-03-21 07:00Z = 08:00 local, before Saturday's 10:00: 09:00Z */
    assert_int_equal(dn_hours_week_until(1774076400000, "Europe/Berlin", start, end, &until, &used), 1);
    assert_int_equal(until, 1774083600000);
    /* No day at all */
    const int16_t none[7] = {-1, -1, -1, -1, -1, -1, -1};
    assert_int_equal(dn_hours_week_until(1773223200000, "Europe/Berlin", none, none, &until, &used), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gsm7_basic),
        cmocka_unit_test(test_gsm7_extension),
        cmocka_unit_test(test_gsm7_parts),
        cmocka_unit_test(test_ucs2),
        cmocka_unit_test(test_ucs2_parts),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_phone),
        cmocka_unit_test(test_quiet_parse),
        cmocka_unit_test(test_quiet_until_utc),
        cmocka_unit_test(test_quiet_until_zones),
        cmocka_unit_test(test_quiet_until_bad_tz),
        cmocka_unit_test(test_quiet_until_restores_tz),
        cmocka_unit_test(test_week_until),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
