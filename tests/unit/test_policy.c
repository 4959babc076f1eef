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

#include "dn_policy.h"

static char path[64];

static policy_set_t *load_text(const char *yaml, char *err, size_t err_size)
{
    snprintf(path, sizeof(path), "/tmp/dn-test-policy-%d.yaml", (int)getpid());
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(yaml, f);
    fclose(f);
    policy_set_t *ps = dn_policy_set_load(path, err, err_size);
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
    const policy_t *p = dn_policy_select(ps, "some-tenant", NULL, NULL);
    assert_string_equal(p->name, "standard");
    assert_int_equal(p->nstages, 3);
    assert_int_equal(p->stages[0].offset_ms, -2LL * 86400000);
    assert_int_equal(p->stages[1].offset_ms, 3LL * 86400000);
    assert_int_equal(p->stages[2].offset_ms, 96LL * 3600000);
    assert_int_equal(p->stages[1].nchannels, 2);
    assert_int_equal(p->stages[1].channels[1], CH_SMS);
    assert_null(p->stages[0].action);
    assert_string_equal(dn_policy_select(ps, "x", NULL, "chronic_late")->name, "strict");
    assert_string_equal(dn_policy_select(ps, "x", NULL, "unknown_segment")->name, "standard");
    assert_string_equal(dn_policy_select(ps, "x", "strict", "chronic_late")->name, "strict");
    assert_string_equal(dn_policy_select(ps, "x", "strict", NULL)->stages[0].action, "final_notice");
    assert_null(dn_policy_select(ps, "x", "nonexistent", NULL));
    assert_string_equal(dn_policy_select(ps, "acme", NULL, NULL)->name, "gentle");
    assert_null(dn_policy_select(ps, "acme", "standard", NULL)); /* acme's own policies only */
    assert_int_equal(dn_policy_find(ps, "acme", "gentle")->stages[0].channels[0], CH_LETTER);
    dn_policy_set_destroy(ps);
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
    expect_error("tenants:\n  default:\n    default_policy: p\n    payment_url: https://pay.example.com/?a={amount}\n"
                 "    policies:\n      p:\n        stages:\n"
                 "          - {name: a, offset: 5d, channels: [email], template: t}\n",
                 ":4: tenants.default.payment_url: the template needs {reference}");
}

static void test_payment_url(void **state)
{
    (void)state;
    char err[512];
    policy_set_t *ps = load_text("tenants:\n  default:\n    default_policy: p\n"
                                 "    payment_url: https://pay.example.com/?r={reference}\n"
                                 "    policies:\n      p:\n        stages:\n"
                                 "          - {name: a, offset: 5d, channels: [email], template: t}\n"
                                 "  acme:\n    default_policy: p\n    payment_url: https://acme.example/{reference}\n"
                                 "    policies:\n      p:\n        stages:\n"
                                 "          - {name: a, offset: 5d, channels: [email], template: t}\n",
                                 err, sizeof(err));
    if (!ps)
        fail_msg("%s", err);
    assert_string_equal(dn_policy_payment_url(ps, "acme"), "https://acme.example/{reference}");
    assert_string_equal(dn_policy_payment_url(ps, "other"), "https://pay.example.com/?r={reference}");
    dn_policy_set_destroy(ps);
}

static const char full[] =
    "tenants:\n"
    "  default:\n"
    "    default_policy: p\n"
    "    policies:\n"
    "      p:\n"
    "        grace_days: 3\n"
    "        min_amount: {EUR: 500, JPY: 5, default: 100}\n"
    "        tolerance: {EUR: 50}\n"
    "        interest: {annual_rate: 8.12}\n"
    "        catch_up: each\n"
    "        channel_order: [sms, email]\n"
    "        retries: {schedule: [1d, 3d, 36h12m], hard_decline_codes: [lost_card], result_wait: 12h}\n"
    "        stages:\n"
    "          - {name: a, offset: 0d, channels: [email], template: t, fee: {fixed: {EUR: 500, BHD: 1500}, "
    "percent: 1.5}}\n"
    "          - {name: b, offset: 7d, channels: [letter], template: u, action: collections_handover}\n";

