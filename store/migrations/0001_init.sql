-- 0001: the hub's initial state schema.
-- Tokens in double braces are replaced per dialect (see migrate.go):
--   {{ID}}    integer surrogate key   (SQLite: INTEGER PRIMARY KEY AUTOINCREMENT, PostgreSQL: BIGSERIAL PRIMARY KEY)
--   {{TIME}}  instant in UTC          (SQLite: TEXT in RFC 3339 with microseconds, PostgreSQL: TIMESTAMPTZ)
--   {{BYTES}} opaque bytes            (SQLite: BLOB, PostgreSQL: BYTEA)

-- Position of each source in its system, advanced after Kafka acknowledged.
CREATE TABLE cursors (
    source     TEXT NOT NULL,
    entity     TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at {{TIME}} NOT NULL,
    PRIMARY KEY (source, entity)
);

-- Cross-reference: which external id each system uses for a hub id.
CREATE TABLE xref (
    entity      TEXT NOT NULL,
    system      TEXT NOT NULL,
    external_id TEXT NOT NULL,
    hub_id      TEXT NOT NULL,
    last_hash   TEXT NOT NULL DEFAULT '',
    version     TEXT NOT NULL DEFAULT '',
    created_at  {{TIME}} NOT NULL,
    updated_at  {{TIME}} NOT NULL
);
CREATE UNIQUE INDEX xref_external ON xref (entity, system, external_id);
-- A hub id has at most one external id per system.
CREATE UNIQUE INDEX xref_hub ON xref (entity, hub_id, system);

-- Records that failed permanently or ran out of retries, kept for replay.
CREATE TABLE dead_letters (
    id              {{ID}},
    connector       TEXT NOT NULL,
    entity          TEXT NOT NULL DEFAULT '',
    record_key      TEXT NOT NULL DEFAULT '',
    hub_id          TEXT NOT NULL DEFAULT '',
    stage           TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    error           TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    occurrences     INTEGER NOT NULL DEFAULT 1,
    first_seen      {{TIME}} NOT NULL,
    last_seen       {{TIME}} NOT NULL,
    updated_at      {{TIME}} NOT NULL,
    payload         {{BYTES}},
    status          TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'discarded')),
    topic           TEXT NOT NULL DEFAULT '',
    kafka_partition INTEGER,
    kafka_offset    BIGINT,
    trace_id        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX dead_letters_status ON dead_letters (status, id);
CREATE INDEX dead_letters_connector ON dead_letters (connector, status, id);
-- At most one open dead letter per record and connector: a record that fails
-- again (or is dead-lettered twice after a crash) updates the open one.
CREATE UNIQUE INDEX dead_letters_open_record ON dead_letters (connector, entity, record_key)
    WHERE status = 'open' AND record_key <> '';

-- Reconciliation runs with their summary and full report (JSON text).
CREATE TABLE recon_runs (
    id          {{ID}},
    job         TEXT NOT NULL,
    started_at  {{TIME}} NOT NULL,
    finished_at {{TIME}},
    status      TEXT NOT NULL,
    summary     TEXT NOT NULL DEFAULT '{}',
    report      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX recon_runs_job ON recon_runs (job, id);

-- Who did what: replays, discards, repairs, config reloads.
CREATE TABLE audit_log (
    id      {{ID}},
    at      {{TIME}} NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Leases for single-runner jobs (sources, cron jobs) across hub nodes.
CREATE TABLE leases (
    name        TEXT NOT NULL PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_at {{TIME}} NOT NULL,
    expires_at  {{TIME}} NOT NULL
);
