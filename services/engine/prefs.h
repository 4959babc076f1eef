/* The customer's contact preferences (prefs.c; docs/policies.md "Contact preferences"):
 * the CaseCommand set_preferences, and what emit_reminders (reminders.c) asks of them for
 * every ReminderDue: the channels opted out of and the corrected e-mail address. */
#ifndef DN_ENGINE_PREFS_H
#define DN_ENGINE_PREFS_H

#include "case.h"
#include "dn_prefs.h"

typedef struct prefs {
    unsigned opted_out;                 /* channel bits (dn_prefs.h) */
    char email[DN_PREFS_EMAIL_MAX + 1]; /* "" = the invoice's contact e-mail */
} prefs_t;

/* The customer's current preferences (none: all zero). 0/-1. */
int prefs_load(engine_t *e, const char *tenant, const char *customer, prefs_t *p);
/* The same from a row's text: opted_out as PostgreSQL prints a text[], email ("" none). */
void prefs_from_text(const char *opted_out, const char *email, prefs_t *p);

/* set_preferences for the customer of case `c` (the invoice it was given from): checks it
 * against the customer's preferences and contact data (H_REJECT with the reason), stores
 * the new preferences and one consent event, and records preferences_changed on each of
 * the customer's open cases (and on `c` if it is not open). H_OK, H_REJECT or H_DBERR. */
int prefs_command(engine_t *e, const case_row_t *c, const dn_case_command_t *v, int64_t now);

/* The audit row of a reminder the customer's opt-outs left without a channel
 * (reminder_skipped, caused by `caused_by`). 0/-1. */
int prefs_note_skipped(engine_t *e, const case_row_t *c, int stage, const char *stage_name, unsigned skipped,
                       const char *caused_by, int64_t now);

#endif
