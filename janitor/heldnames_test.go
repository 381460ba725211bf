package janitor_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/report"
)

// errorScans counts the reads of MySQL's error summary by account that reached the
// server, from their statement digest (the digest drops janitor's comment; the
// table's name stays).
func errorScans(t *testing.T, db *sqlx.DB) int64 {
	t.Helper()
	var n int64
	if err := db.Get(&n, `SELECT COALESCE(SUM(COUNT_STAR), 0) FROM performance_schema.events_statements_summary_by_digest
		WHERE DIGEST_TEXT LIKE '%events_errors_summary_by_account_by_error%'`); err != nil {
		t.Fatal(err)
	}
	return n
}

// pastLast1146 waits until the server's clock is two seconds past its latest error
// 1146 (MySQL's error summary; nothing elsewhere): a 1146 another test raised just
// before a hold, in a session that ended, is one no source attributes, and keeps it.
func pastLast1146(t *testing.T) {
	t.Helper()
	if !testdb.Is(t, "mysql") {
		return
	}
	pdb := testdb.Primary(t)
	var last sql.NullTime
	if err := pdb.Get(&last, "SELECT LAST_SEEN FROM performance_schema.events_errors_summary_global_by_error WHERE ERROR_NUMBER = 1146"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server's clock two seconds past the last 1146", 5*time.Second, func() bool {
		var now time.Time
		return !last.Valid || pdb.Get(&now, "SELECT NOW(6)") == nil && now.After(last.Time.Add(2*time.Second))
	})
}

// TestErrorSummaryGate: MySQL's error summary by account (a full scan of one row per
// account and error) is read for a held table only when the server-wide count of
// error 1146 says one was raised since the hold began. With none, a run past the hold's
// end would drop the table and sends no scan; after an application account's EXECUTE
// fails with 1146 (a prepared statement whose table is gone, which no digest attributes
// to a table) in a session that then ends, the scan runs and that 1146 keeps the held
// table.
func TestErrorSummaryGate(t *testing.T) {
	testdb.SkipUnless(t, "only MySQL keeps an error summary", "mysql")
	// The gate keeps a second's margin: a 1146 of another test just before this hold
	// would open it.
	pastLast1146(t)
	db, _, cfg, hold := heldCountedTable(t)
	requireDigests(t, db)
	// A full digest table (a benchmark fills it) gives janitor's reads no digest.
	testdb.Exec(t, db, "TRUNCATE performance_schema.events_statements_summary_by_digest")
	var heldBy time.Time
	if err := db.Get(&heldBy, "SELECT UTC_TIMESTAMP(6)"); err != nil {
		t.Fatal(err)
	}
	before := errorScans(t, db)
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	if o := outcomes(j.Run(context.Background(), false))[hold]; o.Outcome != report.OutcomePlanned {
		t.Fatalf("held table nobody asked for, past its hold: %+v, want planned", o)
	}
	if n := errorScans(t, db) - before; n != 0 {
		t.Errorf("no 1146 raised since the hold began, yet the error summary by account was read %d times", n)
	}

	// The application's prepared statement outlives its table: EXECUTE fails with
	// 1146, and its digest ("EXECUTE `st`") says nothing of which table.
	other := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(other, "gone")+" (id INT PRIMARY KEY)")
	app, _ := account(t, []string{"SELECT ON " + dbconn.QuoteIdent(other) + ".*"})
	appDB := testdb.Open(t, app)
	appConn, err := appDB.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer appConn.Close()
	if _, err := appConn.ExecContext(context.Background(), "PREPARE st FROM 'SELECT id FROM "+q(other, "gone")+"'"); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, db, "DROP TABLE "+q(other, "gone"))
	// The error summary keeps whole seconds: a 1146 of the hold's own second is not
	// after it there (for the scan as for the gate). Raise it two seconds later.
	waitFor(t, "the server's clock two seconds past the hold", 5*time.Second, func() bool {
		var now time.Time
		return db.Get(&now, "SELECT UTC_TIMESTAMP(6)") == nil && now.After(heldBy.Add(2*time.Second))
	})
	_, err = appConn.ExecContext(context.Background(), "EXECUTE st")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1146 {
		t.Fatalf("the application's EXECUTE: %v, want error 1146", err)
	}
	// The session ends: its statement history, whose message would name the table
	// (another one: explained), goes with it.
	_ = appConn.Close()
	endSessions(t, db, appDB, app)
	before = errorScans(t, db)
	j = janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	o := outcomes(j.Run(context.Background(), true))[hold]
	if o.Outcome == report.OutcomeDropped || o.ReasonCode != string(policies.CodeAccessedDuringHold) {
		t.Errorf("held table after an unattributed 1146 raised during its hold: %+v, want kept (%s)", o, policies.CodeAccessedDuringHold)
	}
	if n := errorScans(t, db) - before; n == 0 {
		t.Error("a 1146 was raised since the hold began, yet the error summary by account was not read")
	}
}

