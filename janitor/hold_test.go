package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/report"
)

const testHold = time.Hour

func holdConfig(t *testing.T, schema string) janitor.Config {
	cfg := config(t, schema)
	cfg.Execute.Hold = testHold
	return cfg
}

// heldName returns the hold name a run gave table, failing the test when it was not held.
func heldName(t *testing.T, db *sqlx.DB, schema, table string) string {
	t.Helper()
	var names []string
	if err := db.Select(&names, `SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE '\_janitor\_hold\_%'`, schema); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		var c string
		if err := db.Get(&c, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", schema, n); err != nil {
			t.Fatal(err)
		}
		if h, ok := discovery.ParseHold(c); ok && h.Table == table {
			return n
		}
	}
	t.Fatalf("%s.%s is not held (hold names there: %v)", schema, table, names)
	return ""
}

var markerRE = regexp.MustCompile(` ?restored by janitor on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: keep$`)

// snapshot is what a round trip must give back: rows, comment, foreign keys, views.
func snapshot(t *testing.T, db *sqlx.DB, schema, table string) string {
	t.Helper()
	var sum struct {
		Table    string `db:"Table"`
		Checksum *int64 `db:"Checksum"`
	}
	if err := db.Get(&sum, "CHECKSUM TABLE "+q(schema, table)); err != nil {
		t.Fatal(err)
	}
	var comment string
	if err := db.Get(&comment, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", schema, table); err != nil {
		t.Fatal(err)
	}
	// restore ends the comment with its keep marker (TestRestoreIsDurable checks it):
	// the rest must be the table's own.
	comment = markerRE.ReplaceAllString(comment, "")
	var fks []string
	if err := db.Select(&fks, `SELECT CONCAT_WS(' ', CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME)
		FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND REFERENCED_TABLE_NAME IS NOT NULL ORDER BY 1`, schema); err != nil {
		t.Fatal(err)
	}
	var views []string
	if err := db.Select(&views, "SELECT CONCAT(TABLE_NAME, ': ', VIEW_DEFINITION) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY 1", schema); err != nil {
		t.Fatal(err)
	}
	var cs int64
	if sum.Checksum != nil {
		cs = *sum.Checksum
	}
	return strings.Join([]string{table, comment, strings.Join(fks, ","), strings.Join(views, ","), fmt.Sprint(cs)}, " | ")
}

func restore(t *testing.T, cfg janitor.Config, schema, table string) []janitor.Restored {
	t.Helper()
	done, err := janitor.New(cfg, nil).Restore(context.Background(), "sandbox", schema, table)
	if err != nil {
		t.Fatalf("restore %s.%s: %v", schema, table, err)
	}
	return done
}

// TestHoldRestoreRoundTrip: a dead leftover is renamed to a hold name, reported as held,
// and restored to the same name, rows, comment, foreign keys and views, on the primary
// and on the replica. A view on the base still works; the held table's own foreign key
// (to a parent) follows both renames.
func TestHoldRestoreRoundTrip(t *testing.T) {
	db := testdb.Primary(t)
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	s := testdb.Schema(t, db)
	// A 64-character non-ASCII name, a comment with quotes and a backslash.
	base := strings.Repeat("ü", 40) + "_заказы_" + strings.Repeat("x", 2)
	old := "__" + base + "_old"
	for len([]rune(old)) < 64 {
		base += "y"
		old = "__" + base + "_old"
	}
	testdb.Exec(t, db,
		"CREATE TABLE "+q(s, "customers")+" (id INT PRIMARY KEY)",
		"INSERT INTO "+q(s, "customers")+" VALUES (1), (2)",
		// Named constraints: MySQL names a foreign key <table>_ibfk_1, which a 58-character
		// table name pushes past 64 characters (1059).
		"CREATE TABLE "+q(s, base)+" (id INT PRIMARY KEY, c INT, CONSTRAINT fk_base_c FOREIGN KEY (c) REFERENCES "+q(s, "customers")+" (id))",
		"CREATE TABLE "+q(s, old)+" (id INT PRIMARY KEY, c INT, v VARCHAR(20), CONSTRAINT fk_old_c FOREIGN KEY (c) REFERENCES "+q(s, "customers")+" (id)) COMMENT='it''s a \"copy\" \\\\ kept'",
		"INSERT INTO "+q(s, old)+" VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 1, 'c')",
		"CREATE VIEW "+q(s, "v_base")+" AS SELECT id FROM "+q(s, base),
	)
	if n := len([]rune(old)); n != 64 {
		t.Fatalf("name is %d characters", n)
	}
	before := snapshot(t, db, s, old)
	t.Logf("before: %s", before)
	cfg := holdConfig(t, s)

	r := janitor.New(cfg, nil).Run(context.Background(), true)
	o := outcomes(r)[old]
	if o.Outcome != report.OutcomeHeld || o.HeldUntil == nil || o.OriginalTable != old {
		t.Fatalf("run: %+v, want held", o)
	}
	if exists(t, db, s, old) {
		t.Fatal("the original name still exists after the hold")
	}
	hold := heldName(t, db, s, old)
	if !discovery.IsHoldName(hold) || len(hold) > 64 {
		t.Fatalf("hold name %q", hold)
	}
	testdb.WaitReplica(t, db, replica)
	if exists(t, replica, s, old) || !exists(t, replica, s, hold) {
		t.Fatal("the replica did not follow the hold's rename")
	}

	// A later report: the table is janitor's hold, counted as reclaimable.
	rep := janitor.New(cfg, nil).Report(context.Background())
	h := outcomes(rep)[hold]
	if h.Tool != "janitor" || h.Role != "hold" || h.ReasonCode != string(policies.CodeHeld) || h.OriginalTable != old || h.HeldUntil == nil {
		t.Fatalf("report of the held table: %+v", h)
	}
	if !h.HeldUntil.Equal(*o.HeldUntil) || rep.ReclaimableBytes < h.Bytes || h.Bytes == 0 {
		t.Errorf("held_until %v (run said %v), reclaimable %d, bytes %d", h.HeldUntil, o.HeldUntil, rep.ReclaimableBytes, h.Bytes)
	}
	// A second run does not drop it: the hold has not ended.
	r = janitor.New(cfg, nil).Run(context.Background(), true)
	if o := outcomes(r)[hold]; o.Outcome != report.OutcomeSkipped || !exists(t, db, s, hold) {
		t.Fatalf("second run: %+v", o)
	}

	done := restore(t, cfg, s, old)
	if len(done) != 1 || done[0].Table != old || done[0].HoldName != hold || !done[0].CommentRestored {
		t.Fatalf("restore: %+v", done)
	}
	if after := snapshot(t, db, s, old); after != before {
		t.Errorf("round trip changed the table:\nbefore %s\nafter  %s", before, after)
	}
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM "+q(s, "v_base")); err != nil {
		t.Errorf("view after restore: %v", err)
	}
	testdb.WaitReplica(t, db, replica)
	if after := snapshot(t, replica, s, old); after != before {
		t.Errorf("replica after the round trip:\nbefore %s\nafter  %s", before, after)
	}
	// Restoring again: nothing is held under that name any more.
	if _, err := janitor.New(cfg, nil).Restore(context.Background(), "sandbox", s, old); !errors.Is(err, janitor.ErrNotHeld) {
		t.Errorf("second restore: %v, want ErrNotHeld", err)
	}
}

