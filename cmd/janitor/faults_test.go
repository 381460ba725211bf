package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/report"
)

// buildBinary builds janitor once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "janitor")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// deadTables seeds n dead pt-osc old copies and returns their names.
func deadTables(t *testing.T, db *sqlx.DB, n int) (string, []string) {
	s := testdb.Schema(t, db)
	var names []string
	for i := 0; i < n; i++ {
		base := fmt.Sprintf("t%d", i)
		testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, base)+" (id INT PRIMARY KEY)",
			"CREATE TABLE "+dbconn.QualifiedName(s, "__"+base+"_old")+" (id INT PRIMARY KEY)")
		names = append(names, "__"+base+"_old")
	}
	return s, names
}

func runConfig(t *testing.T, schema, pause string) string {
	return writeConfig(t, runConfigText(t, schema, pause))
}

func runConfigText(t *testing.T, schema, pause string) string {
	return (`shards:
  - name: sandbox
    dsn: "` + testdb.PrimaryDSN(t) + `"
    replicas:
      - name: sandbox-replica
        dsn: "` + testdb.ReplicaDSN(t) + `"
discovery:
  schemas: [` + schema + `]
policy:
  min_age: 0s
throttle:
  check_interval: 100ms
  max_wait: 2m
execute:
  lock_wait_timeout: 2s
  pause_between_drops: ` + pause + `
  hold: 0s
`)
}

type running struct {
	cmd    *exec.Cmd
	stdout strings.Builder
	lines  chan string
	done   chan error
	seen   []string // log lines read so far
}

// start runs the binary and streams its stderr (the logs) line by line.
func start(t *testing.T, bin string, args ...string) *running {
	t.Helper()
	r := &running{cmd: exec.Command(bin, args...), lines: make(chan string, 1000), done: make(chan error, 1)}
	r.cmd.Stdout = &r.stdout
	stderr, err := r.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.cmd.Process.Kill() })
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
		close(r.lines)
		r.done <- r.cmd.Wait()
	}()
	return r
}

// waitFor reads log lines until one contains s.
func (r *running) waitFor(t *testing.T, s string) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-r.lines:
			if !ok {
				t.Fatalf("janitor exited before logging %q", s)
			}
			r.seen = append(r.seen, line)
			if strings.Contains(line, s) {
				return
			}
		case <-timeout:
			t.Fatalf("no %q logged within 2 minutes", s)
		}
	}
}

func (r *running) wait(t *testing.T) (int, *report.Report) {
	t.Helper()
	timeout := time.After(3 * time.Minute)
	for line := range r.lines {
		r.seen = append(r.seen, line)
	}
	var err error
	select {
	case err = <-r.done:
	case <-timeout:
		t.Fatal("janitor did not exit")
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(r.stdout.String()), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, r.stdout.String())
	}
	return code, &rep
}

func TestSIGTERMStopsBetweenTables(t *testing.T) {
	bin := buildBinary(t)
	db := testdb.Primary(t)
	s, names := deadTables(t, db, 5)
	r := start(t, bin, "run", "--execute", "--output", "json", "--config", runConfig(t, s, "30s"))
	r.waitFor(t, "msg=dropped")
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, rep := r.wait(t)
	if code != 143 {
		t.Errorf("exit %d, want 143: stopped by SIGTERM, which is not a success", code)
	}
	counts := map[string]int{}
	for _, tb := range rep.Shards[0].Tables {
		counts[tb.Outcome]++
		if tb.Outcome == report.OutcomeDeferred && !strings.Contains(tb.Reason, "signal") {
			t.Errorf("%s deferred for %q, want the signal named", tb.Table, tb.Reason)
		}
	}
	if counts[report.OutcomeDropped] != 1 || counts[report.OutcomeDeferred] != 4 {
		t.Errorf("outcomes %v, want 1 dropped and 4 deferred", counts)
	}
	left := 0
	for _, n := range names {
		var c int
		if err := db.Get(&c, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", s, n); err != nil {
			t.Fatal(err)
		}
		left += c
	}
	if left != 4 {
		t.Errorf("%d tables left, want 4", left)
	}
	// The lock was released: a rerun finishes the job.
	code, rep = start(t, bin, "run", "--execute", "--output", "json", "--config", runConfig(t, s, "0s")).wait(t)
	dropped := 0
	for _, tb := range rep.Shards[0].Tables {
		if tb.Outcome == report.OutcomeDropped {
			dropped++
		}
	}
	if code != 0 || dropped != 4 {
		t.Errorf("rerun: exit %d, %d dropped, want 0 and 4", code, dropped)
	}
}

