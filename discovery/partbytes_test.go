package discovery_test

import (
	"context"
	"testing"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
)

// TestPartitionedSystemTablespaceBytes: issue 18 §4's sibling. A partitioned table
// created with innodb_file_per_table=OFF puts every partition in the system tablespace
// (measured on 9.7.4: INNODB_TABLES gives each partition SPACE 0, and PARTITIONS names
// innodb_system), and its DROP frees nothing on disk. MySQL reported the statistics'
// estimate for it, on the belief that a partitioned table cannot live in a shared
// tablespace (only a general one refuses it, error 1478). Both paths: the inventory and
// the pre-DROP re-check.
func TestPartitionedSystemTablespaceBytes(t *testing.T) {
	db, s := primarySchema(t)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)")
	testdb.InSystemTablespace(t, db, "CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY, v VARCHAR(200)) PARTITION BY HASH (id) PARTITIONS 3")
	fill(t, db, q(s, "__orders_old"), 20000, "REPEAT('x', 200)")
	want := discovery.SizeSystemTablespace
	if testdb.IsMySQL(t) {
		want = discovery.SizeSharedTablespace
	}
	in := inspector(t, db, s)
	tables := inspectAll(t, in)
	var got []*discovery.Table
	for _, tb := range tables {
		if tb.Name == "__orders_old" {
			got = append(got, tb)
		}
	}
	tb, err := in.Inspect(context.Background(), discovery.Name{Schema: s, Table: "__orders_old"})
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, tb)
	if len(got) != 2 {
		t.Fatalf("__orders_old not in the inventory (%d tables)", len(tables))
	}
	for i, tb := range got {
		if tb.Bytes != 0 || tb.SizeSource != want {
			t.Errorf("%s: %d bytes (%s); want 0 (%s): every partition is in ibdata1", []string{"inventory", "re-check"}[i], tb.Bytes, tb.SizeSource, want)
		}
	}
}