// TestHoldExpiryDrops: once the hold has ended and nothing touched the table, a later
// run drops it; the replica follows.
func TestHoldExpiryDrops(t *testing.T) {
	db := testdb.Primary(t)
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	s := testdb.Schema(t, db)
	oneLeftover(t, db, s)
	cfg := holdConfig(t, s)
	if o := outcomes(janitor.New(cfg, nil).Run(context.Background(), false))["__orders_old"]; o.Outcome != report.OutcomePlanned || !strings.Contains(o.Reason, "holds it first") {
		t.Errorf("dry run: %+v, want planned with the hold said", o)
	}
	wantHeld(t, cfg, "__orders_old", "first run")
	hold := heldName(t, db, s, "__orders_old")
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	r := j.Run(context.Background(), true)
	o := outcomes(r)[hold]
	if o.Outcome != report.OutcomeDropped || exists(t, db, s, hold) {
		t.Fatalf("after the hold: %+v", o)
	}
	if !strings.Contains(o.Reason, "hold of __orders_old") {
		t.Errorf("reason %q does not name the original table", o.Reason)
	}
	testdb.WaitReplica(t, db, replica)
	if exists(t, replica, s, hold) || exists(t, replica, s, "__orders_old") {
		t.Error("the replica still has the table")
	}
}

// TestHoldAccessKeeps: a table written to (here by an EVENT) or read during its hold is
// kept after the hold ends, with a reason that says how to restore. Reads are observable
// only with performance_schema; without it the reason says so and the hold decides.
func TestHoldAccessKeeps(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "bills")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "__bills_old")+" (id INT PRIMARY KEY)",
		"INSERT INTO "+q(s, "__bills_old")+" VALUES (1)")
	cfg := holdConfig(t, s)
	janitor.New(cfg, nil).Run(context.Background(), true)
	written := heldName(t, db, s, "__orders_old")
	read := heldName(t, db, s, "__bills_old")

	// The write comes from an EVENT when the scheduler can run, else from a session.
	var sched string
	if err := db.Get(&sched, "SELECT @@event_scheduler"); err != nil {
		t.Fatal(err)
	}
	if sched != "ON" {
		testdb.Exec(t, db, "SET GLOBAL event_scheduler = ON")
		t.Cleanup(func() { _, _ = db.Exec("SET GLOBAL event_scheduler = " + sched) })
	}
	testdb.Exec(t, db, "CREATE EVENT "+q(s, "ev")+" ON SCHEDULE AT CURRENT_TIMESTAMP DO INSERT INTO "+q(s, written)+" VALUES (42)")
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := db.Get(&n, "SELECT COUNT(*) FROM "+q(s, written)); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the event did not write within 30s")
		}
		time.Sleep(100 * time.Millisecond) // polling the event's effect, with a deadline
	}
	var got int
	if err := db.Get(&got, "SELECT id FROM "+q(s, read)); err != nil {
		t.Fatal(err)
	}
	var pfs int
	if err := db.Get(&pfs, "SELECT @@performance_schema"); err != nil {
		t.Fatal(err)
	}

	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	r := j.Run(context.Background(), true)
	w := outcomes(r)[written]
	if w.Outcome != report.OutcomeSkipped || w.ReasonCode != string(policies.CodeAccessedDuringHold) || !exists(t, db, s, written) {
		t.Fatalf("written during the hold: %+v", w)
	}
	if !strings.Contains(w.Reason, "janitor restore") || !strings.Contains(w.Reason, "__orders_old") || !strings.Contains(w.Reason, "UPDATE_TIME") {
		t.Errorf("reason %q: want the evidence and how to restore", w.Reason)
	}
	rd := outcomes(r)[read]
	if pfs == 1 {
		if rd.ReasonCode != string(policies.CodeAccessedDuringHold) || !exists(t, db, s, read) {
			t.Errorf("read during the hold, performance_schema on: %+v", rd)
		}
	} else if rd.Outcome != report.OutcomeDropped || !strings.Contains(rd.Reason, "performance_schema is off") {
		t.Errorf("read during the hold, performance_schema off: %+v; want dropped, saying reads cannot be seen", rd)
	}
}

