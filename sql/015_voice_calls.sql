-- sender-voice's ledger of calls (services/sender-voice/rules.c): one row per dial, written
-- before the INVITE and completed when the call ends, so that the calling rules count every
-- attempt, connected or not, even one cut short by a crash: at most voice.max_attempts_per_7d
-- calls per case in any 7 days, none for voice.quiet_after_answer after a call the customer
-- answered with a key. No phone number or other contact data is kept here.
CREATE TABLE IF NOT EXISTS voice_calls (
    id                bigserial PRIMARY KEY,
    reminder_event_id uuid NOT NULL,
    tenant_id         text NOT NULL,
    case_id           uuid NOT NULL,
    dialled_at        timestamptz NOT NULL,
    result            text NOT NULL DEFAULT 'dialling', -- then a ReminderOutcome call.result
    digit             text,
    duration_ms       bigint,
    conversation      boolean NOT NULL DEFAULT false    -- answered and a key pressed
);
-- The rules' one query: a case's calls since a time.
CREATE INDEX IF NOT EXISTS voice_calls_case ON voice_calls (case_id, dialled_at);
