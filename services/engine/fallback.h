/* Channel fallback (fallback.c): a reminder that failed for good on one channel goes out
 * once more on the next channel of the policy's channel_order. */
#ifndef DN_ENGINE_FALLBACK_H
#define DN_ENGINE_FALLBACK_H

#include "case.h"

/* The reminder an outcome is about, as recorded when it was emitted: the audit row
 * (reminder_emitted, hard_decline or reminder_fallback) whose "reminders" list it. */
typedef struct sent_reminder {
    int stage;
    char stage_name[ID_MAX + 1], template_key[ID_MAX + 1];
    char series[ID_MAX + 1]; /* the reminders it belongs to: "stage N", or the hard decline's event id */
    int64_t at_ms;           /* when it was emitted */
} sent_reminder_t;

/* 1 found, 0 not (a reminder this engine did not emit), -1 database error. */
int find_reminder(engine_t *e, const case_row_t *c, const policy_t *pol, const char *reminder_event_id,
                  sent_reminder_t *out);
/* The reminder once more on the next channel (reminder_fallback), or reminder_undeliverable. */
int fall_back(engine_t *e, case_row_t *c, const policy_t *pol, const dn_reminder_outcome_t *v,
              const sent_reminder_t *sr, int64_t now);

#endif
