/* sender-sms: the SMS's short portal link (docs/portal.md). The text carries
 * <DUNNING_PORTAL_URL>/s/<id>, the id a function of the reminder's event id
 * (dn_portal_short_id), so every attempt of one reminder renders the same text; before the
 * text goes to Kannel the id is stored with the token it stands for in portal_short_links,
 * once per reminder (an attempt again finds its row). */
#ifndef SMS_SHORTLINK_H
#define SMS_SHORTLINK_H

#include "dn_pg.h"
#include "dn_render.h"

/* Stores sh for the reminder rd. 0; -1 with why: the database did not answer (transient);
 * -2 with why: the id is another reminder's already (a 47-bit collision: permanent). */
int shortlink_store(dn_pg_t *pg, const dn_reminder_due_t *rd, const dn_render_short_t *sh, char *why, size_t n);

#endif
