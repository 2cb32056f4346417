package callcenter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/callcenter/ami"
)

// Stream follows Asterisk's manager interface while the hub runs (the
// runtime calls it again, with backoff, when it fails): it logs in, pings,
// and turns the call events into stages. Without ami settings it waits
// for ctx and does nothing.
func (c *Calls) Stream(ctx context.Context, in connectors.Ingest) error {
	cfg := c.cfg.AMI
	if cfg == nil {
		<-ctx.Done()
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	client, err := ami.Dial(dctx, cfg.Addr)
	if err == nil {
		err = client.Login(dctx, cfg.Username, cfg.Secret)
		if err != nil {
			client.Close()
		}
	}
	cancel()
	if err != nil {
		if errors.Is(err, ami.ErrAuth) {
			return connectors.Unavailable(fmt.Errorf("calls %s: %w (ami.username, ami.secret)", c.name, err))
		}
		return fmt.Errorf("calls %s: %w", c.name, err)
	}
	c.log.Info("following Asterisk's manager interface", "addr", cfg.Addr, "banner", client.Banner())
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		// The context's end and the pings, beside the reading loop.
		t := time.NewTicker(cfg.PingInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				client.Close()
				return
			case <-stop:
				client.Close()
				return
			case <-t.C:
				if _, err := client.Send("Ping"); err != nil {
					client.Close()
					return
				}
			}
		}
	}()
	tr := ami.Tracker{Outbound: cfg.OutboundContexts, MaxCalls: c.cfg.MaxCalls, MaxAge: c.cfg.CallTTL * 12}
	for {
		m, err := client.Next(time.Now().Add(3 * cfg.PingInterval))
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("calls %s: manager connection: %w", c.name, err)
		}
		for _, ev := range tr.Handle(m) {
			c.takeAMI(ctx, in, ev)
		}
	}
}

// takeAMI takes a stage from the tracker. The manager does not send
// events again, so a call log the pipeline cannot take at once is tried
// again for a while before it is given up (and counted as failed).
func (c *Calls) takeAMI(ctx context.Context, in connectors.Ingest, ev ami.Event) {
	st := stage{kind: ev.Stage, source: "ami", callID: ev.CallID, from: ev.From, to: ev.To, agent: ev.Agent,
		at: ev.At, started: ev.StartedAt, answered: ev.AnsweredAt, duration: -1, direction: "inbound"}
	if !ev.Inbound {
		st.direction = "outbound"
	}
	wait := 500 * time.Millisecond
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := c.take(ctx, in, st)
		if err == nil {
			return
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			c.log.Error("call from Asterisk not logged", "call", ev.CallID, "err", err)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}
