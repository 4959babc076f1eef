-- The portal's remaining pieces (docs/portal.md, issue 20): instalment plans on the page
-- (it reads the case's plan), contact preferences (actions of their own) and the SMS short
-- link (a short id for a link's token, made once per reminder by sender-sms).
ALTER TABLE portal_actions DROP CONSTRAINT IF EXISTS portal_actions_action_check;
ALTER TABLE portal_actions ADD CONSTRAINT portal_actions_action_check
    CHECK (action IN ('promise', 'dispute', 'claim_paid', 'plan', 'preferences'));
GRANT SELECT ON plans, plan_instalments TO dunning_portal;

-- A short id (base62, 8 characters) standing for one link's token: /s/<id> on the portal is
-- the page of /p/<token>. One row per reminder (reminder_id, the ReminderDue's event id), so
-- a retried or redelivered reminder finds its id again and its text never changes. The
-- token is checked again on every use (expiry, key, erasure), exactly as the long link is.
CREATE TABLE portal_short_links (
    short_id    text PRIMARY KEY CHECK (short_id ~ '^[0-9A-Za-z]{8}$'),
    reminder_id uuid NOT NULL UNIQUE,
    tenant_id   text NOT NULL,
    customer_id text NOT NULL,
    token       text NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portal_short_links_customer ON portal_short_links (tenant_id, customer_id);
GRANT SELECT ON portal_short_links TO dunning_portal;
GRANT SELECT, DELETE ON portal_short_links TO dunning_privacy;
GRANT SELECT, INSERT ON portal_short_links TO dunning_sender;
