// Package pipeline owns the hub's runtime between connectors and Kafka: the
// envelope on every entity topic, source runners (read, map in, assign hub
// ids, publish, then advance the cursor) and sink runners (consume, suppress
// echoes and no-ops, resolve references, map out, write idempotently, record
// xref, then commit), retries and dead letters.
//
// Sub-packages hold the parts that stand alone: bus (the Kafka client),
// broker (the embedded broker) and node (the process lifecycle). The
// pipeline may import connectors, mapping, reconcile (the comparison engine
// its reconciliation runs drive) and store; none of them may import it.
package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/crmhub/hub/mapping"
)

// Envelope is the value of every record on an entity topic.
type Envelope struct {
	Entity   string            `json:"entity"`
	ID       string            `json:"id"` // hub id; also the Kafka key
	Op       string            `json:"op"` // upsert or delete
	Origin   string            `json:"origin"`
	SourceID string            `json:"source_id"`
	Version  time.Time         `json:"version"`
	Hash     string            `json:"hash"` // sha256 of the canonical data
	Refs     map[string]string `json:"refs,omitempty"`
	Data     mapping.Value     `json:"data"`
	TraceID  string            `json:"trace_id,omitempty"`
	// OriginStale says the origin system holds values the merge refused
	// (a field it does not own, an older value): its own sink writes the
	// record back instead of dropping it as an echo.
	OriginStale bool `json:"origin_stale,omitempty"`
	// Seen is, of a merged record, the newest version of it the merge has
	// read from each system (RFC 3339): a sink bases its write on its
	// system's (see docs/two-way.md).
	Seen map[string]string `json:"seen,omitempty"`

	readVersion time.Time // the version as read by the source
	readHash    string    // the hash of the record as read, before merging
	readFields  string    // its fields' hashes (two-way entities), for the stamp
	value       []byte    // the envelope as published (AppendJSON), encoded by prepare
}

// AppendJSON appends the envelope's JSON encoding to dst. Data is written as
// mapped (decimals keep their text).
func (e *Envelope) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"entity":`...)
	dst = appendStr(dst, e.Entity)
	dst = append(dst, `,"id":`...)
	dst = appendStr(dst, e.ID)
	dst = append(dst, `,"op":`...)
	dst = appendStr(dst, e.Op)
	dst = append(dst, `,"origin":`...)
	dst = appendStr(dst, e.Origin)
	dst = append(dst, `,"source_id":`...)
	dst = appendStr(dst, e.SourceID)
	dst = append(dst, `,"version":"`...)
	dst = e.Version.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","hash":`...)
	dst = appendStr(dst, e.Hash)
	if len(e.Refs) > 0 {
		dst = append(dst, `,"refs":`...)
		dst = appendStrMap(dst, e.Refs)
	}
	dst = append(dst, `,"data":`...)
	dst = mapping.AppendJSON(dst, e.Data)
	if e.TraceID != "" {
		dst = append(dst, `,"trace_id":`...)
		dst = appendStr(dst, e.TraceID)
	}
	if e.OriginStale {
		dst = append(dst, `,"origin_stale":true`...)
	}
	if len(e.Seen) > 0 {
		dst = append(dst, `,"seen":`...)
		dst = appendStrMap(dst, e.Seen)
	}
	return append(dst, '}')
}

// appendStrMap appends m as a JSON object, keys sorted.
func appendStrMap(dst []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendStr(dst, k)
		dst = append(dst, ':')
		dst = appendStr(dst, m[k])
	}
	return append(dst, '}')
}

// DecodeEnvelope parses an envelope. Errors name the field that is wrong.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	var d mapping.Decoder
	return DecodeEnvelopeWith(&d, b)
}

