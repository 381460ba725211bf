package janitor_test

import (
	"context"
	"database/sql"
	"errors"
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

// TestErrorSummaryGate: MySQL's error summary by account (a full scan of one row per
// account and error) is read for a held table only when the server-wide count of
// error 1146 says one was raised since the hold began. With none, a run past the hold's
// end would drop the table and sends no scan; after an application account's EXECUTE
// fails with 1146 (a prepared statement whose table is gone, which no digest attributes
// to a table), the scan runs and that 1146 keeps the held table.
func TestErrorSummaryGate(t *testing.T) {
	testdb.SkipUnless(t, "only MySQL keeps an error summary", "mysql")
	// The gate keeps a second's margin: a 1146 of another test just before this hold
	// would open it. Hold once the server's clock is past that second.
	pdb := testdb.Primary(t)
	var last sql.NullTime
	if err := pdb.Get(&last, "SELECT LAST_SEEN FROM performance_schema.events_errors_summary_global_by_error WHERE ERROR_NUMBER = 1146"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server's clock two seconds past the last 1146", 5*time.Second, func() bool {
		var now time.Time
		return !last.Valid || pdb.Get(&now, "SELECT NOW(6)") == nil && now.After(last.Time.Add(2*time.Second))
	})
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
	appConn, err := testdb.Open(t, app).Conn(context.Background())
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
