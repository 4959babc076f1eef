/* dn_render: what every channel renders a reminder with, once.
 *
 *  - the render context of a ReminderDue (the names, amounts and dates a template sees, the
 *    same in e-mail, SMS, letter and voice templates; docs/templates.md lists them);
 *  - finding a reminder's template file and rendering it (dn_template does the Mustache);
 *  - the sample reminders `--check-templates` renders every template against, and the walk
 *    over a channel's template files that does it.
 *
 * Files: <dir>/<tenant_id>/<template_key>.<channel>.<locale>.<ext>, else the same under
 * <dir>/default/, locales from the most specific (see dn_template_resolve). A channel driver
 * adds only what is its own: the e-mail's three parts, the letter's table, the SMS length. */
#ifndef DN_RENDER_H
#define DN_RENDER_H

#include <jansson.h>
#include <stdio.h>

#include "dn_portal_link.h"
#include "dn_schemas_gen.h"
#include "dn_template.h"

/* The render context of rd, amounts and dates formatted for `locale`. New reference, or
 * NULL when out of memory. Besides the invoice's names: items[] (a consolidated notice's
 * invoices: number, due_date, due_date_iso, days_overdue, stage, stage_name, outstanding,
 * fee, interest, total_due and their *_minor, dunned, not_dunned_reason, not_dunned_text),
 * has_items, item_count, dunned_count; card (brand, last4, exp_month, exp_year, expiry
 * "MM/YYYY") or null; update_link (http(s) only) or null; portal_link (see
 * dn_render_set_portal) or null. */
json_t *dn_render_context(const dn_reminder_due_t *rd, const char *locale);

/* Turns the portal links on for this process: every context gets portal_link,
 * <base_url>/p/<token> for the reminder's tenant and customer (dn_portal_link.h), valid
 * lifetime_ms after the reminder was due. base_url empty: off (portal_link is null). 0, or
 * -1 with err (a URL that is not http(s), keys that do not parse, none to sign with). */
int dn_render_set_portal(const char *base_url, const char *keys_spec, int64_t lifetime_ms, char *err, size_t errsz);
/* The customer's portal link for rd (what {{portal_link}} renders): it expires the link
 * lifetime after the reminder was due, so the same reminder always carries the same link.
 * 0, or -1 when the portal is off or the ids cannot be signed. */
int dn_render_portal_link(const dn_reminder_due_t *rd, char *out, size_t n);
/* Short links (sender-sms): on, every context also gets portal_short_link,
 * <base_url>/s/<short id> (dn_portal_short_id over the reminder's event id); off (the
 * default), it is null. The sender must store the id with its token (portal_short_links)
 * before the text leaves. */
void dn_render_set_portal_short(int on);
typedef struct dn_render_short {
    char id[DN_PORTAL_SHORT_LEN + 1];
    char token[DN_PORTAL_TOKEN_MAX];
    int64_t expires_s;
    char link[600];
} dn_render_short_t;
/* rd's short link, its id, and the token and expiry it stands for. 0, or -1 when short
 * links (or the portal) are off or the ids cannot be signed. */
int dn_render_portal_short(const dn_reminder_due_t *rd, dn_render_short_t *out);

/* 1 if s is an http:// or https:// link (any case): the only links put into a template's
 * context or a page (never a javascript: URL). */
int dn_render_web_link(const char *s);

/* Where a rendered template came from. */
typedef struct dn_render_source {
    char folder[160]; /* "acme" or "default" */
    char locale[40];  /* the locale of the file used */
    char name[512];   /* "<folder>/<key>.<channel>.<locale>", for logs and messages */
} dn_render_source_t;

/* Finds the template of rd for channel (its file <name>.<ext> must exist); a template
 * variant "<template>--<variant>" without files of its own falls back to "<template>"
 * (docs/risk.md, "Variants"). 0, or -1 with
 * errstr ("no template first_reminder for locale de-AT ..."). */
int dn_render_find(const char *dir, const dn_reminder_due_t *rd, const char *channel, const char *ext,
                   dn_render_source_t *src, char *errstr, size_t errstr_size);

/* Names the template file of (folder, key, channel, locale) in src, without looking. */
void dn_render_source_set(dn_render_source_t *src, const char *folder, const char *key, const char *channel,
                          const char *locale);

/* What a consolidated notice says of an item it lists but does not dun, by
 * not_dunned_reason (promise, plan, dispute, paused) in the locale's language (en, de):
 * "promise to pay made" / "Zahlungszusage liegt vor", ... NULL for NULL. */
const char *dn_render_not_dunned_text(const char *reason, const char *locale);

/* Reads <dir>/<src->name>.<ext> (at most max_bytes) and renders it with ctx. A malloc'd
 * string, or NULL with errstr ("default/first_reminder.sms.de.txt: line 1: {{fee}} is not
 * defined", "...: No such file or directory"). */
char *dn_render_file(const char *dir, const dn_render_source_t *src, const char *ext, json_t *ctx,
                     dn_template_mode_t mode, size_t max_bytes, char *errstr, size_t errstr_size);

/* Adds a channel's own names to the context (the letter's letter.*). 0, or -1 (out of memory). */
typedef int (*dn_render_extend_fn)(json_t *ctx, const dn_reminder_due_t *rd, const char *locale, void *arg);

/* Renders rd's <ext> file of channel as text: the file `given` names (a check), else the one
 * dn_render_find finds (named in *src), with the reminder's context, extended by extend when
 * set. Same contract as dn_render_file. */
char *dn_render_text(const char *dir, const char *channel, const char *ext, const dn_render_source_t *given,
                     const dn_reminder_due_t *rd, dn_render_extend_fn extend, void *arg, size_t max_bytes,
                     dn_render_source_t *src, char *errstr, size_t errstr_size);

/* A sample reminder for template checks: every optional field set (full) or none; a long
 * contact name with non-ASCII letters and markup characters, large amounts, an e-mail
 * address, a phone number, a time zone and a postal address. Strings are static. */
typedef struct dn_render_sample {
    dn_reminder_due_t rd;
    dn_postal_address_t address;
    dn_discount_offer_t discount;   /* the full sample carries an early-settlement offer */
    dn_instalment_ref_t instalment; /* and a plan instalment */
    dn_notice_item_t items[3];      /* three listed invoices, the third under a promise to pay */
    dn_card_ref_t card;             /* a card that expires (visa 4242, 03/2027) and its update link */
} dn_render_sample_t;
void dn_render_sample(dn_render_sample_t *s, dn_channel_t channel, int full, const char *tenant, const char *key,
                      const char *locale);

/* Checks one template file against one sample: the number of problems, each said on out
 * ("<what went wrong> (full sample)"). */
typedef int (*dn_render_check_fn)(void *arg, const char *dir, const dn_render_source_t *src,
                                  const dn_reminder_due_t *sample, int full, FILE *out);

/* Calls fn for every <folder>/<key>.<channel>.<locale>.<ext> under dir, with the full and
 * then the minimal sample, and ends with "N <what>s checked, M problems" on out. Returns
 * the number of problems (1 if dir cannot be read). */
int dn_render_check(const char *dir, dn_channel_t channel, const char *ext, const char *what, dn_render_check_fn fn,
                    void *arg, FILE *out);

#endif
