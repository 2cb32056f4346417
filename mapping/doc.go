// Package mapping owns the hub's field-mapping language: it parses YAML
// mapping specs (one per system, entity and direction), validates them
// against the canonical model with file:line errors, compiles each spec once
// into a Plan of plain Go closures, and applies a Plan to decoded records.
//
// It also owns the canonical model's field list (see Canonical and
// docs/canonical.md) and Value, the small JSON value type records travel in.
//
// Per-record problems are data: Apply returns a *RecordError naming every
// field that failed and why, never a panic. Lookups the pipeline provides
// (cross-references into target systems) come in through the Lookup
// interface at apply time.
//
// The package must not import the pipeline, the store, the connectors or
// the server; they import it.
package mapping