static void test_options(void **state)
{
    (void)state;
    char err[512];
    char text[sizeof(full)];
    snprintf(text, sizeof(text), "%s", full);
    /* 36h12m is not a duration */
    policy_set_t *ps = load_text(text, err, sizeof(err));
    assert_null(ps);
    assert_non_null(strstr(err, ":12: tenants.default.policies.p.retries.schedule: expected a positive duration"));
    memcpy(strstr(text, "36h12m"), "5d    ", 6);
    ps = load_text(text, err, sizeof(err));
    if (!ps)
        fail_msg("%s", err);
    const policy_t *p = dn_policy_select(ps, "anyone", NULL, NULL);
    assert_non_null(p);
    assert_int_equal(p->grace_days, 3);
    assert_int_equal(dn_policy_money_for(&p->min_amount, "EUR"), 500);
    assert_int_equal(dn_policy_money_for(&p->min_amount, "JPY"), 5);
    assert_int_equal(dn_policy_money_for(&p->min_amount, "USD"), 100); /* default */
    assert_int_equal(dn_policy_money_for(&p->tolerance, "EUR"), 50);
    assert_int_equal(dn_policy_money_for(&p->tolerance, "USD"), 0);
    assert_int_equal(p->interest_rate_e4, 81200);
    assert_int_equal(p->catch_up, CATCH_UP_EACH);
    assert_int_equal(p->nchannel_order, 2);
    assert_int_equal(p->channel_order[0], CH_SMS);
    assert_int_equal(p->channel_order[1], CH_EMAIL);
    assert_int_equal(p->retries.nschedule, 3);
    assert_int_equal(p->retries.schedule_ms[0], 86400000);
    assert_int_equal(p->retries.schedule_ms[2], 5 * 86400000LL);
    assert_int_equal(p->retries.result_wait_ms, 12 * 3600000LL);
    assert_true(dn_policy_is_hard_decline(p, "lost_card"));
    assert_false(dn_policy_is_hard_decline(p, "stolen_card")); /* the list replaces the defaults */
    assert_string_equal(p->retries.update_template, "update_payment_method");
    assert_int_equal(dn_policy_money_for(&p->stages[0].fee_fixed, "EUR"), 500);
    assert_int_equal(dn_policy_money_for(&p->stages[0].fee_fixed, "BHD"), 1500);
    assert_int_equal(dn_policy_money_for(&p->stages[0].fee_fixed, "USD"), 0);
    assert_int_equal(p->stages[0].fee_percent_e4, 15000);
    assert_int_equal(p->stages[1].fee_percent_e4, 0);
    assert_string_equal(p->stages[1].action, "collections_handover");
    dn_policy_set_destroy(ps);

    /* Defaults of a policy that sets none of the options. */
    ps = load_text("tenants:\n  default:\n    default_policy: p\n    policies:\n      p:\n        retries: "
                   "{schedule: [1d]}\n        stages:\n          - {name: a, offset: 1d, channels: [email], "
                   "template: t}\n",
                   err, sizeof(err));
    if (!ps)
        fail_msg("%s", err);
    p = dn_policy_select(ps, "x", NULL, NULL);
    assert_int_equal(p->grace_days, 0);
    assert_int_equal(dn_policy_money_for(&p->min_amount, "EUR"), 0);
    assert_int_equal(p->interest_rate_e4, 0);
    assert_int_equal(p->catch_up, CATCH_UP_LATEST);
    assert_int_equal(p->nchannel_order, 3);
    assert_true(dn_policy_is_hard_decline(p, "stolen_card"));
    assert_true(dn_policy_is_hard_decline(p, "do_not_honor"));
    assert_false(dn_policy_is_hard_decline(p, "insufficient_funds"));
    assert_int_equal(p->retries.result_wait_ms, 86400000);
    dn_policy_set_destroy(ps);
}

#define HEAD  "tenants:\n  default:\n    default_policy: p\n    policies:\n      p:\n"
#define STAGE "        stages:\n          - {name: a, offset: 1d, channels: [email], template: t}\n"

