package janitor_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/report"
)

// ghostTables returns the statements that leave gh-ost's tables of base in schema s: base,
// the ghost table ghost LIKE it and the changelog _base_ghc, whose one heartbeat is age old
// (an SQL interval such as "2 DAY").
func ghostTables(s, base, ghost, age string) []string {
	changelog := "_" + base + "_ghc"
	return []string{
		"CREATE TABLE " + q(s, base) + " (id INT PRIMARY KEY)",
		"CREATE TABLE " + q(s, ghost) + " LIKE " + q(s, base), ghostChangelog(s, changelog),
		"INSERT INTO " + q(s, changelog) + " (id, last_update, hint, value) VALUES (1, NOW() - INTERVAL " + age + ", 'heartbeat', 'then')",
	}
}

// deadGhost returns the statements that leave a dead gh-ost migration of base in schema s:
// _base_gho and _base_ghc, whose heartbeat stopped two days ago.
func deadGhost(s, base string) []string {
	return ghostTables(s, base, "_"+base+"_gho", "2 DAY")
}

// ghostShard returns the primary and a new schema holding the dead gh-ost migration of
// orders (deadGhost).
func ghostShard(t *testing.T) (*sqlx.DB, string) {
	t.Helper()
	db, s := primarySchema(t)
	testdb.Exec(t, db, deadGhost(s, "orders")...)
	return db, s
}

// newUser creates user@127.0.0.1 with password, dropped when the test ends, and returns the
// grantee ('user'@'127.0.0.1').
func newUser(t *testing.T, db *sqlx.DB, user, password string) string {
	t.Helper()
	grantee := "'" + user + "'@'127.0.0.1'"
	testdb.Exec(t, db, "CREATE USER "+grantee+" IDENTIFIED BY '"+password+"'")
	t.Cleanup(func() { _, _ = db.Exec("DROP USER IF EXISTS " + grantee) })
	return grantee
}

// wantGhostCodes fails the test unless both gh-ost tables of orders, _orders_gho and
// _orders_ghc, have code in got, with a reason that contains has (when not "").
func wantGhostCodes(t *testing.T, got map[string]report.Table, what string, code policies.Code, has string) {
	t.Helper()
	for _, name := range []string{"_orders_gho", "_orders_ghc"} {
		if row := got[name]; row.ReasonCode != string(code) || !strings.Contains(row.Reason, has) {
			t.Errorf("%s: %s: %s (%s); want %s with %q", what, name, row.ReasonCode, row.Reason, code, has)
		}
	}
}

// oldLeftovers creates, for each base, the table base and a dead pt-osc copy of it,
// __base_old.
func oldLeftovers(t *testing.T, db *sqlx.DB, s string, bases ...string) {
	t.Helper()
	for _, b := range bases {
		testdb.Exec(t, db, "CREATE TABLE "+q(s, b)+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__"+b+"_old")+" (id INT PRIMARY KEY)")
	}
}

// largeLeftover creates base (id, v VARCHAR(width)) and its dead copy __base_old holding
// rows rows of width bytes each.
func largeLeftover(t *testing.T, db *sqlx.DB, s, base string, rows, width int) {
	t.Helper()
	old := "__" + base + "_old"
	testdb.Exec(t, db, fmt.Sprintf("CREATE TABLE %s (id INT PRIMARY KEY, v VARCHAR(%d))", q(s, base), width),
		"CREATE TABLE "+q(s, old)+" LIKE "+q(s, base),
		fmt.Sprintf("INSERT INTO %s SELECT seq, REPEAT('x', %d) FROM %s", q(s, old), width, testdb.Seq(t, s, rows)))
}

// purgeAll is the large-table strategy that purges every table in batches of 500 rows,
// pause apart.
func purgeAll(pause time.Duration) janitor.LargeTableConfig {
	return janitor.LargeTableConfig{Strategy: "purge", ThresholdBytes: 0, BatchRows: 500, BatchPause: pause}
}

// replicatedLeftover returns the primary, the replica and a schema with oneLeftover that
// the replica has applied.
func replicatedLeftover(t *testing.T) (db, replica *sqlx.DB, s string) {
	t.Helper()
	db = testdb.Primary(t)
	replica = testdb.Open(t, testdb.ReplicaDSN(t))
	s = testdb.Schema(t, db)
	oneLeftover(t, db, s)
	testdb.WaitReplica(t, db, replica)
	return db, replica, s
}

// afterFirstDrop runs execute on cfg's shard, whose leftovers are __a_old and another that
// sorts after it, with changed called after each DROP, and returns the outcomes; it fails
// the test unless __a_old was dropped (changed then ran before the other's re-check).
func afterFirstDrop(t *testing.T, cfg janitor.Config, changed func()) map[string]report.Table {
	t.Helper()
	j := janitor.New(cfg, nil)
	j.Hooks.Dropped = func(string, string, int64) { changed() }
	got := outcomes(j.Run(context.Background(), true))
	if got["__a_old"].Outcome != report.OutcomeDropped {
		t.Fatalf("__a_old: %s (%s)", got["__a_old"].Outcome, got["__a_old"].Reason)
	}
	return got
}

// serve listens on a local port until the test ends, hands each connection it accepts to
// handle, and returns its address.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handle(c)
		}
	}()
	return ln.Addr().String()
}

