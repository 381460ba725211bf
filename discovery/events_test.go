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
	db, s := primarySchema(t)
	other := testdb.Schema(t, db)
	weird := "we`ird.é"
	stmts := oldLeftovers(s, "orders", "items", "disabled", weird, "free")
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
	db, s := primarySchema(t)
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
	db, s := primarySchema(t)
	stmts := oldLeftovers(s, "orders", "items", "mine", "free")
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
	db, s := primarySchema(t)
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

// TestTableGrantToCaseTwinOfJanitor: account user names are case-sensitive, so
// 'JD_x'@'h' is another account than janitor's 'jd_x'@'h'; its grant on a leftover keeps
// it. The views' collation folds case, so a SQL comparison would take it for janitor's.
func TestTableGrantToCaseTwinOfJanitor(t *testing.T) {
	db, s := primarySchema(t)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY)")
	self, account := userDSN(t, db, "SELECT, PROCESS, SHOW VIEW, TRIGGER, EVENT ON *.*")
	twin := strings.Replace(account, "'jd_", "'JD_", 1)
	testdb.Exec(t, db, "CREATE USER "+twin+" IDENTIFIED BY 'pw_twin'", "GRANT SELECT ON "+q(s, "__orders_old")+" TO "+twin)
	t.Cleanup(func() { testdb.Exec(t, db, "DROP USER IF EXISTS "+twin) })
	tb, v := verdictOf(t, inspector(t, testdb.Open(t, self), s), s, "__orders_old")
	if v.Code != policies.CodeTableGrant || len(tb.Evidence.TableGrants) != 1 || !strings.HasPrefix(tb.Evidence.TableGrants[0], twin+": ") {
		t.Errorf("%s %s (%s), grants %q; want skip table_grant to %s (janitor is %s)", v.Action, v.Code, v.Reason, tb.Evidence.TableGrants, twin, account)
	}
}

// TestCommentAroundQualifierDot: the dot of schema.table is a token of its own, and any
// comment may stand on either side of it: -- and # run to the end of the line. An event,
// a trigger or a routine in another schema naming a leftover so still names it.
func TestCommentAroundQualifierDot(t *testing.T) {
	db, s := primarySchema(t)
	other := testdb.Schema(t, db)
	qs := dbconn.QuoteIdent(s)
	stmts := append([]string{"CREATE TABLE " + q(other, "src") + " (id INT PRIMARY KEY)"}, oldLeftovers(s, "dash", "hash", "trg", "proc")...)
	stmts = append(stmts,
		"CREATE EVENT "+q(other, "dash")+later+"DO INSERT INTO "+qs+". -- the archive\n __dash_old VALUES (1)",
		"CREATE EVENT "+q(other, "hash")+later+"DO INSERT INTO "+qs+" # the archive\n . `__hash_old` VALUES (1)",
		"CREATE TRIGGER "+q(other, "trg")+" AFTER INSERT ON "+q(other, "src")+" FOR EACH ROW INSERT INTO "+qs+".-- x\n__trg_old VALUES (NEW.id)",
		"CREATE PROCEDURE "+q(other, "proc")+"() DELETE FROM "+qs+" -- x\n.#y\n__proc_old")
	testdb.Exec(t, db, stmts...)
	in := inspector(t, db, s)
	wantCodes(t, in, s, map[string]policies.Code{
		"__dash_old": policies.CodeEventReference,
		"__hash_old": policies.CodeEventReference,
		"__trg_old":  policies.CodeTriggerWrites,
		"__proc_old": policies.CodeRoutineReference,
	})
}

