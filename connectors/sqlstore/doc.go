// Package sqlstore is the SQL store connector (kind "sqlstore"): it reads and
// writes the CRM's own database and ERP interface (staging) tables on
// PostgreSQL (driver "pgx"), MySQL/MariaDB ("mysql") and SQLite ("sqlite",
// modernc.org/sqlite) through sqlx.
//
// It owns:
//   - the connector's config (Config, EntityConfig) and its validation;
//   - change capture as a connectors.Reader, either from an outbox table
//     filled by triggers (InstallCapture creates table and triggers; Durable
//     prunes it, outbox.go) or from a cursor on (updated_at, primary key)
//     with a look-back window;
//   - version-guarded, idempotent upserts and hard or soft deletes as a
//     connectors.Writer, with orders and their lines written as one unit;
//   - paged, resumable scans in key order as a connectors.Scanner;
//   - the classification of database errors: a record's fault (Permanent),
//     a passing one (Retryable), the whole database's (Unavailable).
//
// Records travel as mapping.Value objects of column name -> value: numbers
// and decimals keep their literal text, timestamps are RFC 3339 UTC, dates
// YYYY-MM-DD, NULL is null.
//
// Identifiers from the config are checked against a strict pattern and
// quoted per dialect; every value is a query parameter.
//
// This package implements the contract of package connectors and must not
// import the pipeline or the store.
package sqlstore
