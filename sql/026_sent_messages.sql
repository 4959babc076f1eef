-- What the e-mail and SMS senders sent, as the customer got it (the subject and the text),
-- kept for the console's case view (docs/console.md#what-was-sent): written by the sender
-- core with the claim, before the message leaves; one row per ReminderDue event id (a retry
-- keeps the first). The letter keeps its PDF in the spool folder, the call its WAV in the
-- voice audio folder. Contact data (the customer's name in the text): erased with the
-- customer (dunningctl erase).
CREATE TABLE IF NOT EXISTS sent_messages (
    event_id   uuid PRIMARY KEY,
    channel    text NOT NULL,
    tenant_id  text NOT NULL,
    invoice_id text NOT NULL,
    case_id    uuid NOT NULL,
    subject    text,
    body       text NOT NULL,
    template   text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sent_messages_invoice ON sent_messages (tenant_id, invoice_id);
GRANT SELECT, INSERT ON sent_messages TO dunning_sender;
GRANT SELECT ON sent_messages TO dunning_console, dunning_reader;
GRANT SELECT, DELETE ON sent_messages TO dunning_privacy;
