package screenpop

import "time"

// day is a date as days since 1970-01-01 (0: none), for orders and
// invoices: YYYY-MM-DD in the canonical model.
type day int32

// parseDay reads YYYY-MM-DD, or the date of an RFC 3339 time.
func parseDay(s string) day {
	if len(s) > 10 {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return day(t.UTC().Unix()/86400) + 1
		}
		s = s[:10]
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0
	}
	return day(t.Unix()/86400) + 1
}

// String is the date as YYYY-MM-DD; "" for none.
func (d day) String() string {
	if d == 0 {
		return ""
	}
	return string(d.appendTo(nil))
}

// appendTo appends the date as YYYY-MM-DD (nothing for none).
func (d day) appendTo(dst []byte) []byte {
	if d == 0 {
		return dst
	}
	return time.Unix(int64(d-1)*86400, 0).UTC().AppendFormat(dst, time.DateOnly)
}

// parseTime reads an RFC 3339 time as Unix seconds (0: none).
func parseTime(s string) int64 {
	if s == "" {
		return 0
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	return t.Unix()
}

// timeText is Unix seconds as RFC 3339 UTC; "" for none.
func timeText(sec int64) string {
	if sec == 0 {
		return ""
	}
	return time.Unix(sec, 0).UTC().Format(time.RFC3339)
}
