-- 0010: the trace journal written in groups. A group is the events of one
-- kind, from one connector, for one entity that the journal writes at once
-- (a source's batch published, a sink's batch written): one trace_batches
-- row holds its entries (body: a JSON array of [place, hub id, external
-- id, version, hash, detail, at], at only when it differs from the row's),
-- and trace_keys one narrow row per record in it, to find a record's
-- groups. call_id is the first row the same write made (0: this one);
-- (call, place) orders a record's events. Per event that is one small index
-- entry, keyed by hub id for the look-ups, instead of a wide row and two
-- indexes, which made the journal an eighth of the hub's CPU; pruning
-- finds a group's keys through the hub ids in its body.
-- trace_events keeps what was written before this; it is read and pruned
-- as before, and no longer written.
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
