/* A customer's contact preferences (docs/policies.md, "Contact preferences"): the pure
 * part, shared by the engine (CaseCommand set_preferences, the overlay on every
 * ReminderDue) and the portal (its form's checks, so the customer sees the engine's reason
 * before a command is sent).
 *
 * A set of channels is a bit mask: bit (1u << CH_EMAIL) and so on (channel_t). */
#ifndef DN_PREFS_H
#define DN_PREFS_H

#include <stddef.h>

#include "dn_policy.h"

#define DN_PREFS_ALL       ((1u << CH_COUNT) - 1u)
#define DN_PREFS_EMAIL_MAX 254 /* RFC 5321's path limit less the brackets */

/* A channel's name (email, sms, letter, voice) as channel_t: 0, or -1 if it is none. */
int dn_prefs_channel_parse(const char *name, channel_t *out);

/* "email,sms" for a mask, in channel_t order ("" for none). */
void dn_prefs_mask_format(unsigned mask, char *buf, size_t size);

/* 1 if `s` is an address the senders can use: one '@', a local part and a dotted domain
 * of printable ASCII without spaces, quotes, brackets, commas or semicolons, at most
 * DN_PREFS_EMAIL_MAX bytes. 0 otherwise. */
int dn_prefs_email_valid(const char *s);

/* Applies one set_preferences to the opted-out set `current`: opt_out names the channels
 * to add, opt_in those to remove. `reach` is the set of channels the customer's contact
 * data reaches (an e-mail address, a phone, a postal address). The new set goes to *next.
 * Refused (-1, *code and `why` set):
 *   invalid_field  a name that is no channel, or a channel both opted out of and in;
 *   invalid_field  the new e-mail address (email, non-NULL) is malformed;
 *   opt_out_refused  every channel opted out of, or e-mail opted out of while no other
 *                    channel that reaches the customer remains.
 * `email` counts as reaching by e-mail. 0 on success. */
int dn_prefs_apply(unsigned current, const char *const *opt_out, size_t nout, const char *const *opt_in, size_t nin,
                   const char *email, unsigned reach, unsigned *next, const char **code, char *why, size_t why_size);

/* One channel a reminder goes out on; `instead_of` is the channel the customer opted out
 * of that it replaces (CH_COUNT: none, the stage's own channel). */
typedef struct dn_prefs_pick {
    channel_t ch;
    channel_t instead_of;
} dn_prefs_pick_t;

/* The result of the overlay. */
typedef struct dn_prefs_choice {
    dn_prefs_pick_t pick[POLICY_MAX_CHANNELS];
    size_t n;
    unsigned skipped; /* opted-out stage channels nothing could replace */
} dn_prefs_choice_t;

/* The channels one reminder goes out on. For each of the stage's `channels` in order:
 * taken when it reaches the customer (`reach`) and is in neither opted-out set
 * (`contact_out`, the billing system's; `pref_out`, the customer's); when the customer
 * opted out of it (pref_out) it is replaced by the next of the stage's channels after it
 * that may be used, else by e-mail, else by nothing (`skipped`). A channel is taken once.
 * first_only (a fallback after a failed delivery): only the first of `channels` that may
 * be used, no e-mail besides, no channel_order; `skipped` the opted-out ones when none
 * may. Otherwise, when nothing was taken and the
 * customer's preferences did not cause it, the policy's channel_order is tried as before
 * (the first channel of it that may be used). */
void dn_prefs_choose(const channel_t *channels, size_t nchannels, int first_only, const channel_t *order, size_t norder,
                     unsigned reach, unsigned contact_out, unsigned pref_out, dn_prefs_choice_t *out);

#endif
