#include "dn_policy.h"
#include "dn_hours.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "dn_config.h"
#include "dn_currency.h"
#include "dn_risk.h"
#include "dn_payment_url.h"
#include "dn_rules.h"

static const char *const channel_names[CH_COUNT] = {"email", "sms", "letter", "voice"};
static const char *const actions[] = {"final_notice", "collections_handover", "suspend_service"};
/* Decline codes that mean "this card will not work again" when a policy lists none. */
static const char *const default_hard_declines[] = {
    "lost_card",       "stolen_card",         "pickup_card",        "restricted_card",
    "invalid_account", "account_closed",      "card_not_supported", "expired_card",
    "do_not_honor",    "invalid_card_number", "fraudulent",         "revocation_of_authorization",
};

int64_t dn_policy_money_for(const money_map_t *m, const char *currency)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->currency[i], currency) == 0)
            return m->minor[i];
    return m->fallback;
}

int dn_policy_is_hard_decline(const policy_t *p, const char *code)
{
    for (size_t i = 0; code && i < p->retries.nhard; i++)
        if (strcmp(p->retries.hard_decline_codes[i], code) == 0)
            return 1;
    return 0;
}

const char *dn_policy_channel_name(channel_t ch)
{
    return channel_names[ch];
}

typedef struct loader {
    yaml_document_t doc;
    const char *path;
    char *errstr;
    size_t errstr_size;
} loader_t;

static int fail(loader_t *l, const yaml_node_t *n, const char *field, const char *problem)
{
    snprintf(l->errstr, l->errstr_size, "%s:%zu: %s: %s", l->path, n ? n->start_mark.line + 1 : 0, field, problem);
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *map_get(loader_t *l, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(&l->doc, p->key));
        if (k && strcmp(k, key) == 0)
            return yaml_document_get_node(&l->doc, p->value);
    }
    return NULL;
}

/* Rejects keys outside `allowed` so a typo ("ofset") is an error, not a silent default. */
static int check_keys(loader_t *l, yaml_node_t *map, const char *where, const char *const *allowed)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return fail(l, map, where, "expected a mapping");
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(&l->doc, p->key);
        const char *k = scalar(kn);
        int ok = 0;
        for (const char *const *a = allowed; k && *a; a++)
            ok |= strcmp(k, *a) == 0;
        if (!ok) {
            char msg[160];
            snprintf(msg, sizeof(msg), "unknown key '%s'", k ? k : "?");
            return fail(l, kn, where, msg);
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const char *prev = scalar(yaml_document_get_node(&l->doc, q->key));
            if (prev && strcmp(prev, k) == 0) {
                char msg[160];
                snprintf(msg, sizeof(msg), "key '%s' given twice", k);
                return fail(l, kn, where, msg);
            }
        }
    }
    return 0;
}

static int req_string(loader_t *l, yaml_node_t *map, const char *key, const char *where, char **out)
{
    yaml_node_t *n = map_get(l, map, key);
    char field[256];
    snprintf(field, sizeof(field), "%s.%s", where, key);
    if (!n)
        return fail(l, map, field, "required");
    const char *s = scalar(n);
    if (!s || !*s)
        return fail(l, n, field, "expected a non-empty string");
    *out = strdup(s);
    return 0;
}

static int parse_count(const char *s, int64_t max, int64_t *out)
{
    if (!s || !*s)
        return -1;
    int64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
        if (v > max)
            return -1;
    }
    *out = v;
    return 0;
}

/* {EUR: 500, JPY: 5, default: 0}: minor units per ISO 4217 currency. */
static int load_money_map(loader_t *l, yaml_node_t *n, const char *field, money_map_t *m)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return fail(l, n, field, "expected a mapping of currency to an amount in minor units, e.g. {EUR: 500}");
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    m->currency = calloc(cnt ? cnt : 1, sizeof(*m->currency));
    m->minor = calloc(cnt ? cnt : 1, sizeof(*m->minor));
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
        yaml_node_t *kn = yaml_document_get_node(&l->doc, pr->key), *vn = yaml_document_get_node(&l->doc, pr->value);
        const char *cur = scalar(kn);
        int64_t v;
        if (!cur || (strcmp(cur, "default") != 0 && dn_currency_exponent(cur) < 0))
            return fail(l, kn, field, "keys are ISO 4217 currency codes (EUR, JPY, ...) or default");
        if (parse_count(scalar(vn), INT64_MAX / 1000, &v) < 0)
            return fail(l, vn, field, "expected a whole amount in minor units (500 = 5.00 EUR)");
        if (strcmp(cur, "default") == 0) {
            m->fallback = v;
            continue;
        }
        snprintf(m->currency[m->n], sizeof(m->currency[m->n]), "%s", cur);
        m->minor[m->n++] = v;
    }
    return 0;
}

static void free_money_map(money_map_t *m)
{
    free(m->currency);
    free(m->minor);
}

static int load_e4(loader_t *l, yaml_node_t *n, const char *field, int64_t max_percent, int64_t *out)
{
    if (!scalar(n) || dn_rules_parse_e4(scalar(n), out) < 0)
        return fail(l, n, field, "expected a percentage such as 8, 8.12 or 0.5 (at most 4 decimals)");
    if (*out > max_percent * 10000) {
        char msg[96];
        snprintf(msg, sizeof(msg), "at most %lld %%", (long long)max_percent);
        return fail(l, n, field, msg);
    }
    return 0;
}

static int load_channel_list(loader_t *l, yaml_node_t *chs, const char *field, channel_t *out, size_t *nout)
{
    *nout = 0;
    if (!chs || chs->type != YAML_SEQUENCE_NODE || chs->data.sequence.items.top == chs->data.sequence.items.start)
        return fail(l, chs, field, "expected a non-empty list of email, sms, letter, voice");
    for (yaml_node_item_t *it = chs->data.sequence.items.start; it < chs->data.sequence.items.top; it++) {
        yaml_node_t *cn = yaml_document_get_node(&l->doc, *it);
        const char *c = scalar(cn);
        int found = -1;
        for (int i = 0; c && i < CH_COUNT; i++)
            if (strcmp(c, channel_names[i]) == 0)
                found = i;
        if (found < 0)
            return fail(l, cn, field, "unknown channel (use email, sms, letter or voice)");
        for (size_t i = 0; i < *nout; i++)
            if (out[i] == (channel_t)found)
                return fail(l, cn, field, "channel listed twice");
        out[(*nout)++] = (channel_t)found;
    }
    return 0;
}

/* Durations in policies need a unit (3d, 36h, 30m, 45s): a bare "3" is an error, not 3 ms. */
static int has_unit(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && ((s[n - 1] >= 'a' && s[n - 1] <= 'z') || (s[n - 1] >= 'A' && s[n - 1] <= 'Z'));
}

static int parse_offset(const char *s, int64_t *ms)
{
    int neg = s[0] == '-';
    if (!has_unit(s) || dn_config_parse_duration(s + (neg || s[0] == '+'), ms) < 0)
        return -1;
    if (neg)
        *ms = -*ms;
    return 0;
}

static int positive_duration(const char *s, int64_t *ms)
{
    return has_unit(s) && dn_config_parse_duration(s, ms) == 0 && *ms > 0 ? 0 : -1;
}

