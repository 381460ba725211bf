package janitor_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/report"
)

// ghostVersion is the gh-ost the suite runs for real. v1.1.6 stops at once on MySQL 9.7.
const ghostVersion = "v1.1.8"

var (
	ghostOnce sync.Once
	ghostBin  string
	ghostErr  error
)

// ghostBinary returns gh-ost built from its own Go module (its go.mod and go.sum, as
// `go build` in the module's directory reads them), once per machine: under the user's
// cache directory, or $JANITOR_GHOST_BIN when set. `go install …@v1.1.8` asks the module
// proxy for the module's version list, which a proxy may refuse; downloading the one
// version and building in its directory does not.
func ghostBinary(t *testing.T) string {
	t.Helper()
	ghostOnce.Do(func() {
		if p := os.Getenv("JANITOR_GHOST_BIN"); p != "" {
			ghostBin = p
			return
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			ghostErr = err
			return
		}
		ghostBin = filepath.Join(cache, "janitor-test", "gh-ost-"+ghostVersion, "gh-ost")
		if _, err := os.Stat(ghostBin); err == nil {
			return
		}
		dl := exec.Command("go", "mod", "download", "-json", "github.com/github/gh-ost@"+ghostVersion)
		dl.Dir = os.TempDir() // outside janitor's module: its go.mod is not touched
		out, err := dl.Output()
		if err != nil {
			ghostErr = fmt.Errorf("download gh-ost %s: %w: %s", ghostVersion, err, out)
			return
		}
		var mod struct{ Dir, Error string }
		if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
			ghostErr = fmt.Errorf("download gh-ost %s: %v %s", ghostVersion, err, mod.Error)
			return
		}
		build := exec.Command("go", "build", "-mod=mod", "-o", ghostBin, "./go/cmd/gh-ost")
		build.Dir = mod.Dir
		build.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := build.CombinedOutput(); err != nil {
			ghostErr = fmt.Errorf("build gh-ost %s: %w: %s", ghostVersion, err, out)
		}
	})
	if ghostErr != nil {
		t.Fatal(ghostErr)
	}
	return ghostBin
}

