-- The tenants' fitted risk models (issue 21; docs/risk.md "The logistic model"). `dunningctl
-- risk fit` fits a logistic regression on a tenant's closed cases and stores it here as a new
-- version; it is 'active' (the engine scores the tenant's cases with it) only if it beat the
-- points table on the held-out customers, else 'rejected', with the figures either way. A
-- newer active version retires the one before. The engine reads the active rows; nothing
-- else writes here.
CREATE TABLE risk_models (
    tenant_id     text NOT NULL,
    version       int NOT NULL CHECK (version > 0),
    status        text NOT NULL CHECK (status IN ('active', 'rejected', 'retired')),
    intercept     double precision NOT NULL,
    coefficients  double precision[] NOT NULL, -- in the order of `features` (dn_risk_features)
    features      text[] NOT NULL,
    train_cases   int NOT NULL,
    test_cases    int NOT NULL,
    holdout       double precision NOT NULL,   -- share of customers held out
    seed          bigint NOT NULL,             -- of the split
    auc           double precision,            -- this model, on the held-out cases
    brier         double precision,
    points_auc    double precision,            -- the points table, on the same cases
    points_brier  double precision,
    fitted_at     timestamptz NOT NULL,
    fitted_by     text NOT NULL,
    PRIMARY KEY (tenant_id, version)
);
CREATE UNIQUE INDEX risk_models_active ON risk_models (tenant_id) WHERE status = 'active';

GRANT SELECT ON risk_models TO dunning_engine, dunning_reader;
