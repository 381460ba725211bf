//go:build bench

package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
)

// TestReferenceListingCost measures, on the 10,000-table fleet, what finding MERGE
// tables adds to `janitor report`: on MariaDB the listing filters information_schema.TABLES
// on ENGINE, which opens every table's definition, so it runs only when a candidate is
// MyISAM. Three measurements: the report with InnoDB leftovers only (no listing), the
// listing query alone, and the report once one MyISAM leftover and a MERGE table over
// it exist (one listing per report).
func TestReferenceListingCost(t *testing.T) {
	db := testdb.Primary(t)
	ensureFleet(t, db)
	cleanup := func() {
		_, _ = db.Exec("DROP TABLE IF EXISTS " + q("bench_00", "merged") + ", " + q("bench_00", "__t005_old"))
	}
	cleanup()
	t.Cleanup(cleanup)

	cfg := janitor.Defaults()
	cfg.Shards = []janitor.ShardConfig{{Name: "bench", DSN: testdb.PrimaryDSN(t)}}
	cfg.Policy.MinAge = time.Hour
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	report := func() (n int) {
		r := janitor.New(cfg, nil).Report(context.Background())
		if r.Failed() {
			t.Fatalf("report failed: %+v", r.Shards[0].Error)
		}
		for _, tb := range r.Shards[0].Tables {
			if tb.ReasonCode == "merge_reference" {
				n++
			}
		}
		return n
	}
	base := measure(t, db, func() { report() })
	listing := measure(t, db, func() {
		var n []string
		if err := db.Select(&n, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE UPPER(ENGINE) IN ('MRG_MYISAM') AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"); err != nil {
			t.Fatal(err)
		}
	})
	testdb.Exec(t, db,
		"CREATE TABLE "+q("bench_00", "__t005_old")+" (id BIGINT, a VARCHAR(64)) ENGINE=MyISAM",
		"CREATE TABLE "+q("bench_00", "merged")+" (id BIGINT, a VARCHAR(64)) ENGINE=MRG_MyISAM UNION=("+q("bench_00", "__t005_old")+")")
	var kept int
	withMyISAM := measure(t, db, func() { kept = report() })
	if kept != 1 {
		t.Errorf("%d tables kept as merge_reference, want 1", kept)
	}
	row := func(what string, s sample) string {
		return fmt.Sprintf("| %s | %.3f s | %+d | %+d | %+.1f MB | %+.1f MB |", what, s.wall.Seconds(), s.opened, s.openedDefs,
			float64(s.memUsed)/1e6, float64(s.rss)/1e6)
	}
	t.Logf("\n| query | wall | Opened_tables | Opened_table_definitions | Memory_used | RSS |\n|---|---:|---:|---:|---:|---:|\n%s\n%s\n%s",
		row("janitor report, InnoDB leftovers only (no MERGE listing)", base),
		row("MERGE listing alone: TABLES WHERE ENGINE IN (…)", listing),
		row("janitor report with one MyISAM leftover in a MERGE table", withMyISAM))
}
