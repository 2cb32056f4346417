package bench

import (
	"testing"
	"time"
)

// wrk 4.1.0's summary with --latency, as the bench reads it.
const wrkOutput = `Running 10s test @ http://127.0.0.1:40123
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.35us    1.02ms  21.86ms   94.12%
    Req/Sec    28.37k     1.21k   30.11k    71.00%
  Latency Distribution
     50%  223.00us
     75%  457.00us
     90%    1.57ms
     99%    6.18ms
  282340 requests in 10.00s, 311.07MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  28234.04
Transfer/sec:     31.11MB
`

func TestParseWrk(t *testing.T) {
	r, err := parseWrk(wrkOutput, 16)
	if err != nil {
		t.Fatal(err)
	}
	if r.RPS != 28234.04 || r.Requests != 282340 || r.P50 != 223*time.Microsecond || r.P90 != 1570*time.Microsecond ||
		r.P99 != 6180*time.Microsecond || r.Max != 21860*time.Microsecond || r.Errors != "Non-2xx or 3xx responses: 3" {
		t.Errorf("parsed %+v", r)
	}
	if _, err := parseWrk("nonsense", 1); err == nil {
		t.Error("output without Requests/sec accepted")
	}
}

// TestBenchData: the generated numbers are E.164, distinct but for the
// switchboards, and written nationally as a German caller id shows them.
func TestBenchData(t *testing.T) {
	if got := benchPhone(5); got != "+493020000005" {
		t.Errorf("phone 5 = %s", got)
	}
	if benchPhone(999) != benchPhone(998) {
		t.Error("every thousandth customer shares the previous one's number")
	}
	if got := benchNational(5); got != "030%202000%200005" {
		t.Errorf("national 5 = %s", got)
	}
}
