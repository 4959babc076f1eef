-- The console's own records about cases (services/console, docs/console.md): who works a
-- case (assignment) and the collectors' notes. Neither is case state: the engine never reads
-- them, no reminder depends on them, and they are not in `audit` (whose rows are relayed as
-- case events). Everything that changes a case goes to the engine as a CaseCommand.

-- The collector a case is assigned to (one at a time). A case's assignment is replaced by
-- the next; "unassign" deletes the row. login is a console_users.login, kept as text so that
-- a disabled user's assignments stay readable.
CREATE TABLE console_assignments (
    case_id     uuid PRIMARY KEY,
    tenant_id   text NOT NULL,
    login       text NOT NULL,
    assigned_by text NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_assignments_login ON console_assignments (login, tenant_id); -- worklist ?assigned=me

-- Notes on a case, in the case's timeline with the engine's audit rows. Never edited.
CREATE TABLE console_notes (
    id        bigserial PRIMARY KEY,
    case_id   uuid NOT NULL,
    tenant_id text NOT NULL,
    author    text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now(),
    text      text NOT NULL CHECK (length(text) BETWEEN 1 AND 4000)
);
CREATE INDEX console_notes_case ON console_notes (case_id, id);

-- The worklist reads the open cases of a tenant, with their broken promises and callbacks
-- joined grouped: callbacks are few among the audit rows, so a partial index finds them.
CREATE INDEX IF NOT EXISTS cases_tenant_state ON cases (tenant_id, state);
CREATE INDEX IF NOT EXISTS audit_callbacks ON audit (case_id) WHERE kind = 'callback_requested';

GRANT SELECT, INSERT, UPDATE, DELETE ON console_assignments TO dunning_console;
GRANT SELECT, INSERT ON console_notes TO dunning_console;
GRANT USAGE, SELECT ON SEQUENCE console_notes_id_seq TO dunning_console;
GRANT SELECT ON console_assignments, console_notes TO dunning_reader;
-- A note is free text and may name the customer: `dunningctl customer erase` deletes the
-- notes of the customer's cases (docs/privacy.md).
GRANT SELECT, DELETE ON console_notes TO dunning_privacy;
