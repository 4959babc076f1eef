/* Contact preferences (dn_prefs): the checks of set_preferences and the overlay that
 * chooses a reminder's channels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dn_prefs.h"

#define M(c)      (1u << (c))
#define ALL_REACH (M(CH_EMAIL) | M(CH_SMS) | M(CH_LETTER) | M(CH_VOICE))

static void test_names(void **state)
{
    (void)state;
    channel_t ch = CH_COUNT;
    assert_int_equal(dn_prefs_channel_parse("sms", &ch), 0);
    assert_int_equal(ch, CH_SMS);
    assert_int_equal(dn_prefs_channel_parse("voice", &ch), 0);
    assert_int_equal(ch, CH_VOICE);
    assert_int_equal(dn_prefs_channel_parse("SMS", &ch), -1);
    assert_int_equal(dn_prefs_channel_parse("fax", &ch), -1);
    assert_int_equal(dn_prefs_channel_parse(NULL, &ch), -1);
    char buf[64];
    dn_prefs_mask_format(M(CH_VOICE) | M(CH_SMS), buf, sizeof(buf));
    assert_string_equal(buf, "sms,voice");
    dn_prefs_mask_format(0, buf, sizeof(buf));
    assert_string_equal(buf, "");
    dn_prefs_mask_format(DN_PREFS_ALL, buf, sizeof(buf));
    assert_string_equal(buf, "email,sms,letter,voice");
}

static void test_email(void **state)
{
    (void)state;
    assert_true(dn_prefs_email_valid("anna.new@example.com"));
    assert_true(dn_prefs_email_valid("a+b@mail.example.co.uk"));
    assert_false(dn_prefs_email_valid(""));
    assert_false(dn_prefs_email_valid("no-at-sign.example.com"));
    assert_false(dn_prefs_email_valid("@example.com"));
    assert_false(dn_prefs_email_valid("a@b@example.com"));
    assert_false(dn_prefs_email_valid("anna@localhost"));
    assert_false(dn_prefs_email_valid("anna@example..com"));
    assert_false(dn_prefs_email_valid("anna@example.com."));
    assert_false(dn_prefs_email_valid("anna@-example.com"));
    assert_false(dn_prefs_email_valid("anna @example.com"));
    assert_false(dn_prefs_email_valid("anna@example.com\r\nBcc: x@example.com"));
    assert_false(dn_prefs_email_valid("Anna <anna@example.com>"));
    assert_false(dn_prefs_email_valid("a,b@example.com"));
    char lng[300];
    memset(lng, 'a', sizeof(lng));
    memcpy(lng + 255 - 12, "@example.com", 13); /* 255 bytes */
    assert_false(dn_prefs_email_valid(lng));
    memcpy(lng + 254 - 12, "@example.com", 13); /* 254 bytes */
    assert_true(dn_prefs_email_valid(lng));
}

static void test_apply(void **state)
{
    (void)state;
    unsigned next = 99;
    const char *code = NULL;
    char why[200] = "";
    const char *sms[] = {"sms"}, *voice_sms[] = {"voice", "sms"}, *fax[] = {"fax"}, *email[] = {"email"},
               *all[] = {"email", "sms", "letter", "voice"};
    assert_int_equal(dn_prefs_apply(0, voice_sms, 2, NULL, 0, NULL, ALL_REACH, &next, &code, why, sizeof(why)), 0);
    assert_int_equal(next, M(CH_SMS) | M(CH_VOICE));
    /* opt in again: sms leaves the set, voice stays */
    assert_int_equal(dn_prefs_apply(next, NULL, 0, sms, 1, NULL, ALL_REACH, &next, &code, why, sizeof(why)), 0);
    assert_int_equal(next, M(CH_VOICE));
    assert_int_equal(dn_prefs_apply(0, fax, 1, NULL, 0, NULL, ALL_REACH, &next, &code, why, sizeof(why)), -1);
    assert_string_equal(code, "invalid_field");
    assert_string_equal(why, "field opt_out: fax is no channel (email, sms, letter or voice)");
    assert_int_equal(dn_prefs_apply(0, NULL, 0, fax, 1, NULL, ALL_REACH, &next, &code, why, sizeof(why)), -1);
    assert_string_equal(why, "field opt_in: fax is no channel (email, sms, letter or voice)");
    assert_int_equal(dn_prefs_apply(0, sms, 1, sms, 1, NULL, ALL_REACH, &next, &code, why, sizeof(why)), -1);
    assert_string_equal(why, "fields opt_out and opt_in: both name sms");
    assert_int_equal(dn_prefs_apply(0, all, 4, NULL, 0, NULL, ALL_REACH, &next, &code, why, sizeof(why)), -1);
    assert_string_equal(code, "opt_out_refused");
    assert_string_equal(why, "opting out of every channel is not possible: at least one must remain");
    /* every channel through two commands */
    assert_int_equal(dn_prefs_apply(M(CH_SMS) | M(CH_VOICE) | M(CH_LETTER), email, 1, NULL, 0, NULL, ALL_REACH, &next,
                                    &code, why, sizeof(why)),
                     -1);
    assert_string_equal(code, "opt_out_refused");
    /* e-mail out while sms reaches: allowed; while only e-mail reaches: refused */
    assert_int_equal(
        dn_prefs_apply(0, email, 1, NULL, 0, NULL, M(CH_EMAIL) | M(CH_SMS), &next, &code, why, sizeof(why)), 0);
    assert_int_equal(next, M(CH_EMAIL));
    assert_int_equal(dn_prefs_apply(0, email, 1, NULL, 0, NULL, M(CH_EMAIL), &next, &code, why, sizeof(why)), -1);
    assert_string_equal(why, "e-mail can be opted out of only while another channel that reaches the customer remains");
    assert_int_equal(
        dn_prefs_apply(M(CH_SMS), email, 1, NULL, 0, NULL, M(CH_EMAIL) | M(CH_SMS), &next, &code, why, sizeof(why)),
        -1);
    assert_int_equal(dn_prefs_apply(0, NULL, 0, NULL, 0, "not-an-address", ALL_REACH, &next, &code, why, sizeof(why)),
                     -1);
    assert_string_equal(why, "field email: not an e-mail address");
    /* a corrected address alone, nothing opted out */
    next = 99;
    assert_int_equal(dn_prefs_apply(M(CH_SMS), NULL, 0, NULL, 0, "new@example.com", 0, &next, &code, why, sizeof(why)),
                     0);
    assert_int_equal(next, M(CH_SMS));
}

