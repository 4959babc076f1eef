-- The outbox is a queue: every row is inserted, published and deleted within moments, so
-- the table is almost all dead rows until a vacuum. With the default autovacuum trigger
-- (20% of the table) a month-end storm leaves millions of them: the relay's
-- "ORDER BY id LIMIT" walks dead index entries, count(*) scans a heap of dead pages, and
-- the one large vacuum that follows competes with the engine. Vacuum it in small, cheap
-- steps instead: after every 10,000 dead rows, without cost-based throttling.
ALTER TABLE outbox SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000,
                        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 10000,
                        autovacuum_vacuum_cost_delay = 0);
