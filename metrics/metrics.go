// Package metrics defines every Prometheus metric janitor exports, in this one file, on
// a registry of its own. Drops are counted live through the Dropped and ThrottleWait
// hooks (so /metrics moves during a long run); Observe sets the gauges from a finished
// report and never counts drops, so nothing is counted twice.
//
// A one-shot run (a CronJob) is a new process every night, so its counters would start
// at zero and a pushed counter would only count that run: two nights that each drop
// three tables would push 3 and 3, and increase() would see nothing. Resume therefore
// reads the totals last pushed for the same group and carries them on, and Init exports
// a zero for every shard first, so that the first drop or error is an increase too.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	version "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/push"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/report"
)

// Metrics holds janitor's metrics. No metric has a per-table label.
type Metrics struct {
	reg          *prometheus.Registry
	reclaimable  *prometheus.GaugeVec
	reclaimed    *prometheus.CounterVec
	dropped      *prometheus.CounterVec
	droppedBy    *prometheus.CounterVec
	notVisited   prometheus.Gauge
	skipped      *prometheus.GaugeVec
	throttleWait *prometheus.CounterVec
	// replicaBlocks counts shards stopped because a replica's applier waited for a
	// metadata lock: replication there stalled.
	replicaBlocks *prometheus.CounterVec
	// holdRestored counts held tables restored because someone asked for them.
	holdRestored *prometheus.CounterVec
	// restoreDeferred counts restores of asked-for held tables that the guard deferred.
	restoreDeferred *prometheus.CounterVec
	runDuration     prometheus.Gauge
	// lastSuccess has no labels but is a vector, so that it exports nothing until a run
	// succeeds: a failed one-shot run then pushes no sample, and the Pushgateway keeps
	// the last successful run's time stamp.
	lastSuccess *prometheus.GaugeVec
	shardErrors *prometheus.CounterVec
	shardUp     *prometheus.GaugeVec
	// heldBytes and heldTables are the tables under janitor's hold (execute.hold).
	heldBytes  *prometheus.GaugeVec
	heldTables *prometheus.GaugeVec
	// skipReasons are the reasons each shard's skipped gauge has held in this process
	// (carried from the Pushgateway included).
	skipReasons map[string]map[string]bool
	// blocked is 1 for the reason an execute run stopped dropping on a shard; a reason
	// seen before (in this process or carried from the Pushgateway) and gone is 0. A
	// shard never blocked has no series.
	blocked        *prometheus.GaugeVec
	blockedReasons map[string]map[string]bool
	partial        bool
	// jobFailures counts, for the one Kubernetes Job run (by its uid) last pushed to the
	// group, the attempts that failed; the Pushgateway's POST replaces the series, so
	// the group holds only the latest Job's. priorFailures is what Resume read back.
	jobFailures   *prometheus.GaugeVec
	priorFailures map[string]float64
	resumed       bool
	// retryFollows: this is a Job attempt after whose failure Kubernetes retries; its
	// shard errors are left for the attempt that ends the Job run to count.
	retryFollows bool
	// partition, when set, is one more label of the Pushgateway group (one pod of an
	// Indexed Job): each pod's push, last success included, is its own.
	partition string
}

// InPartition keys this process' Pushgateway group by partition too (janitor
// --partition INDEX/COUNT: the value is INDEX), so that the pods of one Indexed Job
// never overwrite each other's metrics or last-success time stamp. The label holds the
// index only, so raising COUNT keeps each existing pod's group.
func (m *Metrics) InPartition(index string) { m.partition = index }

// Partial marks a run limited to some of the configured shards (janitor --shard), or one
// a signal stopped: its success is not the fleet's, so it sets no last-success time stamp.
func (m *Metrics) Partial() { m.partial = true }

// RetryFollowsFailure marks an attempt of a Kubernetes Job run that Kubernetes retries if
// it fails: Observe then leaves shard errors to the attempt that ends the run, so that
// janitor_shard_errors_total counts a failing shard once per Job run, not per attempt.
func (m *Metrics) RetryFollowsFailure() { m.retryFollows = true }

// PriorFailures is how many attempts of the Job run jobUID failed before this one, as
// last pushed; ok is false when Resume did not read the group.
func (m *Metrics) PriorFailures(jobUID string) (n int, ok bool) {
	return int(m.priorFailures[jobUID]), m.resumed
}