/* discount: {percent: 2, within: 7d, waive: [fees, interest]} */
static int load_discount(loader_t *l, yaml_node_t *n, const char *where, stage_t *st)
{
    static const char *const keys[] = {"percent", "within", "waive", NULL};
    char field[320];
    snprintf(field, sizeof(field), "%s.discount", where);
    if (check_keys(l, n, field, keys) < 0)
        return -1;
    yaml_node_t *pct = map_get(l, n, "percent"), *within = map_get(l, n, "within"), *waive = map_get(l, n, "waive");
    snprintf(field, sizeof(field), "%s.discount.percent", where);
    if (!pct)
        return fail(l, n, field, "required");
    if (load_e4(l, pct, field, 100, &st->discount_percent_e4) < 0)
        return -1;
    if (st->discount_percent_e4 <= 0)
        return fail(l, pct, field, "expected more than 0 %");
    snprintf(field, sizeof(field), "%s.discount.within", where);
    if (!within)
        return fail(l, n, field, "required");
    if (positive_duration(scalar(within), &st->discount_within_ms) < 0)
        return fail(l, within, field, "expected a positive duration such as 7d");
    if (waive) {
        snprintf(field, sizeof(field), "%s.discount.waive", where);
        if (waive->type != YAML_SEQUENCE_NODE)
            return fail(l, waive, field, "expected a list of fees, interest");
        for (yaml_node_item_t *it = waive->data.sequence.items.start; it < waive->data.sequence.items.top; it++) {
            yaml_node_t *wn = yaml_document_get_node(&l->doc, *it);
            const char *w = scalar(wn);
            if (w && strcmp(w, "fees") == 0)
                st->discount_waive_fees = 1;
            else if (w && strcmp(w, "interest") == 0)
                st->discount_waive_interest = 1;
            else
                return fail(l, wn, field, "expected fees or interest");
        }
    }
    return 0;
}

/* variants: {a: 50, b: 50}: names (letters, digits, _ and -) with whole percents adding up
 * to 100, at most POLICY_MAX_VARIANTS. */
static int load_variants(loader_t *l, yaml_node_t *n, const char *where, stage_t *st)
{
    char field[300];
    snprintf(field, sizeof(field), "%s.variants", where);
    if (n->type != YAML_MAPPING_NODE)
        return fail(l, n, field, "expected a mapping of variant name to percent, such as {a: 50, b: 50}");
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (cnt < 2 || cnt > POLICY_MAX_VARIANTS)
        return fail(l, n, field, "expected 2 to 8 variants");
    int64_t sum = 0;
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_pair_t *pr = &n->data.mapping.pairs.start[i];
        yaml_node_t *kn = yaml_document_get_node(&l->doc, pr->key), *vn = yaml_document_get_node(&l->doc, pr->value);
        const char *name = scalar(kn);
        int ok = name && *name && strlen(name) <= 32;
        for (const char *p = name; ok && *p; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                 (*p == '-' && p[1] != '-' && p != name);
        if (!ok)
            return fail(l, kn, field, "a variant name is 1-32 letters, digits, _ or single -");
        for (size_t k = 0; k < i; k++)
            if (strcmp(st->variant_names[k], name) == 0)
                return fail(l, kn, field, "variant named twice");
        int64_t w = 0;
        if (parse_count(scalar(vn), 100, &w) < 0 || w < 1)
            return fail(l, vn, field, "a variant's share is a whole percent from 1 to 100");
        st->variant_names[i] = strdup(name);
        st->variant_weights[i] = (int)w;
        st->nvariants = i + 1;
        sum += w;
    }
    if (sum != 100)
        return fail(l, n, field, "the variants' shares add up to 100");
    return 0;
}

static int load_stage(loader_t *l, yaml_node_t *n, const char *where, stage_t *st)
{
    static const char *const keys[] = {"name", "offset",   "channels", "template", "action",
                                       "fee",  "discount", "variants", NULL};
    if (check_keys(l, n, where, keys) < 0 || req_string(l, n, "name", where, &st->name) < 0)
        return -1;
    char field[256];
    snprintf(field, sizeof(field), "%s.offset", where);
    yaml_node_t *off = map_get(l, n, "offset");
    if (!off)
        return fail(l, n, field, "required");
    if (!scalar(off) || parse_offset(scalar(off), &st->offset_ms) < 0)
        return fail(l, off, field, "expected a duration such as 3d, -2d, 36h, 30m or 45s");
    snprintf(field, sizeof(field), "%s.channels", where);
    if (load_channel_list(l, map_get(l, n, "channels"), field, st->channels, &st->nchannels) < 0)
        return -1;
    yaml_node_t *fee = map_get(l, n, "fee");
    if (fee) {
        static const char *const fee_keys[] = {"fixed", "percent", NULL};
        snprintf(field, sizeof(field), "%s.fee", where);
        if (check_keys(l, fee, field, fee_keys) < 0)
            return -1;
        yaml_node_t *fixed = map_get(l, fee, "fixed"), *pct = map_get(l, fee, "percent");
        snprintf(field, sizeof(field), "%s.fee.fixed", where);
        if (fixed && load_money_map(l, fixed, field, &st->fee_fixed) < 0)
            return -1;
        snprintf(field, sizeof(field), "%s.fee.percent", where);
        if (pct && load_e4(l, pct, field, 100, &st->fee_percent_e4) < 0)
            return -1;
    }
    snprintf(field, sizeof(field), "%s", where);
    if (req_string(l, n, "template", field, &st->template_key) < 0)
        return -1;
    yaml_node_t *act = map_get(l, n, "action");
    if (act) {
        const char *a = scalar(act);
        for (size_t i = 0; a && i < sizeof(actions) / sizeof(actions[0]); i++)
            if (strcmp(a, actions[i]) == 0)
                st->action = strdup(a);
        snprintf(field, sizeof(field), "%s.action", where);
        if (!st->action)
            return fail(l, act, field, "expected final_notice, collections_handover or suspend_service");
        if (st->offset_ms < 0 && strcmp(st->action, "suspend_service") != 0)
            return fail(l, act, field, "final_notice and collections_handover need an offset of 0 or more");
    }
    yaml_node_t *disc = map_get(l, n, "discount");
    if (disc && load_discount(l, disc, where, st) < 0)
        return -1;
    yaml_node_t *var = map_get(l, n, "variants");
    if (var && load_variants(l, var, where, st) < 0)
        return -1;
    return 0;
}

/* A list of stages with increasing offsets (a policy's, or a plan's). */
static int load_stage_list(loader_t *l, yaml_node_t *stages, yaml_node_t *parent, const char *field, const char *empty,
                           stage_t **out, size_t *nout)
{
    if (!stages || stages->type != YAML_SEQUENCE_NODE)
        return fail(l, stages ? stages : parent, field, "expected a list of stages");
    size_t cnt = (size_t)(stages->data.sequence.items.top - stages->data.sequence.items.start);
    if (cnt == 0)
        return fail(l, stages, field, empty);
    *out = calloc(cnt, sizeof(**out));
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *sn = yaml_document_get_node(&l->doc, stages->data.sequence.items.start[i]);
        char sw[300];
        snprintf(sw, sizeof(sw), "%s[%zu]", field, i);
        *nout = i + 1;
        if (load_stage(l, sn, sw, &(*out)[i]) < 0)
            return -1;
        if (i > 0 && (*out)[i].offset_ms <= (*out)[i - 1].offset_ms)
            return fail(l, sn, sw, "offsets must increase from stage to stage");
    }
    return 0;
}

