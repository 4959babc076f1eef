/* The resend command (resend.c): the case's last reminder once more, on request. */
#ifndef DN_ENGINE_RESEND_H
#define DN_ENGINE_RESEND_H

#include "case.h"
#include "dn_schemas_gen.h"

/* Sends the case's last stage reminder again: the same stage, template and offer, the
 * amounts owed now, no fee, new reminder ids (derived from the command's event id); on the
 * channels the last reminder went out on, or on v->target_channel (one of the stage's
 * channels, or the last reminder's). Audited as reminder_resent with the actor. Refused
 * (H_REJECT, invalid_state) for a case that is not in an active state (paid, written off,
 * handed over, paused, promised, on a plan) or that has no reminder yet. */
int resend_command(engine_t *e, case_row_t *c, const policy_t *pol, const dn_case_command_t *v, int64_t now);

#endif
