package pipeline

import (
	"context"
	"time"

	"github.com/crmhub/hub/store"
)

// Owner makes one runner the only one of its kind across hub nodes that
// share a state store: it holds a lease in the store while the runner
// runs, renews it every TTL/3, and takes it over when the holder dies (its
// lease expires). A source's cursor, say, must be read by one node only.
type Owner struct {
	Store  *store.Store
	Holder string        // this node, e.g. "host-a/4711"
	TTL    time.Duration // how long a dead holder keeps the lease
}

// Run calls fn with a context that ends when the lease is lost (or ctx
// ends), and takes the lease again after; it returns when ctx ends. While
// another node holds the lease, standby is called with that fact (true)
// and fn does not run. A nil Owner runs fn once, unguarded.
func (o *Owner) Run(ctx context.Context, name string, standby func(bool), fn func(context.Context)) {
	if o == nil {
		fn(ctx)
		return
	}
	every := max(o.TTL/3, 10*time.Millisecond)
	// A node standing by tries often, so that it takes over soon after
	// the lease of a dead holder expires: within the lease time of the
	// holder's death, plus at most this.
	try := min(every, 250*time.Millisecond)
	for ctx.Err() == nil {
		ok, err := o.Store.AcquireLease(ctx, name, o.Holder, o.TTL)
		if err != nil || !ok {
			if standby != nil {
				standby(true)
			}
			sleep(ctx, try)
			continue
		}
		if standby != nil {
			standby(false)
		}
		o.hold(ctx, name, every, fn)
	}
}

// hold runs fn while renewing the lease; it returns once fn has returned.
func (o *Owner) hold(ctx context.Context, name string, every time.Duration, fn func(context.Context)) {
	hctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); fn(hctx) }()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			cancel()
			o.release(ctx, name)
			return
		case <-t.C:
			rctx, rcancel := context.WithTimeout(ctx, every)
			ok, err := o.Store.AcquireLease(rctx, name, o.Holder, o.TTL)
			rcancel()
			if err != nil || !ok {
				cancel() // lost (or cannot tell): stop before another node takes over
				<-done
				return
			}
		}
	}
}

func (o *Owner) release(ctx context.Context, name string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = o.Store.ReleaseLease(rctx, name, o.Holder)
}
