package janitor_test

import (
	"context"
	"testing"
	"time"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/metrics"
	"github.com/janitorhq/janitor/report"
)

// TestSharedTablespaceFreesNothingEndToEnd: issue 18 §4, through a whole execute run. A
// leftover in a shared tablespace (ibdata1, created with innodb_file_per_table=OFF; on
// MySQL also a general tablespace) is dropped, but its DROP gives the file system
// nothing back: the plan's reclaimable_bytes, the run's freed_bytes and
// reclaimed_bytes, and janitor_reclaimed_bytes_total count 0 for it, and only the
// file-per-table leftover's bytes. Before the fix MySQL counted the statistics'
// estimate (7,880,704 bytes for 20,000 rows) as freed.
func TestSharedTablespaceFreesNothingEndToEnd(t *testing.T) {
	db := testdb.Primary(t)
	mysql := testdb.IsMySQL(t)
	var ts string
	if mysql {
		ts = testdb.GeneralTablespace(t, db) // before the schema: dropped after its tables
	}
	s := testdb.Schema(t, db)
	row := "(id INT PRIMARY KEY, v VARCHAR(200))"
	seq := testdb.Seq(t, s, 20000)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "orders")+" "+row, "CREATE TABLE "+q(s, "items")+" "+row, "CREATE TABLE "+q(s, "carts")+" "+row)
	testdb.InSystemTablespace(t, db, "CREATE TABLE "+q(s, "__orders_old")+" "+row)
	shared := []string{"__orders_old"}
	if mysql {
		testdb.Exec(t, db, "CREATE TABLE "+q(s, "__carts_old")+" "+row+" TABLESPACE `"+ts+"`")
		shared = append(shared, "__carts_old")
	}
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "__items_old")+" "+row)
	for _, name := range append([]string{"__items_old"}, shared...) {
		testdb.Exec(t, db, "INSERT INTO "+q(s, name)+" SELECT seq, REPEAT('x', 200) FROM "+seq)
	}
	want := discovery.SizeSystemTablespace
	if mysql {
		want = discovery.SizeSharedTablespace
	}

	cfg := config(t, s)
	plan := janitor.New(cfg, nil).Run(context.Background(), false)
	got := outcomes(plan)
	for _, name := range shared {
		if o := got[name]; o.Outcome != report.OutcomePlanned || o.Bytes != 0 || o.SizeSource != want {
			t.Errorf("plan: %s: %s (%s), %d bytes (%s); want planned, 0 bytes (%s)", name, o.Outcome, o.Reason, o.Bytes, o.SizeSource, want)
		}
	}
	items := got["__items_old"].Bytes
	if items <= 0 {
		t.Fatalf("plan: __items_old: %d bytes (%s); want its file's size", items, got["__items_old"].SizeSource)
	}
	if rb := plan.Shards[0].ReclaimableBytes; rb != items {
		t.Errorf("plan: reclaimable_bytes %d; want only __items_old's %d", rb, items)
	}

	j := janitor.New(cfg, nil)
	m := metrics.New()
	m.Init([]string{"sandbox"})
	j.Hooks.Dropped = m.Dropped
	r := j.Run(context.Background(), true)
	if r.Failed() {
		t.Fatalf("run failed: %+v", r.Shards)
	}
	got = outcomes(r)
	for _, name := range shared {
		if o := got[name]; o.Outcome != report.OutcomeDropped || o.FreedBytes != 0 {
			t.Errorf("execute: %s: %s (%s), freed %d; want dropped, freed 0", name, o.Outcome, o.Reason, o.FreedBytes)
		}
	}
	freed := got["__items_old"].FreedBytes
	if got["__items_old"].Outcome != report.OutcomeDropped || freed <= 0 {
		t.Errorf("execute: __items_old: %s (%s), freed %d; want dropped with its bytes", got["__items_old"].Outcome, got["__items_old"].Reason, freed)
	}
	if r.ReclaimedBytes == nil {
		t.Errorf("execute: no reclaimed_bytes; want only __items_old's %d", freed)
	} else if *r.ReclaimedBytes != freed {
		t.Errorf("execute: reclaimed_bytes %d; want only __items_old's %d", *r.ReclaimedBytes, freed)
	}
	if v := counter(t, m, "janitor_reclaimed_bytes_total"); v != float64(freed) {
		t.Errorf("janitor_reclaimed_bytes_total = %v; want only __items_old's %d", v, freed)
	}
}

// TestSharedTablespacePurgedWhenLarge: large_table.strategy purge empties a table over
// threshold_bytes in batches before its DROP, to spread the DROP's work. A table in a
// shared tablespace frees 0 bytes on disk, but its DROP still walks and frees all its
// pages: its size against the threshold is its data, not what the file system gets back.
// Before the fix its 0 bytes kept it under any threshold, and it was dropped whole
// (MariaDB's system_tablespace always, MySQL since shared_tablespace counted 0).
func TestSharedTablespacePurgedWhenLarge(t *testing.T) {
	db, s := primarySchema(t)
	row := "(id INT PRIMARY KEY, v VARCHAR(200))"
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "orders")+" "+row)
	testdb.InSystemTablespace(t, db, "CREATE TABLE "+q(s, "__orders_old")+" "+row)
	testdb.Exec(t, db, "INSERT INTO "+q(s, "__orders_old")+" SELECT seq, REPEAT('x', 200) FROM "+testdb.Seq(t, s, 3000),
		"ANALYZE TABLE "+q(s, "__orders_old"))
	cfg := config(t, s)
	cfg.Execute.LargeTable = janitor.LargeTableConfig{Strategy: "purge", ThresholdBytes: 64 << 10, BatchRows: 1000, BatchMinRows: 1000, BatchPause: time.Millisecond}
	j := janitor.New(cfg, nil)
	var batches int
	j.Hooks.PurgeBatch = func(string, string, string, int64) { batches++ }
	r := j.Run(context.Background(), true)
	o := outcomes(r)["__orders_old"]
	switch {
	case o.Outcome == report.OutcomeDropped && o.FreedBytes != 0:
		t.Errorf("dropped, freed %d; want 0 (%s)", o.FreedBytes, o.SizeSource)
	case o.Outcome != report.OutcomeDropped:
		// Seen once in four on MariaDB 10.11: the replica's applier still held the
		// table's metadata lock from the last batch when the DROP's guard looked, and the
		// table waits for the next run. The guard's business; the purge is this test's.
		t.Logf("%s (%s), freed %d", o.Outcome, o.Reason, o.FreedBytes)
	}
	if batches == 0 {
		t.Errorf("dropped whole: 3,000 rows (%s) in a shared tablespace were not purged first (threshold 64 KiB)", o.SizeSource)
	}
}