// TestHeldNameAfterTheDigestCut: a statement longer than max_digest_length names a held
// table's original name after the point where performance_schema cuts its digest, so
// the digest's text does not hold the name; the session has gone on to other
// statements (its statement history keeps the last ten). The failed digest of the table's schema, cut, must restore the
// table rather than let the run past the hold's end drop it.
func TestHeldNameAfterTheDigestCut(t *testing.T) {
	db, s, cfg, hold := heldCountedTable(t)
	requireDigests(t, db)
	// A full digest table (a benchmark fills it) gives a new statement no digest.
	testdb.Exec(t, db, "TRUNCATE performance_schema.events_statements_summary_by_digest")
	var maxLen int
	if err := db.Get(&maxLen, "SELECT LEAST(@@max_digest_length, @@performance_schema_max_digest_length)"); err != nil {
		t.Fatal(err)
	}
	// Enough 20-character column names to fill the digest before the FROM.
	var cols []string
	for i := 0; len(strings.Join(cols, ", ")) < 2*maxLen; i++ {
		cols = append(cols, fmt.Sprintf("c%03d_abcdefghijklmnop", i))
	}
	app, _ := account(t, []string{"SELECT ON " + dbconn.QuoteIdent(s) + ".*"})
	appDB := testdb.Open(t, testdb.WithDB(app, s))
	appDB.SetMaxOpenConns(1)
	_, err := appDB.Exec("SELECT " + strings.Join(cols, ", ") + " FROM __a_old WHERE id = 1")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1146 {
		t.Fatalf("the application's long read of the held name: %v, want error 1146", err)
	}
	// The application goes on (a pool's connection lives on): its statement history
	// keeps its last ten statements, and the failed one leaves it. (The long history,
	// off by default, would keep it: off for this test.)
	var long string
	if err := db.Get(&long, "SELECT ENABLED FROM performance_schema.setup_consumers WHERE NAME = 'events_statements_history_long'"); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, db, "UPDATE performance_schema.setup_consumers SET ENABLED = 'NO' WHERE NAME = 'events_statements_history_long'")
	t.Cleanup(func() {
		testdb.Exec(t, db, "UPDATE performance_schema.setup_consumers SET ENABLED = '"+long+"' WHERE NAME = 'events_statements_history_long'")
	})
	var size int
	if err := db.Get(&size, "SELECT @@performance_schema_events_statements_history_size"); err != nil {
		t.Fatal(err)
	}
	for range size + 1 {
		var one int
		if err := appDB.Get(&one, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	var visible int
	if err := db.Get(&visible, "SELECT COUNT(*) FROM performance_schema.events_statements_summary_by_digest WHERE DIGEST_TEXT LIKE '%c000_abcdefghijklmnop%' AND DIGEST_TEXT LIKE '%`__a_old`%'"); err != nil {
		t.Fatal(err)
	}
	if visible != 0 {
		t.Fatalf("the digest holds the name: the statement is not cut, the test tests nothing")
	}
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	o := outcomes(j.Run(context.Background(), true))[hold]
	if o.Outcome != report.OutcomeRestored || !exists(t, db, s, "__a_old") {
		t.Errorf("held table asked for by a statement whose digest is cut before the name: %+v, want restored", o)
	}
}

// askHeld runs stmt ({T}: the held table's original name, qualified) as an application
// account on its own session, which then ends (its statement history with it, as a
// pool's short-lived connection or a cron job's), and returns the outcome of the run
// past the hold's end. ({S}: the held table's schema.)
func askHeld(t *testing.T, stmt string) (report.Table, *sqlx.DB, string) {
	t.Helper()
	db, s, cfg, hold := heldCountedTable(t)
	requireDigests(t, db)
	app, _ := account(t, []string{"ALL ON " + dbconn.QuoteIdent(s) + ".*"})
	appDB := testdb.Open(t, app)
	_, err := appDB.Exec(strings.NewReplacer("{T}", q(s, "__a_old"), "{S}", dbconn.QuoteIdent(s)).Replace(stmt))
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1146 {
		t.Fatalf("%s on the held name: %v, want error 1146", stmt, err)
	}
	endSessions(t, db, appDB, app)
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	return outcomes(j.Run(context.Background(), true))[hold], db, s
}

// endSessions closes an application's pool and waits until the server has ended its
// sessions: their statement history goes with them.
func endSessions(t *testing.T, db, appDB *sqlx.DB, dsn string) {
	t.Helper()
	if err := appDB.Close(); err != nil {
		t.Fatal(err)
	}
	cfg, err := dbconn.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the application's sessions ended", 10*time.Second, func() bool {
		var n int
		return db.Get(&n, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = ?", cfg.User) == nil && n == 0
	})
}

