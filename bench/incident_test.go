//go:build bench

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
)

// Fleet shape: 20 schemas × 500 tables, plus leftovers of every tool in each schema.
const (
	schemas         = 20
	tablesPerSchema = 500
)

func q(s, t string) string { return dbconn.QualifiedName(s, t) }

// ensureFleet creates the tables once; reruns reuse them.
func ensureFleet(t *testing.T, db *sqlx.DB) {
	for i := 0; i < schemas; i++ {
		s := fmt.Sprintf("bench_%02d", i)
		var n int
		if err := db.Get(&n, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", s); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			var tables int
			if err := db.Get(&tables, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?", s); err != nil {
				t.Fatal(err)
			}
			if tables >= tablesPerSchema+5 {
				continue
			}
			testdb.Exec(t, db, "DROP DATABASE "+dbconn.QuoteIdent(s))
		}
		testdb.Exec(t, db, "CREATE DATABASE "+dbconn.QuoteIdent(s))
		for k := 0; k < tablesPerSchema; k++ {
			testdb.Exec(t, db, fmt.Sprintf("CREATE TABLE %s (id BIGINT PRIMARY KEY, a VARCHAR(64), b INT, KEY (b))", q(s, fmt.Sprintf("t%03d", k))))
		}
		stamp := time.Now().UTC().Add(-72 * time.Hour)
		testdb.Exec(t, db,
			"CREATE TABLE "+q(s, "__t000_old")+" LIKE "+q(s, "t000"),
			"CREATE TABLE "+q(s, "_t001_gho")+" LIKE "+q(s, "t001"),
			"CREATE TABLE "+q(s, fmt.Sprintf("lhma_%s_000_t002", stamp.Format("2006_01_02_15_04_05")))+" LIKE "+q(s, "t002"),
			"CREATE TABLE "+q(s, fmt.Sprintf("_t003_old_%s", stamp.Format("20060102_150405")))+" LIKE "+q(s, "t003"),
			"CREATE TABLE "+q(s, fmt.Sprintf("_vt_drp_%032x_%s_", i, stamp.Format("20060102150405")))+" LIKE "+q(s, "t004"),
		)
	}
}

type sample struct {
	wall               time.Duration
	opened, openedDefs int64
	memUsed, rss       int64
}

func status(t *testing.T, db *sqlx.DB, name string) int64 { return testdb.Status(t, db, name) }

func rss(t *testing.T, db *sqlx.DB) int64 {
	var pidFile string
	if err := db.Get(&pidFile, "SELECT @@pid_file"); err != nil {
		t.Fatal(err)
	}
	pidFile = testdb.DataPath(false, pidFile) // under the chroot of a chroot flavor
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Logf("cannot read %s (server not local?): %v", pidFile, err)
		return 0
	}
	st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(st), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// restart restarts the server before a measurement so that every one starts from the
// same cold baseline: mariadbd does not hand freed memory back, so RSS only grows.
func restart(t *testing.T, db *sqlx.DB) {
	cmd := os.Getenv("JANITOR_BENCH_RESTART")
	if cmd == "" {
		return
	}
	out, err := exec.Command("sh", "-c", cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	testdb.WaitUp(t, db)
}

// serverMemory is the server's own account of the memory it uses: MariaDB's Memory_used,
// or on MySQL (which has no such counter) the sum of performance_schema's memory summary.
func serverMemory(t *testing.T, db *sqlx.DB) int64 {
	if !testdb.IsMySQL(t) {
		return status(t, db, "Memory_used")
	}
	var n int64
	if err := db.Get(&n, "SELECT SUM(CURRENT_NUMBER_OF_BYTES_USED) FROM performance_schema.memory_summary_global_by_event_name"); err != nil {
		t.Fatal(err)
	}
	return n
}

func measure(t *testing.T, db *sqlx.DB, fn func()) sample {
	return measureWith(t, db, true, fn)
}

// memoryByEvent is performance_schema's memory in use per instrument (MySQL only).
func memoryByEvent(t *testing.T, db *sqlx.DB) map[string]int64 {
	var rows []struct {
		Name  string `db:"EVENT_NAME"`
		Bytes int64  `db:"CURRENT_NUMBER_OF_BYTES_USED"`
	}
	if err := db.Select(&rows, "SELECT EVENT_NAME, CURRENT_NUMBER_OF_BYTES_USED FROM performance_schema.memory_summary_global_by_event_name"); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Name] = r.Bytes
	}
	return out
}

