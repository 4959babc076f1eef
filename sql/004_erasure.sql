-- GDPR erasure (`dunningctl customer erase`, docs/privacy.md) runs as a member of
-- dunning_privacy: the one role that may rewrite the contact inside invoices and the
-- outbox, mark deliveries suppressed, and rewrite the details of audit rows (only that
-- column: the kinds, states, amounts and times of the trail stay as written) and add the
-- erasure's own audit row. It may delete nothing. Log in as a member, e.g.
--   CREATE ROLE dpo LOGIN PASSWORD '...' IN ROLE dunning_privacy;
-- Created here when missing, like the roles of 003_roles.sql (needs CREATEROLE).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dunning_privacy') THEN
        CREATE ROLE dunning_privacy NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO dunning_privacy;
GRANT SELECT ON cases TO dunning_privacy;
GRANT SELECT, UPDATE ON invoices, outbox TO dunning_privacy;
GRANT SELECT, INSERT, UPDATE ON deliveries TO dunning_privacy;
GRANT SELECT, INSERT ON audit TO dunning_privacy;
GRANT UPDATE (detail) ON audit TO dunning_privacy;
GRANT USAGE, SELECT ON SEQUENCE audit_id_seq TO dunning_privacy;
