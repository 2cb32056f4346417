// Package sqlsum owns the in-database checksum path of reconciliation (the
// method of datafold's data-diff): when both sides of a job are tables in
// SQL databases (PostgreSQL, MySQL/MariaDB, SQLite), each database sums a
// hash of every row's canonical text per key range, the two sides' sums are
// compared, and only the ranges that differ are split further, down to
// ranges small enough to list their keys with one hash each. Ranges that
// agree never leave the database; what comes back is the keys that differ
// (present on one side only, or present on both with different content).
//
// It owns:
//   - the canonical text of a column per database (dialect.go), so that the
//     same value hashes the same in PostgreSQL, MariaDB and SQLite: integers
//     and text as they are, decimals at a fixed scale, dates YYYY-MM-DD,
//     timestamps as Unix seconds in UTC, NULL distinct from the empty string;
//   - the row hash: the first 64 bits of the MD5 of the canonical text, the
//     same in every database; when both sides are PostgreSQL,
//     hash_record_extended over the values in canonical types instead (no
//     text built, several times cheaper);
//   - the per-range checksum and row-hash queries, built only from checked
//     identifiers (quoted per dialect) with every value a parameter;
//   - the bisection (Diff, diff.go) in bounded memory.
//
// A decimal column with a tolerance (amounts within 0.01 are equal) cannot
// be hashed exactly: it is hashed as floor(value / tolerance), so values
// more than the tolerance apart always hash differently, but two values
// within it may too. The keys returned are then candidates that the
// reconciliation engine compares with its rules: the checksum path is a
// pre-filter, never the judge (docs/reconcile-checksum.md).
//
// Keys must be integer columns. SQLite gets the hash as a Go function
// registered with modernc.org/sqlite when this package is loaded.
//
// This package talks to database/sql only; it must not import the pipeline,
// the store or the connectors.
package sqlsum