static void test_option_errors(void **state)
{
    (void)state;
    expect_error(HEAD "        stages:\n          - {name: a, offset: 3, channels: [email], template: t}\n",
                 "stages[0].offset: expected a duration");
    expect_error(HEAD "        grace_days: 1\n        grace_days: 2\n" STAGE, ":7: tenants.default.policies.p: key "
                                                                              "'grace_days' given twice");
    expect_error(HEAD STAGE "      p:\n" STAGE, "policies.p: policy defined twice");
    expect_error(HEAD "        stages:\n          - {name: a, offset: -1d, channels: [email], template: t, action: "
                      "collections_handover}\n",
                 "stages[0].action: final_notice and collections_handover need an offset of 0 or more");
    expect_error(HEAD
                 "        stages:\n          - {name: a, offset: 1d, channels: [email], template: t, fee: {percent: "
                 "150}}\n",
                 "stages[0].fee.percent: at most 100 %");
    expect_error(HEAD "        grace_days: -1\n" STAGE, ":6: tenants.default.policies.p.grace_days: expected a whole");
    expect_error(HEAD "        min_amount: {EURO: 5}\n" STAGE, "p.min_amount: keys are ISO 4217 currency codes");
    expect_error(HEAD "        tolerance: {EUR: 1.5}\n" STAGE, "p.tolerance: expected a whole amount in minor units");
    expect_error(HEAD "        interest: {annual_rate: 8.123456}\n" STAGE,
                 "p.interest.annual_rate: expected a percentage");
    expect_error(HEAD "        interest: {rate: 8}\n" STAGE, "p.interest: unknown key 'rate'");
    expect_error(HEAD "        catch_up: all\n" STAGE, "p.catch_up: expected latest or each");
    expect_error(HEAD "        channel_order: [email, email]\n" STAGE, "p.channel_order: channel listed twice");
    expect_error(HEAD "        retries: {schedule: [3d, 1d]}\n" STAGE, "p.retries.schedule: retry times must increase");
    expect_error(HEAD "        retries: {schedule: []}\n" STAGE, "p.retries.schedule: expected a list of 1 to 16");
    expect_error(HEAD "        retries: {schedule: [1d], update_template: ''}\n" STAGE,
                 "p.retries.update_template: expected a template key");
    expect_error(HEAD
                 "        stages:\n          - {name: a, offset: 1d, channels: [email], template: t, fee: {percent: "
                 "-1}}\n",
                 "stages[0].fee.percent: expected a percentage");
    expect_error(HEAD "        stages:\n          - {name: a, offset: 1d, channels: [email], template: t, fee: {flat: "
                      "5}}\n",
                 "stages[0].fee: unknown key 'flat'");
}