// afterFirstBatch runs execute with cfg, calling act once, after the first purge batch
// that purged rows, and returns the report; it fails the test if act never ran.
func afterFirstBatch(t *testing.T, cfg janitor.Config, act func()) *report.Report {
	t.Helper()
	j := janitor.New(cfg, nil)
	acted := false
	j.Hooks.PurgeBatch = func(_, _, _ string, purged int64) {
		if purged > 0 && !acted {
			acted = true
			act()
		}
	}
	r := j.Run(context.Background(), true)
	if !acted {
		t.Fatalf("the purge never reached a second batch: %+v", outcomes(r))
	}
	return r
}

// wantKept fails the test unless table's outcome in got is outcome, with a reason that
// contains has, and table is still in schema s; why says what keeping it shows.
func wantKept(t *testing.T, db *sqlx.DB, s string, got map[string]report.Table, table, outcome, has, why string) {
	t.Helper()
	if o := got[table]; o.Outcome != outcome || !strings.Contains(o.Reason, has) {
		t.Errorf("%s: %s (%s), want %s with %q: %s", table, o.Outcome, o.Reason, outcome, has, why)
	}
	if !exists(t, db, s, table) {
		t.Errorf("%s is gone: %s", table, why)
	}
}

// purgeUnderReplicaLock runs execute on purgeShard's shard with __a_old locked on the
// replica (through lock) from after janitor's look at the replica's sessions, before the
// first batch, until the run ends; then it waits until the replica has caught up.
func purgeUnderReplicaLock(ctx context.Context, t *testing.T, db, replica *sqlx.DB, s string, cfg janitor.Config, lock *sqlx.Conn) *report.Report {
	t.Helper()
	var lockErr error
	j := janitor.New(cfg, nil)
	j.Hooks.PurgeBatch = func(_, _, _ string, purged int64) {
		if purged == 0 {
			_, lockErr = lock.ExecContext(ctx, "LOCK TABLES "+q(s, "__a_old")+" READ")
		}
	}
	r := j.Run(ctx, true)
	if _, err := lock.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	testdb.WaitReplica(t, db, replica)
	if lockErr != nil {
		t.Fatalf("lock the table on the replica: %v", lockErr)
	}
	return r
}

// leftoverShard returns the primary, a schema with oneLeftover and its configuration,
// with janitor's default hold when hold (else none: the DROP at once).
func leftoverShard(t *testing.T, hold bool) (*sqlx.DB, string, janitor.Config) {
	t.Helper()
	db, s := primarySchema(t)
	oneLeftover(t, db, s)
	cfg := config(t, s)
	if hold {
		cfg.Execute.Hold = janitor.Defaults().Execute.Hold
	}
	return db, s, cfg
}

// killWhenWaiting has a session of db hold __orders_old's metadata lock in s, and ends
// the session of janitor's statement starting with prefix once it waits for that lock
// (killWaiting); the channel tells how that went.
func killWhenWaiting(ctx context.Context, t *testing.T, db *sqlx.DB, s, prefix string) <-chan error {
	t.Helper()
	holder, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Close() })
	testdb.Exec(t, holder, "BEGIN", "SELECT 1 FROM "+q(s, "__orders_old")+" LIMIT 0")
	killed := make(chan error, 1)
	go func() { killed <- killWaiting(ctx, db, holder, prefix) }()
	return killed
}

// pfsOn says whether db runs with performance_schema on.
func pfsOn(t *testing.T, db *sqlx.DB) bool {
	t.Helper()
	var pfs int
	if err := db.Get(&pfs, "SELECT @@performance_schema"); err != nil {
		t.Fatal(err)
	}
	return pfs == 1
}

// digestShard returns the primary, skipping the test without statement digests
// (requireDigests), and a new schema with oldLeftovers of bases.
func digestShard(t *testing.T, bases ...string) (*sqlx.DB, string) {
	t.Helper()
	db := testdb.Primary(t)
	requireDigests(t, db)
	s := testdb.Schema(t, db)
	oldLeftovers(t, db, s, bases...)
	return db, s
}

