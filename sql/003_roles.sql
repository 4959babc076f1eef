-- Least-privilege roles. Migrations run as the role that owns the tables (the one that runs
-- `dunningctl migrate`); the services connect as login roles that are members of one of
-- these group roles, which hold only the table privileges that service needs. None of them
-- may DROP, TRUNCATE or ALTER anything, and none gets DELETE where the service only adds.
--   dunning_engine  the engine: invoices, cases, payments, audit, processed_events,
--                   held_events, and the outbox it writes and relays
--   dunning_sender  sender-email, sender-sms, sender-letter: deliveries, the last-mile
--                   read of cases, and the outbox of their outcomes
--   dunning_reader  dunningctl's read commands (case show, cases list, aging, timers
--                   rebuild, dlq list) for operators
-- Log in as a member, e.g. (as an administrator, once per service account):
--   CREATE ROLE engine LOGIN PASSWORD '...' IN ROLE dunning_engine;
-- The group roles are created here when missing, which needs CREATEROLE; where the migrating
-- role lacks it, an administrator creates the three NOLOGIN roles first (docs/deploy.md).
-- A later migration that adds a table grants these roles what they need of it.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['dunning_engine', 'dunning_sender', 'dunning_reader'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
    END LOOP;
END
$$;

GRANT USAGE ON SCHEMA public TO dunning_engine, dunning_sender, dunning_reader;

GRANT SELECT, INSERT, UPDATE ON invoices, cases, payments TO dunning_engine;
GRANT SELECT, INSERT ON audit, processed_events TO dunning_engine;
GRANT SELECT, INSERT, DELETE ON held_events, outbox TO dunning_engine;
GRANT USAGE, SELECT ON SEQUENCE audit_id_seq, held_events_id_seq, outbox_id_seq TO dunning_engine;

GRANT SELECT ON cases TO dunning_sender;
GRANT SELECT, INSERT, UPDATE ON deliveries TO dunning_sender;
GRANT SELECT, INSERT, DELETE ON outbox TO dunning_sender;
GRANT USAGE, SELECT ON SEQUENCE outbox_id_seq TO dunning_sender;

GRANT SELECT ON invoices, cases, payments, audit, deliveries, held_events, outbox, processed_events
    TO dunning_reader;
