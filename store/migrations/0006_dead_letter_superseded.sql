-- 0006: a dead letter can be closed as superseded: its record has since
-- been delivered in a newer version, or deleted in its system, so that
-- replaying it would bring back an older state (see pipeline/replay.go).
-- The status check gains 'superseded'; PostgreSQL changes the constraint,
-- SQLite (which cannot) rebuilds the table.
{{DEAD_LETTER_STATUSES}}