static int load_promise(loader_t *l, yaml_node_t *n, const char *where, promise_policy_t *pp)
{
    static const char *const keys[] = {"grace", "max_days", "max_per_case", NULL};
    char field[320];
    yaml_node_t *v;
    int64_t x;
    snprintf(field, sizeof(field), "%s.promise", where);
    if (check_keys(l, n, field, keys) < 0)
        return -1;
    if ((v = map_get(l, n, "grace"))) {
        snprintf(field, sizeof(field), "%s.promise.grace", where);
        if (!has_unit(scalar(v)) || dn_config_parse_duration(scalar(v), &pp->grace_ms) < 0 ||
            pp->grace_ms % RULES_DAY_MS != 0)
            return fail(l, v, field, "expected whole days such as 0d or 2d");
    }
    if ((v = map_get(l, n, "max_days"))) {
        snprintf(field, sizeof(field), "%s.promise.max_days", where);
        if (parse_count(scalar(v), 3650, &x) < 0 || x < 1)
            return fail(l, v, field, "expected a whole number of days (1 to 3650)");
        pp->max_days = (int32_t)x;
    }
    if ((v = map_get(l, n, "max_per_case"))) {
        snprintf(field, sizeof(field), "%s.promise.max_per_case", where);
        if (parse_count(scalar(v), 100, &x) < 0)
            return fail(l, v, field, "expected a whole number (0 to 100; 0 = no promises)");
        pp->max_per_case = (int32_t)x;
    }
    return 0;
}

void dn_policy_voice_defaults(voice_policy_t *vp)
{
    memset(vp, 0, sizeof(*vp));
    vp->promise_days = 7;
    vp->verify_days = 3;
    vp->retries = 2;
    vp->retry_after_ms = 2 * 3600 * 1000LL;
    vp->max_attempts_per_7d = 7;
    vp->quiet_after_answer_ms = 7 * RULES_DAY_MS;
    for (int d = 0; d < 7; d++) {
        vp->hours_start[d] = 8 * 60;
        vp->hours_end[d] = 21 * 60;
    }
}

/* "HH:MM-HH:MM" (start before end, within a day) or "none": the start and end minutes, or -1. */
static int parse_window(const char *s, int16_t *start, int16_t *end)
{
    int h1, m1, h2, m2, used = 0;
    if (s && strcmp(s, "none") == 0) {
        *start = *end = -1;
        return 0;
    }
    if (!s || sscanf(s, "%2d:%2d-%2d:%2d%n", &h1, &m1, &h2, &m2, &used) != 4 || s[used] || h1 > 23 || m1 > 59 ||
        h2 > 24 || m2 > 59 || (h2 == 24 && m2 != 0) || h1 * 60 + m1 >= h2 * 60 + m2)
        return -1;
    *start = (int16_t)(h1 * 60 + m1);
    *end = (int16_t)(h2 * 60 + m2);
    return 0;
}

/* calling_hours: "08:00-21:00" for every day, or a map of default/mon/.../sun to a window
 * or none. */
