/* Calls that did not connect (redial.c): a voice reminder whose call was busy, not answered
 * or declined is made again voice.retries times, voice.retry_after apart, then it falls
 * back to the next channel like a permanent failure. */
#ifndef DN_ENGINE_REDIAL_H
#define DN_ENGINE_REDIAL_H

#include "fallback.h"

/* Whether an outcome is a call that did not reach the customer (busy, no_answer, rejected). */
int redial_unreached(const dn_reminder_outcome_t *v);
/* After such an outcome (recorded already): a redial scheduled (redial_scheduled, the case's
 * next_action "redial"), or, with the redials spent, the fallback. H_OK or H_DBERR. */
int redial_or_fall_back(engine_t *e, case_row_t *c, const policy_t *pol, const dn_reminder_outcome_t *v,
                        const sent_reminder_t *sr, int64_t now);
/* The case's redial timer: the call once more (audit redial, a new ReminderDue on voice). */
int fire_redial(engine_t *e, case_row_t *c, const policy_t *pol, int64_t now);

#endif
