// Package metrics defines every Prometheus metric janitor exports, in this one file, on
// a registry of its own. Drops are counted live through the Dropped and ThrottleWait
// hooks (so /metrics moves during a long run); Observe sets the gauges from a finished
// report and never counts drops, so nothing is counted twice.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/janitorhq/janitor/report"
)

// Metrics holds janitor's metrics. No metric has a per-table label.
type Metrics struct {
	reg          *prometheus.Registry
	reclaimable  *prometheus.GaugeVec
	reclaimed    *prometheus.CounterVec
	dropped      *prometheus.CounterVec
	skipped      *prometheus.GaugeVec
	throttleWait *prometheus.CounterVec
	runDuration  prometheus.Gauge
	// lastSuccess has no labels but is a vector, so that it exports nothing until a run
	// succeeds: a failed one-shot run then pushes no sample, and the Pushgateway keeps
	// the last successful run's time stamp.
	lastSuccess *prometheus.GaugeVec
	shardErrors *prometheus.CounterVec
}

// New returns janitor's metrics on a new registry, with build information and the Go
// runtime's collectors.
func New(version string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		reclaimable: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "janitor_reclaimable_bytes",
			Help: "Bytes the leftovers with a drop verdict hold, per shard, as of the latest run."}, []string{"shard"}),
		reclaimed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "janitor_reclaimed_bytes_total",
			Help: "Bytes freed by dropped leftovers."}, []string{"shard"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "janitor_tables_dropped_total",
			Help: "Leftover tables dropped, by the tool that left them."}, []string{"shard", "tool"}),
		skipped: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "janitor_tables_skipped",
			Help: "Leftovers skipped in the latest run, by reason code (a bounded set)."}, []string{"shard", "reason"}),
		throttleWait: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "janitor_throttle_wait_seconds_total",
			Help: "Seconds drops waited for an unhealthy signal."}, []string{"shard", "signal"}),
		runDuration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "janitor_run_duration_seconds",
			Help: "Duration of the latest run. A gauge: one-shot runs push one value each; a histogram would need many runs in one process."}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "janitor_last_success_timestamp_seconds",
			Help: "Unix time of the end of the latest run in which every shard answered and no table failed."}, nil),
		shardErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "janitor_shard_errors_total",
			Help: "Runs in which a shard could not be inventoried."}, []string{"shard"}),
	}
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "janitor_build_info",
		Help: "Always 1; labels say which build runs."}, []string{"version", "goversion"})
	build.WithLabelValues(version, runtime.Version()).Set(1)
	m.reg.MustRegister(m.reclaimable, m.reclaimed, m.dropped, m.skipped, m.throttleWait, m.runDuration, m.lastSuccess,
		m.shardErrors, build)
	return m
}

// Registry returns the registry to serve or push.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// WithRuntime adds the process and Go collectors, for long-running serve mode (a pushed
// one-shot run's runtime figures would only mislead).
func (m *Metrics) WithRuntime() *Metrics {
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Dropped counts one dropped table; it fits janitor.Hooks.Dropped.
func (m *Metrics) Dropped(shard, tool string, bytes int64) {
	m.dropped.WithLabelValues(shard, tool).Inc()
	m.reclaimed.WithLabelValues(shard).Add(float64(bytes))
}

// ThrottleWait counts time spent waiting on a signal; it fits janitor.Hooks.ThrottleWait.
func (m *Metrics) ThrottleWait(shard, signal string, d time.Duration) {
	m.throttleWait.WithLabelValues(shard, signal).Add(d.Seconds())
}

// Observe sets the gauges from a finished report.
func (m *Metrics) Observe(r *report.Report, d time.Duration) {
	m.runDuration.Set(d.Seconds())
	for _, s := range r.Shards {
		if s.Error != "" {
			m.shardErrors.WithLabelValues(s.Name).Inc()
			// Keep the shard's last known figures rather than report a false zero.
			continue
		}
		m.reclaimable.WithLabelValues(s.Name).Set(float64(s.ReclaimableBytes))
		m.skipped.DeletePartialMatch(prometheus.Labels{"shard": s.Name})
		counts := map[string]int{}
		for _, t := range s.Tables {
			if t.Verdict == "skip" {
				counts[t.ReasonCode]++
			}
		}
		for reason, n := range counts {
			m.skipped.WithLabelValues(s.Name, reason).Set(float64(n))
		}
	}
	if !r.Failed() {
		m.lastSuccess.WithLabelValues().Set(float64(time.Now().Unix()))
	}
}

// Push adds this process' metrics to a Pushgateway group keyed by job and cluster only
// (never a pod or host name, which would make a new group every run). It uses POST (add)
// semantics: metrics this run did not produce — janitor_last_success_timestamp_seconds
// after a failed run — keep their pushed values.
func Push(ctx context.Context, gateway, job, cluster string, m *Metrics, log *slog.Logger) error {
	p := push.New(gateway, job).Gatherer(m.reg)
	if cluster != "" {
		p = p.Grouping("cluster", cluster)
	}
	if err := p.AddContext(ctx); err != nil {
		return fmt.Errorf("push to %s: %s", redactURL(gateway), strings.ReplaceAll(err.Error(), gateway, redactURL(gateway)))
	}
	if log != nil {
		log.Info("pushed metrics", "pushgateway", redactURL(gateway), "job", job, "cluster", cluster)
	}
	return nil
}

// redactURL hides credentials in a URL's userinfo.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "pushgateway"
	}
	if u.User != nil {
		u.User = url.User("***")
	}
	return u.String()
}
