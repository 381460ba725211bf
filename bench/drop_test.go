//go:build bench

package bench

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// sysbenchLine is one --report-interval line: "[ 12s ] thds: 4 tps: 201.00 ... lat (ms,99%): 31.94 ..."
var sysbenchLine = regexp.MustCompile(`tps: ([0-9.]+) .*lat \(ms,99%\): ([0-9.]+)`)

type second struct {
	at       time.Time
	tps, p99 float64
}

// load runs sysbench oltp_read_write until ctx ends, recording one sample a second.
type load struct {
	mu      sync.Mutex
	samples []second
	done    chan struct{}
}

func sysbenchArgs(t *testing.T, cmd string, extra ...string) []string {
	cfg, err := dbconn.ParseDSN(testdb.PrimaryDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	args := []string{"oltp_read_write", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + port,
		"--mysql-user=" + cfg.User, "--mysql-password=" + cfg.Passwd, "--mysql-db=sbtest", "--tables=4", "--table-size=100000"}
	return append(append(args, extra...), cmd)
}

func startLoad(ctx context.Context, t *testing.T) *load {
	l := &load{done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, "sysbench", sysbenchArgs(t, "run", "--threads=4", "--time=0", "--report-interval=1", "--percentile=99")...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("sysbench: %v (apt-get install sysbench)", err)
	}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := sysbenchLine.FindStringSubmatch(sc.Text()); m != nil {
				tps, _ := strconv.ParseFloat(m[1], 64)
				p99, _ := strconv.ParseFloat(m[2], 64)
				l.mu.Lock()
				l.samples = append(l.samples, second{time.Now(), tps, p99})
				l.mu.Unlock()
			}
		}
		_ = cmd.Wait()
	}()
	return l
}

func (l *load) window(from, to time.Time) (tps, p99med, p99max float64, n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ts, ps []float64
	for _, s := range l.samples {
		if s.at.After(from) && !s.at.After(to) {
			ts, ps = append(ts, s.tps), append(ps, s.p99)
		}
	}
	if len(ts) == 0 {
		return 0, 0, 0, 0
	}
	sort.Float64s(ts)
	sort.Float64s(ps)
	return ts[len(ts)/2], ps[len(ps)/2], ps[len(ps)-1], len(ts)
}

// lagSampler polls the replica's lag every 200 ms. The func it returns gives the
// largest lag seen since its previous call, so each phase of a run gets its own maximum.
// MySQL 8.4+ has only SHOW REPLICA STATUS and its Seconds_Behind_Source; MariaDB 10.5+
// takes SHOW REPLICA STATUS too but keeps the column name Seconds_Behind_Master.
func lagSampler(ctx context.Context, t *testing.T, replica *sqlx.DB) func() int64 {
	var mu sync.Mutex
	worst := int64(-1) // -1: never read
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rows, err := replica.QueryxContext(ctx, "SHOW /* janitor-bench */ REPLICA STATUS")
			if err != nil {
				continue
			}
			m := map[string]any{}
			if rows.Next() {
				_ = rows.MapScan(m)
			}
			rows.Close()
			v, ok := m["Seconds_Behind_Source"]
			if !ok {
				v = m["Seconds_Behind_Master"]
			}
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			if n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64); err == nil {
				mu.Lock()
				worst = max(worst, n)
				mu.Unlock()
			}
		}
	}()
	return func() int64 {
		mu.Lock()
		defer mu.Unlock()
		n := worst
		worst = -1
		return n
	}
}

