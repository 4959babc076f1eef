#include "dn_priority.h"

#include <stdio.h>
#include <stdlib.h>

#include "dn_currency.h"
#include "dn_policy.h"

static const char *const cond_names[PRIO_COND_COUNT] = {
    "broken_promise", "callback_requested", "disputed", "days_overdue", "amount", "stage", "risk_score",
};

const char *dn_priority_cond_name(prio_cond_t c)
{
    return c < PRIO_COND_COUNT ? cond_names[c] : "?";
}

static int compare(prio_cmp_t cmp, int64_t v, int64_t threshold)
{
    switch (cmp) {
    case PRIO_CMP_OVER:
        return v > threshold;
    case PRIO_CMP_AT_LEAST:
        return v >= threshold;
    case PRIO_CMP_BELOW:
        return v < threshold;
    case PRIO_CMP_NONE:
        break;
    }
    return 0;
}

static const char *cmp_word(prio_cmp_t cmp)
{
    return cmp == PRIO_CMP_OVER ? "over" : cmp == PRIO_CMP_AT_LEAST ? "at least" : "below";
}

/* 1234567 EUR -> "12345.67 EUR" (the currency's exponent; no grouping). */
static void format_money(int64_t minor, const char *currency, char *buf, size_t size)
{
    int e = dn_currency_exponent(currency);
    int64_t div = 1;
    for (int i = 0; i < e; i++)
        div *= 10;
    const char *sign = minor < 0 ? "-" : "";
    int64_t a = minor < 0 ? -minor : minor;
    if (e <= 0)
        snprintf(buf, size, "%s%lld %s", sign, (long long)a, currency);
    else
        snprintf(buf, size, "%s%lld.%0*lld %s", sign, (long long)(a / div), e, (long long)(a % div), currency);
}

int dn_priority_listed(const strategy_t *s, const prio_facts_t *f, const char **why)
{
    if (!s || !s->defined) {
        if (f->days_overdue < 0) {
            *why = "not yet due";
            return 0;
        }
        return 1;
    }
    if (s->min_amount && f->owed_minor < dn_policy_money_for(s->min_amount, f->currency)) {
        *why = "below min_amount";
        return 0;
    }
    if (!s->include_not_due && f->days_overdue < 0) {
        *why = "not yet due";
        return 0;
    }
    return 1;
}

int64_t dn_priority_score(const strategy_t *s, const prio_facts_t *f, prio_reason_t *reasons, size_t nreasons_max,
                          size_t *nreasons)
{
    int64_t total = 0;
    *nreasons = 0;
    for (size_t i = 0; s && s->defined && i < s->nrules; i++) {
        const prio_rule_t *r = &s->rules[i];
        char text[96] = "";
        int fired = 0;
        switch (r->when) {
        case PRIO_BROKEN_PROMISE:
            fired = f->broken_promises > 0;
            if (f->broken_promises == 1)
                snprintf(text, sizeof(text), "broken promise");
            else
                snprintf(text, sizeof(text), "%d broken promises", (int)f->broken_promises);
            break;
        case PRIO_CALLBACK:
            fired = f->callbacks > 0;
            snprintf(text, sizeof(text), "callback requested");
            break;
        case PRIO_DISPUTED:
            fired = f->disputed;
            snprintf(text, sizeof(text), "disputed");
            break;
        case PRIO_DAYS_OVERDUE:
            fired = compare(r->cmp, f->days_overdue, r->value);
            snprintf(text, sizeof(text), "%d days overdue (%s %lld)", (int)f->days_overdue, cmp_word(r->cmp),
                     (long long)r->value);
            break;
        case PRIO_AMOUNT: {
            int64_t threshold = dn_policy_money_for(r->amount, f->currency);
            char owed[40], limit[40];
            fired = compare(r->cmp, f->owed_minor, threshold);
            format_money(f->owed_minor, f->currency, owed, sizeof(owed));
            format_money(threshold, f->currency, limit, sizeof(limit));
            snprintf(text, sizeof(text), "owes %s (%s %s)", owed, cmp_word(r->cmp), limit);
            break;
        }
        case PRIO_STAGE:
            fired = compare(r->cmp, f->stage, r->value);
            snprintf(text, sizeof(text), "stage %d (%s %lld)", (int)f->stage, cmp_word(r->cmp), (long long)r->value);
            break;
        case PRIO_RISK_SCORE:
            fired = f->risk_score >= 0 && compare(r->cmp, f->risk_score, r->value);
            snprintf(text, sizeof(text), "risk score %d (%s %lld)", (int)f->risk_score, cmp_word(r->cmp),
                     (long long)r->value);
            break;
        case PRIO_COND_COUNT:
            break;
        }
        if (!fired)
            continue;
        total += r->points;
        if (*nreasons < nreasons_max) {
            prio_reason_t *out = &reasons[(*nreasons)++];
            out->rule = i;
            out->points = r->points;
            snprintf(out->text, sizeof(out->text), "%s", text);
        }
    }
    return total;
}

void dn_priority_strategy_free(strategy_t *s)
{
    if (!s)
        return;
    if (s->min_amount) {
        free(s->min_amount->currency);
        free(s->min_amount->minor);
        free(s->min_amount);
    }
    for (size_t i = 0; i < s->nrules; i++)
        if (s->rules[i].amount) {
            free(s->rules[i].amount->currency);
            free(s->rules[i].amount->minor);
            free(s->rules[i].amount);
        }
    free(s->rules);
    s->rules = NULL;
    s->nrules = 0;
    s->min_amount = NULL;
    s->defined = 0;
}
