package discovery_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
)

// TestFulltextAuxiliaryTablespaces: a leftover with a FULLTEXT index frees, with its own
// tablespace, those of the index's auxiliary tables (FTS_<table id>_…). On MariaDB its
// bytes are the sum of all those files on disk, through the inventory's prefetch and
// through the per-table lookup of the pre-DROP re-check. On MySQL the auxiliary tables
// cannot be tied to their table without opening every definition
// (TestFulltextOpensNoDefinitionOnMySQL): the size is its own tablespace's, marked as an
// estimate, at most all the files.
func TestFulltextAuxiliaryTablespaces(t *testing.T) {
	db := testdb.Primary(t)
	ctx := context.Background()
	s := testdb.Schema(t, db)
	const name = "_fts café_old"
	testdb.Exec(t, db, "CREATE TABLE "+q(s, name)+" (id INT PRIMARY KEY, body TEXT, FULLTEXT KEY ft (body)) ENGINE=InnoDB")
	fill(t, db, q(s, name), 5000, "CONCAT('word', $id, ' lorem ipsum dolor sit amet ', REPEAT(CONCAT('tok', $id % 97, ' '), 20))")
	// A second table with a FULLTEXT index, not a candidate: its files are not counted.
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "docs")+" (id INT PRIMARY KEY, body TEXT, FULLTEXT KEY ft (body)) ENGINE=InnoDB")
	fill(t, db, q(s, "docs"), 100, "'other words'")

	ibd := serverFile(t, db, s, name, ".ibd")
	var id uint64
	var tname string
	es, en := serverEncoded(t, db, s, name)
	tname = es + "/" + en
	srv, err := discovery.ReadServer(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	view := "information_schema.INNODB_SYS_TABLES"
	if srv.Flavor == discovery.FlavorMySQL8 {
		view = "information_schema.INNODB_TABLES"
	}
	if err := db.QueryRowx("SELECT TABLE_ID FROM "+view+" WHERE NAME = ?", tname).Scan(&id); err != nil {
		t.Fatalf("table id of %s: %v", tname, err)
	}
	files := func() (expected, int) {
		all := []string{ibd}
		for _, prefix := range []string{"FTS_", "fts_"} {
			found, _ := filepath.Glob(filepath.Join(filepath.Dir(ibd), fmt.Sprintf("%s%016x_*.ibd", prefix, id)))
			all = append(all, found...)
		}
		if testdb.IsMySQL(t) {
			own := onDisk(t, ibd)
			return expected{lo: own.lo, hi: onDisk(t, all...).hi}, len(all) - 1
		}
		return onDisk(t, all...), len(all) - 1
	}
	if _, n := files(); n < 7 {
		entries, _ := os.ReadDir(filepath.Dir(ibd))
		var all []string
		for _, e := range entries {
			all = append(all, e.Name())
		}
		t.Fatalf("found %d FTS files for table id %016x; the directory holds %s", n, id, strings.Join(all, " "))
	}
	in := inspector(t, db, s)
	// The server extends FULLTEXT files in the background: poll for agreement.
	deadline := time.Now().Add(30 * time.Second)
	for {
		want, n := files()
		tables, err := in.InspectAll(ctx, []discovery.Name{{Schema: s, Table: name}})
		if err != nil {
			t.Fatal(err)
		}
		one, err := in.Inspect(ctx, discovery.Name{Schema: s, Table: name})
		if err != nil {
			t.Fatal(err)
		}
		// Through ListNames too: on MySQL it reads the whole tablespace list once and
		// the inventory takes sizes from it, not from filtered reads.
		listing := inspector(t, db, s)
		names, err := listing.ListNames(ctx)
		if err != nil {
			t.Fatal(err)
		}
		listed, err := listing.InspectAll(ctx, names)
		if err != nil {
			t.Fatal(err)
		}
		if len(listed) != 1 {
			t.Fatalf("ListNames then InspectAll found %d tables, want %s alone", len(listed), name)
		}
		if len(tables) == 1 && want.ok(tables[0]) && want.ok(one) && want.ok(listed[0]) {
			t.Logf("%d bytes (%s) for %s in the .ibd and %d FULLTEXT files", one.Bytes, one.SizeSource, want, n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bytes: inventory %d (%s), listed inventory %d (%s), re-check %d (%s); on disk %s in the .ibd and %d FTS files (.ibd alone %d)",
				tables[0].Bytes, tables[0].SizeSource, listed[0].Bytes, listed[0].SizeSource, one.Bytes, one.SizeSource, want, n, allocated(t, ibd))
		}
		time.Sleep(500 * time.Millisecond) // polling the server's view against the files, with a deadline
	}
}

// TestFulltextOpensNoDefinitionOnMySQL: on MySQL, sizing a leftover that has a FULLTEXT
// index must not read INNODB_TABLES (nor INNODB_TABLESPACES) to find the owner of the
// index's auxiliary tablespaces: those views fill every row first, opening every table's
// definition or file on the server (at 10,100 tables: 10,115 definitions, 2.8 s, +38 MB
// of performance_schema memory; the incident's cost), and the pre-DROP re-check would
// pay it per table. A small test server keeps every definition cached, so the opens do
// not show here: the test reads the statements janitor sends.
func TestFulltextOpensNoDefinitionOnMySQL(t *testing.T) {
	testdb.SkipUnless(t, "information_schema.INNODB_TABLES opens every definition on MySQL only", "mysql")
	db := testdb.Primary(t)
	ctx := context.Background()
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "t")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "__t_old")+" (id INT PRIMARY KEY, body TEXT, FULLTEXT KEY ft (body))",
		"INSERT INTO "+q(s, "__t_old")+" VALUES (1, 'some words')")
	rec := &recorder{Querier: db}
	in := inspector(t, rec, s)
	names, err := in.ListNames(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := in.InspectAll(ctx, names)
	if err != nil || len(tables) != 1 {
		t.Fatalf("%d tables, %v", len(tables), err)
	}
	one, err := in.Inspect(ctx, names[0])
	if err != nil {
		t.Fatal(err)
	}
	whole := regexp.MustCompile(`(?i)\bINNODB_(TABLES|TABLESPACES)\b`)
	for _, stmt := range rec.seen {
		if whole.MatchString(stmt) {
			t.Errorf("janitor read a view MySQL fills whole: %s", stmt)
		}
	}
	for _, tb := range []*discovery.Table{tables[0], one} {
		if tb.SizeSource != discovery.SizeTablespaceEstimate || tb.Bytes <= 0 {
			t.Errorf("%d bytes from %s, want its own tablespace as an estimate: its FULLTEXT tablespaces are not counted", tb.Bytes, tb.SizeSource)
		}
	}
}

// recorder is a Querier that keeps the text of every statement sent through it.
type recorder struct {
	discovery.Querier
	seen []string
}

func (r *recorder) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r.seen = append(r.seen, query)
	return r.Querier.QueryContext(ctx, query, args...)
}

func (r *recorder) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	r.seen = append(r.seen, query)
	return r.Querier.QueryxContext(ctx, query, args...)
}

func (r *recorder) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	r.seen = append(r.seen, query)
	return r.Querier.QueryRowxContext(ctx, query, args...)
}
