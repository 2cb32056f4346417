package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/crmhub/hub/mapping"
)

// held is what one system holds of a two-way record, as the hub last knew
// it: its xref stamp, written by the system's source on every read and by
// its sink on every write. Against it a source tells the fields a system
// changed from the fields it merely still holds: without it, a change of
// one field would re-assert every other field at the new version and undo
// newer changes of them made elsewhere (see docs/two-way.md).
type held struct {
	version  string            // the system's version of the record, RFC 3339
	lastHash string            // the stamp's hash (after a sink's write: the merged record's)
	fields   map[string]string // canonical field -> hash of its value
}

// parseHeld decodes a stamp; nil when it has no fields (a stamp from before
// field tracking, or of a one-way entity): every field then counts as
// changed.
func parseHeld(version, lastHash, fields string) *held {
	if fields == "" {
		return nil
	}
	h := &held{version: version, lastHash: lastHash}
	if err := json.Unmarshal([]byte(fields), &h.fields); err != nil {
		return nil // unreadable: as good as unknown
	}
	return h
}

// changed reports whether the system changed field f to val since the
// stamp. A read at the stamp's very version changed nothing: it is the
// hub's own write read back (a sink keeps the system's version when it
// writes a two-way record) or a re-read.
func (h *held) changed(version, f string, val mapping.Value) bool {
	if h == nil {
		return true
	}
	if version != "" && version == h.version {
		return false
	}
	old, ok := h.fields[f]
	return !ok || old != fieldHash(val)
}

// fieldHash is a short hash of one canonical value; null and absent are
// the same.
func fieldHash(v mapping.Value) string {
	sum := sha256.Sum256(appendCanonical(nil, v))
	return hex.EncodeToString(sum[:8])
}

// heldFields hashes the canonical fields of data that are merged (not the
// per-system ids).
func heldFields(data mapping.Value) map[string]string {
	out := map[string]string{}
	for _, m := range data.Members() {
		if !perSystem(m.Key) {
			out[m.Key] = fieldHash(m.Value)
		}
	}
	return out
}

// writtenFields is what a system holds after a sink wrote the hub's record
// data to it: the hub's values of the fields the system does not own, its
// own (as last known) of those it does.
func writtenFields(before *held, data mapping.Value, owned func(string) bool) map[string]string {
	out := map[string]string{}
	if before != nil {
		for f, h := range before.fields {
			if owned(f) {
				out[f] = h
			} else {
				out[f] = fieldHash(mapping.Value{}) // not in the hub's record: written as null
			}
		}
	}
	for _, m := range data.Members() {
		if !perSystem(m.Key) && !owned(m.Key) {
			out[m.Key] = fieldHash(m.Value)
		}
	}
	return out
}

// encodeFields is the stamp's JSON form (keys sorted).
func encodeFields(fields map[string]string) string {
	if len(fields) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(fields) // a map of strings always encodes
	return string(b)
}
