-- The customer's contact preferences (CaseCommand set_preferences, docs/policies.md
-- "Contact preferences"): what the engine applies to every later ReminderDue of the
-- customer with the tenant, and the consent history it keeps of every change.
--
-- contact_preferences: the current preferences, one row per (tenant, customer), written
-- only by the engine. opted_out: the channels the customer no longer wants (the billing
-- system's contact.opted_out_channels apply too); email: the corrected address that
-- replaces the invoices' contact e-mail (null = the invoice's). Contact data: erased by
-- dunningctl customer erase, never logged.
CREATE TABLE contact_preferences (
    tenant_id   text NOT NULL,
    customer_id text NOT NULL,
    opted_out   text[] NOT NULL DEFAULT '{}'
        CHECK (opted_out <@ ARRAY['email', 'sms', 'letter', 'voice']::text[]),
    email       text,
    updated_at  timestamptz NOT NULL,
    event_id    uuid NOT NULL, -- the command that last changed them
    PRIMARY KEY (tenant_id, customer_id)
);

-- consent_events: append-only (the engine may only insert), one row per applied
-- set_preferences: when, who (actor), where from (channel: portal, api, ...), which
-- invoice it was given from, what changed. The address itself is never stored here, only
-- that it changed (email_changed).
CREATE TABLE consent_events (
    id            bigserial PRIMARY KEY,
    tenant_id     text NOT NULL,
    customer_id   text NOT NULL,
    at            timestamptz NOT NULL,
    event_id      uuid NOT NULL UNIQUE,
    invoice_id    text,
    actor         text,
    channel       text,
    opted_out     text[] NOT NULL DEFAULT '{}', -- added by this command
    opted_in      text[] NOT NULL DEFAULT '{}', -- removed by this command
    email_changed boolean NOT NULL DEFAULT false,
    result        text[] NOT NULL DEFAULT '{}'  -- the opted-out set afterwards
);
CREATE INDEX consent_events_customer ON consent_events (tenant_id, customer_id, at);

GRANT SELECT, INSERT, UPDATE ON contact_preferences TO dunning_engine;
GRANT SELECT, INSERT ON consent_events TO dunning_engine;
GRANT USAGE, SELECT ON SEQUENCE consent_events_id_seq TO dunning_engine;
GRANT SELECT ON contact_preferences, consent_events TO dunning_reader;
-- The senders' last-mile check: a channel opted out of after its reminder was emitted.
GRANT SELECT ON contact_preferences TO dunning_sender;
GRANT SELECT, DELETE ON contact_preferences, consent_events TO dunning_privacy;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dunning_portal') THEN
        GRANT SELECT ON contact_preferences TO dunning_portal;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dunning_console') THEN
        GRANT SELECT ON contact_preferences, consent_events TO dunning_console;
    END IF;
END
$$;