// SetJobFailures records that n attempts of the Job run jobUID have failed, for the
// next attempt to read back.
func (m *Metrics) SetJobFailures(jobUID string, n int) {
	m.jobFailures.Reset()
	m.jobFailures.WithLabelValues(jobUID).Set(float64(n))
}

// New returns janitor's metrics on a new registry, with build information
// (janitor_build_info, from prometheus/common/version: what the release build stamps
// with -ldflags -X).
func New() *Metrics {
	m := &Metrics{
		reg:            prometheus.NewRegistry(),
		skipReasons:    map[string]map[string]bool{},
		blockedReasons: map[string]map[string]bool{},
		blocked: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "janitor_shard_blocked",
			Help: "1 if the latest execute run stopped dropping on the shard, by reason (report's blocked_code, a bounded set); 0 for a reason seen before. No series for a shard never blocked."}, []string{"shard", "reason"}),
		priorFailures: map[string]float64{},
		jobFailures: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "janitor_job_failed_attempts",
			Help: "Failed attempts of the latest Kubernetes Job run, by the Job's uid (the group holds one)."}, []string{"job_uid"}),
		reclaimable: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "janitor_reclaimable_bytes",
			Help: "Bytes the leftovers with a drop verdict hold, per shard, as of the latest run."}, []string{"shard"}),
		reclaimed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "janitor_reclaimed_bytes_total",
			Help: "Bytes freed by dropped leftovers."}, []string{"shard"}),
		// Per shard, or per tool, never both: a zero series for every tool on every shard
		// was 8 series per shard, 16,000 at 2,000 shards, nearly all zero forever.
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "janitor_tables_dropped_total",
			Help: "Leftover tables dropped, per shard."}, []string{"shard"}),
		droppedBy: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "janitor_tables_dropped_by_tool_total",
			Help: "Leftover tables dropped, by the tool that left them (all shards of the group)."}, []string{"tool"}),
		notVisited: prometheus.NewGauge(prometheus.GaugeOpts{Name: "janitor_shards_not_visited",
			Help: "Shards the latest run ended before reaching (execute.deadline, a signal); not errors."}),
		skipped: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "janitor_tables_skipped",
			Help: "Leftovers skipped in the latest run, by reason code (a bounded set)."}, []string{"shard", "reason"}),
		throttleWait: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "janitor_throttle_wait_seconds_total",
			Help: "Seconds drops waited for an unhealthy signal."}, []string{"shard", "signal"}),
		holdRestored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "janitor_hold_restored_total",
			Help: "Held tables an execute run renamed back to their original name because a statement asked for that name during the hold (an application failed on it with 1146)."}, []string{"shard"}),
		restoreDeferred: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "janitor_hold_restore_deferred_total",
			Help: "Restores of held tables asked for by their original name that an execute run deferred (a reader of a table the RENAME back would lock, the throttle, a replica, another janitor on the table): each time, the table was still missing and the application still failing."}, []string{"shard"}),
		replicaBlocks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "janitor_replica_applier_blocked_total",
			Help: "Times drops on a shard stopped because a replica's applier waited for a table metadata lock (replication there stalled behind a reader)."}, []string{"shard"}),
		runDuration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "janitor_run_duration_seconds",
			Help: "Duration of the latest run. A gauge: one-shot runs push one value each; a histogram would need many runs in one process."}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "janitor_last_success_timestamp_seconds",
			Help: "Unix time of the end of the latest run in which every shard answered and no table failed."}, nil),
		shardErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "janitor_shard_errors_total",
			Help: "Runs in which a shard could not be inventoried."}, []string{"shard"}),
		shardUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "janitor_shard_up",
			Help: "1 if the latest run inventoried the shard, 0 if it could not."}, []string{"shard"}),
	}
	// version, revision, branch, goversion, goos, goarch and tags; always 1.
	build := version.NewCollector("janitor")
	m.heldBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "janitor_held_bytes",
		Help: "Bytes of the tables under janitor's hold (renamed, not yet dropped), per shard, as of the latest run."}, []string{"shard"})
	m.heldTables = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "janitor_held_tables",
		Help: "Tables under janitor's hold (renamed, not yet dropped), per shard, as of the latest run."}, []string{"shard"})
	m.reg.MustRegister(m.reclaimable, m.reclaimed, m.dropped, m.droppedBy, m.notVisited, m.skipped, m.throttleWait, m.replicaBlocks, m.holdRestored, m.restoreDeferred, m.runDuration, m.lastSuccess,
		m.shardErrors, m.shardUp, m.jobFailures, m.heldBytes, m.heldTables, m.blocked, build)
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
	m.dropped.WithLabelValues(shard).Inc()
	m.droppedBy.WithLabelValues(tool).Inc()
	m.reclaimed.WithLabelValues(shard).Add(float64(bytes))
}

