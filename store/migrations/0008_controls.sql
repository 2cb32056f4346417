-- 0008: what an operator asked of a runner (a source or a sink entity),
-- shared by every hub node: paused until resumed. Runner names are
-- "source <name>" and "sink <name>/<entity>".
CREATE TABLE controls (
    runner     TEXT PRIMARY KEY,
    paused     INTEGER NOT NULL DEFAULT 0,
    actor      TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL DEFAULT '',
    updated_at {{TIME}} NOT NULL
);
