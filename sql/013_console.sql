-- The credit-manager console (services/console): its users, their sessions and the access log.
-- None of this is case state: console actions reach cases only as CaseCommands through Kafka,
-- and nothing here goes into `audit` (whose rows are relayed as case events).

-- Users, managed with `dunningctl user add|disable|passwd|list`.
--   password_hash  libsodium crypto_pwhash_str (argon2id, "$argon2id$v=19$m=...")
--   role           viewer (read only) < collector (case actions) < manager (also write-off,
--                  credit, cancel, hand-over) < admin (also user management)
--   tenants        the tenants the user may see. '*' (every tenant) is accepted only for
--                  admin: a viewer, collector or manager always names its tenants, so that a
--                  new tenant is never visible to them by accident.
CREATE TABLE console_users (
    user_id             bigserial PRIMARY KEY,
    login               text NOT NULL UNIQUE CHECK (login ~ '^[A-Za-z0-9._@-]{1,64}$'),
    password_hash       text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    role                text NOT NULL CHECK (role IN ('viewer', 'collector', 'manager', 'admin')),
    tenants             text[] NOT NULL CHECK (cardinality(tenants) > 0),
    disabled            boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    CHECK (role = 'admin' OR NOT ('*' = ANY (tenants)))
);

-- Sessions: only the SHA-256 of the session token is stored (the cookie holds the token), so
-- a read of this table cannot be replayed as a login. csrf_token is sent back by the browser
-- in the X-CSRF-Token header on every state-changing request. A session ends at expires_at
-- (absolute timeout) or when last_seen is older than the idle timeout (DUNNING_CONSOLE_IDLE).
CREATE TABLE console_sessions (
    token_hash bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    user_id    bigint NOT NULL REFERENCES console_users ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_id);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- Who did what, when, from where: logins, failed logins, logouts, denials, actions sent.
-- Never a password or a token. login is the name given (also for unknown users).
CREATE TABLE console_access_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    login       text,
    kind        text NOT NULL CHECK (kind IN ('login', 'login_failed', 'logout', 'denied', 'action')),
    method      text,
    path        text,
    remote_addr text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX console_access_log_at ON console_access_log (at);

-- The console's login role is a member of dunning_console: it reads cases and their trail,
-- and owns its three tables. dunningctl's user commands run as the migrating (owner) role.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dunning_console') THEN
        CREATE ROLE dunning_console NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO dunning_console;
GRANT SELECT ON invoices, cases, audit, promises, promise_cases, plans, deliveries TO dunning_console;
GRANT SELECT, UPDATE ON console_users TO dunning_console;
GRANT SELECT, INSERT, UPDATE, DELETE ON console_sessions TO dunning_console;
GRANT SELECT, INSERT ON console_access_log TO dunning_console;
GRANT USAGE, SELECT ON SEQUENCE console_access_log_id_seq TO dunning_console;
