package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/mapping"
)

// Writes lists the configured entities. A delete is produced as a
// tombstone of the record's key: the hub id, or with key_field the key the
// record was written under, which the hub knows from its stamps. A topic is a log (WriteSpec.Log): no
// write overwrites another, so there is no version guard to keep; its
// consumers take the newest version of a key (the hub-version header
// orders them).
func (c *Conn) Writes() []connectors.WriteSpec {
	out := make([]connectors.WriteSpec, 0, len(c.cfg.Entities))
	for _, e := range c.entities() {
		out = append(out, connectors.WriteSpec{Entity: e, Deletes: true, Log: true, DeleteByID: c.cfg.Entities[e].KeyField != ""})
	}
	return out
}

// Write produces one message per record with the idempotent producer and
// returns once the brokers acknowledged each (acks=all). Written again, a
// record is a second message of the same key and content: the log keeps
// both, a compacted topic and any consumer keyed by it keep one.
func (c *Conn) Write(ctx context.Context, entity string, recs []connectors.WriteRecord) ([]connectors.Result, error) {
	e, err := c.entity(entity)
	if err != nil {
		return nil, err
	}
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	res := make([]connectors.Result, len(recs))
	msgs := make([]*kgo.Record, 0, len(recs))
	idx := make([]int, 0, len(recs))
	for i, rec := range recs {
		m, err := message(entity, e, c.headers[entity], rec)
		if err != nil {
			res[i] = connectors.Result{Outcome: connectors.Failed, Err: connectors.Permanent(fmt.Errorf("kafka %s: %w", c.name, err))}
			continue
		}
		res[i].ExternalID = string(m.Key)
		msgs, idx = append(msgs, m), append(idx, i)
	}
	at := make(map[*kgo.Record]int, len(msgs))
	for j, m := range msgs {
		at[m] = idx[j]
	}
	for _, r := range c.produce(ctx, cl, msgs) { // in the order they completed
		i := at[r.Record]
		switch {
		case r.Err == nil:
			res[i].Outcome = connectors.Written
		case tooLarge(r.Err):
			res[i].Err = connectors.Permanent(fmt.Errorf("kafka %s: produce %s %s to %s: %w", c.name, entity, recs[i].HubID, e.Topic, r.Err))
		default:
			return nil, classify(fmt.Errorf("kafka %s: produce %s to %s: %w", c.name, entity, e.Topic, r.Err))
		}
	}
	return res, nil
}

// produce sends msgs and waits for each to be acknowledged, at most the
// timeout. A produce the cluster never answers (brokers gone, no leader)
// is not given up by the client on its own: then the client is replaced,
// and closing the old one fails what it still held.
func (c *Conn) produce(ctx context.Context, cl *kgo.Client, msgs []*kgo.Record) kgo.ProduceResults {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	done := make(chan kgo.ProduceResults, 1)
	go func() { done <- cl.ProduceSync(ctx, msgs...) }()
	select {
	case out := <-done:
		return out
	case <-ctx.Done():
	}
	c.replace(cl)
	return <-done
}

// message is a record as a message: the mapped data as its JSON value
// (none for a delete), its key, the hub's headers, the configured ones and
// those taken from the record's fields (header_fields; a delete carries no
// mapped data, so none of these).
func message(entity string, e EntityConfig, names headerNames, rec connectors.WriteRecord) (*kgo.Record, error) {
	key := rec.HubID
	switch {
	case rec.Op == connectors.OpDelete && rec.ExternalID != "":
		key = rec.ExternalID // the key it was written under: a delete carries no mapped data
	case e.KeyField != "":
		if key = fieldText(rec.Data, e.KeyField); key == "" {
			return nil, fmt.Errorf("%s %s: key_field %s is empty", entity, rec.HubID, e.KeyField)
		}
	}
	m := &kgo.Record{Topic: e.Topic, Key: []byte(key), Headers: []kgo.RecordHeader{
		{Key: "hub-id", Value: []byte(rec.HubID)},
		{Key: "hub-entity", Value: []byte(entity)},
		{Key: "hub-op", Value: []byte(rec.Op)},
		{Key: "hub-version", Value: []byte(rec.Version.UTC().Format(time.RFC3339Nano))},
	}}
	// Each group in name order, so that two messages of one record carry
	// the same headers in the same order (a map's order changes from one
	// range to the next).
	for _, k := range names.fixed {
		m.Headers = append(m.Headers, kgo.RecordHeader{Key: k, Value: []byte(e.Headers[k])})
	}
	if rec.Op != connectors.OpDelete {
		for _, k := range names.fields {
			if v := fieldText(rec.Data, e.HeaderFields[k]); v != "" {
				m.Headers = append(m.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
			}
		}
		m.Value = mapping.AppendJSON(nil, rec.Data)
	}
	return m, nil
}

func tooLarge(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)
}

// classify tells a cluster that refuses (credentials, a missing topic,
// authorization) from one that is slow or moving leaders.
func classify(err error) error {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke) && ke.Retriable:
		return connectors.Retryable(err, 0)
	case errors.As(err, &ke):
		return connectors.Unavailable(err)
	case errors.Is(err, context.DeadlineExceeded):
		return connectors.Retryable(err, 0)
	}
	return connectors.Unavailable(err)
}

// headerNames are an entity's configured header names, each group sorted.
type headerNames struct {
	fixed  []string // of headers
	fields []string // of header_fields
}

func (e EntityConfig) headerNames() headerNames {
	return headerNames{fixed: slices.Sorted(maps.Keys(e.Headers)), fields: slices.Sorted(maps.Keys(e.HeaderFields))}
}