static int load_calling_hours(loader_t *l, yaml_node_t *v, const char *where, voice_policy_t *vp)
{
    static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    static const char *const keys[] = {"default", "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};
    static const char *const hint = "expected HH:MM-HH:MM (start before end) or none";
    char field[320];
    snprintf(field, sizeof(field), "%s.voice.calling_hours", where);
    vp->calling_hours_set = 1;
    if (v->type == YAML_SCALAR_NODE) {
        int16_t a, b;
        if (parse_window(scalar(v), &a, &b) < 0)
            return fail(l, v, field, "expected HH:MM-HH:MM (start before end), none, or a map by day (mon: ...)");
        for (int d = 0; d < 7; d++) {
            vp->hours_start[d] = a;
            vp->hours_end[d] = b;
        }
        return 0;
    }
    if (v->type != YAML_MAPPING_NODE || check_keys(l, v, field, keys) < 0)
        return v->type != YAML_MAPPING_NODE ? fail(l, v, field, "expected HH:MM-HH:MM or a map by day") : -1;
    yaml_node_t *x = map_get(l, v, "default");
    if (x && parse_window(scalar(x), &vp->hours_start[0], &vp->hours_end[0]) < 0) {
        snprintf(field, sizeof(field), "%s.voice.calling_hours.default", where);
        return fail(l, x, field, hint);
    }
    for (int d = 1; d < 7; d++) {
        vp->hours_start[d] = vp->hours_start[0];
        vp->hours_end[d] = vp->hours_end[0];
    }
    for (int d = 0; d < 7; d++) {
        if (!(x = map_get(l, v, days[d])))
            continue;
        snprintf(field, sizeof(field), "%s.voice.calling_hours.%s", where, days[d]);
        if (parse_window(scalar(x), &vp->hours_start[d], &vp->hours_end[d]) < 0)
            return fail(l, x, field, hint);
    }
    return 0;
}

static int load_voice(loader_t *l, yaml_node_t *n, const char *where, voice_policy_t *vp)
{
    static const char *const keys[] = {"promise_days",  "verify_days",         "retries",
                                       "retry_after",   "max_attempts_per_7d", "quiet_after_answer",
                                       "calling_hours", "time_zone",           NULL};
    char field[320];
    yaml_node_t *v;
    int64_t x;
    snprintf(field, sizeof(field), "%s.voice", where);
    if (check_keys(l, n, field, keys) < 0)
        return -1;
    if ((v = map_get(l, n, "promise_days"))) {
        snprintf(field, sizeof(field), "%s.voice.promise_days", where);
        if (parse_count(scalar(v), 365, &x) < 0 || x < 1)
            return fail(l, v, field, "expected a whole number of days (1 to 365)");
        vp->promise_days = (int32_t)x;
    }
    if ((v = map_get(l, n, "verify_days"))) {
        snprintf(field, sizeof(field), "%s.voice.verify_days", where);
        if (parse_count(scalar(v), 90, &x) < 0 || x < 1)
            return fail(l, v, field, "expected a whole number of days (1 to 90)");
        vp->verify_days = (int32_t)x;
    }
    if ((v = map_get(l, n, "retries"))) {
        snprintf(field, sizeof(field), "%s.voice.retries", where);
        if (parse_count(scalar(v), 10, &x) < 0)
            return fail(l, v, field, "expected a whole number (0 to 10; 0 = no second call)");
        vp->retries = (int32_t)x;
    }
    if ((v = map_get(l, n, "retry_after"))) {
        snprintf(field, sizeof(field), "%s.voice.retry_after", where);
        if (positive_duration(scalar(v), &vp->retry_after_ms) < 0)
            return fail(l, v, field, "expected a positive duration such as 2h");
    }
    if ((v = map_get(l, n, "max_attempts_per_7d"))) {
        snprintf(field, sizeof(field), "%s.voice.max_attempts_per_7d", where);
        if (parse_count(scalar(v), 50, &x) < 0 || x < 1)
            return fail(l, v, field, "expected a whole number (1 to 50)");
        vp->max_attempts_per_7d = (int32_t)x;
    }
    if ((v = map_get(l, n, "quiet_after_answer"))) {
        snprintf(field, sizeof(field), "%s.voice.quiet_after_answer", where);
        if (!has_unit(scalar(v)) || dn_config_parse_duration(scalar(v), &vp->quiet_after_answer_ms) < 0)
            return fail(l, v, field, "expected a duration such as 7d (0d: none)");
    }
    if ((v = map_get(l, n, "calling_hours")) && load_calling_hours(l, v, where, vp) < 0)
        return -1;
    if ((v = map_get(l, n, "time_zone"))) {
        snprintf(field, sizeof(field), "%s.voice.time_zone", where);
        const char *tz = scalar(v);
        if (!tz || strlen(tz) >= sizeof(vp->time_zone) || !dn_tz_valid(tz))
            return fail(l, v, field, "expected an IANA time zone such as Europe/Berlin");
        snprintf(vp->time_zone, sizeof(vp->time_zone), "%s", tz);
    }
    return 0;
}

static int load_plan(loader_t *l, yaml_node_t *n, const char *where, plan_policy_t *pl)
{
    static const char *const keys[] = {"max_instalments", "min_first", "interval",         "fee",    "interest",
                                       "tolerance_days",  "on_break",  "auto_approve_max", "stages", NULL};
    char field[320];
    yaml_node_t *v;
    int64_t x;
    snprintf(field, sizeof(field), "%s.plan", where);
    if (check_keys(l, n, field, keys) < 0)
        return -1;
    pl->offered = 1;
    if ((v = map_get(l, n, "max_instalments"))) {
        snprintf(field, sizeof(field), "%s.plan.max_instalments", where);
        if (parse_count(scalar(v), 120, &x) < 0 || x < 2)
            return fail(l, v, field, "expected a whole number (2 to 120)");
        pl->max_instalments = (int32_t)x;
    }
    snprintf(field, sizeof(field), "%s.plan.min_first", where);
    if ((v = map_get(l, n, "min_first")) && load_money_map(l, v, field, &pl->min_first) < 0)
        return -1;
    snprintf(field, sizeof(field), "%s.plan.fee", where);
    if ((v = map_get(l, n, "fee")) && load_money_map(l, v, field, &pl->fee) < 0)
        return -1;
    if ((v = map_get(l, n, "interval"))) {
        snprintf(field, sizeof(field), "%s.plan.interval", where);
        if (positive_duration(scalar(v), &pl->interval_ms) < 0)
            return fail(l, v, field, "expected a positive duration such as 31d");
    }
    if ((v = map_get(l, n, "interest"))) {
        static const char *const ikeys[] = {"annual_rate", NULL};
        snprintf(field, sizeof(field), "%s.plan.interest", where);
        if (check_keys(l, v, field, ikeys) < 0)
            return -1;
        yaml_node_t *rate = map_get(l, v, "annual_rate");
        snprintf(field, sizeof(field), "%s.plan.interest.annual_rate", where);
        if (!rate)
            return fail(l, v, field, "required");
        if (load_e4(l, rate, field, 1000, &pl->interest_rate_e4) < 0)
            return -1;
    }
    if ((v = map_get(l, n, "tolerance_days"))) {
        snprintf(field, sizeof(field), "%s.plan.tolerance_days", where);
        if (parse_count(scalar(v), 365, &x) < 0)
            return fail(l, v, field, "expected a whole number of days (0 to 365)");
        pl->tolerance_days = (int32_t)x;
    }
    if ((v = map_get(l, n, "on_break"))) {
        snprintf(field, sizeof(field), "%s.plan.on_break", where);
        const char *b = scalar(v);
        if (b && strcmp(b, "resume") == 0)
            pl->on_break = PLAN_BREAK_RESUME;
        else if (b && strcmp(b, "final_notice") == 0)
            pl->on_break = PLAN_BREAK_FINAL_NOTICE;
        else
            return fail(l, v, field, "expected resume or final_notice");
    }
    if ((v = map_get(l, n, "auto_approve_max"))) {
        snprintf(field, sizeof(field), "%s.plan.auto_approve_max", where);
        if (parse_count(scalar(v), 120, &x) < 0)
            return fail(l, v, field, "expected a whole number (0 = every portal request waits for a collector)");
        pl->auto_approve_max = (int32_t)x;
    }
    if ((v = map_get(l, n, "stages"))) {
        snprintf(field, sizeof(field), "%s.plan.stages", where);
        if (load_stage_list(l, v, n, field, "a plan's stages list needs at least one stage", &pl->stages,
                            &pl->nstages) < 0)
            return -1;
        for (size_t i = 0; i < pl->nstages; i++) {
            snprintf(field, sizeof(field), "%s.plan.stages[%zu]", where, i);
            if (pl->stages[i].action || pl->stages[i].discount_percent_e4)
                return fail(l, v, field, "an instalment reminder takes no action and no discount");
        }
    }
    return 0;
}

static int load_retries(loader_t *l, yaml_node_t *n, const char *where, retry_policy_t *r)
{
    static const char *const keys[] = {"schedule", "hard_decline_codes", "update_template", "result_wait", NULL};
    char field[512];
    snprintf(field, sizeof(field), "%s.retries", where);
    if (check_keys(l, n, field, keys) < 0)
        return -1;
    yaml_node_t *sch = map_get(l, n, "schedule");
    snprintf(field, sizeof(field), "%s.retries.schedule", where);
    size_t cnt = sch && sch->type == YAML_SEQUENCE_NODE
                     ? (size_t)(sch->data.sequence.items.top - sch->data.sequence.items.start)
                     : 0;
    if (!sch || sch->type != YAML_SEQUENCE_NODE || cnt == 0 || cnt > POLICY_MAX_RETRIES)
        return fail(l, sch ? sch : n, field,
                    "expected a list of 1 to 16 durations after the failed charge, e.g. [1d, 3d]");
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *dn = yaml_document_get_node(&l->doc, sch->data.sequence.items.start[i]);
        int64_t ms;
        if (!has_unit(scalar(dn)) || dn_config_parse_duration(scalar(dn), &ms) < 0 || ms <= 0)
            return fail(l, dn, field, "expected a positive duration such as 1d, 36h or 30m");
        if (i > 0 && ms <= r->schedule_ms[i - 1])
            return fail(l, dn, field, "retry times must increase");
        r->schedule_ms[i] = ms;
        r->nschedule = i + 1;
    }
    yaml_node_t *codes = map_get(l, n, "hard_decline_codes");
    snprintf(field, sizeof(field), "%s.retries.hard_decline_codes", where);
    if (codes) {
        if (codes->type != YAML_SEQUENCE_NODE)
            return fail(l, codes, field, "expected a list of decline codes");
        cnt = (size_t)(codes->data.sequence.items.top - codes->data.sequence.items.start);
        r->hard_decline_codes = calloc(cnt ? cnt : 1, sizeof(char *));
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_t *cn = yaml_document_get_node(&l->doc, codes->data.sequence.items.start[i]);
            if (!scalar(cn) || !*scalar(cn))
                return fail(l, cn, field, "expected a decline code");
            r->hard_decline_codes[r->nhard++] = strdup(scalar(cn));
        }
    } else {
        cnt = sizeof(default_hard_declines) / sizeof(default_hard_declines[0]);
        r->hard_decline_codes = calloc(cnt, sizeof(char *));
        for (size_t i = 0; i < cnt; i++)
            r->hard_decline_codes[r->nhard++] = strdup(default_hard_declines[i]);
    }
    yaml_node_t *tpl = map_get(l, n, "update_template");
    snprintf(field, sizeof(field), "%s.retries.update_template", where);
    if (tpl && (!scalar(tpl) || !*scalar(tpl)))
        return fail(l, tpl, field, "expected a template key");
    r->update_template = strdup(tpl ? scalar(tpl) : "update_payment_method");
    yaml_node_t *wait = map_get(l, n, "result_wait");
    snprintf(field, sizeof(field), "%s.retries.result_wait", where);
    r->result_wait_ms = 86400000;
    if (wait && (!has_unit(scalar(wait)) || dn_config_parse_duration(scalar(wait), &r->result_wait_ms) < 0))
        return fail(l, wait, field, "expected a duration such as 1d or 12h");
    return 0;
}

