//go:build bench

package bench

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/janitorhq/janitor/internal/testdb"
)

// TestUnlinkUnderLoad answers where a DROP's cost to the load comes from, without
// janitor: sysbench oltp_read_write runs on the primary while, every 4 s, one of three
// events happens, in turn:
//
//   - big: a plain DROP TABLE of a leftover as large as the drops benchmark's (60 MB of
//     rows; ~180 MB on disk on MySQL, ~75 MB on MariaDB);
//   - small: a DROP TABLE of a table of 1,000 of the same rows;
//   - rm: the file system alone, an rm of a file of the big table's size, written next
//     to the server's data and never known to it.
//
// Each event's 1 s windows are compared with the load alone. If a big DROP costs what
// rm costs and a small DROP costs nothing, a DROP's cost is the file system's unlink of
// the table's file, which no SQL statement avoids: janitor's lever is then how far apart
// its DROPs are (execute.pause_between_drops), not what it sends around them.
func TestUnlinkUnderLoad(t *testing.T) {
	db := testdb.Primary(t)
	const schema, rounds = "bench_unlink", 6
	prepare(t, db, schema)
	rows := 60 << 20 / 1100
	testdb.Exec(t, db, "CREATE TABLE "+q(schema, "src")+" (id BIGINT PRIMARY KEY, pad VARCHAR(1000))",
		fmt.Sprintf("INSERT INTO %s SELECT seq, REPEAT('x', 1000) FROM %s", q(schema, "src"), testdb.Seq(t, schema, rows)))
	var datadir string
	if err := db.Get(&datadir, "SELECT @@datadir"); err != nil {
		t.Fatal(err)
	}
	dir := testdb.DataPath(false, filepath.Join(datadir, schema))
	var size int64
	for i := 0; i < rounds; i++ {
		big := q(schema, "big"+strconv.Itoa(i))
		testdb.Exec(t, db, "CREATE TABLE "+big+" LIKE "+q(schema, "src"), "INSERT INTO "+big+" SELECT * FROM "+q(schema, "src"))
	}
	// The source and the big tables hold the same rows: one file's size each.
	size = du(t, db, schema) / int64(rounds+1)
	for i := 0; i < rounds; i++ {
		small := q(schema, "small"+strconv.Itoa(i))
		testdb.Exec(t, db, "CREATE TABLE "+small+" LIKE "+q(schema, "src"), "INSERT INTO "+small+" SELECT * FROM "+q(schema, "src")+" LIMIT 1000")
	}
	buf := make([]byte, 1<<20)
	for i := 0; i < rounds; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("junk%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		for n := int64(0); n < size; n += int64(len(buf)) {
			_, _ = rand.Read(buf)
			if _, err := f.Write(buf); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	t.Cleanup(func() {
		for i := 0; i < rounds; i++ {
			_ = os.Remove(filepath.Join(dir, fmt.Sprintf("junk%d", i)))
		}
	})

	ctx := t.Context()
	l := startLoad(ctx, t)
	time.Sleep(25 * time.Second) // the load alone, its first seconds (sysbench's warm-up) left out
	baseFrom, baseTo := time.Now().Add(-20*time.Second), time.Now()
	spans := map[string][][2]time.Time{}
	took := map[string][]time.Duration{}
	for i := 0; i < rounds; i++ {
		for _, kind := range []string{"big", "small", "rm"} {
			from := time.Now()
			var err error
			if kind == "rm" {
				err = os.Remove(filepath.Join(dir, fmt.Sprintf("junk%d", i)))
			} else {
				_, err = db.ExecContext(ctx, "DROP TABLE "+q(schema, kind+strconv.Itoa(i)))
			}
			if err != nil {
				t.Fatal(err)
			}
			to := time.Now()
			spans[kind] = append(spans[kind], [2]time.Time{from, to})
			took[kind] = append(took[kind], to.Sub(from))
			time.Sleep(4 * time.Second)
		}
	}
	end := time.Now()
	time.Sleep(1100 * time.Millisecond) // the last window's sample
	_, bp, bpx, bn := l.window(baseFrom, baseTo)
	var all [][2]time.Time
	for _, s := range spans {
		all = append(all, s...)
	}
	_, _, _, outMed, outMax, outN := l.split(baseTo, end, all)
	out := fmt.Sprintf("\nsysbench oltp_read_write, 4 threads; a ~%.0f MB table file (du) per big DROP and per rm; load average %s\n\n"+
		"| window | 1 s windows | p99, median | × the load alone before | × the windows between the events | p99, worst | event took (median) |\n|---|---:|---:|---:|---:|---:|---:|\n"+
		"| the load alone, before | %d | %.1f ms | 1.00 | %.2f | %.1f ms | |\n"+
		"| between the events | %d | %.1f ms | %.2f | 1.00 | %.1f ms | |\n",
		float64(size)/1e6, loadavg(), bn, bp, bp/outMed, bpx, outN, outMed, outMed/bp, outMax)
	for _, kind := range []string{"big", "small", "rm"} {
		inMed, inMax, inN, _, _, _ := l.split(baseTo, end, spans[kind])
		out += fmt.Sprintf("| %s | %d | %.1f ms | %.2f | %.2f | %.1f ms | %s |\n", map[string]string{
			"big": "DROP TABLE, big", "small": "DROP TABLE, 1,000 rows", "rm": "rm of a file of the big table's size"}[kind],
			inN, inMed, inMed/bp, inMed/outMed, inMax, medianDuration(took[kind]))
	}
	t.Log(out)
}

func medianDuration(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}
