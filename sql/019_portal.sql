-- The customer portal (services/portal, docs/portal.md). It reads a customer's cases and
-- never writes case state: each action is a CaseCommand to the engine. Its own table is
-- the log of those actions, whose primary key is the single-use form nonce: a form sent
-- twice (a double click, a replay) is refused by this key. Text the customer typed (a
-- dispute's explanation, a remittance note) lives here, for the console; no contact data.
CREATE TABLE portal_actions (
    nonce       text PRIMARY KEY,
    tenant_id   text NOT NULL,
    customer_id text NOT NULL,
    invoice_id  text,
    action      text NOT NULL CHECK (action IN ('promise', 'dispute', 'claim_paid')),
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb,
    command_id  uuid NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
-- The console's and the erasure's lookup: a customer's actions.
CREATE INDEX portal_actions_customer ON portal_actions (tenant_id, customer_id);

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dunning_portal') THEN
        CREATE ROLE dunning_portal NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO dunning_portal;
GRANT SELECT ON invoices, cases, audit, promises, deliveries TO dunning_portal;
GRANT SELECT, INSERT ON portal_actions TO dunning_portal;
GRANT SELECT ON portal_actions TO dunning_console;
-- Erasure (dunningctl customer erase, run as dunning_privacy) deletes a customer's actions.
GRANT SELECT, DELETE ON portal_actions TO dunning_privacy;
