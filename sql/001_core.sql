-- Core state of the dunning engine. PostgreSQL is the source of truth; Redis holds
-- only an index of cases.next_action_at that can be rebuilt from here.
-- All times are the dunning clock's (simulated in demos and tests), in UTC.

-- Every consumed input event id, so a redelivered event changes nothing.
CREATE TABLE processed_events (
    event_id     uuid PRIMARY KEY,
    topic        text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Invoices as issued, with the customer's contact snapshot.
CREATE TABLE invoices (
    tenant_id        text NOT NULL,
    invoice_id       text NOT NULL,
    customer_id      text NOT NULL,
    invoice_number   text,
    amount_minor     bigint NOT NULL CHECK (amount_minor > 0),
    currency         char(3) NOT NULL,
    issue_date       date NOT NULL,
    due_date         date NOT NULL,
    policy           text,
    customer_segment text,
    payment_link     text,
    contact          jsonb NOT NULL,
    source           bytea NOT NULL, -- the InvoiceIssued record as received (framed Avro)
    issued_event_id  uuid NOT NULL,
    issued_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, invoice_id)
);

-- One dunning case per invoice. next_action_at/next_stage is the one pending timer.
CREATE TABLE cases (
    case_id           uuid PRIMARY KEY,
    tenant_id         text NOT NULL,
    invoice_id        text NOT NULL,
    customer_id       text NOT NULL,
    policy            text NOT NULL,
    state             text NOT NULL,
    stage             int NOT NULL DEFAULT 0,
    amount_minor      bigint NOT NULL,
    paid_minor        bigint NOT NULL DEFAULT 0,
    outstanding_minor bigint NOT NULL,
    fee_minor         bigint NOT NULL DEFAULT 0,
    interest_minor    bigint NOT NULL DEFAULT 0,
    currency          char(3) NOT NULL,
    next_stage        int,
    next_action_at    timestamptz,
    resolved_reason   text,
    opened_at         timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    UNIQUE (tenant_id, invoice_id)
);
CREATE INDEX cases_next_action ON cases (next_action_at) WHERE next_action_at IS NOT NULL;
CREATE INDEX cases_customer ON cases (tenant_id, customer_id);

-- Payments by payment id (idempotent); applied = false while the invoice is unknown.
CREATE TABLE payments (
    tenant_id    text NOT NULL,
    payment_id   text NOT NULL,
    invoice_id   text NOT NULL,
    customer_id  text NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency     char(3) NOT NULL,
    method       text,
    event_id     uuid NOT NULL,
    received_at  timestamptz NOT NULL,
    applied      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, payment_id)
);
CREATE INDEX payments_held ON payments (tenant_id, invoice_id) WHERE NOT applied;

-- The audit trail: one row per thing that happened to a case (or to an input event
-- that could not be tied to a case yet). Each row is also published as a DunningCaseEvent.
CREATE TABLE audit (
    id                bigserial PRIMARY KEY,
    tenant_id         text NOT NULL,
    customer_id       text,
    invoice_id        text,
    case_id           uuid,
    at                timestamptz NOT NULL,
    kind              text NOT NULL,
    from_state        text,
    to_state          text,
    stage             int,
    outstanding_minor bigint,
    caused_by         uuid,
    detail            jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_invoice ON audit (tenant_id, invoice_id, id);
CREATE INDEX audit_case ON audit (case_id, id);

-- Transactional outbox: written in the same transaction as the state change,
-- published by the relay, deleted once the broker acknowledged.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    event_id   uuid NOT NULL UNIQUE,
    topic      text NOT NULL,
    key        text NOT NULL,
    payload    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Senders: one row per ReminderDue event id. The attempt is recorded before the
-- provider is called, so a crash in between is visible (status 'attempting').
CREATE TABLE deliveries (
    event_id            uuid PRIMARY KEY,
    channel             text NOT NULL,
    tenant_id           text NOT NULL,
    invoice_id          text NOT NULL,
    case_id             uuid NOT NULL,
    stage               int NOT NULL,
    status              text NOT NULL,
    attempts            int NOT NULL DEFAULT 0,
    provider_message_id text,
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_invoice ON deliveries (tenant_id, invoice_id);