// du is the on-disk size of a schema's directory.
func du(t *testing.T, db *sqlx.DB, schema string) int64 {
	var dir string
	if err := db.Get(&dir, "SELECT @@datadir"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("du", "-sb", testdb.DataPath(false, filepath.Join(dir, schema))).Output()
	if err != nil {
		t.Fatalf("du: %v", err)
	}
	n, _ := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	return n
}

// logRecorder keeps janitor's log records, so the benchmark can time each hold and DROP
// from janitor's own "holding"/"held" and "dropped ... elapsed" lines.
type logRecorder struct {
	mu   sync.Mutex
	recs []loggedRecord
}

type loggedRecord struct {
	at    time.Time
	msg   string
	attrs map[string]string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	rec := loggedRecord{at: r.Time, msg: r.Message, attrs: map[string]string{}}
	r.Attrs(func(a slog.Attr) bool { rec.attrs[a.Key] = a.Value.String(); return true })
	l.mu.Lock()
	l.recs = append(l.recs, rec)
	l.mu.Unlock()
	return nil
}

// spans returns, for each table, the time from a record with message from to the next
// record with message to (by the "table" attribute): how many, their total and the longest.
func (l *logRecorder) spans(from, to string) (n int, total, worst time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	open := map[string]time.Time{}
	for _, r := range l.recs {
		switch r.msg {
		case from:
			open[r.attrs["table"]] = r.at
		case to:
			if at, ok := open[r.attrs["table"]]; ok {
				d := r.at.Sub(at)
				n, total = n+1, total+d
				if d > worst {
					worst = d
				}
				delete(open, r.attrs["table"])
			}
		}
	}
	return n, total, worst
}

// elapsed sums the "elapsed" attribute of the records with message msg.
func (l *logRecorder) elapsed(msg string) (n int, total, worst time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.msg != msg {
			continue
		}
		if d, err := time.ParseDuration(r.attrs["elapsed"]); err == nil {
			n, total = n+1, total+d
			if d > worst {
				worst = d
			}
		}
	}
	return n, total, worst
}

// stmtStats is what performance_schema's statement digests say of one kind of statement
// on one schema's tables.
type stmtStats struct {
	kind         string
	count        int64
	total, worst time.Duration
}

// digestsOn reports whether performance_schema records statement digests on db (MySQL's
// default; MariaDB with performance_schema=ON, scripts/sandbox.sh JANITOR_SANDBOX_PFS=ON),
// and clears them so the next read covers one phase.
func digestsOn(t *testing.T, db *sqlx.DB) bool {
	var on int
	if err := db.Get(&on, "SELECT /* janitor-bench */ @@performance_schema"); err != nil || on == 0 {
		return false
	}
	if _, err := db.Exec("TRUNCATE /* janitor-bench */ TABLE performance_schema.events_statements_summary_by_digest"); err != nil {
		t.Logf("statement digests not cleared: %v", err)
		return false
	}
	return true
}

// digests reads the ALTER, RENAME and DROP statements on schema's tables since digestsOn.
func digests(t *testing.T, db *sqlx.DB, schema string) []stmtStats {
	var rows []struct {
		Kind  string `db:"kind"`
		Count int64  `db:"n"`
		Sum   int64  `db:"sum_ps"`
		Max   int64  `db:"max_ps"`
	}
	// Digest text is normalized ("ALTER TABLE `s` . `t` COMMENT = ? ..."), identifiers kept.
	err := db.Select(&rows, `SELECT /* janitor-bench */ SUBSTRING_INDEX(DIGEST_TEXT, ' ', 1) AS kind,
		CAST(SUM(COUNT_STAR) AS SIGNED) AS n, CAST(SUM(SUM_TIMER_WAIT) AS SIGNED) AS sum_ps, CAST(MAX(MAX_TIMER_WAIT) AS SIGNED) AS max_ps
		FROM performance_schema.events_statements_summary_by_digest
		WHERE (DIGEST_TEXT LIKE 'ALTER TABLE%' OR DIGEST_TEXT LIKE 'RENAME TABLE%' OR DIGEST_TEXT LIKE 'DROP TABLE%')
		AND DIGEST_TEXT LIKE ? GROUP BY kind ORDER BY kind`, "%`"+schema+"`%")
	if err != nil {
		t.Logf("statement digests: %v", err)
		return nil
	}
	out := make([]stmtStats, 0, len(rows))
	for _, r := range rows {
		out = append(out, stmtStats{r.Kind, r.Count, time.Duration(r.Sum / 1000), time.Duration(r.Max / 1000)})
	}
	return out
}