static int load_card_expiry(loader_t *l, yaml_node_t *n, const char *where, card_expiry_policy_t *ce)
{
    static const char *const keys[] = {"notices", "channels", "template", NULL};
    char field[320];
    yaml_node_t *v;
    snprintf(field, sizeof(field), "%s.card_expiry", where);
    if (check_keys(l, n, field, keys) < 0)
        return -1;
    if ((v = map_get(l, n, "notices"))) {
        snprintf(field, sizeof(field), "%s.card_expiry.notices", where);
        if (v->type != YAML_SEQUENCE_NODE)
            return fail(l, v, field, "expected a list of durations before the expiry, such as [30d, 7d]");
        ce->nbefore = 0;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *d = yaml_document_get_node(&l->doc, *it);
            int64_t ms;
            if (ce->nbefore == POLICY_MAX_CARD_NOTICES)
                return fail(l, d, field, "at most 8 notices");
            if (!has_unit(scalar(d)) || dn_config_parse_duration(scalar(d), &ms) < 0 || ms % RULES_DAY_MS != 0 ||
                ms <= 0 || ms > 365 * RULES_DAY_MS)
                return fail(l, d, field, "expected whole days before the expiry, 1d to 365d");
            if (ce->nbefore > 0 && ms >= ce->before_ms[ce->nbefore - 1])
                return fail(l, d, field, "list the notices from the earliest (longest before the expiry) on");
            ce->before_ms[ce->nbefore++] = ms;
        }
    }
    snprintf(field, sizeof(field), "%s.card_expiry.channels", where);
    if ((v = map_get(l, n, "channels")) && load_channel_list(l, v, field, ce->channels, &ce->nchannels) < 0)
        return -1;
    if ((v = map_get(l, n, "template"))) {
        snprintf(field, sizeof(field), "%s.card_expiry.template", where);
        if (!scalar(v) || !*scalar(v))
            return fail(l, v, field, "expected a template key");
        free(ce->template_key);
        ce->template_key = strdup(scalar(v));
    }
    return 0;
}

static int load_policy_options(loader_t *l, yaml_node_t *n, const char *where, policy_t *p)
{
    char field[512];
    yaml_node_t *v;
    int64_t x;
    if ((v = map_get(l, n, "grace_days"))) {
        snprintf(field, sizeof(field), "%s.grace_days", where);
        if (parse_count(scalar(v), 3650, &x) < 0)
            return fail(l, v, field, "expected a whole number of days (0 to 3650)");
        p->grace_days = (int32_t)x;
    }
    snprintf(field, sizeof(field), "%s.min_amount", where);
    if ((v = map_get(l, n, "min_amount")) && load_money_map(l, v, field, &p->min_amount) < 0)
        return -1;
    snprintf(field, sizeof(field), "%s.tolerance", where);
    if ((v = map_get(l, n, "tolerance")) && load_money_map(l, v, field, &p->tolerance) < 0)
        return -1;
    if ((v = map_get(l, n, "interest"))) {
        static const char *const keys[] = {"annual_rate", NULL};
        snprintf(field, sizeof(field), "%s.interest", where);
        if (check_keys(l, v, field, keys) < 0)
            return -1;
        yaml_node_t *rate = map_get(l, v, "annual_rate");
        snprintf(field, sizeof(field), "%s.interest.annual_rate", where);
        if (!rate)
            return fail(l, v, field, "required");
        if (load_e4(l, rate, field, 1000, &p->interest_rate_e4) < 0)
            return -1;
    }
    if ((v = map_get(l, n, "catch_up"))) {
        snprintf(field, sizeof(field), "%s.catch_up", where);
        const char *c = scalar(v);
        if (c && strcmp(c, "latest") == 0)
            p->catch_up = CATCH_UP_LATEST;
        else if (c && strcmp(c, "each") == 0)
            p->catch_up = CATCH_UP_EACH;
        else
            return fail(l, v, field, "expected latest or each");
    }
    snprintf(field, sizeof(field), "%s.channel_order", where);
    if ((v = map_get(l, n, "channel_order")) &&
        load_channel_list(l, v, field, p->channel_order, &p->nchannel_order) < 0)
        return -1;
    if ((v = map_get(l, n, "retries")) && load_retries(l, v, where, &p->retries) < 0)
        return -1;
    p->promise.grace_ms = 2 * RULES_DAY_MS;
    p->promise.max_days = 30;
    p->promise.max_per_case = 3;
    if ((v = map_get(l, n, "promise")) && load_promise(l, v, where, &p->promise) < 0)
        return -1;
    p->plan.max_instalments = 12;
    p->plan.interval_ms = 31 * RULES_DAY_MS;
    p->plan.tolerance_days = 5;
    p->plan.auto_approve_max = 3;
    if ((v = map_get(l, n, "plan")) && load_plan(l, v, where, &p->plan) < 0)
        return -1;
    if ((v = map_get(l, n, "consolidate"))) {
        snprintf(field, sizeof(field), "%s.consolidate", where);
        const char *c = scalar(v);
        if (c && strcmp(c, "invoice") == 0)
            p->consolidate = CONSOLIDATE_INVOICE;
        else if (c && strcmp(c, "customer") == 0)
            p->consolidate = CONSOLIDATE_CUSTOMER;
        else
            return fail(l, v, field, "expected invoice or customer");
    }
    p->consolidate_window_ms = 3600000;
    if ((v = map_get(l, n, "consolidate_window"))) {
        snprintf(field, sizeof(field), "%s.consolidate_window", where);
        if (!has_unit(scalar(v)) || dn_config_parse_duration(scalar(v), &p->consolidate_window_ms) < 0 ||
            p->consolidate_window_ms > 12 * 3600000LL)
            return fail(l, v, field, "expected a duration such as 1h or 30m, at most 12h");
    }
    card_expiry_policy_t *ce = &p->card_expiry;
    ce->before_ms[0] = 30 * RULES_DAY_MS;
    ce->before_ms[1] = 7 * RULES_DAY_MS;
    ce->nbefore = 2;
    ce->channels[0] = CH_EMAIL;
    ce->channels[1] = CH_SMS;
    ce->nchannels = 2;
    ce->template_key = strdup("card_expiry");
    if ((v = map_get(l, n, "card_expiry")) && load_card_expiry(l, v, where, ce) < 0)
        return -1;
    dn_policy_voice_defaults(&p->voice);
    if ((v = map_get(l, n, "voice")) && load_voice(l, v, where, &p->voice) < 0)
        return -1;
    return 0;
}

