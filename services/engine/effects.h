/* The commit-scoped side-effect queue: counters and Redis timer changes noted while the
 * transaction in hand runs (the handlers, the timers, main.c's dead letters), applied only
 * once it has committed (main.c), dropped on rollback (main.c resets e->nnotes and e->nops). */
#ifndef DN_ENGINE_EFFECTS_H
#define DN_ENGINE_EFFECTS_H

#include <stdint.h>

#include "dn_metrics.h"
#include "engine.h"

/* Counts, once the transaction commits: a reminder emitted (stage name, channel), a
 * retry requested (no labels), a reminder outcome (channel, outcome). engine_note_duplicate
 * marks the record in hand. */
void engine_note(engine_t *e, engine_metric_t metric, const char *l1, const char *l2);
void engine_note_duplicate(engine_t *e);
/* Sets a case's timer to due_ms (-1 removes it) once the transaction commits. */
void engine_timer_op(engine_t *e, const char *case_id, int64_t due_ms);

/* After COMMIT: adds every noted count to its counter (by_kind: the counter of each
 * engine_metric_t) and forgets the notes. */
void engine_apply_notes(engine_t *e, dn_metric_t *const *by_kind);
/* After COMMIT: makes the noted timer changes in Redis and forgets them. 0, or -1 when a
 * Redis write failed (the index is then marked stale, to be rebuilt from PostgreSQL). */
int engine_apply_timer_ops(engine_t *e);

#endif
