package discovery_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/policies"
)

// fsRootEnv names the directory the sandbox server's files are under, as seen from the
// tests (a chroot for the MySQL flavor; unset for the host's MariaDB).
const fsRootEnv = "JANITOR_TEST_PRIMARY_FSROOT"

// serverEncoded returns schema and table in the server's filename encoding, as the
// server itself writes them, not as janitor's encoder does: MariaDB converts to its
// filename character set on request; MySQL has no such SQL, but its table dictionary
// spells names encoded and its tablespace list plain, so the two are paired by space id.
func serverEncoded(t *testing.T, db *sqlx.DB, schema, table string) (string, string) {
	t.Helper()
	var s, n string
	err := db.QueryRowx("SELECT CONVERT(CONVERT(? USING filename) USING binary), CONVERT(CONVERT(? USING filename) USING binary)",
		schema, table).Scan(&s, &n)
	if err == nil {
		return s, n
	}
	var name string
	if err := db.QueryRowx(`SELECT t.NAME FROM information_schema.INNODB_TABLES t JOIN information_schema.INNODB_TABLESPACES s
		ON s.SPACE = t.SPACE WHERE CAST(s.NAME AS BINARY) = CAST(CONCAT(?, '/', ?) AS BINARY)`, schema, table).Scan(&name); err != nil {
		t.Fatalf("the server's name for %s: %v", q(schema, table), err)
	}
	s, n, _ = strings.Cut(name, "/")
	return s, n
}

// serverFile returns the host path of a table's file, named by the server.
func serverFile(t *testing.T, db *sqlx.DB, schema, table, suffix string) string {
	t.Helper()
	var dir string
	if err := db.QueryRowx("SELECT @@datadir").Scan(&dir); err != nil {
		t.Fatal(err)
	}
	s, n := serverEncoded(t, db, schema, table)
	return filepath.Join(os.Getenv(fsRootEnv), dir, s, n+suffix)
}

// allocated is what a file takes on disk, as the server's ALLOCATED_SIZE counts it.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Blocks * 512
}

// expected is the size janitor should report for tablespace files: within [lo, hi],
// from the tablespace (exact) or estimated.
type expected struct {
	lo, hi int64
	exact  bool
}

// String prints the expectation for failure messages.
func (e expected) String() string {
	if e.exact {
		return fmt.Sprintf("%d bytes (tablespace)", e.lo)
	}
	return fmt.Sprintf("%d..%d bytes (estimate)", e.lo, e.hi)
}

// ok tells whether a table's size meets the expectation.
func (e expected) ok(tb *discovery.Table) bool {
	want := discovery.SizeTablespace
	if !e.exact {
		want = discovery.SizeTablespaceEstimate
	}
	return tb.SizeSource == want && tb.Bytes >= e.lo && tb.Bytes <= e.hi
}

// onDisk is what janitor should report for these tablespace files, opened since the
// server started. On MariaDB: what they take on disk (ALLOCATED_SIZE), exactly. On MySQL,
// where janitor reads information_schema.FILES (whole extents: 1 MiB): a file of one
// extent or more by its size; one under an extent makes the whole an estimate, which
// counts it at no more than its size.
func onDisk(t *testing.T, paths ...string) expected {
	t.Helper()
	e := expected{exact: true}
	for _, p := range paths {
		if !testdb.IsMySQL(t) {
			a := allocated(t, p)
			e.lo, e.hi = e.lo+a, e.hi+a
			continue
		}
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatalf("stat %s: %v", p, err)
		}
		if st.Size >= 1<<20 {
			e.lo, e.hi = e.lo+st.Size, e.hi+st.Size
			continue
		}
		e.hi += st.Size
		e.exact = false
	}
	return e
}