// janitorStmts reads, from the statement digests since digestsOn, the statements janitor
// sent (their sample text carries "/* janitor */"; digest text drops comments), the
// slowest total first: where janitor's own time on the primary goes. MySQL only: MariaDB's
// digest summary has no sample text.
func janitorStmts(t *testing.T, db *sqlx.DB) (count int64, total time.Duration, top []string) {
	var rows []struct {
		Text  string `db:"txt"`
		Count int64  `db:"n"`
		Sum   int64  `db:"sum_ps"`
		Max   int64  `db:"max_ps"`
	}
	err := db.Select(&rows, `SELECT /* janitor-bench */ LEFT(DIGEST_TEXT, 110) AS txt, CAST(COUNT_STAR AS SIGNED) AS n,
		CAST(SUM_TIMER_WAIT AS SIGNED) AS sum_ps, CAST(MAX_TIMER_WAIT AS SIGNED) AS max_ps
		FROM performance_schema.events_statements_summary_by_digest
		WHERE QUERY_SAMPLE_TEXT LIKE '%/* janitor */%' ORDER BY SUM_TIMER_WAIT DESC`)
	if err != nil {
		t.Logf("janitor's statements from the digests: %v", err)
		return 0, 0, nil
	}
	for i, r := range rows {
		count, total = count+r.Count, total+time.Duration(r.Sum/1000)
		if i < 8 {
			top = append(top, fmt.Sprintf("| %s | %d | %s | %s |", strings.ReplaceAll(r.Text, "|", `\|`), r.Count,
				time.Duration(r.Sum/1000).Round(time.Microsecond), time.Duration(r.Max/1000).Round(time.Microsecond)))
		}
	}
	return count, total, top
}

// pairs returns, per table, the span from a record with message from to the next with
// message to.
func (l *logRecorder) pairs(from, to string) [][2]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	open := map[string]time.Time{}
	var out [][2]time.Time
	for _, r := range l.recs {
		switch r.msg {
		case from:
			open[r.attrs["table"]] = r.at
		case to:
			if at, ok := open[r.attrs["table"]]; ok {
				out = append(out, [2]time.Time{at, r.at})
				delete(open, r.attrs["table"])
			}
		}
	}
	return out
}

// split divides the 1 s samples in [from, to] between those whose second (the second
// before the sample was printed) overlaps one of spans and the others, and gives the
// median and worst p99 of each: whether the latency the load saw in a phase sits in the
// seconds of a statement or in the seconds between.
func (l *load) split(from, to time.Time, spans [][2]time.Time) (inMed, inMax float64, inN int, outMed, outMax float64, outN int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var in, out []float64
	for _, s := range l.samples {
		if !s.at.After(from) || s.at.After(to) {
			continue
		}
		hit := false
		for _, sp := range spans {
			if sp[0].Before(s.at) && sp[1].After(s.at.Add(-time.Second)) {
				hit = true
				break
			}
		}
		if hit {
			in = append(in, s.p99)
		} else {
			out = append(out, s.p99)
		}
	}
	med := func(v []float64) (float64, float64) {
		if len(v) == 0 {
			return 0, 0
		}
		sort.Float64s(v)
		return v[len(v)/2], v[len(v)-1]
	}
	inMed, inMax = med(in)
	outMed, outMax = med(out)
	return inMed, inMax, len(in), outMed, outMax, len(out)
}

