package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/crmhub/hub/mapping"
	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

// decodeBatch decodes every message of a fetched batch once, dead-letters
// the ones that are not envelopes of this entity, skips replays meant for
// another sink, and keeps of several records of one hub id only the
// newest (newest). Every message read ends as an item, a skipped replay,
// a traced supersession or a dead letter: nothing is dropped unseen.
func (s *Sink) decodeBatch(ctx context.Context, msgs []bus.Message) ([]*item, error) {
	items := make([]*item, 0, len(msgs))
	var dec mapping.Decoder
	for _, m := range msgs {
		if target := header(m, HeaderReplayFor); target != "" && target != s.Name {
			continue // another sink's replay
		}
		env, err := DecodeEnvelopeWith(&dec, m.Value)
		if err == nil && env.Entity != s.Entity {
			err = fmt.Errorf("envelope: entity %q on the %s topic", env.Entity, s.Entity)
		}
		if err != nil {
			if err := s.deadLetter(ctx, &item{msg: m, stage: StageDecode, lastErr: err, attempts: 1}, store.KindPermanent); err != nil {
				return nil, err
			}
			continue
		}
		items = append(items, &item{msg: m, env: env})
	}
	return s.newest(items), nil
}

// newest keeps, of the records of one hub id in a batch, the one with the
// newest version (of equal or missing versions, the later one): writing
// one key twice in one statement is an error on several databases, and
// only the newest matters. Supersession is decided on the decoded hub id
// and version, never on the raw Kafka key. Of a two-way entity every
// distinct merge of a record is kept (the same merge once): which of them
// is the latest is known only from the hub's record (see prepare), because
// two sources may publish their merges in the other order than they saved
// them.
func (s *Sink) newest(items []*item) []*item {
	key := func(it *item) string {
		if s.merging() {
			return it.env.ID + "\x00" + it.env.Hash
		}
		return it.env.ID
	}
	best := make(map[string]int, len(items))
	for i, it := range items {
		k := key(it)
		j, ok := best[k]
		if !ok || !supersedes(items[j].env, it.env) {
			best[k] = i
		}
	}
	out := make([]*item, 0, len(best))
	for i, it := range items {
		k := key(it)
		if best[k] == i {
			out = append(out, it)
			continue
		}
		if s.merging() {
			foldSeen(items[best[k]].env, it.env)
		}
		s.Metrics.Suppressed.WithLabelValues(s.System, s.Entity, "superseded").Inc()
		s.note(it.env, "", store.TraceSuppressed, "superseded: a newer version of the record came in the same batch")
	}
	return out
}

// foldSeen gives kept, one of several envelopes of the same merge, the
// newest version of each system that any of them saw. Two sources can
// publish the same merged record (one merge changed the data, the other
// only what it saw of its own system): the later envelope in the batch may
// carry the older version of the target, and a write based on that one is
// skipped as if the target had changed since, a change the hub has already
// read and will not read again.
func foldSeen(kept, dropped *Envelope) {
	for sys, v := range dropped.Seen {
		if newerVersion(v, kept.Seen[sys]) {
			if kept.Seen == nil {
				kept.Seen = map[string]string{}
			}
			kept.Seen[sys] = v
		}
	}
}

// newerVersion reports whether RFC 3339 version a is after b (any version
// is after none or an unreadable one).
func newerVersion(a, b string) bool {
	ta, err := time.Parse(time.RFC3339Nano, a)
	if err != nil {
		return false
	}
	tb, err := time.Parse(time.RFC3339Nano, b)
	return err != nil || ta.After(tb)
}

// supersedes reports whether a (earlier in the partition) wins over b
// (later): only when both carry versions and a's is newer.
func supersedes(a, b *Envelope) bool {
	if a.Version.IsZero() || b.Version.IsZero() {
		return false
	}
	return a.Version.After(b.Version)
}
