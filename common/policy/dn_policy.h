/* Dunning policies from a YAML file in config/policies/ (see docs/policies.md for the
 * whole format with a complete example).
 *
 *   tenants:
 *     default:                       # any tenant without an entry of its own
 *       default_policy: standard
 *       segments: {chronic_late: strict}
 *       tracks: [{min: 70, policy: gentle}, {max: 29, policy: strict}]   # risk score bands
 *       policies:
 *         standard:
 *           grace_days: 3
 *           min_amount: {EUR: 500}
 *           interest: {annual_rate: 8.12}
 *           stages:
 *             - {name: first_reminder, offset: 3d, channels: [email], template: first_reminder,
 *                fee: {fixed: {EUR: 500}, percent: 1.5},
 *                discount: {percent: 2, within: 7d, waive: [fees, interest]}}
 *           promise: {grace: 2d, max_days: 30, max_per_case: 3}
 *           plan: {max_instalments: 6, min_first: {EUR: 1000}, interval: 31d, fee: {EUR: 500},
 *                  interest: {annual_rate: 4}, tolerance_days: 5, on_break: resume, auto_approve_max: 3,
 *                  stages: [{name: instalment_due, offset: -3d, channels: [email], template: instalment_due}]}
 *           consolidate: customer           # one notice per customer and currency a day
 *           consolidate_window: 1h
 *           card_expiry: {notices: [30d, 7d], channels: [email, sms], template: card_expiry}
 *
 * Loaded and validated once at start; errors name the file, line and field. */
#ifndef DN_POLICY_H
#define DN_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "dn_priority.h"

#define POLICY_MAX_CHANNELS 4
#define POLICY_MAX_RETRIES  16

/* An amount per currency ({EUR: 500, JPY: 5}); a currency not listed gets `fallback`
 * (key "default", else 0). Values are minor units of that currency. */
typedef struct money_map {
    char (*currency)[4];
    int64_t *minor;
    size_t n;
    int64_t fallback;
} money_map_t;
int64_t dn_policy_money_for(const money_map_t *m, const char *currency);

typedef enum { CH_EMAIL = 0, CH_SMS, CH_LETTER, CH_VOICE, CH_COUNT } channel_t;

enum { POLICY_MAX_VARIANTS = 8 };

typedef struct stage {
    char *name;
    char *template_key;
    int64_t offset_ms; /* from the due date (00:00 UTC); negative = before it */
    channel_t channels[POLICY_MAX_CHANNELS];
    size_t nchannels;
    char *action; /* final_notice, collections_handover, suspend_service or NULL */
    money_map_t fee_fixed;
    int64_t fee_percent_e4; /* of the outstanding principal, 4 decimals (1.5 % = 15000) */
    /* Early-settlement offer the reminder carries (discount: {percent, within, waive}):
     * paying the discounted total within `discount_within_ms` settles the case. */
    int64_t discount_percent_e4; /* 0 = no offer */
    int64_t discount_within_ms;
    int discount_waive_fees, discount_waive_interest;
    /* Template variants (variants: {a: 50, b: 50}): an experiment on the stage's template.
     * Each case gets one, by a stable hash of the case and the stage (dn_policy_variant);
     * its reminder's template is "<template>--<variant>", which a sender falls back from to
     * the base template when the variant has no file. Weights are whole percents adding up
     * to 100. nvariants 0 = no experiment. */
    char *variant_names[POLICY_MAX_VARIANTS];
    int variant_weights[POLICY_MAX_VARIANTS];
    size_t nvariants;
} stage_t;

/* Promises to pay (promise: {grace, max_days, max_per_case}). */
typedef struct promise_policy {
    int64_t grace_ms;     /* the hold lasts until the promised date plus this (default 2d) */
    int32_t max_days;     /* a promised date at most this many days ahead (default 30) */
    int32_t max_per_case; /* promises one case may take (default 3) */
} promise_policy_t;

/* The voice channel (voice: {...}): the keys' effects on the case (the engine), the redials
 * (the engine) and the calling rules (sender-voice, before each dial). */
