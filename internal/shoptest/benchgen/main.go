// Command benchgen writes signed Shopify orders/create deliveries for the
// webhook load test (docs/benchmarks.md): one per line, "signature TAB
// webhook id TAB body", each a distinct order of the Shopify stand-in, so
// that every request is checked, mapped and published (none is a repeat).
// wrk/shopify.lua sends them.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/crmhub/hub/internal/shoptest"
)

func main() {
	n := flag.Int("n", 100000, "deliveries")
	out := flag.String("o", "webhooks.tsv", "output file")
	secret := flag.String("secret", "bench-shopify-secret", "the webhook secret")
	flag.Parse()
	if err := run(*n, *out, *secret); err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(1)
	}
}

func run(n int, out, secret string) error {
	sh := shoptest.NewShopify()
	defer sh.Close()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i := range n {
		id := sh.CreateOrder(shoptest.Buyer{First: "Bench", Last: fmt.Sprint(i % 1000), Email: fmt.Sprintf("bench%d@example.com", i%1000)},
			shoptest.Line{SKU: "SKU-1", Title: "Pump", Qty: 1 + i%3, Price: "120.00"}, shoptest.Line{SKU: "SKU-2", Title: "Hose", Qty: 1, Price: "15.50"})
		body := sh.OrderJSON(id)
		fmt.Fprintf(w, "%s\tbench-%d\t%s\n", shoptest.Sign([]byte(secret), body), i, body)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}