// breakdown logs, on MySQL, where janitor's time went (its statements' digests) and which
// memory instruments grew by more than 256 KB since before.
func breakdown(t *testing.T, db *sqlx.DB, before map[string]int64) {
	var digests []struct {
		Count    int64   `db:"n"`
		Secs     float64 `db:"secs"`
		Examined int64   `db:"examined"`
		Text     string  `db:"text"`
	}
	if err := db.Select(&digests, `SELECT COUNT_STAR AS n, SUM_TIMER_WAIT/1e12 AS secs, SUM_ROWS_EXAMINED AS examined,
		LEFT(DIGEST_TEXT, 160) AS text FROM performance_schema.events_statements_summary_by_digest
		WHERE QUERY_SAMPLE_TEXT LIKE '%janitor%' ORDER BY SUM_TIMER_WAIT DESC LIMIT 15`); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("janitor's statements by time:\n| executions | seconds | rows examined | statement |\n|---:|---:|---:|---|\n")
	for _, d := range digests {
		fmt.Fprintf(&b, "| %d | %.3f | %d | `%s` |\n", d.Count, d.Secs, d.Examined, d.Text)
	}
	after := memoryByEvent(t, db)
	type grew struct {
		name  string
		delta int64
	}
	var g []grew
	for name, v := range after {
		if d := v - before[name]; d > 256<<10 || d < -(256<<10) {
			g = append(g, grew{name, d})
		}
	}
	sort.Slice(g, func(i, j int) bool { return g[i].delta > g[j].delta })
	b.WriteString("performance_schema memory instruments that moved > 256 KB:\n")
	for _, e := range g {
		fmt.Fprintf(&b, "%+.1f MB %s\n", float64(e.delta)/1e6, e.name)
	}
	t.Log("\n" + b.String())
}

func measureWith(t *testing.T, db *sqlx.DB, detail bool, fn func()) sample {
	restart(t, db)
	testdb.Exec(t, db, "FLUSH TABLES")
	var before map[string]int64
	if detail && testdb.IsMySQL(t) {
		before = memoryByEvent(t, db)
	}
	o, od, m, r := status(t, db, "Opened_tables"), status(t, db, "Opened_table_definitions"), serverMemory(t, db), rss(t, db)
	start := time.Now()
	fn()
	wall := time.Since(start)
	out := sample{wall, status(t, db, "Opened_tables") - o, status(t, db, "Opened_table_definitions") - od,
		serverMemory(t, db) - m, rss(t, db) - r}
	if before != nil {
		breakdown(t, db, before)
	}
	return out
}

