package main

import (
	"testing"
	"time"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/metrics"
)

// TestEveryProgressHookTicksTheWatch: under serve, a drop, a hold, a throttle wait and a
// purge batch each tick the schedule loop's watch. Holds (execute.hold, the default) did
// not: a long run of holds looked like a stuck loop to /healthz.
func TestEveryProgressHookTicksTheWatch(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	w := &loopWatch{budget: time.Hour, now: func() time.Time { return now }}
	h := runHooks(metrics.New(), w)
	for _, c := range []struct {
		name string
		set  bool
		fire func()
	}{
		{"Dropped", h.Dropped != nil, func() { h.Dropped("s1", "pt-osc", 1) }},
		{"HoldMoved", h.HoldMoved != nil, func() {
			h.HoldMoved(discovery.HoldMove{Shard: "s1", Tool: "pt-osc", From: discovery.HoldRecorded, To: discovery.HoldRenamed})
		}},
		{"ThrottleWait", h.ThrottleWait != nil, func() { h.ThrottleWait("s1", "threads_running", time.Second) }},
		{"PurgeBatch", h.PurgeBatch != nil, func() { h.PurgeBatch("s1", "shop", "__orders_old", 0) }},
	} {
		if !c.set {
			t.Errorf("Hooks.%s is not set", c.name)
			continue
		}
		w.tick()
		now = now.Add(time.Minute)
		c.fire()
		if q := w.quiet(); q != 0 {
			t.Errorf("Hooks.%s: the watch has been quiet for %s since, want a tick", c.name, q)
		}
	}
	if h := runHooks(metrics.New(), nil); h.PurgeBatch != nil {
		t.Error("outside serve, nothing watches progress")
	}
}