// ThrottleWait counts time spent waiting on a signal; it fits janitor.Hooks.ThrottleWait.
func (m *Metrics) ThrottleWait(shard, signal string, d time.Duration) {
	m.throttleWait.WithLabelValues(shard, signal).Add(d.Seconds())
}

// HoldMoved follows the hold lifecycle; it fits janitor.Hooks.HoldMoved. A restore's
// RENAME back counts in janitor_hold_restored_total: the runs that restore are the
// execute runs (`janitor run --execute`, `janitor holds --execute`) restoring a table
// asked for by its original name; `janitor restore`, a person's command, has no metrics.
func (m *Metrics) HoldMoved(mv discovery.HoldMove) {
	if mv.RenamedBack() {
		m.holdRestored.WithLabelValues(mv.Shard).Inc()
	}
}

// RestoreDeferred counts one restore of an asked-for held table that the guard
// deferred; it fits janitor.Hooks.RestoreDeferred.
func (m *Metrics) RestoreDeferred(shard string) {
	m.restoreDeferred.WithLabelValues(shard).Inc()
}

// ReplicaBlocked counts one shard stopped by a replica's applier waiting for a metadata
// lock; it fits janitor.Hooks.ReplicaBlocked. The replica is in the report and the log,
// not in a label: a label per replica would need every replica's zero up front.
func (m *Metrics) ReplicaBlocked(shard, _ string) {
	m.replicaBlocks.WithLabelValues(shard).Inc()
}

// Observe sets the gauges from a finished report.
func (m *Metrics) Observe(r *report.Report, d time.Duration) {
	m.runDuration.Set(d.Seconds())
	m.notVisited.Set(float64(r.NotVisited()))
	for _, s := range r.Shards {
		if s.Status == report.StatusNotVisited {
			// Nothing was learnt: keep its last figures, count no error.
			continue
		}
		if s.Error != "" {
			if !m.retryFollows {
				m.shardErrors.WithLabelValues(s.Name).Inc()
			}
			m.shardUp.WithLabelValues(s.Name).Set(0)
			// Keep the shard's last known figures rather than report a false zero.
			continue
		}
		m.shardUp.WithLabelValues(s.Name).Set(1)
		m.reclaimable.WithLabelValues(s.Name).Set(float64(s.ReclaimableBytes))
		var heldBytes, heldTables float64
		for _, t := range s.Tables {
			if t.Held() {
				heldBytes += float64(t.Bytes)
				heldTables++
			}
		}
		m.heldBytes.WithLabelValues(s.Name).Set(heldBytes)
		m.heldTables.WithLabelValues(s.Name).Set(heldTables)
		// A reason seen before and gone now is set to 0, not deleted: a deleted series
		// is simply not pushed, and the Pushgateway would keep its old value.
		counts := map[string]int{}
		for reason := range m.skipReasons[s.Name] {
			counts[reason] = 0
		}
		for _, t := range s.Tables {
			if t.Verdict == "skip" {
				counts[t.ReasonCode]++
			}
		}
		for reason, n := range counts {
			m.setSkipped(s.Name, reason, float64(n))
		}
		if r.Mode == report.ModeExecute {
			// Only an execute run drops: a dry run's "would block" is not a blocked shard.
			for reason := range m.blockedReasons[s.Name] {
				m.setBlocked(s.Name, reason, 0)
			}
			if s.BlockedCode != "" {
				m.setBlocked(s.Name, s.BlockedCode, 1)
			}
		}
	}
	// A run that did not reach every shard did not cover the fleet: no success, so a
	// deadline too short for the fleet shows up (with janitor_shards_not_visited).
	if !r.Failed() && r.NotVisited() == 0 && !m.partial {
		m.lastSuccess.WithLabelValues().Set(float64(time.Now().Unix()))
	}
}

