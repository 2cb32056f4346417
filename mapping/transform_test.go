package mapping

import (
	"testing"
)

func TestTransforms(t *testing.T) {
	tests := []struct {
		name    string
		field   string
		input   string
		want    string
		wantErr string
		opts    string
	}{
		{"trim", "from: v\ntransform: [trim]", `{"v":"  a b  "}`, `"a b"`, "", ""},
		{"lower", "from: v\ntransform: [lower]", `{"v":"Min.García@Example.COM"}`, `"min.garcía@example.com"`, "", ""},
		{"upper", "from: v\ntransform: [upper]", `{"v":"cny"}`, `"CNY"`, "", ""},
		{"upper keeps ascii upper", "from: v\ntransform: [upper]", `{"v":"EUR"}`, `"EUR"`, "", ""},
		{"lower on a number uses its text", "from: v\ntransform: [lower]", `{"v":12}`, `"12"`, "", ""},
		{"lower on an array fails", "from: v\ntransform: [lower]", `{"v":[1]}`, ``, `attributes.x: [1]: lower needs a single value, not array`, ""},
		{"null passes through", "from: v\ntransform: [trim, upper]", `{}`, `null`, "", ""},
		{"trim_prefix", "from: v\ntransform: [{trim_prefix: \"#\"}]", `{"v":"#1001"}`, `"1001"`, "", ""},
		{"trim_suffix", "from: v\ntransform: [{trim_suffix: \".00\"}]", `{"v":"12.00"}`, `"12"`, "", ""},
		{"prefix on a number", "from: v\ntransform: [{prefix: \"shop:\"}]", `{"v":5600000000002}`, `"shop:5600000000002"`, "", ""},
		{"suffix", "from: v\ntransform: [{suffix: \"-X\"}]", `{"v":"a"}`, `"a-X"`, "", ""},
		{"split", "from: v\ntransform: [{split: \",\"}]", `{"v":"a,b,,c"}`, `["a","b","","c"]`, "", ""},
		{"split then join", "from: v\ntransform: [{split: \",\"}, {join: \"|\"}]", `{"v":"a,b"}`, `"a|b"`, "", ""},
		{"join skips nulls", "from: v\ntransform: [{join: \" \"}]", `{"v":["a",null,1,true]}`, `"a 1 true"`, "", ""},
		{"join of an object fails", "from: v\ntransform: [{join: \" \"}]", `{"v":{"a":1}}`, ``, `join needs an array`, ""},
		{"join of nested arrays fails", "from: v\ntransform: [{join: \" \"}]", `{"v":[[1]]}`, ``, `join needs an array of single values`, ""},
		{"first", "from: v\ntransform: [first]", `{"v":[3,4]}`, `3`, "", ""},
		{"last", "from: v\ntransform: [last]", `{"v":[3,4]}`, `4`, "", ""},
		{"first of empty", "from: v\ntransform: [first]", `{"v":[]}`, `null`, "", ""},
		{"substring list", "from: v\ntransform: [{substring: [1, 3]}]", `{"v":"Chloé Li"}`, `"hlo"`, "", ""},
		{"substring runes", "from: v\ntransform: [{substring: {start: 3, length: 2}}]", `{"v":"Chloé Li"}`, `"oé"`, "", ""},
		{"substring past the end", "from: v\ntransform: [{substring: [10, 3]}]", `{"v":"abc"}`, `""`, "", ""},
		{"substring open end", "from: v\ntransform: [{substring: [1]}]", `{"v":"abc"}`, `"bc"`, "", ""},
		{"regex replace", "from: v\ntransform: [{replace: {pattern: '[^0-9]+', with: ''}}]", `{"v":"(992) 924-5407"}`, `"9929245407"`, "", ""},
		{"regex replace groups", "from: v\ntransform: [{replace: {pattern: '(\\w+)@(\\w+)', with: '$2 at $1'}}]", `{"v":"me@host"}`, `"host at me"`, "", ""},
		{"rewrite first rule", "from: v\ntransform: [{rewrite: [{match: '^(1\\d{10})$', to: '+86$1'}, {match: '^(\\d{10})$', to: '+1${1}'}]}]", `{"v":"16789313434"}`, `"+8616789313434"`, "", ""},
		{"rewrite second rule", "from: v\ntransform: [{rewrite: [{match: '^(1\\d{10})$', to: '+86$1'}, {match: '^(\\d{10})$', to: '+1${1}'}]}]", `{"v":"9929245407"}`, `"+19929245407"`, "", ""},
		{"rewrite no rule", "from: v\ntransform: [{rewrite: [{match: '^(1\\d{10})$', to: '+86$1'}]}]", `{"v":"123"}`, `null`, "", ""},
		{"rewrite dollar", "from: v\ntransform: [{rewrite: [{match: '^(\\d+)$', to: '$$$1'}]}]", `{"v":"5"}`, `"$5"`, "", ""},
		{"digits", "from: v\ntransform: [digits]", `{"v":"+86 160-9265"}`, `"861609265"`, "", ""},
		{"digits keep plus", "from: v\ntransform: [{digits: keep_leading_plus}]", `{"v":" +86 160-92+65"}`, `"+861609265"`, "", ""},
		{"default on null", "from: v\ntransform: [{default: n/a}]", `{}`, `"n/a"`, "", ""},
		{"default on empty", "from: v\ntransform: [{default: 0}]", `{"v":""}`, `0`, "", ""},
		{"default keeps value", "from: v\ntransform: [{default: 0}]", `{"v":"7"}`, `"7"`, "", ""},
		{"round half away from zero", "from: v\ntransform: [{round: 2}]", `{"v":"2.345"}`, `2.35`, "", ""},
		{"round negative", "from: v\ntransform: [{round: 2}]", `{"v":-2.345}`, `-2.35`, "", ""},
		{"round pads", "from: v\ntransform: [{round: 2}]", `{"v":"253.9"}`, `253.90`, "", ""},
		{"round big falls back to big decimals", "from: v\ntransform: [{round: 1}]", `{"v":"123456789012345678901.25"}`, `123456789012345678901.3`, "", ""},
		{"round malformed", "from: v\ntransform: [{round: 2}]", `{"v":"12,50"}`, ``, `attributes.x: "12,50": not a decimal`, ""},
		{"map", "from: v\nmap: {values: {paid: PAID, pending: OPEN}, default: UNKNOWN}", `{"v":"paid"}`, `"PAID"`, "", ""},
		{"map default", "from: v\nmap: {values: {paid: PAID}, default: UNKNOWN}", `{"v":"voided"}`, `"UNKNOWN"`, "", ""},
		{"map null takes default", "from: v\nmap: {values: {paid: PAID}, default: UNKNOWN}", `{}`, `"UNKNOWN"`, "", ""},
		{"map without default fails", "from: v\nmap: {values: {paid: PAID}}", `{"v":"voided"}`, ``, `attributes.x: "voided": not in the value map`, ""},
		{"map numbers by text", "from: v\nmap: {values: {1: one}}", `{"v":1}`, `"one"`, "", ""},
		{"map as transform", "from: v\ntransform: [lower, {map: {values: {paid: PAID}}}]", `{"v":"Paid"}`, `"PAID"`, "", ""},
		{"parse_time layout", "from: v\ntransform: [{parse_time: \"02/01/2006 15:04\"}]", `{"v":"31/12/2026 23:30"}`, `"2026-12-31T23:30:00Z"`, "", ""},
		{"parse_time layout in zone", "from: v\ntransform: [{parse_time: \"02/01/2006 15:04\"}]", `{"v":"31/12/2026 23:30"}`, `"2026-12-31T22:30:00Z"`, "", "tz"},
		{"parse_time malformed", "from: v\ntransform: [{parse_time: \"02/01/2006\"}]", `{"v":"2026-12-31"}`, ``, `not a date or time in the layout "02/01/2006"`, ""},
		{"format_time", "from: v\ntransform: [{format_time: \"02.01.2006 15:04\"}]", `{"v":"2026-03-01T08:01:18+08:00"}`, `"01.03.2026 00:01"`, "", ""},
		{"format_time in spec zone", "from: v\ntransform: [{format_time: \"02.01.2006 15:04\"}]", `{"v":"2026-03-01T08:01:18+08:00"}`, `"01.03.2026 01:01"`, "", "tz"},
		{"timezone", "from: v\ntransform: [{timezone: Asia/Shanghai}]", `{"v":"2026-02-28T16:00:50-08:00"}`, `"2026-03-01T08:00:50+08:00"`, "", ""},
		{"timezone malformed", "from: v\ntransform: [{timezone: Asia/Shanghai}]", `{"v":"yesterday"}`, ``, `"yesterday": not a date or time`, ""},
		{"lookup table", "from: v\ntransform: [{lookup: terms}]", `{"v":"N30"}`, `"NET30"`, "", "lookup"},
		{"lookup table default", "from: v\ntransform: [{lookup: {table: terms, default: NET14}}]", `{"v":"X"}`, `"NET14"`, "", "lookup"},
		{"lookup table miss", "from: v\ntransform: [{lookup: terms}]", `{"v":"X"}`, ``, `attributes.x: "X": not in lookup table terms`, "lookup"},
		{"expr transform", "from: v\ntransform: [{expr: 'value + \"!\"'}]", `{"v":"hi"}`, `"hi!"`, "", ""},
		{"expr transform sees the record", "from: v\ntransform: [{expr: 'value * qty'}]", `{"v":3,"qty":4}`, `12`, "", ""},
		{"expr runtime error is a field error", "from: v\ntransform: [{expr: 'value.x.y'}]", `{"v":3}`, ``, `attributes.x: expression failed`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, wantErr := "", tt.wantErr
			switch tt.opts {
			case "tz":
				opts = "options: {timezone: Europe/Berlin}\n"
			case "lookup":
				opts = "lookups:\n  terms:\n    values: {N30: NET30, N14: NET14}\n"
			}
			got, err := mapOne(t, tt.field, opts, tt.input)
			if wantErr != "" {
				if err == nil || !contains(err.Error(), wantErr) {
					t.Fatalf("error = %v, want it to contain %q (got value %s)", err, wantErr, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && indexOf(s, sub) >= 0)
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
