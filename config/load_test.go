package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hub.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaultsWithoutFile(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.HTTP.Addr != "127.0.0.1:8080" || cfg.Kafka.Embedded.Addr != "127.0.0.1:9092" {
		t.Errorf("defaults: http %q embedded %q", cfg.HTTP.Addr, cfg.Kafka.Embedded.Addr)
	}
	if !cfg.Kafka.UseEmbedded() {
		t.Error("no brokers should mean the embedded broker")
	}
	if got, want := cfg.State.DSN.Reveal(), "sqlite:"+filepath.Join("data", "hub.db"); got != want {
		t.Errorf("state dsn %q, want %q", got, want)
	}
	if got, want := cfg.Kafka.Embedded.DataDir, filepath.Join("data", "kafka"); got != want {
		t.Errorf("embedded data dir %q, want %q", got, want)
	}
}

func TestLoadValues(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		env   map[string]string
		check func(t *testing.T, c *Config)
	}{
		{
			name: "file values",
			yaml: "http:\n  addr: 127.0.0.1:9000\n  read_timeout: 2s\nkafka:\n  brokers: [a:9092, b:9092]\n  partitions: 12\n",
			check: func(t *testing.T, c *Config) {
				if c.HTTP.Addr != "127.0.0.1:9000" || c.HTTP.ReadTimeout != 2*time.Second {
					t.Errorf("http = %+v", c.HTTP)
				}
				if fmt.Sprint(c.Kafka.Brokers) != "[a:9092 b:9092]" || c.Kafka.Partitions != 12 {
					t.Errorf("kafka = %v %d", c.Kafka.Brokers, c.Kafka.Partitions)
				}
				if c.Kafka.UseEmbedded() {
					t.Error("brokers set: must not embed")
				}
			},
		},
		{
			name: "env overrides file and defaults",
			yaml: "http:\n  addr: 127.0.0.1:9000\n",
			env: map[string]string{
				"HUB_HTTP_ADDR":            "127.0.0.1:9100",
				"HUB_KAFKA_EMBEDDED_ADDR":  "127.0.0.1:19092",
				"HUB_KAFKA_BROKERS":        "x:1,y:2",
				"HUB_KAFKA_PARTITIONS":     "3",
				"HUB_HUB_SHUTDOWN_TIMEOUT": "7s",
			},
			check: func(t *testing.T, c *Config) {
				if c.HTTP.Addr != "127.0.0.1:9100" {
					t.Errorf("http.addr = %q", c.HTTP.Addr)
				}
				if c.Kafka.Embedded.Addr != "127.0.0.1:19092" {
					t.Errorf("embedded.addr = %q", c.Kafka.Embedded.Addr)
				}
				if fmt.Sprint(c.Kafka.Brokers) != "[x:1 y:2]" || c.Kafka.Partitions != 3 {
					t.Errorf("kafka = %v %d", c.Kafka.Brokers, c.Kafka.Partitions)
				}
				if c.Hub.ShutdownTimeout != 7*time.Second {
					t.Errorf("shutdown = %s", c.Hub.ShutdownTimeout)
				}
			},
		},
		{
			name: "secret references",
			yaml: "kafka:\n  brokers: [k:9093]\n  sasl:\n    mechanism: SCRAM-SHA-512\n    username: hub\n    password: ${TEST_KAFKA_PW}\nstate:\n  dsn: postgres://hub:${TEST_PG_PW}@db:5432/hub?sslmode=${TEST_SSL:-disable}\n",
			env:  map[string]string{"TEST_KAFKA_PW": "s3cr:et", "TEST_PG_PW": "pg"},
			check: func(t *testing.T, c *Config) {
				if c.Kafka.SASL.Password.Reveal() != "s3cr:et" {
					t.Errorf("password = %q", c.Kafka.SASL.Password.Reveal())
				}
				if c.State.DSN.Reveal() != "postgres://hub:pg@db:5432/hub?sslmode=disable" {
					t.Errorf("dsn = %q", c.State.DSN.Reveal())
				}
				if s := fmt.Sprintf("%v %s", c.Kafka.SASL.Password, c.State.DSN); strings.Contains(s, "s3cr") || strings.Contains(s, "pg@") {
					t.Errorf("secrets printed: %s", s)
				}
			},
		},
		{
			name: "empty file is all defaults",
			yaml: "",
			check: func(t *testing.T, c *Config) {
				if c.Log.Level != "info" {
					t.Errorf("log.level = %q", c.Log.Level)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			cfg, err := Load(writeFile(t, tt.yaml))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, cfg)
		})
	}
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string // substrings, one per expected problem, in order
	}{
		{
			name: "three mistakes, three problems with key and line",
			yaml: "http:\n  addr: 127.0.0.1:8080\n  read_timeout: 10 seconds\nkafka:\n  partitons: 3\nstate:\n  dsn: mysql://x\n",
			want: []string{
				`:3: http.read_timeout: "10 seconds" is not a duration`,
				`:5: kafka.partitons: unknown key (did you mean "partitions"?)`,
				`:7: state.dsn: must start with sqlite: or postgres://`,
			},
		},
		{
			name: "missing secret",
			yaml: "kafka:\n  brokers: [k:9092]\n  sasl:\n    mechanism: PLAIN\n    username: u\n    password: ${SURELY_UNSET_VAR_123}\n",
			want: []string{
				`:6: kafka.sasl.password: environment variable SURELY_UNSET_VAR_123 is not set`,
				`kafka.sasl.password: is required when kafka.sasl.mechanism is set`,
			},
		},
		{
			name: "bad values",
			yaml: "log:\n  level: loud\nkafka:\n  brokers: [nohost]\n  partitions: 0\n  producer:\n    batch_bytes: 5000000\n",
			want: []string{
				`:2: log.level: "loud" is not one of debug, info, warn, error`,
				`:4: kafka.brokers: entry 1: "nohost" is not host:port`,
				`:5: kafka.partitions: must be at least 1, got 0`,
				`:7: kafka.producer.batch_bytes: must be between 1 and 1000000`,
			},
		},
		{
			name: "fetch smaller than a produced batch",
			yaml: "kafka:\n  producer:\n    batch_bytes: 900000\n  consumer:\n    fetch_bytes: 65536\n",
			want: []string{`:5: kafka.consumer.fetch_bytes: must be between kafka.producer.batch_bytes (900000: a produced batch must fit in one fetch) and 67108864, got 65536`},
		},
		{
			name: "embedded broker beyond loopback",
			yaml: "kafka:\n  embedded:\n    addr: 0.0.0.0:9092\n",
			want: []string{`:3: kafka.embedded.addr: "0.0.0.0:9092" listens beyond loopback`},
		},
		{
			name: "embedded broker allowed beyond loopback without credentials",
			yaml: "kafka:\n  embedded:\n    addr: 0.0.0.0:9092\n    allow_remote: true\n",
			want: []string{`:4: kafka.embedded.allow_remote: needs kafka.sasl`},
		},
		{
			name: "section given a scalar",
			yaml: "http: 8080\n",
			want: []string{`:1: http: must be a mapping of keys`},
		},
		{
			name: "yaml syntax error names the line",
			yaml: "http:\n  addr: [unclosed\n",
			want: []string{`hub.yaml:`},
		},
		{
			name: "env override is named when wrong",
			yaml: "",
			env:  map[string]string{"HUB_HTTP_ADDR": "localhost"},
			want: []string{`http.addr (from HUB_HTTP_ADDR): "localhost" is not host:port`},
		},
		{
			name: "every type error at once, each with its value",
			yaml: "hub:\n  shutdown_timeout: soon\nhttp:\n  read_timeout: 10 seconds\n  max_body_bytes: lots\nkafka:\n  partitions: many\ntrace:\n  enabled: perhaps\n",
			want: []string{
				`:2: hub.shutdown_timeout: "soon" is not a duration`,
				`:4: http.read_timeout: "10 seconds" is not a duration`,
				`:5: http.max_body_bytes: "lots" is not a whole number`,
				`:7: kafka.partitions: "many" is not a whole number`,
				`:9: trace.enabled: "perhaps" is not true or false`,
			},
		},
		{
			name: "a type error in a map entry, with its key, line and value",
			yaml: "connectors:\n  crm: {kind: rest, base_url: 'http://x'}\nsources:\n  crm-orders:\n    connector: crm\n    entity: order\n    interval: 5 minutes\n    batch_size: lots\n",
			want: []string{
				`:7: sources.crm-orders.interval: "5 minutes" is not a duration`,
				`:8: sources.crm-orders.batch_size: "lots" is not a whole number`,
			},
		},
		{
			name: "a misspelt HUB_ variable",
			yaml: "",
			env:  map[string]string{"HUB_HTTP_ADR": "127.0.0.1:1", "HUB_SOMETHING_ELSE_ENTIRELY": "x"},
			want: []string{`HUB_HTTP_ADR sets nothing (did you mean HUB_HTTP_ADDR?)`},
		},
		{
			name: "negative retention refused",
			yaml: "kafka:\n  embedded:\n    retention: -1h\n",
			want: []string{`:3: kafka.embedded.retention: must be positive`},
		},
		{
			name: "tls files checked",
			yaml: "kafka:\n  brokers: [k:9093]\n  tls:\n    enabled: true\n    ca_file: /nonexistent/ca.pem\n",
			want: []string{`:5: kafka.tls.ca_file: cannot read /nonexistent/ca.pem: no such file or directory`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := Load(writeFile(t, tt.yaml))
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("want Problems, got %v", err)
			}
			if len(probs) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(probs[i].String(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i, probs[i].String(), w)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("want error naming the file, got %v", err)
	}
}

func TestShippedConfigsValidate(t *testing.T) {
	files, _ := filepath.Glob("../configs/*.yaml")
	if len(files) == 0 {
		t.Fatal("no configs/*.yaml found: the shipped configs are gone or the test moved")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestComponents(t *testing.T) {
	dir := t.TempDir()
	mp := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(mp, []byte("x: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := `connectors:
  crm:
    kind: sqlstore
    driver: postgres
    dsn: postgres://x@h/db
    entities:
      customer:
        table: customers
        batch: 10
sources:
  crm-customer:
    connector: crm
    entity: customer
    mapping: m.yaml
sinks:
  erp:
    connector: crm
    entities:
      order: {mapping: m.yaml}
`
	p := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Sources["crm-customer"]; s.Mapping != mp || s.Interval != DefaultSourceInterval || s.BatchSize != DefaultSourceBatchSize {
		t.Errorf("source = %+v", s)
	}
	if s := cfg.Sinks["erp"]; s.Entities["order"].Mapping != mp || s.Retry.MaxAttempts != DefaultRetryAttempts {
		t.Errorf("sink = %+v", s)
	}

	type entityCfg struct {
		Table string `mapstructure:"table"`
	}
	var sc struct {
		Driver   string               `mapstructure:"driver"`
		DSN      string               `mapstructure:"dsn"`
		Entities map[string]entityCfg `mapstructure:"entities"`
	}
	err = cfg.DecodeConnector("crm", &sc)
	probs, ok := ErrProblems(err)
	if !ok || len(probs) != 1 || !strings.Contains(probs[0].String(), "hub.yaml:9: connectors.crm.entities.customer.batch: unknown key for a sqlstore connector") {
		t.Fatalf("DecodeConnector problems = %v", err)
	}
	if sc.Driver != "postgres" || sc.Entities["customer"].Table != "customers" {
		t.Errorf("decoded %+v", sc)
	}
	if w := cfg.Where("sources.crm-customer.mapping"); w != p+":14" {
		t.Errorf("Where = %q", w)
	}
}

func TestComponentProblems(t *testing.T) {
	body := `connectors:
  CRM:
    driver: x
  erp:
    driver: y
sources:
  s1:
    connector: nope
    entity: lead
    mapping: missing.yaml
sinks:
  k1:
    connector: erp
    entities:
      order: {mapping: ""}
`
	_, err := Load(writeFile(t, body))
	probs, ok := ErrProblems(err)
	if !ok {
		t.Fatalf("want problems, got %v", err)
	}
	want := []string{
		`:2: connectors.CRM: names are lower-case`,
		`:4: connectors.erp.kind: is required`,
		`:8: sources.s1.connector: no connector named "nope"`,
		`:9: sources.s1.entity: "lead" is not one of`,
		`:10: sources.s1.mapping: cannot read mapping`,
		`:15: sinks.k1.entities.order.mapping: is required`,
	}
	text := probs.Error()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("problems lack %q:\n%s", w, text)
		}
	}
}

func TestAPITokens(t *testing.T) {
	t.Setenv("TEST_OPS_TOKEN", "0123456789abcdef-ops")
	p := writeFile(t, "api:\n  tokens:\n    - {name: ops, role: operator, token: \"${TEST_OPS_TOKEN}\"}\n    - name: bad\n      role: root\n      token: short\n      scope: all\n")
	_, err := Load(p)
	probs, ok := ErrProblems(err)
	if !ok {
		t.Fatalf("want problems, got %v", err)
	}
	text := probs.Error()
	for _, w := range []string{
		`:5: api.tokens[1].role: "root" is not one of viewer, operator, admin`,
		`:6: api.tokens[1].token: must be at least 16 characters`,
		`:7: api.tokens[1].scope: unknown key`,
	} {
		if !strings.Contains(text, w) {
			t.Errorf("problems lack %q:\n%s", w, text)
		}
	}
	if strings.Contains(text, "short") || strings.Contains(text, "0123456789") {
		t.Errorf("a token leaked into the problems:\n%s", text)
	}
}

// TestLoadStateOnly: commands that only use the state store load a config
// whose connectors reference secrets this shell does not have; everything
// else still needs its variables.
func TestLoadStateOnly(t *testing.T) {
	t.Setenv("HUB_TEST_STATE_DIR", t.TempDir())
	p := writeFile(t, `state: {dsn: "sqlite:${HUB_TEST_STATE_DIR}/hub.db"}
connectors:
  erp: {kind: tryton, password: "${HUB_TEST_UNSET_ERP_PASSWORD}"}
`)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "HUB_TEST_UNSET_ERP_PASSWORD") {
		t.Fatalf("Load = %v, want the unset variable named", err)
	}
	cfg, err := LoadWith(p, LoadOptions{StateOnly: true})
	if err != nil {
		t.Fatalf("LoadWith StateOnly: %v", err)
	}
	if !strings.HasSuffix(cfg.State.DSN.Reveal(), "/hub.db") || cfg.Connectors["erp"].Settings["password"] != "" {
		t.Errorf("state dsn %q, erp password %q", cfg.State.DSN.Reveal(), cfg.Connectors["erp"].Settings["password"])
	}
	// The state store's own secret is still required.
	p2 := writeFile(t, `state: {dsn: "${HUB_TEST_UNSET_STATE_DSN}"}`)
	if _, err := LoadWith(p2, LoadOptions{StateOnly: true}); err == nil || !strings.Contains(err.Error(), "HUB_TEST_UNSET_STATE_DSN") {
		t.Errorf("StateOnly with an unset state.dsn = %v, want a problem", err)
	}
}

// TestInspect: a config with problems still comes back, decoded as far as
// it goes, so that hub validate can check its connectors and mappings in
// the same run; Load refuses it.
func TestInspect(t *testing.T) {
	p := writeFile(t, `http:
  addr: nowhere
connectors:
  crm:
    kind: sqlstore
    driver: sqlite
sources:
  s:
    connector: crm
    entity: customer
    mapping: m.yaml
    batch_size: -1
    refs: {custmer: customer_id, order: ""}
sinks:
  k:
    connector: crm
    entities:
      customer: {mapping: m.yaml}
    retry: {initial: -1s}
api:
  tokens:
    - {name: ops, role: Operator, token: 0123456789abcdef}
`)
	if _, err := Load(p); err == nil {
		t.Fatal("Load accepted a config with problems")
	}
	cfg, probs, err := Inspect(p, LoadOptions{})
	if err != nil || cfg == nil {
		t.Fatalf("Inspect = %v, %v", cfg, err)
	}
	if cfg.Connectors["crm"].Settings["driver"] != "sqlite" || cfg.Sources["s"].Entity != "customer" || cfg.Sinks["k"].Workers != DefaultSinkWorkers {
		t.Errorf("config not decoded: %+v %+v %+v", cfg.Connectors, cfg.Sources, cfg.Sinks)
	}
	want := []string{
		`:2: http.addr: "nowhere" is not host:port`,
		`:11: sources.s.mapping: cannot read mapping`,
		`:12: sources.s.batch_size: must be at least 1`,
		`:13: sources.s.refs.custmer: "custmer" is not one of customer, order, invoice, interaction`,
		`:13: sources.s.refs.order: is required: the native field that holds the referenced order's key`,
		`:18: sinks.k.entities.customer.mapping: cannot read mapping`,
		`:19: sinks.k.retry.initial: must be positive`,
		`:22: api.tokens[0].role: "Operator" is not one of viewer, operator, admin, callcenter (lower case)`,
	}
	if len(probs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(want), probs)
	}
	for i, w := range want {
		if !strings.Contains(probs[i].String(), w) {
			t.Errorf("problem %d = %q, want it to contain %q", i, probs[i].String(), w)
		}
	}

	// What a checker finds later joins the list in file order, placed by
	// ProblemAt; a key already reported is not reported twice.
	more := Problems{
		cfg.ProblemAt("connectors.crm.dsn", "is required"),
		cfg.ProblemAt("connectors.crm.driver", "unsupported"),
		cfg.ProblemAt("sources.s.mapping", "mapping m.yaml: open: no such file"),
	}
	all := Combine(probs, more)
	text := all.Error()
	if len(all) != len(want)+2 || !strings.Contains(text, p+":4: connectors.crm.dsn: is required") ||
		!strings.Contains(text, p+":6: connectors.crm.driver: unsupported") || strings.Contains(text, "open: no such file") {
		t.Errorf("Combine =\n%s", text)
	}
	if all[1].Key != "connectors.crm.dsn" || all[2].Key != "connectors.crm.driver" {
		t.Errorf("Combine is not in file order:\n%s", text)
	}
}

// TestComponentChecks: values that decode fine but could never work are
// refused when the config is loaded, naming the key.
func TestComponentChecks(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"a role in another case would be refused every call",
			"api:\n  tokens:\n    - {name: ops, role: Operator, token: 0123456789abcdef}\n",
			`:3: api.tokens[0].role: "Operator" is not one of viewer, operator, admin, callcenter (lower case)`},
		{"refs name an entity",
			"connectors:\n  crm: {kind: sqlstore}\nsources:\n  s:\n    connector: crm\n    entity: order\n    mapping: " + os.DevNull + "\n    refs: {custmer: customer_id}\n",
			`:8: sources.s.refs.custmer: "custmer" is not one of customer, order, invoice, interaction`},
		{"refs name a field",
			"connectors:\n  crm: {kind: sqlstore}\nsources:\n  s:\n    connector: crm\n    entity: order\n    mapping: " + os.DevNull + "\n    refs: {customer: \"\"}\n",
			`:8: sources.s.refs.customer: is required: the native field that holds the referenced customer's key`},
		{"a negative first backoff names retry.initial",
			"connectors:\n  erp: {kind: sqlstore}\nsinks:\n  k:\n    connector: erp\n    entities:\n      order: {mapping: " + os.DevNull + "}\n    retry:\n      initial: -1s\n",
			`:9: sinks.k.retry.initial: must be positive`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tt.yaml))
			probs, ok := ErrProblems(err)
			if !ok || len(probs) != 1 || !strings.Contains(probs[0].String(), tt.want) {
				t.Fatalf("problems = %v, want one containing %q", err, tt.want)
			}
		})
	}
	// The lower-case roles pass.
	if _, err := Load(writeFile(t, "api:\n  tokens:\n    - {name: a, role: viewer, token: 0123456789abcdef}\n    - {name: b, role: admin, token: 0123456789abcdeg}\n    - {name: c, role: callcenter, token: 0123456789abcdeh}\n")); err != nil {
		t.Errorf("viewer, admin and callcenter tokens: %v", err)
	}
}

