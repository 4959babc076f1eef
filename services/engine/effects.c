/* The commit-scoped side-effect queue (see effects.h). */
#include <stdio.h>
#include <stdlib.h>

#include "dn_log.h"
#include "effects.h"

void engine_note(engine_t *e, engine_metric_t metric, const char *l1, const char *l2)
{
    if (e->nnotes == e->notes_cap) {
        size_t cap = e->notes_cap ? e->notes_cap * 2 : 64;
        engine_note_t *grown = realloc(e->notes, cap * sizeof(*grown));
        if (!grown)
            return; /* a count lost, nothing else */
        e->notes = grown;
        e->notes_cap = cap;
    }
    engine_note_t *n = &e->notes[e->nnotes++];
    n->metric = metric;
    snprintf(n->l1, sizeof(n->l1), "%s", l1 ? l1 : "");
    snprintf(n->l2, sizeof(n->l2), "%s", l2 ? l2 : "");
}

void engine_note_duplicate(engine_t *e)
{
    e->item_duplicate = 1;
}

void engine_apply_notes(engine_t *e, dn_metric_t *const *by_kind)
{
    for (size_t i = 0; i < e->nnotes; i++)
        dn_metrics_add(by_kind[e->notes[i].metric], DN_LABELS(e->notes[i].l1, e->notes[i].l2), 1);
    e->nnotes = 0;
}

void engine_timer_op(engine_t *e, const char *case_id, int64_t due_ms)
{
    if (e->nops == e->ops_cap) {
        size_t cap = e->ops_cap ? e->ops_cap * 2 : 256;
        timer_op_t *grown = realloc(e->ops, cap * sizeof(*grown));
        if (!grown) {
            e->redis_stale = 1; /* the reconcile pass will add what we could not remember */
            e->stale_reason = "out of memory for timer updates";
            return;
        }
        e->ops = grown;
        e->ops_cap = cap;
    }
    snprintf(e->ops[e->nops].member, sizeof(e->ops[e->nops].member), "%s", case_id);
    e->ops[e->nops++].due_ms = due_ms;
}

int engine_apply_timer_ops(engine_t *e)
{
    int rc = 0, failed = 0;
    for (size_t i = 0; i < e->nops && rc == 0; i++)
        rc = e->ops[i].due_ms >= 0 ? dn_timers_add(e->timers, e->ops[i].member, e->ops[i].due_ms)
                                   : dn_timers_remove(e->timers, e->ops[i].member);
    if (rc < 0 || dn_timers_flush(e->timers) < 0) {
        dn_log_warn("redis update failed", "detail", dn_timers_errstr(e->timers), "hint",
                    "timers will be re-added from postgres when redis answers", NULL);
        e->redis_stale = 1;
        e->stale_reason = "a redis write failed";
        failed = 1;
    }
    e->nops = 0;
    return failed ? -1 : 0;
}
