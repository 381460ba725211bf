package main

import (
	"encoding/json"
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
	if code != 0 || !strings.Contains(stdout, "restored") || !strings.Contains(stdout, orig) || !strings.Contains(stdout, "later runs keep it") {
		t.Fatalf("restore: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, _, stderr = runCLI(t, "restore", "--config", path, "--shard", "sandbox", s+"."+orig)
	if code != exitFailed || !strings.Contains(stderr, "not held by janitor") {
		t.Errorf("second restore: exit %d, %s", code, stderr)
	}

	// The other two held, then, once their holds end, dropped; the restored one is kept
	// by the marker restore left in its comment, by new processes that know nothing else.
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
		if tb.Table == orig && (tb.Outcome != report.OutcomeSkipped || tb.ReasonCode != "restored") {
			t.Errorf("the restored table in the second run: %+v, want skipped as restored", tb)
		}
	}
	if code != 0 || n != len(names)-1 {
		t.Fatalf("second run: exit %d, %d held, want %d", code, n, len(names)-1)
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
	if code != 0 || dropped != len(names)-1 {
		t.Errorf("after the holds: exit %d, %d dropped, want %d", code, dropped, len(names)-1)
	}
	var left int
	if err := db.Get(&left, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", s, orig); err != nil || left != 1 {
		t.Errorf("the restored table after the holds: %d, %v", left, err)
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

// TestHoldNameField: the JSON row of the run that holds a table gives the hold name in
// hold_name (before, only the reason's prose had it), and it is the name the table has
// on the server; in a later report the row of the held table carries the same hold_name.
func TestHoldNameField(t *testing.T) {
	db := testdb.Primary(t)
	s, names := deadTables(t, db, 1)
	path := writeConfig(t, strings.Replace(runConfigText(t, s, "0s"), "hold: 0s", "hold: 1h", 1))
	code, stdout, stderr := runCLI(t, "run", "--execute", "--output", "json", "--no-notify", "--config", path)
	if code != exitOK {
		t.Fatalf("run --execute: exit %d\n%s", code, stderr)
	}
	row := jsonRow(t, stdout, names[0])
	if row.Outcome != report.OutcomeHeld || row.HoldName == "" || !strings.Contains(row.Reason, row.HoldName) {
		t.Fatalf("held row: outcome %q, hold_name %q, reason %q", row.Outcome, row.HoldName, row.Reason)
	}
	var n int
	if err := db.Get(&n, `SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, s, row.HoldName); err != nil || n != 1 {
		t.Errorf("hold_name %q is not on the server (%d, %v)", row.HoldName, n, err)
	}
	code, stdout, stderr = runCLI(t, "report", "--output", "json", "--no-notify", "--config", path)
	if code != exitOK {
		t.Fatalf("report: exit %d\n%s", code, stderr)
	}
	if later := jsonRow(t, stdout, row.HoldName); later.HoldName != row.HoldName || later.OriginalTable != names[0] {
		t.Errorf("later report's row: hold_name %q, original_table %q; want %q, %q", later.HoldName, later.OriginalTable, row.HoldName, names[0])
	}
}

// jsonRow finds table's row in a JSON report of one shard.
func jsonRow(t *testing.T, js, table string) report.Table {
	t.Helper()
	var r report.Report
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		t.Fatalf("%v\n%s", err, js)
	}
	for _, s := range r.Shards {
		for _, tb := range s.Tables {
			if tb.Table == table {
				return tb
			}
		}
	}
	t.Fatalf("no row for %s in\n%s", table, js)
	return report.Table{}
}
