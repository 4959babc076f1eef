/* A stage of the policy falling due for a case (stage.c): its fee, its early-settlement
 * offer, catch-up, the state machine's step. Split in two around the reminders so that a
 * customer notice (consolidate.c) can put many cases' stages on one notice. */
#ifndef DN_ENGINE_STAGE_H
#define DN_ENGINE_STAGE_H

#include "case.h"
#include "dn_schemas_gen.h"

/* A stage ready for its reminder (stage_begin), finished by stage_end. */
typedef struct stage_fire {
    int stage;
    const stage_t *st;
    int64_t due_ms; /* the stage's policy time */
    int64_t fee;    /* charged at stage_begin; refunded by stage_end when nothing reached the customer */
    int offers;
    dn_discount_offer_t offer;
    int moved; /* fired after a broken promise or plan: the later stages keep their spacing */
    char from[32];
    /* The stage's template for this case: the base one, or "<template>--<variant>" when the
     * stage has variants (dn_policy_variant); variant "" = none. The policy it fired under. */
    char template_key[2 * ID_MAX + 4];
    char variant[ID_MAX + 1];
    const char *policy;
} stage_fire_t;

/* Whether the case's next stage can be taken in its state (c is changed: pass a copy). 0/-1. */
int stage_probe(case_row_t *c, const policy_t *pol);
/* Starts the stage the case's timer is for: 1 = the reminder is to be written now (sf set),
 * H_OK = done without one (below the minimum, skipped, held), H_DBERR. `consolidated`: the
 * stage goes on a customer notice (no offer; the minimum applies to the customer's total). */
int stage_begin(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now, int consolidated, stage_fire_t *sf);
/* Finishes it once its reminders are written: `n` of them (listed in `emitted`, stolen), on
 * the customer notice `notice_id` or NULL. H_OK or H_DBERR. */
int stage_end(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now, stage_fire_t *sf, int n, json_t *emitted,
              const char *notice_id);

#endif