// TestHoldEventOnTheOriginalNameKeeps: an event naming a held table by its name before
// the hold fails on the missing table, so the hold's access check sees nothing; the
// event itself keeps the table once the hold ends.
func TestHoldEventOnTheOriginalNameKeeps(t *testing.T) {
	db, s, cfg, hold := heldLeftover(t)
	testdb.Exec(t, db, "CREATE EVENT "+q(s, "weekly")+" ON SCHEDULE EVERY 1 WEEK STARTS CURRENT_TIMESTAMP + INTERVAL 1 YEAR DO INSERT INTO __orders_old VALUES (1)")
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	o := outcomes(j.Run(context.Background(), true))[hold]
	if o.Outcome != report.OutcomeSkipped || o.ReasonCode != string(policies.CodeEventReference) || !exists(t, db, s, hold) {
		t.Fatalf("after the hold, with an event naming __orders_old: %+v; want skipped, event_reference", o)
	}
	if !strings.Contains(o.Reason, "`weekly`") || !strings.Contains(o.Reason, "before the hold `__orders_old`") {
		t.Errorf("reason %q: want the event and the name it uses", o.Reason)
	}
}

// TestHoldGroupsAMigration: gh-ost's ghost and changelog are held in one run with one
// hold end, restored together by either name, and kept together when one was touched.
func TestHoldGroupsAMigration(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, deadGhost(s, "users")...)
	cfg := holdConfig(t, s)
	r := janitor.New(cfg, nil).Run(context.Background(), true)
	gho, ghc := outcomes(r)["_users_gho"], outcomes(r)["_users_ghc"]
	if gho.Outcome != report.OutcomeHeld || ghc.Outcome != report.OutcomeHeld || !gho.HeldUntil.Equal(*ghc.HeldUntil) {
		t.Fatalf("held: %+v / %+v", gho, ghc)
	}
	hgho, hghc := heldName(t, db, s, "_users_gho"), heldName(t, db, s, "_users_ghc")

	// One touched: both kept after the hold.
	testdb.Exec(t, db, "INSERT INTO "+q(s, hgho)+" VALUES (7)")
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	r = j.Run(context.Background(), true)
	if o := outcomes(r)[hghc]; o.Outcome != report.OutcomeSkipped || !strings.Contains(o.Reason, "same gh-ost migration") {
		t.Errorf("untouched partner of a touched table: %+v", o)
	}

	// Restore by the changelog's name brings back both.
	done := restore(t, cfg, s, "_users_ghc")
	if len(done) != 2 || !exists(t, db, s, "_users_gho") || !exists(t, db, s, "_users_ghc") {
		t.Fatalf("restore of the group: %+v", done)
	}
}

// TestRestoreRefusesATakenName: when the original name exists again, restore renames
// nothing and says why.
func TestRestoreRefusesATakenName(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	oneLeftover(t, db, s)
	cfg := holdConfig(t, s)
	janitor.New(cfg, nil).Run(context.Background(), true)
	hold := heldName(t, db, s, "__orders_old")
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "__orders_old")+" (x INT)")
	_, err := janitor.New(cfg, nil).Restore(context.Background(), "sandbox", s, hold)
	if err == nil || !strings.Contains(err.Error(), "exists again") {
		t.Fatalf("restore over a taken name: %v", err)
	}
	if !exists(t, db, s, hold) {
		t.Fatal("the held table moved")
	}
}

// TestVitessTablesAreNotHeld: Vitess holds its own tables; janitor drops a due one at once.
func TestVitessTablesAreNotHeld(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	name := "_vt_drp_6ace8bcef73211ea87e9f875a4d24e90_" + time.Now().UTC().Add(-48*time.Hour).Format("20060102150405") + "_"
	testdb.Exec(t, db, "CREATE TABLE "+q(s, name)+" (id INT PRIMARY KEY)")
	r := janitor.New(holdConfig(t, s), nil).Run(context.Background(), true)
	if o := outcomes(r)[name]; o.Outcome != report.OutcomeDropped {
		t.Fatalf("Vitess table: %+v, want dropped at once", o)
	}
}