// TestIncidentQueryVersusReport measures, in one run on one server, the query of the
// 2023-11-07 incident against `janitor report`.
func TestIncidentQueryVersusReport(t *testing.T) {
	db := testdb.Primary(t)
	start := time.Now()
	if os.Getenv("JANITOR_BENCH_KEEP") == "" {
		t.Cleanup(func() {
			for i := 0; i < schemas; i++ {
				_, _ = db.Exec("DROP DATABASE IF EXISTS " + dbconn.QuoteIdent(fmt.Sprintf("bench_%02d", i)))
			}
		})
	}
	ensureFleet(t, db)
	var total int
	if err := db.Get(&total, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE 'bench\\_%'"); err != nil {
		t.Fatal(err)
	}
	t.Logf("fleet ready: %d tables in bench_* (setup %s)", total, time.Since(start).Round(time.Second))

	cfg := janitor.Defaults()
	cfg.Shards = []janitor.ShardConfig{{Name: "bench", DSN: testdb.PrimaryDSN(t)}}
	cfg.Policy.MinAge = time.Hour
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var leftovers, drop int
	var reclaim int64
	rep := measureWith(t, db, true, func() {
		r := janitor.New(cfg, nil).Report(context.Background())
		if r.Failed() {
			t.Fatalf("report failed: %+v", r.Shards[0].Error)
		}
		leftovers = len(r.Shards[0].Tables)
		for _, tb := range r.Shards[0].Tables {
			if tb.Verdict == "drop" {
				drop++
			}
		}
		reclaim = r.ReclaimableBytes
	})
	var sizes []struct {
		Schema string `db:"table_schema"`
		Bytes  int64  `db:"bytes"`
	}
	// The alias: MySQL names the column TABLE_SCHEMA, as its information_schema view does.
	const incident = "SELECT table_schema AS table_schema, SUM(data_length + index_length) AS bytes FROM information_schema.TABLES GROUP BY 1"
	naive := measure(t, db, func() {
		if err := db.Select(&sizes, incident); err != nil {
			t.Fatal(err)
		}
	})
	// On MySQL the query above ran with information_schema_stats_expiry at its default
	// (86400 s: sizes come from the dictionary's cache while it is fresh); the incident's
	// cost is what it does with the cache bypassed, as janitor's sessions do.
	var fresh sample
	if testdb.IsMySQL(t) {
		fresh = measure(t, db, func() {
			conn, err := db.Connx(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			testdb.Exec(t, conn, "SET SESSION information_schema_stats_expiry = 0")
			if err := conn.SelectContext(context.Background(), &sizes, incident); err != nil {
				t.Fatal(err)
			}
		})
	}
	names := measure(t, db, func() {
		var n []string
		if err := db.Select(&n, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_NAME LIKE '\\_%'"); err != nil {
			t.Fatal(err)
		}
	})
	row := func(what string, s sample) string {
		return fmt.Sprintf("| %s | %.3f s | %+d | %+d | %+.1f MB | %+.1f MB |", what, s.wall.Seconds(), s.opened, s.openedDefs,
			float64(s.memUsed)/1e6, float64(s.rss)/1e6)
	}
	var version string
	if err := db.Get(&version, "SELECT VERSION()"); err != nil {
		t.Fatal(err)
	}
	mem, server, naiveName, extra := "Memory_used", "mariadbd", "incident query: SUM(data_length+index_length) GROUP BY schema", ""
	if testdb.IsMySQL(t) {
		mem, server, naiveName = "performance_schema memory", "mysqld", "incident query, information_schema_stats_expiry 86400 (default)"
		extra = row("incident query, information_schema_stats_expiry 0", fresh) + "\n"
	}
	t.Logf("\n%s: %d tables on the server, %d leftovers found, %d to drop, %d bytes reclaimable\n\n"+
		"| query | wall | Opened_tables | Opened_table_definitions | %s | %s RSS |\n|---|---:|---:|---:|---:|---:|\n%s\n%s%s\n%s\n\n"+
		"ratios naive/report: wall %.1f×, table opens %d vs %d",
		version, total, leftovers, drop, reclaim, mem, server, row(naiveName, naive), extra,
		row("janitor report (whole server)", rep), row("names only: TABLE_NAME LIKE", names),
		naive.wall.Seconds()/rep.wall.Seconds(), naive.opened+naive.openedDefs, rep.opened+rep.openedDefs)
	if leftovers < schemas*5 {
		t.Errorf("found %d leftovers, want at least %d", leftovers, schemas*5)
	}
	// The report's opens are a small constant per candidate, not per table.
	if perCand := float64(rep.opened+rep.openedDefs) / float64(leftovers); perCand > 4 {
		t.Errorf("report opened %.1f tables/definitions per candidate", perCand)
	}
}
