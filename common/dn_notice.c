#include "dn_notice.h"

#include <stdlib.h>
#include <string.h>

#include "dn_avro.h"

int dn_notice_is_customer_level(const dn_reminder_due_t *rd)
{
    return rd->notice_kind &&
           (strcmp(rd->notice_kind, "customer_notice") == 0 || strcmp(rd->notice_kind, "card_expiry") == 0);
}

/* Why a case in `state` is listed but not dunned; NULL when it dunns, "" when it is done
 * (resolved, written off). */
static const char *hold_of(const dn_notice_case_t *c)
{
    if (!c->found || strcmp(c->state, "resolved") == 0 || strcmp(c->state, "written_off") == 0)
        return "";
    if (strcmp(c->state, "promised") == 0)
        return "promise";
    if (strcmp(c->state, "on_plan") == 0)
        return "plan";
    if (strcmp(c->state, "paused") == 0)
        return c->pause_reason && strcmp(c->pause_reason, "dispute") == 0 ? "dispute" : "paused";
    return NULL;
}

int dn_notice_refresh(dn_reminder_due_t *rd, const dn_notice_case_t *now, int *changed)
{
    size_t kept = 0;
    int rc = 0;
    for (size_t i = 0; i < rd->items_n; i++) {
        dn_notice_item_t it = rd->items[i];
        const char *hold = hold_of(&now[i]);
        if (hold && !*hold) { /* paid, credited, cancelled or written off: off the list */
            dn_record_free(&dn_notice_item_desc, &it);
            *changed = 1;
            continue;
        }
        if (hold && it.dunned) {
            char *why = strdup(hold);
            if (!why) {
                rc = -1;
            } else {
                free(it.not_dunned_reason);
                it.not_dunned_reason = why;
                it.dunned = false;
                *changed = 1;
            }
        }
        if (now[i].outstanding_minor < it.outstanding_minor) { /* a part payment since */
            it.outstanding_minor = now[i].outstanding_minor;
            it.fee_minor = now[i].fee_minor < it.fee_minor ? now[i].fee_minor : it.fee_minor;
            it.interest_minor = now[i].interest_minor < it.interest_minor ? now[i].interest_minor : it.interest_minor;
            it.total_due_minor = it.outstanding_minor + it.fee_minor + it.interest_minor;
            *changed = 1;
        }
        rd->items[kept++] = it;
    }
    rd->items_n = kept;
    int dunned = 0;
    if (*changed) {
        int64_t out = 0, fee = 0, interest = 0, total = 0;
        for (size_t i = 0; i < kept; i++) {
            const dn_notice_item_t *it = &rd->items[i];
            if (!it->dunned)
                continue;
            out += it->outstanding_minor;
            fee += it->fee_minor;
            interest += it->interest_minor;
            total += it->total_due_minor;
        }
        rd->amount_minor = out;
        rd->outstanding_minor = out;
        rd->fee_minor = fee;
        rd->interest_minor = interest;
        rd->total_due_minor = total;
    }
    for (size_t i = 0; i < kept; i++)
        dunned += rd->items[i].dunned ? 1 : 0;
    return rc < 0 ? -1 : dunned;
}
