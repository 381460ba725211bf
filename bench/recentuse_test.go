//go:build bench

package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
)

// TestReadSourceCost measures, on the 10,000-table fleet, what reading the sources of
// reads by name costs (discovery/recentuse.go, one query each per shard and run): the
// statement digests, performance_schema's per-table read counters, the statement
// history's 1146 rows and MySQL's error summary, against the 2023-11-07 incident query.
// Every table is read once first, by a statement of its own, so the digest table is
// full (10,000 digests by default) and every table has counter rows: the worst case.
// The queries are discovery's own, copied: the unfiltered reads janitor made before it
// filtered them by the candidates' names, then the filtered ones it makes now. No restart between measurements (a restart
// empties the sources); each query runs 5 times and the median is kept.
func TestReadSourceCost(t *testing.T) {
	db := testdb.Primary(t)
	var pfs int
	if err := db.Get(&pfs, "SELECT @@performance_schema"); err != nil {
		t.Fatal(err)
	}
	userstat := pfs != 1 && !testdb.IsMySQL(t)
	if pfs != 1 && !userstat {
		t.Skip("performance_schema is off: no source to measure (reads_invisible)")
	}
	if userstat {
		// MariaDB with performance_schema off: userstat's TABLE_STATISTICS is the only
		// source (of recent_read before a hold; nothing sees a failed statement).
		var was int
		if err := db.Get(&was, "SELECT @@userstat"); err != nil {
			t.Fatal(err)
		}
		testdb.Exec(t, db, "SET GLOBAL userstat = 1")
		t.Cleanup(func() { testdb.Exec(t, db, fmt.Sprintf("SET GLOBAL userstat = %d", was)) })
	}
	ensureFleet(t, db)
	conn, err := db.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < schemas; i++ {
		for k := 0; k < tablesPerSchema; k++ {
			var n []int
			if err := conn.SelectContext(context.Background(), &n, fmt.Sprintf("SELECT id FROM %s WHERE id = 1", q(fmt.Sprintf("bench_%02d", i), fmt.Sprintf("t%03d", k)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	conn.Close()
	var digests int
	if !userstat {
		if err := db.Get(&digests, "SELECT COUNT(*) FROM performance_schema.events_statements_summary_by_digest"); err != nil {
			t.Fatal(err)
		}
	}
	// The candidates, as an inventory asks for them (discovery/recentuse.go reads their
	// rows only): every table of the fleet that is not one of its t000 … t499.
	var cands []struct{ S, T string }
	if err := db.Select(&cands, "SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE 'bench\\_%' AND TABLE_NAME NOT REGEXP '^t[0-9]{3}$'"); err != nil {
		t.Fatal(err)
	}
	var likes, pairs []string
	for _, c := range cands {
		// digestPattern's, for these ASCII names: _ escaped, i and k any character.
		p := strings.NewReplacer("_", `\_`, "i", "_", "I", "_", "k", "_", "K", "_").Replace(c.T)
		likes = append(likes, "DIGEST_TEXT LIKE '%`"+p+"`%'")
		pairs = append(pairs, "('"+c.S+"', '"+c.T+"')")
	}
	in := " AND (OBJECT_SCHEMA, OBJECT_NAME) IN (" + strings.Join(pairs, ", ") + ")"
	queries := []struct{ what, sql string }{
		{"incident query: SUM(data_length + index_length) FROM TABLES", "SELECT table_schema, SUM(data_length + index_length) FROM information_schema.TABLES GROUP BY 1"},
		{"statement digests", "SELECT COALESCE(SCHEMA_NAME, ''), DIGEST_TEXT, COUNT_STAR, SUM_ERRORS, UNIX_TIMESTAMP(LAST_SEEN) FROM performance_schema.events_statements_summary_by_digest WHERE DIGEST_TEXT IS NOT NULL"},
		{"table I/O COUNT_FETCH > 0", "SELECT OBJECT_SCHEMA, OBJECT_NAME, COUNT_FETCH FROM performance_schema.table_io_waits_summary_by_table WHERE OBJECT_TYPE = 'TABLE' AND COUNT_FETCH > 0"},
		{"table lock COUNT_READ > 0", "SELECT OBJECT_SCHEMA, OBJECT_NAME, COUNT_READ FROM performance_schema.table_lock_waits_summary_by_table WHERE OBJECT_TYPE = 'TABLE' AND COUNT_READ > 0"},
		{fmt.Sprintf("statement digests naming one of the %d candidates, or failed (not kept: slower than all)", len(cands)), "SELECT COALESCE(SCHEMA_NAME, ''), DIGEST_TEXT, COUNT_STAR, SUM_ERRORS, UNIX_TIMESTAMP(LAST_SEEN) FROM performance_schema.events_statements_summary_by_digest WHERE DIGEST_TEXT IS NOT NULL AND (SUM_ERRORS > 0 OR " + strings.Join(likes, " OR ") + ")"},
		{"table I/O COUNT_FETCH > 0, the candidates' rows", "SELECT OBJECT_SCHEMA, OBJECT_NAME, COUNT_FETCH FROM performance_schema.table_io_waits_summary_by_table WHERE OBJECT_TYPE = 'TABLE' AND COUNT_FETCH > 0" + in},
		{"table lock COUNT_READ > 0, the candidates' rows", "SELECT OBJECT_SCHEMA, OBJECT_NAME, COUNT_READ FROM performance_schema.table_lock_waits_summary_by_table WHERE OBJECT_TYPE = 'TABLE' AND COUNT_READ > 0" + in},
		{"statement history, 1146", "SELECT MESSAGE_TEXT, SQL_TEXT, TIMER_END FROM performance_schema.events_statements_history WHERE MYSQL_ERRNO = 1146 UNION ALL SELECT MESSAGE_TEXT, SQL_TEXT, TIMER_END FROM performance_schema.events_statements_current WHERE MYSQL_ERRNO = 1146"},
	}
	if userstat {
		queries = append(queries[:1], struct{ what, sql string }{"userstat TABLE_STATISTICS ROWS_READ > 0",
			"SELECT TABLE_SCHEMA, TABLE_NAME, ROWS_READ FROM information_schema.TABLE_STATISTICS WHERE ROWS_READ > 0"},
			struct{ what, sql string }{"userstat TABLE_STATISTICS ROWS_READ > 0, the candidates' rows",
				"SELECT TABLE_SCHEMA, TABLE_NAME, ROWS_READ FROM information_schema.TABLE_STATISTICS WHERE ROWS_READ > 0 AND (TABLE_SCHEMA, TABLE_NAME) IN (" + strings.Join(pairs, ", ") + ")"})
	}
	if testdb.IsMySQL(t) {
		queries = append(queries, struct{ what, sql string }{"error summary by account, 1146",
			"SELECT USER, HOST, SUM_ERROR_RAISED, LAST_SEEN FROM performance_schema.events_errors_summary_by_account_by_error WHERE ERROR_NUMBER = 1146 AND SUM_ERROR_RAISED > 0"})
	}
	var rows []string
	var incident time.Duration
	for i, qu := range queries {
		var walls []time.Duration
		var opened int64
		var mem int64
		var n int
		for r := 0; r < 5; r++ {
			o, m := status(t, db, "Opened_tables"), serverMemory(t, db)
			start := time.Now()
			rs, err := db.Queryx(qu.sql)
			if err != nil {
				t.Fatalf("%s: %v", qu.what, err)
			}
			n = 0
			for rs.Next() {
				n++
			}
			rs.Close()
			walls = append(walls, time.Since(start))
			opened += status(t, db, "Opened_tables") - o
			if d := serverMemory(t, db) - m; d > mem {
				mem = d
			}
		}
		med := median(walls)
		if i == 0 {
			incident = med
		}
		rows = append(rows, fmt.Sprintf("| %s | %d | %.4f s | %.3f | %d | %+.1f MB |", qu.what, n, med.Seconds(), med.Seconds()/incident.Seconds(), opened/5, float64(mem)/1e6))
	}
	// The whole report, which reads every source once.
	cfg := janitor.Defaults()
	cfg.Shards = []janitor.ShardConfig{{Name: "bench", DSN: testdb.PrimaryDSN(t)}}
	cfg.Policy.MinAge = time.Hour
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var walls []time.Duration
	for r := 0; r < 3; r++ {
		start := time.Now()
		if rep := janitor.New(cfg, nil).Report(context.Background()); rep.Failed() {
			t.Fatalf("report failed: %s", rep.Shards[0].Error)
		}
		walls = append(walls, time.Since(start))
	}
	rows = append(rows, fmt.Sprintf("| janitor report (every source included) | | %.4f s | %.3f | | |", median(walls).Seconds(), median(walls).Seconds()/incident.Seconds()))
	t.Logf("%d digests in performance_schema (userstat: %t)\n| query | rows | wall (median of 5) | × incident | Opened_tables | server memory (max) |\n|---|---:|---:|---:|---:|---:|\n%s",
		digests, userstat, strings.Join(rows, "\n"))
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}
