package discovery_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
)

// TestFulltextAuxiliaryTablespaces: a leftover with a FULLTEXT index frees, with its own
// tablespace, those of the index's auxiliary tables (FTS_<table id>_…). Its bytes are the
// sum of all those files on disk (on MySQL: within an extent for files under one), through the inventory's prefetch and through the
// per-table lookup of the pre-DROP re-check.
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
