/* dn_config: typed environment table, defaults, bounds and errors naming the variable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "dn_config.h"

typedef struct demo_cfg {
    char *name;
    int64_t count;
    int64_t wait_ms;
    int flag;
} demo_cfg_t;

static const dn_cfg_entry_t table[] = {
    DN_CFG("T_NAME", DN_CFG_STRING, "plain", 0, 0, "A name.", demo_cfg_t, name),
    DN_CFG("T_COUNT", DN_CFG_INT, "5", 1, 10, "A count.", demo_cfg_t, count),
    DN_CFG("T_WAIT", DN_CFG_DURATION, "30s", 0, 86400000, "A wait.", demo_cfg_t, wait_ms),
    DN_CFG("T_FLAG", DN_CFG_BOOL, "false", 0, 0, "A flag.", demo_cfg_t, flag),
};
#define N (sizeof(table) / sizeof(table[0]))

static int reset(void **state)
{
    (void)state;
    unsetenv("T_NAME");
    unsetenv("T_COUNT");
    unsetenv("T_WAIT");
    unsetenv("T_FLAG");
    return 0;
}

static void test_defaults(void **state)
{
    (void)state;
    demo_cfg_t c = {0};
    char err[256];
    assert_int_equal(dn_config_load(table, N, &c, err, sizeof(err)), 0);
    assert_string_equal(c.name, "plain");
    assert_int_equal(c.count, 5);
    assert_int_equal(c.wait_ms, 30000);
    assert_int_equal(c.flag, 0);
    dn_config_free(table, N, &c);
    assert_null(c.name);
}

static void test_environment_wins(void **state)
{
    (void)state;
    demo_cfg_t c = {0};
    char err[256];
    setenv("T_NAME", "other", 1);
    setenv("T_COUNT", "10", 1);
    setenv("T_WAIT", "12h", 1);
    setenv("T_FLAG", "yes", 1);
    assert_int_equal(dn_config_load(table, N, &c, err, sizeof(err)), 0);
    assert_string_equal(c.name, "other");
    assert_int_equal(c.count, 10);
    assert_int_equal(c.wait_ms, 12LL * 3600 * 1000);
    assert_int_equal(c.flag, 1);
    dn_config_free(table, N, &c);
}

static void test_errors_name_the_variable(void **state)
{
    (void)state;
    demo_cfg_t c = {0};
    char err[256];
    setenv("T_COUNT", "11", 1);
    assert_int_equal(dn_config_load(table, N, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "T_COUNT: 11 is outside [1, 10]");
    setenv("T_COUNT", "3x", 1);
    assert_int_equal(dn_config_load(table, N, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "T_COUNT: '3x' is not an integer");
    unsetenv("T_COUNT");
    setenv("T_WAIT", "2w", 1);
    assert_int_equal(dn_config_load(table, N, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "T_WAIT: '2w' is not a duration (e.g. 250ms, 45s, 30m, 36h, 7d)");
    unsetenv("T_WAIT");
    setenv("T_FLAG", "maybe", 1);
    assert_int_equal(dn_config_load(table, N, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "T_FLAG: 'maybe' is not a boolean (use true or false)");
    dn_config_free(table, N, &c);
}

static void test_durations(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(dn_config_parse_duration("7d", &ms), 0);
    assert_int_equal(ms, 604800000);
    assert_int_equal(dn_config_parse_duration("30m", &ms), 0);
    assert_int_equal(ms, 1800000);
    assert_int_equal(dn_config_parse_duration("45s", &ms), 0);
    assert_int_equal(ms, 45000);
    assert_int_equal(dn_config_parse_duration("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(dn_config_parse_duration("250", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(dn_config_parse_duration("", &ms), -1);
    assert_int_equal(dn_config_parse_duration("d", &ms), -1);
    assert_int_equal(dn_config_parse_duration("-1d", &ms), -1);
    assert_int_equal(dn_config_parse_duration("1.5d", &ms), -1);
    assert_int_equal(dn_config_parse_duration("99999999999999999d", &ms), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, reset),
        cmocka_unit_test_setup(test_environment_wins, reset),
        cmocka_unit_test_setup(test_errors_name_the_variable, reset),
        cmocka_unit_test(test_durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
