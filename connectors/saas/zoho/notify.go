package zoho

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/mapping"
)

// maxNotifyBytes caps a notification's body.
const maxNotifyBytes = 1 << 20

// notifier keeps the notification channel subscribed.
type notifier struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (n *notifier) stop() {
	n.cancel()
	<-n.done
}

// renewRetry is how soon a failed subscription is tried again.
const renewRetry = time.Minute

// startNotifier subscribes the channel and renews it before it expires,
// until stopped.
func (c *Conn) startNotifier() *notifier {
	ctx, cancel := context.WithCancel(context.Background())
	n := &notifier{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(n.done)
		subscribed := false
		for {
			wait := renewRetry
			exp, err := c.subscribe(ctx, subscribed)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				c.log.Warn("zoho notification channel: subscribe failed; trying again", "err", err, "wait", wait)
				subscribed = false
			default:
				subscribed = true
				wait = max(exp.Sub(c.clock.Now())-c.cfg.Notifications.RenewBefore, time.Second)
				c.log.Info("zoho notification channel subscribed", "channel", c.cfg.Notifications.ChannelID, "expires", exp, "renew_in", wait)
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}()
	return n
}

// subscribe enables (POST) or renews (PATCH) the channel and returns its
// new expiry.
func (c *Conn) subscribe(ctx context.Context, renew bool) (time.Time, error) {
	nc := c.cfg.Notifications
	exp := c.clock.Now().Add(nc.Expiry).Truncate(time.Second)
	events := make([]string, 0, len(c.names))
	for _, n := range c.names {
		events = append(events, c.ents[n].module+".all")
	}
	body, _ := json.Marshal(map[string]any{"watch": []any{map[string]any{"channel_id": json.Number(nc.ChannelID), "events": events,
		"channel_expiry": zohoTime(exp), "token": nc.Token, "notify_url": nc.URL}}})
	method, op := http.MethodPost, "subscribe notification channel"
	if renew {
		method, op = http.MethodPatch, "renew notification channel"
	}
	resp, err := c.call(ctx, erp.Request{Op: op, Method: method, Path: "/actions/watch", Body: body, Idempotent: true, Sensitive: true}, 1)
	if err != nil {
		return time.Time{}, err
	}
	var r struct {
		Watch []recordError `json:"watch"`
	}
	if err := json.Unmarshal(resp.Body, &r); err != nil || len(r.Watch) == 0 {
		return time.Time{}, fmt.Errorf("%s: an answer without watch", op)
	}
	if r.Watch[0].Status != "success" {
		if renew && r.Watch[0].Code == "INVALID_DATA" {
			return c.subscribe(ctx, false) // the channel expired meanwhile: enable it again
		}
		return time.Time{}, fmt.Errorf("%s: %w", op, r.Watch[0].err())
	}
	return exp, nil
}

// Pushes lists the entities notifications bring, with their deletes.
func (c *Conn) Pushes() []connectors.ReadSpec {
	if c.cfg.Notifications == nil {
		return nil
	}
	out := make([]connectors.ReadSpec, 0, len(c.names))
	for _, n := range c.names {
		out = append(out, connectors.ReadSpec{Entity: n, Deletes: true})
	}
	return out
}

// notification is what Zoho posts to notify_url.
type notification struct {
	ServerTime int64    `json:"server_time"`
	Module     string   `json:"module"`
	IDs        []string `json:"ids"`
	Operation  string   `json:"operation"`
	ChannelID  string   `json:"channel_id"`
	Token      string   `json:"token"`
}

// Routes mounts the notification endpoint at the path of
// notifications.url.
func (c *Conn) Routes(in connectors.Ingest) []connectors.Route {
	if c.cfg.Notifications == nil {
		return nil
	}
	u, _ := url.Parse(c.cfg.Notifications.URL)
	return []connectors.Route{{Pattern: "POST " + u.Path, Public: true,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { c.serveNotification(w, r, in) })}}
}

func answer(w http.ResponseWriter, status int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"reason": fmt.Sprintf(format, args...)})
	_, _ = w.Write(append(b, '\n'))
}

// serveNotification verifies a notification's channel and token (in
// constant time), reads the records it names by id (a delete needs only
// the ids) and hands them to the hub; 200 once they are durable, 503 when
// not (polling closes the gap: Zoho does not send a notification again).
func (c *Conn) serveNotification(w http.ResponseWriter, r *http.Request, in connectors.Ingest) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxNotifyBytes+1))
	if err != nil || len(body) > maxNotifyBytes {
		answer(w, http.StatusRequestEntityTooLarge, "the body is unreadable or over %d bytes", maxNotifyBytes)
		return
	}
	var n notification
	if err := json.Unmarshal(body, &n); err != nil {
		answer(w, http.StatusBadRequest, "the body is not a notification: %v", err)
		return
	}
	nc := c.cfg.Notifications
	if subtle.ConstantTimeCompare([]byte(n.Token), []byte(nc.Token)) != 1 || n.ChannelID != nc.ChannelID {
		answer(w, http.StatusUnauthorized, "wrong channel or token")
		return
	}
	var e *entity
	for _, x := range c.ents {
		if x.module == n.Module {
			e = x
		}
	}
	if e == nil {
		answer(w, http.StatusUnprocessableEntity, "module %q is not an entity here", n.Module)
		return
	}
	recs, err := c.notified(r.Context(), e, n)
	if err != nil {
		answer(w, http.StatusServiceUnavailable, "not taken: %v", err)
		return
	}
	if len(recs) > 0 {
		if _, err := in.Ingest(r.Context(), e.name, recs); err != nil {
			answer(w, http.StatusServiceUnavailable, "not durable: %v", err)
			return
		}
	}
	answer(w, http.StatusOK, "%d records taken", len(recs))
}

// notified turns a notification into records.
func (c *Conn) notified(ctx context.Context, e *entity, n notification) ([]connectors.Record, error) {
	ids := dedupe(n.IDs)
	sort.Slice(ids, func(i, j int) bool { return lessID(ids[i], ids[j]) })
	if n.Operation == "delete" {
		at := time.UnixMilli(n.ServerTime).UTC()
		out := make([]connectors.Record, len(ids))
		for i, id := range ids {
			out[i] = connectors.Record{Entity: e.name, Key: id, Op: connectors.OpDelete, Version: at}
		}
		return out, nil
	}
	var out []connectors.Record
	for start := 0; start < len(ids); start += maxPage {
		part := ids[start:min(len(ids), start+maxPage)]
		full, err := c.fetch(ctx, e, part)
		if err != nil {
			return nil, err
		}
		var keys []string
		var data []mapping.Value
		for _, id := range part {
			if r, ok := full[id]; ok { // else deleted since: its own notification brings it
				keys, data = append(keys, id), append(data, r)
			}
		}
		data, err = c.withCodes(ctx, e.cfg.LineItems, data)
		if err != nil {
			return nil, err
		}
		for i, r := range data {
			v, _ := parseTime(erp.Text(r.Get("Modified_Time")))
			out = append(out, connectors.Record{Entity: e.name, Key: keys[i], Op: connectors.OpUpsert, Version: v, Data: r})
		}
	}
	return out, nil
}
