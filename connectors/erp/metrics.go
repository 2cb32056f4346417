package erp

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are the client's counters since it was made.
type Stats struct {
	Calls             int64 // attempts sent
	Retries           int64
	Reauths           int64 // logins or token fetches after a 401
	FailuresRetryable int64
	FailuresPermanent int64
	// FailuresUnavailable are calls the system refused as a whole
	// (credentials, rights, a host name that does not resolve).
	FailuresUnavailable int64
	CallTime            time.Duration // total time of the attempts
	WaitTime            time.Duration // total time waiting for the rate limit and budget
	// BudgetLimit is the daily budget (0: none), BudgetUsed today's calls,
	// and BudgetThrottled is true while calls are being slowed down.
	BudgetLimit     int
	BudgetUsed      int
	BudgetThrottled bool
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	s := Stats{
		Calls:               c.st.calls.Load(),
		Retries:             c.st.retries.Load(),
		Reauths:             c.st.reauths.Load(),
		FailuresRetryable:   c.st.failuresRetryable.Load(),
		FailuresPermanent:   c.st.failuresPermanent.Load(),
		FailuresUnavailable: c.st.failuresUnavailable.Load(),
		CallTime:            time.Duration(c.st.callNanos.Load()),
		WaitTime:            time.Duration(c.st.waitNanos.Load()),
	}
	if c.budget != nil {
		s.BudgetLimit, s.BudgetUsed, s.BudgetThrottled = c.budget.state(c.now())
	}
	return s
}

var (
	descCalls     = prometheus.NewDesc("hub_erp_calls_total", "HTTP calls (attempts) an ERP connector sent.", []string{"connector"}, nil)
	descRetries   = prometheus.NewDesc("hub_erp_call_retries_total", "Calls retried after a transient failure.", []string{"connector"}, nil)
	descReauths   = prometheus.NewDesc("hub_erp_reauths_total", "Logins or token fetches after the ERP refused a session or token.", []string{"connector"}, nil)
	descFailures  = prometheus.NewDesc("hub_erp_call_failures_total", "Calls that failed after retries, by kind.", []string{"connector", "kind"}, nil)
	descCallSecs  = prometheus.NewDesc("hub_erp_call_seconds_total", "Time spent in ERP calls.", []string{"connector"}, nil)
	descWaitSecs  = prometheus.NewDesc("hub_erp_throttle_seconds_total", "Time spent waiting for the rate limit and the daily budget.", []string{"connector"}, nil)
	descBudget    = prometheus.NewDesc("hub_erp_budget_remaining", "Calls left in today's budget (UTC day).", []string{"connector"}, nil)
	descThrottled = prometheus.NewDesc("hub_erp_budget_throttled", "1 while the daily budget is low and calls are being slowed down.", []string{"connector"}, nil)
)

// Describe implements prometheus.Collector.
func (c *Client) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCalls, descRetries, descReauths, descFailures, descCallSecs, descWaitSecs, descBudget, descThrottled} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: register the client (or the
// connector that exposes it) on the node's registry to export them.
func (c *Client) Collect(ch chan<- prometheus.Metric) {
	s := c.Stats()
	n := c.name
	ch <- prometheus.MustNewConstMetric(descCalls, prometheus.CounterValue, float64(s.Calls), n)
	ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(s.Retries), n)
	ch <- prometheus.MustNewConstMetric(descReauths, prometheus.CounterValue, float64(s.Reauths), n)
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(s.FailuresRetryable), n, "retryable")
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(s.FailuresPermanent), n, "permanent")
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(s.FailuresUnavailable), n, "unavailable")
	ch <- prometheus.MustNewConstMetric(descCallSecs, prometheus.CounterValue, s.CallTime.Seconds(), n)
	ch <- prometheus.MustNewConstMetric(descWaitSecs, prometheus.CounterValue, s.WaitTime.Seconds(), n)
	if s.BudgetLimit > 0 {
		ch <- prometheus.MustNewConstMetric(descBudget, prometheus.GaugeValue, float64(s.BudgetLimit-s.BudgetUsed), n)
		th := 0.0
		if s.BudgetThrottled {
			th = 1
		}
		ch <- prometheus.MustNewConstMetric(descThrottled, prometheus.GaugeValue, th, n)
	}
}
