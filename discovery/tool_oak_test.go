package discovery_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/policies"
)

// oakCopy is what oak-online-alter-table (openarkkit 041f03b9, oak-online-alter-table.py
// create_ghost_table, create_custom_triggers and the first copy chunk) runs on
// db.<table>(id, customer_id, total): the statements as the tool builds them, names
// unquoted. The tool is Python 2 and cannot run here; its leftovers are built as it
// builds them.
func oakCopy(db, table string) []string {
	t, ghost := db+"."+table, db+".__oak_"+table
	cols := "`id`, `customer_id`, `total`"
	return []string{
		"CREATE TABLE " + ghost + " LIKE " + t,
		"ALTER TABLE " + ghost + " ADD COLUMN note VARCHAR(64) DEFAULT ''",
		"CREATE TRIGGER " + db + "." + table + "_AD_oak AFTER DELETE ON " + t + "\nFOR EACH ROW\n    DELETE FROM " + ghost +
			" WHERE (id) = (OLD.id)",
		"CREATE TRIGGER " + db + "." + table + "_AU_oak AFTER UPDATE ON " + t + "\nFOR EACH ROW\nBEGIN\n    DELETE FROM " + ghost +
			" WHERE (id) = (OLD.id);\n    REPLACE INTO " + ghost + " (" + cols + ") VALUES (NEW.`id`, NEW.`customer_id`, NEW.`total`);\nEND",
		"CREATE TRIGGER " + db + "." + table + "_AI_oak AFTER INSERT ON " + t + "\nFOR EACH ROW\n    REPLACE INTO " + ghost +
			" (" + cols + ") VALUES (NEW.`id`, NEW.`customer_id`, NEW.`total`)",
		"INSERT IGNORE INTO " + ghost + " (" + cols + ") (SELECT " + cols + " FROM " + t +
			" FORCE INDEX (PRIMARY) WHERE (id >= 1) AND (id <= 1000) LOCK IN SHARE MODE)",
	}
}

func oakBase(db, table string) []string {
	t := db + "." + table
	return []string{
		"CREATE TABLE " + t + " (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(10,2) NOT NULL DEFAULT 0) ENGINE=InnoDB",
		"INSERT INTO " + t + " (customer_id, total) VALUES (1, 10), (2, 20), (3, 30)",
	}
}

// TestOakLeftovers: an oak run killed mid-copy leaves __oak_<t> fed by its triggers; one
// killed between its rename and its drop leaves __arc_<t> carrying them; one killed
// before its triggers leaves a bare __oak_<t>. The first two are kept, the last dropped.
// An __arc_<t> without oak's triggers is not oak's (look_alike).
// A base ending in _new reads as oak's once oak's base is the one that exists, and oak's
// triggers decide when both bases exist.
func TestOakLeftovers(t *testing.T) {
	db, s := primarySchema(t)
	var stmts []string
	stmts = append(stmts, oakBase(s, "orders")...)
	stmts = append(stmts, oakCopy(s, "orders")...)
	stmts = append(stmts, oakBase(s, "items")...)
	stmts = append(stmts, oakCopy(s, "items")...)
	// oak's rename_tables(), killed before drop_table(archive).
	stmts = append(stmts, "RENAME TABLE "+s+".items TO "+s+".__arc_items, "+s+".__oak_items TO "+s+".items")
	stmts = append(stmts, oakBase(s, "users")...)
	stmts = append(stmts, "CREATE TABLE "+s+".__oak_users LIKE "+s+".users")
	// carts_new migrated by oak; oak_carts exists too, so both readings have a base.
	stmts = append(stmts, oakBase(s, "carts_new")...)
	stmts = append(stmts, oakCopy(s, "carts_new")...)
	stmts = append(stmts, "CREATE TABLE "+s+".oak_carts (id INT PRIMARY KEY)")
	// An archive kept by hand under oak's archive name, with no oak trigger: oak never
	// leaves one like it.
	stmts = append(stmts, oakBase(s, "invoices")...)
	stmts = append(stmts, "CREATE TABLE "+s+".__arc_invoices LIKE "+s+".invoices")
	testdb.Exec(t, db, stmts...)

	in := inspector(t, db, s)
	names := listNames(t, in)
	listed := map[string]bool{}
	for _, n := range names {
		listed[n.Table] = true
	}
	for _, c := range []struct {
		table string
		role  discovery.Role
		base  string
		code  policies.Code
	}{
		{"__oak_orders", discovery.RoleNew, "orders", policies.CodeTriggerWrites},
		{"__arc_items", discovery.RoleOld, "items", policies.CodeTriggerWrites},
		{"__oak_users", discovery.RoleNew, "users", policies.CodeDead},
		{"__oak_carts_new", discovery.RoleNew, "carts_new", policies.CodeTriggerWrites},
		{"__arc_invoices", discovery.RoleOld, "invoices", policies.CodeLookAlike},
	} {
		if !listed[c.table] {
			t.Errorf("%s: not listed", c.table)
			continue
		}
		tb, v := verdictOf(t, in, s, c.table)
		if tb.Tool != discovery.ToolOak || tb.Role != c.role || tb.Base != c.base {
			t.Errorf("%s: read as %s/%s base %q, want oak/%s base %q", c.table, tb.Tool, tb.Role, tb.Base, c.role, c.base)
		}
		if v.Code != c.code {
			t.Errorf("%s: %s (%s), want %s", c.table, v.Code, v.Reason, c.code)
		}
		if c.role == discovery.RoleNew && c.code == policies.CodeTriggerWrites {
			want := []string{c.base + "_AD_oak", c.base + "_AI_oak", c.base + "_AU_oak"}
			got := slices.Sorted(slices.Values(tb.Evidence.ToolTriggers))
			if !slices.Equal(got, want) {
				t.Errorf("%s: tool triggers %q, want %q", c.table, got, want)
			}
		}
	}
}

