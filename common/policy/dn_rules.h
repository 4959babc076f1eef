/* The dunning arithmetic, as pure functions of integers (no I/O, no clock, no floats):
 * interest, fees, thresholds, grace, payment allocation. Amounts are minor units of the
 * case's currency; rates and percentages are fixed-point with 4 decimals ("e4"):
 * 8.12 % = 81200, 1.5 % = 15000. Unit-tested in tests/unit/test_rules.c. */
#ifndef DN_RULES_H
#define DN_RULES_H

#include <stdint.h>

#define RULES_DAY_MS 86400000LL
/* Interest is accrued day by day in millionths of a minor unit, then rounded once. */
#define RULES_MICRO 1000000LL

/* Parses a non-negative decimal with at most 4 decimals ("8", "8.12", "0.0375") into e4
 * fixed point (80000, 81200, 375). -1 on anything else (sign, exponent, 5 decimals,
 * more than 1000000.0000). */
int dn_rules_parse_e4(const char *s, int64_t *out);

/* Rounds `num / den` (den > 0, num >= 0) to the nearest integer, halves away from zero. */
int64_t dn_rules_div_round(__int128 num, int64_t den);

/* Interest of one day on `outstanding` at `annual_rate_e4` (simple interest, 365-day
 * year), in millionths of a minor unit, truncated: outstanding * rate / 100 / 365 * 1e6. */
int64_t dn_rules_daily_interest_micro(int64_t outstanding, int64_t annual_rate_e4);

/* Interest accrual state of a case: accrued micro units, and the date (days since
 * 1970-01-01) through which it has been accrued. */
typedef struct interest_acc {
    int64_t micro;
    int32_t through;
} interest_acc_t;

/* Accrues interest on `outstanding` for every whole day from acc->through up to `today`
 * (exclusive of acc->through, inclusive of today), then sets acc->through = today.
 * Nothing happens when today <= acc->through or the rate is 0. Call it with the old
 * outstanding before a payment changes it, so a partial payment lowers the interest
 * from that day on. */
void dn_rules_accrue(interest_acc_t *acc, int64_t outstanding, int64_t annual_rate_e4, int32_t today);

/* Accrued interest rounded to whole minor units (halves up). */
int64_t dn_rules_interest_minor(const interest_acc_t *acc);

/* Fee of a stage: `fixed_minor` (already chosen for the case's currency; 0 if none)
 * plus `percent_e4` of `outstanding`, rounded to the minor unit (halves up). */
int64_t dn_rules_stage_fee(int64_t outstanding, int64_t fixed_minor, int64_t percent_e4);

/* When an overdue stage fires: the due date (00:00 UTC, in days) plus the stage's
 * offset, but never before the grace days have passed: due + max(offset, grace).
 * Stages before the due date (offset < 0) are not affected by grace. In ms; a time beyond
 * int64 saturates (the validator refuses any stage time outside the accepted range). */
int64_t dn_rules_stage_time_ms(int32_t due_date, int64_t offset_ms, int32_t grace_days);

/* Days overdue at `now_ms` (0 before or on the due date). */
int32_t dn_rules_days_overdue(int32_t due_date, int64_t now_ms);

/* How a payment of `amount` is split (German civil code §367 order, common in dunning):
 * fees first, then interest, then principal; what is left over is an overpayment. */
typedef struct allocation {
    int64_t to_fees, to_interest, to_principal, overpaid;
} allocation_t;
allocation_t dn_rules_allocate(int64_t amount, int64_t fees_due, int64_t interest_due, int64_t principal_due);

/* Whether a case with `total_due` (principal + fees + interest still owed) counts as
 * settled: nothing left, or at most `tolerance_minor`. */
int dn_rules_settled(int64_t total_due, int64_t tolerance_minor);

/* Whether dunning applies at all: the principal still owed is at least `min_minor`
 * (0 = no minimum). */
int dn_rules_above_minimum(int64_t principal_due, int64_t min_minor);

#endif
