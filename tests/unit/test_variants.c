/* Template variants and the holdout (common/policy, docs/risk.md "Variants and the
 * holdout"): the policy keys and their errors, the stable assignment and its shares, and a
 * sender's fallback from a variant without files to the base template (common/dn_render). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dn_policy.h"
#include "dn_render.h"
#include "dn_risk.h"

static policy_set_t *load_text(const char *yaml, char *err, size_t err_size)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/dn-test-variants-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    policy_set_t *ps = dn_policy_set_load(path, err, err_size);
    unlink(path);
    return ps;
}

static char *policy_with(const char *variants, const char *risk)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf),
             "tenants:\n"
             "  default:\n"
             "    default_policy: p\n"
             "%s"
             "    policies:\n"
             "      p:\n"
             "        stages:\n"
             "          - {name: first, offset: 3d, channels: [email], template: first_reminder%s}\n",
             risk, variants);
    return buf;
}

static void test_keys(void **state)
{
    (void)state;
    char err[512];
    policy_set_t *ps =
        load_text(policy_with(", variants: {a: 30, b: 70}", "    risk: {holdout: 0.05}\n"), err, sizeof(err));
    if (!ps)
        fail_msg("%s", err);
    const stage_t *st = &ps->tenants[0].policies[0].stages[0];
    assert_int_equal(st->nvariants, 2);
    assert_string_equal(st->variant_names[1], "b");
    assert_int_equal(st->variant_weights[0], 30);
    assert_int_equal(ps->tenants[0].holdout_e4, 500);
    dn_policy_set_destroy(ps);

    static const struct {
        const char *variants, *risk, *error;
    } bad[] = {
        {", variants: {a: 50, b: 40}", "",
         ":7: tenants.default.policies.p.stages[0].variants: the variants' shares "
         "add up to 100"},
        {", variants: {a: 100}", "", "variants: expected 2 to 8 variants"},
        {", variants: {a: 50, a--x: 50}", "", "variants: a variant name is 1-32 letters, digits, _ or single -"},
        {", variants: {a: 0, b: 100}", "", "variants: a variant's share is a whole percent from 1 to 100"},
        {", variants: [a, b]", "", "variants: expected a mapping of variant name to percent"},
        {"", "    risk: {holdout: 0.6}\n",
         ":4: tenants.default.risk.holdout: expected a share of the customers "
         "from 0 to 0.5, such as 0.05"},
        {"", "    risk: {holdout: 5%}\n", "tenants.default.risk.holdout: expected a share"},
        {"", "    risk: {hold: 0.1}\n", "tenants.default.risk"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ps = load_text(policy_with(bad[i].variants, bad[i].risk), err, sizeof(err));
        if (ps || !strstr(err, bad[i].error))
            fail_msg("case %zu: expected '%s', got '%s'", i, bad[i].error, ps ? "(loaded)" : err);
    }
}

static void test_assignment(void **state)
{
    (void)state;
    char err[512];
    policy_set_t *ps =
        load_text(policy_with(", variants: {a: 30, b: 70}", "    risk: {holdout: 0.1}\n"), err, sizeof(err));
    assert_non_null(ps);
    const stage_t *st = &ps->tenants[0].policies[0].stages[0];
    /* The bucket is fixed: the same parts give the same number on every run and machine. */
    const char *parts[] = {"variant", "00000000-0000-0000-0000-000000000001", "first"};
    unsigned b = dn_risk_bucket(parts, 3);
    assert_int_equal(b, dn_risk_bucket(parts, 3));
    assert_string_equal(dn_policy_variant(st, "00000000-0000-0000-0000-000000000001"), b < 3000 ? "a" : "b");
    const char *ab[] = {"ab", "c"}, *a_bc[] = {"a", "bc"};
    assert_int_not_equal(dn_risk_bucket(ab, 2), dn_risk_bucket(a_bc, 2)); /* the parts are separated */
    /* Over 20,000 cases the shares are 30 / 70 within 1.5 points; the holdout is 10% of the
     * customers within 1 point, and a customer is in it or not on every call. */
    int na = 0, nh = 0;
    for (int i = 0; i < 20000; i++) {
        char id[40], cust[24];
        snprintf(id, sizeof(id), "case-%d", i);
        snprintf(cust, sizeof(cust), "c%d", i);
        na += strcmp(dn_policy_variant(st, id), "a") == 0;
        int h = dn_policy_holdout(ps, "any-tenant", cust);
        assert_int_equal(h, dn_policy_holdout(ps, "any-tenant", cust));
        nh += h;
    }
    assert_in_range(na, 5700, 6300);
    assert_in_range(nh, 1800, 2200);
    dn_policy_set_destroy(ps);
    /* Without the key nobody is held out; a stage without variants has none. */
    ps = load_text(policy_with("", ""), err, sizeof(err));
    assert_non_null(ps);
    assert_int_equal(dn_policy_holdout(ps, "t", "c1"), 0);
    assert_null(dn_policy_variant(&ps->tenants[0].policies[0].stages[0], "x"));
    dn_policy_set_destroy(ps);
}

static void test_template_fallback(void **state)
{
    (void)state;
    char err[512];
    dn_render_source_t src;
    dn_reminder_due_t rd = {.tenant_id = "t1", .template_key = "first_reminder--b", .contact = {.locale = "en"}};
    /* No file for the variant: the base template. */
    assert_int_equal(dn_render_find("config/templates", &rd, "email", "txt", &src, err, sizeof(err)), 0);
    assert_string_equal(src.name, "default/first_reminder.email.en");
    /* A variant with files of its own is used. */
    char dir[] = "/tmp/dn-test-variants-XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/default", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/default/first_reminder--b.email.en.txt", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("b\n", f);
    fclose(f);
    assert_int_equal(dn_render_find(dir, &rd, "email", "txt", &src, err, sizeof(err)), 0);
    assert_string_equal(src.name, "default/first_reminder--b.email.en");
    unlink(path);
    snprintf(path, sizeof(path), "%s/default", dir);
    rmdir(path);
    rmdir(dir);
    /* Neither exists: the error names what was tried. */
    rd.template_key = "no_such--b";
    assert_int_equal(dn_render_find("config/templates", &rd, "email", "txt", &src, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no email template no_such"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_assignment),
        cmocka_unit_test(test_template_fallback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
