package main

import (
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/report"
)

// TestKill9BetweenHoldAndDrop: janitor is killed with SIGKILL right after its first
// hold. A new process, knowing nothing but the shard, reports the hold with its original
// name, restores it with `janitor restore`, and, once the holds end, drops them all.
func TestKill9BetweenHoldAndDrop(t *testing.T) {
	bin := buildBinary(t)
	db := testdb.Primary(t)
	s, names := deadTables(t, db, 3)
	cfg := strings.Replace(runConfigText(t, s, "30s"), "hold: 0s", "hold: 2s", 1)
	path := writeConfig(t, cfg)

	r := start(t, bin, "run", "--execute", "--output", "json", "--config", path)
	r.waitFor(t, "msg=held")
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r.done

	var held []string
	if err := db.Select(&held, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE '\_janitor\_hold\_%'`, s); err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 {
		t.Fatalf("held after the kill: %v, want one", held)
	}
	code, rep := start(t, bin, "report", "--output", "json", "--config", path).wait(t)
	var orig string
	for _, tb := range rep.Shards[0].Tables {
		if tb.Table == held[0] {
			orig = tb.OriginalTable
			if tb.HeldUntil == nil || tb.Tool != "janitor" {
				t.Errorf("report row of the held table: %+v", tb)
			}
		}
	}
	if code != 0 || orig == "" {
		t.Fatalf("report after the kill: exit %d, original %q", code, orig)
	}

	code, stdout, stderr := runCLI(t, "restore", "--config", path, "--shard", "sandbox", s+"."+orig)
	if code != 0 || !strings.Contains(stdout, "restored") || !strings.Contains(stdout, orig) {
		t.Fatalf("restore: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "restore", "--config", path, "--shard", "sandbox", s+"."+orig)
	if code != exitFailed || !strings.Contains(stderr, "not held by janitor") {
		t.Errorf("second restore: exit %d, %s", code, stderr)
	}

	// All three held, then, once their holds end, dropped.
	fast := writeConfig(t, strings.Replace(cfg, "pause_between_drops: 30s", "pause_between_drops: 0s", 1))
	code, rep = start(t, bin, "run", "--execute", "--output", "json", "--config", fast).wait(t)
	var until time.Time
	n := 0
	for _, tb := range rep.Shards[0].Tables {
		if tb.Outcome == report.OutcomeHeld {
			n++
			if tb.HeldUntil.After(until) {
				until = *tb.HeldUntil
			}
		}
	}
	if code != 0 || n != len(names) {
		t.Fatalf("second run: exit %d, %d held, want %d", code, n, len(names))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var now time.Time
		if err := db.Get(&now, "SELECT UTC_TIMESTAMP()"); err != nil {
			t.Fatal(err)
		}
		if now.After(until) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server clock did not pass the hold end")
		}
		time.Sleep(100 * time.Millisecond) // polling the server's clock, with a deadline
	}
	code, rep = start(t, bin, "run", "--execute", "--output", "json", "--config", fast).wait(t)
	dropped := 0
	for _, tb := range rep.Shards[0].Tables {
		if tb.Outcome == report.OutcomeDropped {
			dropped++
		}
	}
	if code != 0 || dropped != len(names) {
		t.Errorf("after the holds: exit %d, %d dropped, want %d", code, dropped, len(names))
	}
}

// TestRestoreUsage: restore names what it needs.
func TestRestoreUsage(t *testing.T) {
	code, _, stderr := runCLI(t, "restore", "--config", "x.yaml", "s.t")
	if code != exitUsage || !strings.Contains(stderr, "--shard") {
		t.Errorf("exit %d: %s", code, stderr)
	}
	if s, tb, ok := splitQuoted("`a.b`.`c``d.e`"); !ok || s != "a.b" || tb != "c`d.e" {
		t.Errorf("splitQuoted: %q %q %v", s, tb, ok)
	}
}