// TestHoldSurvivesALostConnectionAndARestart: the dropping connection is killed right
// after the RENAME (before the access baseline is written); the run confirms the hold by
// its name. After a primary restart, a fresh janitor restores it from the shard alone.
func TestHoldSurvivesALostConnectionAndARestart(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	oneLeftover(t, db, s)
	testdb.Exec(t, db, "INSERT INTO "+q(s, "__orders_old")+" VALUES (1), (2), (3)", "ALTER TABLE "+q(s, "__orders_old")+" COMMENT='gh-ost-like comment'")
	before := snapshot(t, db, s, "__orders_old")
	cfg := holdConfig(t, s)
	j := janitor.New(cfg, nil)
	killed := false
	j.Hooks.AfterHoldRename = func(_, _, _ string) {
		var id int64
		if err := db.Get(&id, "SELECT IS_USED_LOCK(?)", janitor.DropLockName); err != nil {
			t.Error(err)
			return
		}
		if _, err := db.Exec("KILL CONNECTION ?", id); err != nil {
			t.Error(err)
		}
		killed = true
	}
	r := j.Run(context.Background(), true)
	o := outcomes(r)["__orders_old"]
	if !killed || o.Outcome != report.OutcomeHeld || !strings.Contains(o.Reason, "confirmed after the connection was lost") {
		t.Fatalf("killed %v; outcome %+v", killed, o)
	}
	hold := heldName(t, db, s, "__orders_old")
	restartPrimary(t, db)
	rep := janitor.New(cfg, nil).Report(context.Background())
	if h := outcomes(rep)[hold]; h.OriginalTable != "__orders_old" || h.ReasonCode != string(policies.CodeHeld) {
		t.Fatalf("after a restart: %+v", h)
	}
	restore(t, cfg, s, "__orders_old")
	if after := snapshot(t, db, s, "__orders_old"); after != before {
		t.Errorf("round trip through a restart:\nbefore %s\nafter  %s", before, after)
	}
}

// TestInterruptedHoldKeepsTheOriginalComment: a hold stopped after writing its record
// but before its RENAME leaves the record in the comment under the original name; the
// next hold keeps the table's own comment, not the record, and restore puts it back.
func TestInterruptedHoldKeepsTheOriginalComment(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	oneLeftover(t, db, s)
	rec, err := discovery.Hold{Schema: s, Table: "__orders_old", HoldName: "_janitor_hold_0000000000000000_20000101000000_",
		HeldAt: time.Now().UTC(), Until: time.Now().UTC().Add(time.Hour), Tool: discovery.ToolPTOSC, Comment: "own comment"}.CommentText()
	if err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, db, "ALTER TABLE "+q(s, "__orders_old")+" COMMENT = '"+strings.ReplaceAll(rec, "'", "''")+"'")
	cfg := holdConfig(t, s)
	// restore of an interrupted hold puts the comment back
	if done := restore(t, cfg, s, "__orders_old"); len(done) != 1 {
		t.Fatalf("restore: %+v", done)
	}
	var c string
	if err := db.Get(&c, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = '__orders_old'", s); err != nil || markerRE.ReplaceAllString(c, "") != "own comment" {
		t.Fatalf("comment %q, %v", c, err)
	}
	testdb.Exec(t, db, "ALTER TABLE "+q(s, "__orders_old")+" COMMENT = '"+strings.ReplaceAll(rec, "'", "''")+"'")
	janitor.New(cfg, nil).Run(context.Background(), true)
	hold := heldName(t, db, s, "__orders_old")
	restore(t, cfg, s, hold)
	if err := db.Get(&c, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = '__orders_old'", s); err != nil || markerRE.ReplaceAllString(c, "") != "own comment" {
		t.Fatalf("comment after hold and restore %q, %v", c, err)
	}
}

// holdGrants are what docs/dropping.md asks for `run --execute` with holds: a RENAME
// needs ALTER and DROP on the old name, CREATE and INSERT on the new one.
func holdGrants(t *testing.T) []string {
	return []string{"SELECT, PROCESS, SHOW VIEW, TRIGGER, EVENT, " + monitorGrant(t) + ", " + registryGrant(t) + ", DROP, ALTER, CREATE, INSERT ON *.*"}
}

// TestHoldWithLeastPrivilege: hold, restore, hold again and drop after the hold, as a
// user holding exactly the documented grants.
func TestHoldWithLeastPrivilege(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	oneLeftover(t, db, s)
	p, rp := account(t, holdGrants(t))
	cfg := holdConfig(t, s)
	cfg.Shards[0].DSN, cfg.Shards[0].Replicas[0].DSN = p, rp
	wantHeld(t, cfg, "__orders_old", "hold with the documented grants")
	if done := restore(t, cfg, s, "__orders_old"); len(done) != 1 || !done[0].Marked {
		t.Fatalf("restore with the documented grants: %+v", done)
	}
	// The DBA takes the restore's keep marker out of the comment: janitor may hold it again.
	testdb.Exec(t, db, "ALTER TABLE "+q(s, "__orders_old")+" COMMENT = ''")
	wantHeld(t, cfg, "__orders_old", "second hold")
	hold := heldName(t, db, s, "__orders_old")
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	if o := outcomes(j.Run(context.Background(), true))[hold]; o.Outcome != report.OutcomeDropped {
		t.Fatalf("drop after the hold with the documented grants: %+v", o)
	}
}

