-- Notices that are about a customer rather than one invoice (issue 17): the consolidated
-- customer notice (policy consolidate: customer) and the card-expiry notice. Each has its
-- own pending timer (due_at, in the same Redis index as the cases' timers, keyed by
-- notice_id); the ReminderDue of a notice carries notice_id as its case_id, so the senders'
-- last-mile check reads state here.
CREATE TABLE notices (
    notice_id         uuid PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('customer_notice', 'card_expiry')),
    tenant_id         text NOT NULL,
    customer_id       text NOT NULL,
    currency          text,            -- customer_notice: one notice per customer and currency a day
    policy            text NOT NULL,
    notice_date       date NOT NULL,   -- customer_notice: the day it is for; card_expiry: when it is due
    -- pending: waiting for due_at; sent: its ReminderDue records are in the outbox;
    -- undeliverable: no channel reaches the customer; dropped: nothing left to say when due
    -- (every item paid or on hold); cancelled: the card was updated or replaced first.
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'sent', 'undeliverable', 'dropped', 'cancelled')),
    due_at            timestamptz,     -- the pending timer; NULL once it is not pending
    payment_method_id text,            -- card_expiry
    days_before       int,             -- card_expiry: the notice's place in card_expiry.notices
    detail            jsonb NOT NULL DEFAULT '{}',  -- what was sent (items, channels) or why not
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX notices_pending ON notices (tenant_id, customer_id, kind) WHERE state = 'pending';

-- The customer's payment methods as the billing system last described them
-- (payment-method-updated). Never a full card number: the last four digits only.
CREATE TABLE payment_methods (
    tenant_id         text NOT NULL,
    payment_method_id text NOT NULL,
    customer_id       text NOT NULL,
    status            text NOT NULL CHECK (status IN ('active', 'expiring', 'expired', 'removed')),
    brand             text,
    last4             text NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    exp_month         int NOT NULL CHECK (exp_month BETWEEN 1 AND 12),
    exp_year          int NOT NULL,
    next_charge_date  date,
    update_link       text,
    is_default        boolean NOT NULL,
    changed_at        timestamptz NOT NULL,  -- occurred_at of the event that set this (older ones are ignored)
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, payment_method_id)
);
CREATE INDEX payment_methods_customer ON payment_methods (tenant_id, customer_id);

GRANT SELECT, INSERT, UPDATE ON notices, payment_methods TO dunning_engine;
-- the senders' last-mile check of a notice: still sent, the card not changed since
GRANT SELECT ON notices, payment_methods TO dunning_sender;
GRANT SELECT ON notices, payment_methods TO dunning_reader;
