package janitor_test

import (
	"context"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// TestHeldReasonNamesTheTableAsItIs: the restore command in a held table's reason names
// the table exactly, even when its name holds "--shard SHARD": the reason's shard was
// put in by rewriting that text wherever it stood, the table's name included.
func TestHeldReasonNamesTheTableAsItIs(t *testing.T) {
	db, s := primarySchema(t)
	base, old := "x --shard SHARD", "__x --shard SHARD_old"
	testdb.Exec(t, db, "CREATE TABLE "+q(s, base)+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, old)+" (id INT PRIMARY KEY)")
	cfg := config(t, s)
	cfg.Execute.Hold = janitor.Defaults().Execute.Hold
	want := "`janitor restore --shard sandbox '" + s + "." + old + "'`"
	run := janitor.New(cfg, nil).Run(context.Background(), true)
	if o := outcomes(run)[old]; o.Outcome != report.OutcomeHeld || !strings.Contains(o.Reason, want) {
		t.Fatalf("%s: %q (%s); want held, with %s", old, o.Outcome, o.Reason, want)
	}
	rep := janitor.New(cfg, nil).Report(context.Background())
	var held []report.Table
	for _, tb := range rep.Shards[0].Tables {
		if tb.Held() {
			held = append(held, tb)
		}
	}
	if len(held) != 1 || !strings.Contains(held[0].Reason, want) {
		t.Errorf("held rows %+v; want one whose reason has %s", held, want)
	}
}