// TestInterruptedPurgeOfAHeldTable: a held table whose hold ended is purged before its
// DROP (large_table.strategy purge); a purge stopped part-way leaves janitor's own
// DELETEs in UPDATE_TIME and the I/O counters, which the next run must not read as
// someone's access.
func TestInterruptedPurgeOfAHeldTable(t *testing.T) {
	db, s, cfg, hold := heldLargeTable(t)

	cfg.Execute.LargeTable = janitor.LargeTableConfig{Strategy: "purge", ThresholdBytes: 0, BatchRows: 500, BatchPause: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	j.Hooks.PurgeBatch = func(_, _, _ string, purged int64) {
		if purged > 0 {
			cancel() // stop after the first batch
		}
	}
	r := j.Run(ctx, true)
	cancel()
	if o := outcomes(r)[hold]; o.Outcome != report.OutcomeDeferred || !exists(t, db, s, hold) {
		t.Fatalf("interrupted purge: %+v", o)
	}
	j = janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	if o := outcomes(j.Run(context.Background(), true))[hold]; o.Outcome != report.OutcomeDropped {
		t.Fatalf("after an interrupted purge: %+v, want dropped (the purge's writes are janitor's)", o)
	}
}

// TestReplicaReaderDefersAHold: a session on the replica in a transaction that read the
// table would stall the replicated RENAME as it would a DROP: the hold is deferred.
func TestReplicaReaderDefersAHold(t *testing.T) {
	base, old := oddName(t, "rpt")
	primary, replica, s := rptLeftovers(t, base, old)
	lockSource(t, replica, true) // the metadata lock itself is the evidence here
	reader, _ := replicaConn(t)
	testdb.Exec(t, reader, "BEGIN", "SELECT COUNT(*) FROM "+q(s, old))
	t.Cleanup(func() { _, _ = reader.ExecContext(context.Background(), "ROLLBACK") })
	r := janitor.New(holdConfig(t, s), nil).Run(context.Background(), true)
	o := outcomes(r)[old]
	if o.Outcome != report.OutcomeDeferred || !strings.Contains(o.Reason, "in use on a replica") {
		t.Fatalf("hold with a reader on the replica: %+v", o)
	}
	if !exists(t, primary, s, old) || !exists(t, replica, s, old) {
		t.Error("the table was renamed")
	}
}

// TestRestoreIsDurable: a restored leftover still has a leftover's name and no evidence
// of use, so before the restore marker a later run (past min_age and the hold) held it
// again, and the application that needed it broke again. Now restore ends its comment
// with the marker and every later run keeps it (reason restored), on the primary's word
// alone: no state, no configuration change.
func TestRestoreIsDurable(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	oneLeftover(t, db, s)
	testdb.Exec(t, db, "ALTER TABLE "+q(s, "__orders_old")+" COMMENT = 'app''s archive'")
	cfg := holdConfig(t, s)
	wantHeld(t, cfg, "__orders_old", "first run")
	done := restore(t, cfg, s, "__orders_old")
	if len(done) != 1 || !done[0].Marked || done[0].Note != "" {
		t.Fatalf("restore: %+v, want marked", done)
	}
	var c string
	if err := db.Get(&c, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = '__orders_old'", s); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c, "app's archive restored by janitor on ") || !markerRE.MatchString(c) {
		t.Fatalf("comment after restore %q", c)
	}
	for i, shift := range []time.Duration{0, testHold + time.Minute, 30 * 24 * time.Hour} {
		j := janitor.New(cfg, nil)
		j.ClockShift = shift
		o := outcomes(j.Run(context.Background(), true))["__orders_old"]
		if o.Outcome != report.OutcomeSkipped || o.ReasonCode != string(policies.CodeRestored) || !exists(t, db, s, "__orders_old") {
			t.Fatalf("run %d after the restore (clock +%s): %+v, want skipped as restored", i, shift, o)
		}
	}
	// Also with a real min_age, once the table is old enough for it.
	cfg.Policy.MinAge = time.Second
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := janitor.New(cfg, nil)
		j.ClockShift = testHold + time.Minute
		o := outcomes(j.Run(context.Background(), true))["__orders_old"]
		if o.ReasonCode == string(policies.CodeRestored) {
			break
		}
		if o.ReasonCode != string(policies.CodeTooYoung) && o.ReasonCode != string(policies.CodeRecentWrite) || time.Now().After(deadline) {
			t.Fatalf("run with min_age 1s: %+v, want skipped as restored", o)
		}
		time.Sleep(200 * time.Millisecond) // polling until the table is a second old, with a deadline
	}
}