// ghostRun is one gh-ost process.
type ghostRun struct {
	cmd    *exec.Cmd
	dir    string
	exited chan struct{}
	out    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startGhost runs gh-ost on the sandbox primary (as a replica of it: -allow-on-master),
// migrating schema.table with server id id, small chunks and no nice pause.
func startGhost(t *testing.T, db *sqlx.DB, schema, table string, id int, extra ...string) *ghostRun {
	t.Helper()
	cfg, err := mysql.ParseDSN(testdb.PrimaryDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	dir := t.TempDir()
	args := append([]string{
		"--host=" + host, "--port=" + port, "--user=" + cfg.User, "--password=" + cfg.Passwd,
		"--database=" + schema, "--table=" + table, "--alter=ADD COLUMN note INT", "--allow-on-master", "--execute",
		"--chunk-size=10", "--nice-ratio=0", "--default-retries=3", fmt.Sprintf("--replica-server-id=%d", id),
		"--serve-socket-file=" + filepath.Join(dir, "sock"),
		// Its own: gh-ost's default /tmp/gh-ost.throttle is shared by every run on the host.
		"--throttle-additional-flag-file=" + filepath.Join(dir, "throttle"),
	}, extra...)
	g := &ghostRun{cmd: exec.Command(ghostBinary(t), args...), dir: dir, exited: make(chan struct{}), out: &syncBuffer{}}
	g.cmd.Stdout, g.cmd.Stderr = g.out, g.out
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.cmd.Wait(); close(g.exited) }()
	t.Cleanup(func() {
		_ = g.cmd.Process.Kill()
		<-g.exited
		// A killed gh-ost's Binlog Dump session lingers until the server next sends it an
		// event, and would keep the next tests' gh-ost tables (binlog_client).
		endDumps(t, db, cfg.User)
		if t.Failed() {
			t.Logf("gh-ost on %s:\n%s", table, g.out.String())
		}
	})
	return g
}

func (g *ghostRun) done() bool {
	select {
	case <-g.exited:
		return true
	default:
		return false
	}
}

// command sends one interactive command over gh-ost's socket (-serve-socket-file).
func (g *ghostRun) command(t *testing.T, c string) string {
	t.Helper()
	conn, err := net.DialTimeout("unix", filepath.Join(g.dir, "sock"), 5*time.Second)
	if err != nil {
		t.Fatalf("gh-ost socket: %v\n%s", err, g.out.String())
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(conn, c); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	return b.String()
}

// lastStatus is the value of gh-ost's newest status row in its changelog.
func lastStatus(db *sqlx.DB, schema, changelog string) string {
	var v string
	_ = db.Get(&v, "SELECT value FROM "+q(schema, changelog)+" WHERE hint LIKE 'copy iteration%' ORDER BY id DESC LIMIT 1")
	return v
}

func heartbeatOlderThan(db *sqlx.DB, schema, changelog string, d time.Duration) bool {
	var secs float64
	err := db.Get(&secs, "SELECT TIMESTAMPDIFF(MICROSECOND, last_update, NOW(6)) / 1e6 FROM "+q(schema, changelog)+" WHERE hint = 'heartbeat'")
	return err == nil && secs > d.Seconds()
}

func rowCount(db *sqlx.DB, schema, table string) int {
	var n int
	_ = db.Get(&n, "SELECT COUNT(*) FROM "+q(schema, table))
	return n
}

// TestRealGhost runs gh-ost v1.1.8 against the sandbox: a migration that finished, one
// killed mid-copy, one its operator paused mid-copy (the interactive `throttle`), and one
// paused while it postpones its cut-over. A paused gh-ost writes no heartbeat: with
// min_age 0s and a heartbeat stale after 3s, each table of the two paused migrations is
// kept by report, plan and execute, while the finished and the killed ones are dead.
func TestRealGhost(t *testing.T) {
	// gh-ost v1.1.8 stops at once on MariaDB: on 10.11 it sets transaction_isolation,
	// which MariaDB knows from 11.1 (error 1193); on 11.8 its binary log library refuses
	// the server ("misconfigured flavor (mysql)") and it bails out without MySQL's
	// metadata lock instrument.
	testdb.SkipUnless(t, "gh-ost "+ghostVersion+" does not run on MariaDB (10.11: no transaction_isolation; 11.8: its binlog library refuses the flavor)", "mysql")
	db := testdb.Primary(t)
	ghostBinary(t)
	s := testdb.Schema(t, db)
	const rows = 20000
	seq := testdb.Seq(t, s, rows)
	for _, b := range []string{"finished", "killed", "paused", "postponed"} {
		n := rows
		if b == "finished" || b == "postponed" {
			n = 200
		}
		testdb.Exec(t, db, "CREATE TABLE "+q(s, b)+" (id INT PRIMARY KEY, v INT)",
			fmt.Sprintf("INSERT INTO %s SELECT seq, seq FROM %s WHERE seq <= %d", q(s, b), seq, n))
	}
	cfg := config(t, s)
	cfg.Policy.HeartbeatStaleAfter = 3 * time.Second
	verdict := func(table string) report.Table {
		return outcomes(janitor.New(cfg, nil).Report(context.Background()))[table]
	}
	user := func() string { c, _ := mysql.ParseDSN(testdb.PrimaryDSN(t)); return c.User }()
	noDump := func() bool {
		var n int
		_ = db.Get(&n, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND USER = ?", user)
		return n == 0
	}
	// A stopped client's Binlog Dump session ends when the server next sends it an
	// event: write one, as any primary in use does.
	poke := func() bool {
		testdb.Exec(t, db, "UPDATE "+q(s, "finished")+" SET v = v + 1 WHERE id = 1")
		return noDump()
	}

	// Finished: gh-ost renamed its copy over the table and left _finished_del.
	fin := startGhost(t, db, s, "finished", 99901)
	waitFor(t, "gh-ost on finished to exit", 60*time.Second, fin.done)
	if fin.cmd.ProcessState.ExitCode() != 0 {
		t.Fatalf("gh-ost on finished failed:\n%s", fin.out.String())
	}
	waitFor(t, "gh-ost's binary log session to end", 10*time.Second, poke)
	if row := verdict("_finished_del"); row.ReasonCode != string(policies.CodeDead) {
		t.Errorf("finished: _finished_del: %s %s (%s); want dead", row.Verdict, row.ReasonCode, row.Reason)
	}

	// Killed mid-copy: a throttle query holds it after its first rows, then SIGKILL.
	throttleAt := func(b string) string {
		return fmt.Sprintf("--throttle-query=SELECT COUNT(*) >= 50 FROM %s", q(s, "_"+b+"_gho"))
	}
	killed := startGhost(t, db, s, "killed", 99902, throttleAt("killed"))
	waitFor(t, "gh-ost on killed to copy and throttle", 30*time.Second, func() bool {
		return rowCount(db, s, "_killed_gho") > 0 && strings.Contains(lastStatus(db, s, "_killed_ghc"), "throttled")
	})
	_ = killed.cmd.Process.Signal(syscall.SIGKILL)
	waitFor(t, "gh-ost on killed to exit", 10*time.Second, killed.done)
	waitFor(t, "the killed gh-ost's binary log session to end", 10*time.Second, poke)
	waitFor(t, "the killed migration to be dead", 20*time.Second, func() bool {
		return verdict("_killed_gho").ReasonCode == string(policies.CodeDead) && verdict("_killed_ghc").ReasonCode == string(policies.CodeDead)
	})

	// Paused mid-copy and paused while postponing its cut-over: two migrations alive.
	paused := startGhost(t, db, s, "paused", 99903, throttleAt("paused"))
	flag := filepath.Join(t.TempDir(), "postpone")
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	postponed := startGhost(t, db, s, "postponed", 99904, "--postpone-cut-over-flag-file="+flag)
	waitFor(t, "gh-ost on paused to copy and throttle", 30*time.Second, func() bool {
		return rowCount(db, s, "_paused_gho") > 0 && strings.Contains(lastStatus(db, s, "_paused_ghc"), "throttled")
	})
	waitFor(t, "gh-ost on postponed to postpone its cut-over", 30*time.Second, func() bool {
		return strings.Contains(lastStatus(db, s, "_postponed_ghc"), "postponing cut-over")
	})
	for _, g := range []*ghostRun{paused, postponed} {
		g.command(t, "throttle")
	}
	for _, b := range []string{"paused", "postponed"} {
		cl := "_" + b + "_ghc"
		if b == "paused" { // a postponing gh-ost's status says it postpones, throttled or not
			waitFor(t, "gh-ost on "+b+" to be throttled by its operator", 15*time.Second, func() bool {
				return strings.Contains(lastStatus(db, s, cl), "commanded by user")
			})
		}
		// Throttled by its operator, gh-ost writes no heartbeat.
		waitFor(t, "the heartbeat of "+b+" to go stale", 15*time.Second, func() bool { return heartbeatOlderThan(db, s, cl, 4*time.Second) })
	}
	live := []string{"_paused_gho", "_paused_ghc", "_postponed_gho", "_postponed_ghc"}
	check := func(what string, r *report.Report) {
		t.Helper()
		got := outcomes(r)
		for _, name := range live {
			row := got[name]
			if row.Verdict != string(policies.Skip) || row.Outcome == report.OutcomeHeld || row.Outcome == report.OutcomeDropped {
				t.Errorf("%s: %s: %s %s %s (%s); want kept: its gh-ost is paused, not dead", what, name, row.Verdict, row.Outcome, row.ReasonCode, row.Reason)
			} else {
				t.Logf("%s: %s: %s (%s)", what, name, row.ReasonCode, row.Reason)
			}
		}
	}
	check("report", janitor.New(cfg, nil).Report(context.Background()))
	check("plan", janitor.New(cfg, nil).Run(context.Background(), false))
	ex := cfg
	ex.Execute.Hold = time.Hour
	check("execute", janitor.New(ex, nil).Run(context.Background(), true))
	for _, name := range live {
		if !exists(t, db, s, name) {
			t.Errorf("%s was held or dropped from under its paused gh-ost", name)
		}
	}
	// Resumed, both finish: nothing was taken from them.
	paused.command(t, "throttle-query=")
	for _, g := range []*ghostRun{paused, postponed} {
		g.command(t, "chunk-size=1000") // the rest of the copy at once: the suite's time
		g.command(t, "no-throttle")
	}
	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*ghostRun{paused, postponed} {
		waitFor(t, "a resumed gh-ost to finish", 60*time.Second, g.done)
		if g.cmd.ProcessState.ExitCode() != 0 {
			t.Errorf("a resumed gh-ost failed:\n%s", g.out.String())
		}
	}
	waitFor(t, "gh-ost's binary log sessions to end", 10*time.Second, poke)
}