// TestHeldNamePurgeShapedStatements: an application's existence probe (SELECT 1 FROM t
// LIMIT 1) and a retention job's batch (DELETE FROM t LIMIT 1000) have the shape of
// janitor's own purge statements, but not its alias: both ask for the held table, which
// is restored, not dropped at the hold's end.
func TestHeldNamePurgeShapedStatements(t *testing.T) {
	// Subtests named apart from their statements: a schema named after a keyword
	// would be read as one.
	for name, stmt := range map[string]string{"probe": "SELECT 1 FROM {T} LIMIT 1", "batch": "DELETE FROM {T} LIMIT 1000"} {
		t.Run(name, func(t *testing.T) {
			o, db, s := askHeld(t, stmt)
			if o.Outcome != report.OutcomeRestored || !exists(t, db, s, "__a_old") {
				t.Errorf("held table after %q on its original name: %+v, want restored", stmt, o)
			}
		})
	}
}

// TestHeldNameFailedMetadataAndDDL: an ORM's column reflection (SHOW FULL FIELDS), a
// SHOW CREATE TABLE, a job's TRUNCATE or monthly RENAME fail with 1146 on the held name
// and stop there: no SELECT follows. Each failed since the hold began: a request.
func TestHeldNameFailedMetadataAndDDL(t *testing.T) {
	for _, stmt := range []string{"SHOW FULL FIELDS FROM {T}", "SHOW CREATE TABLE {T}", "TRUNCATE TABLE {T}", "RENAME TABLE {T} TO {S}.__a_2026_11"} {
		t.Run(strings.Join(strings.Fields(stmt)[:2], "_"), func(t *testing.T) {
			o, db, s := askHeld(t, stmt)
			if o.Outcome != report.OutcomeRestored || !exists(t, db, s, "__a_old") {
				t.Errorf("held table after %q failed on its original name: %+v, want restored", stmt, o)
			}
		})
	}
}

// TestHeldAccountErrorKeptAndRecorded: an application account's 1146 that no statement
// statistic attributes to a table (here an EXECUTE whose session ended; on a server an
// EVENT calling a procedure that builds its SQL) raised during a hold keeps the held
// table, even when another account's statement failed with another error in the same
// second (a duplicate key: a failed digest naming a table). The run records the access
// in the hold record: a later 1146 of the same account, attributed to another table,
// replaces the account's latest in the error summary, and the table stays kept.
func TestHeldAccountErrorKeptAndRecorded(t *testing.T) {
	testdb.SkipUnless(t, "only MySQL keeps an error summary", "mysql")
	db, _, cfg, hold := heldCountedTable(t)
	requireDigests(t, db)
	var heldBy time.Time
	if err := db.Get(&heldBy, "SELECT UTC_TIMESTAMP(6)"); err != nil {
		t.Fatal(err)
	}
	other := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(other, "gone")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(other, "dedup")+" (id INT PRIMARY KEY)",
		"INSERT INTO "+q(other, "dedup")+" VALUES (1)")
	app, _ := account(t, []string{"SELECT ON " + dbconn.QuoteIdent(other) + ".*"})
	appDB := testdb.Open(t, app)
	appDB.SetMaxOpenConns(1)
	if _, err := appDB.Exec("PREPARE st FROM 'SELECT id FROM " + q(other, "gone") + "'"); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, db, "DROP TABLE "+q(other, "gone"))
	// The error summary keeps whole seconds: raise it two seconds past the hold.
	waitFor(t, "the server's clock two seconds past the hold", 5*time.Second, func() bool {
		var now time.Time
		return db.Get(&now, "SELECT UTC_TIMESTAMP(6)") == nil && now.After(heldBy.Add(2*time.Second))
	})
	_, err := appDB.Exec("EXECUTE st")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1146 {
		t.Fatalf("the application's EXECUTE: %v, want error 1146", err)
	}
	// The session ends (its history with it); the EXECUTE's digest is gone with the
	// digest table's TRUNCATE; another account's duplicate key fails in the same second.
	endSessions(t, db, appDB, app)
	testdb.Exec(t, db, "TRUNCATE performance_schema.events_statements_summary_by_digest")
	if _, err := db.Exec("INSERT INTO " + q(other, "dedup") + " VALUES (1)"); err == nil {
		t.Fatal("the duplicate key was taken")
	}
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	o := outcomes(j.Run(context.Background(), true))[hold]
	if o.Outcome == report.OutcomeDropped || o.ReasonCode != string(policies.CodeAccessedDuringHold) {
		t.Fatalf("held table after an unattributed 1146 raised during its hold: %+v, want kept (%s)", o, policies.CodeAccessedDuringHold)
	}

	// The same account's next 1146 names its table, in a session that lives on: the
	// error summary's latest 1146 of the account is now attributed.
	appDB = testdb.Open(t, app)
	appDB.SetMaxOpenConns(1)
	waitFor(t, "the server's clock past the first 1146's second", 5*time.Second, func() bool {
		var now time.Time
		return db.Get(&now, "SELECT UTC_TIMESTAMP(6)") == nil && now.After(heldBy.Add(4*time.Second))
	})
	var n int
	if err := appDB.Get(&n, "SELECT COUNT(*) FROM "+q(other, "nothere")); !errors.As(err, &me) || me.Number != 1146 {
		t.Fatalf("the application's read of a missing table: %v, want error 1146", err)
	}
	j = janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	o = outcomes(j.Run(context.Background(), true))[hold]
	if o.Outcome == report.OutcomeDropped || o.ReasonCode != string(policies.CodeAccessedDuringHold) || !strings.Contains(o.Reason, "recorded in the hold record") {
		t.Errorf("held table kept for an access, after the account's next 1146 was attributed to another table: %+v, want kept by the recorded access", o)
	}
}

