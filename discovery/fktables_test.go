package discovery_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
)

// TestForeignKeyTables: the tables a DDL on a leftover locks through foreign keys (MySQL
// 8+): its parents, in its schema or another, its children, and none for a key on
// itself; names with a backtick, a slash, a dot and non-ASCII letters are read back
// exactly (a name with a '/' in MySQL's plain-text view under every way it splits); a
// key to a table that no longer exists (dropped under foreign_key_checks=0)
// still names it; a table whose name differs only in case is another table's business.
func TestForeignKeyTables(t *testing.T) {
	db, s := primarySchema(t)
	other := testdb.Schema(t, db)
	odd := "cu`st/ö.mers"
	conn, err := db.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	testdb.Exec(t, conn,
		"CREATE TABLE "+q(s, "customers")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(other, odd)+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "gone")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "_orders_old")+" (id INT PRIMARY KEY, cid INT, oid INT, gid INT, pid INT,"+
			" CONSTRAINT fk_c FOREIGN KEY (cid) REFERENCES "+q(s, "customers")+" (id),"+
			" CONSTRAINT `fk_o``dd` FOREIGN KEY (oid) REFERENCES "+q(other, odd)+" (id),"+
			" CONSTRAINT fk_g FOREIGN KEY (gid) REFERENCES "+q(s, "gone")+" (id),"+
			" CONSTRAINT fk_self FOREIGN KEY (pid) REFERENCES "+q(s, "_orders_old")+" (id))",
		"CREATE TABLE "+q(s, "order_lines")+" (id INT PRIMARY KEY, o INT, FOREIGN KEY (o) REFERENCES "+q(s, "_orders_old")+" (id))",
		"SET SESSION foreign_key_checks = 0", "DROP TABLE "+q(s, "gone"), "SET SESSION foreign_key_checks = 1",
		// Only on itself.
		"CREATE TABLE "+q(s, "_tree_old")+" (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES "+q(s, "_tree_old")+" (id))",
	)
	// The key across schemas would keep the other schema from being dropped first.
	t.Cleanup(func() { testdb.Exec(t, db, "DROP TABLE "+q(s, "order_lines")+", "+q(s, "_orders_old")) })
	srv, err := discovery.ReadServer(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	in := discovery.NewInspector(db, srv, discovery.Options{}, nil)
	got, err := in.ForeignKeyTables(context.Background(), discovery.Name{Schema: s, Table: "_orders_old"})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range got {
		if f.Key == "" {
			t.Errorf("%s.%s: no key named", f.Schema, f.Table)
		}
		// MySQL's view spells the parent other/cu`st/ö.mers, which splits two ways
		// (a schema's name may hold a '/' there too): both are listed.
		if f.Schema+"/"+f.Table == other+"/"+odd && f.Schema != other {
			continue
		}
		lines = append(lines, f.Role()+" "+f.Schema+"."+f.Table)
	}
	slices.Sort(lines)
	want := []string{
		"foreign-key child " + s + ".order_lines",
		"foreign-key parent " + other + "." + odd,
		"foreign-key parent " + s + ".customers",
		"foreign-key parent " + s + ".gone",
	}
	slices.Sort(want)
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("foreign-key tables of _orders_old:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	for _, table := range []string{"_tree_old", "customers_none", "_ORDERS_OLD"} {
		got, err := in.ForeignKeyTables(context.Background(), discovery.Name{Schema: s, Table: table})
		if err != nil || len(got) != 0 {
			t.Errorf("%s: %v, %v; want none", table, got, err)
		}
	}
}