// Init exports a zero for each shard's counters (drops, bytes reclaimed, errors) and
// for drops by every tool that can be dropped, so that Prometheus sees the first drop or
// error as an increase rather than as a series appearing, which increase() does not
// count. Five series per shard, eight per group for the tools.
func (m *Metrics) Init(shards []string) {
	for _, s := range shards {
		m.reclaimed.WithLabelValues(s)
		m.shardErrors.WithLabelValues(s)
		m.replicaBlocks.WithLabelValues(s)
		m.holdRestored.WithLabelValues(s)
		m.restoreDeferred.WithLabelValues(s)
		m.dropped.WithLabelValues(s)
	}
	for _, tool := range discovery.DroppableTools {
		m.droppedBy.WithLabelValues(string(tool))
	}
}

// InitHolds exports a zero janitor_hold_restored_total and
// janitor_hold_restore_deferred_total for each shard, alone: what `janitor holds` pushes
// to its own group.
func (m *Metrics) InitHolds(shards []string) {
	for _, s := range shards {
		m.holdRestored.WithLabelValues(s)
		m.restoreDeferred.WithLabelValues(s)
	}
}

// carrier takes one value last pushed, with its labels, and returns what carries it
// into this process.
type carrier func(labels prometheus.Labels, v float64) (func(), error)

func addTo(vec *prometheus.CounterVec) carrier {
	return func(l prometheus.Labels, v float64) (func(), error) {
		c, err := vec.GetMetricWith(l)
		return func() { c.Add(v) }, err
	}
}

func setIn(vec *prometheus.GaugeVec) carrier {
	return func(l prometheus.Labels, v float64) (func(), error) {
		g, err := vec.GetMetricWith(l)
		return func() { g.Set(v) }, err
	}
}

func (m *Metrics) setSkipped(shard, reason string, n float64) {
	if m.skipReasons[shard] == nil {
		m.skipReasons[shard] = map[string]bool{}
	}
	m.skipReasons[shard][reason] = true
	m.skipped.WithLabelValues(shard, reason).Set(n)
}

func (m *Metrics) setBlocked(shard, reason string, v float64) {
	if m.blockedReasons[shard] == nil {
		m.blockedReasons[shard] = map[string]bool{}
	}
	m.blockedReasons[shard][reason] = true
	m.blocked.WithLabelValues(shard, reason).Set(v)
}

// resumable are what a one-shot run carries on from the Pushgateway: the counters, as
// running totals, and the per-shard figures of the latest run, which Observe keeps for a
// shard that fails this run rather than report a false zero.
func (m *Metrics) resumable() map[string]carrier {
	return map[string]carrier{
		"janitor_reclaimed_bytes_total": addTo(m.reclaimed),
		// Pushes before the tool label moved to its own metric carry {shard, tool}:
		// their sum per shard carries on.
		"janitor_tables_dropped_total": func(l prometheus.Labels, v float64) (func(), error) {
			delete(l, "tool")
			return addTo(m.dropped)(l, v)
		},
		"janitor_tables_dropped_by_tool_total":  addTo(m.droppedBy),
		"janitor_throttle_wait_seconds_total":   addTo(m.throttleWait),
		"janitor_shard_errors_total":            addTo(m.shardErrors),
		"janitor_replica_applier_blocked_total": addTo(m.replicaBlocks),
		"janitor_hold_restored_total":           addTo(m.holdRestored),
		"janitor_hold_restore_deferred_total":   addTo(m.restoreDeferred),
		"janitor_reclaimable_bytes":             setIn(m.reclaimable),
		"janitor_shard_up":                      setIn(m.shardUp),
		"janitor_held_bytes":                    setIn(m.heldBytes),
		"janitor_held_tables":                   setIn(m.heldTables),
		"janitor_shard_blocked": func(l prometheus.Labels, v float64) (func(), error) {
			if _, err := m.blocked.GetMetricWith(l); err != nil {
				return nil, err
			}
			return func() { m.setBlocked(l["shard"], l["reason"], v) }, nil
		},
		"janitor_tables_skipped": func(l prometheus.Labels, v float64) (func(), error) {
			if _, err := m.skipped.GetMetricWith(l); err != nil {
				return nil, err
			}
			return func() { m.setSkipped(l["shard"], l["reason"], v) }, nil
		},
	}
}

// Resume adds the counter values last pushed to the Pushgateway group (job, cluster and
// partition, if set) to
// this process' counters, so that what Push sends next is a running total across runs,
// and takes the shards' last figures (reclaimable bytes, skips) as this run's until it
// has its own.
// Only the given shards are carried on: a shard removed from the configuration drops out
// of the group at the next push. Call it before the run starts counting. On error the
// counters are left as they were (at zero), which Prometheus reads as a counter reset.
func (m *Metrics) Resume(ctx context.Context, gateway, job, cluster string, shards []string) error {
	return m.ResumeFrom(ctx, Gateway{URL: gateway, Job: job, Cluster: cluster}, shards)
}