// TestIdentifiersEveryClass creates leftovers whose names (and schema) hold every class
// of character an identifier may: Latin-1, Greek, Cyrillic, CJK, punctuation with the
// backtick, @ . - # % _ and space, mixed case, 64 characters. For each it checks the
// size against the tablespace file on disk, a foreign key from a child (keeps it) and
// to a parent (does not), a trigger writing into it and a view reading it.
func TestIdentifiersEveryClass(t *testing.T) {
	db := testdb.Primary(t)
	ctx := context.Background()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	schema := "jt_ïd `.-#%@ Ж中_" + hex.EncodeToString(b)
	testdb.Exec(t, db, "CREATE DATABASE "+dbconn.QuoteIdent(schema))
	t.Cleanup(func() { testdb.Exec(t, db, "DROP DATABASE IF EXISTS "+dbconn.QuoteIdent(schema)) })
	bases := []string{
		"café", "Ωμέγα", "Жук", "中文表", "we`ird", "a@b.c-d#e%f_g", "sp ace", "MiXeD_Case",
		"ÄÖÜäöüß", strings.Repeat("ß", 59), // _<base>_old is 64 characters
	}
	for i, base := range bases {
		old, nw := "_"+base+"_old", "_"+base+"_new"
		testdb.Exec(t, db,
			"CREATE TABLE "+q(schema, old)+" (id INT PRIMARY KEY, pad CHAR(200)) ENGINE=InnoDB",
			// The base is the child: it references the leftover (café_items → _café_old).
			// Constraints are named: MySQL's default name, <table>_ibfk_1, may be too long.
			"CREATE TABLE "+q(schema, base)+fmt.Sprintf(" (id INT PRIMARY KEY, old_id INT, CONSTRAINT fk_old_%d FOREIGN KEY (old_id) REFERENCES ", i)+q(schema, old)+" (id)) ENGINE=InnoDB",
			// This leftover is the child: it references the base, which keeps nothing.
			"CREATE TABLE "+q(schema, nw)+fmt.Sprintf(" (id INT PRIMARY KEY, base_id INT, CONSTRAINT fk_base_%d FOREIGN KEY (base_id) REFERENCES ", i)+q(schema, base)+" (id)) ENGINE=InnoDB",
			fmt.Sprintf("CREATE TRIGGER %s AFTER INSERT ON %s FOR EACH ROW INSERT INTO %s VALUES (NEW.id, 'x')", q(schema, fmt.Sprintf("trg_%d", i)), q(schema, base), q(schema, old)),
			fmt.Sprintf("CREATE VIEW %s AS SELECT id FROM %s", q(schema, fmt.Sprintf("v_%d", i)), q(schema, old)),
		)
		fill(t, db, q(schema, old), 500*(i+1), "REPEAT('x', 200)")
	}
	srv, err := discovery.ReadServer(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	mysql := srv.Flavor == discovery.FlavorMySQL8
	in := inspector(t, db, schema)
	names, err := in.ListNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2*len(bases) {
		t.Fatalf("found %d candidates, want %d: %+v", len(names), 2*len(bases), names)
	}
	tables, err := in.InspectAll(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*discovery.Table{}
	for _, tb := range tables {
		byName[tb.Name] = tb
	}
	for _, base := range bases {
		old, nw := byName["_"+base+"_old"], byName["_"+base+"_new"]
		if old == nil || nw == nil {
			t.Errorf("%q: leftovers not inspected", base)
			continue
		}
		// Size: the tablespace file on disk, found under the server's own file name.
		// The server may still be extending it: poll for agreement with a deadline.
		var fresh *discovery.Table
		deadline := time.Now().Add(20 * time.Second)
		for {
			want := onDisk(t, serverFile(t, db, schema, old.Name, ".ibd"))
			got := old
			if fresh != nil {
				got = fresh
			}
			if want.ok(got) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%q: bytes %d (%s), the file: %s", old.Name, got.Bytes, got.SizeSource, want)
				break
			}
			time.Sleep(200 * time.Millisecond) // polling the server's view against the file, with a deadline
			if fresh, err = in.Inspect(ctx, discovery.Name{Schema: schema, Table: old.Name}); err != nil {
				t.Fatal(err)
			}
		}
		// MySQL mangles a backtick-holding name in stored trigger and routine bodies: there
		// the search is declared unreadable, which keeps the table.
		mangled := mysql && strings.Contains(base, "`")
		if len(old.Evidence.Unreadable) > 0 && !mangled || len(nw.Evidence.Unreadable) > 0 && !mangled {
			t.Errorf("%q: unreadable evidence: %q %q", base, old.Evidence.Unreadable, nw.Evidence.Unreadable)
		}
		if mangled && !strings.Contains(strings.Join(old.Evidence.Unreadable, " "), "triggers: MySQL prints") {
			t.Errorf("%q: on MySQL the trigger search should be unreadable, evidence %q", old.Name, old.Evidence.Unreadable)
		}
		// MariaDB's foreign-key view cuts names to 193 characters: the 64-character
		// name's encoded form is longer, so it is looked up cut, and _<base>_new, which
		// shares the cut start, is kept too (the safe side).
		if fk := old.Evidence.ForeignKeys; len(fk) != 1 || !strings.Contains(fk[0], schema+"."+base) && !strings.Contains(fk[0], "cuts names") {
			t.Errorf("%q: foreign keys referencing it = %q, want one from %s.%s", old.Name, fk, schema, base)
		}
		if fk := nw.Evidence.ForeignKeys; len(fk) != 0 && !strings.Contains(fk[0], "cuts names") {
			t.Errorf("%q: it references its parent only, yet foreign keys = %q", nw.Name, fk)
		}
		if len(old.Evidence.WritingTriggers) != 1 && !mangled {
			t.Errorf("%q: writing triggers = %q, want the one on %q", old.Name, old.Evidence.WritingTriggers, base)
		}
		if len(old.Evidence.Views) != 1 {
			t.Errorf("%q: views = %q, want one", old.Name, old.Evidence.Views)
		}
		if v := policies.Evaluate(policies.Config{}, policies.Context{}, old); v.Action == policies.Drop {
			t.Errorf("%q: verdict %s (%s), want it kept", old.Name, v.Code, v.Reason)
		}
	}
}

// fill inserts rows id 1..n with the given expression for the other columns, in
// batches (no sequence table exists on both flavors).
func fill(t *testing.T, db *sqlx.DB, table string, n int, rest string) {
	t.Helper()
	for start := 1; start <= n; start += 500 {
		var vals []string
		for id := start; id < start+500 && id <= n; id++ {
			vals = append(vals, fmt.Sprintf("(%d, %s)", id, strings.ReplaceAll(rest, "$id", fmt.Sprint(id))))
		}
		testdb.Exec(t, db, "INSERT INTO "+table+" VALUES "+strings.Join(vals, ","))
	}
}
