package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/httpclient"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/metrics"
	"github.com/janitorhq/janitor/report"
	"github.com/janitorhq/janitor/slack"
)

// job runs one report (mode report.ModeReport), plan (ModeDryRun) or run (ModeExecute),
// records its metrics and posts it to Slack.
func (a *app) job(ctx context.Context, m *metrics.Metrics, mode string) *report.Report {
	j := janitor.New(a.cfg, a.log)
	j.Hooks = runHooks(m, a.watch)
	start := time.Now()
	var r *report.Report
	switch mode {
	case report.ModeReport:
		r = j.Report(ctx)
	default:
		r = j.Run(ctx, mode == report.ModeExecute)
	}
	if a.partition != nil {
		r.Partition = a.partition.String()
	}
	if ctx.Err() != nil {
		// A run a signal stopped is not a success, whatever it reached.
		m.Partial()
	}
	m.Observe(r, time.Since(start))
	a.postSlack(ctx, r)
	return r
}

// runHooks are a run's hooks: its metrics, and, under serve (w not nil), a tick of the
// schedule loop's watch at each sign of progress.
func runHooks(m *metrics.Metrics, w *loopWatch) janitor.Hooks {
	h := janitor.Hooks{ThrottleWait: m.ThrottleWait, Dropped: m.Dropped, ReplicaBlocked: m.ReplicaBlocked, HoldMoved: m.HoldMoved, RestoreDeferred: m.RestoreDeferred}
	if w == nil {
		return h
	}
	// Each drop, hold, wait or purge batch is progress: serve's /healthz sees the loop
	// move. Holds are the default: a run of holds alone must not look stuck.
	h.ThrottleWait = func(shard, signal string, d time.Duration) { m.ThrottleWait(shard, signal, d); w.tick() }
	h.Dropped = func(shard, tool string, bytes int64) { m.Dropped(shard, tool, bytes); w.tick() }
	h.HoldMoved = func(mv discovery.HoldMove) { m.HoldMoved(mv); w.tick() }
	h.PurgeBatch = func(string, string, string, int64) { w.tick() }
	return h
}

func (a *app) postSlack(ctx context.Context, r *report.Report) {
	if a.cfg.Slack.WebhookURL == "" || a.quiet {
		return
	}
	if a.retryFollows && r.Failed() && ctx.Err() == nil {
		a.log.Info("not posting to slack: this Job attempt failed and Kubernetes retries it; the attempt that ends the run posts")
		return
	}
	// A report must reach Slack even when the run was stopped by a signal.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*a.cfg.Slack.Timeout+5*time.Second)
	defer cancel()
	if err := slack.New(a.cfg.Slack.WebhookURL, a.cfg.Slack.Timeout, a.log).Post(pctx, r); err != nil {
		a.log.Error("post to slack", "err", err)
	}
}

// shardNames lists every configured shard (not only those --shard selects), for
// metrics.Init and metrics.Resume.
func (a *app) shardNames() []string {
	fleet := a.fleet
	if fleet == nil {
		fleet = a.cfg.Shards
	}
	names := make([]string, 0, len(fleet))
	for _, s := range fleet {
		names = append(names, s.Name)
	}
	return names
}

// resume carries a one-shot run's counters on from the totals last pushed, so that the
// Pushgateway holds running totals across runs. When that fails the run goes on and its
// counters start at zero: Prometheus reads that as a counter reset.
func (a *app) resume(ctx context.Context, m *metrics.Metrics) {
	mc := a.cfg.Metrics
	if mc.PushgatewayURL == "" {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	g, err := a.gateway()
	if err == nil {
		err = m.ResumeFrom(rctx, g, a.shardNames())
	}
	if err != nil {
		a.log.Warn("carry metric totals on from the pushgateway; counters start at zero this run", "err", err)
	}
}

// push sends a one-shot run's metrics to the Pushgateway. A failed push is logged and
// does not fail the run.
func (a *app) push(ctx context.Context, m *metrics.Metrics) {
	mc := a.cfg.Metrics
	if mc.PushgatewayURL == "" {
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	g, err := a.gateway()
	if err == nil {
		err = metrics.PushTo(pctx, g, m, a.log)
	}
	if err != nil {
		a.log.Error("push metrics", "err", err)
	}
}

// serve runs the job every serve.interval (± serve.jitter) and serves /metrics,
// /healthz and /readyz. The configuration is read once: a change on disk is reported
// in the log and /readyz, never applied silently. SIGTERM lets the table in flight
// finish, defers the rest, and shuts the server down.
func (a *app) serve(ctx context.Context) int {
	m := metrics.New().WithRuntime()
	m.Init(a.shardNames())
	var ready, stale atomic.Bool
	sum, _ := a.configSum()
	// configChanged compares the file on disk with the one janitor started with, each
	// time /readyz is asked (so a change shows at once, not at the next run) and before
	// each run. A read that fails — a ConfigMap's symlink swap — is no change.
	configChanged := func() bool {
		if stale.Load() {
			return true
		}
		if s, err := a.configSum(); err == nil && s != sum && stale.CompareAndSwap(false, true) {
			a.log.Warn("configuration file changed on disk; janitor keeps the one it started with: restart to apply", "config", a.configPath)
		}
		return stale.Load()
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry(), promhttp.HandlerOpts{}))
	a.watch = newLoopWatch(a.cfg, len(a.cfg.Shards))
	mux.HandleFunc("/healthz", a.watch.healthz)
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case configChanged():
			http.Error(w, "configuration changed on disk: restart janitor to apply it\n", http.StatusServiceUnavailable)
		case !ready.Load():
			http.Error(w, "not ready\n", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("ok\n"))
		}
	})
	ln, err := net.Listen("tcp", a.cfg.Serve.Listen)
	if err != nil {
		// Not a usage error: the port may be taken, or the address not this host's.
		a.log.Error("cannot listen on serve.listen: is another process using the port?", "addr", a.cfg.Serve.Listen, "err", err)
		return exitFailed
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server", "err", err)
		}
	}()
	a.log.Info("serving", "addr", ln.Addr().String(), "interval", a.cfg.Serve.Interval, "execute", a.cfg.Serve.Execute,
		"version", version.Version, "revision", version.GetRevision())
	ready.Store(true)
	for {
		configChanged()
		mode := report.ModeReport
		if a.cfg.Serve.Execute {
			mode = report.ModeExecute
		}
		a.watch.tick()
		a.job(ctx, m, mode)
		a.watch.tick()
		if ctx.Err() != nil {
			break
		}
		wait := a.cfg.Serve.Interval
		if j := a.cfg.Serve.Jitter; j > 0 {
			wait += time.Duration(rand.Int64N(int64(2*j))) - j
		}
		a.log.Info("next run", "in", wait.Round(time.Second))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	a.log.Info("stopped")
	return exitOK
}

// gateway is the Pushgateway group and its HTTP client (metrics.http_client, validated
// with the configuration).
func (a *app) gateway() (metrics.Gateway, error) {
	mc := a.cfg.Metrics
	c, err := httpclient.Client("metrics.http_client", mc.HTTPClient)
	return metrics.Gateway{URL: mc.PushgatewayURL, Job: mc.Job, Cluster: mc.Cluster, Client: c}, err
}

func (a *app) configSum() ([32]byte, error) {
	b, err := os.ReadFile(a.configPath)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}
