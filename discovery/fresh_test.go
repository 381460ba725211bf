package discovery_test

import (
	"strings"
	"testing"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
)

// TestInspectAfterInspectAllReadsAfresh: what InspectAll reads once for its candidates
// (here the tablespace sizes) belongs to that inventory alone. Inspect, the pre-DROP
// re-check's view, reads afresh even on the Inspector that made the inventory: a table
// that grew since is sized as it is now.
func TestInspectAfterInspectAllReadsAfresh(t *testing.T) {
	db, s := primarySchema(t)
	const name = "__grows_old"
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "grows")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, name)+" (id INT PRIMARY KEY, pad VARCHAR(2000)) ENGINE=InnoDB")
	in := inspector(t, db, s)
	all, err := in.InspectAll(t.Context(), []discovery.Name{{Schema: s, Table: name}})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("InspectAll = %d tables, want 1", len(all))
	}
	before := all[0].Bytes
	if before >= 2<<20 {
		t.Fatalf("an empty table of %d bytes: the test needs it under 2 MiB", before)
	}
	// About 8 MiB of rows: the tablespace file grows with them.
	testdb.Exec(t, db, "INSERT INTO "+q(s, name)+" SELECT seq, REPEAT('x', 2000) FROM "+testdb.Seq(t, s, 4000))
	tb, err := in.Inspect(t.Context(), discovery.Name{Schema: s, Table: name})
	if err != nil {
		t.Fatal(err)
	}
	if tb.Bytes < 4<<20 || !strings.HasPrefix(tb.SizeSource, discovery.SizeTablespace) {
		t.Errorf("re-inspected after 8 MiB of rows: %d bytes (%s), was %d: the re-check read the inventory's sizes", tb.Bytes, tb.SizeSource, before)
	}
}