// TestLogSettingsAnyCase: log.level and log.format pass validation in any
// case, and come out in the lower case the logger understands.
func TestLogSettingsAnyCase(t *testing.T) {
	cfg, err := Load(writeFile(t, "hub: {data_dir: "+t.TempDir()+"}\nlog: {level: DEBUG, format: TEXT}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "debug" || cfg.Log.Format != "text" {
		t.Errorf("log = %q %q, want debug text", cfg.Log.Level, cfg.Log.Format)
	}
}

// TestPathsRelativeToTheConfigFile: every path a config file gives is
// relative to the file's folder; one from a HUB_* variable is relative to
// the working directory.
func TestPathsRelativeToTheConfigFile(t *testing.T) {
	file := writeFile(t, "hub:\n  data_dir: data\nkafka:\n  embedded:\n    data_dir: ../kafka\n")
	dir := filepath.Dir(file)
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "data"); cfg.Hub.DataDir != want {
		t.Errorf("hub.data_dir = %s, want %s", cfg.Hub.DataDir, want)
	}
	if want := filepath.Join(filepath.Dir(dir), "kafka"); cfg.Kafka.Embedded.DataDir != want {
		t.Errorf("kafka.embedded.data_dir = %s, want %s", cfg.Kafka.Embedded.DataDir, want)
	}
	if want := "sqlite:" + filepath.Join(dir, "data", "hub.db"); cfg.State.DSN.Reveal() != want {
		t.Errorf("state.dsn = %s, want %s", cfg.State.DSN.Reveal(), want)
	}
	t.Setenv("HUB_HUB_DATA_DIR", "elsewhere")
	cfg, err = Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Hub.DataDir != "elsewhere" {
		t.Errorf("hub.data_dir from the environment = %s, want it as given", cfg.Hub.DataDir)
	}
}

