package discovery

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/jmoiron/sqlx"
)

// hostileNames are table names a digest filter may mishandle: LIKE's wildcards and
// escape, the digest's backtick quoting, case, characters the server's collation and
// Go's lower-casing fold differently (the Kelvin sign and the dotted capital I
// lower-case to k and i in Go).
var hostileNames = []string{"we`ird", "50%_off", "a_b", "axb", `back\slash`, "Ünïcødé", "ünïcødé2", "\u212Aelvin", "kelvin",
	"\u0130x", "ix", "sp ace", "dot.ted", "quote'd", `dq"x`, "MiXeD", "_orders_old"}

// digestServer returns the primary with room for statement digests (roomForDigests),
// skipping the test when performance_schema is off: then there is nothing, which is
// what says.
func digestServer(t *testing.T, nothing string) *sqlx.DB {
	t.Helper()
	db := pfsPrimary(t, nothing+" (the suite runs MySQL and MariaDB 11.8 with it on)")
	roomForDigests(t, db)
	return db
}

// TestDigestFilterKeepsMatches: the digests read with the server-side filter of a
// re-check (digestFilter; an inventory of many names reads them all) hold every digest
// the in-memory matcher finds in all of them, for every hostile name; and the filter
// leaves out digests that name none.
func TestDigestFilterKeepsMatches(t *testing.T) {
	db := digestServer(t, "no statement digests to filter")
	s := testdb.Schema(t, db)
	for _, n := range hostileNames {
		testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, n)+" (id INT PRIMARY KEY)")
	}
	testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, "unrelated")+" (id INT PRIMARY KEY)")
	ctx := context.Background()
	for _, n := range append(slices.Clone(hostileNames), "unrelated") {
		var ids []int
		if err := db.SelectContext(ctx, &ids, "SELECT id FROM "+dbconn.QualifiedName(s, n)+" WHERE id = 7"); err != nil {
			t.Fatal(err)
		}
	}
	read := func(where string, args []any) []digestRow {
		t.Helper()
		rows, err := queryAll(ctx, NewInspector(db, Server{}, Options{}, nil), `SELECT COALESCE(SCHEMA_NAME, ''), DIGEST_TEXT, COUNT_STAR, SUM_ERRORS, UNIX_TIMESTAMP(LAST_SEEN)
			FROM performance_schema.events_statements_summary_by_digest WHERE DIGEST_TEXT IS NOT NULL`+where, args,
			func(r *sqlx.Rows) (d digestRow, err error) {
				var last float64
				err = r.Scan(&d.schema, &d.text, &d.count, &d.errors, &last)
				return d, err
			})
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	var want []useKey
	for _, n := range hostileNames {
		want = append(want, useKey{s, n})
	}
	where, args := digestFilter(want, len(want))
	if where == "" {
		t.Fatal("no filter for a few names")
	}
	all, filtered := read("", nil), read(where, args)
	matches := func(rows []digestRow, name string) []string {
		c := &useCache{digests: rows, byName: indexDigests(rows)}
		var out []string
		for _, ref := range c.refs(name) {
			d := rows[ref.digest]
			if ref.names(d, strings.ToLower(s), s) {
				out = append(out, d.text)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	for _, n := range hostileNames {
		every, kept := matches(all, n), matches(filtered, n)
		if len(every) == 0 {
			t.Errorf("%q: no digest names it in the unfiltered read: the test reads nothing", n)
		}
		for _, d := range every {
			if !slices.Contains(kept, d) {
				t.Errorf("%q: the filter lost %q (pattern %q)", n, d, digestPattern(n))
			}
		}
	}
	if m := matches(filtered, "unrelated"); len(m) > 0 {
		t.Errorf("the filter kept a digest naming no wanted table: %q", m)
	}
	t.Logf("%d digests in all, %d after the filter", len(all), len(filtered))
}

// TestReadSourcesReadTheCandidatesRows: an inventory reads the per-table counters and
// the digests of its candidates (and the failed digests), not one row per table of the
// server. Counted by the server: the rows janitor's reads of the sources sent, from
// their digests' SUM_ROWS_SENT, before and after one inventory of one leftover among
// 150 tables that were all read (each has counter rows and a digest of its own).
func TestReadSourcesReadTheCandidatesRows(t *testing.T) {
	db := digestServer(t, "no sources to read")
	ctx := context.Background()
	s := testdb.Schema(t, db)
	const tables = 150
	for i := range tables {
		n := dbconn.QualifiedName(s, fmt.Sprintf("t%03d", i))
		testdb.Exec(t, db, "CREATE TABLE "+n+" (id INT PRIMARY KEY)", "INSERT INTO "+n+" VALUES (1)")
		var ids []int
		if err := db.SelectContext(ctx, &ids, fmt.Sprintf("SELECT id FROM %s WHERE id = %d", n, i)); err != nil {
			t.Fatal(err)
		}
	}
	testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, "_t000_old")+" (id INT PRIMARY KEY)")
	// The digests of janitor's reads of the sources: performance_schema drops the
	// comment, and quotes the columns.
	sent := func() (rows, runs int64) {
		t.Helper()
		var n, r sql.NullInt64
		if err := db.QueryRowxContext(ctx, `SELECT SUM(SUM_ROWS_SENT), SUM(COUNT_STAR) FROM performance_schema.events_statements_summary_by_digest
			WHERE DIGEST_TEXT LIKE 'SELECT `+"`OBJECT_SCHEMA` , `OBJECT_NAME` , `COUNT_%"+`'
				OR DIGEST_TEXT LIKE 'SELECT COALESCE ( %SCHEMA_NAME% , ? ) , `+"`DIGEST_TEXT`"+`%'`).Scan(&n, &r); err != nil {
			t.Fatal(err)
		}
		return n.Int64, r.Int64
	}
	srv, err := ReadServer(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	in := NewInspector(db, srv, Options{Schemas: []string{s}, QueryTimeout: 30 * time.Second}, nil)
	before, runsBefore := sent()
	if _, err := in.InspectAll(ctx, []Name{{Schema: s, Table: "_t000_old"}}); err != nil {
		t.Fatal(err)
	}
	after, runsAfter := sent()
	got := after - before
	if runsAfter-runsBefore < 2 {
		t.Fatalf("%d reads of the digests and counters seen, want 2: the test no longer finds janitor's reads by their digests", runsAfter-runsBefore)
	}
	var digests, failed int64
	if err := db.GetContext(ctx, &digests, "SELECT COUNT(*) FROM performance_schema.events_statements_summary_by_digest"); err != nil {
		t.Fatal(err)
	}
	if err := db.GetContext(ctx, &failed, "SELECT COUNT(*) FROM performance_schema.events_statements_summary_by_digest WHERE SUM_ERRORS > 0"); err != nil {
		t.Fatal(err)
	}
	// One candidate: its digests (none: it was never read) and the failed ones, however
	// many the server holds, plus a margin for the statements of this test.
	if limit := failed + 20; got > limit {
		t.Errorf("one inventory of one candidate read %d rows of the sources (digests %d, of which failed %d; %d tables read): want at most %d", got, digests, failed, tables, limit)
	}
	t.Logf("%d rows of the sources read, %d digests on the server (%d failed)", got, digests, failed)
}

// pfsPrimary is the primary, for a test that needs performance_schema on: skipped,
// saying why, where it is off.
func pfsPrimary(t *testing.T, why string) *sqlx.DB {
	t.Helper()
	db := testdb.Primary(t)
	var pfs int
	if err := db.Get(&pfs, "SELECT @@performance_schema"); err != nil {
		t.Fatal(err)
	}
	if pfs != 1 {
		t.Skip("performance_schema is off: " + why)
	}
	return db
}

// roomForDigests empties performance_schema's digest table when it is nearly full (a
// bench fills it on the same sandbox): new statements would get no digest of their own.
func roomForDigests(t *testing.T, db *sqlx.DB) {
	t.Helper()
	var n, size int64
	if err := db.QueryRowx("SELECT (SELECT COUNT(*) FROM performance_schema.events_statements_summary_by_digest), @@performance_schema_digests_size").Scan(&n, &size); err != nil {
		t.Fatal(err)
	}
	if n >= size-500 {
		testdb.Exec(t, db, "TRUNCATE performance_schema.events_statements_summary_by_digest")
	}
}

// TestInventoryReadsDigestsAlongside: on MySQL an inventory of more candidates than a
// re-check's digest filter takes reads its sources of reads by name, every statement
// digest among them, on a second connection begun with the inventory, so the server's
// scan of the digest table overlaps the candidates' metadata, size and evidence reads
// instead of following them (docs/benchmarks.md). Seen in
// performance_schema's long statement history: the digest read runs on another thread
// than the inventory's read of the candidates' tablespace sizes
// (information_schema.FILES), and begins before that thread's last statement, and the
// inventory's findings are those of a read after it.
func TestInventoryReadsDigestsAlongside(t *testing.T) {
	testdb.SkipUnless(t, "MariaDB reads its digests in milliseconds: no second connection", "mysql")
	db := testdb.Primary(t)
	ctx := context.Background()
	roomForDigests(t, db)
	s := testdb.Schema(t, db)
	names := oldCopies(t, db, s, 6)
	// One of them read: the inventory must find it by its digest.
	var ids []int
	if err := db.SelectContext(ctx, &ids, "SELECT id FROM "+dbconn.QualifiedName(s, "_t3_old")+" WHERE id = 3"); err != nil {
		t.Fatal(err)
	}
	srv := withLongHistory(t, db)
	type stmt struct {
		Thread int64 `db:"THREAD_ID"`
		Start  int64 `db:"TIMER_START"`
	}
	first := func(like string) stmt {
		t.Helper()
		var st stmt
		if err := db.GetContext(ctx, &st, `SELECT THREAD_ID, TIMER_START FROM performance_schema.events_statements_history_long
			WHERE SQL_TEXT LIKE ? ORDER BY TIMER_START LIMIT 1`, like); err != nil {
			t.Fatalf("janitor's %q in the statement history: %v", like, err)
		}
		return st
	}
	// The goroutine may be scheduled late on a busy machine (or under -race): three
	// inventories, one of which must show the overlap. Read one after the other, the
	// digests could never come first.
	var seen []string
	for range 3 {
		testdb.Exec(t, db, "TRUNCATE performance_schema.events_statements_history_long")
		tables, err := NewInspector(db, srv, Options{Schemas: []string{s}, QueryTimeout: 30 * time.Second}, nil).InspectAll(ctx, names)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if read := tb.Evidence.Reads.Last != nil; read != (tb.Name == "_t3_old") {
				t.Fatalf("%s: read by name %t (%s), want %t", tb.Name, read, tb.Evidence.Reads.LastWhat, !read)
			}
		}
		digests := first("SELECT /* janitor */ COALESCE(SCHEMA_NAME, ''), DIGEST_TEXT%")
		sizes := first("SELECT /* janitor */ TABLESPACE_NAME, TOTAL_EXTENTS%FROM information_schema.FILES%")
		var last int64
		if err := db.GetContext(ctx, &last, `SELECT MAX(TIMER_START) FROM performance_schema.events_statements_history_long
			WHERE THREAD_ID = ? AND SQL_TEXT LIKE '%/* janitor */%'`, sizes.Thread); err != nil {
			t.Fatal(err)
		}
		if digests.Thread != sizes.Thread && digests.Start < last {
			return
		}
		seen = append(seen, fmt.Sprintf("digests at %d on thread %d, sizes at %d on thread %d, its last statement at %d", digests.Start, digests.Thread, sizes.Start, sizes.Thread, last))
	}
	t.Errorf("the digest read never overlapped the sizes' connection: %s", strings.Join(seen, "; "))
}

// TestOneLookReadsServerSettingsOnce: what one look (an Inspector) reads of the server's
// own settings is read once, however many tables it looks at: performance_schema's
// session instrumentation (setup_actors) once per inventory of three held tables, not
// once per held table; and the foreign-key view's REF_NAME width once per server, not
// once per Inspector (each re-check before a DROP makes its own). Counted from the
// statement digests of janitor's reads.
func TestOneLookReadsServerSettingsOnce(t *testing.T) {
	db := pfsPrimary(t, "no counters and no digests to count reads with")
	ctx := context.Background()
	roomForDigests(t, db)
	s := testdb.Schema(t, db)
	var names []Name
	now := time.Now().UTC()
	for i := range 3 {
		orig := fmt.Sprintf("__t%d_old", i)
		h := Hold{Schema: s, Table: orig, HeldAt: now.Add(-time.Hour), Until: now.Add(time.Hour), Tool: ToolPTOSC}
		h.HoldName = HoldName(s, orig, h.HeldAt, h.Until)
		text, err := h.CommentText()
		if err != nil {
			t.Fatal(err)
		}
		testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, h.HoldName)+" (id INT PRIMARY KEY) COMMENT '"+strings.NewReplacer(`\`, `\\`, "'", "''").Replace(text)+"'")
		names = append(names, Name{Schema: s, Table: h.HoldName})
	}
	runs := func(like string) int64 {
		t.Helper()
		var n int64
		if err := db.GetContext(ctx, &n, "SELECT COALESCE(SUM(COUNT_STAR), 0) FROM performance_schema.events_statements_summary_by_digest WHERE DIGEST_TEXT LIKE ?", like); err != nil {
			t.Fatal(err)
		}
		return n
	}
	const actors, width = "%FROM `performance_schema` . `setup_actors`%", "SELECT `CHARACTER_MAXIMUM_LENGTH` FROM%"
	srv, err := ReadServer(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	look := func() (actorReads, widthReads int64) {
		t.Helper()
		a, w := runs(actors), runs(width)
		tables, err := NewInspector(db, srv, Options{Schemas: []string{s}, QueryTimeout: 30 * time.Second}, nil).InspectAll(ctx, names)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if tb.Hold == nil || len(tb.Evidence.Unreadable) > 0 {
				t.Fatalf("%s: hold %v, unreadable %v", tb.Name, tb.Hold, tb.Evidence.Unreadable)
			}
		}
		return runs(actors) - a, runs(width) - w
	}
	a1, w1 := look()
	a2, w2 := look()
	if a1 != 1 || a2 != 1 {
		t.Errorf("an inventory of 3 held tables read setup_actors %d and %d times, want once each", a1, a2)
	}
	if w1 > 1 || w2 != 0 {
		t.Errorf("two looks at the same server read REF_NAME's width %d and %d times, want at most once, then none", w1, w2)
	}
}

// TestInventoryStatementsDoNotGrowWithCandidates pins what an inventory sends on MySQL:
// a constant number of statements per shard, whatever the number of candidates (the
// metadata, names, sizes, foreign keys, sessions, named locks and reads-by-name
// sources each in one statement per batch). Counted in performance_schema's long
// statement history for 6 and 12 candidates: a read that comes back per candidate (the
// 80 IS_USED_LOCK statements of docs/benchmarks.md's incident fleet) fails it.
func TestInventoryStatementsDoNotGrowWithCandidates(t *testing.T) {
	db, s, names, srv := mysqlInventory(t, "MariaDB looks its candidates up one by one (an IN list opens every definition there)", 12)
	ctx := context.Background()
	count := func(names []Name) (all, locks int) {
		t.Helper()
		testdb.Exec(t, db, "TRUNCATE performance_schema.events_statements_history_long")
		tables, err := NewInspector(db, srv, Options{Schemas: []string{s}, QueryTimeout: 30 * time.Second}, nil).InspectAll(ctx, names)
		if err != nil {
			t.Fatal(err)
		}
		if len(tables) != len(names) {
			t.Fatalf("inspected %d of %d candidates", len(tables), len(names))
		}
		if err := db.QueryRowxContext(ctx, `SELECT COUNT(*), COALESCE(SUM(SQL_TEXT LIKE '%IS_USED_LOCK%'), 0)
			FROM performance_schema.events_statements_history_long WHERE SQL_TEXT LIKE '%/* janitor */%'`).Scan(&all, &locks); err != nil {
			t.Fatal(err)
		}
		return all, locks
	}
	// The first inventory of the process also reads the foreign-key view's REF_NAME
	// width, kept for the process (refWidths): run alone, the test would count it once.
	count(names[:6])
	all6, locks6 := count(names[:6])
	all12, locks12 := count(names)
	t.Logf("statements: %d for 6 candidates (%d IS_USED_LOCK), %d for 12 (%d)", all6, locks6, all12, locks12)
	if all12 != all6 {
		t.Errorf("an inventory of 12 candidates sent %d statements, of 6 %d: a read per candidate", all12, all6)
	}
	if locks12 > 1 {
		t.Errorf("%d IS_USED_LOCK statements for 12 candidates, want one", locks12)
	}
}

// TestInventoryCountsTheDigestsItReads: with the digest table full (its lost counter
// above zero), an inventory learns whether the table has room from the rows its read of
// every digest counted, the catch-all row among them: no second scan of the table
// (COUNT(*)), and a full table still makes the reads by name partial.
func TestInventoryCountsTheDigestsItReads(t *testing.T) {
	db, s, names, srv := mysqlInventory(t, "an inventory reads every digest on a second connection on MySQL only", 6)
	ctx := context.Background()
	var size int
	if err := db.GetContext(ctx, &size, "SELECT @@performance_schema_digests_size"); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= size; i++ {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("SELECT 1 AS jt_fill_%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = conn.Close()
	t.Cleanup(func() { testdb.Exec(t, db, "TRUNCATE performance_schema.events_statements_summary_by_digest") })
	var name string
	var lost int64
	if err := db.QueryRowxContext(ctx, "SHOW GLOBAL STATUS LIKE 'Performance_schema_digest_lost'").Scan(&name, &lost); err != nil || lost == 0 {
		t.Fatalf("the digest table did not fill up (lost %d, %v): the test tests nothing", lost, err)
	}
	testdb.Exec(t, db, "TRUNCATE performance_schema.events_statements_history_long")
	in := NewInspector(db, srv, Options{Schemas: []string{s}, QueryTimeout: 30 * time.Second}, nil)
	if _, err := in.InspectAll(ctx, names); err != nil {
		t.Fatal(err)
	}
	if in.uses.err != nil || in.uses.digestPartial == "" {
		t.Errorf("an inventory with the digest table full: partial %q (%v), want it told", in.uses.digestPartial, in.uses.err)
	}
	var counts int
	if err := db.GetContext(ctx, &counts, `SELECT COUNT(*) FROM performance_schema.events_statements_history_long
		WHERE SQL_TEXT LIKE '%/* janitor */ COUNT(*)%events_statements_summary_by_digest%'`); err != nil {
		t.Fatal(err)
	}
	if counts != 0 {
		t.Errorf("the inventory counted the digest table %d times after reading every digest", counts)
	}
}

// TestDigestGateSeesUsesTheCountersMissed: a candidate used by name within
// policy.min_age is told by its statement digest (recent_read) even when
// performance_schema's table lock counters show no use of it now. A digest gate that
// skips the digests when the counters saw no candidate used (611a78a) reads "no use" as
// "no digest names it", which holds only if the counters saw every use since the server
// started; they miss one with the digest kept after a TRUNCATE of them (or of the wait
// summary that resets them), with the lock instrument or a setup_objects row off while
// the table was used and back on, after a RENAME away and back, and for a statement
// that takes no table lock: a HANDLER OPEN or PREPARE, or one that failed before it
// opened the table (a lock wait timed out), whose digest recent_read weighs all the
// same (latestDigest keeps failed runs). An inventory that reads every digest keeps
// each of these tables.
func TestDigestGateSeesUsesTheCountersMissed(t *testing.T) {
	testdb.SkipUnless(t, "the digest gate was MySQL's (MariaDB reads its digests in milliseconds)", "mysql")
	root := testdb.Primary(t)
	roomForDigests(t, root)
	ctx := context.Background()
	conn := func(t *testing.T, db *sqlx.DB) *sql.Conn {
		t.Helper()
		c, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	setOn := func(t *testing.T, db *sqlx.DB, q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	lockInstrumentOff := func(t *testing.T, db *sqlx.DB, _ Name) {
		setOn(t, db, "UPDATE performance_schema.setup_instruments SET ENABLED = 'NO' WHERE NAME = ?", lockInstrument)
		t.Cleanup(func() {
			setOn(t, db, "UPDATE performance_schema.setup_instruments SET ENABLED = 'YES' WHERE NAME = ?", lockInstrument)
		})
	}
	for _, tc := range []struct {
		name string
		// before runs before the use, use uses n by name, after runs after it.
		before, after func(t *testing.T, db *sqlx.DB, n Name)
		use           func(t *testing.T, db *sqlx.DB, n Name)
	}{
		{name: "lock summary truncated", after: func(t *testing.T, db *sqlx.DB, _ Name) {
			testdb.Exec(t, db, "TRUNCATE performance_schema.table_lock_waits_summary_by_table")
		}},
		{name: "wait summary truncated", after: func(t *testing.T, db *sqlx.DB, _ Name) {
			// Resets every per-table wait counter, the table lock summary's included.
			testdb.Exec(t, db, "TRUNCATE performance_schema.events_waits_summary_global_by_event_name")
		}},
		{name: "lock instrument off while used", before: lockInstrumentOff, after: func(t *testing.T, db *sqlx.DB, _ Name) {
			setOn(t, db, "UPDATE performance_schema.setup_instruments SET ENABLED = 'YES' WHERE NAME = ?", lockInstrument)
		}},
		{name: "setup_objects off while used", before: func(t *testing.T, db *sqlx.DB, n Name) {
			setOn(t, db, "INSERT INTO performance_schema.setup_objects (OBJECT_TYPE, OBJECT_SCHEMA, OBJECT_NAME, ENABLED, TIMED) VALUES ('TABLE', ?, '%', 'NO', 'NO')", n.Schema)
			t.Cleanup(func() {
				setOn(t, db, "DELETE FROM performance_schema.setup_objects WHERE OBJECT_TYPE = 'TABLE' AND OBJECT_SCHEMA = ?", n.Schema)
			})
			testdb.Exec(t, db, "FLUSH TABLES")
		}, after: func(t *testing.T, db *sqlx.DB, n Name) {
			setOn(t, db, "DELETE FROM performance_schema.setup_objects WHERE OBJECT_TYPE = 'TABLE' AND OBJECT_SCHEMA = ?", n.Schema)
		}},
		{name: "renamed away and back", after: func(t *testing.T, db *sqlx.DB, n Name) {
			// A scream test by hand: the table renamed away, then back.
			away := dbconn.QualifiedName(n.Schema, "parked")
			testdb.Exec(t, db, "RENAME TABLE "+dbconn.QualifiedName(n.Schema, n.Table)+" TO "+away,
				"RENAME TABLE "+away+" TO "+dbconn.QualifiedName(n.Schema, n.Table))
		}},
		{name: "a HANDLER opened, not read yet", use: func(t *testing.T, db *sqlx.DB, n Name) {
			// A session that holds the table open: HANDLER OPEN takes no table lock.
			app := conn(t, db)
			if _, err := app.ExecContext(ctx, "HANDLER "+dbconn.QualifiedName(n.Schema, n.Table)+" OPEN"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "prepared, not executed yet", use: func(t *testing.T, db *sqlx.DB, n Name) {
			testdb.Exec(t, db, "PREPARE s FROM 'SELECT * FROM "+dbconn.QualifiedName(n.Schema, n.Table)+"'")
		}},
		{name: "insert timed out on a global read lock", use: func(t *testing.T, db *sqlx.DB, n Name) {
			// A backup's FLUSH TABLES WITH READ LOCK: the application's INSERT waits for
			// the global lock before it opens the table, and gives up.
			backup, app := conn(t, db), conn(t, db)
			testdb.Exec(t, backup, "FLUSH TABLES WITH READ LOCK")
			defer func() { _, _ = backup.ExecContext(ctx, "UNLOCK TABLES") }()
			testdb.Exec(t, app, "SET SESSION lock_wait_timeout = 1")
			_, err := app.ExecContext(ctx, "INSERT INTO "+dbconn.QualifiedName(n.Schema, n.Table)+" VALUES (1)")
			if !dbconn.IsError(err, dbconn.ErrLockWaitTimeout) {
				t.Fatalf("INSERT under a global read lock: %v, want a lock wait timeout", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := testdb.Primary(t)
			s := testdb.Schema(t, db)
			names := oldCopies(t, db, s, 2)
			srv := withLongHistory(t, db)
			used := names[0]
			if tc.before != nil {
				tc.before(t, db, used)
			}
			if tc.use != nil {
				tc.use(t, db, used)
			} else {
				testdb.Exec(t, db, "SELECT * FROM "+dbconn.QualifiedName(used.Schema, used.Table))
			}
			if tc.after != nil {
				tc.after(t, db, used)
			}
			var counted sql.NullInt64
			if err := db.GetContext(ctx, &counted, `SELECT SUM(COUNT_STAR) FROM performance_schema.table_lock_waits_summary_by_table
				WHERE OBJECT_SCHEMA = ? AND OBJECT_NAME = ?`, used.Schema, used.Table); err != nil {
				t.Fatal(err)
			}
			if counted.Int64 > 0 {
				t.Fatalf("the use of %s was counted (%d): the case tests nothing", used.Table, counted.Int64)
			}
			in := NewInspector(db, srv, Options{Schemas: []string{s}, QueryTimeout: 30 * time.Second}, nil)
			tables, err := in.InspectAll(ctx, names)
			if err != nil {
				t.Fatal(err)
			}
			if in.uses.err != nil {
				t.Fatal(in.uses.err)
			}
			for _, tb := range tables {
				if tb.Name != used.Table {
					continue
				}
				if r := tb.Evidence.Reads; r.Last == nil {
					t.Errorf("%s used by name just now, its counters silent: no statement digest told: "+
						"recent_read cannot keep it, and the report calls it dead", used.Table)
				}
				// The re-check before every hold or DROP statement (janitor's guard) is a
				// fresh Inspect, which reads the digests that name its table.
				fresh, err := NewInspector(db, srv, Options{Schemas: []string{s}, QueryTimeout: 30 * time.Second}, nil).Inspect(ctx, used)
				if err != nil {
					t.Fatal(err)
				}
				if fresh.Evidence.Reads.Last == nil {
					t.Errorf("%s: the re-check did not tell its use either", used.Table)
				}
				return
			}
			t.Fatalf("%s not in the inventory", used.Table)
		})
	}
}

// TestInventoryDoesNotSeeItsOwnAsideReads: the processlist read of an inventory on
// MySQL (prefetchEvidence) follows the reads aside that name every candidate (the
// FULLTEXT check and the counters), and the server lists such a statement for a moment
// after janitor has its rows: seen as a session naming every candidate, it kept all of
// them (in_use) in 1-6% of inventories of 30 candidates (3 to 9 of 150, 4 of 400
// measured: 300 find it at least once in nearly every run). No one else uses them
// here, so no inventory may find a session.
func TestInventoryDoesNotSeeItsOwnAsideReads(t *testing.T) {
	db, s, names, srv := mysqlInventory(t, "the reads aside are MySQL's", 30)
	ctx := context.Background()
	for i := range 300 {
		in := NewInspector(db, srv, Options{Schemas: []string{s}, QueryTimeout: 30 * time.Second}, nil)
		tables, err := in.InspectAll(ctx, names)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if len(tb.Evidence.Sessions) > 0 {
				t.Fatalf("inventory %d: %s kept by a session naming it, janitor's own: %v", i, tb.Name, tb.Evidence.Sessions)
			}
		}
	}
}

// mysqlInventory skips the test (why) but on MySQL, and returns the primary, a schema
// with n leftovers (oldCopies), and the server read with the long statement history on
// (withLongHistory): what a test of an inventory's statements starts from.
func mysqlInventory(t *testing.T, why string, n int) (*sqlx.DB, string, []Name, Server) {
	t.Helper()
	testdb.SkipUnless(t, why, "mysql")
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	return db, s, oldCopies(t, db, s, n), withLongHistory(t, db)
}

// withLongHistory turns performance_schema's long statement history on for the test
// (back as it was after it) and reads the server.
func withLongHistory(t *testing.T, db *sqlx.DB) Server {
	t.Helper()
	ctx := context.Background()
	var was string
	if err := db.GetContext(ctx, &was, "SELECT ENABLED FROM performance_schema.setup_consumers WHERE NAME = 'events_statements_history_long'"); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, db, "UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME = 'events_statements_history_long'")
	t.Cleanup(func() {
		testdb.Exec(t, db, "UPDATE performance_schema.setup_consumers SET ENABLED = '"+was+"' WHERE NAME = 'events_statements_history_long'")
	})
	srv, err := ReadServer(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// oldCopies creates n tables t0… in s, each with a pt-osc-like leftover _tN_old, and
// returns the leftovers' names.
func oldCopies(t *testing.T, db *sqlx.DB, s string, n int) []Name {
	t.Helper()
	var names []Name
	for i := range n {
		base := fmt.Sprintf("t%d", i)
		testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, base)+" (id INT PRIMARY KEY)",
			"CREATE TABLE "+dbconn.QualifiedName(s, "_"+base+"_old")+" (id INT PRIMARY KEY)")
		names = append(names, Name{Schema: s, Table: "_" + base + "_old"})
	}
	return names
}
