package discovery_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/policies"
)

// later schedules an event that does not run during the test: its body is what counts.
const later = " ON SCHEDULE EVERY 1 WEEK STARTS CURRENT_TIMESTAMP + INTERVAL 1 YEAR "

// userDSN creates an account on the primary with exactly grants, dropped (with every
// grant it holds) when the test ends, and returns a DSN for it.
func userDSN(t *testing.T, db *sqlx.DB, grants ...string) (dsn, account string) {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	user, pw := "jd_"+hex.EncodeToString(b), "pw_"+hex.EncodeToString(b)
	account = "'" + user + "'@'127.0.0.1'"
	testdb.Exec(t, db, "CREATE USER "+account+" IDENTIFIED BY '"+pw+"'")
	t.Cleanup(func() { testdb.Exec(t, db, "DROP USER IF EXISTS "+account) })
	for _, g := range grants {
		testdb.Exec(t, db, "GRANT "+g+" TO "+account)
	}
	cfg, err := dbconn.ParseDSN(testdb.PrimaryDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = user, pw
	return cfg.FormatDSN(), account
}

// TestEventsKeepWhatTheyName: a weekly event that writes or reads a leftover uses it,
// however seldom it runs. Named bare from its own schema, qualified from another, with
// odd names quoted, disabled or not, each keeps it; an event in another schema naming a
// table of the same name bare names its own schema's table, and keeps nothing here.
func TestEventsKeepWhatTheyName(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	other := testdb.Schema(t, db)
	weird := "we`ird.é"
	stmts := []string{}
	for _, base := range []string{"orders", "items", "disabled", weird, "free"} {
		stmts = append(stmts, "CREATE TABLE "+q(s, base)+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__"+base+"_old")+" (id INT PRIMARY KEY)")
	}
	stmts = append(stmts,
		// As a DBA writes it, in the schema, bare.
		"CREATE EVENT "+q(s, "weekly")+later+"DO INSERT INTO __orders_old SELECT * FROM orders",
		// From a reporting schema, qualified, with comments around the dot.
		"CREATE EVENT "+q(other, "report")+later+"DO SELECT COUNT(*) INTO @n FROM "+dbconn.QuoteIdent(s)+" /* x */ . __items_old",
		"CREATE EVENT "+q(s, "off")+later+"DISABLE DO DELETE FROM `__disabled_old` WHERE id < 10",
		"CREATE EVENT "+q(other, "odd")+later+"DO INSERT INTO "+q(s, "__"+weird+"_old")+" VALUES (1)",
		// Bare from another schema: that schema's _free_old, not this one.
		"CREATE EVENT "+q(other, "elsewhere")+later+"DO DELETE FROM __free_old",
		"CREATE EVENT "+q(s, "lookalike")+later+"DO DELETE FROM __free_old2",
		// An event that CALLs a routine: the routine names the table, and keeps it.
		"CREATE TABLE "+q(s, "calls")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__calls_old")+" (id INT PRIMARY KEY)",
		"CREATE PROCEDURE "+q(s, "archive")+"() INSERT INTO __calls_old SELECT * FROM calls",
		"CREATE EVENT "+q(s, "nightly")+later+"DO CALL archive()")
	testdb.Exec(t, db, stmts...)
	in := inspector(t, db, s)
	mysqlMangles := testdb.IsMySQL(t)
	for table, want := range map[string]string{
		"__orders_old":        q(s, "weekly"),
		"__items_old":         q(other, "report"),
		"__disabled_old":      q(s, "off") + " (disabled)",
		"__" + weird + "_old": q(other, "odd"),
		"__free_old":          "",
	} {
		tb, v := verdictOf(t, in, s, table)
		switch {
		case strings.Contains(table, "`") && mysqlMangles:
			// MySQL mangles a backtick-holding name in stored bodies: unreadable, kept.
			if v.Code != policies.CodeEvidenceUnreadable || !strings.Contains(v.Reason, "event") {
				t.Errorf("%s: %s %s (%s); want evidence_unreadable naming events", table, v.Action, v.Code, v.Reason)
			}
		case want == "" && v.Action != policies.Drop:
			t.Errorf("%s: %s %s (%s), events %q; want drop", table, v.Action, v.Code, v.Reason, tb.Evidence.Events)
		case want != "" && (v.Code != policies.CodeEventReference || len(tb.Evidence.Events) != 1 || tb.Evidence.Events[0] != want):
			t.Errorf("%s: %s %s (%s), events %q; want skip event_reference naming %s", table, v.Action, v.Code, v.Reason, tb.Evidence.Events, want)
		}
	}
	if tb, v := verdictOf(t, in, s, "__calls_old"); v.Code != policies.CodeRoutineReference || len(tb.Evidence.Events) != 0 {
		t.Errorf("__calls_old: %s %s (%s), events %q; want routine_reference from the procedure the event calls", v.Action, v.Code, v.Reason, tb.Evidence.Events)
	}
}

// TestEventsHiddenWithoutEventPrivilege: without EVENT the server shows no event and no
// error; janitor must read that as unreadable and say what to grant, not as "no event".
func TestEventsHiddenWithoutEventPrivilege(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY)",
		"CREATE EVENT "+q(s, "weekly")+later+"DO INSERT INTO __orders_old SELECT * FROM orders")
	for _, grants := range [][]string{
		{"SELECT, PROCESS, SHOW VIEW, TRIGGER ON *.*"},
		// EVENT on the schema alone hides other schemas' events, which may name it.
		{"SELECT, PROCESS, SHOW VIEW, TRIGGER ON *.*", "EVENT ON " + dbconn.QuoteIdent(s) + ".*"},
	} {
		dsn, _ := userDSN(t, db, grants...)
		u := testdb.Open(t, dsn)
		var n int
		if err := u.Get(&n, "SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?", s); err != nil || n != len(grants)-1 {
			t.Fatalf("%v: the server shows %d events (%v); the test expects %d", grants, n, err, len(grants)-1)
		}
		_, v := verdictOf(t, inspector(t, u, s), s, "__orders_old")
		if v.Code != policies.CodeEvidenceUnreadable || !strings.Contains(v.Reason, "GRANT EVENT ON *.*") {
			t.Errorf("%v: %s %s (%s); want evidence_unreadable saying GRANT EVENT ON *.*", grants, v.Action, v.Code, v.Reason)
		}
	}
}