static int load_policy(loader_t *l, const char *name, yaml_node_t *n, const char *where, policy_t *p)
{
    static const char *const keys[] = {"stages",      "grace_days",         "min_amount",  "tolerance", "interest",
                                       "catch_up",    "channel_order",      "retries",     "promise",   "plan",
                                       "consolidate", "consolidate_window", "card_expiry", "voice",     NULL};
    p->name = strdup(name);
    p->channel_order[0] = CH_EMAIL;
    p->channel_order[1] = CH_SMS;
    p->channel_order[2] = CH_LETTER;
    p->nchannel_order = 3;
    if (check_keys(l, n, where, keys) < 0 || load_policy_options(l, n, where, p) < 0)
        return -1;
    char field[256];
    snprintf(field, sizeof(field), "%s.stages", where);
    if (load_stage_list(l, map_get(l, n, "stages"), n, field, "a policy needs at least one stage", &p->stages,
                        &p->nstages) < 0)
        return -1;
    return 0;
}

static const policy_t *find_in(const tenant_policies_t *t, const char *name)
{
    for (size_t i = 0; t && name && i < t->npolicies; i++)
        if (strcmp(t->policies[i].name, name) == 0)
            return &t->policies[i];
    return NULL;
}

/* strategy.rules[i]: {when: COND, [over|at_least|below: N or {CUR: minor}], points: N} */
static int load_prio_rule(loader_t *l, yaml_node_t *n, const char *where, prio_rule_t *r)
{
    static const char *const keys[] = {"when", "over", "at_least", "below", "points", NULL};
    static const char *const cmp_keys[] = {NULL, "over", "at_least", "below"};
    char field[400];
    if (check_keys(l, n, where, keys) < 0)
        return -1;
    yaml_node_t *when = map_get(l, n, "when"), *points = map_get(l, n, "points");
    snprintf(field, sizeof(field), "%s.when", where);
    if (!when)
        return fail(l, n, field, "required");
    int found = -1;
    for (int c = 0; scalar(when) && c < PRIO_COND_COUNT; c++)
        if (strcmp(scalar(when), dn_priority_cond_name((prio_cond_t)c)) == 0)
            found = c;
    if (found < 0)
        return fail(l, when, field,
                    "expected broken_promise, callback_requested, disputed, days_overdue, amount, stage or "
                    "risk_score");
    r->when = (prio_cond_t)found;
    snprintf(field, sizeof(field), "%s.points", where);
    const char *ps = scalar(points);
    int64_t v;
    if (!points)
        return fail(l, n, field, "required");
    if (!ps || parse_count(ps + (ps[0] == '-'), 1000000, &v) < 0)
        return fail(l, points, field, "expected a whole number of points (-1000000 to 1000000)");
    r->points = (int32_t)(ps[0] == '-' ? -v : v);
    yaml_node_t *threshold = NULL;
    for (int c = PRIO_CMP_OVER; c <= PRIO_CMP_BELOW; c++) {
        yaml_node_t *t = map_get(l, n, cmp_keys[c]);
        if (!t)
            continue;
        if (threshold)
            return fail(l, t, where, "give one of over, at_least, below");
        threshold = t;
        r->cmp = (prio_cmp_t)c;
    }
    int boolean = r->when == PRIO_BROKEN_PROMISE || r->when == PRIO_CALLBACK || r->when == PRIO_DISPUTED;
    if (boolean && threshold)
        return fail(l, threshold, where, "this condition takes no over, at_least or below");
    if (!boolean && !threshold)
        return fail(l, n, where, "this condition needs one of over, at_least, below");
    if (boolean)
        return 0;
    snprintf(field, sizeof(field), "%s.%s", where, cmp_keys[r->cmp]);
    if (r->when == PRIO_AMOUNT) {
        r->amount = calloc(1, sizeof(*r->amount));
        return load_money_map(l, threshold, field, r->amount);
    }
    int64_t max = r->when == PRIO_RISK_SCORE ? 100 : r->when == PRIO_STAGE ? 1000 : 36500;
    if (parse_count(scalar(threshold), max, &r->value) < 0) {
        char msg[96];
        snprintf(msg, sizeof(msg), "expected a whole number from 0 to %lld", (long long)max);
        return fail(l, threshold, field, msg);
    }
    return 0;
}

/* tenants.T.strategy: {min_amount, include_not_due, rules} (dn_priority.h) */
static int load_strategy(loader_t *l, yaml_node_t *n, const char *tenant_where, strategy_t *s)
{
    static const char *const keys[] = {"min_amount", "include_not_due", "rules", NULL};
    char where[300], field[400];
    snprintf(where, sizeof(where), "%s.strategy", tenant_where);
    if (check_keys(l, n, where, keys) < 0)
        return -1;
    s->defined = 1;
    yaml_node_t *v;
    if ((v = map_get(l, n, "min_amount"))) {
        snprintf(field, sizeof(field), "%s.min_amount", where);
        s->min_amount = calloc(1, sizeof(*s->min_amount));
        if (load_money_map(l, v, field, s->min_amount) < 0)
            return -1;
    }
    if ((v = map_get(l, n, "include_not_due"))) {
        snprintf(field, sizeof(field), "%s.include_not_due", where);
        const char *b = scalar(v);
        if (b && strcmp(b, "true") == 0)
            s->include_not_due = 1;
        else if (!b || strcmp(b, "false") != 0)
            return fail(l, v, field, "expected true or false");
    }
    v = map_get(l, n, "rules");
    snprintf(field, sizeof(field), "%s.rules", where);
    if (!v)
        return 0;
    if (v->type != YAML_SEQUENCE_NODE)
        return fail(l, v, field, "expected a list of rules such as {when: days_overdue, over: 60, points: 30}");
    size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    s->rules = calloc(cnt ? cnt : 1, sizeof(*s->rules));
    for (size_t i = 0; i < cnt; i++) {
        char rw[420];
        snprintf(rw, sizeof(rw), "%s[%zu]", field, i);
        s->nrules = i + 1;
        if (load_prio_rule(l, yaml_document_get_node(&l->doc, v->data.sequence.items.start[i]), rw, &s->rules[i]) < 0)
            return -1;
    }
    return 0;
}

/* tracks: [{min: 70, policy: gentle}, {max: 29, policy: strict}]: score bands (inclusive,
 * 0-100, min defaults to 0 and max to 100) that do not overlap, each naming a policy of the
 * tenant. */
