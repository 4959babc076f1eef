/* ReminderDue records (see reminders.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accrual.h"
#include "answers.h"
#include "dn_risk.h"
#include "dn_clock.h"
#include "dn_log.h"
#include "dn_topics.h"
#include "effects.h"
#include "prefs.h"
#include "reminders.h"
#include "writes.h"

/* The channels the contact data reaches (an address, a phone, a postal address). */
static unsigned contact_reach(const dn_customer_contact_t *ct)
{
    unsigned m = 0;
    if (ct->email && *ct->email)
        m |= 1u << CH_EMAIL;
    if (ct->phone && *ct->phone)
        m |= (1u << CH_SMS) | (1u << CH_VOICE);
    if (ct->address)
        m |= 1u << CH_LETTER;
    return m;
}

/* The billing system's opt-outs (contact.opted_out_channels). */
static unsigned contact_opted_out(const dn_customer_contact_t *ct)
{
    unsigned m = 0;
    channel_t ch;
    for (size_t i = 0; i < ct->opted_out_channels_n; i++)
        if (dn_prefs_channel_parse(ct->opted_out_channels[i], &ch) == 0)
            m |= 1u << ch;
    return m;
}

static const dn_topic_id_t channel_topics[CH_COUNT] = {DN_TOPIC_REMINDER_DUE_EMAIL, DN_TOPIC_REMINDER_DUE_SMS,
                                                       DN_TOPIC_REMINDER_DUE_LETTER, DN_TOPIC_REMINDER_DUE_VOICE};

static const dn_channel_t channel_enums[CH_COUNT] = {DN_CHANNEL_EMAIL, DN_CHANNEL_SMS, DN_CHANNEL_LETTER,
                                                     DN_CHANNEL_VOICE};

/* Writes one ReminderDue per channel of `rs` that reaches the customer (contact known,
 * not opted out) into the outbox; when none does, the first channel of the policy's
 * channel_order that does (with rs->first_only: only the first of `channels` that reaches
 * the customer, and no channel_order). The customer's contact preferences go over the
 * invoice's contact (dn_prefs_choose): a channel opted out of is replaced (the entry in
 * `emitted` says instead_of) or skipped (audit reminder_skipped), a corrected address is
 * the ReminderDue's contact.email. Returns the number emitted, or -1. */
