-- The audit table is the hottest append (about 1.75 rows per input event, issue 16): each
-- index costs every one of those rows. Kept: the primary key (the case-event relay scans it
-- from its cursor) and audit_case (case_id, id): a case's timeline (dunningctl case show,
-- the engine's fallback and outcome lookups). Dropped: audit_invoice (tenant_id,
-- invoice_id, id), which only `dunningctl case show` used for an invoice that has no case
-- yet (payments held before it arrived, whose rows carry the case id it will get); that
-- rare operator query now scans.
DROP INDEX IF EXISTS audit_invoice;
