-- The console's exports (the case timeline as CSV or PDF, for legal use) are in the access
-- log too: who exported which case's timeline, when, in which format (docs/console.md).
ALTER TABLE console_access_log DROP CONSTRAINT IF EXISTS console_access_log_kind_check;
ALTER TABLE console_access_log ADD CONSTRAINT console_access_log_kind_check
    CHECK (kind IN ('login', 'login_failed', 'logout', 'denied', 'action', 'export'));