typedef struct voice_policy {
    int32_t promise_days;          /* key 1: a promise to pay the total due within this many days (default 7) */
    int32_t verify_days;           /* key 3 (claim_paid): the case holds this many days for the payment (default 3) */
    int32_t retries;               /* a call that did not connect (busy, no answer, declined) is made again this
                                    * many times, then the reminder falls back to the next channel (default 2) */
    int64_t retry_after_ms;        /* between those calls (default 2h) */
    int32_t max_attempts_per_7d;   /* calls (connected or not) per case in any 7 days (default 7) */
    int64_t quiet_after_answer_ms; /* no call for this long after one the customer answered (7d) */
    int calling_hours_set;         /* calling_hours was given (else the sender's setting) */
    int16_t hours_start[7], hours_end[7]; /* by tm_wday (0 = Sunday): minutes of the day; -1: no calls */
    char time_zone[64];                   /* the tenant's zone for a contact without a valid one ("": UTC) */
} voice_policy_t;

typedef enum { PLAN_BREAK_RESUME = 0, PLAN_BREAK_FINAL_NOTICE } plan_break_t;

/* Instalment plans (plan: {...}); a policy without the key offers none. */
typedef struct plan_policy {
    int offered;
    int32_t max_instalments;  /* default 12 */
    money_map_t min_first;    /* the first instalment is at least this */
    int64_t interval_ms;      /* the most from today to the first instalment and between two (default 31d) */
    money_map_t fee;          /* added to what the plan must pay */
    int64_t interest_rate_e4; /* annual simple interest on the principal, from the plan's start to its last
                                 instalment, added up front; the case's own interest stops meanwhile */
    int32_t tolerance_days;   /* an instalment still unpaid this many days after its due date breaks the plan */
    plan_break_t on_break;
    int32_t auto_approve_max; /* a portal request with at most this many instalments is agreed (default 3) */
    stage_t *stages;          /* each instalment's reminders, offsets from its due date */
    size_t nstages;
} plan_policy_t;

typedef enum { CATCH_UP_LATEST = 0, CATCH_UP_EACH } catch_up_t;

/* consolidate: invoice (a reminder per invoice) or customer (one notice per customer and
 * currency a day listing every overdue invoice, its level the highest of theirs). */
typedef enum { CONSOLIDATE_INVOICE = 0, CONSOLIDATE_CUSTOMER } consolidate_t;

#define POLICY_MAX_CARD_NOTICES 8

/* Notices before a card expires (card_expiry: {notices, channels, template}). */
typedef struct card_expiry_policy {
    int64_t before_ms[POLICY_MAX_CARD_NOTICES]; /* before the expiry, longest first (default 30d, 7d) */
    size_t nbefore;                             /* 0 = no card-expiry notices */
    channel_t channels[POLICY_MAX_CHANNELS];    /* default email, sms */
    size_t nchannels;
    char *template_key; /* default card_expiry */
} card_expiry_policy_t;

typedef struct retry_policy {
    int64_t schedule_ms[POLICY_MAX_RETRIES]; /* offsets from the first failed charge */
    size_t nschedule;                        /* 0 = failed charges are not retried */
    char **hard_decline_codes;               /* not retried: straight to update_template */
    size_t nhard;
    char *update_template;  /* "update your payment method" reminder */
    int64_t result_wait_ms; /* after the last retry, wait this long for its result */
} retry_policy_t;

typedef struct policy {
    char *name;
    stage_t *stages; /* ordered by offset; stage numbers are index + 1 */
    size_t nstages;
    int32_t grace_days;                           /* overdue stages wait until due + grace */
    money_map_t min_amount;                       /* below it (principal owed), no dunning */
    money_map_t tolerance;                        /* owing at most this counts as paid */
    int64_t interest_rate_e4;                     /* annual, simple, daily; 0 = none */
    catch_up_t catch_up;                          /* stages passed while the engine was away */
    channel_t channel_order[POLICY_MAX_CHANNELS]; /* fallback when a stage's channels reach nobody */
    size_t nchannel_order;
    retry_policy_t retries;
    promise_policy_t promise;
    plan_policy_t plan;
    consolidate_t consolidate;
    int64_t consolidate_window_ms; /* a customer notice waits this long for the day's other stages (1h) */
    card_expiry_policy_t card_expiry;
    voice_policy_t voice;
} policy_t;

