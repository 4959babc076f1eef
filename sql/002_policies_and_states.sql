-- The full case state machine (docs/case-states.md): fees and interest, failed-card
-- retries, pauses, credits; and input held until the invoice it refers to arrives.

-- What is owed, split as payments are allocated to it (fees, then interest, then
-- principal): outstanding_minor is the principal still owed, fee_minor the fees still
-- owed, interest_minor the interest still owed (rounded from interest_micro, the
-- interest accrued day by day in millionths of a minor unit, minus interest_paid_minor).
ALTER TABLE cases
    ADD COLUMN fees_charged_minor  bigint NOT NULL DEFAULT 0,
    ADD COLUMN interest_micro      bigint NOT NULL DEFAULT 0,
    ADD COLUMN interest_through    date,
    ADD COLUMN interest_paid_minor bigint NOT NULL DEFAULT 0,
    ADD COLUMN credited_minor      bigint NOT NULL DEFAULT 0,
    ADD COLUMN overpaid_minor      bigint NOT NULL DEFAULT 0,
    -- The one pending timer is next_action_at; next_action says what it is:
    -- 'stage' (next_stage fires), 'retry' (ask the billing system to charge again),
    -- 'retry_result' (the last retry's result is overdue), 'resume' (a pause ends).
    ADD COLUMN next_action         text NOT NULL DEFAULT 'stage',
    -- Failed-card retries: how many retry requests went out, counted from retry_base_at
    -- (the first failed charge), and the last decline.
    ADD COLUMN retry_attempt       int NOT NULL DEFAULT 0,
    ADD COLUMN retry_base_at       timestamptz,
    ADD COLUMN retry_payment_id    text,
    ADD COLUMN last_decline_code   text,
    ADD COLUMN retry_from          text, -- the state the retries started in
    -- A paused case remembers the state it was paused in, why, and until when.
    ADD COLUMN paused_from         text,
    ADD COLUMN pause_reason        text,
    ADD COLUMN paused_until        date;

-- Input about an invoice the engine has not seen yet (a failed charge, a command),
-- replayed in arrival order when the invoice arrives.
CREATE TABLE held_events (
    id          bigserial PRIMARY KEY,
    tenant_id   text NOT NULL,
    invoice_id  text NOT NULL,
    event_id    uuid NOT NULL UNIQUE,
    topic       text NOT NULL,
    payload     bytea NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX held_events_invoice ON held_events (tenant_id, invoice_id, id);
