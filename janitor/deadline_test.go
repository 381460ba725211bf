package janitor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// TestTimeLimitsDeferTheRest: once execute.max_duration (from the shard's first drop)
// or execute.deadline (from the run's start) has passed, no new drop starts; the drops
// not made are deferred with the limit named, and the run does not fail.
func TestTimeLimitsDeferTheRest(t *testing.T) {
	for _, c := range []struct {
		key   string
		pause time.Duration
		set   func(*janitor.ExecuteConfig)
	}{
		// Each limit passes during the first pause.
		{"execute.max_duration", 400 * time.Millisecond, func(e *janitor.ExecuteConfig) { e.MaxDuration = 300 * time.Millisecond }},
		{"execute.deadline", 600 * time.Millisecond, func(e *janitor.ExecuteConfig) { e.Deadline = 500 * time.Millisecond }},
	} {
		t.Run(c.key, func(t *testing.T) {
			db := testdb.Primary(t)
			s := testdb.Schema(t, db)
			for _, b := range []string{"a", "b", "c"} {
				testdb.Exec(t, db, "CREATE TABLE "+q(s, b)+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__"+b+"_old")+" (id INT PRIMARY KEY)")
			}
			cfg := config(t, s)
			cfg.Execute.PauseBetweenDrops = c.pause
			c.set(&cfg.Execute)
			r := janitor.New(cfg, nil).Run(context.Background(), true)
			var dropped, deferred int
			for _, tb := range r.Shards[0].Tables {
				switch {
				case tb.Outcome == report.OutcomeDropped:
					dropped++
				case tb.Outcome == report.OutcomeDeferred && strings.Contains(tb.Reason, c.key):
					deferred++
				}
			}
			if dropped != 1 || deferred != 2 || r.Failed() || r.Shards[0].Status != report.StatusOK {
				t.Errorf("%d dropped, %d deferred by %s (failed %v, status %q); want 1, 2, ok", dropped, deferred, c.key, r.Failed(), r.Shards[0].Status)
			}
		})
	}
}

// TestShardsPastTheDeadlineAreNotVisited: a shard the run reaches after execute.deadline
// is not_visited — not contacted, not an error (the unreachable ones included: nobody
// asked them), and the run does not fail.
func TestShardsPastTheDeadlineAreNotVisited(t *testing.T) {
	cfg := config(t, "janitor_no_such_schema")
	cfg.Shards = append(cfg.Shards,
		janitor.ShardConfig{Name: "refused", DSN: "u:p@tcp(127.0.0.1:1)/"},
		janitor.ShardConfig{Name: "also-refused", DSN: "u:p@tcp(127.0.0.1:1)/"})
	cfg.Execute.Deadline = time.Nanosecond
	r := janitor.New(cfg, nil).Run(context.Background(), true)
	for _, sh := range r.Shards {
		if sh.Status != report.StatusNotVisited || sh.Error != "" || !strings.Contains(sh.Blocked, "execute.deadline") {
			t.Errorf("%s: status %q, error %q, blocked %q; want not_visited by execute.deadline", sh.Name, sh.Status, sh.Error, sh.Blocked)
		}
	}
	if r.Failed() || r.NotVisited() != 3 {
		t.Errorf("failed %v, %d not visited", r.Failed(), r.NotVisited())
	}
	// A report has no deadline: execute.deadline bounds drops.
	rep := janitor.New(cfg, nil).Report(context.Background())
	if rep.NotVisited() != 0 {
		t.Errorf("report: %d shards not visited", rep.NotVisited())
	}
}
