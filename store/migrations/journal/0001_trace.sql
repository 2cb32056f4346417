-- 0001: the trace journal in a SQLite file of its own (hub.db-trace beside
-- hub.db), with its own write lock, log and checkpoints, so that writing
-- the journal never holds up the crosswalk's writes (store/journal.go).
-- The tables are those of the state store's migration 0010; the state
-- store's own copies keep the groups written before this file existed,
-- read and pruned with these, and no longer written.
CREATE TABLE trace_batches (
    id        {{ID}},
    at        {{TIME}} NOT NULL,
    entity    TEXT NOT NULL,
    system    TEXT NOT NULL DEFAULT '',
    connector TEXT NOT NULL DEFAULT '',
    event     TEXT NOT NULL,
    call_id   BIGINT NOT NULL DEFAULT 0,
    events    INTEGER NOT NULL,
    body      TEXT NOT NULL
);
CREATE INDEX trace_batches_at ON trace_batches (at);
CREATE TABLE trace_keys (
    hub_id   TEXT NOT NULL,
    batch_id BIGINT NOT NULL,
    PRIMARY KEY (hub_id, batch_id)
){{WITHOUT_ROWID}};
