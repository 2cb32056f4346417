// Package connectortest is the conformance suite of the connector
// contract, in the manner of Conduit's connector acceptance tests: every
// kind runs Run from its own tests with a Harness that builds the
// connector against a real system (or a stand-in that follows the
// vendor's API), and the suite proves, for each capability the connector
// declares, what package connectors promises:
//
//   - Writer: writing a batch twice leaves the target as writing it once
//     (the second time Written or Unchanged, never a second record); an
//     update of a record changes it; where WriteSpec.VersionGuard, an
//     older version is Stale and the newer data stays; where
//     WriteSpec.Deletes, a delete removes (or archives, cancels) the
//     record and a delete again is no error; a record the system no
//     longer has is NotFound or written again, as the target then shows;
//     a record the target refuses fails alone, Permanent;
//   - Reader: changes made in the system arrive, across batch
//     boundaries, from a cursor, without records that did not change;
//     where ReadSpec.Deletes, deletes arrive; Durable takes the cursor;
//   - Scanner: pages list every record once, and a position resumes
//     exactly, also after the system changed;
//   - all of them return promptly when their context is cancelled, and a
//     system that is down fails them with an error that is not Permanent
//     (Unavailable or Retryable), without dead-lettering records.
//
// Outcomes are checked by reading the target back through the harness,
// record by record. The package imports the contract only; each kind's
// tests implement the Harness for their system.
package connectortest

import (
	"testing"

	"github.com/crmhub/hub/connectors"
)

// Harness builds what the suite tests. Every func receives the test that
// uses it; one that cannot do what is asked for an entity (a system
// where such records cannot be made by hand) calls t.Skip with the
// reason, which skips that one check.
type Harness struct {
	// New returns a started connector on a fresh, private system (its own
	// database, schema or server), closed when t ends. The suite calls it
	// once per Run.
	New func(t *testing.T) connectors.Connector

	// Sample returns record i of entity at content version v, as a
	// writer takes it (Data in the target's shape, Refs resolved), and
	// the mark by which Lookup recognises that content. Records of
	// different i have different keys; versions of one i, the same key.
	// The suite sets ExternalID, Op and Version itself.
	Sample func(t *testing.T, entity string, i, v int) Sample
	// Lookup reads back from the target the record written under
	// external id ext (a Result.ExternalID).
	Lookup func(t *testing.T, entity, ext string) State
	// Count is the number of records of entity the target holds, deleted
	// or archived ones included: a duplicate shows in it.
	Count func(t *testing.T, entity string) int
	// Refused returns a record of entity the target refuses for the
	// record's own fault (validation, a constraint).
	Refused func(t *testing.T, entity string) connectors.WriteRecord
	// Remove deletes the record written under external id ext directly in
	// the system, as one of its users would; nil when the system cannot.
	Remove func(t *testing.T, entity, ext string)

	// Insert adds record i of entity directly in the system, as one of
	// its users would, and returns its key as a Reader and a Scanner name
	// it (Record.Key).
	Insert func(t *testing.T, entity string, i int) string
	// Update changes the record with that key directly in the system; it
	// returns false when the system offers no change of such a record.
	Update func(t *testing.T, entity, key string) bool
	// Delete deletes the record with that key directly in the system; it
	// returns false when the system cannot delete such a record (a posted
	// invoice).
	Delete func(t *testing.T, entity, key string) bool

	// Break makes the whole system fail (a table renamed away, the
	// credentials revoked, the server gone) and returns what undoes it,
	// or nil when it cannot be undone; nil Break when the harness cannot
	// break the system. A broken system must fail every call with an
	// error that is not Permanent; with BreakUnavailable, Unavailable.
	Break            func(t *testing.T) (restore func())
	BreakUnavailable bool
}

// Sample is a record to write and the mark of its content.
type Sample struct {
	Rec  connectors.WriteRecord
	Mark string
}

// State is what the target holds of a record.
type State struct {
	// Found is false when the target has no such record (hard-deleted).
	Found bool
	// Deleted is true when it is soft-deleted, archived or cancelled.
	Deleted bool
	// Mark identifies the content, as Sample.Mark does.
	Mark string
}