static void test_collections_keys(void **state)
{
    (void)state;
    char err[512];
    policy_set_t *ps = load_text(
        "tenants:\n  default:\n    default_policy: p\n    policies:\n      p:\n"
        "        promise: {grace: 3d, max_days: 14, max_per_case: 2}\n"
        "        plan: {max_instalments: 6, min_first: {EUR: 1000}, interval: 30d, fee: {EUR: 500},\n"
        "               interest: {annual_rate: 4}, tolerance_days: 4, on_break: final_notice, auto_approve_max: 2,\n"
        "               stages: [{name: due_soon, offset: -3d, channels: [email], template: instalment_due},\n"
        "                        {name: missed, offset: 2d, channels: [email, sms], template: instalment_missed}]}\n"
        "        stages:\n"
        "          - {name: a, offset: 3d, channels: [email], template: t,\n"
        "             discount: {percent: 2.5, within: 7d, waive: [fees, interest]}}\n"
        "          - {name: b, offset: 14d, channels: [email], template: u, discount: {percent: 1, within: 5d}}\n",
        err, sizeof(err));
    if (!ps)
        fail_msg("%s", err);
    const policy_t *p = dn_policy_select(ps, "x", NULL, NULL);
    assert_int_equal(p->promise.grace_ms, 3 * 86400000LL);
    assert_int_equal(p->promise.max_days, 14);
    assert_int_equal(p->promise.max_per_case, 2);
    assert_true(p->plan.offered);
    assert_int_equal(p->plan.max_instalments, 6);
    assert_int_equal(dn_policy_money_for(&p->plan.min_first, "EUR"), 1000);
    assert_int_equal(dn_policy_money_for(&p->plan.fee, "EUR"), 500);
    assert_int_equal(p->plan.interval_ms, 30 * 86400000LL);
    assert_int_equal(p->plan.interest_rate_e4, 40000);
    assert_int_equal(p->plan.tolerance_days, 4);
    assert_int_equal(p->plan.on_break, PLAN_BREAK_FINAL_NOTICE);
    assert_int_equal(p->plan.auto_approve_max, 2);
    assert_int_equal(p->plan.nstages, 2);
    assert_int_equal(p->plan.stages[0].offset_ms, -3 * 86400000LL);
    assert_int_equal(p->plan.stages[1].nchannels, 2);
    assert_string_equal(p->plan.stages[1].template_key, "instalment_missed");
    assert_int_equal(p->stages[0].discount_percent_e4, 25000);
    assert_int_equal(p->stages[0].discount_within_ms, 7 * 86400000LL);
    assert_true(p->stages[0].discount_waive_fees);
    assert_true(p->stages[0].discount_waive_interest);
    assert_int_equal(p->stages[1].discount_percent_e4, 10000);
    assert_false(p->stages[1].discount_waive_fees);
    assert_false(p->stages[1].discount_waive_interest);
    dn_policy_set_destroy(ps);

    /* Defaults: promises allowed, no plans. */
    ps = load_text("tenants:\n  default:\n    default_policy: p\n    policies:\n      p:\n        stages:\n"
                   "          - {name: a, offset: 1d, channels: [email], template: t}\n",
                   err, sizeof(err));
    if (!ps)
        fail_msg("%s", err);
    p = dn_policy_select(ps, "x", NULL, NULL);
    assert_int_equal(p->promise.grace_ms, 2 * 86400000LL);
    assert_int_equal(p->promise.max_days, 30);
    assert_int_equal(p->promise.max_per_case, 3);
    assert_false(p->plan.offered);
    assert_int_equal(p->stages[0].discount_percent_e4, 0);
    dn_policy_set_destroy(ps);

    const char *head = "tenants:\n  default:\n    default_policy: p\n    policies:\n      p:\n";
    const char *stage = "        stages:\n          - {name: a, offset: 1d, channels: [email], template: t}\n";
    struct {
        const char *body, *error;
    } bad[] = {
        {"        promise: {grace: 36h}\n", "p.promise.grace: expected whole days"},
        {"        promise: {max_days: 0}\n", "p.promise.max_days: expected a whole number of days"},
        {"        promise: {maxdays: 3}\n", "p.promise: unknown key 'maxdays'"},
        {"        plan: {max_instalments: 1}\n", "p.plan.max_instalments: expected a whole number (2 to 120)"},
        {"        plan: {on_break: escalate}\n", "p.plan.on_break: expected resume or final_notice"},
        {"        plan: {interval: 30}\n", "p.plan.interval: expected a positive duration"},
        {"        plan: {stages: [{name: x, offset: 1d, channels: [email], template: t, action: final_notice}]}\n",
         "an instalment reminder takes no action"},
        {"        plan: {stages: []}\n", "a plan's stages list needs at least one stage"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), "%s%s%s", head, bad[i].body, stage);
        ps = load_text(text, err, sizeof(err));
        if (ps || !strstr(err, bad[i].error))
            fail_msg("case %zu: want error '%s', got '%s'", i, bad[i].error, ps ? "(loaded)" : err);
    }
    const char *bad_stage[][2] = {
        {"discount: {within: 7d}", "discount.percent: required"},
        {"discount: {percent: 2}", "discount.within: required"},
        {"discount: {percent: 0, within: 7d}", "discount.percent: expected more than 0 %"},
        {"discount: {percent: 2, within: 7d, waive: [penalties]}", "discount.waive: expected fees or interest"},
    };
    for (size_t i = 0; i < sizeof(bad_stage) / sizeof(bad_stage[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text),
                 "%s        stages:\n          - {name: a, offset: 1d, channels: [email], "
                 "template: t, %s}\n",
                 head, bad_stage[i][0]);
        ps = load_text(text, err, sizeof(err));
        if (ps || !strstr(err, bad_stage[i][1]))
            fail_msg("stage case %zu: want error '%s', got '%s'", i, bad_stage[i][1], ps ? "(loaded)" : err);
    }
}

