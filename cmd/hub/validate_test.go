package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateOnePass: hub validate reports the config's own mistakes and
// the mistakes of what it names (connector settings, mappings, what a
// connector can do) in one run, each with file:line and the full key; a
// core mistake hides nothing.
func TestValidateOnePass(t *testing.T) {
	dir := t.TempDir()
	demo, err := filepath.Abs(filepath.Join("..", "..", "configs", "demo", "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	customerIn := filepath.Join(demo, "crm-customer-in.yaml")
	orderIn := filepath.Join(demo, "crm-order-in.yaml")
	customerOut := filepath.Join(demo, "erp-customer-out.yaml")
	orderOut := filepath.Join(demo, "erp-order-out.yaml")
	shipped, err := filepath.Abs(filepath.Join("..", "..", "configs", "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	trytonPartyOut := filepath.Join(shipped, "tryton-party-out.yaml")
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte("entity: customer\ndirection: in\nfields:\n  email:\n    from: email\n    transform: [frobnicate]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Lookups: one a mapping in cannot have (xref.order) beside one it
	// may (optional), one a sink does not answer, and an optional xref.
	lookupIn := writeConfigNamed(t, dir, "order-in-lookup.yaml", `name: shop-order-in
system: shop
entity: order
direction: in
fields:
  external_id: {from: id, type: string, required: true}
  order_no: {from: name, transform: [{xref: order}]}
  notes: {from: note, transform: [{hook: {name: xref.customer, optional: true}}]}
`)
	priceListOut := writeConfigNamed(t, dir, "order-out-pricelist.yaml", `name: lake-order-out
system: lake
entity: order
direction: out
fields:
  id: {from: id}
  terms: {from: payment_terms, transform: [{hook: {name: price_list, optional: true}}]}
`)
	optionalOut := writeConfigNamed(t, dir, "order-optional-customer.yaml", `name: lake-order-out
system: lake
entity: order
direction: out
fields:
  id: {from: id}
  customer_ref: {from: customer.id, transform: [{hook: {name: xref.customer, optional: true}}]}
`)

	tests := []struct {
		name string
		yaml string
		// want holds one "line: key: message" per problem, in order; the
		// output must hold exactly these.
		want []string
	}{
		{
			name: "core and component mistakes together",
			yaml: fmt.Sprintf(`http:
  addr: nowhere
log:
  level: loud
connectors:
  crm:
    kind: sqlstore
    dsn: crm.db
    entities:
      customer:
        table: customers
        capture: magic
  erp:
    kind: tryton
    url: http://127.0.0.1:8000
    database: erp
    user: admin
    password: secretsecret
    entities: [customer]
    colour: blue
  shop:
    kind: magento
sources:
  crm-customers:
    connector: crm
    entity: customer
    mapping: %s
    refs: {custmer: customer_id}
  crm-orders:
    connector: crm
    entity: order
    mapping: %s
sinks:
  erp:
    connector: erp
    workers: 9
    entities:
      customer: {mapping: %s}
`, broken, orderIn, customerIn),
			want: []string{
				`:2: http.addr: "nowhere" is not host:port`,
				`:4: log.level: "loud" is not one of debug, info, warn, error`,
				`:6: connectors.crm.driver: is required`,
				`:12: connectors.crm.entities.customer.capture: "magic" is not one of cursor, outbox`,
				`:20: connectors.erp.colour: unknown key for a tryton connector`,
				`:22: connectors.shop.kind: unknown connector kind "magento" (known: calls, fxiaoke, kafka, odoo, rest, screenpop, shopify, sqlstore, tryton, woocommerce, zoho)`,
				`:27: sources.crm-customers.mapping: ` + broken + `:6: email: unknown transform "frobnicate"`,
				`:28: sources.crm-customers.refs.custmer: "custmer" is not one of customer, order, invoice, interaction`,
				`:36: sinks.erp.workers: must be between 1 and kafka.partitions (6)`,
				`:38: sinks.erp.entities.customer.mapping: mapping ` + customerIn + ` maps customer "in", but this needs customer "out"`,
			},
		},
		{
			name: "what a connector cannot do",
			yaml: fmt.Sprintf(`connectors:
  erp:
    kind: tryton
    url: http://127.0.0.1:8000
    database: erp
    user: admin
    password: secretsecret
    entities: [customer]
sources:
  erp-orders:
    connector: erp
    entity: order
    mapping: %s
sinks:
  back:
    connector: erp
    entities:
      invoice: {mapping: %s}
`, orderIn, customerOut),
			want: []string{
				`:12: sources.erp-orders.entity: connector erp reads no order (it reads: customer)`,
				`:18: sinks.back.entities.invoice: connector erp (tryton) writes no invoice (it writes: customer)`,
				`:18: sinks.back.entities.invoice.mapping: mapping ` + customerOut + ` maps customer "out", but this needs invoice "out"`,
			},
		},
		{
			name: "what a sink asks of its writer",
			yaml: fmt.Sprintf(`connectors:
  crm:
    kind: sqlstore
    driver: sqlite
    dsn: crm.db
    entities:
      customer: {table: customers, capture: outbox}
  erp:
    kind: tryton
    url: http://127.0.0.1:8000
    database: erp
    user: admin
    password: secretsecret
    entities: [customer, order, invoice]
  books:
    kind: rest
    url: http://127.0.0.1:8001
    entities:
      customer:
        list: /api/customers
        id_field: id
        updated_at: {field: modified}
        pagination: {type: none}
sources:
  crm-customers:
    connector: crm
    entity: customer
    mapping: %s
  erp-customers:
    connector: erp
    entity: customer
    mapping: %s
sinks:
  erp:
    connector: erp
    entities:
      invoice: {mapping: %s}
      customer: {mapping: %s}
  books:
    connector: books
    entities:
      customer: {mapping: %s}
`, customerIn, customerIn, customerOut, trytonPartyOut, customerOut),
			want: []string{
				`:37: sinks.erp.entities.invoice: connector erp (tryton) writes no invoice (it writes: customer, order)`,
				`:37: sinks.erp.entities.invoice.mapping: mapping ` + customerOut + ` maps customer "out", but this needs invoice "out"`,
				`:38: sinks.erp.entities.customer: customer is two-way (sources of several connectors read it), but connector erp (tryton) writes it without a version guard`,
				`:42: sinks.books.entities.customer: customer is two-way (sources of several connectors read it), but connector books (rest) writes it without a version guard`,
				`:42: sinks.books.entities.customer: source crm-customers sees deletes of customer, but connector books (rest) cannot apply them: set ` + "`deletes: ignore`" + ` under sinks.books.entities.customer to drop them`,
			},
		},
		{
			// The kind's spec (an allowed value, a required key) and its
			// constructor's own checks (a table name, a negative window)
			// both answer with field errors, each at its key's line or,
			// for a key the file leaves out, at its parent's.
			name: "a connector's field errors at their lines",
			yaml: `connectors:
  crm:
    kind: sqlstore
    driver: sqlite
    dsn: crm.db
    entities:
      customer:
        table: "users; drop table x"
        capture: magic
        look_back: -5s
      order:
        table: orders
        lines: {table: order_lines, parent_key: order_id}
`,
			want: []string{
				`:8: connectors.crm.entities.customer.table: "users; drop table x" is not a plain table name`,
				`:9: connectors.crm.entities.customer.capture: "magic" is not one of cursor, outbox`,
				`:10: connectors.crm.entities.customer.look_back: must not be negative`,
				`:13: connectors.crm.entities.order.lines.key: is required`,
			},
		},
		{
			// stamps: false is for a log only, with no source of its
			// connector (echoes), deletes it can address without them,
			// and no `xref:` lookup of what nothing records. (sinks.back's
			// connector is no log either: one word per key.)
			name: "a sink without stamps",
			yaml: fmt.Sprintf(`connectors:
  crm:
    kind: sqlstore
    driver: sqlite
    dsn: crm.db
    entities:
      customer: {table: customers, capture: outbox}
  lake:
    kind: kafka
    brokers: [127.0.0.1:9092]
    entities:
      customer: {topic: lake.customers, key_field: external_id}
      order: {topic: lake.orders}
  erp:
    kind: sqlstore
    driver: sqlite
    dsn: erp.db
    entities:
      customer: {table: erp_customers}
sources:
  crm-customers:
    connector: crm
    entity: customer
    mapping: %s
sinks:
  back:
    connector: crm
    stamps: false
    entities:
      customer: {mapping: %s}
  lake:
    connector: lake
    stamps: false
    entities:
      customer: {mapping: %s}
      order: {mapping: %s}
  erp:
    connector: erp
    stamps: false
    entities:
      customer: {mapping: %s}
`, customerIn, customerOut, customerOut, orderOut, customerOut),
			want: []string{
				`:28: sinks.back.stamps: must be true: source crm-customers reads connector crm, and tells the hub's own writes there from changes by their stamps`,
				`:33: sinks.lake.stamps: connector lake (kafka) deletes customer by the key it was written under, which only the stamps keep: set ` + "`deletes: ignore`" + ` under sinks.lake.entities.customer, or keep stamps`,
				`:36: sinks.lake.entities.order.mapping: mapping ` + orderOut + " looks up `xref: customer`, but nothing records the ids of customer in lake: no source reads or references them there",
				`:39: sinks.erp.stamps: must be true for connector erp (sqlstore): it updates customer by the id the stamps keep; ` + "`stamps: false`" + ` is for a log (kafka)`,
			},
		},
		{
			name: "one word per key",
			yaml: `connectors:
  crm:
    kind: sqlstore
    driver: sqlite
    dsn: ${HUB_TEST_SURELY_UNSET_DSN}
    entities:
      customer: {table: customers}
sources:
  s:
    connector: crm
    entity: customer
    mapping: missing.yaml
`,
			want: []string{
				`:5: connectors.crm.dsn: environment variable HUB_TEST_SURELY_UNSET_DSN is not set`,
				`:12: sources.s.mapping: cannot read mapping`,
			},
		},
		{
			// Lookups that can never answer: a required one in a mapping
			// in (it has none; the optional xref.customer beside it is not
			// among the problems), and one a sink does not serve.
			name: "lookups nothing answers",
			yaml: fmt.Sprintf(`connectors:
  lake:
    kind: kafka
    brokers: [127.0.0.1:9092]
    entities:
      order: {topic: lake.orders}
sources:
  shop-orders:
    connector: lake
    entity: order
    mapping: %s
sinks:
  lake:
    connector: lake
    entities:
      order: {mapping: %s}
`, lookupIn, priceListOut),
			want: []string{
				":11: sources.shop-orders.mapping: mapping " + lookupIn + " looks up xref.order, but a mapping in has no lookups",
				":16: sinks.lake.entities.order.mapping: mapping " + priceListOut + " looks up price_list, which a sink does not answer",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, dir, tt.yaml)
			stdout, stderr, code := runHubIO(t, nil, "validate", "-c", cfg)
			if code != 1 {
				t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			var got []string
			for _, l := range strings.Split(stderr, "\n") {
				if l = strings.TrimSpace(l); strings.HasPrefix(l, cfg+":") {
					got = append(got, strings.TrimPrefix(l, cfg))
				}
			}
			if !strings.Contains(stderr, fmt.Sprintf("%d problem(s)", len(tt.want))) || len(got) != len(tt.want) {
				t.Errorf("%d problems reported, want %d:\n%s", len(got), len(tt.want), stderr)
			}
			for i, w := range tt.want {
				if i >= len(got) || !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d: want %q\nall:\n%s", i+1, w, stderr)
				}
			}
		})
	}

	// An `xref: customer` in a sink's mapping finds the customers' ids a
	// source of the same system records through its refs: accepted.
	t.Run("xref of what a source references", func(t *testing.T) {
		cfg := writeConfig(t, dir, fmt.Sprintf(`connectors:
  erp:
    kind: tryton
    url: http://127.0.0.1:8000
    database: erp
    user: admin
    password: secretsecret
    entities: [order, invoice]
sources:
  erp-invoices:
    connector: erp
    entity: invoice
    mapping: %s
    refs: {customer: party}
sinks:
  erp:
    connector: erp
    entities:
      order: {mapping: %s}
`, filepath.Join(shipped, "tryton-invoice-in.yaml"), filepath.Join(shipped, "tryton-sale-out.yaml")))
		wantValid(t, cfg)
	})

	// The same lookup marked optional gives null where nothing is
	// recorded: accepted, the config's author asked for it.
	t.Run("an optional xref of what nothing records", func(t *testing.T) {
		wantValid(t, writeConfig(t, dir, fmt.Sprintf(`connectors:
  lake:
    kind: kafka
    brokers: [127.0.0.1:9092]
    entities:
      order: {topic: lake.orders}
sinks:
  lake:
    connector: lake
    entities:
      order: {mapping: %s}
`, optionalOut)))
	})

	t.Run("the demo is ok, without warnings", func(t *testing.T) {
		if stderr := wantValid(t, filepath.Join("..", "..", "configs", "demo.yaml")); strings.Contains(stderr, "warning") {
			t.Fatalf("warnings:\n%s", stderr)
		}
	})

	// Deletes a sink would apply that no source can see (cursor capture
	// cannot see a DELETE): a warning, not a problem.
	t.Run("deletes no source sees", func(t *testing.T) {
		cfg := writeConfig(t, dir, fmt.Sprintf(`connectors:
  crm:
    kind: sqlstore
    driver: sqlite
    dsn: crm.db
    entities:
      customer: {table: customers}
  erp:
    kind: sqlstore
    driver: sqlite
    dsn: erp.db
    entities:
      customer: {table: erp_customers, delete: {mode: soft, column: status, value: GONE}}
sources:
  crm-customers:
    connector: crm
    entity: customer
    mapping: %s
sinks:
  erp:
    connector: erp
    entities:
      customer: {mapping: %s}
`, customerIn, customerOut))
		wantWarnings(t, wantValid(t, cfg),
			":23: sinks.erp.entities.customer: connector erp (sqlstore) applies deletes of customer, but no source sees them (crm-customers)")
	})

	// A kafka setting of one role (a source's metadata, a sink's
	// header_fields) for an entity no source, or no sink, of the
	// connector takes does nothing: a warning each.
	t.Run("kafka settings of the other role", func(t *testing.T) {
		cfg := writeConfig(t, dir, fmt.Sprintf(`connectors:
  events:
    kind: kafka
    brokers: [127.0.0.1:9092]
    entities:
      customer: {topic: shop.customers, metadata: _kafka, header_fields: {tenant: tenant}}
      order: {topic: shop.orders, metadata: _kafka, group: hub}
sources:
  shop-customers:
    connector: events
    entity: customer
    mapping: %s
sinks:
  lake:
    connector: events
    entities:
      order: {mapping: %s}
`, filepath.Join(shipped, "shop-customer-in.yaml"), filepath.Join(shipped, "analytics-order-out.yaml")))
		wantWarnings(t, wantValid(t, cfg),
			":6: connectors.events.entities.customer.header_fields: only a sink reads it, and no sink writes customer to events",
			":7: connectors.events.entities.order.group: only a source reads it, and no source reads order from events",
			":7: connectors.events.entities.order.metadata: only a source reads it, and no source reads order from events")
	})
}

// TestValidateReconcile: a job whose side cannot scan its entity, whose
// mapping maps another entity, or whose repair policy changes a side no
// sink writes, is refused with the key and line.
func TestValidateReconcile(t *testing.T) {
	dir := t.TempDir()
	demo, err := filepath.Abs(filepath.Join("..", "..", "configs", "demo", "mappings"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`connectors:
  crm:
    kind: sqlstore
    driver: sqlite
    dsn: crm.db
    entities:
      order: {table: orders}
  erp:
    kind: sqlstore
    driver: sqlite
    dsn: erp.db
    entities:
      order: {table: erp_orders, key: ext_ref}
  shop:
    kind: shopify
    webhook_path: /webhooks/shopify/x
    webhook_secret: a-long-enough-secret
sources:
  crm-orders: {connector: crm, entity: order, mapping: %[1]s}
reconcile:
  webhooks-only:
    entity: order
    left: crm
    right: shop
    right_mapping: %[1]s
    fields: {total: exact}
  wrong-mapping:
    entity: order
    left: crm
    right: erp
    right_mapping: %[2]s
    fields: {total: exact}
  no-sink:
    entity: order
    left: crm
    right: erp
    right_mapping: %[3]s
    fields: {total: exact}
    repair: left_wins
`, filepath.Join(demo, "crm-order-in.yaml"), filepath.Join(demo, "crm-customer-in.yaml"), filepath.Join(demo, "erp-order-in.yaml")))
	_, stderr, code := runHubIO(t, nil, "validate", "-c", cfg)
	for _, want := range []string{
		`:24: reconcile.webhooks-only.right: connector shop (shopify) cannot scan order`,
		`:31: reconcile.wrong-mapping.right_mapping: mapping ` + filepath.Join(demo, "crm-customer-in.yaml") + ` maps customer "in", but this needs order "in"`,
		`:39: reconcile.no-sink.repair: left_wins repairs order in erp, but no sink writes order to erp`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("validate lacks %q:\n%s", want, stderr)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}

// TestValidateConnectorKeysSuggested: a misspelt connector setting gets a
// "did you mean", nested ones too, next to type errors with their values.
func TestValidateConnectorKeysSuggested(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), `connectors:
  crm:
    kind: sqlstore
    driver: sqlite
    dsn: crm.db
    pol_interval: 1s
    entities:
      customer: {table: customers, batch_size: big, captur: outbox}
`)
	_, stderr, code := runHubIO(t, nil, "validate", "-c", cfg)
	for _, want := range []string{
		`:6: connectors.crm.pol_interval: unknown key for a sqlstore connector (did you mean "poll_interval"?)`,
		`:8: connectors.crm.entities.customer.batch_size: "big" is not a whole number`,
		`:8: connectors.crm.entities.customer.captur: unknown key for a sqlstore connector (did you mean "capture"?)`,
	} {
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("exit %d; want %q in:\n%s", code, want, stderr)
		}
	}
	if _, stderr, code := runHubIO(t, nil, "validate"); code == 0 || !strings.Contains(stderr, "give -c FILE") {
		t.Errorf("validate without -c: exit %d\n%s", code, stderr)
	}
}

// wantValid runs `hub validate -c cfg`, fails t unless it exits 0 saying
// ok, and returns what it wrote to stderr (the warnings).
func wantValid(t *testing.T, cfg string) string {
	t.Helper()
	stdout, stderr, code := runHubIO(t, nil, "validate", "-c", cfg)
	if code != 0 || strings.TrimSpace(stdout) != "ok" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	return stderr
}

// wantWarnings fails t unless stderr (of `hub validate`) counts exactly
// the warnings wants and holds each of them.
func wantWarnings(t *testing.T, stderr string, wants ...string) {
	t.Helper()
	if !strings.Contains(stderr, fmt.Sprintf("%d warning(s)", len(wants))) {
		t.Fatalf("stderr:\n%s\nwant %d warning(s)", stderr, len(wants))
	}
	for _, want := range wants {
		if !strings.Contains(stderr, want) {
			t.Errorf("no warning %q in\n%s", want, stderr)
		}
	}
}
