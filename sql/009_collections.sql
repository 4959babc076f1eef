-- The collections workflow (docs/case-states.md, docs/policies.md): promises to pay,
-- instalment plans and early-settlement offers. A case under a promise is in state
-- `promised`, under a plan `on_plan`; paused_from keeps the state it was held in, and
-- next_action ('promise', 'plan') with next_action_at the one timer, as for every case.

-- The early-settlement offer of the case's latest reminder: paying offer_due_minor (what
-- is left of the discounted total) by the end of offer_until settles the case. NULL = none.
ALTER TABLE cases ADD COLUMN offer_until date, ADD COLUMN offer_due_minor bigint;

-- Promises to pay, with their fate (SAP's states: open, kept, partially kept, broken,
-- withdrawn). promise_id is the CaseCommand's event id. A promise covers one invoice or,
-- with scope 'customer', every open invoice of the customer in that currency (promise_cases).
CREATE TABLE promises (
    promise_id     uuid PRIMARY KEY,
    tenant_id      text NOT NULL,
    customer_id    text NOT NULL,
    invoice_id     text NOT NULL,           -- the invoice the command named
    scope          text NOT NULL CHECK (scope IN ('invoice', 'customer')),
    currency       char(3) NOT NULL,
    amount_minor   bigint NOT NULL CHECK (amount_minor > 0),
    paid_minor     bigint NOT NULL DEFAULT 0, -- paid on the covered invoices since the promise
    promised_for   date NOT NULL,
    hold_until     date NOT NULL,           -- promised_for + the policy's grace; broken the day after
    level          int NOT NULL,            -- 1 + the customer's earlier broken promises for the invoice
    state          text NOT NULL CHECK (state IN ('open', 'kept', 'partially_kept', 'broken', 'withdrawn')),
    channel        text,                    -- collector, portal, voice, billing, api
    actor          text,
    made_at        timestamptz NOT NULL,
    closed_at      timestamptz
);
CREATE INDEX promises_customer ON promises (tenant_id, customer_id); -- case show, the customer's record

CREATE TABLE promise_cases (
    case_id    uuid NOT NULL,
    promise_id uuid NOT NULL REFERENCES promises,
    PRIMARY KEY (case_id, promise_id)       -- the open promise of a case; promises per case
);
CREATE INDEX promise_cases_promise ON promise_cases (promise_id); -- the cases a promise covers

-- Instalment plans: state pending (waiting for a collector), active, completed, broken,
-- cancelled, replaced. total_minor = what the case owed + fee_minor + interest_minor.
CREATE TABLE plans (
    plan_id        uuid PRIMARY KEY,        -- the CaseCommand's event id
    case_id        uuid NOT NULL,
    tenant_id      text NOT NULL,
    customer_id    text NOT NULL,
    invoice_id     text NOT NULL,
    currency       char(3) NOT NULL,
    total_minor    bigint NOT NULL,
    fee_minor      bigint NOT NULL DEFAULT 0,
    interest_minor bigint NOT NULL DEFAULT 0,
    state          text NOT NULL CHECK (state IN ('pending', 'active', 'completed', 'broken', 'cancelled', 'replaced')),
    reminded       int NOT NULL DEFAULT 0,  -- plan stages sent for the current instalment
    channel        text,
    actor          text,
    agreed_at      timestamptz NOT NULL,
    closed_at      timestamptz
);
CREATE INDEX plans_case ON plans (case_id); -- the case's plan (payments, timers, case show)

CREATE TABLE plan_instalments (
    plan_id      uuid NOT NULL REFERENCES plans,
    number       int NOT NULL,              -- 1-based, in due-date order
    due_date     date NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    paid_minor   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (plan_id, number)
);

-- How a customer keeps their word, for risk scoring and the console: counts moved by the
-- engine in the same transaction as the promise's or plan's fate.
CREATE TABLE customer_behaviour (
    tenant_id               text NOT NULL,
    customer_id             text NOT NULL,
    promises_kept           int NOT NULL DEFAULT 0,
    promises_partially_kept int NOT NULL DEFAULT 0,
    promises_broken         int NOT NULL DEFAULT 0,
    plans_completed         int NOT NULL DEFAULT 0,
    plans_broken            int NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, customer_id)
);

GRANT SELECT, INSERT, UPDATE ON promises, promise_cases, plans, plan_instalments, customer_behaviour
    TO dunning_engine;
GRANT SELECT ON promises, promise_cases, plans, plan_instalments, customer_behaviour TO dunning_reader;