// TestOakTraceDoesNotHideGhostHeartbeat: __arc_x_gho is gh-ost's copy of _arc_x and oak's
// archive of x_gho. gh-ost runs on _arc_x (fresh heartbeat in __arc_x_ghc); x_gho
// carries a trigger named like oak's. Oak's trace must not make the table oak's alone,
// which leaves gh-ost's heartbeat unread and drops gh-ost's live copy; before oak was a
// tool, the name was gh-ost's and the heartbeat kept it.
func TestOakTraceDoesNotHideGhostHeartbeat(t *testing.T) {
	db, s := primarySchema(t)
	testdb.Exec(t, db,
		"CREATE TABLE "+q(s, "_arc_x")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__arc_x_gho")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "__arc_x_ghc")+` (id bigint auto_increment, last_update timestamp(6) not null default current_timestamp(6) on update current_timestamp(6),
			hint varchar(64) charset ascii not null, value varchar(4096) charset ascii not null, primary key(id), unique key hint_uidx(hint)) auto_increment=256`,
		"INSERT INTO "+q(s, "__arc_x_ghc")+" (id, hint, value) VALUES (1, 'heartbeat', 'x')",
		"CREATE TABLE "+q(s, "x_gho")+" (id INT PRIMARY KEY)",
		"CREATE TRIGGER "+q(s, "x_gho_AI_oak")+" AFTER INSERT ON "+q(s, "x_gho")+" FOR EACH ROW SET @oak = 1")
	cfg := policies.Config{HeartbeatStaleAfter: 10 * time.Minute}
	for _, name := range []string{"__arc_x_gho", "__arc_x_ghc"} {
		tb, err := inspector(t, db, s).Inspect(context.Background(), discovery.Name{Schema: s, Table: name})
		if err != nil {
			t.Fatal(err)
		}
		v := policies.Evaluate(cfg, policies.Context{}, tb)
		if v.Action != policies.Skip {
			t.Errorf("%s: read as %s/%s of %q: %s %s (%s); want skip (gh-ost is live)", name, tb.Tool, tb.Role, tb.Base, v.Action, v.Code, v.Reason)
		}
		if want := "name fits gh-ost and oak, and traces of each are on the server; look at both"; name == "__arc_x_gho" && !strings.HasPrefix(v.Reason, want) {
			t.Errorf("%s: %s (%s); want a reason starting %q", name, v.Code, v.Reason, want)
		}
	}
}

// TestOakBaseDoesNotHideCutGhostName: gh-ost cuts a long base to fit its names, so its
// copy of a 62-character _oak_… table reads back with a base that does not exist, while
// oak's reading of the same name (base <54 characters>_gho) may. The base rule must not
// set aside the gh-ost reading whose changelog beats on: before oak was a tool, the name
// was gh-ost's alone and kept (base_missing, live_heartbeat).
func TestOakBaseDoesNotHideCutGhostName(t *testing.T) {
	db, s := primarySchema(t)
	long := strings.Repeat("l", 54)
	base := "_oak_" + long + "abc" // 62 characters: gh-ost cuts it to _oak_<long>
	ghost, changelog := "__oak_"+long+"_gho", "__oak_"+long+"_ghc"
	if len(ghost) != discovery.MaxNameLength || len(base) != 62 {
		t.Fatalf("lengths %d %d", len(ghost), len(base))
	}
	testdb.Exec(t, db,
		"CREATE TABLE "+q(s, base)+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, ghost)+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, changelog)+` (id bigint auto_increment, last_update timestamp(6) not null default current_timestamp(6) on update current_timestamp(6),
			hint varchar(64) charset ascii not null, value varchar(4096) charset ascii not null, primary key(id), unique key hint_uidx(hint)) auto_increment=256`,
		"INSERT INTO "+q(s, changelog)+" (id, hint, value) VALUES (1, 'heartbeat', 'x')",
		"CREATE TABLE "+q(s, long+"_gho")+" (id INT PRIMARY KEY)")
	tb, err := inspector(t, db, s).Inspect(context.Background(), discovery.Name{Schema: s, Table: ghost})
	if err != nil {
		t.Fatal(err)
	}
	if v := policies.Evaluate(policies.Config{HeartbeatStaleAfter: 10 * time.Minute}, policies.Context{}, tb); v.Action != policies.Skip {
		t.Errorf("%s: read as %s/%s of %q: %s %s (%s); want skip (gh-ost is live)", ghost, tb.Tool, tb.Role, tb.Base, v.Action, v.Code, v.Reason)
	}
}
