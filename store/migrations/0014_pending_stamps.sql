-- 0014: stamps a pull source wrote with the new links of a batch before
-- publishing it (LinkStamped): one row per batch, listing the hub ids
-- whose stamp is not yet known published. The settle stage deletes the
-- row once the batch is on Kafka (SettlePending); a source starting
-- takes back the stamps still pending for its system and entity
-- (ClearPending), so that its re-read publishes those records instead of
-- taking them for unchanged. It replaces a second write of each new link after
-- publishing with one small row per batch.
CREATE TABLE pending_stamps (
    id         {{ID}},
    source     TEXT NOT NULL,
    entity     TEXT NOT NULL,
    system     TEXT NOT NULL,
    hub_ids    TEXT NOT NULL,
    created_at {{TIME}} NOT NULL
);
CREATE INDEX pending_stamps_entity ON pending_stamps (entity, system);