static int load_tracks(loader_t *l, yaml_node_t *n, const char *where, tenant_policies_t *t)
{
    static const char *const keys[] = {"min", "max", "policy", NULL};
    char field[320];
    snprintf(field, sizeof(field), "%s.tracks", where);
    if (n->type != YAML_SEQUENCE_NODE)
        return fail(l, n, field, "expected a list of {min, max, policy} score bands");
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    t->tracks = calloc(cnt ? cnt : 1, sizeof(*t->tracks));
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *bn = yaml_document_get_node(&l->doc, n->data.sequence.items.start[i]);
        char bw[340];
        snprintf(bw, sizeof(bw), "%s[%zu]", field, i);
        if (check_keys(l, bn, bw, keys) < 0)
            return -1;
        policy_track_t *tr = &t->tracks[i];
        tr->min = 0;
        tr->max = 100;
        t->ntracks = i + 1;
        const char *const bounds[] = {"min", "max"};
        for (size_t b = 0; b < 2; b++) {
            yaml_node_t *vn = map_get(l, bn, bounds[b]);
            int64_t v = 0;
            if (!vn)
                continue;
            if (parse_count(scalar(vn), 100, &v) < 0) {
                char bf[360];
                snprintf(bf, sizeof(bf), "%s.%s", bw, bounds[b]);
                return fail(l, vn, bf, "expected a whole score from 0 to 100");
            }
            *(b == 0 ? &tr->min : &tr->max) = (int)v;
        }
        if (!map_get(l, bn, "min") && !map_get(l, bn, "max"))
            return fail(l, bn, bw, "a band needs min, max or both");
        if (tr->min > tr->max)
            return fail(l, bn, bw, "min is above max");
        if (req_string(l, bn, "policy", bw, &tr->policy) < 0)
            return -1;
        if (!find_in(t, tr->policy))
            return fail(l, map_get(l, bn, "policy"), bw, "policy names no policy of this tenant");
        for (size_t k = 0; k < i; k++)
            if (tr->min <= t->tracks[k].max && t->tracks[k].min <= tr->max)
                return fail(l, bn, bw, "band overlaps an earlier one");
    }
    return 0;
}

/* risk: {holdout: 0.05}: the share of customers kept on the static policy (0 to 0.5, at
 * most 4 decimals). */
static int load_risk(loader_t *l, yaml_node_t *n, const char *where, tenant_policies_t *t)
{
    static const char *const keys[] = {"holdout", NULL};
    char field[300];
    snprintf(field, sizeof(field), "%s.risk", where);
    if (check_keys(l, n, field, keys) < 0)
        return -1;
    yaml_node_t *h = map_get(l, n, "holdout");
    if (!h)
        return 0;
    snprintf(field, sizeof(field), "%s.risk.holdout", where);
    const char *v = scalar(h);
    char *end = NULL;
    double share = v ? strtod(v, &end) : -1;
    const char *dot = v ? strchr(v, '.') : NULL;
    if (!v || !*v || *end || !(share >= 0 && share <= 0.5) || (dot && strlen(dot + 1) > 4))
        return fail(l, h, field, "expected a share of the customers from 0 to 0.5, such as 0.05");
    t->holdout_e4 = (int)lround(share * 10000);
    return 0;
}

static int load_tenant(loader_t *l, const char *tenant, yaml_node_t *n, tenant_policies_t *t)
{
    static const char *const keys[] = {"default_policy", "segments", "tracks",      "policies",
                                       "strategy",       "risk",     "payment_url", NULL};
    char where[256];
    snprintf(where, sizeof(where), "tenants.%s", tenant);
    t->tenant = strdup(tenant);
    if (check_keys(l, n, where, keys) < 0 || req_string(l, n, "default_policy", where, &t->default_policy) < 0)
        return -1;
    yaml_node_t *pols = map_get(l, n, "policies");
    char field[300];
    snprintf(field, sizeof(field), "%s.policies", where);
    if (!pols || pols->type != YAML_MAPPING_NODE)
        return fail(l, pols ? pols : n, field, "expected a mapping of policy name to policy");
    size_t cnt = (size_t)(pols->data.mapping.pairs.top - pols->data.mapping.pairs.start);
    t->policies = calloc(cnt ? cnt : 1, sizeof(*t->policies));
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_pair_t *pr = &pols->data.mapping.pairs.start[i];
        const char *pname = scalar(yaml_document_get_node(&l->doc, pr->key));
        char pw[400];
        snprintf(pw, sizeof(pw), "%s.%s", field, pname ? pname : "?");
        if (pname && find_in(t, pname))
            return fail(l, yaml_document_get_node(&l->doc, pr->key), pw, "policy defined twice");
        t->npolicies = i + 1;
        if (load_policy(l, pname ? pname : "?", yaml_document_get_node(&l->doc, pr->value), pw, &t->policies[i]) < 0)
            return -1;
    }
    if (!find_in(t, t->default_policy))
        return fail(l, map_get(l, n, "default_policy"), where, "default_policy names no policy of this tenant");
    yaml_node_t *strategy = map_get(l, n, "strategy");
    if (strategy && load_strategy(l, strategy, where, &t->strategy) < 0)
        return -1;
    yaml_node_t *segs = map_get(l, n, "segments");
    if (segs) {
        snprintf(field, sizeof(field), "%s.segments", where);
        if (segs->type != YAML_MAPPING_NODE)
            return fail(l, segs, field, "expected a mapping of segment to policy name");
        cnt = (size_t)(segs->data.mapping.pairs.top - segs->data.mapping.pairs.start);
        t->segment_names = calloc(cnt ? cnt : 1, sizeof(char *));
        t->segment_policies = calloc(cnt ? cnt : 1, sizeof(char *));
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_pair_t *pr = &segs->data.mapping.pairs.start[i];
            yaml_node_t *vn = yaml_document_get_node(&l->doc, pr->value);
            const char *seg = scalar(yaml_document_get_node(&l->doc, pr->key)), *pol = scalar(vn);
            if (!seg || !pol || !find_in(t, pol))
                return fail(l, vn, field, "segment maps to a policy this tenant does not define");
            t->segment_names[i] = strdup(seg);
            t->segment_policies[i] = strdup(pol);
            t->nsegments = i + 1;
        }
    }
    yaml_node_t *tracks = map_get(l, n, "tracks");
    if (tracks && load_tracks(l, tracks, where, t) < 0)
        return -1;
    yaml_node_t *risk = map_get(l, n, "risk");
    if (risk && load_risk(l, risk, where, t) < 0)
        return -1;
    yaml_node_t *pay = map_get(l, n, "payment_url");
    if (pay) { /* dn_payment_url.h */
        char why[160];
        snprintf(field, sizeof(field), "%s.payment_url", where);
        const char *v = scalar(pay);
        if (!v || dn_payment_url_check(v, why, sizeof(why)) < 0)
            return fail(l, pay, field, v ? why : "expected a URL template");
        t->payment_url = strdup(v);
    }
    return 0;
}

void dn_policy_path(const char *file, const char *home, char *out, size_t size)
{
    if (file && file[0])
        snprintf(out, size, "%s", file);
    else
        snprintf(out, size, "%s/config/policies/default.yaml", home);
}