// TestDigestLostThenTruncated: once the digest table filled up, the server's count of
// lost digests stays above zero for good, a TRUNCATE of the table included; a table with
// room again loses nothing, and a held table's reason no longer says that statements
// are not told apart.
func TestDigestLostThenTruncated(t *testing.T) {
	pastLast1146(t)
	db, _, cfg, hold := heldCountedTable(t)
	requireDigests(t, db)
	var size int
	if err := db.Get(&size, "SELECT @@performance_schema_digests_size"); err != nil {
		t.Fatal(err)
	}
	conn, err := db.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= size; i++ {
		if _, err := conn.ExecContext(context.Background(), fmt.Sprintf("SELECT 1 AS jt_fill_%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	_ = conn.Close()
	t.Cleanup(func() { testdb.Exec(t, db, "TRUNCATE performance_schema.events_statements_summary_by_digest") })
	var name string
	var lost int64
	if err := db.QueryRowx("SHOW GLOBAL STATUS LIKE 'Performance_schema_digest_lost'").Scan(&name, &lost); err != nil || lost == 0 {
		t.Fatalf("the digest table did not fill up (lost %d, %v): the test tests nothing", lost, err)
	}
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	if o := outcomes(j.Run(context.Background(), false))[hold]; !strings.Contains(o.Reason, "filled up") {
		t.Fatalf("held table while the digest table is full: %+v, want its reason to say so", o)
	}
	testdb.Exec(t, db, "TRUNCATE performance_schema.events_statements_summary_by_digest")
	j = janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	if o := outcomes(j.Run(context.Background(), false))[hold]; strings.Contains(o.Reason, "filled up") || o.Outcome != report.OutcomePlanned {
		t.Errorf("held table once the full digest table was emptied: %+v, want planned, its reason without the lost digests", o)
	}
}

// TestHeldNameAskedThroughACaughtDynamicCall: the second review's finding 1. A procedure
// builds its SQL at run time and catches errors (a CONTINUE HANDLER), as a reporting
// procedure that tolerates a missing table does: its CALL on the held name succeeds, and
// once the application's session has ended MySQL 9.7 counts the caught 1146 in no
// summary. The CALL's digest, run since the hold began, is what is left: the table is
// restored, not dropped at the hold's end. Before, only a failed CALL counted.
func TestHeldNameAskedThroughACaughtDynamicCall(t *testing.T) {
	db, s := digestShard(t, "rep")
	pastLast1146(t)
	cfg, hold := holdBehindCaughtDynamicSQL(t, db, s, "tally", "rep")
	appDSN, _ := account(t, []string{"SELECT, EXECUTE ON " + dbconn.QuoteIdent(s) + ".*"})
	app := testdb.Open(t, testdb.WithDB(appDSN, s))
	testdb.Exec(t, app, "CALL "+q(s, "tally")+"()") // succeeds: the handler caught the 1146
	app.Close()
	restoredAtHoldEnd(t, db, cfg, s, "__rep_old", hold, "catches errors")
}

// TestHeldNameAskedByAnEventsCaughtDynamicCall: a scheduled event that CALLs a
// procedure building its SQL at run time and catching errors asks for a held name with
// no CALL digest and, its handler catching the 1146, no error janitor can read: the
// event's LAST_EXECUTED since the hold began restores the table at janitor's next look,
// on every flavor, performance_schema on or off.
func TestHeldNameAskedByAnEventsCaughtDynamicCall(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	oldLeftovers(t, db, s, "evq")
	pastLast1146(t)
	var scheduler string
	if err := db.Get(&scheduler, "SELECT @@GLOBAL.event_scheduler"); err != nil {
		t.Fatal(err)
	}
	if scheduler != "ON" {
		testdb.Exec(t, db, "SET GLOBAL event_scheduler = ON")
		t.Cleanup(func() { testdb.Exec(t, db, "SET GLOBAL event_scheduler = "+scheduler) })
	}
	cfg, hold := holdBehindCaughtDynamicSQL(t, db, s, "evtally", "evq")
	testdb.Exec(t, db, "CREATE EVENT "+q(s, "nightly")+" ON SCHEDULE EVERY 1 SECOND DO CALL "+q(s, "evtally")+"()")
	waitFor(t, "the event's first run", 15*time.Second, func() bool {
		var ran int
		return db.Get(&ran, "SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? AND EVENT_NAME = 'nightly' AND LAST_EXECUTED IS NOT NULL", s) == nil && ran > 0
	})
	testdb.Exec(t, db, "ALTER EVENT "+q(s, "nightly")+" DISABLE")
	restoredAtHoldEnd(t, db, cfg, s, "__evq_old", hold, "scheduled event")
}

// holdBehindCaughtDynamicSQL creates procedure proc in s, which reads __base_old by a
// name it builds at run time and catches the error, holds __base_old with a run, and
// waits until the server's clock is a second past the hold: a digest's LAST_SEEN and an
// event's LAST_EXECUTED keep whole seconds, so a run in the hold's first second cannot
// be told from one just before it. It returns the run's config and the hold name.
func holdBehindCaughtDynamicSQL(t *testing.T, db *sqlx.DB, s, proc, base string) (janitor.Config, string) {
	t.Helper()
	testdb.Exec(t, db, "CREATE PROCEDURE "+q(s, proc)+"() BEGIN DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END; "+
		"SET @q = CONCAT('SELECT COUNT(*) INTO @n FROM `', DATABASE(), '`.`__"+base+"', '_old`'); "+
		"PREPARE st FROM @q; EXECUTE st; DEALLOCATE PREPARE st; END")
	cfg := holdConfig(t, s)
	left := "__" + base + "_old"
	if o := outcomes(janitor.New(cfg, nil).Run(context.Background(), true))[left]; o.Outcome != report.OutcomeHeld {
		t.Fatalf("%s: %+v, want held", left, o)
	}
	hold := heldName(t, db, s, left)
	var heldAt time.Time
	if err := db.Get(&heldAt, "SELECT NOW(6)"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server's clock a second past the hold", 5*time.Second, func() bool {
		var now time.Time
		return db.Get(&now, "SELECT NOW(6)") == nil && now.After(heldAt.Add(time.Second))
	})
	return cfg, hold
}

// restoredAtHoldEnd runs janitor past the hold's end and fails the test unless hold (of
// left) was restored for a reason holding want: a drop is a false one.
func restoredAtHoldEnd(t *testing.T, db *sqlx.DB, cfg janitor.Config, s, left, hold, want string) {
	t.Helper()
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	o := outcomes(j.Run(context.Background(), true))[hold]
	t.Logf("%s: %s (%s)", hold, o.Outcome, o.Reason)
	if o.Outcome == report.OutcomeDropped || !exists(t, db, s, left) && !exists(t, db, s, hold) {
		t.Fatalf("a held table a caught dynamic CALL may have asked for was dropped: %+v", o)
	}
	if o.Outcome != report.OutcomeRestored || !strings.Contains(o.Reason, want) {
		t.Errorf("%s: %+v; want restored, its reason naming %q", hold, o, want)
	}
}
