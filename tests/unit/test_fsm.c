/* Engine case state machine: every (state, event) pair, resume, names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dn_fsm.h"

/* Short names for the expected table. NO = the event is refused; RS = resume (back to
 * the state paused in, checked separately). */
#define OP ST_OPEN
#define PD ST_PRE_DUE_REMINDED
#define OD ST_OVERDUE
#define FN ST_FINAL_NOTICE
#define RT ST_RETRYING
#define PA ST_PAUSED
#define PR ST_PROMISED
#define PL ST_ON_PLAN
#define HO ST_HANDED_OVER
#define WO ST_WRITTEN_OFF
#define RE ST_RESOLVED
#define NO (-1)
#define RS (-2)

/* clang-format off */
static const int expected[ST__COUNT][EV__COUNT] = {
    /*        pre_due overdue final handover soft_dec exhausted pause resume partial settled cancelled write_off promise plan */
    [OP] = {  PD,     OD,     FN,   NO,      RT,      NO,       PA,   NO,    OP,     RE,     RE,       WO,       PR,     PL },
    [PD] = {  PD,     OD,     FN,   NO,      RT,      NO,       PA,   NO,    PD,     RE,     RE,       WO,       PR,     PL },
    [OD] = {  NO,     OD,     FN,   HO,      RT,      NO,       PA,   NO,    OD,     RE,     RE,       WO,       PR,     PL },
    [FN] = {  NO,     FN,     FN,   HO,      RT,      NO,       PA,   NO,    FN,     RE,     RE,       WO,       PR,     PL },
    [RT] = {  NO,     NO,     NO,   NO,      RT,      OD,       PA,   NO,    RT,     RE,     RE,       WO,       PR,     PL },
    [PA] = {  NO,     NO,     NO,   NO,      NO,      NO,       PA,   RS,    PA,     RE,     RE,       WO,       NO,     NO },
    [PR] = {  NO,     NO,     NO,   NO,      NO,      NO,       NO,   RS,    PR,     RE,     RE,       WO,       PR,     PL },
    [PL] = {  NO,     NO,     NO,   NO,      NO,      NO,       NO,   RS,    PL,     RE,     RE,       WO,       NO,     NO },
    [HO] = {  NO,     NO,     NO,   NO,      NO,      NO,       NO,   NO,    HO,     RE,     NO,       NO,       NO,     NO },
    [WO] = {  NO,     NO,     NO,   NO,      NO,      NO,       NO,   NO,    WO,     RE,     NO,       NO,       NO,     NO },
    [RE] = {  NO,     NO,     NO,   NO,      NO,      NO,       NO,   NO,    RE,     RE,     NO,       NO,       NO,     NO },
};
/* clang-format on */

static int is_active(int s)
{
    return s == OP || s == PD || s == OD || s == FN || s == RT;
}

static void test_every_pair(void **state)
{
    (void)state;
    /* paused_from is looped over too: it must only matter for resume in paused. */
    for (int from = 0; from < ST__COUNT; from++) {
        for (int ev = 0; ev < EV__COUNT; ev++) {
            for (int pf = 0; pf < ST__COUNT; pf++) {
                int want = expected[from][ev];
                if (want == RS)
                    want = is_active(pf) ? pf : NO;
                case_state_t to = (case_state_t)99;
                int rc = dn_fsm_next((case_state_t)from, (case_event_t)ev, (case_state_t)pf, &to);
                if (want == NO) {
                    if (rc != -1)
                        fail_msg("%s + %s (paused in %s): want refused, got %s", dn_fsm_state_name(from),
                                 dn_fsm_event_name(ev), dn_fsm_state_name(pf), dn_fsm_state_name(to));
                } else if (rc != 0 || (int)to != want) {
                    fail_msg("%s + %s (paused in %s): want %s, got rc %d", dn_fsm_state_name(from),
                             dn_fsm_event_name(ev), dn_fsm_state_name(pf), dn_fsm_state_name(want), rc);
                }
            }
        }
    }
}

static void test_resume(void **state)
{
    (void)state;
    case_state_t to;
    /* Back to each active state. */
    const case_state_t active[] = {OP, PD, OD, FN, RT};
    for (size_t i = 0; i < sizeof(active) / sizeof(active[0]); i++) {
        assert_int_equal(dn_fsm_next(PA, EV_RESUME, active[i], &to), 0);
        assert_int_equal(to, active[i]);
    }
    /* A promise or a plan ends where it began, as a pause does. */
    for (size_t i = 0; i < sizeof(active) / sizeof(active[0]); i++) {
        assert_int_equal(dn_fsm_next(PR, EV_RESUME, active[i], &to), 0);
        assert_int_equal(to, active[i]);
        assert_int_equal(dn_fsm_next(PL, EV_RESUME, active[i], &to), 0);
        assert_int_equal(to, active[i]);
    }
    /* Never back to a hold or a terminal state. */
    const case_state_t other[] = {PA, PR, PL, HO, WO, RE};
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        assert_int_equal(dn_fsm_next(PA, EV_RESUME, other[i], &to), -1);
        assert_int_equal(dn_fsm_next(PR, EV_RESUME, other[i], &to), -1);
        assert_int_equal(dn_fsm_next(PL, EV_RESUME, other[i], &to), -1);
    }
    /* Resume when not paused is refused. */
    assert_int_equal(dn_fsm_next(OD, EV_RESUME, OD, &to), -1);
}

static void test_names(void **state)
{
    (void)state;
    const char *names[ST__COUNT] = {"open",     "pre_due_reminded", "overdue",     "final_notice", "retrying", "paused",
                                    "promised", "on_plan",          "handed_over", "written_off",  "resolved"};
    for (int s = 0; s < ST__COUNT; s++) {
        case_state_t back = (case_state_t)99;
        assert_string_equal(dn_fsm_state_name(s), names[s]);
        assert_int_equal(dn_fsm_state_parse(names[s], &back), 0);
        assert_int_equal(back, s);
    }
    case_state_t x;
    assert_int_equal(dn_fsm_state_parse("closed", &x), -1);
    assert_int_equal(dn_fsm_state_parse("", &x), -1);
    assert_int_equal(dn_fsm_state_parse("Open", &x), -1);
    assert_int_equal(dn_fsm_state_parse("open ", &x), -1);

    const char *events[EV__COUNT] = {
        "stage_pre_due", "stage_overdue",   "stage_final", "handover",  "soft_decline", "retries_exhausted", "pause",
        "resume",        "partial_payment", "settled",     "cancelled", "write_off",    "promise",           "plan"};
    for (int e = 0; e < EV__COUNT; e++)
        assert_string_equal(dn_fsm_event_name(e), events[e]);
}

static void test_terminal(void **state)
{
    (void)state;
    const int terminal[ST__COUNT] = {[HO] = 1, [WO] = 1, [RE] = 1};
    for (int s = 0; s < ST__COUNT; s++)
        assert_int_equal(dn_fsm_is_terminal(s) != 0, terminal[s]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_pair),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_terminal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