policy_set_t *dn_policy_set_load(const char *path, char *errstr, size_t errstr_size)
{
    loader_t l = {.path = path, .errstr = errstr, .errstr_size = errstr_size};
    policy_set_t *ps = calloc(1, sizeof(*ps));
    yaml_parser_t parser;
    int have_doc = 0, ok = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(errstr, errstr_size, "%s: cannot open", path);
        free(ps);
        return NULL;
    }
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &l.doc)) {
        snprintf(errstr, errstr_size, "%s:%zu: invalid YAML: %s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "cannot parse");
        goto out;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&l.doc);
    static const char *const keys[] = {"tenants", NULL};
    if (check_keys(&l, root, "(top level)", keys) < 0)
        goto out;
    yaml_node_t *tenants = map_get(&l, root, "tenants");
    if (!tenants || tenants->type != YAML_MAPPING_NODE) {
        fail(&l, tenants ? tenants : root, "tenants", "expected a mapping of tenant id to its policies");
        goto out;
    }
    size_t cnt = (size_t)(tenants->data.mapping.pairs.top - tenants->data.mapping.pairs.start);
    ps->tenants = calloc(cnt ? cnt : 1, sizeof(*ps->tenants));
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_pair_t *pr = &tenants->data.mapping.pairs.start[i];
        const char *tn = scalar(yaml_document_get_node(&l.doc, pr->key));
        for (size_t k = 0; tn && k < i; k++)
            if (strcmp(ps->tenants[k].tenant, tn) == 0) {
                fail(&l, yaml_document_get_node(&l.doc, pr->key), "tenants", "tenant defined twice");
                goto out;
            }
        ps->ntenants = i + 1;
        if (load_tenant(&l, tn ? tn : "?", yaml_document_get_node(&l.doc, pr->value), &ps->tenants[i]) < 0)
            goto out;
    }
    if (!dn_policy_select(ps, "default", NULL, NULL)) {
        fail(&l, tenants, "tenants.default", "required: the policies of tenants without an entry of their own");
        goto out;
    }
    ok = 1;
out:
    if (have_doc)
        yaml_document_delete(&l.doc);
    yaml_parser_delete(&parser);
    fclose(f);
    if (!ok) {
        dn_policy_set_destroy(ps);
        return NULL;
    }
    return ps;
}

static const tenant_policies_t *tenant_entry(const policy_set_t *ps, const char *tenant)
{
    const tenant_policies_t *def = NULL;
    for (size_t i = 0; i < ps->ntenants; i++) {
        if (strcmp(ps->tenants[i].tenant, tenant) == 0)
            return &ps->tenants[i];
        if (strcmp(ps->tenants[i].tenant, "default") == 0)
            def = &ps->tenants[i];
    }
    return def;
}

const policy_t *dn_policy_find(const policy_set_t *ps, const char *tenant, const char *name)
{
    return find_in(tenant_entry(ps, tenant), name);
}

const strategy_t *dn_policy_strategy(const policy_set_t *ps, const char *tenant)
{
    const tenant_policies_t *t = tenant_entry(ps, tenant);
    if (t && t->strategy.defined)
        return &t->strategy;
    t = tenant_entry(ps, "default");
    return t && t->strategy.defined ? &t->strategy : NULL;
}

const char *dn_policy_payment_url(const policy_set_t *ps, const char *tenant)
{
    const tenant_policies_t *t = tenant_entry(ps, tenant);
    if (t && t->payment_url)
        return t->payment_url;
    t = tenant_entry(ps, "default");
    return t ? t->payment_url : NULL;
}

const policy_t *dn_policy_select(const policy_set_t *ps, const char *tenant, const char *name, const char *segment)
{
    const tenant_policies_t *t = tenant_entry(ps, tenant);
    if (!t)
        return NULL;
    if (name)
        return find_in(t, name);
    for (size_t i = 0; segment && i < t->nsegments; i++)
        if (strcmp(t->segment_names[i], segment) == 0)
            return find_in(t, t->segment_policies[i]);
    return find_in(t, t->default_policy);
}

const char *dn_policy_track(const policy_set_t *ps, const char *tenant, int score)
{
    const tenant_policies_t *t = tenant_entry(ps, tenant);
    for (size_t i = 0; t && score >= 0 && i < t->ntracks; i++)
        if (score >= t->tracks[i].min && score <= t->tracks[i].max)
            return t->tracks[i].policy;
    return NULL;
}

int dn_policy_holdout(const policy_set_t *ps, const char *tenant, const char *customer)
{
    const tenant_policies_t *t = tenant_entry(ps, tenant);
    if (!t || t->holdout_e4 <= 0)
        return 0;
    const char *parts[] = {"holdout", tenant, customer};
    return (int)dn_risk_bucket(parts, 3) < t->holdout_e4;
}

const char *dn_policy_variant(const stage_t *st, const char *case_id)
{
    if (st->nvariants == 0)
        return NULL;
    const char *parts[] = {"variant", case_id, st->name};
    int b = (int)dn_risk_bucket(parts, 3), at = 0;
    for (size_t i = 0; i < st->nvariants; i++) {
        at += st->variant_weights[i] * 100;
        if (b < at)
            return st->variant_names[i];
    }
    return st->variant_names[st->nvariants - 1];
}

int dn_policy_has_tracks(const policy_set_t *ps, const char *tenant)
{
    const tenant_policies_t *t = tenant_entry(ps, tenant);
    return t && t->ntracks > 0;
}

static void free_stages(stage_t *stages, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        free(stages[k].name);
        free(stages[k].template_key);
        for (size_t v = 0; v < stages[k].nvariants; v++)
            free(stages[k].variant_names[v]);
        free(stages[k].action);
        free_money_map(&stages[k].fee_fixed);
    }
    free(stages);
}

void dn_policy_set_destroy(policy_set_t *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->ntenants; i++) {
        tenant_policies_t *t = &ps->tenants[i];
        for (size_t j = 0; j < t->npolicies; j++) {
            policy_t *p = &t->policies[j];
            free_stages(p->stages, p->nstages);
            free_stages(p->plan.stages, p->plan.nstages);
            free_money_map(&p->plan.min_first);
            free_money_map(&p->plan.fee);
            for (size_t k = 0; k < p->retries.nhard; k++)
                free(p->retries.hard_decline_codes[k]);
            free(p->retries.hard_decline_codes);
            free(p->retries.update_template);
            free(p->card_expiry.template_key);
            free_money_map(&p->min_amount);
            free_money_map(&p->tolerance);
            free(t->policies[j].name);
        }
        for (size_t j = 0; j < t->nsegments; j++) {
            free(t->segment_names[j]);
            free(t->segment_policies[j]);
        }
        free(t->segment_names);
        free(t->segment_policies);
        dn_priority_strategy_free(&t->strategy);
        for (size_t j = 0; j < t->ntracks; j++)
            free(t->tracks[j].policy);
        free(t->tracks);
        free(t->policies);
        free(t->tenant);
        free(t->default_policy);
        free(t->payment_url);
    }
    free(ps->tenants);
    free(ps);
}
