/* The dunning arithmetic (see rules.h). Integers only; products go through __int128 so
 * that no intermediate can overflow, and results that would not fit in int64 saturate. */
#include "dn_rules.h"

#define E4_MAX (1000000LL * 10000LL) /* 1000000.0000 */

static int64_t clamp0(int64_t v)
{
    return v < 0 ? 0 : v;
}

static int64_t saturate(__int128 v)
{
    return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN : (int64_t)v;
}

int dn_rules_parse_e4(const char *s, int64_t *out)
{
    int64_t v = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        v = v * 10 + (*s - '0');
        if (v > E4_MAX)
            return -1; /* also stops before int64 could overflow */
    }
    if (digits == 0)
        return -1; /* "", ".5", sign, letters */
    v *= 10000;
    if (*s == '.') {
        s++;
        int64_t scale = 1000;
        for (digits = 0; *s >= '0' && *s <= '9'; s++, digits++) {
            if (digits == 4)
                return -1;
            v += (*s - '0') * scale;
            scale /= 10;
        }
        if (digits == 0)
            return -1; /* "8." */
    }
    if (*s != '\0' || v > E4_MAX)
        return -1;
    *out = v;
    return 0;
}

int64_t dn_rules_div_round(__int128 num, int64_t den)
{
    return saturate((num + den / 2) / den);
}

int64_t dn_rules_daily_interest_micro(int64_t outstanding, int64_t annual_rate_e4)
{
    if (outstanding <= 0 || annual_rate_e4 <= 0)
        return 0;
    /* outstanding * (rate_e4 / 10000) / 100 / 365 * 1e6 = outstanding * rate_e4 / 365 */
    return saturate((__int128)outstanding * annual_rate_e4 / 365);
}

void dn_rules_accrue(interest_acc_t *acc, int64_t outstanding, int64_t annual_rate_e4, int32_t today)
{
    if (today <= acc->through)
        return;
    int64_t daily = dn_rules_daily_interest_micro(outstanding, annual_rate_e4);
    acc->micro = saturate((__int128)acc->micro + ((__int128)today - acc->through) * daily);
    acc->through = today;
}

int64_t dn_rules_interest_minor(const interest_acc_t *acc)
{
    return dn_rules_div_round(acc->micro, RULES_MICRO);
}

int64_t dn_rules_stage_fee(int64_t outstanding, int64_t fixed_minor, int64_t percent_e4)
{
    /* percent_e4 / 10000 is a percentage: outstanding * percent_e4 / 10000 / 100 */
    __int128 pct = dn_rules_div_round((__int128)clamp0(outstanding) * clamp0(percent_e4), 1000000);
    return saturate(clamp0(fixed_minor) + pct);
}

int64_t dn_rules_stage_time_ms(int32_t due_date, int64_t offset_ms, int32_t grace_days)
{
    __int128 base = (__int128)due_date * RULES_DAY_MS;
    if (offset_ms < 0)
        return saturate(base + offset_ms);
    int64_t grace_ms = (int64_t)grace_days * RULES_DAY_MS;
    return saturate(base + (offset_ms > grace_ms ? offset_ms : grace_ms));
}

int32_t dn_rules_days_overdue(int32_t due_date, int64_t now_ms)
{
    int64_t late_ms = now_ms - (int64_t)due_date * RULES_DAY_MS;
    return late_ms <= 0 ? 0 : (int32_t)(late_ms / RULES_DAY_MS);
}

/* Takes up to `due` from `*left`. */
static int64_t take(int64_t *left, int64_t due)
{
    int64_t t = *left < due ? *left : due;
    *left -= t;
    return t;
}

allocation_t dn_rules_allocate(int64_t amount, int64_t fees_due, int64_t interest_due, int64_t principal_due)
{
    int64_t left = clamp0(amount);
    allocation_t a;
    a.to_fees = take(&left, clamp0(fees_due));
    a.to_interest = take(&left, clamp0(interest_due));
    a.to_principal = take(&left, clamp0(principal_due));
    a.overpaid = left;
    return a;
}

int dn_rules_settled(int64_t total_due, int64_t tolerance_minor)
{
    return total_due <= clamp0(tolerance_minor);
}

int dn_rules_above_minimum(int64_t principal_due, int64_t min_minor)
{
    return min_minor <= 0 || principal_due >= min_minor;
}