/* A policy track (tracks: [{min, max, policy}]): cases whose risk score (0-100, docs/risk.md)
 * lies in [min, max] follow `policy` instead of the one chosen when they opened. */
typedef struct policy_track {
    int min, max; /* inclusive; default 0 and 100 */
    char *policy; /* a policy of the same tenant */
} policy_track_t;

typedef struct tenant_policies {
    char *tenant; /* "default" for the fallback */
    char *default_policy;
    char *payment_url; /* payment_url: the pay button's template (dn_payment_url.h); NULL: none */
    char **segment_names, **segment_policies;
    size_t nsegments;
    policy_track_t *tracks; /* bands that do not overlap, in the file's order */
    size_t ntracks;
    policy_t *policies;
    size_t npolicies;
    strategy_t strategy; /* the worklist's collection strategy (dn_priority.h); defined = 0: none */
    /* risk: {holdout: 0.05}: the share (in 1/10000) of the tenant's customers, chosen by a
     * stable hash of the customer, whose cases keep the policy they opened with (no track
     * switching): the control group of the adaptive tracks. 0 = none (the default). */
    int holdout_e4;
} tenant_policies_t;

typedef struct policy_set {
    tenant_policies_t *tenants;
    size_t ntenants;
} policy_set_t;

/* The policy file to load: file when set (DUNNING_POLICY_FILE), else
 * home/config/policies/default.yaml (DUNNING_HOME). */
void dn_policy_path(const char *file, const char *home, char *out, size_t size);
/* Loads one YAML file. NULL with errstr "file:line: field: problem" on error. */
policy_set_t *dn_policy_set_load(const char *path, char *errstr, size_t errstr_size);
void dn_policy_set_destroy(policy_set_t *ps);

/* The policy for an invoice: by name if given, else by segment, else the tenant default;
 * a tenant without an entry uses "default". NULL if a named policy does not exist. */
const policy_t *dn_policy_select(const policy_set_t *ps, const char *tenant, const char *name, const char *segment);
const policy_t *dn_policy_find(const policy_set_t *ps, const char *tenant, const char *name);
/* The tenant's payment page template: its own, else the default tenant's, else NULL. */
const char *dn_policy_payment_url(const policy_set_t *ps, const char *tenant);
/* The tenant's collection strategy: its own, else the default tenant's, else NULL. */
const strategy_t *dn_policy_strategy(const policy_set_t *ps, const char *tenant);
const char *dn_policy_channel_name(channel_t ch);
/* The policy track of a risk score (0-100) in a tenant: the policy of the band it lies in,
 * or NULL (no band holds it, the tenant has no tracks, or score < 0 = not scored): the case
 * then follows the policy it opened with. */
const char *dn_policy_track(const policy_set_t *ps, const char *tenant, int score);
/* Whether the tenant (or the default entry it falls back to) has tracks. */
int dn_policy_has_tracks(const policy_set_t *ps, const char *tenant);
/* Whether the customer is in the tenant's holdout (risk.holdout; the tenant's own entry,
 * else the default one): 1 or 0. */
int dn_policy_holdout(const policy_set_t *ps, const char *tenant, const char *customer);
/* The stage's variant for a case (NULL when the stage has none): the bucket of (case,
 * stage name) against the cumulative weights. */
const char *dn_policy_variant(const stage_t *st, const char *case_id);
/* The voice settings of a policy without a voice key. */
void dn_policy_voice_defaults(voice_policy_t *vp);
int dn_policy_is_hard_decline(const policy_t *p, const char *code);

#endif
