package rest

import (
	"context"
	"slices"
	"testing"

	"github.com/crmhub/hub/connectors/erp"
)

// remove deletes an order from the shop directly, as a shop manager would.
func (w *wooShop) remove(id int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.orders = slices.DeleteFunc(w.orders, func(o wooOrder) bool { return o["id"] == float64(id) })
}

// touch changes an order directly: it moves to the end of a list ordered
// by change time.
func (w *wooShop) touch(id int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(w.tick)
	for _, o := range w.orders {
		if o["id"] == float64(id) {
			o["date_modified_gmt"] = w.now.Format("2006-01-02T15:04:05")
		}
	}
}

// scanFrom scans from position until the scan ends.
func scanFrom(t *testing.T, c *Conn, position string, max int) []string {
	t.Helper()
	var out []string
	for range 100 {
		p, err := c.Scan(context.Background(), "order", position, max)
		if err != nil {
			t.Fatalf("scan from %q: %v", position, err)
		}
		if len(p.Records) > max {
			t.Fatalf("%d records, asked for %d", len(p.Records), max)
		}
		out = append(out, keys(p.Records)...)
		if p.Next == "" {
			return out
		}
		position = p.Next
	}
	t.Fatal("the scan does not end")
	return nil
}

// TestScanResumes pages through 23 orders listed oldest change first, 4
// at a time over pages of 5, then resumes from the second call's position
// after the shop changed: an order before the position deleted, the last
// one handed out deleted, one before it changed (it moves to the end) and
// a new one added. Page, offset and unpaged lists find their place again
// by the ids of the last records handed out, so nothing unchanged is
// skipped or repeated; a link list follows the server's links.
func TestScanResumes(t *testing.T) {
	for _, page := range []PageConfig{
		{Type: PageNumber, Size: 5},
		{Type: PageOffset, Size: 5},
		{Type: PageLink, Size: 5},
		{Type: PageNone},
	} {
		t.Run(page.Type, func(t *testing.T) {
			w := newWoo(t)
			wooOrders(w, 23)
			cfg := wooConfig(w, page)
			if page.Type == PageNone { // one page holds them all
				ec := cfg.Entities["order"]
				ec.Params["per_page"] = "100"
				cfg.Entities["order"] = ec
			}
			c, _ := start(t, cfg, erp.Options{})
			if got := scanFrom(t, c, "", 4); !slices.Equal(got, wantIDs(101, 23)) {
				t.Fatalf("scan = %v", got)
			}
			p1, err := c.Scan(context.Background(), "order", "", 4)
			if err != nil {
				t.Fatal(err)
			}
			p2, err := c.Scan(context.Background(), "order", p1.Next, 4)
			if err != nil || !slices.Equal(keys(p2.Records), wantIDs(105, 4)) {
				t.Fatalf("second page %v, %v", keys(p2.Records), err)
			}
			// The same position gives the same page.
			again, err := c.Scan(context.Background(), "order", p1.Next, 4)
			if err != nil || !slices.Equal(keys(again.Records), keys(p2.Records)) || again.Next != p2.Next {
				t.Fatalf("the same position again: %v, %v", keys(again.Records), err)
			}
			w.add(wooOrder{"currency": "EUR", "total": "1.00", "customer_note": "crm:new"})
			want := append(wantIDs(109, 15), "124")
			if page.Type != PageLink {
				w.remove(103)
				w.remove(108)
				w.touch(102)
				want = append(wantIDs(109, 15), "124", "102")
			}
			if got := scanFrom(t, c, p2.Next, 4); !slices.Equal(got, want) {
				t.Fatalf("resumed = %v\nwant      %v", got, want)
			}
		})
	}
}

// TestScanPositionIsChecked: a position the scan did not hand out is
// refused, permanently.
func TestScanPositionIsChecked(t *testing.T) {
	w := newWoo(t)
	c, _ := start(t, wooConfig(w, PageConfig{Type: PageOffset}), erp.Options{})
	_, err := c.Scan(context.Background(), "order", "garbage", 4)
	wantPermanent(t, err, "invalid position")
	if got := c.Scans(); !slices.Equal(got, []string{"order"}) {
		t.Fatalf("Scans = %v", got)
	}
}