// TestTableGrantKeepsIt: a GRANT on the leftover itself, or on one of its columns, is a
// DBA keeping it for somebody; a grant to janitor's own account, or on the base table's
// name, is not.
func TestTableGrantKeepsIt(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	stmts := []string{}
	for _, base := range []string{"orders", "items", "mine", "free"} {
		stmts = append(stmts, "CREATE TABLE "+q(s, base)+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__"+base+"_old")+" (id INT PRIMARY KEY)")
	}
	testdb.Exec(t, db, stmts...)
	_, reporting := userDSN(t, db, "SELECT ON "+q(s, "__orders_old"), "SELECT (id) ON "+q(s, "__items_old"), "SELECT ON "+q(s, "free"))
	self, account := userDSN(t, db, "SELECT, PROCESS, SHOW VIEW, TRIGGER, EVENT ON *.*", "DROP ON "+q(s, "__mine_old"))
	u := testdb.Open(t, self)
	in := inspector(t, u, s)
	for table, want := range map[string]string{
		"__orders_old": reporting + ": SELECT",
		"__items_old":  reporting + ": SELECT (`id`)",
		"__mine_old":   "",
		"__free_old":   "",
	} {
		tb, v := verdictOf(t, in, s, table)
		switch {
		case want == "" && v.Action != policies.Drop:
			t.Errorf("%s: %s %s (%s), grants %q; want drop (janitor is %s)", table, v.Action, v.Code, v.Reason, tb.Evidence.TableGrants, account)
		case want != "" && (v.Code != policies.CodeTableGrant || len(tb.Evidence.TableGrants) != 1 || tb.Evidence.TableGrants[0] != want):
			t.Errorf("%s: %s %s (%s), grants %q; want skip table_grant %s", table, v.Action, v.Code, v.Reason, tb.Evidence.TableGrants, want)
		}
	}
}

// TestEventsAndGrantsOnReplica: a replica-only event or grant (written with
// sql_log_bin=0: a reporting setup on the replica) is found by References there.
func TestEventsAndGrantsOnReplica(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "items")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__items_old")+" (id INT PRIMARY KEY)")
	rdb := testdb.Open(t, testdb.ReplicaDSN(t))
	testdb.WaitReplica(t, db, rdb)
	c, err := rdb.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() }) // after the cleanup below, which uses it
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	user := "'jr_" + hex.EncodeToString(b) + "'@'%'"
	testdb.Exec(t, c, "SET SESSION sql_log_bin = 0",
		"CREATE EVENT "+q(s, "replica_only")+later+"DO INSERT INTO "+q(s, "__orders_old")+" VALUES (1)",
		"CREATE USER "+user, "GRANT SELECT ON "+q(s, "__items_old")+" TO "+user)
	t.Cleanup(func() {
		testdb.Exec(t, c, "SET SESSION sql_log_bin = 0", "DROP USER IF EXISTS "+user, "DROP EVENT IF EXISTS "+q(s, "replica_only"))
	})
	srv, err := discovery.ReadServer(context.Background(), rdb)
	if err != nil {
		t.Fatal(err)
	}
	in := discovery.NewInspector(rdb, srv, discovery.Options{}, nil)
	for table, want := range map[string]string{
		"__orders_old": "event " + q(s, "replica_only"),
		"__items_old":  "table grant to " + user + ": SELECT",
	} {
		refs, unreadable, gone, err := in.References(context.Background(), discovery.Name{Schema: s, Table: table})
		if err != nil || gone || len(unreadable) > 0 {
			t.Fatalf("%s: References: err %v, gone %v, unreadable %q", table, err, gone, unreadable)
		}
		if fmt.Sprint(refs) != fmt.Sprint([]string{want}) {
			t.Errorf("%s: references on the replica %q, want %q", table, refs, want)
		}
	}
	// On the primary, none of it exists.
	srvP, err := discovery.ReadServer(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	refs, unreadable, _, err := discovery.NewInspector(db, srvP, discovery.Options{}, nil).References(context.Background(), discovery.Name{Schema: s, Table: "__orders_old"})
	if err != nil || len(refs) > 0 || len(unreadable) > 0 {
		t.Errorf("primary: refs %q, unreadable %q, err %v; want none", refs, unreadable, err)
	}
}
