/* dn_portal_link: signed portal links: round trip, rotation, tampering, expiry, bad keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dn_portal_link.h"
#include "dn_render.h"

/* 32 bytes each, base64: "0123456789abcdef0123456789abcdef" and "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345" */
#define K1 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
#define K2 "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU="

static void test_round_trip(void **state)
{
    (void)state;
    dn_portal_keys_t keys;
    char err[256], tok[DN_PORTAL_TOKEN_MAX];
    assert_int_equal(dn_portal_keys_parse("k2026:" K1, &keys, err, sizeof(err)), 0);
    assert_int_equal(keys.n, 1);
    assert_int_equal(dn_portal_token_make(&keys, "acme", "cust-42", 1800000000, tok, sizeof(tok)), 0);
    assert_true(strncmp(tok, "k2026.", 6) == 0);
    /* URL-safe as it is: no + / = % or space */
    assert_null(strpbrk(tok, "+/=% ?&#"));
    dn_portal_claims_t c;
    assert_int_equal(dn_portal_token_verify(&keys, tok, 1700000000, &c), DN_PORTAL_VALID);
    assert_string_equal(c.tenant, "acme");
    assert_string_equal(c.customer, "cust-42");
    assert_int_equal(c.expires_s, 1800000000);
    assert_string_equal(c.key_id, "k2026");
    /* the same inputs give the same token (a resent reminder carries the same link) */
    char again[DN_PORTAL_TOKEN_MAX];
    assert_int_equal(dn_portal_token_make(&keys, "acme", "cust-42", 1800000000, again, sizeof(again)), 0);
    assert_string_equal(tok, again);
    /* expiry: valid up to the second before */
    assert_int_equal(dn_portal_token_verify(&keys, tok, 1799999999, &c), DN_PORTAL_VALID);
    assert_int_equal(dn_portal_token_verify(&keys, tok, 1800000000, &c), DN_PORTAL_EXPIRED);
    assert_string_equal(c.tenant, ""); /* nothing is handed out for a refused token */
    assert_string_equal(dn_portal_verdict_name(DN_PORTAL_EXPIRED), "expired");
    char link[DN_PORTAL_TOKEN_MAX + 64];
    assert_int_equal(dn_portal_link_make(&keys, "https://pay.example.com/portal/", "acme", "cust-42", 1800000000, link,
                                         sizeof(link)),
                     0);
    char want[DN_PORTAL_TOKEN_MAX + 64];
    snprintf(want, sizeof(want), "https://pay.example.com/portal/p/%s", tok);
    assert_string_equal(link, want);
    assert_int_equal(dn_portal_link_make(&keys, "", "acme", "cust-42", 1800000000, link, sizeof(link)), -1);
    dn_portal_keys_wipe(&keys);
    assert_int_equal(keys.n, 0);
}

static void test_rotation(void **state)
{
    (void)state;
    dn_portal_keys_t old_keys, new_keys, only_new;
    char err[256], tok_old[DN_PORTAL_TOKEN_MAX], tok_new[DN_PORTAL_TOKEN_MAX];
    assert_int_equal(dn_portal_keys_parse("a:" K1, &old_keys, err, sizeof(err)), 0);
    assert_int_equal(dn_portal_keys_parse("b:" K2 ", a:" K1, &new_keys, err, sizeof(err)), 0);
    assert_int_equal(dn_portal_keys_parse("b:" K2, &only_new, err, sizeof(err)), 0);
    assert_int_equal(new_keys.n, 2);
    assert_int_equal(dn_portal_token_make(&old_keys, "t", "c", 2000000000, tok_old, sizeof(tok_old)), 0);
    assert_int_equal(dn_portal_token_make(&new_keys, "t", "c", 2000000000, tok_new, sizeof(tok_new)), 0);
    dn_portal_claims_t c;
    /* the newest (first) signs, all verify */
    assert_true(strncmp(tok_new, "b.", 2) == 0);
    assert_int_equal(dn_portal_token_verify(&new_keys, tok_old, 0, &c), DN_PORTAL_VALID);
    assert_string_equal(c.key_id, "a");
    assert_int_equal(dn_portal_token_verify(&new_keys, tok_new, 0, &c), DN_PORTAL_VALID);
    /* a key taken off the list revokes its links */
    assert_int_equal(dn_portal_token_verify(&only_new, tok_old, 0, &c), DN_PORTAL_UNKNOWN_KEY);
    /* another key under the same id: the MAC does not match */
    dn_portal_keys_t imposter;
    assert_int_equal(dn_portal_keys_parse("a:" K2, &imposter, err, sizeof(err)), 0);
    assert_int_equal(dn_portal_token_verify(&imposter, tok_old, 0, &c), DN_PORTAL_BAD_MAC);
}

