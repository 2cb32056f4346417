package callcenter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/callcenter/agents"
	"github.com/crmhub/hub/connectors/callcenter/screenpop"
)

// View is one screenpop connector: the index, its snapshot, its routes
// and the agents' event streams. It is a connectors.View.
type View struct {
	name   string
	cfg    ScreenpopConfig
	log    *slog.Logger
	index  *screenpop.Index
	agents *agents.Broker
	m      *viewMetrics
	bufs   sync.Pool // *[]byte for the answers

	mu      sync.Mutex
	started bool
	stop    chan struct{}
	done    chan struct{}

	snapMu sync.Mutex // one snapshot written at a time
}

var _ connectors.View = (*View)(nil)

// NewView checks cfg and returns a view that loads its snapshot on Start.
func NewView(p connectors.Params, cfg ScreenpopConfig) (*View, error) {
	phones, err := cfg.check()
	if err != nil {
		return nil, err
	}
	idx, err := screenpop.New(screenpop.Options{Phones: phones, Orders: cfg.RecentOrders, Invoices: cfg.OpenInvoices,
		Interactions: cfg.Interactions, MaxCustomers: cfg.MaxCustomers})
	if err != nil {
		return nil, err
	}
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	v := &View{name: p.Name, cfg: cfg, log: log, index: idx,
		agents: agents.New(agents.Options{Keep: cfg.Agents.Keep, Heartbeat: cfg.Agents.Heartbeat}),
		m:      newViewMetrics(p.Name)}
	v.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	return v, nil
}

// Name is the connector's configured name.
func (v *View) Name() string { return v.name }

// Index is the screen-pop index.
func (v *View) Index() *screenpop.Index { return v.index }

// Start loads the snapshot, if there is one, and starts writing it
// periodically. An unreadable snapshot is no failure: the view then reads
// its topics from the start.
func (v *View) Start(context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.started {
		return nil
	}
	if v.cfg.Snapshot != "" {
		began := time.Now()
		found, err := v.index.LoadFile(v.cfg.Snapshot)
		switch {
		case err != nil:
			v.log.Warn("screen-pop snapshot unreadable; reading the topics from the start", "file", v.cfg.Snapshot, "err", err)
		case found:
			st := v.index.Stats()
			v.log.Info("screen-pop snapshot loaded", "file", v.cfg.Snapshot, "customers", st.Customers,
				"orders", st.Orders, "took", time.Since(began).Round(time.Millisecond))
		}
		v.stop, v.done = make(chan struct{}), make(chan struct{})
		go v.snapshots(v.stop, v.done)
	}
	v.started = true
	return nil
}

// snapshots writes the snapshot every interval until stop closes.
func (v *View) snapshots(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(v.cfg.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := v.saveSnapshot(); err != nil {
				v.log.Warn("screen-pop snapshot not written", "err", err)
			}
		}
	}
}

// saveSnapshot writes the snapshot now.
func (v *View) saveSnapshot() error {
	v.snapMu.Lock()
	defer v.snapMu.Unlock()
	began := time.Now()
	size, err := v.index.SaveFile(v.cfg.Snapshot)
	v.m.snapshot(time.Since(began), size, err)
	return err
}

// Check answers at once: the view is in memory.
func (v *View) Check(context.Context) error { return nil }

// Close ends the agents' streams and writes a last snapshot.
func (v *View) Close() error {
	v.agents.Drain()
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.started {
		return nil
	}
	v.started = false
	if v.stop == nil {
		return nil
	}
	close(v.stop)
	<-v.done
	v.stop, v.done = nil, nil
	if err := v.saveSnapshot(); err != nil {
		return fmt.Errorf("screenpop %s: %w", v.name, err)
	}
	return nil
}

// Follows are the entities of the index.
func (v *View) Follows() []string { return screenpop.Follows() }

// Resume is where the index stands: the snapshot's positions and what
// was applied since; nothing on a first start.
func (v *View) Resume(context.Context) (connectors.Positions, error) { return v.index.Positions(), nil }

// Apply takes changes into the index.
func (v *View) Apply(_ context.Context, changes []connectors.Change, at connectors.Positions) error {
	v.index.Apply(changes, at)
	return nil
}

// Reset forgets the index and its snapshot, for a rebuild.
func (v *View) Reset(context.Context) error {
	v.index.Reset()
	if v.cfg.Snapshot == "" {
		return nil
	}
	v.snapMu.Lock()
	defer v.snapMu.Unlock()
	if err := os.Remove(v.cfg.Snapshot); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("screenpop %s: remove the snapshot: %w", v.name, err)
	}
	return nil
}
