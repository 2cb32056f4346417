-- 0013: a small statistics sample of PostgreSQL's crosswalk.
--
-- The plans of the crosswalk's look-ups need its size and how its links
-- spread over entities and systems (a handful of values each); its ids
-- are unique. An ANALYZE samples 300 rows per unit of the largest column
-- statistics target: at the default (100) 30,000 rows, 0.22-0.31 s of the
-- server's CPU at 210,000 links, against 0.02 s at 10, with the same plans
-- (store/analyze_test.go). This makes the store's own ANALYZEs
-- (store/analyze.go) and autovacuum's cheaper alike.
ALTER TABLE xref ALTER COLUMN entity SET STATISTICS 10, ALTER COLUMN system SET STATISTICS 10,
    ALTER COLUMN external_id SET STATISTICS 10, ALTER COLUMN hub_id SET STATISTICS 10,
    ALTER COLUMN last_hash SET STATISTICS 10, ALTER COLUMN version SET STATISTICS 10, ALTER COLUMN fields SET STATISTICS 10,
    ALTER COLUMN created_at SET STATISTICS 10, ALTER COLUMN updated_at SET STATISTICS 10;
