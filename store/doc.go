// Package store is the hub's state store: the hub's own bookkeeping, kept in
// SQL so that it survives restarts and can be shared by several hub nodes.
//
// It owns source cursors, the cross-reference of record ids between systems
// (xref), dead letters, reconciliation runs, the audit log and the leases that
// let exactly one node run a source or a cron job. It never holds a connected
// system's data: records flow through Kafka, not through this package.
//
// Two engines are supported behind one API: SQLite (modernc.org/sqlite, pure
// Go, WAL mode) by default and PostgreSQL (pgx stdlib driver) for production
// and for several hub nodes. The schema is created and upgraded by numbered
// migrations embedded in the binary (see Open).
//
// Package store is a leaf of the hub: it must not import pipeline, connectors,
// mapping or any other hub package, so that the pipeline, the console and the
// command line can all depend on it.
package store