// Gateway is one Pushgateway group (job, cluster) and the HTTP client that reaches it
// (from metrics.http_client: credentials, TLS, a tenant header). A nil Client is
// http.DefaultClient.
type Gateway struct {
	URL, Job, Cluster string
	Client            *http.Client
}

func (g Gateway) client() *http.Client {
	if g.Client == nil {
		return http.DefaultClient
	}
	return g.Client
}

// ResumeFrom is Resume through g's client.
func (m *Metrics) ResumeFrom(ctx context.Context, g Gateway, shards []string) error {
	gateway, job, cluster := g.URL, g.Job, g.Cluster
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(gateway, "/")+"/metrics", nil)
	if err != nil {
		return fmt.Errorf("read totals from %s: %w", redactURL(gateway), err)
	}
	resp, err := g.client().Do(req)
	if err != nil {
		return fmt.Errorf("read totals from %s: %s", redactURL(gateway), strings.ReplaceAll(err.Error(), gateway, redactURL(gateway)))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("read totals from %s: HTTP %s", redactURL(gateway), resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return fmt.Errorf("read totals from %s: %w", redactURL(gateway), err)
	}
	known := map[string]bool{}
	for _, s := range shards {
		known[s] = true
	}
	// Collect first and apply only when the whole group was understood, so that an error
	// leaves every metric at zero rather than some carried on and some not.
	var carried []func()
	carriers := m.resumable()
	prior := map[string]float64{}
	for name, mf := range families {
		if name == "janitor_job_failed_attempts" {
			for _, metric := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range metric.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				// The pods of an Indexed Job share its uid but are retried per index: only
				// this partition's own group counts its attempts.
				if labels["job"] == job && labels["cluster"] == cluster && labels["instance"] == "" &&
					labels["partition"] == m.partition {
					prior[labels["job_uid"]] = metric.GetGauge().GetValue() + metric.GetUntyped().GetValue()
				}
			}
			continue
		}
		carry, ok := carriers[name]
		if !ok {
			continue
		}
		for _, metric := range mf.GetMetric() {
			labels := prometheus.Labels{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			// The group is exactly (job, cluster): the Pushgateway adds instance="" to
			// groups without an instance, and a group with another cluster is another's.
			if labels["job"] != job || labels["cluster"] != cluster || labels["instance"] != "" ||
				labels["partition"] != m.partition {
				continue
			}
			// A shard removed from the configuration is not carried on; series without a
			// shard (drops by tool) are the group's.
			if shard, ok := labels["shard"]; ok && !known[shard] {
				continue
			}
			delete(labels, "job")
			delete(labels, "cluster")
			delete(labels, "instance")
			delete(labels, "partition")
			v := metric.GetCounter().GetValue() + metric.GetGauge().GetValue() + metric.GetUntyped().GetValue()
			apply, err := carry(labels, v)
			if err != nil {
				return fmt.Errorf("read totals from %s: %s has labels janitor does not export: %w", redactURL(gateway), name, err)
			}
			carried = append(carried, apply)
		}
	}
	for _, apply := range carried {
		apply()
	}
	m.priorFailures, m.resumed = prior, true
	return nil
}

// Push adds this process' metrics to a Pushgateway group keyed by job and cluster only,
// and the partition index for one pod of an Indexed Job (never a pod or host name, which
// would make a new group every run). It uses POST (add)
// semantics: metrics this run did not produce — janitor_last_success_timestamp_seconds
// after a failed run — keep their pushed values.
func Push(ctx context.Context, gateway, job, cluster string, m *Metrics, log *slog.Logger) error {
	return PushTo(ctx, Gateway{URL: gateway, Job: job, Cluster: cluster}, m, log)
}

// PushTo is Push through g's client.
func PushTo(ctx context.Context, g Gateway, m *Metrics, log *slog.Logger) error {
	gateway, job, cluster := g.URL, g.Job, g.Cluster
	p := push.New(gateway, job).Gatherer(m.reg).Client(g.client())
	if cluster != "" {
		p = p.Grouping("cluster", cluster)
	}
	if m.partition != "" {
		p = p.Grouping("partition", m.partition)
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
