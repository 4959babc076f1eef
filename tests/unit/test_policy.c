/* Engine policies: loading, validation errors with file:line and field, selection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

static char path[64];

static policy_set_t *load_text(const char *yaml, char *err, size_t err_size)
{
    snprintf(path, sizeof(path), "/tmp/dn-test-policy-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    policy_set_t *ps = policy_set_load(path, err, err_size);
    unlink(path);
    return ps;
}

static const char good[] = "tenants:\n"
                           "  default:\n"
                           "    default_policy: standard\n"
                           "    segments: {chronic_late: strict}\n"
                           "    policies:\n"
                           "      standard:\n"
                           "        stages:\n"
                           "          - {name: friendly, offset: -2d, channels: [email], template: friendly}\n"
                           "          - {name: first, offset: 3d, channels: [email, sms], template: first}\n"
                           "          - {name: final, offset: 96h12m, channels: [letter], template: final}\n"
                           "      strict:\n"
                           "        stages:\n"
                           "          - {name: first, offset: 1d, channels: [email], template: first,\n"
                           "             action: final_notice}\n"
                           "  acme:\n"
                           "    default_policy: gentle\n"
                           "    policies:\n"
                           "      gentle:\n"
                           "        stages:\n"
                           "          - {name: only, offset: 30d, channels: [letter, email], template: only}\n";

static void test_load_and_select(void **state)
{
    (void)state;
    char err[512];
    /* "36h12m" is not a duration: the loader must say where. */
    policy_set_t *ps = load_text(good, err, sizeof(err));
    assert_null(ps);
    assert_non_null(strstr(err, ":10: tenants.default.policies.standard.stages[2].offset: expected a duration"));

    char fixed[sizeof(good)];
    snprintf(fixed, sizeof(fixed), "%s", good);
    memcpy(strstr(fixed, "96h12m"), "96h   ", 6);
    ps = load_text(fixed, err, sizeof(err));
    if (!ps)
        fail_msg("%s", err);
    const policy_t *p = policy_select(ps, "some-tenant", NULL, NULL);
    assert_string_equal(p->name, "standard");
    assert_int_equal(p->nstages, 3);
    assert_int_equal(p->stages[0].offset_ms, -2LL * 86400000);
    assert_int_equal(p->stages[1].offset_ms, 3LL * 86400000);
    assert_int_equal(p->stages[2].offset_ms, 96LL * 3600000);
    assert_int_equal(p->stages[1].nchannels, 2);
    assert_int_equal(p->stages[1].channels[1], CH_SMS);
    assert_null(p->stages[0].action);
    assert_string_equal(policy_select(ps, "x", NULL, "chronic_late")->name, "strict");
    assert_string_equal(policy_select(ps, "x", NULL, "unknown_segment")->name, "standard");
    assert_string_equal(policy_select(ps, "x", "strict", "chronic_late")->name, "strict");
    assert_string_equal(policy_select(ps, "x", "strict", NULL)->stages[0].action, "final_notice");
    assert_null(policy_select(ps, "x", "nonexistent", NULL));
    assert_string_equal(policy_select(ps, "acme", NULL, NULL)->name, "gentle");
    assert_null(policy_select(ps, "acme", "standard", NULL)); /* acme's own policies only */
    assert_int_equal(policy_find(ps, "acme", "gentle")->stages[0].channels[0], CH_LETTER);
    policy_set_destroy(ps);
}

static void expect_error(const char *yaml, const char *fragment)
{
    char err[512];
    policy_set_t *ps = load_text(yaml, err, sizeof(err));
    if (ps || !strstr(err, fragment))
        fail_msg("expected error containing '%s', got '%s'", fragment, ps ? "(loaded)" : err);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("tenants: [1, 2]\n", ":1: tenants: expected a mapping");
    expect_error("tenants:\n  acme:\n    default_policy: p\n    policies:\n      p:\n        stages:\n"
                 "          - {name: a, offset: 1d, channels: [email], template: t}\n",
                 "tenants.default: required");
    expect_error("tenants:\n  default:\n    default_policy: p\n    policies:\n      p:\n        stages:\n"
                 "          - {name: a, ofset: 1d, channels: [email], template: t}\n",
                 ":7: tenants.default.policies.p.stages[0]: unknown key 'ofset'");
    expect_error("tenants:\n  default:\n    default_policy: p\n    policies:\n      p:\n        stages:\n"
                 "          - {name: a, offset: 1d, channels: [fax], template: t}\n",
                 "stages[0].channels: unknown channel");
    expect_error("tenants:\n  default:\n    default_policy: p\n    policies:\n      p:\n        stages:\n"
                 "          - {name: a, offset: 5d, channels: [email], template: t}\n"
                 "          - {name: b, offset: 5d, channels: [email], template: t}\n",
                 "stages[1]: offsets must increase");
    expect_error("tenants:\n  default:\n    default_policy: q\n    policies:\n      p:\n        stages:\n"
                 "          - {name: a, offset: 5d, channels: [email], template: t}\n",
                 "default_policy names no policy");
    expect_error("tenants:\n  default:\n    default_policy: p\n    policies:\n      p:\n        stages:\n"
                 "          - {name: a, offset: 5d, channels: [email], template: t, action: sue}\n",
                 "stages[0].action: expected final_notice");
    expect_error("tenants:\n  default:\n    default_policy: p\n    policies:\n      p:\n        stages:\n"
                 "          - {name: a, offset: 5d, channels: [email]}\n",
                 "stages[0].template: required");
    expect_error("tenants: {default: [\n", "invalid YAML");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_select),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
