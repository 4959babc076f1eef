-- Case events are published from the audit table itself (issue 16): an audit row about a
-- case is its DunningCaseEvent, so the engine no longer writes a second copy of each into
-- the outbox (and the relay no longer deletes it again). The relay follows audit.id with a
-- durable cursor (common/dn_case_events.c).
--
-- The columns a case event has and an audit row did not:
ALTER TABLE audit ADD COLUMN fee_minor bigint, ADD COLUMN interest_minor bigint, ADD COLUMN currency text;

-- How far each relay has published. 'case-events' starts after the rows that are already
-- here: their case events were written to the outbox, which the outbox relay still drains.
CREATE TABLE relay_cursors (
    name       text PRIMARY KEY,
    last_id    bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO relay_cursors (name, last_id) SELECT 'case-events', coalesce(max(id), 0) FROM audit;

-- A cursor is only safe if ids become visible in order: a row with a lower id must never
-- commit after the relay moved past it. Every INSERT INTO audit therefore takes one
-- transaction-level advisory lock before its rows get their ids (a statement trigger runs
-- before the statement's rows are formed); the lock is held until the transaction ends and
-- released after its commit is visible, so one transaction at a time holds unpublished
-- audit ids, and id order is commit order. Writers of audit rows are the engine (one
-- multi-row statement per batch, flushed last before COMMIT) and dunningctl's erasure.
CREATE FUNCTION audit_append_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(727003);
    RETURN NULL;
END
$$;
CREATE TRIGGER audit_append_in_commit_order BEFORE INSERT ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_append_lock();

GRANT SELECT, UPDATE ON relay_cursors TO dunning_engine;
GRANT SELECT ON relay_cursors TO dunning_reader;

-- What is still to be published, for tests, the benchmark and operators.
CREATE VIEW publish_pending AS
SELECT (SELECT count(*) FROM outbox) AS outbox,
       (SELECT count(*) FROM audit WHERE id > (SELECT last_id FROM relay_cursors WHERE name = 'case-events'))
           AS case_events;
GRANT SELECT ON publish_pending TO dunning_engine, dunning_reader;