// askByName reads table by its name in schema s as an application account would, and
// fails the test if it answers (the table is held under another name).
func askByName(t *testing.T, s, table string) {
	t.Helper()
	appDSN, _ := account(t, []string{"SELECT ON " + dbconn.QuoteIdent(s) + ".*"})
	app := testdb.Open(t, appDSN)
	var n int
	if err := app.Get(&n, "SELECT COUNT(*) FROM "+q(s, table)); err == nil {
		t.Fatal("the held name answered")
	}
}

// wantItemsRecentRead fails the test unless __items_old, read a moment ago, is
// recent_read by source, and __notes_old, never read, is not.
func wantItemsRecentRead(t *testing.T, o map[string]report.Table, source string) {
	t.Helper()
	if o["__items_old"].ReasonCode != string(policies.CodeRecentRead) || !strings.Contains(o["__items_old"].Reason, source) {
		t.Errorf("__items_old read a moment ago: %+v, want %s from %s", o["__items_old"], policies.CodeRecentRead, source)
	}
	if o["__notes_old"].ReasonCode == string(policies.CodeRecentRead) {
		t.Errorf("__notes_old never read: %+v", o["__notes_old"])
	}
}

// heldAfterKill runs execute with cfg while the test ends janitor's session (killed
// reports how that went), and fails the test unless __orders_old was held after the
// reconnect and the run did not fail.
func heldAfterKill(ctx context.Context, t *testing.T, db *sqlx.DB, s string, cfg janitor.Config, killed <-chan error) {
	t.Helper()
	r := janitor.New(cfg, nil).Run(ctx, true)
	if err := <-killed; err != nil {
		t.Fatal(err)
	}
	o := outcomes(r)["__orders_old"]
	if o.Outcome != report.OutcomeHeld || r.Failed() {
		t.Errorf("__orders_old: %q (%s), failed run %v; want held after the reconnect", o.Outcome, o.Reason, r.Failed())
	}
	if exists(t, db, s, "__orders_old") {
		t.Error("__orders_old is still under its own name")
	}
}

// wantHeld runs execute with cfg and fails the test at once unless table was held; what
// names the run.
func wantHeld(t *testing.T, cfg janitor.Config, table, what string) {
	t.Helper()
	if o := outcomes(janitor.New(cfg, nil).Run(context.Background(), true))[table]; o.Outcome != report.OutcomeHeld {
		t.Fatalf("%s: %s: %+v, want held", what, table, o)
	}
}

// heldLeftover returns the primary, a schema with oneLeftover, the hold configuration and
// the hold name of __orders_old, which a first run held.
func heldLeftover(t *testing.T) (*sqlx.DB, string, janitor.Config, string) {
	t.Helper()
	db, s := primarySchema(t)
	oneLeftover(t, db, s)
	cfg := holdConfig(t, s)
	wantHeld(t, cfg, "__orders_old", "first run")
	return db, s, cfg, heldName(t, db, s, "__orders_old")
}

// createdAgo waits until table's CREATE_TIME is at least secs seconds behind the server's
// clock (CREATE_TIME has one-second resolution), failing the test after 10 s.
func createdAgo(t *testing.T, db *sqlx.DB, schema, table string, secs int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ago int
		if err := db.Get(&ago, "SELECT TIMESTAMPDIFF(SECOND, CREATE_TIME, NOW()) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", schema, table); err != nil {
			t.Fatal(err)
		}
		if ago >= secs {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s.%s: CREATE_TIME %d s old after 10 s, want %d", schema, table, ago, secs)
		}
		<-time.After(50 * time.Millisecond) // polling the server's clock, with a deadline
	}
}

// wantPurgedPartWay fails the test unless purgeShard's __a_old is still there with part
// of its 2,000 rows: the purge stopped part-way.
func wantPurgedPartWay(ctx context.Context, t *testing.T, db *sqlx.DB, s string) {
	t.Helper()
	var n int
	if err := db.GetContext(ctx, &n, "SELECT COUNT(*) FROM "+q(s, "__a_old")); err != nil {
		t.Fatalf("__a_old is gone (dropped after the deadline?): %v", err)
	}
	if n == 0 || n >= 2000 {
		t.Errorf("%d rows left of 2000; want the purge stopped part-way", n)
	}
}

// primarySchema returns the primary and a new schema on it, which the test's end drops:
// the opening of most tests.
func primarySchema(t *testing.T) (*sqlx.DB, string) {
	t.Helper()
	db := testdb.Primary(t)
	return db, testdb.Schema(t, db)
}