// TestPrimaryRestartMidRun restarts the sandbox primary between two drops: janitor
// reconnects by itself, checks it is the same server, and finishes; nothing is dropped
// twice and nothing fails.
func TestPrimaryRestartMidRun(t *testing.T) {
	sandbox, err := filepath.Abs("../../scripts/sandbox.sh")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildBinary(t)
	db := testdb.Primary(t)
	s, names := deadTables(t, db, 4)
	// The restart must not make tables look new: MariaDB's CREATE_TIME is the .frm's
	// ctime, which a chown -R in the start script would reset.
	createdOf := func() string {
		var c string
		if err := db.Get(&c, "SELECT CAST(CREATE_TIME AS CHAR) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 't0'", s); err != nil {
			t.Fatal(err)
		}
		return c
	}
	created := createdOf()
	r := start(t, bin, "run", "--execute", "--output", "json", "--config", runConfig(t, s, "1s"))
	r.waitFor(t, "msg=dropped")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, sandbox, "restart", "primary").CombinedOutput(); err != nil {
		t.Fatalf("restart primary: %v\n%s", err, out)
	}
	code, rep := r.wait(t)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if !strings.Contains(strings.Join(r.seen, "\n"), "connection lost; reconnecting") {
		t.Errorf("the dropping connection never had to reconnect; the test did not test that:\n%s", strings.Join(r.seen, "\n"))
	}
	dropped := 0
	for _, tb := range rep.Shards[0].Tables {
		if tb.Outcome == report.OutcomeDropped {
			dropped++
		} else {
			t.Errorf("%s: %s (%s)", tb.Table, tb.Outcome, tb.Reason)
		}
	}
	if dropped != len(names) {
		t.Errorf("%d dropped, want %d", dropped, len(names))
	}
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.Get(&left, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", s); err != nil {
		t.Fatal(err)
	}
	if left != len(names) { // the bases remain
		t.Errorf("%d tables left, want the %d bases", left, len(names))
	}
	if after := createdOf(); after != created {
		t.Errorf("restarting the primary moved CREATE_TIME from %s to %s", created, after)
	}
	// The replica followed the restart and carried every DROP.
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	testdb.WaitReplicaWithin(t, db, replica, 60)
	if err := replica.Get(&left, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", s); err != nil || left != len(names) {
		t.Errorf("replica: %d tables left (%v)", left, err)
	}
}

// TestKilledJanitorRerunIsSafe: SIGKILL gives janitor no chance to clean up. Its lock
// dies with its connection, and a rerun finishes the job without touching anything
// twice.
func TestKilledJanitorRerunIsSafe(t *testing.T) {
	bin := buildBinary(t)
	db := testdb.Primary(t)
	s, names := deadTables(t, db, 4)
	r := start(t, bin, "run", "--execute", "--output", "json", "--config", runConfig(t, s, "30s"))
	r.waitFor(t, "msg=dropped")
	if err := r.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r.done
	code, rep := start(t, bin, "run", "--execute", "--output", "json", "--config", runConfig(t, s, "0s")).wait(t)
	if code != 0 {
		t.Errorf("rerun exit %d", code)
	}
	dropped := 0
	for _, tb := range rep.Shards[0].Tables {
		if tb.Outcome == report.OutcomeDropped {
			dropped++
		}
	}
	if dropped != len(names)-1 || len(rep.Shards[0].Tables) != len(names)-1 {
		t.Errorf("rerun saw %d leftovers and dropped %d, want %d and %d", len(rep.Shards[0].Tables), dropped, len(names)-1, len(names)-1)
	}
}
