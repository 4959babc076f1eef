-- The console benchmark's population (bench/console.sh): :n invoices of two tenants with the
-- rows the engine and the senders would have written for them by today (:'today'): the
-- invoice, its case, the audit trail (opened, one reminder_emitted per stage reached, the
-- payment and the resolution of a paid case, callbacks, pauses), the deliveries of the
-- reminders, promises (a third of them broken) and the console's assignments.
--
-- The shape, by case number k (deterministic, no random()): 80 % tenant bench-a, 20 % bench-b;
-- 90 % EUR, 10 % USD; due between 30 days ahead and 370 days ago; amounts 10.00 to 5,010.00,
-- every 20th over 10,000.00; 40 % resolved (paid), the rest open, overdue, final notice,
-- paused (half of them disputed), promised, on a plan or retrying, by their age; a risk score
-- on every second case; a callback on every 97th; a promise on every 20th open one; every
-- 100th open case assigned to the user bench.
\set ON_ERROR_STOP 1
SET synchronous_commit = off;
\timing on

CREATE TEMP TABLE k AS
SELECT k, CASE WHEN k % 5 = 4 THEN 'bench-b' ELSE 'bench-a' END AS tenant,
       'inv-' || k AS invoice, 'cust-' || (k / 3) AS customer,
       CASE WHEN k % 10 = 9 THEN 'USD' ELSE 'EUR' END AS cur,
       (:'today'::date + 30 - ((k * 7919) % 400)::int) AS due,
       1000 + (k * 104729) % 500000 + CASE WHEN k % 20 = 7 THEN 1000000 ELSE 0 END AS amount,
       (k * 31) % 100 AS h
FROM generate_series(1::bigint, :n) AS k;

ALTER TABLE k ADD COLUMN days int, ADD COLUMN state text, ADD COLUMN stage int, ADD COLUMN reason text;
UPDATE k SET days = :'today'::date - due;
UPDATE k SET state = CASE
        WHEN h < 40 THEN 'resolved'
        WHEN days < -7 THEN 'open'
        WHEN days < 0 THEN 'pre_due_reminded'
        WHEN h < 45 THEN 'paused'
        WHEN h < 50 THEN 'promised'
        WHEN h < 53 THEN 'on_plan'
        WHEN h < 55 THEN 'retrying'
        WHEN days > 45 THEN 'final_notice'
        ELSE 'overdue' END,
    stage = CASE WHEN days < 0 THEN 0 WHEN days < 15 THEN 1 WHEN days < 30 THEN 2 ELSE 3 END,
    reason = CASE WHEN h >= 40 AND h < 45 THEN CASE WHEN h % 2 = 0 THEN 'dispute' ELSE 'manual_hold' END END;

INSERT INTO invoices (tenant_id, invoice_id, customer_id, invoice_number, amount_minor, currency, issue_date, due_date,
                      contact, source, issued_event_id, issued_at)
SELECT tenant, invoice, customer, 'N-' || k, amount, cur, due - 30, due,
       jsonb_build_object('email', customer || '@example.com', 'name', 'Customer ' || customer), '\x00',
       md5(tenant || invoice || 'inv')::uuid, (due - 30)::timestamptz
FROM k;

INSERT INTO cases (case_id, tenant_id, invoice_id, customer_id, policy, state, stage, amount_minor, outstanding_minor,
                   paid_minor, currency, resolved_reason, opened_at, updated_at, pause_reason, risk_score)
SELECT md5(tenant || invoice)::uuid, tenant, invoice, customer, 'standard', state, stage, amount,
       CASE WHEN state = 'resolved' THEN 0 ELSE amount END, CASE WHEN state = 'resolved' THEN amount ELSE 0 END, cur,
       CASE WHEN state = 'resolved' THEN 'paid' END, (due - 30)::timestamptz, :'today'::timestamptz, reason,
       CASE WHEN k % 2 = 0 THEN (k * 13) % 101 END
FROM k;

