-- 0007: when a sink's record started waiting for a record it references
-- (an order for its customer) to reach the target. retry.ref_wait counts
-- from here, across restarts: a record that waits through many restarts is
-- still dead-lettered once the wait is over.
CREATE TABLE ref_waits (
    sink    TEXT NOT NULL,
    entity  TEXT NOT NULL,
    hub_id  TEXT NOT NULL,
    since   {{TIME}} NOT NULL,
    PRIMARY KEY (sink, entity, hub_id)
);