/* The voice channel (issue 18): `voice` in channel lists, the voice keys and their defaults. */
static void test_voice(void **state)
{
    (void)state;
    char err[512];
    policy_set_t *ps = load_text(HEAD "        voice: {promise_days: 5, verify_days: 2}\n"
                                      "        stages:\n          - {name: call, offset: 8d, channels: [voice, sms], "
                                      "template: t}\n"
                                      "      q:\n" STAGE,
                                 err, sizeof(err));
    if (!ps)
        fail_msg("%s", err);
    const policy_t *p = dn_policy_find(ps, "default", "p"), *q = dn_policy_find(ps, "default", "q");
    assert_int_equal(p->stages[0].channels[0], CH_VOICE);
    assert_int_equal(p->stages[0].channels[1], CH_SMS);
    assert_string_equal(dn_policy_channel_name(CH_VOICE), "voice");
    assert_int_equal(p->voice.promise_days, 5);
    assert_int_equal(p->voice.verify_days, 2);
    assert_int_equal(q->voice.promise_days, 7); /* the defaults */
    assert_int_equal(q->voice.verify_days, 3);
    assert_int_equal(q->nchannel_order, 3); /* voice is no fallback unless listed */
    dn_policy_set_destroy(ps);
    expect_error(HEAD "        voice: {promise_days: 0}\n" STAGE,
                 "p.voice.promise_days: expected a whole number of days (1 to 365)");
    expect_error(HEAD "        voice: {verify_days: 91}\n" STAGE,
                 "p.voice.verify_days: expected a whole number of days (1 to 90)");
    expect_error(HEAD "        voice: {hours: 8}\n" STAGE, "p.voice: unknown key 'hours'");
    expect_error(HEAD "        stages:\n          - {name: a, offset: 1d, channels: [fax], template: t}\n",
                 "unknown channel (use email, sms, letter or voice)");
}

/* The redials and the calling rules: values, defaults, calling hours by day, errors. */
static void test_voice_rules(void **state)
{
    (void)state;
    char err[512];
    policy_set_t *ps = load_text(
        HEAD "        voice: {retries: 1, retry_after: 90m, max_attempts_per_7d: 3, quiet_after_answer: 2d,\n"
             "                calling_hours: {default: \"08:00-20:00\", sat: \"10:00-14:00\", sun: none}}\n" STAGE
             "      q:\n" STAGE
             "      r:\n        voice: {calling_hours: \"09:30-18:00\", time_zone: America/New_York}\n" STAGE,
        err, sizeof(err));
    if (!ps)
        fail_msg("%s", err);
    const policy_t *p = dn_policy_find(ps, "default", "p"), *q = dn_policy_find(ps, "default", "q"),
                   *r = dn_policy_find(ps, "default", "r");
    assert_int_equal(p->voice.retries, 1);
    assert_int_equal(p->voice.retry_after_ms, 90 * 60 * 1000);
    assert_int_equal(p->voice.max_attempts_per_7d, 3);
    assert_int_equal(p->voice.quiet_after_answer_ms, 2 * 86400000LL);
    assert_int_equal(p->voice.calling_hours_set, 1);
    assert_int_equal(p->voice.hours_start[1], 8 * 60);  /* Monday: the default */
    assert_int_equal(p->voice.hours_end[5], 20 * 60);   /* Friday */
    assert_int_equal(p->voice.hours_start[6], 10 * 60); /* Saturday */
    assert_int_equal(p->voice.hours_end[6], 14 * 60);
    assert_int_equal(p->voice.hours_start[0], -1); /* Sunday: none */
    assert_int_equal(q->voice.retries, 2);         /* the defaults */
    assert_int_equal(q->voice.retry_after_ms, 2 * 3600 * 1000);
    assert_int_equal(q->voice.max_attempts_per_7d, 7);
    assert_int_equal(q->voice.quiet_after_answer_ms, 7 * 86400000LL);
    assert_int_equal(q->voice.calling_hours_set, 0);
    assert_int_equal(q->voice.hours_start[3], 8 * 60);
    assert_int_equal(q->voice.hours_end[3], 21 * 60);
    for (int d = 0; d < 7; d++) {
        assert_int_equal(r->voice.hours_start[d], 9 * 60 + 30);
        assert_int_equal(r->voice.hours_end[d], 18 * 60);
    }
    assert_string_equal(r->voice.time_zone, "America/New_York");
    assert_string_equal(q->voice.time_zone, ""); /* none: the contact's, else UTC */
    dn_policy_set_destroy(ps);
    expect_error(HEAD "        voice: {time_zone: Mars/Olympus}\n" STAGE,
                 "p.voice.time_zone: expected an IANA time zone such as Europe/Berlin");
    expect_error(HEAD "        voice: {retries: 11}\n" STAGE, "p.voice.retries: expected a whole number (0 to 10");
    expect_error(HEAD "        voice: {retry_after: 0h}\n" STAGE,
                 "p.voice.retry_after: expected a positive duration such as 2h");
    expect_error(HEAD "        voice: {max_attempts_per_7d: 0}\n" STAGE,
                 "p.voice.max_attempts_per_7d: expected a whole number (1 to 50)");
    expect_error(HEAD "        voice: {calling_hours: \"21:00-08:00\"}\n" STAGE,
                 "p.voice.calling_hours: expected HH:MM-HH:MM (start before end)");
    expect_error(HEAD "        voice: {calling_hours: {sat: \"10-14\"}}\n" STAGE,
                 "p.voice.calling_hours.sat: expected HH:MM-HH:MM (start before end) or none");
    expect_error(HEAD "        voice: {calling_hours: {holiday: none}}\n" STAGE,
                 "p.voice.calling_hours: unknown key 'holiday'");
}