-- The audit trail, in time order per case (as the engine appends it).
INSERT INTO audit (tenant_id, customer_id, invoice_id, case_id, at, kind, from_state, to_state, stage,
                   outstanding_minor, currency, detail)
SELECT tenant, customer, invoice, md5(tenant || invoice)::uuid, at, kind, NULL, to_state, st, outstanding, cur, detail
FROM (
    SELECT k.*, (due - 30)::timestamptz + interval '8 hours' AS at, 'opened' AS kind, 'open' AS to_state, 0 AS st,
           amount AS outstanding, '{}'::jsonb AS detail FROM k
    UNION ALL
    SELECT k.*, (due + (s - 1) * 15)::timestamptz + interval '9 hours', 'reminder_emitted',
           CASE WHEN s = 3 THEN 'final_notice' ELSE 'overdue' END, s, amount,
           jsonb_build_object('reminders', jsonb_build_array(jsonb_build_object(
               'channel', CASE WHEN s = 2 AND k % 3 = 0 THEN 'sms' WHEN s = 3 AND k % 2 = 0 THEN 'letter' ELSE 'email' END,
               'event_id', md5(tenant || invoice || 'r' || s)::uuid)))
    FROM k, generate_series(1, 3) AS s WHERE s <= k.stage AND (k.state <> 'resolved' OR s = 1)
    UNION ALL
    SELECT k.*, (due + 3)::timestamptz + interval '10 hours', x.kind, x.to_state, least(stage, 1), 0, '{}'::jsonb
    FROM k, (VALUES ('payment_applied', 'overdue'), ('resolved', 'resolved')) AS x (kind, to_state)
    WHERE k.state = 'resolved'
    UNION ALL
    SELECT k.*, (due + 5)::timestamptz + interval '11 hours', 'callback_requested', state, stage, amount, '{}'::jsonb
    FROM k WHERE k % 97 = 0 AND state <> 'resolved'
    UNION ALL
    SELECT k.*, (due + 6)::timestamptz + interval '12 hours', 'paused', 'paused', stage, amount,
           jsonb_build_object('reason', reason)
    FROM k WHERE state = 'paused'
) a
ORDER BY at;

INSERT INTO deliveries (event_id, channel, tenant_id, invoice_id, case_id, stage, status)
SELECT (x->>'event_id')::uuid, x->>'channel', a.tenant_id, a.invoice_id, a.case_id, a.stage,
       CASE WHEN a.id % 10 = 0 THEN 'failed_permanent' ELSE 'delivered' END
FROM audit a, jsonb_array_elements(a.detail->'reminders') x
WHERE a.kind = 'reminder_emitted' AND a.tenant_id LIKE 'bench-%';

INSERT INTO promises (promise_id, tenant_id, customer_id, invoice_id, scope, currency, amount_minor, promised_for,
                      hold_until, level, state, made_at)
SELECT md5(tenant || invoice || 'p')::uuid, tenant, customer, invoice, 'invoice', cur, amount,
       :'today'::date + (k % 15)::int - 7, :'today'::date + (k % 15)::int - 4, 1,
       CASE WHEN k % 3 = 0 THEN 'broken' WHEN k % 15 < 7 THEN 'kept' ELSE 'open' END, (due + 2)::timestamptz
FROM k WHERE k % 20 = 3 AND state NOT IN ('resolved', 'open', 'pre_due_reminded');
INSERT INTO promise_cases (case_id, promise_id)
SELECT md5(tenant_id || invoice_id)::uuid, promise_id FROM promises WHERE tenant_id LIKE 'bench-%';

INSERT INTO console_assignments (case_id, tenant_id, login, assigned_by)
SELECT md5(tenant || invoice)::uuid, tenant, 'bench', 'bench' FROM k WHERE k % 100 = 11 AND state <> 'resolved';

ANALYZE;
-- Done: bench/console.sh reuses a complete fill of the same size (--keep).
CREATE TABLE bench_console_fill AS SELECT :n::bigint AS n;