static void test_tampering(void **state)
{
    (void)state;
    dn_portal_keys_t keys;
    char err[256], tok[DN_PORTAL_TOKEN_MAX], other[DN_PORTAL_TOKEN_MAX], forged[2 * DN_PORTAL_TOKEN_MAX];
    assert_int_equal(dn_portal_keys_parse("k:" K1, &keys, err, sizeof(err)), 0);
    assert_int_equal(dn_portal_token_make(&keys, "acme", "cust-1", 2000000000, tok, sizeof(tok)), 0);
    assert_int_equal(dn_portal_token_make(&keys, "acme", "cust-2", 2000000000, other, sizeof(other)), 0);
    dn_portal_claims_t c;
    /* every single character changed: never valid */
    for (size_t i = 0; tok[i]; i++) {
        char t[DN_PORTAL_TOKEN_MAX];
        strcpy(t, tok);
        t[i] = t[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(dn_portal_token_verify(&keys, t, 0, &c), DN_PORTAL_VALID);
    }
    /* another customer's payload under this token's MAC */
    const char *p1 = strchr(tok, '.') + 1, *m1 = strchr(p1, '.');
    const char *p2 = strchr(other, '.') + 1, *m2 = strchr(p2, '.');
    snprintf(forged, sizeof(forged), "k.%.*s%s", (int)(m2 - p2), p2, m1);
    assert_int_equal(dn_portal_token_verify(&keys, forged, 0, &c), DN_PORTAL_BAD_MAC);
    (void)m2;
    /* shapes */
    assert_int_equal(dn_portal_token_verify(&keys, "", 0, &c), DN_PORTAL_MALFORMED);
    assert_int_equal(dn_portal_token_verify(&keys, "k.abc", 0, &c), DN_PORTAL_MALFORMED);
    assert_int_equal(dn_portal_token_verify(&keys, "k.a.b.c", 0, &c), DN_PORTAL_MALFORMED);
    assert_int_equal(dn_portal_token_verify(&keys, "k.abc.not-a-mac", 0, &c), DN_PORTAL_MALFORMED);
    assert_int_equal(dn_portal_token_verify(&keys, "nokey.abc.def", 0, &c), DN_PORTAL_UNKNOWN_KEY);
    assert_int_equal(dn_portal_token_verify(&keys, NULL, 0, &c), DN_PORTAL_MALFORMED);
    /* ids that cannot go into a token */
    assert_int_equal(dn_portal_token_make(&keys, "", "c", 2000000000, tok, sizeof(tok)), -1);
    assert_int_equal(dn_portal_token_make(&keys, "a\nb", "c", 2000000000, tok, sizeof(tok)), -1);
    assert_int_equal(dn_portal_token_make(&keys, "t", "c", 2000000000, tok, 20), -1); /* too small */
    dn_portal_keys_t none;
    assert_int_equal(dn_portal_keys_parse("", &none, err, sizeof(err)), 0);
    assert_int_equal(none.n, 0);
    assert_int_equal(dn_portal_token_make(&none, "t", "c", 2000000000, tok, sizeof(tok)), -1);
}

static void test_bad_keys(void **state)
{
    (void)state;
    dn_portal_keys_t keys;
    char err[256];
    assert_int_equal(dn_portal_keys_parse("nocolon", &keys, err, sizeof(err)), -1);
    assert_string_equal(err, "DUNNING_PORTAL_KEYS: entry 1 is not <id>:<base64 key>");
    assert_int_equal(dn_portal_keys_parse("a:" K1 ",b:c2hvcnQ=", &keys, err, sizeof(err)), -1);
    assert_string_equal(err, "DUNNING_PORTAL_KEYS: key b has 5 bytes, at least 32 are needed");
    assert_null(strstr(err, "c2hvcnQ")); /* no key material in messages */
    assert_int_equal(dn_portal_keys_parse("a:" K1 ",a:" K2, &keys, err, sizeof(err)), -1);
    assert_string_equal(err, "DUNNING_PORTAL_KEYS: key id a is listed twice");
    assert_int_equal(dn_portal_keys_parse("b@d:" K1, &keys, err, sizeof(err)), -1);
    assert_int_equal(dn_portal_keys_parse("a:!!!notbase64", &keys, err, sizeof(err)), -1);
    assert_string_equal(err, "DUNNING_PORTAL_KEYS: key a is not base64 of at most 64 bytes");
    assert_int_equal(keys.n, 0);
}

/* The render context: portal_link for the reminder's tenant and customer, valid the
 * lifetime after the reminder was due; null when the portal is off. */
static void test_render_context(void **state)
{
    (void)state;
    dn_render_sample_t smp;
    dn_render_sample(&smp, DN_CHANNEL_EMAIL, 1, "acme", "first_reminder", "en");
    char err[256];
    json_t *ctx = dn_render_context(&smp.rd, "en");
    assert_true(json_is_null(json_object_get(ctx, "portal_link")));
    json_decref(ctx);
    assert_int_equal(dn_render_set_portal("javascript:alert(1)", "k:" K1, 86400000, err, sizeof(err)), -1);
    assert_int_equal(dn_render_set_portal("https://portal.example.com", "", 86400000, err, sizeof(err)), -1);
    assert_string_equal(err, "DUNNING_PORTAL_URL is set: DUNNING_PORTAL_KEYS must hold the key that signs the links");
    assert_int_equal(dn_render_set_portal("https://portal.example.com/", "k:" K1, 30LL * 86400000, err, sizeof(err)),
                     0);
    ctx = dn_render_context(&smp.rd, "en");
    const char *link = json_string_value(json_object_get(ctx, "portal_link"));
    assert_non_null(link);
    assert_true(strncmp(link, "https://portal.example.com/p/k.", 31) == 0);
    dn_portal_keys_t keys;
    assert_int_equal(dn_portal_keys_parse("k:" K1, &keys, err, sizeof(err)), 0);
    dn_portal_claims_t c;
    assert_int_equal(dn_portal_token_verify(&keys, link + strlen("https://portal.example.com/p/"), 0, &c),
                     DN_PORTAL_VALID);
    assert_string_equal(c.tenant, "acme");
    assert_string_equal(c.customer, smp.rd.customer_id);
    assert_int_equal(c.expires_s, smp.rd.due_at / 1000 + 30 * 86400);
    json_decref(ctx);
    assert_int_equal(dn_render_set_portal("", "", 0, err, sizeof(err)), 0);
    ctx = dn_render_context(&smp.rd, "en");
    assert_true(json_is_null(json_object_get(ctx, "portal_link")));
    json_decref(ctx);
}

/* The SMS's short id: 8 base62 characters, the same for the same reminder (a retry renders
 * the same text), another for another reminder or another signing key; the render context's
 * portal_short_link only with short links on. */
static void test_short_id(void **state)
{
    (void)state;
    dn_portal_keys_t a, b;
    char err[256], x[DN_PORTAL_SHORT_LEN + 1], y[DN_PORTAL_SHORT_LEN + 1], z[DN_PORTAL_SHORT_LEN + 1],
        w[DN_PORTAL_SHORT_LEN + 1];
    assert_int_equal(dn_portal_keys_parse("a:" K1, &a, err, sizeof(err)), 0);
    assert_int_equal(dn_portal_keys_parse("b:" K2 ",a:" K1, &b, err, sizeof(err)), 0);
    dn_portal_short_id(&a, "3ba22dcf-d604-529b-8f8a-2f849fb4072a", x);
    dn_portal_short_id(&a, "3ba22dcf-d604-529b-8f8a-2f849fb4072a", y);
    dn_portal_short_id(&a, "3ba22dcf-d604-529b-8f8a-2f849fb4072b", z);
    dn_portal_short_id(&b, "3ba22dcf-d604-529b-8f8a-2f849fb4072a", w);
    assert_int_equal(strlen(x), DN_PORTAL_SHORT_LEN);
    assert_true(dn_portal_short_id_valid(x));
    assert_string_equal(x, y);
    assert_string_not_equal(x, z);
    assert_string_not_equal(x, w);
    assert_false(dn_portal_short_id_valid("abc"));
    assert_false(dn_portal_short_id_valid("abcd-fgh"));
    assert_false(dn_portal_short_id_valid("k1.abcde"));

    dn_render_sample_t smp;
    dn_render_sample(&smp, DN_CHANNEL_SMS, 1, "acme", "first_reminder", "en");
    assert_int_equal(dn_render_set_portal("https://p.example.com", "a:" K1, 30LL * 86400000, err, sizeof(err)), 0);
    json_t *ctx = dn_render_context(&smp.rd, "en");
    assert_true(json_is_null(json_object_get(ctx, "portal_short_link")));
    json_decref(ctx);
    dn_render_set_portal_short(1);
    ctx = dn_render_context(&smp.rd, "en");
    dn_portal_short_id(&a, smp.rd.event_id, x);
    char want[64];
    snprintf(want, sizeof(want), "https://p.example.com/s/%s", x);
    assert_string_equal(json_string_value(json_object_get(ctx, "portal_short_link")), want);
    json_decref(ctx);
    dn_render_short_t sh;
    assert_int_equal(dn_render_portal_short(&smp.rd, &sh), 0);
    dn_portal_claims_t c;
    assert_int_equal(dn_portal_token_verify(&a, sh.token, 0, &c), DN_PORTAL_VALID);
    assert_int_equal(sh.expires_s, smp.rd.due_at / 1000 + 30 * 86400);
    dn_render_set_portal_short(0);
    assert_int_equal(dn_render_set_portal("", "", 0, err, sizeof(err)), 0);
    dn_portal_keys_wipe(&a);
    dn_portal_keys_wipe(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_rotation),       cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_bad_keys),   cmocka_unit_test(test_render_context), cmocka_unit_test(test_short_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
