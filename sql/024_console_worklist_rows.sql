-- The console's worklist, kept as one row per open case (services/console/worklist_rows.c,
-- docs/console.md#performance): the facts the collection strategy reads (what is owed, days
-- overdue through the due date, stage, broken promises, callbacks, dispute, risk score, the
-- channels reminded on) and the priority they give, so that a worklist page is an index scan
-- of its first rows instead of the priority of every open case computed per request (about
-- 3 s with 600,000 open cases here; bench/console.sh).
--
-- Not case state: the console derives these rows from the engine's tables and may drop and
-- rebuild them at any time. It follows audit.id (whose order is commit order, sql/011) with
-- the cursor in console_worklist_sync: every change of a case writes an audit row, so the
-- cases of the audit rows past the cursor are the ones to look at again. The priority's days
-- overdue change with the date, not with an event: the row of console_worklist_sync says for
-- which day (and which strategies) the priorities were computed, and the first request of a
-- new day updates the rows whose priority changed.
CREATE TABLE console_worklist (
    case_id        uuid PRIMARY KEY,
    tenant_id      text NOT NULL,
    invoice_id     text NOT NULL,
    invoice_number text,
    customer_id    text NOT NULL,
    state          text NOT NULL,
    stage          integer NOT NULL,
    owed_minor     bigint NOT NULL, -- outstanding + fees + interest
    outstanding_minor bigint NOT NULL,
    currency       character(3) NOT NULL,
    due_date       date NOT NULL,
    broken         integer NOT NULL, -- broken promises
    promise_due    date,             -- the earliest open promise's date
    callbacks      integer NOT NULL,
    disputed       boolean NOT NULL,
    risk           smallint NOT NULL, -- -1: no score
    pause_reason   text,
    paused_until   date,
    channels       text[] NOT NULL,  -- the channels reminders of the case went out on
    priority       integer NOT NULL,
    listed         boolean NOT NULL  -- on the worklist at all (min_amount, not yet due)
);
-- The page's order (ORDER BY priority DESC, due_date, owed_minor DESC, case_id): a user of
-- many tenants reads the first, a single-tenant filter the second.
CREATE INDEX console_worklist_order ON console_worklist (priority DESC, due_date, owed_minor DESC, case_id)
    WHERE listed;
CREATE INDEX console_worklist_tenant_order
    ON console_worklist (tenant_id, priority DESC, due_date, owed_minor DESC, case_id) WHERE listed;
-- ?promise_due=: the few cases with an open promise.
CREATE INDEX console_worklist_promise ON console_worklist (promise_due) WHERE promise_due IS NOT NULL;

CREATE TABLE console_worklist_sync (
    one        boolean PRIMARY KEY DEFAULT true CHECK (one),
    audit_id   bigint NOT NULL,  -- the audit rows up to here are in console_worklist
    day        date NOT NULL,    -- the day the priorities are for
    strategies text NOT NULL,    -- the strategies they were computed with (a fingerprint)
    updated_at timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON console_worklist, console_worklist_sync TO dunning_console;
GRANT SELECT ON console_worklist, console_worklist_sync TO dunning_reader;

-- The overview (services/console/overview.c) reads the audit rows of a period: the
-- reminders emitted, the recovery after them, the cases changed since a moment (for the
-- receivables at the period's start). A BRIN index on audit.at finds them: audit rows are
-- appended in time order, so a block range's min and max cover a short stretch of time; it
-- is a few pages for millions of rows and costs the engine's appends next to nothing (a
-- btree would add an entry per row).
CREATE INDEX audit_at_brin ON audit USING brin (at) WITH (pages_per_range = 32, autosummarize = on);
