package redact

import (
	"strings"
	"testing"
)

func TestDSN(t *testing.T) {
	tests := []struct {
		in, want string
		secret   string // must not appear in the output
	}{
		{"postgres://hub:s3cr3t@db:5432/hub?sslmode=disable", "postgres://hub:xxxxx@db:5432/hub?sslmode=disable", "s3cr3t"},
		{"postgres://hub@db/hub?sslmode=disable&password=s3cr3t", "postgres://hub@db/hub?sslmode=disable&password=xxxxx", "s3cr3t"},
		{"postgresql://db/hub?user=hub&password=s3cr3t&sslpassword=k3y", "postgresql://db/hub?user=hub&password=xxxxx&sslpassword=xxxxx", "s3cr3t"},
		{"host=db user=hub password=s3cr3t dbname=hub", "host=db user=hub password=xxxxx dbname=hub", "s3cr3t"},
		{"host=db password='s3 cr\\'3t' dbname=hub", "host=db password=xxxxx dbname=hub", "s3 cr"},
		{"hub:s3cr3t@tcp(db:3306)/hub?parseTime=true", "hub:xxxxx@tcp(db:3306)/hub?parseTime=true", "s3cr3t"},
		{"root@tcp(127.0.0.1:3306)/test?parseTime=true", "root@tcp(127.0.0.1:3306)/test?parseTime=true", ""},
		{"sqlite:data/hub.db", "sqlite:data/hub.db", ""},
		{"file:crm.db?_pragma=busy_timeout(5000)&_key=s3cr3t", "file:crm.db?_pragma=busy_timeout(5000)&_key=xxxxx", "s3cr3t"},
	}
	for _, tt := range tests {
		got := DSN(tt.in)
		if got != tt.want {
			t.Errorf("DSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.secret != "" && strings.Contains(got, tt.secret) {
			t.Errorf("DSN(%q) leaks %q: %q", tt.in, tt.secret, got)
		}
	}
}
