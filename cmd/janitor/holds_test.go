package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/report"
)

// TestHoldsCommandRestores: `janitor holds --execute`, the hold watch the execute
// overlay runs every 5 minutes, restores a held table that a statement asked for by its
// original name, and says so in its report; `janitor holds` without --execute only
// plans it.
func TestHoldsCommandRestores(t *testing.T) {
	db := testdb.Primary(t)
	var pfs int
	if err := db.Get(&pfs, "SELECT @@performance_schema"); err != nil {
		t.Fatal(err)
	}
	if pfs != 1 {
		t.Skip("performance_schema is off: no statement statistics to listen with")
	}
	s, names := deadTables(t, db, 1)
	path := writeConfig(t, strings.Replace(runConfigText(t, s, "0s"), "hold: 0s", "hold: 1h", 1))
	if code, out, errs := runCLI(t, "run", "--execute", "--config", path); code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errs)
	}
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM "+dbconn.QualifiedName(s, names[0])); err == nil {
		t.Fatal("the held name answered")
	}
	outcome := func(args ...string) string {
		code, out, errs := runCLI(t, append([]string{"holds", "--output", "json", "--config", path}, args...)...)
		var r report.Report
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.Shards) != 1 || len(r.Shards[0].Tables) != 1 {
			t.Fatalf("holds %v: exit %d\n%s\n%s", args, code, out, errs)
		}
		return r.Shards[0].Tables[0].Outcome
	}
	if o := outcome(); o != report.OutcomePlanned {
		t.Errorf("holds (dry run): outcome %q, want planned", o)
	}
	if o := outcome("--execute"); o != report.OutcomeRestored {
		t.Errorf("holds --execute: outcome %q, want restored", o)
	}
	if err := db.Get(&n, "SELECT COUNT(*) FROM "+dbconn.QualifiedName(s, names[0])); err != nil {
		t.Errorf("after the restore: %v", err)
	}
}
