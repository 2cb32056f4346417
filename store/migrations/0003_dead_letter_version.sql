-- 0003: the version (the source system's change time, RFC 3339) of the
-- record a source dead-lettered, so that a replay publishes it with its own
-- version and the sinks' version guard keeps a newer change that arrived
-- since. Empty for dead letters of envelopes (they carry their version).
ALTER TABLE dead_letters ADD COLUMN version TEXT NOT NULL DEFAULT '';
