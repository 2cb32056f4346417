package connectors

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The sample settings of a kind: squashed transport keys (unexported, as
// mapstructure allows), scalars with defaults, a map of objects, a list of
// objects, a pointer to an object.
type sampleTransport struct {
	URL  string  `mapstructure:"url" required:"true" doc:"base URL"`
	Rate float64 `mapstructure:"rate" default:"0.5" doc:"calls per second"`
}

type sampleConfig struct {
	sampleTransport `mapstructure:",squash"`
	Password        string                  `mapstructure:"password" required:"true" secret:"true" doc:"the password"`
	Poll            time.Duration           `mapstructure:"poll" default:"1s" doc:"how often"`
	LookBack        *time.Duration          `mapstructure:"look_back" default:"5s" doc:"0 turns it off"`
	Skip            *bool                   `mapstructure:"skip" default:"true" doc:"skip unchanged"`
	States          []string                `mapstructure:"states" default:"posted, paid" enum:"draft|posted|paid" doc:"states read"`
	Entities        map[string]sampleEntity `mapstructure:"entities" mapkey:"entity" required:"true" doc:"entity tables"`
	Items           []sampleItem            `mapstructure:"items" doc:"items"`
	Headers         map[string]string       `mapstructure:"headers" doc:"sent along"`
	Lines           *sampleLines            `mapstructure:"lines" doc:"child table"`
	Value           any                     `mapstructure:"value" doc:"anything"`
	Internal        int                     `mapstructure:"-"`
	hidden          int                     //lint:ignore U1000 an unexported field is no setting
}

type sampleEntity struct {
	Table     string       `mapstructure:"table" required:"true" doc:"the table"`
	Capture   string       `mapstructure:"capture" default:"cursor" enum:"cursor|outbox" doc:"capture mode"`
	BatchSize int          `mapstructure:"batch_size" default:"500" doc:"rows per query"`
	Version   string       `mapstructure:"version" defaultdoc:"the value of updated_at" doc:"guard column"`
	Delete    sampleDelete `mapstructure:"delete" doc:"deletes"`
}

type sampleDelete struct {
	Mode string `mapstructure:"mode" default:"hard" enum:"hard|soft" doc:"delete mode"`
}

type sampleItem struct {
	Name string `mapstructure:"name" required:"true" doc:"item name"`
	Size int    `mapstructure:"size" default:"10" doc:"item size"`
}

type sampleLines struct {
	Table string `mapstructure:"table" required:"true" doc:"lines table"`
	Key   string `mapstructure:"key" default:"line_no" doc:"orders lines"`
}

func TestSpecOf(t *testing.T) {
	s, err := SpecOf[sampleConfig]()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range s.All() {
		got = append(got, fmt.Sprintf("%s|%s|%s|%s|%v|%s|%v", f.Path, f.Type, f.Default, f.DefaultDoc, f.Required, strings.Join(f.Enum, "/"), f.Secret))
	}
	want := []string{
		"url|string|||true||false",
		"rate|number|0.5||false||false",
		"password|string|||true||true",
		"poll|duration|1s||false||false",
		"look_back|duration|5s||false||false",
		"skip|boolean|true||false||false",
		"states|list of string|posted, paid||false|draft/posted/paid|false",
		"entities|map of object|||true||false",
		"entities.<entity>.table|string|||true||false",
		"entities.<entity>.capture|string|cursor||false|cursor/outbox|false",
		"entities.<entity>.batch_size|integer|500||false||false",
		"entities.<entity>.version|string||the value of updated_at|false||false",
		"entities.<entity>.delete|object|||false||false",
		"entities.<entity>.delete.mode|string|hard||false|hard/soft|false",
		"items|list of object|||false||false",
		"items[].name|string|||true||false",
		"items[].size|integer|10||false||false",
		"headers|map of string|||false||false",
		"lines|object|||false||false",
		"lines.table|string|||true||false",
		"lines.key|string|line_no||false||false",
		"value|any|||false||false",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("fields:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s.Fields[7].Key != "entities" || s.Fields[7].Fields[0].Key != "table" || s.Fields[7].Doc != "entity tables" {
		t.Errorf("entities = %+v", s.Fields[7])
	}
}

// TestSpecOfRefuses: a config struct whose tags are wrong does not derive,
// and the error names the key and the mistake.
func TestSpecOfRefuses(t *testing.T) {
	type self struct {
		Next *self `mapstructure:"next" doc:"x"`
	}
	tests := []struct {
		name   string
		derive func() error
		want   string
	}{
		{"no doc", spec[struct {
			A string `mapstructure:"a"`
		}], "key a: no doc tag"},
		{"no key", spec[struct {
			A string `doc:"x"`
		}], "field A: no mapstructure key"},
		{"bad default", spec[struct {
			A time.Duration `mapstructure:"a" default:"soon" doc:"x"`
		}], `key a: default "soon"`},
		{"default not allowed", spec[struct {
			A string `mapstructure:"a" default:"c" enum:"a|b" doc:"x"`
		}], `"c" is not one of a, b`},
		{"list default not allowed", spec[struct {
			A []string `mapstructure:"a" default:"a,c" enum:"a|b" doc:"x"`
		}], `default[1]: "c" is not one of a, b`},
		{"enum on a number", spec[struct {
			A int `mapstructure:"a" enum:"1|2" doc:"x"`
		}], "only strings and lists of strings"},
		{"boolean default", spec[struct {
			A bool `mapstructure:"a" default:"true" doc:"x"`
		}], "a boolean default needs a pointer"},
		{"required with default", spec[struct {
			A string `mapstructure:"a" required:"true" default:"x" doc:"x"`
		}], "a required key has no default"},
		{"default and its words", spec[struct {
			A string `mapstructure:"a" default:"x" defaultdoc:"y" doc:"x"`
		}], "both default and defaultdoc"},
		{"bad flag", spec[struct {
			A string `mapstructure:"a" required:"yes" doc:"x"`
		}], `required:"yes"`},
		{"map with number keys", spec[struct {
			A map[int]string `mapstructure:"a" doc:"x"`
		}], "a map's keys must be strings"},
		{"channel", spec[struct {
			A chan int `mapstructure:"a" doc:"x"`
		}], "cannot be a setting"},
		{"default on an object", spec[struct {
			A sampleDelete `mapstructure:"a" default:"x" doc:"x"`
		}], "has no default"},
		{"squashed string", spec[struct {
			A string `mapstructure:",squash"`
		}], "only a struct can be squashed"},
		{"key twice", spec[struct {
			sampleTransport `mapstructure:",squash"`
			URL             string `mapstructure:"url" doc:"x"`
		}], "key url is declared twice"},
		{"itself", spec[self], "contains itself"},
		{"not a struct", spec[string], "is not a struct"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.derive()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func spec[C any]() error {
	_, err := SpecOf[C]()
	return err
}

func TestResolve(t *testing.T) {
	zero := time.Duration(0)
	off := false
	tests := []struct {
		name  string
		cfg   sampleConfig
		check func(t *testing.T, c sampleConfig)
		want  []string // "key: message" of every problem, in order
	}{
		{
			name: "defaults everywhere",
			cfg: sampleConfig{sampleTransport: sampleTransport{URL: "http://x"}, Password: "pw",
				Entities: map[string]sampleEntity{"order": {Table: "orders"}, "customer": {Table: "customers", Capture: "outbox", BatchSize: 7}},
				Items:    []sampleItem{{Name: "a"}, {Name: "b", Size: 3}},
				Lines:    &sampleLines{Table: "lines"}},
			check: func(t *testing.T, c sampleConfig) {
				o, cu := c.Entities["order"], c.Entities["customer"]
				checks := []struct {
					what      string
					have, out any
				}{
					{"rate", c.Rate, 0.5},
					{"poll", c.Poll, time.Second},
					{"look_back", *c.LookBack, 5 * time.Second},
					{"skip", *c.Skip, true},
					{"states", strings.Join(c.States, ","), "posted,paid"},
					{"order.capture", o.Capture, "cursor"},
					{"order.batch_size", o.BatchSize, 500},
					{"order.delete.mode", o.Delete.Mode, "hard"},
					{"order.version", o.Version, ""},
					{"customer.capture", cu.Capture, "outbox"},
					{"customer.batch_size", cu.BatchSize, 7},
					{"items[0].size", c.Items[0].Size, 10},
					{"items[1].size", c.Items[1].Size, 3},
					{"lines.key", c.Lines.Key, "line_no"},
				}
				for _, ch := range checks {
					if ch.have != ch.out {
						t.Errorf("%s = %v, want %v", ch.what, ch.have, ch.out)
					}
				}
			},
		},
		{
			name: "zero is a value for a pointer",
			cfg: sampleConfig{sampleTransport: sampleTransport{URL: "http://x"}, Password: "pw", LookBack: &zero, Skip: &off,
				Entities: map[string]sampleEntity{"order": {Table: "orders"}}},
			check: func(t *testing.T, c sampleConfig) {
				if *c.LookBack != 0 || *c.Skip {
					t.Errorf("look_back %v, skip %v: a set zero was replaced", *c.LookBack, *c.Skip)
				}
			},
		},
		{
			name: "missing and not allowed",
			cfg: sampleConfig{Password: "  ", States: []string{"paid", "open"},
				Entities: map[string]sampleEntity{"order": {Capture: "binlog", Delete: sampleDelete{Mode: "archive"}}, "customer": {Table: "c"}},
				Items:    []sampleItem{{Size: 1}},
				Lines:    &sampleLines{}},
			want: []string{
				"url: is required",
				"password: is required (use ${VAR} to read it from the environment)",
				`states[1]: "open" is not one of draft, posted, paid`,
				"entities.order.table: is required",
				`entities.order.capture: "binlog" is not one of cursor, outbox`,
				`entities.order.delete.mode: "archive" is not one of hard, soft`,
				"items[0].name: is required",
				"lines.table: is required",
			},
		},
		{
			name: "a required map",
			cfg:  sampleConfig{sampleTransport: sampleTransport{URL: "http://x"}, Password: "pw"},
			want: []string{"entities: is required"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			errs := Resolve(&cfg)
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
			if again := Resolve(&cfg); len(again) != len(errs) {
				t.Errorf("resolving again found %v, first %v", again, errs)
			}
		})
	}
}

// TestResolveCopies: resolving writes defaults into copies, never into
// the maps, slices and pointees the caller's config shares.
func TestResolveCopies(t *testing.T) {
	ents := map[string]sampleEntity{"order": {Table: "orders"}}
	items := []sampleItem{{Name: "a"}}
	lines := &sampleLines{Table: "l"}
	cfg := sampleConfig{sampleTransport: sampleTransport{URL: "http://x"}, Password: "pw", Entities: ents, Items: items, Lines: lines}
	if errs := Resolve(&cfg); len(errs) > 0 {
		t.Fatal(errs)
	}
	if ents["order"].Capture != "" || items[0].Size != 0 || lines.Key != "" {
		t.Errorf("the caller's values changed: %+v %+v %+v", ents, items, lines)
	}
	if cfg.Entities["order"].Capture != "cursor" || cfg.Items[0].Size != 10 || cfg.Lines.Key != "line_no" {
		t.Errorf("resolved %+v %+v %+v", cfg.Entities, cfg.Items, cfg.Lines)
	}
	other := sampleConfig{sampleTransport: sampleTransport{URL: "http://x"}, Password: "pw", Entities: ents}
	Resolve(&other)
	if cfg.LookBack == other.LookBack {
		t.Error("two configs share one default pointer")
	}
}

func TestMerge(t *testing.T) {
	plain := errors.New("boom")
	spec := FieldErrors{{Key: "a", Msg: "is required"}}
	tests := []struct {
		name string
		es   FieldErrors
		err  error
		want string // "" for nil
	}{
		{"nothing", nil, nil, ""},
		{"spec only", spec, nil, "a: is required"},
		{"build only", nil, FieldErrors{{Key: "b", Msg: "bad"}}, "b: bad"},
		{"plain build error", nil, plain, "boom"},
		{"a key once", spec, FieldErrors{{Key: "a", Msg: "unknown"}, {Key: "b", Msg: "bad"}, {Msg: "whole"}}, "a: is required; b: bad; whole"},
		{"plain error joins", spec, fmt.Errorf("wrapped: %w", plain), "a: is required; wrapped: boom"},
		{"wrapped field errors", spec, fmt.Errorf("x: %w", FieldErrors{{Key: "c", Msg: "bad"}}), "a: is required; c: bad"},
	}
	for _, tt := range tests {
		got := tt.es.Merge(tt.err)
		if (got == nil) != (tt.want == "") || got != nil && got.Error() != tt.want {
			t.Errorf("%s: Merge = %v, want %q", tt.name, got, tt.want)
		}
	}
	if got := FieldErrors(nil).Merge(plain); got != plain {
		t.Errorf("a plain error alone must come back as it is: %v", got)
	}
}

// sampleConn offers reading and writing.
type sampleConn struct {
	nopConn
	cfg sampleConfig
}

func (sampleConn) Reads() []ReadSpec                                        { return nil }
func (sampleConn) Read(context.Context, string, string, int) (Batch, error) { return Batch{}, nil }
func (sampleConn) Durable(context.Context, string, string) error            { return nil }
func (sampleConn) Writes() []WriteSpec                                      { return nil }
func (sampleConn) Write(context.Context, string, []WriteRecord) ([]Result, error) {
	return nil, nil
}

func TestDeclare(t *testing.T) {
	kind, err := Declare("sample", "a sample", func(p Params, cfg sampleConfig) (*sampleConn, error) {
		var errs FieldErrors
		if cfg.Poll > time.Minute {
			errs.Add("poll", "must be at most 1m")
		}
		for name, e := range cfg.Entities {
			if e.Capture == "binlog" {
				errs.Add("entities."+name+".capture", "unknown mode") // the spec said it first
			}
		}
		if err := errs.Err(); err != nil {
			return nil, err
		}
		return &sampleConn{nopConn: nopConn{p.Name}, cfg: cfg}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if kind.Name != "sample" || len(kind.Spec.Fields) == 0 || strings.Join(kind.Capabilities, ",") != "reader,writer" {
		t.Errorf("kind = %+v", kind)
	}
	settings := func(c sampleConfig) Params {
		return Params{Name: "s", Decode: func(into any) error { *(into.(*sampleConfig)) = c; return nil }}
	}
	conn, err := kind.New(settings(sampleConfig{sampleTransport: sampleTransport{URL: "http://x"}, Password: "pw",
		Entities: map[string]sampleEntity{"order": {Table: "o"}}}))
	if err != nil {
		t.Fatal(err)
	}
	if got := conn.(*sampleConn).cfg.Entities["order"]; got.Capture != "cursor" || got.BatchSize != 500 {
		t.Errorf("build got %+v: without the spec's defaults", got)
	}
	_, err = kind.New(settings(sampleConfig{Poll: time.Hour, Password: "pw", Entities: map[string]sampleEntity{"order": {Table: "o", Capture: "binlog"}}}))
	fe, ok := AsFieldErrors(err)
	if !ok {
		t.Fatalf("error %v carries no field errors", err)
	}
	want := `url: is required; entities.order.capture: "binlog" is not one of cursor, outbox; poll: must be at most 1m`
	if fe.Error() != want {
		t.Errorf("errors = %s\nwant     %s", fe, want)
	}
	if _, err := kind.New(Params{Name: "s", Decode: func(any) error { return errors.New("decode failed") }}); err == nil || err.Error() != "decode failed" {
		t.Errorf("a decode error must come back as it is: %v", err)
	}
	if _, err := Declare("bad", "", func(Params, struct{ A int }) (Connector, error) { return nil, nil }); err == nil ||
		!strings.Contains(err.Error(), "declare kind bad") {
		t.Errorf("a kind whose config does not derive: %v", err)
	}
}
