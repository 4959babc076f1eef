/* The case state machine, as a table (see docs/case-states.md for the diagram).
 *
 *   open --pre-due stage--> pre_due_reminded --overdue stage--> overdue --final stage--> final_notice
 *   any active state --soft decline--> retrying --retries exhausted--> overdue
 *   any active state --pause--> paused --resume--> (the state it was paused in)
 *   any active state --promise--> promised --kept/broken/withdrawn (resume)--> (the state held in)
 *   any active state or promised --plan--> on_plan --broken (resume)--> (the state held in)
 *   overdue/final_notice --handover--> handed_over;   any unresolved --write off--> written_off
 *   any unresolved --paid/credited/cancelled--> resolved
 *
 * "Active" = open, pre_due_reminded, overdue, final_notice, retrying. Terminal states
 * (resolved, handed_over, written_off) accept only payments (money is never refused:
 * a payment on a handed-over case is recorded and can resolve it). Pure; unit-tested in
 * tests/unit/test_fsm.c. */
#ifndef DN_FSM_H
#define DN_FSM_H

typedef enum {
    ST_OPEN = 0,
    ST_PRE_DUE_REMINDED,
    ST_OVERDUE,
    ST_FINAL_NOTICE,
    ST_RETRYING,
    ST_PAUSED,
    ST_PROMISED, /* a promise to pay holds the stages until its date + grace */
    ST_ON_PLAN,  /* an instalment plan holds the stages; the plan's own reminders run */
    ST_HANDED_OVER,
    ST_WRITTEN_OFF,
    ST_RESOLVED,
    ST__COUNT
} case_state_t;

typedef enum {
    EV_STAGE_PRE_DUE = 0, /* a stage with a negative offset fired */
    EV_STAGE_OVERDUE,     /* a stage with offset >= 0 fired */
    EV_STAGE_FINAL,       /* a stage with action final_notice fired */
    EV_HANDOVER,          /* collections handover (stage action or command) */
    EV_SOFT_DECLINE,      /* a card charge failed with a retriable code */
    EV_RETRIES_EXHAUSTED, /* the retry schedule ran out */
    EV_PAUSE,             /* dispute, promise to pay, manual hold */
    EV_RESUME,            /* command, the pause's end date, a promise's or a plan's end */
    EV_PARTIAL_PAYMENT,   /* money arrived, something is still owed */
    EV_SETTLED,           /* paid in full (or within tolerance), or credited in full */
    EV_CANCELLED,         /* the invoice was cancelled */
    EV_WRITE_OFF,
    EV_PROMISE, /* a promise to pay was given */
    EV_PLAN,    /* an instalment plan was agreed */
    EV__COUNT
} case_event_t;

const char *dn_fsm_state_name(case_state_t s);
/* -1 if `name` is not a state. */
int dn_fsm_state_parse(const char *name, case_state_t *out);
const char *dn_fsm_event_name(case_event_t e);

int dn_fsm_is_terminal(case_state_t s); /* resolved, handed_over, written_off */

/* The state after event `ev` in state `from`. For EV_RESUME, `paused_from` is the state
 * the case was in when paused, promised or put on a plan (ignored otherwise). Returns 0 and sets *to, or -1 when the
 * event is not allowed in that state (e.g. pause on a resolved case, resume when not
 * paused, a stage firing while paused). A partial payment keeps the state. */
int dn_fsm_next(case_state_t from, case_event_t ev, case_state_t paused_from, case_state_t *to);

#endif