// TestDropUnderLoad: sysbench oltp_read_write on the primary; janitor run --execute with
// the default hold renames several hundred MB of leftovers to hold names (a comment change
// and a RENAME each), then a later run — its clock moved past the hold's end — drops them.
// Each phase is compared with a baseline of the load alone in the same run.
func TestDropUnderLoad(t *testing.T) {
	db := testdb.Primary(t)
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	const schema = "bench_drops"
	tables, perTable := 8, 60
	if v := os.Getenv("JANITOR_BENCH_DROP_MB"); v != "" {
		total, _ := strconv.Atoi(v)
		perTable = total / tables
	}
	prepare(t, db, schema)
	start := time.Now()
	rows := perTable << 20 / 1100 // ~1.1 KB a row on disk
	for i := 0; i < tables; i++ {
		base := fmt.Sprintf("big%d", i)
		testdb.Exec(t, db, "CREATE TABLE "+q(schema, base)+" (id BIGINT PRIMARY KEY, pad VARCHAR(1000))",
			"CREATE TABLE "+q(schema, "__"+base+"_old")+" LIKE "+q(schema, base),
			fmt.Sprintf("INSERT INTO %s SELECT seq, REPEAT('x', 1000) FROM %s", q(schema, "__"+base+"_old"), testdb.Seq(t, schema, rows)))
	}
	testdb.WaitReplica(t, db, replica)
	t.Logf("leftovers ready in %s", time.Since(start).Round(time.Second))

	cfg := janitor.Defaults()
	cfg.Shards = []janitor.ShardConfig{{Name: "bench", DSN: testdb.PrimaryDSN(t),
		Replicas: []janitor.ReplicaConfig{{Name: "replica", DSN: testdb.ReplicaDSN(t)}}}}
	cfg.Discovery.Schemas = []string{schema}
	cfg.Policy.MinAge = 0
	// The default pause between DROPs, as a production run has it: the drop phase is
	// then what a DBA's load sees. JANITOR_BENCH_PAUSE sets another (1s: the runs of
	// docs/benchmarks.md before 2026-12-08, a DROP in nearly every second).
	if v := os.Getenv("JANITOR_BENCH_PAUSE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("JANITOR_BENCH_PAUSE=%q: %v", v, err)
		}
		cfg.Execute.PauseBetweenDrops = d
	}
	cfg.Throttle.MaxReplicaLag = 2 * time.Second
	cfg.Throttle.MaxThreadsRunning = 30
	// The default hold, as a production run has it: the first run holds, a later one drops.
	if cfg.Execute.Hold != janitor.DefaultHold || cfg.Execute.Hold <= 0 {
		t.Fatalf("execute.hold defaults to %s, want janitor.DefaultHold %s > 0: this benchmark measures a hold, then its DROP", cfg.Execute.Hold, janitor.DefaultHold)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	before := du(t, db, schema)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := startLoad(ctx, t)
	maxLag := lagSampler(ctx, t, replica)
	time.Sleep(25 * time.Second) // the baseline window: load alone
	baseFrom, baseTo := time.Now().Add(-20*time.Second), time.Now()
	maxLag()

	// Phase 1: run --execute holds every leftover (comment change + RENAME each).
	holdLog := &logRecorder{}
	holdPFS := digestsOn(t, db)
	holdFrom := time.Now()
	holdRep := janitor.New(cfg, slog.New(holdLog)).Run(ctx, true)
	holdTo := time.Now()
	lagHold := maxLag()
	var holdStmts []stmtStats
	if holdPFS {
		holdStmts = digests(t, db, schema)
	}
	afterHold := du(t, db, schema)

	// A quiet gap, so the hold phase's tail does not fall in the drop phase's window.
	time.Sleep(5 * time.Second)
	maxLag()

	// Phase 2: a later run, its clock past the hold's end, drops the held tables.
	dropLog := &logRecorder{}
	dropPFS := digestsOn(t, db)
	j := janitor.New(cfg, slog.New(dropLog))
	j.ClockShift = cfg.Execute.Hold + time.Hour
	dropFrom := time.Now()
	dropRep := j.Run(ctx, true)
	dropTo := time.Now()
	lagDrop := maxLag()
	var dropStmts []stmtStats
	var jN int64
	var jTotal time.Duration
	var jTop []string
	if dropPFS {
		dropStmts = digests(t, db, schema)
		jN, jTotal, jTop = janitorStmts(t, db)
	}
	// The load alone again: the machine's own load drifts over a run (other jobs), and
	// a phase is compared with the baselines before and after it.
	time.Sleep(17 * time.Second)
	postFrom, postTo := time.Now().Add(-15*time.Second), time.Now()
	cancel()
	<-l.done
	after := du(t, db, schema)

	if holdRep.Failed() || dropRep.Failed() || dropRep.ReclaimedBytes == nil {
		t.Fatalf("run failed: hold %+v\ndrop %+v", holdRep.Shards, dropRep.Shards)
	}
	bt, bp, bpx, bn := l.window(baseFrom, baseTo)
	at, ap, apx, an := l.window(postFrom, postTo)
	// Widen each phase's window by a second either side so a short phase is seen.
	ht, hp, hpx, hn := l.window(holdFrom.Add(-time.Second), holdTo.Add(time.Second))
	dt, dp, dpx, dn := l.window(dropFrom.Add(-time.Second), dropTo.Add(time.Second))
	hsN, hsTot, hsMax := holdLog.spans("holding", "held")
	drN, drTot, drMax := dropLog.elapsed("dropped")
	inMed, inMax, inN, outMed, outMax, outN := l.split(dropFrom.Add(-time.Second), dropTo.Add(time.Second), dropLog.pairs("dropping", "dropped"))
	var stmts strings.Builder
	for _, p := range []struct {
		phase string
		ss    []stmtStats
	}{{"hold", holdStmts}, {"drop", dropStmts}} {
		for _, s := range p.ss {
			fmt.Fprintf(&stmts, "| %s | %s | %d | %s | %s | %s |\n", p.phase, s.kind, s.count, s.total.Round(time.Microsecond),
				(s.total / time.Duration(max(s.count, 1))).Round(time.Microsecond), s.worst.Round(time.Microsecond))
		}
	}
	if stmts.Len() == 0 {
		stmts.WriteString("| (performance_schema off: no statement digests) | | | | | |\n")
	}
	t.Logf("\n%d leftovers, %s reported, %s freed on disk (du of the schema directory: %d → %d after the hold → %d bytes)\n\n"+
		"| window | janitor time | seconds sampled | tps (median) | p99 latency, median of 1 s windows | p99, worst 1 s window | max replica lag |\n|---|---:|---:|---:|---:|---:|---:|\n"+
		"| baseline: sysbench alone | 20s | %d | %.0f | %.1f ms | %.1f ms | |\n"+
		"| hold: run --execute, execute.hold %s | %s | %d | %.0f | %.1f ms | %.1f ms | %d s |\n"+
		"| drop: a later run --execute | %s | %d | %.0f | %.1f ms | %.1f ms | %d s |\n\n"+
		"ratios phase/baseline: hold tps %.2f, p99 median %.2f, p99 worst %.2f; drop tps %.2f, p99 median %.2f, p99 worst %.2f "+
		"(replica lag limit %s, pause_between_drops %s); freed/reported %.3f\n\n"+
		"janitor's log: %d holds, \"holding\"→\"held\" (RENAME, access baseline, comment) %s total, %s worst; %d DROPs, %s total, %s worst\n\n"+
		"statements on the leftovers (performance_schema digests):\n\n| phase | statement | count | total | mean | worst |\n|---|---|---:|---:|---:|---:|\n%s",
		len(dropRep.Shards[0].Tables), mb(*dropRep.ReclaimedBytes), mb(before-after), before, afterHold, after,
		bn, bt, bp, bpx,
		cfg.Execute.Hold, holdTo.Sub(holdFrom).Round(100*time.Millisecond), hn, ht, hp, hpx, lagHold,
		dropTo.Sub(dropFrom).Round(100*time.Millisecond), dn, dt, dp, dpx, lagDrop,
		ht/bt, hp/bp, hpx/bpx, dt/bt, dp/bp, dpx/bpx, cfg.Throttle.MaxReplicaLag, cfg.Execute.PauseBetweenDrops,
		float64(before-after)/float64(*dropRep.ReclaimedBytes),
		hsN, hsTot.Round(time.Millisecond), hsMax.Round(time.Millisecond), drN, drTot.Round(time.Millisecond), drMax.Round(time.Millisecond),
		stmts.String())
	t.Logf("\nbaseline after the drop phase, sysbench alone 15 s: %d seconds sampled, tps %.0f, p99 median %.1f ms, worst %.1f ms; "+
		"ratios to it: hold tps %.2f, p99 median %.2f; drop tps %.2f, p99 median %.2f; load average %s",
		an, at, ap, apx, ht/at, hp/ap, dt/at, dp/ap, loadavg())
	t.Logf("\ndrop phase, sysbench p99 of the 1 s windows that overlap a DROP statement: %d windows, median %.1f ms (%.2f× baseline), worst %.1f ms; "+
		"of the others (pauses, checks, watching the replica): %d windows, median %.1f ms (%.2f×), worst %.1f ms",
		inN, inMed, inMed/bp, inMax, outN, outMed, outMed/bp, outMax)
	if jN > 0 {
		t.Logf("\njanitor's statements on the primary in the drop phase (digests whose sample carries /* janitor */): %d, %s in all; the slowest in total:\n\n"+
			"| digest | count | total | worst |\n|---|---:|---:|---:|\n%s", jN, jTotal.Round(time.Millisecond), strings.Join(jTop, "\n"))
	}

	held := 0
	for _, tb := range holdRep.Shards[0].Tables {
		if tb.Outcome != report.OutcomeHeld {
			t.Errorf("hold phase: %s: %s (%s)", tb.Table, tb.Outcome, tb.Reason)
			continue
		}
		held++
	}
	// A RENAME frees nothing: the hold phase must leave the bytes where they were.
	if d := before - afterHold; d > 1<<20 || d < -1<<20 {
		t.Errorf("the hold phase changed the schema's size by %d bytes; a RENAME frees nothing", d)
	}
	dropped := 0
	for _, tb := range dropRep.Shards[0].Tables {
		if tb.Outcome != report.OutcomeDropped {
			t.Errorf("drop phase: %s: %s (%s)", tb.Table, tb.Outcome, tb.Reason)
			continue
		}
		dropped++
	}
	if held != tables || dropped != tables {
		t.Errorf("held %d and dropped %d of %d leftovers", held, dropped, tables)
	}
}

