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

// moveLog is what Hooks.HoldMoved was told, per original name: "from→to" each.
type moveLog struct {
	mu    sync.Mutex
	moves map[string][]string
}

// listen makes j tell l of its moves, each checked to be of shard and schema.
func (l *moveLog) listen(t *testing.T, j *janitor.Janitor, shard, schema string) *janitor.Janitor {
	j.Hooks.HoldMoved = func(m discovery.HoldMove) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if m.Shard != shard || m.Schema != schema || !discovery.IsHoldName(m.HoldName) {
			t.Errorf("move %+v: not of shard %s, schema %s, with a hold name", m, shard, schema)
		}
		l.moves[m.Original] = append(l.moves[m.Original], m.From.String()+"→"+m.To.String())
	}
	return j
}

// expect checks, and forgets, the moves told of table.
func (l *moveLog) expect(t *testing.T, what, table string, want ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if got := l.moves[table]; !slices.Equal(got, want) {
		t.Errorf("%s: moves of %s told %q, want %q", what, table, got, want)
	}
	delete(l.moves, table)
}

// TestHoldMovesAreTold: each statement of a hold's life is told to Hooks.HoldMoved as
// the move it makes, in order, and the report's hold_state is the state the run left the
// table in: the hold (record, RENAME, baseline); a restore (RENAME back, the comment
// with its marker); at the hold's end, the purge mark and the DROP.
func TestHoldMovesAreTold(t *testing.T) {
	log := &moveLog{moves: map[string][]string{}}
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	oneLeftover(t, db, s)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "bills")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__bills_old")+" (id INT PRIMARY KEY)")
	cfg := holdConfig(t, s)
	shard := cfg.Shards[0].Name

	r := log.listen(t, janitor.New(cfg, nil), shard, s).Run(context.Background(), true)
	for _, name := range []string{"__orders_old", "__bills_old"} {
		log.expect(t, "the hold", name, "none→recorded", "recorded→renamed", "renamed→held")
		if o := outcomes(r)[name]; o.HoldState != "held" {
			t.Errorf("the hold: %s: hold_state %q, want held", name, o.HoldState)
		}
	}
	orders, bills := heldName(t, db, s, "__orders_old"), heldName(t, db, s, "__bills_old")

	if _, err := log.listen(t, janitor.New(cfg, nil), shard, s).Restore(context.Background(), shard, s, bills); err != nil {
		t.Fatal(err)
	}
	log.expect(t, "the restore", "__bills_old", "held→recorded", "recorded→restored")

	cfg.Execute.LargeTable = janitor.LargeTableConfig{Strategy: "purge", ThresholdBytes: 0, BatchRows: 500, BatchPause: time.Millisecond}
	j := log.listen(t, janitor.New(cfg, nil), shard, s)
	j.ClockShift = testHold + time.Minute
	r = j.Run(context.Background(), true)
	log.expect(t, "the hold's end", "__orders_old", "held→purging", "purging→dropped")
	for name, want := range map[string]string{orders: "dropped", "__bills_old": "restored"} {
		if o := outcomes(r)[name]; o.HoldState != want {
			t.Errorf("the hold's end: %s: hold_state %q (%s: %s), want %s", name, o.HoldState, o.Outcome, o.Reason, want)
		}
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	if len(log.moves) > 0 {
		t.Errorf("moves told of other tables: %q", log.moves)
	}
}
