package node

import (
	"context"
	"fmt"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/pipeline/api"
	"github.com/crmhub/hub/store"
)

// cursorOf reads a pull source's cursor and says it in words, through its
// connector's CursorCodec when it has one.
func cursorOf(ctx context.Context, plan *Plan, st *store.Store, source string) (Cursor, error) {
	sp, codec, err := pullSource(plan, source)
	if err != nil {
		return Cursor{}, err
	}
	value, _, err := st.GetCursor(ctx, source, sp.Config.Entity)
	if err != nil {
		return Cursor{}, err
	}
	c := Cursor{Source: source, Entity: sp.Config.Entity, Value: value, Words: "the beginning: everything will be read"}
	if value == "" {
		return c, nil
	}
	c.Words = "an opaque position (connector " + sp.Config.Connector + " cannot say what it means)"
	if codec != nil {
		if c.Words, err = codec.DescribeCursor(ctx, sp.Config.Entity, value); err != nil {
			return c, fmt.Errorf("source %s: read its cursor: %w", source, err)
		}
	}
	return c, nil
}

// setCursor stores a pull source's new cursor (nil since: the beginning)
// and audits it. The source must not be running (the caller checks).
func setCursor(ctx context.Context, plan *Plan, st *store.Store, source string, since *time.Time, actor string) (Cursor, error) {
	sp, codec, err := pullSource(plan, source)
	if err != nil {
		return Cursor{}, err
	}
	old, err := cursorOf(ctx, plan, st, source)
	if err != nil {
		return Cursor{}, err
	}
	value := ""
	if since != nil {
		if codec == nil {
			return Cursor{}, fmt.Errorf("connector %s cannot make a cursor from a time; only --beginning works for source %s", sp.Config.Connector, source)
		}
		if value, err = codec.CursorSince(ctx, sp.Config.Entity, since.UTC()); err != nil {
			return Cursor{}, fmt.Errorf("source %s: a cursor at %s: %w", source, since.UTC().Format(time.RFC3339), err)
		}
	}
	if err := st.SetCursor(ctx, source, sp.Config.Entity, value); err != nil {
		return Cursor{}, err
	}
	now, err := cursorOf(ctx, plan, st, source)
	if err != nil {
		return Cursor{}, err
	}
	if err := st.AppendAudit(ctx, actor, "cursor.set", "source "+source, "from "+old.Words+" to "+now.Words); err != nil {
		return now, err
	}
	return now, nil
}

// pullSource finds a pull source and its connector's cursor codec.
func pullSource(plan *Plan, source string) (SourcePlan, connectors.CursorCodec, error) {
	sp, ok := plan.Sources[source]
	if !ok {
		return SourcePlan{}, nil, fmt.Errorf("no source %q: %w", source, api.ErrNoRunner)
	}
	if _, ok := plan.Connectors[sp.Config.Connector].(connectors.Reader); !ok {
		return SourcePlan{}, nil, fmt.Errorf("source %s is pushed to the hub: it has no cursor", source)
	}
	codec, _ := plan.Connectors[sp.Config.Connector].(connectors.CursorCodec)
	return sp, codec, nil
}
