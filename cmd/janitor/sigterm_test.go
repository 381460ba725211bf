package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/report"
)

// TestSIGTERMMidDropFinishesItAndFails: SIGTERM arrives while a DROP waits for a lock
// another session holds (as when a node drains mid-run). The DROP in flight finishes
// once the lock goes, the rest is deferred, janitor exits 143 (not 0: an evicted
// nightly run must not look like a success) and pushes no last-success time stamp.
func TestSIGTERMMidDropFinishesItAndFails(t *testing.T) {
	bin := buildBinary(t)
	db := testdb.Primary(t)
	s, names := deadTables(t, db, 3)
	cfg, gw := pushingConfig(t, "evicted", `shards:
  - name: sandbox
    dsn: "`+testdb.PrimaryDSN(t)+`"
    replicas:
      - name: sandbox-replica
        dsn: "`+testdb.ReplicaDSN(t)+`"
discovery:
  schemas: [`+s+`]
policy:
  min_age: 0s
throttle:
  check_interval: 100ms
execute:
  hold: 0s
  lock_wait_timeout: 2m
  pause_between_drops: 0s
`)
	// Another session holds a metadata lock on every leftover: janitor's first DROP waits.
	ctx := context.Background()
	holder, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "/* janitor */ BEGIN"); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := holder.ExecContext(ctx, "/* janitor */ SELECT COUNT(*) FROM "+dbconn.QualifiedName(s, n)); err != nil {
			t.Fatal(err)
		}
	}
	r := start(t, bin, "run", "--execute", "--output", "json", "--config", cfg)
	// The hook point: the server shows janitor's DROP waiting for the lock.
	var waiting string
	deadline := time.Now().Add(2 * time.Minute)
	for waiting == "" {
		if time.Now().After(deadline) {
			t.Fatal("janitor's DROP never waited for the lock")
		}
		_ = db.Get(&waiting, "/* janitor */ SELECT COALESCE(MAX(INFO), '') FROM information_schema.PROCESSLIST WHERE INFO LIKE 'DROP /* janitor */ TABLE%' AND STATE LIKE '%metadata lock%'")
	}
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// janitor is still there, its DROP still waiting: it did not give up on SIGTERM.
	r.waitFor(t, "signal received")
	if _, err := holder.ExecContext(ctx, "/* janitor */ COMMIT"); err != nil {
		t.Fatal(err)
	}
	code, rep := r.wait(t)
	if code != 143 {
		t.Errorf("exit %d, want 143 (stopped by SIGTERM)", code)
	}
	counts := map[string]int{}
	for _, tb := range rep.Shards[0].Tables {
		counts[tb.Outcome]++
	}
	if counts[report.OutcomeDropped] != 1 || counts[report.OutcomeDeferred] != 2 {
		t.Errorf("outcomes %v, want the DROP in flight done and 2 deferred\n%s", counts, strings.Join(r.seen, "\n"))
	}
	left := 0
	for _, n := range names {
		var c int
		if err := db.Get(&c, "/* janitor */ SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", s, n); err != nil {
			t.Fatal(err)
		}
		left += c
	}
	if left != 2 {
		t.Errorf("%d tables left, want 2", left)
	}
	body := scrapeText(t, gw)
	if !strings.Contains(body, `janitor_tables_dropped_total{cluster="evicted"`) {
		t.Fatalf("nothing pushed:\n%s", body)
	}
	if strings.Contains(body, "janitor_last_success_timestamp_seconds{") {
		t.Error("a run stopped by SIGTERM pushed a last-success time stamp")
	}
}
