-- Failed card charges by (payment id, attempt): the billing system may report the same
-- failure twice under two event ids; the engine applies it once (handlers.c: handle_failed).
CREATE TABLE payment_failures (
    tenant_id   text NOT NULL,
    payment_id  text NOT NULL,
    attempt     int NOT NULL,
    event_id    uuid NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, payment_id, attempt)
);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dunning_engine') THEN
        GRANT SELECT, INSERT ON payment_failures TO dunning_engine;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dunning_reader') THEN
        GRANT SELECT ON payment_failures TO dunning_reader;
    END IF;
END
$$;