func TestAPIUsersValidated(t *testing.T) {
	good := "$2a$04$Tlu1NDlAzH1pF4lOrHq1guJz7ZHTD6FkLwY0m0U0T7TLrWc7rW8w6"
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"not bcrypt", func(c *Config) { c.API.Users[0].PasswordHash = "plain-password" }, "api.users[0].password_hash"},
		{"short secret", func(c *Config) { c.API.Users[0].TOTPSecret = "JBSWY3DP" }, "api.users[0].totp_secret"},
		{"not base32", func(c *Config) { c.API.Users[0].TOTPSecret = "not base32 at all!!" }, "api.users[0].totp_secret"},
		{"callcenter user", func(c *Config) { c.API.Users[0].Role = "callcenter" }, "api.users[0].role"},
		{"name of a token", func(c *Config) { c.API.Users[0].Name = "ops" }, "api.users[0].name"},
		{"token and digest", func(c *Config) { c.API.Tokens[0].TokenSHA256 = strings.Repeat("ab", 32) }, "api.tokens[0].token_sha256"},
		{"bad digest", func(c *Config) { c.API.Tokens[0].Token, c.API.Tokens[0].TokenSHA256 = "", "abc" }, "api.tokens[0].token_sha256"},
		{"digest only", func(c *Config) { c.API.Tokens[0].Token, c.API.Tokens[0].TokenSHA256 = "", strings.Repeat("ab", 32) }, ""},
		{"cert without key", func(c *Config) { c.HTTP.TLSCertFile = "hub.crt" }, "http.tls_cert_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			c := &cfg
			c.API.Tokens = []TokenConfig{{Name: "ops", Role: "operator", Token: "operator-token-0123456789"}}
			c.API.Users = []UserConfig{{Name: "alice", Role: "operator", PasswordHash: Secret(good), TOTPSecret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}}
			tc.mod(c)
			probs := c.validate().Error()
			if tc.want == "" {
				if strings.Contains(probs, "api.") || strings.Contains(probs, "http.") {
					t.Errorf("unexpected problem: %v", probs)
				}
				return
			}
			if !strings.Contains(probs, tc.want) {
				t.Errorf("problems %v, want one about %s", probs, tc.want)
			}
		})
	}
}
