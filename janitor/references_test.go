package janitor_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// TestRunKeepsMergeTableUnion: issue 8's shard under `run --execute`. `_logs_old` is in
// the UNION of MERGE table `logs_all`: it survives, and `SELECT COUNT(*) FROM logs_all`
// still works (before the fix janitor dropped it and the query failed with 1168). A
// MyISAM leftover no MERGE table names is dropped in the same run.
func TestRunKeepsMergeTableUnion(t *testing.T) {
	db, s := primarySchema(t)
	const cols = "(id INT, msg VARCHAR(10)) ENGINE=MyISAM"
	testdb.Exec(t, testdb.Open(t, testdb.WithDB(testdb.PrimaryDSN(t), s)),
		"CREATE TABLE logs "+cols, "CREATE TABLE _logs_old "+cols, "INSERT INTO _logs_old VALUES (1, 'a'), (2, 'b')",
		"CREATE TABLE logs_all (id INT, msg VARCHAR(10)) ENGINE=MRG_MyISAM UNION=(_logs_old, logs)",
		"CREATE TABLE free "+cols, "CREATE TABLE _free_old "+cols)
	cfg := config(t, s)
	cfg.Discovery.ToolsInUse = []string{"pt-osc"}
	r := janitor.New(cfg, nil).Run(context.Background(), true)
	got := outcomes(r)
	if o := got["_logs_old"]; o.Outcome != report.OutcomeSkipped || o.ReasonCode != "merge_reference" {
		t.Errorf("_logs_old: %s %s (%s), want skipped merge_reference", o.Outcome, o.ReasonCode, o.Reason)
	}
	if o := got["_free_old"]; o.Outcome != report.OutcomeDropped {
		t.Errorf("_free_old: %s %s (%s), want dropped", o.Outcome, o.ReasonCode, o.Reason)
	}
	if !exists(t, db, s, "_logs_old") {
		t.Error("_logs_old was dropped")
	}
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM "+q(s, "logs_all")); err != nil || n != 2 {
		t.Errorf("SELECT COUNT(*) FROM logs_all: %d, %v; want 2", n, err)
	}
}

// TestRecheckCatchesANewMergeTable: a MERGE table created over a leftover between the
// inspection and its DROP saves it: the pre-DROP re-check lists MERGE tables afresh.
func TestRecheckCatchesANewMergeTable(t *testing.T) {
	db, s := primarySchema(t)
	const cols = "(id INT) ENGINE=MyISAM"
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "a")+" "+cols, "CREATE TABLE "+q(s, "__a_old")+" "+cols,
		"CREATE TABLE "+q(s, "b")+" "+cols, "CREATE TABLE "+q(s, "__b_old")+" "+cols)
	j := janitor.New(config(t, s), nil)
	var once sync.Once
	j.Hooks.Dropped = func(_, _ string, _ int64) {
		once.Do(func() {
			testdb.Exec(t, db, "CREATE TABLE "+q(s, "b_all")+" (id INT) ENGINE=MRG_MyISAM UNION=("+q(s, "__b_old")+")")
		})
	}
	got := outcomes(j.Run(context.Background(), true))
	if got["__a_old"].Outcome != report.OutcomeDropped {
		t.Fatalf("__a_old: %q (%s)", got["__a_old"].Outcome, got["__a_old"].Reason)
	}
	if o := got["__b_old"]; o.Outcome != report.OutcomeSkipped || !strings.Contains(o.Reason, "b_all") {
		t.Errorf("__b_old: %q %s (%s), want skipped by the re-check naming b_all", o.Outcome, o.ReasonCode, o.Reason)
	}
	if !exists(t, db, s, "__b_old") {
		t.Error("__b_old dropped under a MERGE table")
	}
}
