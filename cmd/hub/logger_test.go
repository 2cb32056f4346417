package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestLogDurationsInWords: a JSON log line says "1.5s", not 1500000000.
func TestLogDurationsInWords(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		newLogger(&buf, "info", format).Info("retrying", "wait", 1500*time.Millisecond, "attempt", 3)
		line := buf.String()
		if format == "json" {
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("json log line %q: %v", line, err)
			}
			if rec["wait"] != "1.5s" || rec["attempt"] != float64(3) {
				t.Errorf("json log line: wait=%v attempt=%v, want \"1.5s\" and 3: %s", rec["wait"], rec["attempt"], line)
			}
			continue
		}
		if !strings.Contains(line, "wait=1.5s") {
			t.Errorf("text log line lacks wait=1.5s: %s", line)
		}
	}
}
