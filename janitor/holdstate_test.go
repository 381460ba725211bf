package janitor_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
)

// TestHoldMovesAreTold: each statement of a hold's life is told to Hooks.HoldMoved as
// the move it makes, in order, and the report's hold_state is the state the run left the
// table in: the hold (record, RENAME, baseline); a restore (RENAME back, the comment
// with its marker); at the hold's end, the purge mark and the DROP.
func TestHoldMovesAreTold(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	oneLeftover(t, db, s)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "bills")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__bills_old")+" (id INT PRIMARY KEY)")
	cfg := holdConfig(t, s)
	shard := cfg.Shards[0].Name
	var mu sync.Mutex
	moves := map[string][]string{}
	told := func(j *janitor.Janitor) *janitor.Janitor {
		j.Hooks.HoldMoved = func(m discovery.HoldMove) {
			mu.Lock()
			defer mu.Unlock()
			if m.Shard != shard || m.Schema != s || !discovery.IsHoldName(m.HoldName) {
				t.Errorf("move %+v: not of shard %s, schema %s, with a hold name", m, shard, s)
			}
			moves[m.Original] = append(moves[m.Original], m.From.String()+"→"+m.To.String())
		}
		return j
	}
	expect := func(what, table string, want ...string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if got := moves[table]; !slices.Equal(got, want) {
			t.Errorf("%s: moves of %s told %q, want %q", what, table, got, want)
		}
		delete(moves, table)
	}

	r := told(janitor.New(cfg, nil)).Run(context.Background(), true)
	for _, name := range []string{"__orders_old", "__bills_old"} {
		expect("the hold", name, "none→recorded", "recorded→renamed", "renamed→held")
		if o := outcomes(r)[name]; o.HoldState != "held" {
			t.Errorf("the hold: %s: hold_state %q, want held", name, o.HoldState)
		}
	}
	orders, bills := heldName(t, db, s, "__orders_old"), heldName(t, db, s, "__bills_old")

	if _, err := told(janitor.New(cfg, nil)).Restore(context.Background(), shard, s, bills); err != nil {
		t.Fatal(err)
	}
	expect("the restore", "__bills_old", "held→recorded", "recorded→restored")

	cfg.Execute.LargeTable = janitor.LargeTableConfig{Strategy: "purge", ThresholdBytes: 0, BatchRows: 500, BatchPause: time.Millisecond}
	j := told(janitor.New(cfg, nil))
	j.ClockShift = testHold + time.Minute
	r = j.Run(context.Background(), true)
	expect("the hold's end", "__orders_old", "held→purging", "purging→dropped")
	for name, want := range map[string]string{orders: "dropped", "__bills_old": "restored"} {
		if o := outcomes(r)[name]; o.HoldState != want {
			t.Errorf("the hold's end: %s: hold_state %q (%s: %s), want %s", name, o.HoldState, o.Outcome, o.Reason, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(moves) > 0 {
		t.Errorf("moves told of other tables: %q", moves)
	}
}