/* The collection strategy of the worklist (dn_priority.h): parsing, eligibility, points and reasons. */
static const char strategy_yaml[] = "tenants:\n"
                                    "  default:\n"
                                    "    default_policy: p\n"
                                    "    policies:\n"
                                    "      p:\n"
                                    "        stages:\n"
                                    "          - {name: a, offset: 1d, channels: [email], template: t}\n"
                                    "    strategy:\n"
                                    "      min_amount: {EUR: 1000, JPY: 100}\n"
                                    "      rules:\n"
                                    "        - {when: broken_promise, points: 40}\n"
                                    "        - {when: days_overdue, over: 60, points: 30}\n"
                                    "        - {when: amount, over: {EUR: 1000000, JPY: 10000}, points: 20}\n"
                                    "        - {when: callback_requested, points: 15}\n"
                                    "        - {when: stage, at_least: 3, points: 10}\n"
                                    "        - {when: risk_score, below: 40, points: 25}\n"
                                    "        - {when: disputed, points: -50}\n"
                                    "  acme:\n"
                                    "    default_policy: p\n"
                                    "    policies:\n"
                                    "      p:\n"
                                    "        stages:\n"
                                    "          - {name: a, offset: 1d, channels: [email], template: t}\n"
                                    "    strategy:\n"
                                    "      include_not_due: true\n"
                                    "  plain:\n"
                                    "    default_policy: p\n"
                                    "    policies:\n"
                                    "      p:\n"
                                    "        stages:\n"
                                    "          - {name: a, offset: 1d, channels: [email], template: t}\n";