// TestKeepByConfig: policy.keep keeps a dead leftover that would be dropped, matched
// whatever the case and whatever characters the name holds, and a held table whose
// original name it lists is never dropped when its hold ends.
func TestKeepByConfig(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	const odd = "__a.b`c @#%- ü_old"
	testdb.Exec(t, db,
		"CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "a.b`c @#%- ü")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, odd)+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "items")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__items_old")+" (id INT PRIMARY KEY)")
	cfg := config(t, s)
	if o := outcomes(janitor.New(cfg, nil).Run(context.Background(), false))["__orders_old"]; o.Outcome != report.OutcomePlanned {
		t.Fatalf("without policy.keep: %+v, want planned", o)
	}
	cfg.Policy.Keep = []policies.KeepEntry{{Schema: s, Table: "__ORDERS_OLD"}, {Schema: s, Table: odd}}
	r := janitor.New(cfg, nil).Run(context.Background(), true)
	for _, name := range []string{"__orders_old", odd} {
		if o := outcomes(r)[name]; o.Outcome != report.OutcomeSkipped || o.ReasonCode != string(policies.CodeKeptByConfig) || !exists(t, db, s, name) {
			t.Errorf("%s with policy.keep: %+v", name, o)
		}
	}
	if o := outcomes(r)["__items_old"]; o.Outcome != report.OutcomeDropped {
		t.Errorf("__items_old, not listed: %+v, want dropped", o)
	}
	// Held before the entry was added: kept when the hold ends, under its hold name.
	cfg = holdConfig(t, s)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "__items_old")+" (id INT PRIMARY KEY)")
	wantHeld(t, cfg, "__items_old", "hold")
	hold := heldName(t, db, s, "__items_old")
	cfg.Policy.Keep = []policies.KeepEntry{{Schema: s, AllTables: true}}
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	o := outcomes(j.Run(context.Background(), true))[hold]
	if o.Outcome != report.OutcomeSkipped || o.ReasonCode != string(policies.CodeKeptByConfig) || !strings.Contains(o.Reason, "janitor restore") || !exists(t, db, s, hold) {
		t.Fatalf("held table whose original name is kept: %+v", o)
	}
}

// requirePFS skips a test that needs performance_schema's table counters on a sandbox
// started without them (MariaDB's default: start it with JANITOR_SANDBOX_PFS=ON).
func requirePFS(t *testing.T, db *sqlx.DB) {
	t.Helper()
	if !pfsOn(t, db) {
		t.Skip("performance_schema is off: start the sandbox with JANITOR_SANDBOX_PFS=ON scripts/sandbox.sh up")
	}
}

// TestHoldReadsWithoutRowsKeep: statements that read no row of a held table leave
// performance_schema's table I/O count alone — COUNT(*) or any read of an empty table,
// LIMIT 0, EXPLAIN — but each opens the table, which the table lock count sees: the
// table is kept. Metadata reads (SHOW CREATE TABLE, DESCRIBE, information_schema) are
// not a use of the rows, and janitor's own statements are not either: those tables
// are dropped after the hold, as a table nobody touched.
func TestHoldReadsWithoutRowsKeep(t *testing.T) {
	db := testdb.Primary(t)
	requirePFS(t, db)
	s := testdb.Schema(t, db)
	reads := map[string][]string{ // leftover -> statements on its hold name ({T})
		"__counted_old":   {"SELECT COUNT(*) FROM {T}"},
		"__rows_old":      {"SELECT COUNT(*) FROM {T}"}, // has rows: the I/O count sees it too
		"__limit0_old":    {"SELECT * FROM {T} LIMIT 0"},
		"__explain_old":   {"EXPLAIN SELECT * FROM {T} WHERE id > 1"},
		"__metadata_old":  {"SHOW CREATE TABLE {T}", "DESCRIBE {T}", "SHOW TABLE STATUS FROM {S} LIKE '{N}'"},
		"__untouched_old": nil,
	}
	for name := range reads {
		base := strings.TrimSuffix(strings.TrimPrefix(name, "__"), "_old")
		testdb.Exec(t, db, "CREATE TABLE "+q(s, base)+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, name)+" (id INT PRIMARY KEY)")
	}
	testdb.Exec(t, db, "INSERT INTO "+q(s, "__rows_old")+" VALUES (1), (2), (3)", "INSERT INTO "+q(s, "__limit0_old")+" VALUES (1)")
	cfg := holdConfig(t, s)
	r := janitor.New(cfg, nil).Run(context.Background(), true)
	held := map[string]string{}
	for name, stmts := range reads {
		if o := outcomes(r)[name]; o.Outcome != report.OutcomeHeld {
			t.Fatalf("%s: %+v, want held", name, o)
		}
		held[name] = heldName(t, db, s, name)
		conn, err := db.Connx(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range stmts {
			st = strings.NewReplacer("{T}", q(s, held[name]), "{S}", dbconn.QuoteIdent(s), "{N}", held[name]).Replace(st)
			rows, err := conn.QueryContext(context.Background(), st)
			if err != nil {
				t.Fatalf("%s: %v", st, err)
			}
			for rows.Next() {
			}
			rows.Close()
		}
		conn.Close()
	}
	// Another run before the hold ends reads the evidence and must not count as access.
	janitor.New(cfg, nil).Report(context.Background())

	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	after := outcomes(j.Run(context.Background(), true))
	for name, hold := range held {
		o := after[hold]
		keep := name != "__metadata_old" && name != "__untouched_old"
		switch {
		case keep && (o.ReasonCode != string(policies.CodeAccessedDuringHold) || !exists(t, db, s, hold)):
			t.Errorf("%s read by %q during the hold: %+v, want kept as %s", name, reads[name], o, policies.CodeAccessedDuringHold)
		case !keep && (o.Outcome != report.OutcomeDropped || exists(t, db, s, hold)):
			t.Errorf("%s (%q during the hold): %+v, want dropped", name, reads[name], o)
		case keep && !strings.Contains(o.Reason, "table lock COUNT_STAR"):
			t.Errorf("%s: reason %q does not name the table lock count", name, o.Reason)
		case !keep && !strings.Contains(o.Reason, "no read or write observed"):
			t.Errorf("%s: reason %q", name, o.Reason)
		}
	}
}

// TestHoldRecordWithoutLockBaseline: a hold record written before janitor read the
// table lock count (baseline without "v" and "lock": the I/O count right after the
// RENAME, then one comment change) still works: untouched, the table is dropped;
// read only by COUNT(*) of its (empty) rows, it is kept.
func TestHoldRecordWithoutLockBaseline(t *testing.T) {
	db := testdb.Primary(t)
	requirePFS(t, db)
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "a")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__a_old")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "b")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__b_old")+" (id INT PRIMARY KEY)")
	cfg := holdConfig(t, s)
	janitor.New(cfg, nil).Run(context.Background(), true)
	held := map[string]string{}
	for _, name := range []string{"__a_old", "__b_old"} {
		hold := heldName(t, db, s, name)
		held[name] = hold
		var c string
		if err := db.Get(&c, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", s, hold); err != nil {
			t.Fatal(err)
		}
		h, ok := discovery.ParseHold(c)
		if !ok || h.Baseline == nil || h.Baseline.Version != 2 || h.Baseline.Lock == nil || h.Baseline.IO == nil {
			t.Fatalf("hold record %q: want a version 2 baseline with both counts", c)
		}
		// What an older janitor left: a RENAME (the hold name starts with no counters),
		// its I/O count then, and the comment change that records it.
		zero := int64(0)
		h.Baseline.Version, h.Baseline.Lock, h.Baseline.IO = 0, nil, &zero
		old, err := h.CommentText()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(old, `"lock"`) || strings.Contains(old, `"v"`) {
			t.Fatalf("old-style record %q", old)
		}
		testdb.Exec(t, db, "RENAME TABLE "+q(s, hold)+" TO "+q(s, "tmp"), "RENAME TABLE "+q(s, "tmp")+" TO "+q(s, hold))
		if _, err := db.Exec("ALTER TABLE "+q(s, hold)+" COMMENT = ?", old); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM "+q(s, held["__b_old"])); err != nil {
		t.Fatal(err)
	}
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	after := outcomes(j.Run(context.Background(), true))
	if o := after[held["__a_old"]]; o.Outcome != report.OutcomeDropped {
		t.Errorf("untouched, old record: %+v, want dropped", o)
	}
	if o := after[held["__b_old"]]; o.ReasonCode != string(policies.CodeAccessedDuringHold) || !exists(t, db, s, held["__b_old"]) {
		t.Errorf("counted during the hold, old record: %+v, want kept", o)
	}
}

// TestHoldWithoutTheLockInstrument: with performance_schema's table lock instrument
// disabled (the I/O one on), the I/O count alone decides: a held table read with rows
// is kept; an empty one only counted is dropped, and the reason says such reads cannot
// be observed.
func TestHoldWithoutTheLockInstrument(t *testing.T) {
	db := testdb.Primary(t)
	requirePFS(t, db)
	const instrument = "UPDATE performance_schema.setup_instruments SET ENABLED = '%s' WHERE NAME = 'wait/lock/table/sql/handler'"
	var was string
	if err := db.Get(&was, "SELECT ENABLED FROM performance_schema.setup_instruments WHERE NAME = 'wait/lock/table/sql/handler'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec(fmt.Sprintf(instrument, was)) })
	testdb.Exec(t, db, fmt.Sprintf(instrument, "NO"))
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "a")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__a_old")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "b")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__b_old")+" (id INT PRIMARY KEY)",
		"INSERT INTO "+q(s, "__b_old")+" VALUES (1)")
	cfg := holdConfig(t, s)
	janitor.New(cfg, nil).Run(context.Background(), true)
	counted, read := heldName(t, db, s, "__a_old"), heldName(t, db, s, "__b_old")
	var c string
	if err := db.Get(&c, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", s, counted); err != nil {
		t.Fatal(err)
	}
	if h, ok := discovery.ParseHold(c); !ok || h.Baseline == nil || h.Baseline.Version != 2 || h.Baseline.Lock != nil || h.Baseline.IO == nil {
		t.Fatalf("hold record %q: want a version 2 baseline with the I/O count only", c)
	}
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM "+q(s, counted)); err != nil {
		t.Fatal(err)
	}
	if err := db.Get(&n, "SELECT id FROM "+q(s, read)); err != nil {
		t.Fatal(err)
	}
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	after := outcomes(j.Run(context.Background(), true))
	if o := after[read]; o.ReasonCode != string(policies.CodeAccessedDuringHold) {
		t.Errorf("read with rows during the hold: %+v, want kept", o)
	}
	if o := after[counted]; o.Outcome != report.OutcomeDropped || !strings.Contains(o.Reason, "table lock instrument") {
		t.Errorf("counted (empty) during the hold, lock instrument off: %+v; want dropped, saying such reads cannot be seen", o)
	}
}

// TestHeldPurgeWaitsForAPrimaryReader: a session on the primary idle in a transaction
// that read a held table holds its metadata lock, which the purge's DELETEs would not
// wait for; the purge's first statement, the hold record's comment change, does (under
// lock_wait_timeout), so the rows stay. Where performance_schema is on (MySQL's default)
// its table lock count sees the read and the table is kept as accessed before that.
func TestHeldPurgeWaitsForAPrimaryReader(t *testing.T) {
	db, s, cfg, hold := heldLargeTable(t)

	reader, err := db.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reader.Close() })
	testdb.Exec(t, reader, "START TRANSACTION", "SELECT COUNT(*) FROM "+q(s, hold))
	t.Cleanup(func() { _, _ = reader.ExecContext(context.Background(), "ROLLBACK") })

	cfg.Execute.LargeTable = janitor.LargeTableConfig{Strategy: "purge", ThresholdBytes: 0, BatchRows: 500, BatchPause: time.Millisecond}
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	batches := 0
	j.Hooks.PurgeBatch = func(_, _, _ string, _ int64) { batches++ }
	o := outcomes(j.Run(context.Background(), true))[hold]
	t.Logf("%s: %s", o.Outcome, o.Reason)
	if o.Outcome != report.OutcomeDeferred && o.Outcome != report.OutcomeSkipped {
		t.Errorf("outcome %q (%s); want deferred on the lock (or skipped as accessed)", o.Outcome, o.Reason)
	}
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM "+q(s, hold)); err != nil {
		t.Fatal(err)
	}
	if batches > 0 || n != 3000 {
		t.Errorf("%d purge batches ran, %d of 3000 rows left, with a reader holding the table", batches, n)
	}
}

// TestHoldReadByAnUninstrumentedUser: performance_schema.setup_actors can switch off the
// instrumentation of some accounts' sessions (a common way to spare a busy application
// user the overhead); their reads of a held table move neither the table I/O nor the
// table lock count. A hold ended with such a read must not be reported as "no read or
// write observed": the reason says which reads cannot be seen, as for setup_objects.
func TestHoldReadByAnUninstrumentedUser(t *testing.T) {
	db, s, cfg, hold := heldCountedTable(t)
	// An application account whose sessions performance_schema does not instrument.
	app, _ := account(t, []string{"SELECT ON " + dbconn.QuoteIdent(s) + ".*"})
	cfgApp, err := dbconn.ParseDSN(app)
	if err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, db, "INSERT INTO performance_schema.setup_actors (HOST, USER, ROLE, ENABLED, HISTORY) VALUES ('%', '"+cfgApp.User+"', '%', 'NO', 'NO')")
	t.Cleanup(func() {
		testdb.Exec(t, db, "DELETE FROM performance_schema.setup_actors WHERE USER = '"+cfgApp.User+"'")
	})
	appDB := testdb.Open(t, app)
	var ids []int
	if err := appDB.Select(&ids, "SELECT id FROM "+q(s, hold)); err != nil || len(ids) != 2 {
		t.Fatalf("the application's read of the held table: %v %v", ids, err)
	}
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	o := outcomes(j.Run(context.Background(), true))[hold]
	if o.ReasonCode != string(policies.CodeAccessedDuringHold) && !strings.Contains(o.Reason, "setup_actors") {
		t.Errorf("read during the hold by an account performance_schema does not instrument: %+v; want kept, or a reason that says such reads cannot be seen", o)
	}
}

// TestHoldCountersTruncated: performance_schema's summaries truncated during a hold
// (sys.ps_truncate_all_tables does it) set the held table's counts below the hold's
// baseline; a read before the truncation is then gone from them. The drop reason must
// say so rather than "no read or write observed".
func TestHoldCountersTruncated(t *testing.T) {
	db, _, cfg, hold := heldCountedTable(t)
	testdb.Exec(t, db, "TRUNCATE TABLE performance_schema.table_io_waits_summary_by_table",
		"TRUNCATE TABLE performance_schema.table_lock_waits_summary_by_table")
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	o := outcomes(j.Run(context.Background(), false))[hold]
	if !strings.Contains(o.Reason, "went back during the hold") {
		t.Errorf("counters truncated during the hold: %+v; want a reason that says reads before cannot be observed", o)
	}
}

// heldLargeTable is a held table of 3,000 rows (__a_old, held by a first run), for the
// tests of a purge after a hold: the primary, the schema, the hold configuration and the
// table's hold name.
func heldLargeTable(t *testing.T) (*sqlx.DB, string, janitor.Config, string) {
	t.Helper()
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	largeLeftover(t, db, s, "a", 3000, 100)
	cfg := holdConfig(t, s)
	janitor.New(cfg, nil).Run(context.Background(), true)
	return db, s, cfg, heldName(t, db, s, "__a_old")
}

// heldCountedTable is a held table of two rows (__a_old, held by a first run) on a
// server whose performance_schema counts reads, for the tests of what the counters see
// during a hold: the primary, the schema, the hold configuration and the hold name.
func heldCountedTable(t *testing.T) (*sqlx.DB, string, janitor.Config, string) {
	t.Helper()
	db := testdb.Primary(t)
	requirePFS(t, db)
	s := testdb.Schema(t, db)
	oldLeftovers(t, db, s, "a")
	testdb.Exec(t, db, "INSERT INTO "+q(s, "__a_old")+" VALUES (1), (2)")
	cfg := holdConfig(t, s)
	wantHeld(t, cfg, "__a_old", "first run")
	return db, s, cfg, heldName(t, db, s, "__a_old")
}
