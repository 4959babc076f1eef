-- Payment-behaviour risk scores (issue 21, phase 1; docs/risk.md). The score of a case is
-- computed by libdnrisk (common/risk) from its customer's behaviour, which the engine keeps
-- in customer_behaviour (009_collections.sql): the table gains the inputs the points table
-- reads. A row is written only by events that change the behaviour (a case resolved paid,
-- a promise kept or broken, a plan broken, a bounce, a dispute), never by an invoice being
-- issued, and read with the lookups the engine already batches.
ALTER TABLE customer_behaviour
    ADD COLUMN invoices          int NOT NULL DEFAULT 0,    -- cases resolved paid
    ADD COLUMN paid_on_time      int NOT NULL DEFAULT 0,    -- of those, paid by the due date
    ADD COLUMN late_days_x100    int NOT NULL DEFAULT 0,    -- days late, recent weighted more (dn_risk_late_update)
    ADD COLUMN paid_amount_minor bigint NOT NULL DEFAULT 0, -- their amounts: / invoices = the usual invoice
    ADD COLUMN bounces           int NOT NULL DEFAULT 0,    -- reminders bounced
    ADD COLUMN disputes          int NOT NULL DEFAULT 0,    -- cases disputed
    ADD COLUMN updated_at        timestamptz;

-- The case's latest score (0-100, probability of paying within 30 days of the due date),
-- its top three reasons in words and the policy track it chose (NULL = none yet).
ALTER TABLE cases
    ADD COLUMN risk_score   smallint CHECK (risk_score BETWEEN 0 AND 100),
    ADD COLUMN risk_reasons text[],
    ADD COLUMN risk_track   text;

-- The history already here. Recency weighting needs the cases in order, so the backfill
-- folds them oldest first with the same rule as dn_risk_late_update (the first sets it,
-- each later one moves it half way, rounded half up); bounces are the audit's
-- reminder_failed_permanent rows of cases (a reminder that could not be delivered), disputes
-- the cases paused for a dispute.
WITH RECURSIVE paid AS (
    SELECT c.tenant_id, c.customer_id, c.amount_minor,
           greatest(0, least(365, c.updated_at::date - i.due_date)) AS late,
           row_number() OVER (PARTITION BY c.tenant_id, c.customer_id ORDER BY c.updated_at, c.case_id) AS n
    FROM cases c JOIN invoices i USING (tenant_id, invoice_id)
    WHERE c.state = 'resolved' AND c.resolved_reason = 'paid'
), fold AS (
    SELECT tenant_id, customer_id, n, late * 100 AS x100 FROM paid WHERE n = 1
    UNION ALL
    SELECT p.tenant_id, p.customer_id, p.n, (f.x100 + p.late * 100 + 1) / 2
    FROM fold f JOIN paid p ON p.tenant_id = f.tenant_id AND p.customer_id = f.customer_id AND p.n = f.n + 1
), history AS (
    SELECT p.tenant_id, p.customer_id, count(*)::int AS invoices, count(*) FILTER (WHERE p.late = 0)::int AS on_time,
           sum(p.amount_minor)::bigint AS amount,
           (SELECT f.x100 FROM fold f WHERE f.tenant_id = p.tenant_id AND f.customer_id = p.customer_id
            ORDER BY f.n DESC LIMIT 1)::int AS x100
    FROM paid p GROUP BY p.tenant_id, p.customer_id
), bounced AS (
    SELECT tenant_id, customer_id, count(*)::int AS bounces FROM audit
    WHERE kind = 'reminder_failed_permanent' AND case_id IS NOT NULL AND customer_id IS NOT NULL
    GROUP BY tenant_id, customer_id
), disputed AS (
    SELECT tenant_id, customer_id, count(*)::int AS disputes FROM cases
    WHERE pause_reason = 'dispute' GROUP BY tenant_id, customer_id
), everyone AS (
    SELECT tenant_id, customer_id FROM history UNION SELECT tenant_id, customer_id FROM bounced
    UNION SELECT tenant_id, customer_id FROM disputed
)
INSERT INTO customer_behaviour (tenant_id, customer_id, invoices, paid_on_time, late_days_x100, paid_amount_minor,
                                bounces, disputes, updated_at)
SELECT w.tenant_id, w.customer_id, coalesce(h.invoices, 0), coalesce(h.on_time, 0), coalesce(h.x100, 0),
       coalesce(h.amount, 0), coalesce(b.bounces, 0), coalesce(d.disputes, 0), now()
FROM everyone w LEFT JOIN history h USING (tenant_id, customer_id) LEFT JOIN bounced b USING (tenant_id, customer_id)
     LEFT JOIN disputed d USING (tenant_id, customer_id)
ON CONFLICT (tenant_id, customer_id) DO UPDATE SET invoices = EXCLUDED.invoices,
    paid_on_time = EXCLUDED.paid_on_time, late_days_x100 = EXCLUDED.late_days_x100,
    paid_amount_minor = EXCLUDED.paid_amount_minor, bounces = EXCLUDED.bounces, disputes = EXCLUDED.disputes,
    updated_at = EXCLUDED.updated_at;

-- An erased customer's behaviour goes with their contact data (dunningctl customer erase,
-- docs/privacy.md): the one row dunning_privacy may delete.
GRANT SELECT, DELETE ON customer_behaviour TO dunning_privacy;
