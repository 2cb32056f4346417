package woocommerce

import (
	"context"
	"time"

	"github.com/crmhub/hub/connectors"
	"github.com/crmhub/hub/connectors/erp"
	"github.com/crmhub/hub/connectors/erp/rest"
)

// customerCursor is the customer source's position: in the customers list
// (registered customers) and in the orders (whose guest checkouts are
// customers no list holds).
type customerCursor struct {
	V int    `json:"v"`
	C string `json:"c,omitempty"`
	O string `json:"o,omitempty"`
}

func decodeCustomerCursor(s string) customerCursor {
	var c customerCursor
	if s == "" || erp.DecodeCursor(s, &c) != nil || c.V != 2 {
		// Empty, or a position from before guests were read: the
		// customers list's own.
		return customerCursor{V: 2, C: s}
	}
	return c
}

func (c customerCursor) encode() string {
	c.V = 2
	return erp.EncodeCursor(c)
}

// readCustomers reads the registered customers that changed and the
// guest buyers of the orders that changed, at most limit in all; with
// nothing new it asks again every poll_interval until ctx ends. A guest
// comes only with its orders: without this, an order the poller brings
// (its webhook lost) would refer to a buyer the hub never sees.
func (c *Conn) readCustomers(ctx context.Context, api *rest.Conn, cur string, limit int) (connectors.Batch, error) {
	if limit <= 0 {
		limit = 1000
	}
	st := decodeCustomerCursor(cur)
	return connectors.Poll(ctx, c.cfg.PollInterval, cur, func(string) (connectors.Batch, error) {
		once := connectors.WithIdle(ctx, 0) // one pass each; Poll here waits
		custs, err := api.Read(once, "customer", st.C, max(1, limit/2))
		if err != nil {
			return connectors.Batch{}, err
		}
		orders, err := c.buyers.Read(once, "order", st.O, max(1, limit/2))
		if err != nil {
			return connectors.Batch{}, err
		}
		recs := custs.Records
		seen := make(map[string]bool, len(recs))
		for _, r := range recs {
			seen[r.Key] = true
		}
		for _, o := range orders.Records {
			if idText(o.Data.Get("customer_id")) != "0" && idText(o.Data.Get("customer_id")) != "" {
				continue // a registered customer: the customers list has it
			}
			if b, ok := buyer(o.Data, o.Version); ok && !seen[b.Key] {
				seen[b.Key] = true
				recs = append(recs, b)
			}
		}
		if custs.Cursor != "" {
			st.C = custs.Cursor
		}
		if orders.Cursor != "" {
			st.O = orders.Cursor
		}
		return connectors.Batch{Records: recs, Cursor: st.encode()}, nil
	})
}

// customerSince is a customer backfill's start: both lists from since.
func customerSince(since time.Time) string {
	s := rest.SinceCursor(since)
	return customerCursor{C: s, O: s}.encode()
}
