package pipeline

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"

	"github.com/crmhub/hub/pipeline/bus"
	"github.com/crmhub/hub/store"
)

// Dead-letter stages: where in the pipeline a record failed.
const (
	StageSourceMap = "map_in"  // the inbound mapping rejected the native record
	StageXref      = "xref"    // a reference could not be resolved
	StageDecode    = "decode"  // a topic record is not a valid envelope
	StageSinkMap   = "map_out" // the outbound mapping rejected the canonical record
	StageWrite     = "write"   // the target system refused or kept failing
	StagePrepare   = "prepare" // the hub could not prepare the record (its state store kept failing on it)
	StagePublish   = "publish" // the record cannot be published (too large for the broker)
)

// DeadLetters stores failed records in the state store (the queryable,
// replayable truth) and announces each on the <prefix>.dlq topic.
type DeadLetters struct {
	Store   *store.Store
	Topic   *bus.Writer // may be nil
	Metrics *Metrics
	Log     *slog.Logger
}

// Add records dl, filed by the source or sink dl.Connector names, of the
// connector system. It retries the state store until ctx ends, because the
// caller commits the record's offset or cursor right after: a dead letter
// that was not stored would be a lost record.
func (d *DeadLetters) Add(ctx context.Context, system string, dl store.DeadLetter) error {
	var id int64
	err := retryForever(ctx, d.Log, "store dead letter", func() error {
		var err error
		id, err = d.Store.AddDeadLetter(ctx, dl)
		return err
	})
	if err != nil {
		return err
	}
	if d.Metrics != nil {
		d.Metrics.DeadLetters.WithLabelValues(system, dl.Connector, dl.Entity, dl.Stage).Inc()
	}
	d.Log.Warn("record dead-lettered", "id", id, "connector", dl.Connector, "entity", dl.Entity,
		"key", dl.RecordKey, "stage", dl.Stage, "kind", dl.Kind, "error", dl.Error)
	if d.Topic != nil {
		note, _ := json.Marshal(map[string]any{
			"id": id, "connector": dl.Connector, "entity": dl.Entity, "key": dl.RecordKey,
			"hub_id": dl.HubID, "stage": dl.Stage, "kind": dl.Kind, "error": dl.Error,
			"attempts": dl.Attempts, "at": time.Now().UTC(),
		})
		// The topic is a notification; the store already holds the record.
		if err := d.Topic.Write(ctx, bus.Message{Key: []byte(strconv.FormatInt(id, 10)), Value: note}); err != nil {
			d.Log.Warn("announce dead letter on topic", "id", id, "err", err)
		}
	}
	return nil
}
