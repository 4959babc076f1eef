/* sender-voice's calling rules (rules.c): the tenant's voice settings from the policy file,
 * calling hours by day of the week in the customer's time zone, and the ledger of calls
 * (table voice_calls) behind the limits: at most voice.max_attempts_per_7d calls per case in
 * any 7 days, none for voice.quiet_after_answer after a call answered with a key. */
#ifndef SENDER_VOICE_RULES_H
#define SENDER_VOICE_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "dn_policy.h"
#include "dn_schemas_gen.h"

typedef struct voice_rules voice_rules_t;

/* policy_file: DUNNING_POLICY_FILE ("" = every tenant the defaults); hours: the sender's
 * DUNNING_VOICE_CALLING_HOURS for policies without voice.calling_hours ("" = any time).
 * NULL with err. */
voice_rules_t *rules_new(const char *policy_file, const char *hours, const char *pg_dsn, char *err, size_t n);
void rules_destroy(voice_rules_t *vr);

/* Outside the reminder's calling hours: 1 with *until_ms (the next start) and why; 0 = now.
 * A policy whose calling hours have no day at all: 0 (rules_check refuses it). */
int rules_defer(voice_rules_t *vr, const dn_reminder_due_t *rd, int64_t now, int64_t *until_ms, char *why, size_t n);
/* Just before a dial: 0 = may call; 1 = refused (why: which rule); -1 = the ledger cannot
 * be read (why). */
int rules_check(voice_rules_t *vr, const dn_reminder_due_t *rd, int64_t now, char *why, size_t n);
/* The ledger: a row before the INVITE (its id, or -1 with why) and its result after. */
int64_t rules_dial_begin(voice_rules_t *vr, const dn_reminder_due_t *rd, int64_t now, char *why, size_t n);
void rules_dial_end(voice_rules_t *vr, int64_t id, const call_report_t *r);

#endif