// prepare creates sysbench's tables and an empty schema for the leftovers, both dropped
// when the benchmark ends.
func prepare(t *testing.T, db *sqlx.DB, schema string) {
	testdb.Exec(t, db, "DROP DATABASE IF EXISTS sbtest", "CREATE DATABASE sbtest", "DROP DATABASE IF EXISTS "+schema, "CREATE DATABASE "+schema)
	t.Cleanup(func() {
		_, _ = db.Exec("DROP DATABASE IF EXISTS " + schema)
		_, _ = db.Exec("DROP DATABASE IF EXISTS sbtest")
	})
	if out, err := exec.Command("sysbench", sysbenchArgs(t, "prepare")...).CombinedOutput(); err != nil {
		t.Fatalf("sysbench prepare: %v\n%s", err, out)
	}
}

// loadavg is the machine's 1, 5 and 15 minute load averages, read at the end of a run.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// TestLargeTableStrategies drops one large leftover with a plain DROP and an identical
// one with the purge strategy (throttled batched DELETEs, then DROP), both under the
// same sysbench load, and compares the load's latency in each window.
func TestLargeTableStrategies(t *testing.T) {
	db := testdb.Primary(t)
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	const schema = "bench_large"
	sizeMB := 400
	if v := os.Getenv("JANITOR_BENCH_LARGE_MB"); v != "" {
		sizeMB, _ = strconv.Atoi(v)
	}
	prepare(t, db, schema)
	rows := sizeMB << 20 / 1100
	for _, base := range []string{"plain", "purged"} {
		testdb.Exec(t, db, "CREATE TABLE "+q(schema, base)+" (id BIGINT PRIMARY KEY, pad VARCHAR(1000))",
			"CREATE TABLE "+q(schema, "__"+base+"_old")+" LIKE "+q(schema, base),
			fmt.Sprintf("INSERT INTO %s SELECT seq, REPEAT('x', 1000) FROM %s", q(schema, "__"+base+"_old"), testdb.Seq(t, schema, rows)))
	}
	testdb.WaitReplica(t, db, replica)

	// purgeStats: what the purge's own log says of its batches, and how long the throttle
	// held it back.
	var purgeStats string
	// run returns the run's window and, for a purge, how many batches it sent.
	run := func(strategy, table string) (time.Time, time.Time, int) {
		cfg := janitor.Defaults()
		cfg.Shards = []janitor.ShardConfig{{Name: "bench", DSN: testdb.PrimaryDSN(t),
			Replicas: []janitor.ReplicaConfig{{Name: "replica", DSN: testdb.ReplicaDSN(t)}}}}
		cfg.Discovery.Schemas = []string{schema}
		cfg.Policy.MinAge = 0
		cfg.Throttle.MaxReplicaLag = 2 * time.Second
		cfg.Execute.LargeTable = janitor.LargeTableConfig{Strategy: strategy, ThresholdBytes: 50 << 20, BatchRows: 5000,
			BatchMinRows: janitor.DefaultBatchMinRows, BatchTarget: janitor.DefaultBatchTarget, BatchPause: 50 * time.Millisecond}
		cfg.Execute.MaxTablesPerRun = 1
		cfg.Execute.Hold = 0 // strategies of the DROP itself; TestDropUnderLoad measures the hold
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		// One table a run (max_tables_per_run 1); names sort "__plain_old" first.
		rec := &logRecorder{}
		j := janitor.New(cfg, slog.New(rec))
		batches := 0
		j.Hooks.PurgeBatch = func(string, string, string, int64) { batches++ }
		from := time.Now()
		rep := j.Run(context.Background(), true)
		to := time.Now()
		got := ""
		for _, tb := range rep.Shards[0].Tables {
			if tb.Outcome == "dropped" {
				got = tb.Table
			}
		}
		if got != table {
			t.Fatalf("%s: dropped %q, want %q (%+v)", strategy, got, table, rep.Shards[0])
		}
		if strategy == "purge" {
			// Each batch's time from its start on the primary to applied on the replica
			// (janitor's "purge batch" debug record; none before batches waited for it).
			var tooks []time.Duration
			minRows, maxRows := -1, 0
			for _, r := range rec.recs {
				if r.msg != "purge batch" {
					continue
				}
				if d, err := time.ParseDuration(r.attrs["took"]); err == nil {
					tooks = append(tooks, d)
				}
				if n, err := strconv.Atoi(r.attrs["rows"]); err == nil && n > 0 {
					if minRows < 0 || n < minRows {
						minRows = n
					}
					maxRows = max(maxRows, n)
				}
			}
			sort.Slice(tooks, func(a, b int) bool { return tooks[a] < tooks[b] })
			var held float64
			for _, v := range rep.Shards[0].ThrottleWaitSeconds {
				held += v
			}
			purgeStats = fmt.Sprintf("throttle held the purge %.0f s", held)
			if len(tooks) > 0 {
				purgeStats += fmt.Sprintf("; batch start to applied on the replica: median %s, worst %s; batches of %d to %d rows",
					tooks[len(tooks)/2], tooks[len(tooks)-1], minRows, maxRows)
			}
		}
		return from, to, batches
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := startLoad(ctx, t)
	maxLag := lagSampler(ctx, t, replica)
	time.Sleep(20 * time.Second)
	baseFrom, baseTo := time.Now().Add(-15*time.Second), time.Now()
	lagBase := maxLag() // each phase's maximum from here on
	dFrom, dTo, _ := run("drop", "__plain_old")
	lagDrop := maxLag()
	time.Sleep(5 * time.Second)
	pFrom, pTo, pBatches := run("purge", "__purged_old")
	lagPurge := maxLag()
	time.Sleep(2 * time.Second)
	cancel()
	<-l.done
	row := func(name string, from, to time.Time) string {
		// Widen short windows to the surrounding seconds so a sub-second DROP is seen.
		tps, p, px, n := l.window(from.Add(-time.Second), to.Add(time.Second))
		return fmt.Sprintf("| %s | %s | %d | %.0f | %.1f ms | %.1f ms |", name, to.Sub(from).Round(100*time.Millisecond), n, tps, p, px)
	}
	t.Logf("\ntwo leftovers of ~%d MB each, sysbench oltp_read_write 4 threads throughout\n\n"+
		"| window | janitor time | seconds sampled | tps (median) | p99 median | p99 worst |\n|---|---:|---:|---:|---:|---:|\n%s\n%s\n%s\n\n"+
		"max replica lag: %ds with sysbench alone, %ds from the plain DROP to 5 s after it, %ds during the purge (limit 2s); the purge sent %d batches (%d rows); %s",
		sizeMB, row("baseline: sysbench alone", baseFrom, baseTo), row("strategy drop: one DROP", dFrom, dTo),
		row("strategy purge: batched DELETEs, then DROP", pFrom, pTo), lagBase, lagDrop, lagPurge, pBatches, rows, purgeStats)
}
