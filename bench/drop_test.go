//go:build bench

package bench

import (
	"bufio"
	"context"
	"fmt"
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

// lagSampler polls the replica's lag every 200 ms.
func lagSampler(ctx context.Context, t *testing.T, replica *sqlx.DB) func() int64 {
	var mu sync.Mutex
	var max int64
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			rows, err := replica.QueryxContext(ctx, "SHOW SLAVE STATUS")
			if err != nil {
				continue
			}
			m := map[string]any{}
			if rows.Next() {
				_ = rows.MapScan(m)
			}
			rows.Close()
			v := m["Seconds_Behind_Master"]
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			if n, err := strconv.ParseInt(fmt.Sprint(v), 10, 64); err == nil {
				mu.Lock()
				max = maxInt(max, n)
				mu.Unlock()
			}
		}
	}()
	return func() int64 { mu.Lock(); defer mu.Unlock(); return max }
}

func maxInt(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
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

// TestDropUnderLoad: sysbench oltp_read_write on the primary; janitor run --execute
// drops several hundred MB of leftovers; compare with a baseline in the same run.
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
	cfg.Execute.PauseBetweenDrops = time.Second
	cfg.Execute.Hold = 0 // measures the DROP
	cfg.Throttle.MaxReplicaLag = 2 * time.Second
	cfg.Throttle.MaxThreadsRunning = 30
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
	runFrom := time.Now()
	rep := janitor.New(cfg, nil).Run(ctx, true)
	runTo := time.Now()
	lagDuringRun := maxLag()
	time.Sleep(2 * time.Second)
	cancel()
	<-l.done
	after := du(t, db, schema)

	if rep.Failed() || rep.ReclaimedBytes == nil {
		t.Fatalf("run failed: %+v", rep.Shards)
	}
	bt, bp, bpx, bn := l.window(baseFrom, baseTo)
	rt, rp, rpx, rn := l.window(runFrom, runTo)
	t.Logf("\n%d leftovers, %s reported, %s freed on disk (du of the schema directory: %d → %d bytes); run took %s\n\n"+
		"| window | seconds | tps (median) | p99 latency, median of 1 s windows | p99, worst 1 s window |\n|---|---:|---:|---:|---:|\n"+
		"| baseline: sysbench alone | %d | %.0f | %.1f ms | %.1f ms |\n| during janitor run --execute | %d | %.0f | %.1f ms | %.1f ms |\n\n"+
		"ratios run/baseline: tps %.2f, p99 median %.2f, p99 worst %.2f; max replica lag during run %ds (limit %s); "+
		"freed/reported %.3f",
		len(rep.Shards[0].Tables), mb(*rep.ReclaimedBytes), mb(before-after), before, after, runTo.Sub(runFrom).Round(time.Second),
		bn, bt, bp, bpx, rn, rt, rp, rpx, rt/bt, rp/bp, rpx/bpx, lagDuringRun, cfg.Throttle.MaxReplicaLag,
		float64(before-after)/float64(*rep.ReclaimedBytes))
	for _, tb := range rep.Shards[0].Tables {
		if tb.Outcome != "dropped" {
			t.Errorf("%s: %s (%s)", tb.Table, tb.Outcome, tb.Reason)
		}
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

	run := func(strategy, table string) (time.Time, time.Time, string) {
		cfg := janitor.Defaults()
		cfg.Shards = []janitor.ShardConfig{{Name: "bench", DSN: testdb.PrimaryDSN(t),
			Replicas: []janitor.ReplicaConfig{{Name: "replica", DSN: testdb.ReplicaDSN(t)}}}}
		cfg.Discovery.Schemas = []string{schema}
		cfg.Policy.MinAge = 0
		cfg.Throttle.MaxReplicaLag = 2 * time.Second
		cfg.Execute.LargeTable = janitor.LargeTableConfig{Strategy: strategy, ThresholdBytes: 50 << 20, BatchRows: 5000, BatchPause: 50 * time.Millisecond}
		cfg.Execute.MaxTablesPerRun = 1
		cfg.Execute.Hold = 0 // measures the DROP
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		// One table a run (max_tables_per_run 1); names sort "__plain_old" first.
		from := time.Now()
		rep := janitor.New(cfg, nil).Run(context.Background(), true)
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
		return from, to, got
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := startLoad(ctx, t)
	maxLag := lagSampler(ctx, t, replica)
	time.Sleep(20 * time.Second)
	baseFrom, baseTo := time.Now().Add(-15*time.Second), time.Now()
	dFrom, dTo, _ := run("drop", "__plain_old")
	lagDrop := maxLag()
	time.Sleep(5 * time.Second)
	pFrom, pTo, _ := run("purge", "__purged_old")
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
		"max replica lag: %ds after the plain DROP, %ds by the end of the purge (limit 2s)",
		sizeMB, row("baseline: sysbench alone", baseFrom, baseTo), row("strategy drop: one DROP", dFrom, dTo),
		row("strategy purge: batched DELETEs, then DROP", pFrom, pTo), lagDrop, lagPurge)
}
