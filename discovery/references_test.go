package discovery_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/policies"
)

// verdictOf inspects one table and evaluates it with the age rule off.
func verdictOf(t *testing.T, in *discovery.Inspector, schema, table string) (*discovery.Table, policies.Verdict) {
	t.Helper()
	tb, err := in.Inspect(context.Background(), discovery.Name{Schema: schema, Table: table})
	if err != nil {
		t.Fatal(err)
	}
	return tb, policies.Evaluate(policies.Config{}, policies.Context{}, tb)
}

// TestMergeTableKeepsItsUnion: the adversarial shard of issue 8. `logs_all` is a MERGE
// table over `_logs_old` and `logs`; dropping `_logs_old` makes every query on
// `logs_all` fail with 1168. A MERGE table in another schema naming a leftover
// qualified, with a backtick, a dot and non-ASCII in its names, keeps it too; a MyISAM
// leftover no MERGE table names is still dropped.
func TestMergeTableKeepsItsUnion(t *testing.T) {
	db, s := primarySchema(t)
	other := testdb.Schema(t, db)
	// In the schema, as the DBA did: the UNION names its tables bare.
	inS := testdb.Open(t, testdb.WithDB(testdb.PrimaryDSN(t), s))
	const cols = "(id INT, msg VARCHAR(10)) ENGINE=MyISAM"
	weird := "we`ird.é"
	testdb.Exec(t, inS,
		"CREATE TABLE "+q(s, "logs")+" "+cols, "CREATE TABLE "+q(s, "_logs_old")+" "+cols,
		"INSERT INTO "+q(s, "_logs_old")+" VALUES (1, 'a')",
		"CREATE TABLE "+q(s, "logs_all")+" (id INT, msg VARCHAR(10)) ENGINE=MRG_MyISAM UNION=(_logs_old, logs)",
		"CREATE TABLE "+q(s, weird)+" "+cols, "CREATE TABLE "+q(s, "_"+weird+"_old")+" "+cols,
		"CREATE TABLE "+q(other, "all `of` it")+" (id INT, msg VARCHAR(10)) ENGINE=MRG_MyISAM UNION=("+q(s, "_"+weird+"_old")+") INSERT_METHOD=LAST",
		"CREATE TABLE "+q(s, "free")+" "+cols, "CREATE TABLE "+q(s, "_free_old")+" "+cols,
		// A comment that looks like a UNION list names nothing.
		"CREATE TABLE "+q(other, "decoy")+" (id INT, msg VARCHAR(10) COMMENT 'UNION=(_free_old)') ENGINE=MRG_MyISAM UNION=()")
	srv, err := discovery.ReadServer(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	in := discovery.NewInspector(db, srv, discovery.Options{Schemas: []string{s}, ToolsInUse: []discovery.Tool{discovery.ToolPTOSC}}, nil)
	for table, want := range map[string]string{
		"_logs_old":          q(s, "logs_all"),
		"_" + weird + "_old": q(other, "all `of` it"),
		"_free_old":          "",
	} {
		tb, v := verdictOf(t, in, s, table)
		switch {
		case want == "" && v.Action != policies.Drop:
			t.Errorf("%s: %s %s (%s), want drop", table, v.Action, v.Code, v.Reason)
		case want != "" && mangled(t, srv, table) && v.Code == policies.CodeEvidenceUnreadable:
			// MySQL: a trigger anywhere on the server (there are some wherever the test
			// runs beside other data) makes the backtick name's bodies unreadable, which
			// comes first; the MERGE table must still be found.
			if !slices.Equal(tb.Evidence.MergeTables, []string{want}) {
				t.Errorf("%s: MERGE tables %q, want %s", table, tb.Evidence.MergeTables, want)
			}
		case want != "" && (v.Code != policies.CodeMergeReference || !slices.Equal(tb.Evidence.MergeTables, []string{want}) || !strings.Contains(v.Reason, want)):
			t.Errorf("%s: %s %s (%s), MERGE tables %q; want skip merge_reference naming %s", table, v.Action, v.Code, v.Reason, tb.Evidence.MergeTables, want)
		}
	}
}

// TestBrokenMergeTableFailsClosed: a MERGE table that cannot be read (one of its tables
// is missing: SHOW CREATE TABLE fails with 1168) may name any MyISAM table, so MyISAM
// candidates are kept as unreadable; InnoDB ones, which no MERGE table can open, are not.
func TestBrokenMergeTableFailsClosed(t *testing.T) {
	db, s := primarySchema(t)
	testdb.Exec(t, testdb.Open(t, testdb.WithDB(testdb.PrimaryDSN(t), s)),
		"CREATE TABLE "+q(s, "a")+" (id INT) ENGINE=MyISAM", "CREATE TABLE "+q(s, "__a_old")+" (id INT) ENGINE=MyISAM",
		"CREATE TABLE "+q(s, "b")+" (id INT) ENGINE=InnoDB", "CREATE TABLE "+q(s, "__b_old")+" (id INT) ENGINE=InnoDB",
		"CREATE TABLE "+q(s, "broken")+" (id INT) ENGINE=MRG_MyISAM UNION=(nosuch, __a_old)")
	in := inspector(t, db, s)
	if _, v := verdictOf(t, in, s, "__a_old"); v.Code != policies.CodeEvidenceUnreadable || !strings.Contains(v.Reason, "broken") {
		t.Errorf("__a_old: %s %s (%s), want evidence_unreadable naming the broken MERGE table", v.Action, v.Code, v.Reason)
	}
	if _, v := verdictOf(t, in, s, "__b_old"); v.Action != policies.Drop {
		t.Errorf("__b_old (InnoDB): %s %s (%s), want drop", v.Action, v.Code, v.Reason)
	}
}

// installEngine loads a plugin for the test and unloads it after, or skips the test
// with the reason. A plugin left loaded would make every later test's inspector list
// the engine's tables, which opens every table definition on MariaDB. c does not write
// the binary log: the replica has not loaded the engine.
func installEngine(t *testing.T, c *sqlx.Conn, engine, soname string) {
	t.Helper()
	var n int
	if err := c.GetContext(context.Background(), &n, "SELECT COUNT(*) FROM information_schema.ENGINES WHERE ENGINE = ? AND SUPPORT IN ('YES', 'DEFAULT')", engine); err != nil {
		t.Fatal(err)
	}
	if n == 1 {
		return
	}
	if _, err := c.ExecContext(context.Background(), "INSTALL SONAME '"+soname+"'"); err != nil {
		t.Skipf("engine %s is not available on this server (INSTALL SONAME '%s': %v)", engine, soname, err)
	}
	t.Cleanup(func() {
		if _, err := c.ExecContext(context.Background(), "UNINSTALL SONAME '"+soname+"'"); err != nil {
			t.Errorf("UNINSTALL SONAME '%s': %v", soname, err)
		}
	})
}

// TestLinkTablesKeepWhatTheyName: FEDERATED(X), CONNECT and SPIDER tables that point
// back at this server, or list local tables, keep the tables they name.
func TestLinkTablesKeepWhatTheyName(t *testing.T) {
	db := testdb.Primary(t)
	mariaDBOnly(t, db, "FEDERATED is disabled on MySQL by default; CONNECT and SPIDER are MariaDB's")
	cfg, err := mysql.ParseDSN(testdb.PrimaryDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	url := func(schema, table string) string {
		return fmt.Sprintf("mysql://%s:%s@%s/%s/%s", cfg.User, cfg.Passwd, cfg.Addr, schema, table)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	cases := []struct {
		engine, soname, link string
		// works, when set, queries the link table: the reference is real.
		works bool
	}{
		{"FEDERATED", "ha_federatedx", "ENGINE=FEDERATED CONNECTION='%[1]s'", true},
		{"CONNECT", "ha_connect", "ENGINE=CONNECT TABLE_TYPE=MYSQL CONNECTION='%[1]s'", true},
		{"CONNECT", "ha_connect", "ENGINE=CONNECT TABLE_TYPE=TBL TABLE_LIST='%[2]s,x'", false},
		// Spider refuses a link to its own server unless spider_same_server_link is on.
		{"SPIDER", "ha_spider", `ENGINE=SPIDER COMMENT='wrapper "mysql", host "` + host + `", port "` + port +
			`", user "` + cfg.User + `", password "` + cfg.Passwd + `", database "%[3]s", table "%[2]s"'`, false},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d_%s", i, strings.ToLower(c.engine)), func(t *testing.T) {
			s := testdb.Schema(t, db)
			local := conn(t, db)
			testdb.Exec(t, local, "SET SESSION sql_log_bin = 0")
			// The connection goes back to the pool: later tests must write the binary log.
			t.Cleanup(func() { _, _ = local.ExecContext(context.Background(), "SET SESSION sql_log_bin = 1") })
			installEngine(t, local, c.engine, c.soname)
			link := q(s, "remote")
			t.Cleanup(func() { _, _ = local.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+link) }) // before the engine goes
			testdb.Exec(t, db,
				"CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)",
				"CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY)", "INSERT INTO "+q(s, "__orders_old")+" VALUES (1)",
				"CREATE TABLE "+q(s, "items")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__items_old")+" (id INT PRIMARY KEY)")
			testdb.Exec(t, local, "CREATE TABLE "+link+" (id INT) "+fmt.Sprintf(c.link, url(s, "__orders_old"), "__orders_old", s))
			if c.works {
				var n int
				if err := db.Get(&n, "SELECT COUNT(*) FROM "+link); err != nil || n != 1 {
					t.Fatalf("the %s table does not read __orders_old through this server: %d, %v", c.engine, n, err)
				}
			}
			in := inspector(t, db, s)
			tb, v := verdictOf(t, in, s, "__orders_old")
			if v.Code != policies.CodeLinkReference || !strings.Contains(v.Reason, dbconn.QualifiedName(s, "remote")) {
				t.Errorf("__orders_old: %s %s (%s), link tables %q; want skip link_reference naming %s", v.Action, v.Code, v.Reason, tb.Evidence.LinkTables, link)
			}
			if c.engine == "CONNECT" && !c.works {
				// A quote and a backslash in the name: SHOW CREATE TABLE doubles both.
				odd := `__it's\x_old`
				testdb.Exec(t, db, "CREATE TABLE "+q(s, `it's\x`)+" (id INT)", "CREATE TABLE "+q(s, odd)+" (id INT)")
				testdb.Exec(t, local, "CREATE TABLE "+q(s, "remote2")+" (id INT) ENGINE=CONNECT TABLE_TYPE=TBL TABLE_LIST='"+
					strings.NewReplacer(`'`, `''`, `\`, `\\`).Replace(odd)+"'")
				t.Cleanup(func() { _, _ = local.ExecContext(context.Background(), "DROP TABLE IF EXISTS "+q(s, "remote2")) })
				in := inspector(t, db, s)
				if tb, v := verdictOf(t, in, s, odd); v.Code != policies.CodeLinkReference {
					t.Errorf("%s: %s %s (%s), link tables %q; want link_reference", odd, v.Action, v.Code, v.Reason, tb.Evidence.LinkTables)
				}
			}
			if _, v := verdictOf(t, in, s, "__items_old"); v.Action != policies.Drop {
				t.Errorf("__items_old (named by nothing): %s %s (%s), want drop", v.Action, v.Code, v.Reason)
			}
		})
	}
}

// TestLeftoverNamedSequenceIsKept: on MariaDB a sequence is a table, and a column default
// may use it (NEXT VALUE FOR, nextval()). A default can name only a sequence, and a
// sequence is never dropped, whatever its name: finding such defaults, which would mean
// reading information_schema.COLUMNS and opening every table, is not needed.
func TestLeftoverNamedSequenceIsKept(t *testing.T) {
	db := testdb.Primary(t)
	mariaDBOnly(t, db, "MySQL has no sequences")
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)", "CREATE SEQUENCE "+q(s, "__orders_old"),
		"CREATE TABLE "+q(s, "invoices")+" (id INT DEFAULT NEXT VALUE FOR "+q(s, "__orders_old")+", n INT DEFAULT nextval("+q(s, "__orders_old")+"))",
		"INSERT INTO "+q(s, "invoices")+" () VALUES ()")
	// A default cannot name a base table.
	if _, err := db.Exec("CREATE TABLE " + q(s, "bad") + " (id INT DEFAULT NEXT VALUE FOR " + q(s, "orders") + ")"); err == nil {
		t.Error("a default naming a base table was accepted")
	}
	tb, v := verdictOf(t, inspector(t, db, s), s, "__orders_old")
	if v.Code != policies.CodeNotATable || tb.Type != "SEQUENCE" {
		t.Errorf("__orders_old (a sequence): %s %s (%s), type %s; want skip not_a_table", v.Action, v.Code, v.Reason, tb.Type)
	}
}

// TestMergeUnionWithQuotingOff: with sql_quote_show_create=0 the server prints plain names
// bare but still quotes one that needs it, so `_a,b_old` does not read as two tables.
func TestMergeUnionWithQuotingOff(t *testing.T) {
	db := testdb.Primary(t)
	testdb.SetGlobal(t, db, "sql_quote_show_create", 0)
	s := testdb.Schema(t, db)
	fresh := testdb.Open(t, testdb.PrimaryDSN(t)) // new sessions take the global default
	testdb.Exec(t, fresh, "CREATE TABLE "+q(s, "a,b")+" (id INT) ENGINE=MyISAM", "CREATE TABLE "+q(s, "_a,b_old")+" (id INT) ENGINE=MyISAM",
		"CREATE TABLE "+q(s, "m")+" (id INT) ENGINE=MRG_MyISAM UNION=("+q(s, "_a,b_old")+")")
	if tb, v := verdictOf(t, inspector(t, fresh, s), s, "_a,b_old"); v.Code != policies.CodeMergeReference {
		t.Errorf("_a,b_old: %s %s (%s), MERGE tables %q; want merge_reference", v.Action, v.Code, v.Reason, tb.Evidence.MergeTables)
	}
}

// mangled tells whether MySQL prints stored bodies naming this table mangled (a name
// holding a backtick): its trigger, routine and event evidence is then unreadable as
// soon as the server holds any such body.
func mangled(t *testing.T, srv discovery.Server, table string) bool {
	t.Helper()
	return srv.Flavor == discovery.FlavorMySQL8 && strings.Contains(table, "`")
}
