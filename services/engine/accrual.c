/* Money and time of a case (see accrual.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "dn_clock.h"
#include "dn_rules.h"

int64_t stage_time_ms(const case_row_t *c, const policy_t *p, int stage)
{
    return dn_rules_stage_time_ms(c->due_date, p->stages[stage - 1].offset_ms, p->grace_days);
}

/* Brings interest up to `now`: simple daily interest on the principal still owed, for
 * every day after the due date; no interest accrues while paused or once terminal. */
void accrue(case_row_t *c, const policy_t *p, int64_t now)
{
    interest_acc_t acc = {.micro = c->interest_micro,
                          .through = c->interest_through >= 0 ? c->interest_through : c->due_date};
    case_state_t s = state_of(c);
    if (dn_fsm_is_terminal(s))
        return; /* settled, written off or handed over: the amounts are final */
    int64_t rate = s == ST_PAUSED || s == ST_ON_PLAN ? 0 : p->interest_rate_e4; /* a plan's is added up front */
    dn_rules_accrue(&acc, c->outstanding, rate, dn_date_from_ms(now));
    c->interest_micro = acc.micro;
    c->interest_through = acc.through;
    c->interest = dn_rules_interest_minor(&acc) - c->interest_paid;
    if (c->interest < 0)
        c->interest = 0;
}

/* Sets the one pending timer from the case's state: the next stage, the next retry,
 * the end of a pause, or nothing. */
void schedule_next(case_row_t *c, const policy_t *p, int64_t now)
{
    case_state_t s = state_of(c);
    /* A pending stage may have been moved later than its policy time (catch_up: each, one
     * stage a day; the stages after a broken promise or plan keep their spacing; fire_stage);
     * a payment or credit in between keeps that. */
    int64_t spaced = strcmp(c->next_action, "stage") == 0 ? c->next_action_ms : -1;
    /* A call to make again (redial.c) stays due while the case dunns, unless a stage comes first. */
    int64_t redial = strcmp(c->next_action, "redial") == 0 ? c->next_action_ms : -1;
    if ((s == ST_PROMISED && strcmp(c->next_action, "promise") == 0) ||
        (s == ST_ON_PLAN && strcmp(c->next_action, "plan") == 0))
        return; /* a promise's or a plan's timer is theirs to set (workflow.h) */
    c->next_action_ms = -1;
    snprintf(c->next_action, sizeof(c->next_action), "stage");
    if (dn_fsm_is_terminal(s))
        return;
    if (s == ST_PAUSED) {
        if (c->paused_until >= 0) {
            snprintf(c->next_action, sizeof(c->next_action), "resume");
            c->next_action_ms = dn_date_to_ms(c->paused_until);
        }
        return;
    }
    if (s == ST_RETRYING) {
        if ((size_t)c->retry_attempt < p->retries.nschedule) {
            snprintf(c->next_action, sizeof(c->next_action), "retry");
            c->next_action_ms = c->retry_base_ms + p->retries.schedule_ms[c->retry_attempt];
        } else {
            snprintf(c->next_action, sizeof(c->next_action), "retry_result");
            c->next_action_ms = now + p->retries.result_wait_ms;
        }
        return;
    }
    if (c->next_stage >= 1 && c->next_stage <= (int)p->nstages) {
        c->next_action_ms = stage_time_ms(c, p, c->next_stage);
        if (spaced > c->next_action_ms) /* moved later (catch_up: each, a resumed hold): kept */
            c->next_action_ms = spaced;
    }
    if (redial >= 0 && (s == ST_OVERDUE || s == ST_FINAL_NOTICE || s == ST_PRE_DUE_REMINDED || s == ST_HANDED_OVER) &&
        (c->next_action_ms < 0 || redial < c->next_action_ms)) {
        snprintf(c->next_action, sizeof(c->next_action), "redial");
        c->next_action_ms = redial;
    }
}

void end_hold(case_row_t *c, const policy_t *p, int64_t now)
{
    if (transition(c, EV_RESUME) < 0)
        set_state(c, ST_OVERDUE);
    c->paused_from[0] = c->pause_reason[0] = '\0';
    c->paused_until = -1;
    snprintf(c->next_action, sizeof(c->next_action), "stage");
    c->next_action_ms = -1; /* not a moved stage time: the hold's timer is over */
    schedule_next(c, p, now);
}