static void test_strategy(void **state)
{
    (void)state;
    char err[512];
    policy_set_t *ps = load_text(strategy_yaml, err, sizeof(err));
    if (!ps)
        fail_msg("%s", err);
    const strategy_t *s = dn_policy_strategy(ps, "someone");
    assert_non_null(s);
    assert_int_equal(s->nrules, 7);
    assert_ptr_equal(dn_policy_strategy(ps, "plain"), s); /* no strategy of its own: the default's */
    const strategy_t *acme = dn_policy_strategy(ps, "acme");
    assert_ptr_not_equal(acme, s);
    assert_int_equal(acme->nrules, 0);

    prio_facts_t f = {.currency = "EUR",
                      .owed_minor = 1500000,
                      .days_overdue = 61,
                      .stage = 3,
                      .broken_promises = 1,
                      .callbacks = 2,
                      .disputed = 0,
                      .risk_score = 39};
    prio_reason_t r[8];
    size_t n;
    const char *why = NULL;
    assert_true(dn_priority_listed(s, &f, &why));
    assert_int_equal(dn_priority_score(s, &f, r, 8, &n), 40 + 30 + 20 + 15 + 10 + 25);
    assert_int_equal(n, 6);
    assert_string_equal(r[0].text, "broken promise");
    assert_string_equal(r[1].text, "61 days overdue (over 60)");
    assert_string_equal(r[2].text, "owes 15000.00 EUR (over 10000.00 EUR)");
    assert_string_equal(r[3].text, "callback requested");
    assert_string_equal(r[4].text, "stage 3 (at least 3)");
    assert_string_equal(r[5].text, "risk score 39 (below 40)");
    assert_int_equal(r[5].rule, 5);
    assert_int_equal(r[5].points, 25);

    /* at the thresholds: over is strict, at_least is not, below is strict; no score, no risk points */
    prio_facts_t g = {
        .currency = "EUR", .owed_minor = 1000000, .days_overdue = 60, .stage = 2, .disputed = 1, .risk_score = -1};
    assert_int_equal(dn_priority_score(s, &g, r, 8, &n), -50);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].text, "disputed");
    assert_int_equal(dn_priority_score(s, &g, r, 0, &n), -50); /* no room for reasons: the points still count */
    assert_int_equal(n, 0);
    prio_facts_t jpy = {.currency = "JPY", .owed_minor = 10001, .days_overdue = 5, .risk_score = -1};
    assert_int_equal(dn_priority_score(s, &jpy, r, 8, &n), 20);
    assert_string_equal(r[0].text, "owes 10001 JPY (over 10000 JPY)");

    /* off the list: below min_amount (per currency), not yet due (unless include_not_due) */
    prio_facts_t small = {.currency = "EUR", .owed_minor = 999, .days_overdue = 10, .risk_score = -1};
    assert_false(dn_priority_listed(s, &small, &why));
    assert_string_equal(why, "below min_amount");
    small.owed_minor = 1000;
    assert_true(dn_priority_listed(s, &small, &why));
    prio_facts_t early = {.currency = "EUR", .owed_minor = 5000, .days_overdue = -1, .risk_score = -1};
    assert_false(dn_priority_listed(s, &early, &why));
    assert_string_equal(why, "not yet due");
    assert_true(dn_priority_listed(acme, &early, &why));
    assert_int_equal(dn_priority_score(acme, &early, r, 8, &n), 0);
    assert_int_equal(dn_priority_score(NULL, &f, r, 8, &n), 0);
    assert_false(dn_priority_listed(NULL, &early, &why));
    dn_policy_set_destroy(ps);

    const char *head = "tenants:\n  default:\n    default_policy: p\n    policies:\n      p:\n        stages:\n"
                       "          - {name: a, offset: 1d, channels: [email], template: t}\n    strategy:\n";
    char y[1024];
    snprintf(y, sizeof(y), "%s      rules:\n        - {when: overdue, over: 1, points: 1}\n", head);
    expect_error(y, ":10: tenants.default.strategy.rules[0].when: expected broken_promise");
    snprintf(y, sizeof(y), "%s      rules:\n        - {when: days_overdue, points: 1}\n", head);
    expect_error(y, "strategy.rules[0]: this condition needs one of over, at_least, below");
    snprintf(y, sizeof(y), "%s      rules:\n        - {when: disputed, over: 1, points: 1}\n", head);
    expect_error(y, "strategy.rules[0]: this condition takes no over");
    snprintf(y, sizeof(y), "%s      rules:\n        - {when: stage, over: 1, below: 3, points: 1}\n", head);
    expect_error(y, "strategy.rules[0]: give one of over, at_least, below");
    snprintf(y, sizeof(y), "%s      rules:\n        - {when: risk_score, below: 101, points: 1}\n", head);
    expect_error(y, "strategy.rules[0].below: expected a whole number from 0 to 100");
    snprintf(y, sizeof(y), "%s      rules:\n        - {when: amount, over: 10000, points: 1}\n", head);
    expect_error(y, "strategy.rules[0].over: expected a mapping of currency");
    snprintf(y, sizeof(y), "%s      rules:\n        - {when: stage, over: 1}\n", head);
    expect_error(y, "strategy.rules[0].points: required");
    snprintf(y, sizeof(y), "%s      rules:\n        - {when: stage, over: 1, points: 1.5}\n", head);
    expect_error(y, "strategy.rules[0].points: expected a whole number of points");
    snprintf(y, sizeof(y), "%s      include_not_due: maybe\n", head);
    expect_error(y, "strategy.include_not_due: expected true or false");
    snprintf(y, sizeof(y), "%s      order: priority\n", head);
    expect_error(y, "tenants.default.strategy: unknown key 'order'");
}