// TestObjectsInSystemSchemasCount: the server lets a DBA put an event, a trigger or a
// routine in mysql or sys (a housekeeping event in mysql is common); one that names a
// leftover keeps it like one in any other schema. The server's own objects there (sys's
// routines) name no user table and are passed over.
func TestObjectsInSystemSchemasCount(t *testing.T) {
	db, s := primarySchema(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	sfx := hex.EncodeToString(b)
	ev, src, trg, proc := q("mysql", "ev_"+sfx), q("sys", "src_"+sfx), q("sys", "trg_"+sfx), q("mysql", "proc_"+sfx)
	t.Cleanup(func() {
		testdb.Exec(t, db, "DROP EVENT IF EXISTS "+ev, "DROP TABLE IF EXISTS "+src, "DROP PROCEDURE IF EXISTS "+proc)
	})
	stmts := oldLeftovers(s, "ev", "trg", "proc")
	stmts = append(stmts,
		"CREATE EVENT "+ev+later+"DO DELETE FROM "+q(s, "__ev_old")+" WHERE id < 10",
		"CREATE TABLE "+src+" (id INT PRIMARY KEY)",
		"CREATE TRIGGER "+trg+" AFTER INSERT ON "+src+" FOR EACH ROW INSERT INTO "+q(s, "__trg_old")+" VALUES (NEW.id)",
		"CREATE PROCEDURE "+proc+"() INSERT INTO "+q(s, "__proc_old")+" VALUES (1)")
	testdb.Exec(t, db, stmts...)
	in := inspector(t, db, s)
	wantCodes(t, in, s, map[string]policies.Code{
		"__ev_old":   policies.CodeEventReference,
		"__trg_old":  policies.CodeTriggerWrites,
		"__proc_old": policies.CodeRoutineReference,
	})
}

// TestOwnPrivilegesNotBorrowedFromCaseTwin: janitor learns its global privileges from
// USER_PRIVILEGES, whose collation folds case; user names do not. An account 'JD_x'
// holding EVENT ON *.* does not give janitor's 'jd_x' the right to see events: without
// EVENT of its own the server hides them, and the evidence is unreadable, not absent.
func TestOwnPrivilegesNotBorrowedFromCaseTwin(t *testing.T) {
	db, s := primarySchema(t)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY)",
		"CREATE EVENT "+q(s, "weekly")+later+"DO INSERT INTO __orders_old SELECT * FROM orders")
	self, account := userDSN(t, db, "SELECT, PROCESS, SHOW VIEW, TRIGGER ON *.*")
	twin := strings.Replace(account, "'jd_", "'JD_", 1)
	testdb.Exec(t, db, "CREATE USER "+twin+" IDENTIFIED BY 'pw_twin'", "GRANT EVENT ON *.* TO "+twin)
	t.Cleanup(func() { testdb.Exec(t, db, "DROP USER IF EXISTS "+twin) })
	u := testdb.Open(t, self)
	srv, err := discovery.ReadServer(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	if srv.SeesEvents {
		t.Errorf("%s holds no EVENT, but janitor believes it sees events (%s holds EVENT ON *.*)", account, twin)
	}
	if _, v := verdictOf(t, inspector(t, u, s), s, "__orders_old"); v.Code != policies.CodeEvidenceUnreadable {
		t.Errorf("%s %s (%s); want evidence_unreadable (events hidden)", v.Action, v.Code, v.Reason)
	}
}

// TestDoubleQuotedNamesThatAreNotPlainWords: under ANSI_QUOTES a body may quote any name
// in double quotes, "my-app"."_orders_old", and the server keeps the body as written. A
// name that is not a plain word (a hyphenated schema, common) is then only ever quoted,
// and double quotes are a quoting like backticks.
func TestDoubleQuotedNamesThatAreNotPlainWords(t *testing.T) {
	db := testdb.Primary(t)
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	s := "jt-dq-" + hex.EncodeToString(b)
	testdb.Exec(t, db, "CREATE DATABASE "+dbconn.QuoteIdent(s))
	t.Cleanup(func() { testdb.Exec(t, db, "DROP DATABASE IF EXISTS "+dbconn.QuoteIdent(s)) })
	other := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "my-items")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__my-items_old")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(other, "src")+" (id INT PRIMARY KEY)")
	c, err := db.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testdb.Exec(t, c, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
		`CREATE TRIGGER "`+other+`"."trg" AFTER INSERT ON "`+other+`"."src" FOR EACH ROW INSERT INTO "`+s+`"."__orders_old" VALUES (NEW.id)`,
		`CREATE PROCEDURE "`+s+`"."archive"() INSERT INTO "__my-items_old" SELECT * FROM "my-items"`)
	in := inspector(t, db, s)
	wantCodes(t, in, s, map[string]policies.Code{
		"__orders_old":   policies.CodeTriggerWrites,
		"__my-items_old": policies.CodeRoutineReference,
	})
}
