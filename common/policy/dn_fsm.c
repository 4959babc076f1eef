/* The case state machine (see fsm.h): one table of (state, event) -> state. */
#include "dn_fsm.h"

#include <string.h>

static const char *const state_names[ST__COUNT] = {
    [ST_OPEN] = "open",
    [ST_PRE_DUE_REMINDED] = "pre_due_reminded",
    [ST_OVERDUE] = "overdue",
    [ST_FINAL_NOTICE] = "final_notice",
    [ST_RETRYING] = "retrying",
    [ST_PAUSED] = "paused",
    [ST_PROMISED] = "promised",
    [ST_ON_PLAN] = "on_plan",
    [ST_HANDED_OVER] = "handed_over",
    [ST_WRITTEN_OFF] = "written_off",
    [ST_RESOLVED] = "resolved",
};

static const char *const event_names[EV__COUNT] = {
    [EV_STAGE_PRE_DUE] = "stage_pre_due",
    [EV_STAGE_OVERDUE] = "stage_overdue",
    [EV_STAGE_FINAL] = "stage_final",
    [EV_HANDOVER] = "handover",
    [EV_SOFT_DECLINE] = "soft_decline",
    [EV_RETRIES_EXHAUSTED] = "retries_exhausted",
    [EV_PAUSE] = "pause",
    [EV_RESUME] = "resume",
    [EV_PARTIAL_PAYMENT] = "partial_payment",
    [EV_SETTLED] = "settled",
    [EV_CANCELLED] = "cancelled",
    [EV_WRITE_OFF] = "write_off",
    [EV_PROMISE] = "promise",
    [EV_PLAN] = "plan",
};

/* Table cells: 0 = not allowed, T(s) = go to s, BACK = return to the state paused in. */
#define T(s) ((signed char)((s) + 1))
#define BACK ((signed char)-1)

/* The same for every active state: everything but the stage events and handover. */
#define ACTIVE_COMMON(self)                                                                                            \
    [EV_SOFT_DECLINE] = T(ST_RETRYING), [EV_PAUSE] = T(ST_PAUSED), [EV_PARTIAL_PAYMENT] = T(self),                     \
    [EV_SETTLED] = T(ST_RESOLVED), [EV_CANCELLED] = T(ST_RESOLVED), [EV_WRITE_OFF] = T(ST_WRITTEN_OFF),                \
    [EV_PROMISE] = T(ST_PROMISED), [EV_PLAN] = T(ST_ON_PLAN)

/* A hold (pause, promise, plan) ends back in the state it began in; money and the end of
 * the invoice are taken as in any state. */
#define HOLD_COMMON(self)                                                                                              \
    [EV_RESUME] = BACK, [EV_PARTIAL_PAYMENT] = T(self), [EV_SETTLED] = T(ST_RESOLVED),                                 \
    [EV_CANCELLED] = T(ST_RESOLVED), [EV_WRITE_OFF] = T(ST_WRITTEN_OFF)

/* Terminal states take only money. */
#define TERMINAL(self) [EV_PARTIAL_PAYMENT] = T(self), [EV_SETTLED] = T(ST_RESOLVED)

static const signed char transitions[ST__COUNT][EV__COUNT] = {
    [ST_OPEN] =
        {
            [EV_STAGE_PRE_DUE] = T(ST_PRE_DUE_REMINDED),
            [EV_STAGE_OVERDUE] = T(ST_OVERDUE),
            [EV_STAGE_FINAL] = T(ST_FINAL_NOTICE),
            ACTIVE_COMMON(ST_OPEN),
        },
    [ST_PRE_DUE_REMINDED] =
        {
            [EV_STAGE_PRE_DUE] = T(ST_PRE_DUE_REMINDED),
            [EV_STAGE_OVERDUE] = T(ST_OVERDUE),
            [EV_STAGE_FINAL] = T(ST_FINAL_NOTICE),
            ACTIVE_COMMON(ST_PRE_DUE_REMINDED),
        },
    [ST_OVERDUE] =
        {
            [EV_STAGE_OVERDUE] = T(ST_OVERDUE),
            [EV_STAGE_FINAL] = T(ST_FINAL_NOTICE),
            [EV_HANDOVER] = T(ST_HANDED_OVER),
            ACTIVE_COMMON(ST_OVERDUE),
        },
    [ST_FINAL_NOTICE] =
        {
            [EV_STAGE_OVERDUE] = T(ST_FINAL_NOTICE), /* never de-escalate */
            [EV_STAGE_FINAL] = T(ST_FINAL_NOTICE),
            [EV_HANDOVER] = T(ST_HANDED_OVER),
            ACTIVE_COMMON(ST_FINAL_NOTICE),
        },
    [ST_RETRYING] =
        {
            [EV_RETRIES_EXHAUSTED] = T(ST_OVERDUE),
            ACTIVE_COMMON(ST_RETRYING),
        },
    [ST_PAUSED] =
        {
            [EV_PAUSE] = T(ST_PAUSED), /* a new pause replaces the old one */
            HOLD_COMMON(ST_PAUSED),
        },
    [ST_PROMISED] =
        {
            [EV_PROMISE] = T(ST_PROMISED), /* a new promise replaces the open one */
            [EV_PLAN] = T(ST_ON_PLAN),     /* and a plan replaces a promise */
            HOLD_COMMON(ST_PROMISED),
        },
    [ST_ON_PLAN] = {HOLD_COMMON(ST_ON_PLAN)},
    [ST_HANDED_OVER] = {TERMINAL(ST_HANDED_OVER)},
    [ST_WRITTEN_OFF] = {TERMINAL(ST_WRITTEN_OFF)},
    [ST_RESOLVED] = {TERMINAL(ST_RESOLVED)},
};

static int valid_state(case_state_t s)
{
    return (unsigned)s < ST__COUNT;
}

static int is_active(case_state_t s)
{
    return valid_state(s) && s <= ST_RETRYING;
}

const char *dn_fsm_state_name(case_state_t s)
{
    return valid_state(s) ? state_names[s] : "unknown";
}

int dn_fsm_state_parse(const char *name, case_state_t *out)
{
    for (int s = 0; s < ST__COUNT; s++) {
        if (strcmp(name, state_names[s]) == 0) {
            *out = (case_state_t)s;
            return 0;
        }
    }
    return -1;
}

const char *dn_fsm_event_name(case_event_t e)
{
    return (unsigned)e < EV__COUNT ? event_names[e] : "unknown";
}

int dn_fsm_is_terminal(case_state_t s)
{
    return s == ST_RESOLVED || s == ST_HANDED_OVER || s == ST_WRITTEN_OFF;
}

int dn_fsm_next(case_state_t from, case_event_t ev, case_state_t paused_from, case_state_t *to)
{
    if (!valid_state(from) || (unsigned)ev >= EV__COUNT)
        return -1;
    signed char cell = transitions[from][ev];
    if (cell == 0)
        return -1;
    if (cell == BACK) {
        if (!is_active(paused_from))
            return -1;
        *to = paused_from;
        return 0;
    }
    *to = (case_state_t)(cell - 1);
    return 0;
}
