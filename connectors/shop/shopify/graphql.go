package shopify

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
)

// gql is a GraphQL Admin API client that keeps within the shop's query
// cost budget: Shopify answers every query with its cost and the bucket's
// throttleStatus (maximumAvailable, currentlyAvailable, restoreRate); a
// query is sent only once the bucket, as last reported and refilled since,
// holds what the query is expected to cost, and a THROTTLED answer is
// waited out and asked again. (HTTP 429 with Retry-After is the erp
// client's.)
type gql struct {
	cl    *erp.Client
	path  string
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	known   bool
	avail   float64
	maxAv   float64
	restore float64
	at      time.Time
}

type gqlReply struct {
	Data       json.RawMessage `json:"data"`
	Errors     []gqlError      `json:"errors"`
	Extensions struct {
		Cost *queryCost `json:"cost"`
	} `json:"extensions"`
}

type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

type queryCost struct {
	RequestedQueryCost float64 `json:"requestedQueryCost"`
	ActualQueryCost    float64 `json:"actualQueryCost"`
	ThrottleStatus     struct {
		MaximumAvailable   float64 `json:"maximumAvailable"`
		CurrentlyAvailable float64 `json:"currentlyAvailable"`
		RestoreRate        float64 `json:"restoreRate"`
	} `json:"throttleStatus"`
}

// maxThrottled is how often one query is asked again after THROTTLED.
const maxThrottled = 8

// do sends query with vars, expected to cost about cost points, and
// decodes its data into out. mutation says the query changes something
// (it is not retried after an ambiguous failure).
func (g *gql) do(ctx context.Context, op, query string, vars map[string]any, cost int, mutation bool, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return connectors.Permanent(fmt.Errorf("%s: encode the query: %w", op, err))
	}
	for try := 1; ; try++ {
		if err := g.await(ctx, float64(cost)); err != nil {
			return err
		}
		resp, err := g.cl.Do(ctx, erp.Request{Op: op, Method: http.MethodPost, Path: g.path, Body: body, Idempotent: !mutation,
			Header: http.Header{"Accept": {"application/json"}}})
		if err != nil {
			return err
		}
		var rep gqlReply
		if err := json.Unmarshal(resp.Body, &rep); err != nil {
			return connectors.Retryable(fmt.Errorf("%s: the reply is not GraphQL JSON: %w", op, err), 0)
		}
		g.note(rep.Extensions.Cost)
		if wait, throttled := g.throttled(rep); throttled {
			if try >= maxThrottled {
				return connectors.Retryable(fmt.Errorf("%s: still THROTTLED after %d tries", op, try), wait)
			}
			if err := g.sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		if len(rep.Errors) > 0 {
			return gqlErr(op, rep.Errors)
		}
		if err := json.Unmarshal(rep.Data, out); err != nil {
			return connectors.Permanent(fmt.Errorf("%s: unexpected data: %w", op, err))
		}
		return nil
	}
}

func gqlErr(op string, errs []gqlError) error {
	msgs := make([]string, len(errs))
	denied := false
	for i, e := range errs {
		msgs[i] = e.Message
		if e.Extensions.Code != "" {
			msgs[i] += " (" + e.Extensions.Code + ")"
		}
		denied = denied || e.Extensions.Code == "ACCESS_DENIED"
	}
	err := fmt.Errorf("%s: %s", op, strings.Join(msgs, "; "))
	if denied {
		return connectors.Unavailable(err)
	}
	return connectors.Permanent(err)
}

// note keeps the bucket as the reply reports it.
func (g *gql) note(c *queryCost) {
	if c == nil || c.ThrottleStatus.MaximumAvailable <= 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.known = true
	g.avail, g.maxAv, g.restore = c.ThrottleStatus.CurrentlyAvailable, c.ThrottleStatus.MaximumAvailable, c.ThrottleStatus.RestoreRate
	g.at = g.now()
}

// throttled reports a THROTTLED reply and how long to wait before asking
// again: until the bucket holds the query's requested cost.
func (g *gql) throttled(rep gqlReply) (time.Duration, bool) {
	for _, e := range rep.Errors {
		if e.Extensions.Code != "THROTTLED" {
			continue
		}
		need := 0.0
		if c := rep.Extensions.Cost; c != nil {
			need = c.RequestedQueryCost - c.ThrottleStatus.CurrentlyAvailable
		}
		return g.refill(need), true
	}
	return 0, false
}

// refill is how long the bucket takes to gain need points (at least a
// little, so a bucket that does not report restores is not hammered).
func (g *gql) refill(need float64) time.Duration {
	g.mu.Lock()
	rate := g.restore
	g.mu.Unlock()
	if rate <= 0 {
		rate = 50 // Shopify's standard restore rate
	}
	d := time.Duration(math.Ceil(max(need, 1) / rate * float64(time.Second)))
	return max(d, 10*time.Millisecond)
}

// await waits until the bucket, as last reported and refilled since, holds
// cost points.
func (g *gql) await(ctx context.Context, cost float64) error {
	g.mu.Lock()
	if !g.known || g.restore <= 0 {
		g.mu.Unlock()
		return nil
	}
	cost = min(cost, g.maxAv)
	now := g.now()
	avail := min(g.maxAv, g.avail+g.restore*now.Sub(g.at).Seconds())
	g.mu.Unlock()
	if avail >= cost {
		return nil
	}
	return g.sleep(ctx, g.refill(cost-avail))
}