int emit_reminders(engine_t *e, const case_row_t *c, const policy_t *pol, const reminder_spec_t *rs, int64_t now,
                   json_t *emitted)
{
    int n = -1;
    PGresult *r = NULL;
    dn_invoice_issued_t inv = {0};
    dn_avro_err_t err;
    const char *params[] = {c->tenant_id, c->invoice_id};
    const char *source;
    int row = cached_case(e, c->case_id);
    if (row >= 0 && !PQgetisnull(e->batch_cases, row, CASE_SOURCE_COL)) {
        source = PQgetvalue(e->batch_cases, row, CASE_SOURCE_COL); /* locked and read with the case */
    } else {
        r = query_bin(e, "SELECT source FROM invoices WHERE tenant_id = $1 AND invoice_id = $2", 2, params, NULL, NULL);
        if (!r || PQntuples(r) != 1)
            goto out;
        source = PQgetvalue(r, 0, 0);
    }
    size_t srclen;
    unsigned char *src = PQunescapeBytea((const unsigned char *)source, &srclen);
    int bad = !src || dn_invoice_issued_decode(src, srclen, &inv, &err) < 0;
    PQfreemem(src);
    if (bad) {
        dn_log_error("stored invoice does not decode", "case_id", c->case_id, "detail", bad && src ? err.msg : "",
                     NULL);
        goto out;
    }
    /* The customer's contact preferences over the invoice's contact (prefs.h): the
     * corrected address, and the channels opted out of replaced or skipped. */
    prefs_t pr;
    if (row >= 0 && !PQgetisnull(e->batch_cases, row, CASE_PREFS_OUT_COL)) /* read with the case (a timer batch) */
        prefs_from_text(PQgetvalue(e->batch_cases, row, CASE_PREFS_OUT_COL),
                        PQgetvalue(e->batch_cases, row, CASE_PREFS_EMAIL_COL), &pr);
    else if (prefs_load(e, c->tenant_id, c->customer_id, &pr) < 0)
        goto out;
    dn_customer_contact_t contact = inv.contact;
    if (pr.email[0])
        contact.email = pr.email;
    dn_prefs_choice_t choice;
    dn_prefs_choose(rs->channels, rs->nchannels, rs->first_only, pol->channel_order, pol->nchannel_order,
                    contact_reach(&contact), contact_opted_out(&contact), pr.opted_out, &choice);
    char key[2 * ID_MAX + 2];
    dn_topic_key(c->tenant_id, c->customer_id, key, sizeof(key));
    /* The case's risk score and reasons (one per line in the row); a customer notice has none. */
    char reasons_buf[sizeof(c->risk_reasons)], *reasons[DN_RISK_REASONS], *save = NULL;
    size_t nreasons = 0;
    snprintf(reasons_buf, sizeof(reasons_buf), "%s", c->risk_reasons);
    for (char *t = strtok_r(reasons_buf, "\n", &save); t && nreasons < DN_RISK_REASONS; t = strtok_r(NULL, "\n", &save))
        reasons[nreasons++] = t;
    int scored = c->risk_score >= 0 && !rs->notice_id;
    n = 0;
    for (size_t i = 0; i < choice.n; i++) {
        channel_t ch = choice.pick[i].ch;
        char event_id[DN_UUID_STR_LEN];
        const char *notice = rs->notice_id;
        const char *parts[] = {"reminder", notice ? notice : c->case_id, rs->id_salt, dn_policy_channel_name(ch)};
        dn_uuid_derive(event_id, parts, 4);
        const int64_t zero[5] = {0}, *tot = rs->totals ? rs->totals : zero;
        dn_reminder_due_t rd = {.event_id = event_id,
                                .occurred_at = now,
                                .tenant_id = (char *)c->tenant_id,
                                .customer_id = (char *)c->customer_id,
                                .case_id = (char *)(notice ? notice : c->case_id),
                                .invoice_id = notice ? "" : (char *)c->invoice_id,
                                .invoice_number = notice ? NULL : inv.invoice_number,
                                .channel = channel_enums[ch],
                                .stage = rs->stage,
                                .stage_name = (char *)rs->stage_name,
                                .template_key = (char *)rs->template_key,
                                .policy = pol->name,
                                .issue_date = notice ? dn_date_from_ms(now) : inv.issue_date,
                                .due_date = notice ? dn_date_from_ms(rs->due_ms) : inv.due_date,
                                .days_overdue =
                                    notice ? 0 : dn_date_from_ms(rs->due_ms) - inv.due_date, /* < 0 before */
                                .amount_minor = notice ? tot[0] : c->amount,
                                .outstanding_minor = notice ? tot[1] : c->outstanding,
                                .fee_minor = notice ? tot[2] : c->fee,
                                .interest_minor = notice ? tot[3] : c->interest,
                                .total_due_minor = notice ? tot[4] : total_due(c),
                                .currency = (char *)c->currency,
                                .action = (char *)rs->action,
                                .payment_link = rs->card ? NULL : inv.payment_link,
                                .due_at = rs->due_ms,
                                .contact = contact,
                                .notice_kind = (char *)rs->notice_kind,
                                .discount = (dn_discount_offer_t *)rs->discount,
                                .instalment = (dn_instalment_ref_t *)rs->instalment,
                                .items = (dn_notice_item_t *)rs->items,
                                .items_n = rs->nitems,
                                .card = (dn_card_ref_t *)rs->card,
                                .update_link = (char *)rs->update_link,
                                .risk_score = scored ? c->risk_score : 0,
                                .has_risk_score = scored,
                                .risk_reasons = scored && nreasons ? reasons : NULL,
                                .risk_reasons_n = scored ? nreasons : 0};
        char *buf = NULL;
        size_t len = 0;
        int ok = dn_reminder_due_encode(&rd, &buf, &len) == 0 &&
                 outbox_add(e, event_id, dn_topic_name(channel_topics[ch]), key, buf, len) == 0;
        free(buf);
        if (!ok) {
            n = -1;
            goto out;
        }
        json_t *em = json_pack("{s:s, s:s}", "channel", dn_policy_channel_name(ch), "event_id", event_id);
        if (choice.pick[i].instead_of != CH_COUNT) { /* the customer opted out of the stage's channel */
            json_object_set_new(em, "instead_of", json_string(dn_policy_channel_name(choice.pick[i].instead_of)));
            json_object_set_new(em, "why", json_string("opted out by the customer (contact preferences)"));
        }
        json_array_append_new(emitted, em);
        engine_note(e, EM_REMINDER, rs->stage_name, dn_policy_channel_name(ch));
        n++;
    }
    if (choice.skipped) {
        char caused_by[DN_UUID_STR_LEN];
        const char *parts[] = {"reminder-skipped", rs->notice_id ? rs->notice_id : c->case_id, rs->id_salt};
        dn_uuid_derive(caused_by, parts, 3);
        if (prefs_note_skipped(e, c, rs->stage, rs->stage_name, choice.skipped, caused_by, now) < 0)
            n = -1;
    }
out:
    PQclear(r);
    dn_invoice_issued_free(&inv);
    return n;
}