static void test_choose(void **state)
{
    (void)state;
    dn_prefs_choice_t o;
    const channel_t sms[] = {CH_SMS}, email_sms[] = {CH_EMAIL, CH_SMS}, sms_letter[] = {CH_SMS, CH_LETTER},
                    voice[] = {CH_VOICE}, order[] = {CH_LETTER, CH_EMAIL};
    /* no preferences: the stage's channels */
    dn_prefs_choose(email_sms, 2, 0, NULL, 0, ALL_REACH, 0, 0, &o);
    assert_int_equal(o.n, 2);
    assert_int_equal(o.pick[0].ch, CH_EMAIL);
    assert_int_equal(o.pick[0].instead_of, CH_COUNT);
    assert_int_equal(o.pick[1].ch, CH_SMS);
    /* sms opted out of an sms-only stage: e-mail instead */
    dn_prefs_choose(sms, 1, 0, order, 2, ALL_REACH, 0, M(CH_SMS), &o);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.pick[0].ch, CH_EMAIL);
    assert_int_equal(o.pick[0].instead_of, CH_SMS);
    assert_int_equal(o.skipped, 0);
    /* the stage's next channel first: letter, once */
    dn_prefs_choose(sms_letter, 2, 0, NULL, 0, ALL_REACH, 0, M(CH_SMS), &o);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.pick[0].ch, CH_LETTER);
    assert_int_equal(o.pick[0].instead_of, CH_SMS);
    /* e-mail already taken by the stage: sms just drops out */
    dn_prefs_choose(email_sms, 2, 0, NULL, 0, ALL_REACH, 0, M(CH_SMS), &o);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.pick[0].ch, CH_EMAIL);
    assert_int_equal(o.pick[0].instead_of, CH_COUNT);
    /* nothing to replace it with: skipped, and the channel_order is not tried */
    dn_prefs_choose(voice, 1, 0, order, 2, M(CH_VOICE) | M(CH_LETTER), 0, M(CH_VOICE), &o);
    assert_int_equal(o.n, 0);
    assert_int_equal(o.skipped, M(CH_VOICE));
    /* the billing system's opt-out or a missing phone: the channel_order as before, less
     * the customer's opt-outs */
    dn_prefs_choose(sms, 1, 0, order, 2, ALL_REACH, M(CH_SMS), 0, &o);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.pick[0].ch, CH_LETTER);
    dn_prefs_choose(sms, 1, 0, order, 2, M(CH_EMAIL) | M(CH_LETTER), 0, M(CH_LETTER), &o);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.pick[0].ch, CH_EMAIL);
    /* a fallback (first_only): the first usable one, no channel_order */
    dn_prefs_choose(sms_letter, 2, 1, order, 2, ALL_REACH, 0, M(CH_LETTER), &o);
    assert_int_equal(o.n, 1);
    assert_int_equal(o.pick[0].ch, CH_SMS);
    dn_prefs_choose(sms, 1, 1, order, 2, M(CH_LETTER), 0, 0, &o);
    assert_int_equal(o.n, 0);
    assert_int_equal(o.skipped, 0);
    /* a fallback to sms after e-mail failed: never e-mail again in its place */
    dn_prefs_choose(sms, 1, 1, order, 2, ALL_REACH, 0, M(CH_SMS), &o);
    assert_int_equal(o.n, 0);
    assert_int_equal(o.skipped, M(CH_SMS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_apply),
        cmocka_unit_test(test_choose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
