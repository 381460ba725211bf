package janitor_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// waitFor polls cond every 50 ms until it holds or the deadline passes.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sessionOn starts a session that reads schema.table for a minute and waits until the
// processlist shows it; the test's end kills it. It may run off the test's goroutine (a
// hook), so it reports failures with t.Error.
func sessionOn(t *testing.T, db *sqlx.DB, schema, table string) {
	t.Helper()
	conn, err := db.Connx(context.Background())
	if err != nil {
		t.Error(err)
		return
	}
	var id int64
	if err := conn.GetContext(context.Background(), &id, "SELECT CONNECTION_ID()"); err != nil {
		t.Error(err)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = conn.ExecContext(context.Background(), "SELECT COUNT(*), SLEEP(60) FROM "+q(schema, table))
	}()
	t.Cleanup(func() {
		_, _ = db.Exec(fmt.Sprintf("KILL %d", id))
		<-done
		conn.Close()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		_ = db.Get(&n, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND INFO LIKE '%SLEEP(60)%'", id)
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("the session reading %s did not show in the processlist within 10s", table)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMigrationTablesShareOneVerdict: a sign of life in one table of a running
// migration keeps all of them, in the report, the plan and the pre-DROP re-check.
// gh-ost's _orders_gho is read by a session; its changelog's heartbeat stopped two days
// ago, so alone the changelog looked dead, and janitor held it apart from the ghost
// table. In execute, a session starts reading a changelog after the inventory: the
// re-check of its ghost table must see it on its sibling.
func TestMigrationTablesShareOneVerdict(t *testing.T) {
	db, s := ghostShard(t)
	// Another migration, dead: the group verdict keeps no more than its migration.
	testdb.Exec(t, db, deadGhost(s, "users")...)
	testdb.Exec(t, db,
		"CREATE TABLE "+q(s, "_orders_20200102030405_del")+" LIKE "+q(s, "orders"),
		// pt-osc: triggers feed _items_new (live); __items_old is an earlier run's.
		"CREATE TABLE "+q(s, "items")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "_items_new")+" LIKE "+q(s, "items"), "CREATE TABLE "+q(s, "__items_old")+" LIKE "+q(s, "items"),
		"CREATE TRIGGER "+q(s, "pt_osc_"+s+"_items_ins")+" AFTER INSERT ON "+q(s, "items")+
			" FOR EACH ROW REPLACE INTO "+q(s, "_items_new")+" (id) VALUES (NEW.id)")
	sessionOn(t, db, s, "_orders_gho")
	cfg := config(t, s)
	check := func(what string, r *report.Report) {
		t.Helper()
		got := outcomes(r)
		if row := got["_orders_ghc"]; row.Verdict != string(policies.Skip) || row.ReasonCode != string(policies.CodeInUse) || !strings.Contains(row.Reason, "_orders_gho") {
			t.Errorf("%s: _orders_ghc: %s %s (%s); want kept in_use with _orders_gho", what, row.Verdict, row.ReasonCode, row.Reason)
		}
		// Original tables renamed away at cut-over are earlier runs': a live migration
		// of the same base does not keep them (discovery.InFlight).
		for _, name := range []string{"_users_gho", "_users_ghc", "_orders_20200102030405_del", "__items_old"} {
			if row := got[name]; row.Verdict != string(policies.Drop) {
				t.Errorf("%s: %s: %s %s (%s); want dead", what, name, row.Verdict, row.ReasonCode, row.Reason)
			}
		}
	}
	check("report", janitor.New(cfg, nil).Report(context.Background()))
	check("plan", janitor.New(cfg, nil).Run(context.Background(), false))

	// Execute: the carts migration is dead at the inventory; once its first table is
	// dropped, someone starts reading its changelog, before _carts_gho's re-check.
	testdb.Exec(t, db, append(deadGhost(s, "carts"), "CREATE TABLE "+q(s, "_carts_20200102030405_del")+" LIKE "+q(s, "carts"))...)
	j := janitor.New(cfg, nil)
	started := false
	j.Hooks.BeforeDrop = func(_, schema, table string) {
		// _carts_20200102030405_del sorts first; its DROP is let through, then the
		// changelog is read by someone before _carts_gho's re-check.
		if table == "_carts_20200102030405_del" && !started {
			started = true
			sessionOn(t, db, schema, "_carts_ghc")
		}
	}
	r := j.Run(context.Background(), true)
	if !started {
		t.Fatalf("the hook did not run: %+v", outcomes(r))
	}
	got := outcomes(r)
	if row := got["_carts_gho"]; row.Outcome != report.OutcomeSkipped || !strings.Contains(row.Reason, "_carts_ghc") {
		t.Errorf("_carts_gho: %s (%s); want skipped by the re-check, its changelog being in use", row.Outcome, row.Reason)
	}
	if !exists(t, db, s, "_carts_gho") || !exists(t, db, s, "_orders_gho") || !exists(t, db, s, "_orders_ghc") {
		t.Errorf("a table of a live migration was dropped: %+v", got)
	}
	if exists(t, db, s, "_users_gho") || exists(t, db, s, "_users_ghc") {
		t.Errorf("the dead migration's tables were not dropped: %+v", got)
	}
}

// TestPausedGhostStatusRowsKeepIt: gh-ost throttled by its operator writes no heartbeat
// but goes on writing status rows into its changelog. With min_age 0s (no recent-write
// rule), a heartbeat twelve minutes old and a status row written now keep both tables.
func TestPausedGhostStatusRowsKeepIt(t *testing.T) {
	db, s := primarySchema(t)
	testdb.Exec(t, db, append(ghostTables(s, "orders", "_orders_gho", "12 MINUTE"),
		"INSERT INTO "+q(s, "_orders_ghc")+" (hint, value) VALUES ('copy iteration 7 at 1796000000', 'Copy: 70/500 14.0%; State: throttled, commanded by user')")...)
	cfg := config(t, s)
	got := outcomes(janitor.New(cfg, nil).Report(context.Background()))
	for _, name := range []string{"_orders_gho", "_orders_ghc"} {
		row := got[name]
		if row.Verdict != string(policies.Skip) || row.ReasonCode != string(policies.CodeLiveHeartbeat) || !strings.Contains(row.Reason, "copy iteration 7") {
			t.Errorf("%s: %s %s (%s); want kept live_heartbeat by the status row", name, row.Verdict, row.ReasonCode, row.Reason)
		}
	}
}

// binlogClient streams the primary's binary log as user (the flavor's own client,
// mysqlbinlog --read-from-remote-server --stop-never) until the test ends, and waits until
// the processlist shows its Binlog Dump session.
func binlogClient(t *testing.T, db *sqlx.DB, user, password string) {
	t.Helper()
	binlogClientOf(t, db, testdb.PrimaryDSN(t), os.Getenv(testdb.PrimaryFSRootEnv), user, password)
}

// binlogClientOf streams the binary log of the server at dsn (db is a pool to it; root
// its chroot, "" for the host's server).
func binlogClientOf(t *testing.T, db *sqlx.DB, dsn, root, user, password string) {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	// From the newest binary log: the client only has to stay connected.
	rows, err := db.Queryx("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	var file string
	for rows.Next() {
		cols, err := rows.SliceScan()
		if err != nil {
			t.Fatal(err)
		}
		file = fmt.Sprintf("%s", cols[0])
	}
	rows.Close()
	args := []string{"--read-from-remote-server", "--stop-never", "-h" + host, "-P" + port, "-u" + user, "-p" + password, "--result-file=/dev/null", file}
	var cmd *exec.Cmd
	if root != "" {
		// The chroot flavors' own client, which speaks their protocol.
		client := "mysqlbinlog"
		if _, err := os.Stat(filepath.Join(root, "usr/bin", client)); err != nil {
			client = "mariadb-binlog"
		}
		if client == "mariadb-binlog" {
			// MariaDB 11.4+'s client requires TLS by default; the sandbox replica serves none.
			args = append([]string{"--skip-ssl"}, args...)
		}
		cmd = exec.Command("chroot", append([]string{root, client}, args...)...)
	} else {
		cmd = exec.Command("mysqlbinlog", append([]string{"--skip-ssl"}, args...)...)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	gone := func() bool {
		var n int
		_ = db.Get(&n, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND USER = ?", user)
		return n == 0
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		// The server notices a client gone only when it next sends it an event: end
		// the session from here, as the next write on a busy primary would.
		endDumps(t, db, user)
	})
	waitFor(t, "the binary log client's session ("+filepath.Base(cmd.Path)+": "+stderr.String()+")", 10*time.Second, func() bool { return !gone() })
}

// TestBinlogClientKeepsGhostTables: a tool that streams the binary log stays connected
// while it is paused, whatever its heartbeat says. A Binlog Dump session whose account
// may alter tables keeps gh-ost's leftovers (binlog_client); the sandbox replica's
// replication-only account, and one made here, do not; pt-osc, which streams nothing,
// is not kept by it.
func TestBinlogClientKeepsGhostTables(t *testing.T) {
	db, s := ghostShard(t)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "items")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__items_old")+" LIKE "+q(s, "items"))
	cfg := config(t, s)
	verdicts := func(what string, want map[string]policies.Code) {
		t.Helper()
		got := outcomes(janitor.New(cfg, nil).Report(context.Background()))
		for name, code := range want {
			if row := got[name]; row.ReasonCode != string(code) {
				t.Errorf("%s: %s: %s %s (%s); want %s", what, name, row.Verdict, row.ReasonCode, row.Reason, code)
			}
		}
	}
	dead := map[string]policies.Code{"_orders_gho": policies.CodeDead, "_orders_ghc": policies.CodeDead, "__items_old": policies.CodeDead}
	verdicts("only the sandbox replica streams", dead)

	// A replication-only account: janitor can tell it is a replica.
	user := fmt.Sprintf("jrepl_%d", time.Now().UnixNano()%1_000_000)
	testdb.Exec(t, db, "GRANT REPLICATION SLAVE ON *.* TO "+newUser(t, db, user, "repl-secret"))
	t.Run("replication account", func(t *testing.T) {
		binlogClient(t, db, user, "repl-secret")
		verdicts("a replication-only account streams", dead)
	})
	t.Run("account that may alter tables", func(t *testing.T) {
		cfgDSN, _ := mysql.ParseDSN(testdb.PrimaryDSN(t))
		binlogClient(t, db, cfgDSN.User, cfgDSN.Passwd)
		verdicts("an account that may alter tables streams", map[string]policies.Code{
			"_orders_gho": policies.CodeBinlogClient, "_orders_ghc": policies.CodeBinlogClient, "__items_old": policies.CodeDead})
	})
	verdicts("the client is gone", dead)
}

// TestBroadReplicationAccountSaysWhatToDo: a replica whose replication account has ALL
// (common in practice) cannot be told from gh-ost, so it keeps gh-ost's leftovers
// (binlog_client). The reason gives the statements that make the account
// replication-only, and once the DBA runs them, with the client still connected, the
// leftovers are dead again.
func TestBroadReplicationAccountSaysWhatToDo(t *testing.T) {
	db, s := ghostShard(t)
	user := fmt.Sprintf("jrall_%d", time.Now().UnixNano()%1_000_000)
	grantee := newUser(t, db, user, "repl-secret")
	testdb.Exec(t, db, "GRANT ALL PRIVILEGES ON *.* TO "+grantee)
	binlogClient(t, db, user, "repl-secret")
	cfg := config(t, s)
	fix := "REVOKE ALL PRIVILEGES, GRANT OPTION FROM " + grantee + "; GRANT REPLICATION SLAVE ON *.* TO " + grantee
	wantGhostCodes(t, outcomes(janitor.New(cfg, nil).Report(context.Background())), "the broad account streams", policies.CodeBinlogClient, fix)
	// The DBA runs what the reason says; the replica streams on.
	testdb.Exec(t, db, strings.Split(fix, "; ")...)
	wantGhostCodes(t, outcomes(janitor.New(cfg, nil).Report(context.Background())), "after the fix", policies.CodeDead, "")
}

// TestBinlogClientWithARoleNamedLikeAGrant: an account whose only way to alter tables
// is a role is not a replica, whatever the role is called. A role named `mig ON x` made
// its SHOW GRANTS line read as a privilege list ("`mig"), and the client as a replica.
func TestBinlogClientWithARoleNamedLikeAGrant(t *testing.T) {
	db, s := ghostShard(t)
	suffix := time.Now().UnixNano() % 1_000_000
	user, role := fmt.Sprintf("jrole_%d", suffix), fmt.Sprintf("mig ON x%d", suffix)
	testdb.Exec(t, db, "CREATE ROLE `"+role+"`")
	t.Cleanup(func() { _, _ = db.Exec("DROP ROLE IF EXISTS `" + role + "`") })
	grantee := newUser(t, db, user, "repl-secret")
	defaultRole := "SET DEFAULT ROLE ALL TO " + grantee // MySQL
	if testdb.Flavor(t) != "mysql" {
		defaultRole = "SET DEFAULT ROLE `" + role + "` FOR " + grantee
	}
	testdb.Exec(t, db, "GRANT CREATE, ALTER, DROP ON "+dbconn.QuoteIdent(s)+".* TO `"+role+"`",
		"GRANT REPLICATION SLAVE ON *.* TO "+grantee, "GRANT `"+role+"` TO "+grantee, defaultRole)
	binlogClient(t, db, user, "repl-secret")
	got := outcomes(janitor.New(config(t, s), nil).Report(context.Background()))
	wantGhostCodes(t, got, "the client's account has a role", policies.CodeBinlogClient, "role")
}

// TestBinlogClientOfAnotherSchema: a change data capture client such as Maxwell streams
// with ALL on its own schema only. gh-ost refuses to start without ALL (or ALTER,
// CREATE, DROP, ...) on the migrated schema or *.*, so such a client cannot be the tool
// of another schema's migration and keeps nothing there; it kept every gh-ost leftover
// on the server for as long as it ran. A grant whose schema pattern covers the
// leftover's schema (wildcards) still keeps them.
func TestBinlogClientOfAnotherSchema(t *testing.T) {
	db, s := ghostShard(t)
	suffix := time.Now().UnixNano() % 1_000_000
	cfg := config(t, s)
	for _, c := range []struct {
		name, schema string
		want         policies.Code
	}{
		{"own schema", fmt.Sprintf("maxwell_%d", suffix), policies.CodeDead},
		{"a pattern that covers the leftovers' schema", s[:4] + "%", policies.CodeBinlogClient},
	} {
		t.Run(c.name, func(t *testing.T) {
			user := fmt.Sprintf("jcdc_%d_%d", suffix, len(c.schema))
			grantee := newUser(t, db, user, "cdc-secret")
			testdb.Exec(t, db, "GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO "+grantee,
				"GRANT ALL PRIVILEGES ON "+dbconn.QuoteIdent(c.schema)+".* TO "+grantee)
			binlogClient(t, db, user, "cdc-secret")
			got := outcomes(janitor.New(cfg, nil).Report(context.Background()))
			wantGhostCodes(t, got, "with ALL ON "+c.schema+".*", c.want, "")
		})
	}
}

// TestBinlogClientWithAMandatoryRole (MySQL): every account has the roles in
// mandatory_roles and may activate them, yet SHOW GRANTS FOR an account does not list
// them. A replication-only account on a server whose mandatory role may alter tables in
// the leftovers' schema may be the tool; one whose mandatory role may alter tables only
// elsewhere is not.
func TestBinlogClientWithAMandatoryRole(t *testing.T) {
	testdb.SkipUnless(t, "mandatory_roles is MySQL's", "mysql")
	db, s := ghostShard(t)
	var was string
	if err := db.Get(&was, "SELECT @@GLOBAL.mandatory_roles"); err != nil {
		t.Fatal(err)
	}
	suffix := time.Now().UnixNano() % 1_000_000
	user, role := fmt.Sprintf("jmand_%d", suffix), fmt.Sprintf("jmand role %d", suffix)
	testdb.Exec(t, db, "CREATE ROLE `"+role+"`")
	t.Cleanup(func() {
		// A role in mandatory_roles cannot be dropped.
		_, _ = db.Exec("SET GLOBAL mandatory_roles = ?", was)
		_, _ = db.Exec("DROP ROLE IF EXISTS `" + role + "`")
	})
	testdb.Exec(t, db, "GRANT REPLICATION SLAVE ON *.* TO "+newUser(t, db, user, "repl-secret"))
	binlogClient(t, db, user, "repl-secret")
	cfg := config(t, s)
	for _, c := range []struct {
		schema string
		want   policies.Code
	}{
		{s, policies.CodeBinlogClient},
		{fmt.Sprintf("elsewhere_%d", suffix), policies.CodeDead},
	} {
		testdb.Exec(t, db, "REVOKE ALL PRIVILEGES, GRANT OPTION FROM `"+role+"`", "GRANT CREATE, ALTER, DROP ON "+dbconn.QuoteIdent(c.schema)+".* TO `"+role+"`",
			"SET GLOBAL mandatory_roles = '`"+role+"`@`%`'")
		got := outcomes(janitor.New(cfg, nil).Report(context.Background()))
		wantGhostCodes(t, got, "mandatory role with ALTER ON "+c.schema+".*", c.want, "")
	}
}

// endDumps ends user's Binlog Dump sessions and waits until they are gone.
func endDumps(t *testing.T, db *sqlx.DB, user string) {
	t.Helper()
	var ids []int64
	if err := db.Select(&ids, "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND USER = ?", user); err != nil {
		t.Error(err)
	}
	for _, id := range ids {
		_, _ = db.Exec(fmt.Sprintf("KILL %d", id))
	}
	waitFor(t, "the binary log sessions of "+user+" to end", 10*time.Second, func() bool {
		var n int
		_ = db.Get(&n, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' AND USER = ?", user)
		return n == 0
	})
}

// TestReplicaBinlogClientKeepsGhostTables: gh-ost streams from a replica by default and
// applies on the primary. A binary log client on the replica whose account may alter
// tables keeps gh-ost's tables at the pre-DROP re-check, though the primary shows none.
func TestReplicaBinlogClientKeepsGhostTables(t *testing.T) {
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	db, s := ghostShard(t)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "items")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__items_old")+" LIKE "+q(s, "items"))
	testdb.WaitReplica(t, db, replica)
	cfg := config(t, s)
	c, err := mysql.ParseDSN(testdb.ReplicaDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	binlogClientOf(t, replica, testdb.ReplicaDSN(t), os.Getenv(testdb.ReplicaFSRootEnv), c.User, c.Passwd)
	r := janitor.New(cfg, nil).Run(context.Background(), true)
	got := outcomes(r)
	// A client that streams without registering (mysqlbinlog does not; gh-ost does) is
	// also an attached reader the topology check cannot match, which stops the whole
	// shard before any statement (replica_unchecked): as safe, and checked first. Either
	// way gh-ost's tables stay.
	blocked := r.Shards[0].BlockedCode == report.BlockedReplicaUnchecked
	for _, name := range []string{"_orders_gho", "_orders_ghc"} {
		row := got[name]
		kept := row.Outcome == report.OutcomeSkipped && strings.Contains(row.Reason, "binlog_client") ||
			blocked && row.Outcome == report.OutcomeDeferred
		if !kept || !exists(t, db, s, name) {
			t.Errorf("%s: %s (%s); want kept: a binary log client on the replica may be gh-ost", name, row.Outcome, row.Reason)
		}
	}
	if row := got["__items_old"]; row.Outcome != report.OutcomeDropped && !(blocked && row.Outcome == report.OutcomeDeferred) {
		t.Errorf("__items_old: %s (%s); want dropped: pt-osc streams no binary log", row.Outcome, row.Reason)
	}
}

// ghostHeldApart is a shard where a first run held _orders_gho apart from its
// changelog _orders_ghc (a view kept the changelog, which is no sign of life; its
// heartbeat is two days old), as janitor did before the group verdict: the primary, the
// schema, the hold configuration and the ghost table's hold name.
func ghostHeldApart(t *testing.T) (*sqlx.DB, string, janitor.Config, string) {
	t.Helper()
	db, s := ghostShard(t)
	testdb.Exec(t, db, "CREATE VIEW "+q(s, "v_ghc")+" AS SELECT id FROM "+q(s, "_orders_ghc"))
	cfg := holdConfig(t, s)
	if o := outcomes(janitor.New(cfg, nil).Run(context.Background(), true))["_orders_gho"]; o.Outcome != report.OutcomeHeld {
		t.Fatalf("_orders_gho: %s (%s); want held alone, as before the group verdict", o.Outcome, o.Reason)
	}
	return db, s, cfg, heldName(t, db, s, "_orders_gho")
}

// TestHeldPartnerOfALiveMigrationStays: a ghost table held apart from its changelog (a
// view kept the changelog, which is no sign of life) is not dropped when its hold ends
// while the changelog shows the migration alive again: status rows, its gh-ost resumed
// after a pause. Report and execute keep it.
func TestHeldPartnerOfALiveMigrationStays(t *testing.T) {
	db, s, cfg, hold := ghostHeldApart(t)
	testdb.Exec(t, db, "INSERT INTO "+q(s, "_orders_ghc")+" (hint, value) VALUES ('copy iteration 9 at 1796000000', 'State: migrating')")
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	rep := j.Report(context.Background())
	if o := outcomes(rep)[hold]; o.ReasonCode != string(policies.CodeLiveHeartbeat) || !strings.Contains(o.Reason, "_orders_ghc") {
		t.Errorf("report: held _orders_gho: %s %s (%s); want kept live_heartbeat with _orders_ghc", o.Verdict, o.ReasonCode, o.Reason)
	}
	r := j.Run(context.Background(), true)
	if o := outcomes(r)[hold]; o.Outcome != report.OutcomeSkipped || !exists(t, db, s, hold) {
		t.Errorf("execute: held _orders_gho: %s (%s); want kept: its migration writes its changelog", o.Outcome, o.Reason)
	}
}

// TestHeldPartnerRecheckSeesItsMigration: the pre-DROP re-check of a held table whose
// hold has ended looks at the migration its hold record names. _orders_gho was held
// apart from its changelog (a view kept the changelog, which is no sign of life); at the
// next run's inventory the migration shows no life, and then, before the held table's
// DROP, someone starts using the changelog. The re-check (janitor/group.go, the hold
// record's tool, role and base) must find it on the sibling, which the held table's own
// evidence, under its hold name, cannot show.
func TestHeldPartnerRecheckSeesItsMigration(t *testing.T) {
	db, s, cfg, hold := ghostHeldApart(t)
	// A dead leftover the next run holds before it drops the held table (names sort
	// byte-wise: "__" before "_j"): its hold is when the changelog comes into use.
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "items")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__items_old")+" LIKE "+q(s, "items"))
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	if o := outcomes(j.Report(context.Background()))[hold]; o.Verdict != string(policies.Drop) {
		t.Fatalf("report: held _orders_gho: %s %s (%s); want drop at the inventory, or the test shows nothing", o.Verdict, o.ReasonCode, o.Reason)
	}
	started := false
	j.Hooks.AfterHoldRename = func(_, schema, _ string) {
		if !started {
			started = true
			sessionOn(t, db, schema, "_orders_ghc")
		}
	}
	r := j.Run(context.Background(), true)
	if !started {
		t.Fatalf("the hook did not run: %+v", outcomes(r))
	}
	if o := outcomes(r)[hold]; o.Outcome != report.OutcomeSkipped || !strings.Contains(o.Reason, "_orders_ghc") || !exists(t, db, s, hold) {
		t.Errorf("execute: held _orders_gho: %s (%s); want skipped by the re-check: its changelog is in use", o.Outcome, o.Reason)
	}
}

// TestPausedGhostRevertKeepsItsDel: gh-ost v1.1.7+ `--revert --old-table=_orders_del`
// applies into the _del table of a finished migration as its ghost table (its
// GetGhostTableName returns OldTableName) and makes no _gho, with the changelog
// _orders_ghc. Paused, it writes status rows and no heartbeat: the _del it works in is
// an original table by its name (discovery.InFlight says an earlier run's), yet its own
// changelog evidence keeps it. Guards the revert against a change that would stop
// reading a _del's changelog.
func TestPausedGhostRevertKeepsItsDel(t *testing.T) {
	db, s := primarySchema(t)
	testdb.Exec(t, db, append(ghostTables(s, "orders", "_orders_del", "2 DAY"),
		"INSERT INTO "+q(s, "_orders_ghc")+" (hint, value) VALUES ('copy iteration 3 at 1796000000', 'throttled, commanded by user')")...)
	r := janitor.New(config(t, s), nil).Run(context.Background(), true)
	for _, name := range []string{"_orders_del", "_orders_ghc"} {
		if row := outcomes(r)[name]; row.Outcome != report.OutcomeSkipped || row.ReasonCode != string(policies.CodeLiveHeartbeat) || !exists(t, db, s, name) {
			t.Errorf("%s: %s %s (%s); want kept live_heartbeat: a paused revert works in it", name, row.Outcome, row.ReasonCode, row.Reason)
		}
	}
}
