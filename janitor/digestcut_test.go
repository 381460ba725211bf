package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

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
