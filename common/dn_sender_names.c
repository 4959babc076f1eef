/* What each channel is called: its provider, the names of its settings, metrics and log
 * lines (dn_sender_names_t). Operators, dashboards and tests know these names: a change
 * here is a change of the contract (docs/configuration.md, docs/senders.md). */
#include "dn_sender.h"

const dn_sender_names_t dn_sender_names[] = {
    [DN_CHANNEL_EMAIL] =
        {
            .provider = "smtp",
            .msg_unreachable = "the last attempt got no answer from the smtp server (connection or timeout)",
            .group_env = "DUNNING_SENDER_GROUP",
            .retry_prefix = "SMTP",
            .failure = "a transient SMTP failure (4xx, no connection)",
            .failing = "the SMTP server",
            .http_default = "127.0.0.1:9465",
            .send_metric = "dunning_smtp_send_duration_seconds",
            .send_help = "Time of one SMTP transaction, by result (ok, transient, permanent).",
            .send_results = {"ok", "transient", "permanent"},
            .msg_outcome = {[DN_OUTCOME_DELIVERED] = "reminder delivered",
                            [DN_OUTCOME_SUPPRESSED] = "reminder suppressed",
                            [DN_OUTCOME_FAILED_TRANSIENT] = "reminder delivery failed, will retry",
                            [DN_OUTCOME_FAILED_PERMANENT] = "reminder delivery failed permanently"},
            .msg_retry = "smtp transient failure, retrying",
            .msg_resend = "previous attempt did not finish; sending again with the same message-id",
        },
    [DN_CHANNEL_SMS] =
        {
            .provider = "kannel",
            .msg_unreachable = "the last sendsms request did not reach Kannel",
            .failure = "a failed sendsms request",
            .failing = "Kannel",
            .http_default = "127.0.0.1:9467",
            .send_metric = "dunning_sms_send_duration_seconds",
            .send_help = "Time of one sendsms request to Kannel, by result (accepted, transient, permanent).",
            .send_results = {"accepted", "transient", "permanent"},
            .msg_outcome = {[DN_OUTCOME_DELIVERED] = "sms sent",
                            [DN_OUTCOME_SUPPRESSED] = "reminder suppressed",
                            [DN_OUTCOME_FAILED_TRANSIENT] = "sms not sent, will retry",
                            [DN_OUTCOME_FAILED_PERMANENT] = "sms failed permanently"},
            .msg_retry = "sms not sent, retrying",
            .msg_resend = "previous attempt did not finish; sending again (the customer may get it twice)",
            .defer_result = "quiet_hours",
            .defer_metric = "dunning_sms_quiet_hours_deferrals_total",
            .defer_help = "Reminders held because it was quiet hours in the customer's time zone.",
            .msg_defer = "quiet hours in the customer's time zone, consumption paused",
            .defer_hint = "the same reminder is sent when they end",
        },
    [DN_CHANNEL_LETTER] =
        {
            .provider = "spool",
            .msg_unreachable = "the last letter could not be written to the spool folder (disk full, no permission)",
            .failure = "a failed spool write (disk full, no folder)",
            .failing = "the spool",
            .http_default = "127.0.0.1:9466",
            .msg_outcome = {[DN_OUTCOME_DELIVERED] = "letter spooled",
                            [DN_OUTCOME_SUPPRESSED] = "reminder suppressed",
                            [DN_OUTCOME_FAILED_TRANSIENT] = "letter not spooled, will retry",
                            [DN_OUTCOME_FAILED_PERMANENT] = "letter failed permanently"},
            .msg_retry = "letter not spooled, retrying",
            .msg_resend = "previous attempt did not finish; writing the letter again under the same file name",
        },
};