// DecodeEnvelopeWith is DecodeEnvelope with a Decoder that loops reuse
// from one envelope to the next (one per goroutine): its scratch stack
// stays grown and each document's containers come from one allocation
// sized by the previous one. A fresh Decoder per envelope grew the stack
// anew every time, a tenth of what the hub allocated in hub bench sync.
// The envelope stays valid after later calls.
func DecodeEnvelopeWith(d *mapping.Decoder, b []byte) (*Envelope, error) {
	v, err := d.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("envelope: not valid JSON: %w", err)
	}
	if v.Kind() != mapping.Object {
		return nil, fmt.Errorf("envelope: want a JSON object, got %s", v.Kind())
	}
	e := &Envelope{}
	str := func(key string, required bool) (string, error) {
		f := v.Get(key)
		switch {
		case f.Kind() == mapping.String:
			return f.Str(), nil
		case f.IsNull() && !required:
			return "", nil
		case f.IsNull():
			return "", fmt.Errorf("envelope: %s: missing", key)
		default:
			return "", fmt.Errorf("envelope: %s: want a string, got %s", key, f.Kind())
		}
	}
	fields := []struct {
		key      string
		dst      *string
		required bool
	}{
		{"entity", &e.Entity, true}, {"id", &e.ID, true}, {"op", &e.Op, true},
		{"origin", &e.Origin, false}, {"source_id", &e.SourceID, false},
		{"hash", &e.Hash, false}, {"trace_id", &e.TraceID, false},
	}
	for _, f := range fields {
		if *f.dst, err = str(f.key, f.required); err != nil {
			return nil, err
		}
	}
	if e.Op != OpUpsert && e.Op != OpDelete {
		return nil, fmt.Errorf("envelope: op: %q is not upsert or delete", e.Op)
	}
	if ver, err := str("version", false); err != nil {
		return nil, err
	} else if ver != "" {
		if e.Version, err = time.Parse(time.RFC3339Nano, ver); err != nil {
			return nil, fmt.Errorf("envelope: version: %q is not an RFC 3339 time", ver)
		}
	}
	if e.Refs, err = strMap(v, "refs"); err != nil {
		return nil, err
	}
	if e.Seen, err = strMap(v, "seen"); err != nil {
		return nil, err
	}
	switch os := v.Get("origin_stale"); {
	case os.Kind() == mapping.Bool:
		e.OriginStale = os.Bool()
	case !os.IsNull():
		return nil, fmt.Errorf("envelope: origin_stale: want a boolean, got %s", os.Kind())
	}
	e.Data = v.Get("data")
	return e, nil
}

// strMap decodes an optional object of strings.
func strMap(v mapping.Value, key string) (map[string]string, error) {
	f := v.Get(key)
	switch {
	case f.IsNull():
		return nil, nil
	case f.Kind() != mapping.Object:
		return nil, fmt.Errorf("envelope: %s: want an object, got %s", key, f.Kind())
	}
	out := make(map[string]string, f.Len())
	for _, m := range f.Members() {
		if m.Value.Kind() != mapping.String {
			return nil, fmt.Errorf("envelope: %s.%s: want a string", key, m.Key)
		}
		out[m.Key] = m.Value.Str()
	}
	return out, nil
}

// The envelope operations.
const (
	OpUpsert = "upsert"
	OpDelete = "delete"
)

// Hash is the hex sha256 of v's canonical JSON (object keys sorted, so two
// systems listing fields in another order hash the same).
func Hash(v mapping.Value) string {
	var buf [512]byte // on the stack for most records
	sum := sha256.Sum256(appendCanonical(buf[:0], v))
	var text [2 * sha256.Size]byte
	hex.Encode(text[:], sum[:])
	return string(text[:])
}

func appendCanonical(dst []byte, v mapping.Value) []byte {
	switch v.Kind() {
	case mapping.Object:
		// Sorted in an array on the stack for the usual small object
		// (Members and sort.Slice allocated for every object hashed).
		var buf [16]mapping.Member
		ms := v.AppendMembers(buf[:0])
		slices.SortFunc(ms, func(a, b mapping.Member) int { return strings.Compare(a.Key, b.Key) })
		dst = append(dst, '{')
		n := 0
		for _, m := range ms {
			if m.Value.IsNull() {
				continue // absent and null mean the same to every sink
			}
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = appendStr(dst, m.Key)
			dst = append(dst, ':')
			dst = appendCanonical(dst, m.Value)
		}
		return append(dst, '}')
	case mapping.Array:
		dst = append(dst, '[')
		for i, e := range v.Elems() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendCanonical(dst, e)
		}
		return append(dst, ']')
	default:
		return mapping.AppendJSON(dst, v)
	}
}

// appendStr appends s as a JSON string (strconv.Quote is Go syntax, not JSON).
func appendStr(dst []byte, s string) []byte {
	return mapping.AppendJSON(dst, mapping.StringValue(s))
}
