-- 0002: two-way sync and record tracing.

-- The journal behind "where is this record?": one row per thing that
-- happened to a record at a source or a sink (published, suppressed,
-- written, skipped, failed, matched, conflict...). Appended in batches;
-- pruned by age (trace.retention).
CREATE TABLE trace_events (
    id          {{ID}},
    at          {{TIME}} NOT NULL,
    entity      TEXT NOT NULL,
    hub_id      TEXT NOT NULL,
    system      TEXT NOT NULL DEFAULT '',
    connector   TEXT NOT NULL DEFAULT '',
    external_id TEXT NOT NULL DEFAULT '',
    event       TEXT NOT NULL,
    version     TEXT NOT NULL DEFAULT '',
    hash        TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX trace_events_hub ON trace_events (hub_id, id);
CREATE INDEX trace_events_at ON trace_events (at);

-- The last canonical version of each record of a two-way entity, merged
-- by field ownership and the conflict policy. fields holds, per field, the
-- system and version that set it (JSON). rev guards concurrent merges;
-- pub_hash is the hash last acknowledged by Kafka (hash <> pub_hash: a
-- merge that still has to be published).
CREATE TABLE records (
    entity     TEXT NOT NULL,
    hub_id     TEXT NOT NULL,
    data       TEXT NOT NULL,
    fields     TEXT NOT NULL DEFAULT '{}',
    hash       TEXT NOT NULL DEFAULT '',
    pub_hash   TEXT NOT NULL DEFAULT '',
    version    TEXT NOT NULL DEFAULT '',
    rev        BIGINT NOT NULL DEFAULT 0,
    updated_at {{TIME}} NOT NULL,
    PRIMARY KEY (entity, hub_id)
);

-- Normalised match keys (email, E.164 phone, tax id...) of each record, to
-- match a record arriving from a new system to an existing hub id.
CREATE TABLE match_keys (
    entity TEXT NOT NULL,
    hub_id TEXT NOT NULL,
    rule   TEXT NOT NULL,
    value  TEXT NOT NULL,
    PRIMARY KEY (entity, hub_id, rule)
);
CREATE INDEX match_keys_value ON match_keys (entity, rule, value);
