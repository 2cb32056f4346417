// Package reconcile owns the reconciliation engine: it compares the records
// of one entity on two sides (two systems, each scanned through its
// mapping to canonical form) in bounded memory, classifies what differs,
// keeps control totals, and decides the repairs a job's policy asks for.
//
// The engine (Compare) reads two Streams of canonical rows in any order,
// spills them to hash partitions on disk when they outgrow memory, pairs
// them through the crosswalk (hub ids) and by key, and hands every
// difference to a DiffSink. Where the rows come from (a connector's
// scanner, a database checksum path that narrows the scan to key ranges),
// where differences are stored and how repairs are published are the
// caller's: this package must not import the pipeline, the state store's
// callers or cmd.
package reconcile
