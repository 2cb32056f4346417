package mapping

import "testing"

func TestCoercions(t *testing.T) {
	tests := []struct {
		typ, input, want, wantErr, extra string
	}{
		{"string", `"a"`, `"a"`, "", ""},
		{"string", `12.50`, `"12.50"`, "", ""},
		{"string", `true`, `"true"`, "", ""},
		{"string", `null`, `null`, "", ""},
		{"string", `{"a":1}`, ``, `{"a":1}: not a string`, ""},

		{"int", `4`, `4`, "", ""},
		{"int", `" 42 "`, `42`, "", ""},
		{"int", `"+7"`, `7`, "", ""},
		{"int", `4.0`, `4`, "", ""},
		{"int", `4.5`, ``, `4.5: not a whole number`, ""},
		{"int", `"4,5"`, ``, `"4,5": not a whole number`, ""},
		{"int", `"abc"`, ``, `"abc": not a whole number`, ""},
		{"int", `1e3`, `1000`, "", ""},
		{"int", `99999999999999999999`, ``, `not a whole number in range`, ""},
		{"int", `true`, ``, `true: not a whole number`, ""},

		{"decimal", `"1015.10"`, `"1015.10"`, "", ""},
		{"decimal", `1015.10`, `"1015.10"`, "", ""},
		{"decimal", `" -0.50 "`, `"-0.50"`, "", ""},
		{"decimal", `"-0.00"`, `"0.00"`, "", ""},
		{"decimal", `"+3"`, `"3"`, "", ""},
		{"decimal", `"007.5"`, `"7.5"`, "", ""},
		{"decimal", `1.5e2`, `"150"`, "", ""},
		{"decimal", `".5"`, `"0.5"`, "", ""},
		{"decimal", `"12,50"`, ``, `"12,50": not a decimal`, ""},
		{"decimal", `"1.2.3"`, ``, `not a decimal`, ""},
		{"decimal", `"NaN"`, ``, `not a decimal`, ""},
		{"decimal", `"1e99999"`, ``, `not a decimal`, ""},
		{"decimal", `""`, ``, `"": not a decimal`, ""},
		{"decimal", `[1]`, ``, `[1]: not a decimal`, ""},
		{"number", `"262.16"`, `262.16`, "", ""},
		{"number", `"12,50"`, ``, `"12,50": not a decimal`, ""},

		{"bool", `true`, `true`, "", ""},
		{"bool", `"yes"`, `true`, "", ""},
		{"bool", `" False "`, `false`, "", ""},
		{"bool", `0`, `false`, "", ""},
		{"bool", `1`, `true`, "", ""},
		{"bool", `2`, ``, `2: not a boolean`, ""},
		{"bool", `"maybe"`, ``, `"maybe": not a boolean`, ""},

		{"date", `"2026-02-28T16:00:50-08:00"`, `"2026-03-01"`, "", ""},
		{"date", `"2026-03-01"`, `"2026-03-01"`, "", ""},
		{"date", `"2026-03-01 23:30:00"`, `"2026-03-01"`, "", ""},
		{"date", `"01.03.2026"`, `"2026-03-01"`, "", ""},
		{"date", `"2026/03/01"`, `"2026-03-01"`, "", ""},
		{"date", `"20260301"`, `"2026-03-01"`, "", ""},
		{"date", `"Sun, 01 Mar 2026 10:00:00 +0000"`, `"2026-03-01"`, "", ""},
		{"date", `"March 1, 2026"`, `"2026-03-01"`, "", ""},
		{"date", `1772323200`, `"2026-03-01"`, "", ""},
		{"date", `1772323200000`, `"2026-03-01"`, "", ""},
		{"date", `"2026-02-30"`, ``, `"2026-02-30": not a date or time`, ""},
		{"date", `"03/01/2026"`, ``, `not a date or time`, ""},
		{"date", `"tomorrow"`, ``, `"tomorrow": not a date or time`, ""},
		{"date", `true`, ``, `true: not a date or time`, ""},

		{"datetime", `"2026-03-01T08:01:18+08:00"`, `"2026-03-01T00:01:18Z"`, "", ""},
		{"datetime", `"2026-03-01T08:01:18.250+08:00"`, `"2026-03-01T00:01:18.25Z"`, "", ""},
		{"datetime", `"2026-03-01 08:01:18"`, `"2026-03-01T08:01:18Z"`, "", ""},
		{"datetime", `"2026-03-01T25:01:18Z"`, ``, `not a date or time`, ""},
		{"datetime", `"2026-03-01T08:01:18+08:00x"`, ``, `not a date or time`, ""},

		{"phone", `"030 1234567"`, `"+49301234567"`, "", "region: DE"},
		{"phone", `"+86 138-0013-8000"`, `"+8613800138000"`, "", ""},
		{"phone", `"(650) 253-0000"`, `"+16502530000"`, "", ""},
		{"phone", `"138 0013 8000"`, `"+8613800138000"`, "", "region: CN"},
		{"phone", `"+86 160-9265-5671"`, ``, `not a valid phone number`, ""},
		{"phone", `"12"`, ``, `"12": not`, ""},
		{"phone", `"call me"`, ``, `"call me": not a phone number`, ""},
		{"phone", `""`, `null`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.typ+" "+tt.input, func(t *testing.T) {
			field := "from: v\ntype: " + tt.typ
			if tt.extra != "" {
				field += "\n" + tt.extra
			}
			got, err := mapOne(t, field, "", `{"v":`+tt.input+`}`)
			if tt.wantErr != "" {
				if err == nil || !contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q (value %s)", err, tt.wantErr, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}
