-- Case updates in place (heap-only tuples). A case row is rewritten by every payment,
-- fired stage, retry and command. PostgreSQL can do that without touching the table's
-- indexes (a HOT update) when no indexed column changes and the page has room. Two
-- things stopped it:
--   * cases_next_action indexed next_action_at, which nearly every update changes. No
--     statement of the platform reads cases through it: due timers live in Redis, and
--     the index rebuild walks the cases by case_id. It is dropped.
--   * full pages: a fillfactor of 80 leaves a fifth of each page for the new versions.
-- Measured with scripts/bench (docs/performance.md, round 3).
DROP INDEX IF EXISTS cases_next_action;
ALTER TABLE cases SET (fillfactor = 80);
