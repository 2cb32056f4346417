-- 0009: the differences of each reconciliation run, one row each, so a
-- finance user can page, filter and export them, and each knows its age:
-- how many consecutive runs of its job have reported it (same ident).
CREATE TABLE recon_diffs (
    id         {{ID}},
    run_id     BIGINT NOT NULL,
    job        TEXT NOT NULL,
    class      TEXT NOT NULL,
    ident      TEXT NOT NULL,
    record_key TEXT NOT NULL DEFAULT '',
    hub_id     TEXT NOT NULL DEFAULT '',
    left_id    TEXT NOT NULL DEFAULT '',
    right_id   TEXT NOT NULL DEFAULT '',
    side       TEXT NOT NULL DEFAULT '',
    age        INTEGER NOT NULL DEFAULT 1,
    detail     TEXT NOT NULL DEFAULT '{}',
    repair     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX recon_diffs_run ON recon_diffs (run_id, class, id);
CREATE INDEX recon_diffs_ident ON recon_diffs (run_id, ident);