/* Policy tracks: score bands to policies, inclusive, a score in no band keeps its policy. */
static void test_tracks(void **state)
{
    (void)state;
    char err[512];
    static const char yaml[] = "tenants:\n"
                               "  default:\n"
                               "    default_policy: p\n"
                               "    policies:\n"
                               "      p:\n"
                               "        stages: [{name: a, offset: 3d, channels: [email], template: t}]\n"
                               "  acme:\n"
                               "    default_policy: standard\n"
                               "    tracks: [{min: 70, policy: gentle}, {max: 29, policy: strict}]\n"
                               "    policies:\n"
                               "      standard:\n"
                               "        stages: [{name: a, offset: 3d, channels: [email], template: t}]\n"
                               "      gentle:\n"
                               "        stages: [{name: a, offset: 10d, channels: [email], template: t}]\n"
                               "      strict:\n"
                               "        stages: [{name: a, offset: 1d, channels: [sms], template: t}]\n";
    policy_set_t *ps = load_text(yaml, err, sizeof(err));
    assert_non_null(ps);
    assert_true(dn_policy_has_tracks(ps, "acme"));
    assert_false(dn_policy_has_tracks(ps, "other")); /* falls back to default: no tracks */
    assert_string_equal(dn_policy_track(ps, "acme", 100), "gentle");
    assert_string_equal(dn_policy_track(ps, "acme", 70), "gentle");
    assert_null(dn_policy_track(ps, "acme", 69));
    assert_null(dn_policy_track(ps, "acme", 30));
    assert_string_equal(dn_policy_track(ps, "acme", 29), "strict");
    assert_string_equal(dn_policy_track(ps, "acme", 0), "strict");
    assert_null(dn_policy_track(ps, "acme", -1)); /* not scored */
    assert_null(dn_policy_track(ps, "other", 10));
    dn_policy_set_destroy(ps);

    static const char head[] = "tenants:\n"
                               "  default:\n"
                               "    default_policy: p\n"
                               "    policies:\n"
                               "      p:\n"
                               "        stages: [{name: a, offset: 3d, channels: [email], template: t}]\n"
                               "      q:\n"
                               "        stages: [{name: a, offset: 1d, channels: [email], template: t}]\n";
    static const struct {
        const char *tracks, *error;
    } bad[] = {
        {"    tracks: {min: 70, policy: q}\n", ":9: tenants.default.tracks: expected a list"},
        {"    tracks: [{min: 70, policy: x}]\n", ":9: tenants.default.tracks[0]: policy names no policy"},
        {"    tracks: [{min: 70}]\n", "tenants.default.tracks[0].policy: required"},
        {"    tracks: [{policy: q}]\n", "tracks[0]: a band needs min, max or both"},
        {"    tracks: [{min: 101, policy: q}]\n", "tracks[0].min: expected a whole score from 0 to 100"},
        {"    tracks: [{max: -1, policy: q}]\n", "tracks[0].max: expected a whole score from 0 to 100"},
        {"    tracks: [{min: 60, max: 40, policy: q}]\n", "tracks[0]: min is above max"},
        {"    tracks: [{min: 70, policy: q}, {min: 50, max: 70, policy: p}]\n",
         "tracks[1]: band overlaps an earlier one"},
        {"    tracks: [{min: 70, plicy: q}]\n", "tracks[0]: unknown key 'plicy'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text), "%s%s", head, bad[i].tracks);
        err[0] = '\0';
        ps = load_text(text, err, sizeof(err));
        if (ps || !strstr(err, bad[i].error))
            fail_msg("case %zu: expected '%s', got '%s'", i, bad[i].error, err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_select),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_payment_url),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_collections_keys),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_voice),
        cmocka_unit_test(test_voice_rules),
        cmocka_unit_test(test_strategy),
        cmocka_unit_test(test_tracks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
