package main

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/janitorhq/janitor/janitor"
)

// loopWatch tells /healthz whether serve's schedule loop still moves. The loop ticks
// when it starts and ends a run and at every sign of progress inside one (a drop, a
// throttle wait); a loop that has not ticked for longer than the longest quiet stretch
// the configuration allows is stuck, and /healthz fails so that Kubernetes restarts the
// pod (with SIGTERM: the statement in flight finishes).
type loopWatch struct {
	last   atomic.Int64 // Unix nanoseconds of the last tick
	budget time.Duration
	now    func() time.Time
}

func newLoopWatch(cfg janitor.Config, shards int) *loopWatch {
	w := &loopWatch{budget: quietBudget(cfg, shards), now: time.Now}
	w.tick()
	return w
}

// quietBudget is the longest the loop may go without a tick: the wait between runs
// (interval + jitter), discovery of every shard (shard_timeout per wave of
// discovery.concurrency shards), then the longest stretch between two drops (the throttle
// wait, the lock wait, the DROP, the pause), and a margin for Slack and reconnects.
func quietBudget(cfg janitor.Config, shards int) time.Duration {
	conc := max(cfg.Discovery.Concurrency, 1)
	waves := time.Duration(max((shards+conc-1)/conc, 1))
	return cfg.Serve.Interval + cfg.Serve.Jitter + waves*cfg.Discovery.ShardTimeout +
		cfg.Throttle.MaxWait + cfg.Execute.LockWaitTimeout + cfg.Execute.DropTimeout +
		cfg.Execute.PauseBetweenDrops + 15*time.Minute
}

func (w *loopWatch) tick() { w.last.Store(w.now().UnixNano()) }

// quiet is how long the loop has not ticked.
func (w *loopWatch) quiet() time.Duration { return w.now().Sub(time.Unix(0, w.last.Load())) }

// healthz answers 200 while the loop moves, 503 once it has been quiet too long.
func (w *loopWatch) healthz(rw http.ResponseWriter, _ *http.Request) {
	if q := w.quiet(); q > w.budget {
		http.Error(rw, "schedule loop stuck: no progress for "+q.Round(time.Second).String()+
			" (allowed "+w.budget.Round(time.Second).String()+")\n", http.StatusServiceUnavailable)
		return
	}
	_, _ = rw.Write([]byte("ok\n"))
}
