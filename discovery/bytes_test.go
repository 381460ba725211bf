package discovery_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
)

// dataFile is the host path of a file in the primary's data directory.
func dataFile(t *testing.T, db *sqlx.DB, name string) string {
	t.Helper()
	var dir string
	if err := db.Get(&dir, "SELECT @@datadir"); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(os.Getenv(fsRootEnv), dir, name)
}

// sizes returns a file's size and what it takes on disk.
func sizes(t *testing.T, path string) (size, alloc int64) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Size, st.Blocks * 512
}

// TestBytesADropFrees: issue 18 §4. janitor's bytes are what the DROP gives back to the
// file system. Measured on 9.7.4 before the fix: a table created with
// innodb_file_per_table=OFF (in ibdata1) and one in a general tablespace were reported
// with the statistics' estimate, and a COMPRESSION='zlib' table as its file's size with
// no word on its punched holes. A table in a shared tablespace frees 0 and says why (the
// test drops it and finds the shared file's blocks unchanged); a compressed one is sized
// by what its file takes on disk where the server says so (MariaDB's PAGE_COMPRESSED),
// and marked as an upper bound where it does not (MySQL).
func TestBytesADropFrees(t *testing.T) {
	db := testdb.Primary(t)
	mysql := testdb.IsMySQL(t)
	var ts string
	if mysql {
		ts = testdb.GeneralTablespace(t, db) // before the schema: dropped after its tables
	}
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)")
	row := "(id INT PRIMARY KEY, v VARCHAR(200))"
	testdb.InSystemTablespace(t, db, "CREATE TABLE "+q(s, "__orders_old")+" "+row)
	fill(t, db, q(s, "__orders_old"), 20000, "REPEAT('x', 200)")
	compressed := "PAGE_COMPRESSED=1"
	if mysql {
		compressed = "COMPRESSION='zlib'"
		testdb.Exec(t, db, "CREATE TABLE "+q(s, "__general_old")+" "+row+" TABLESPACE `"+ts+"`")
		fill(t, db, q(s, "__general_old"), 20000, "REPEAT('x', 200)")
	}
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "__zipped_old")+" "+row+" "+compressed)
	fill(t, db, q(s, "__zipped_old"), 20000, "REPEAT('x', 200)")
	// Written out, so that its blocks on disk stop changing (MariaDB extends a
	// page-compressed file sparse and fills it as pages are flushed).
	testdb.Exec(t, conn(t, db), "FLUSH TABLES "+q(s, "__zipped_old")+" FOR EXPORT", "UNLOCK TABLES")

	in := inspector(t, db, s)
	// Both paths: the inventory (sizes read ahead) and the pre-DROP re-check (by name).
	for _, path := range []string{"inventory", "re-check"} {
		got := map[string]*discovery.Table{}
		if path == "inventory" {
			tables := inspectAll(t, in)
			for _, tb := range tables {
				got[tb.Name] = tb
			}
		} else {
			for _, name := range []string{"__orders_old", "__general_old", "__zipped_old"} {
				if name == "__general_old" && !mysql {
					continue
				}
				tb, err := in.Inspect(t.Context(), discovery.Name{Schema: s, Table: name})
				if err != nil {
					t.Fatal(err)
				}
				got[name] = tb
			}
		}
		shared := discovery.SizeSystemTablespace
		if mysql {
			shared = discovery.SizeSharedTablespace
		}
		for _, name := range []string{"__orders_old", "__general_old"} {
			if !mysql && name == "__general_old" {
				continue
			}
			if tb := got[name]; tb == nil {
				t.Errorf("%s: %s not inspected", path, name)
			} else if tb.Bytes != 0 || tb.SizeSource != shared {
				t.Errorf("%s: %s: %d bytes (%s); want 0 (%s)", path, name, tb.Bytes, tb.SizeSource, shared)
			}
		}
		file := serverFile(t, db, s, "__zipped_old", ".ibd")
		size, alloc := sizes(t, file)
		tb := got["__zipped_old"]
		switch {
		case tb == nil:
			t.Errorf("%s: __zipped_old not inspected", path)
		case !mysql && (tb.Bytes != alloc || tb.SizeSource != discovery.SizeTablespace):
			t.Errorf("%s: __zipped_old: %d bytes (%s); the file takes %d on disk (size %d)", path, tb.Bytes, tb.SizeSource, alloc, size)
		case mysql && (tb.Bytes != size || tb.SizeSource != discovery.SizeTablespaceCompressed):
			t.Errorf("%s: __zipped_old: %d bytes (%s); want the file's size %d marked %s (it takes %d on disk)", path, tb.Bytes, tb.SizeSource,
				size, discovery.SizeTablespaceCompressed, alloc)
		}
		if alloc >= size {
			t.Logf("%s: the compressed table's file has no holes (%d of %d bytes on disk): the file system may not punch them", path, alloc, size)
		}
	}

	// The shared files keep their blocks when their table is dropped.
	shared := []string{dataFile(t, db, "ibdata1")}
	drop := []string{"__orders_old"}
	if mysql {
		shared, drop = append(shared, dataFile(t, db, ts+".ibd")), append(drop, "__general_old")
	}
	var before []int64
	for _, f := range shared {
		_, a := sizes(t, f)
		before = append(before, a)
	}
	for _, name := range drop {
		testdb.Exec(t, db, "DROP TABLE "+q(s, name))
	}
	for i, f := range shared {
		if _, a := sizes(t, f); a < before[i] {
			t.Errorf("dropping a table in %s freed %d bytes of it; janitor said 0", f, before[i]-a)
		}
	}
}

// TestDataDirectoryBytesOnMariaDB: MariaDB's counterpart the issue found right, kept
// right: a leftover whose file lives elsewhere (DATA DIRECTORY) is sized by what that
// file takes on disk. (MySQL accepts DATA DIRECTORY only under innodb_directories, which
// the sandbox does not set.)
func TestDataDirectoryBytesOnMariaDB(t *testing.T) {
	testdb.Skip(t, "MySQL takes DATA DIRECTORY only under innodb_directories", "mysql")
	db := testdb.Primary(t)
	var datadir string
	if err := db.Get(&datadir, "SELECT @@datadir"); err != nil {
		t.Fatal(err)
	}
	host := filepath.Join(os.Getenv(fsRootEnv), datadir)
	var st syscall.Stat_t
	if err := syscall.Stat(host, &st); err != nil {
		t.Fatal(err)
	}
	// Beside the data directory, owned by the server's user.
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	dir := filepath.Join(filepath.Dir(filepath.Clean(datadir)), "jt-remote-"+hex.EncodeToString(b))
	hostDir := filepath.Join(os.Getenv(fsRootEnv), dir)
	if err := os.Mkdir(hostDir, 0o750); err != nil {
		t.Skipf("cannot make a directory for the server (%v)", err)
	}
	t.Cleanup(func() { os.RemoveAll(hostDir) })
	if err := os.Chown(hostDir, int(st.Uid), int(st.Gid)); err != nil {
		t.Skipf("cannot give the server a directory (%v)", err)
	}
	s := testdb.Schema(t, db)
	// Not replicated: the sandbox's replica shares this host, and would create the same
	// file, which exists (error 184), and stop.
	c := conn(t, db)
	testdb.Exec(t, c, "SET SESSION sql_log_bin = 0", "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY, v VARCHAR(200)) DATA DIRECTORY = '"+dir+"'",
		"INSERT INTO "+q(s, "__orders_old")+" SELECT seq, REPEAT('x', 200) FROM "+q(s, "seq_1_to_20000"),
		"FLUSH TABLES "+q(s, "__orders_old")+" FOR EXPORT", "UNLOCK TABLES")
	enc, n := serverEncoded(t, db, s, "__orders_old")
	_, alloc := sizes(t, filepath.Join(hostDir, enc, n+".ibd"))
	tb, err := inspector(t, db, s).Inspect(t.Context(), discovery.Name{Schema: s, Table: "__orders_old"})
	if err != nil {
		t.Fatal(err)
	}
	if tb.Bytes != alloc || tb.SizeSource != discovery.SizeTablespace {
		t.Errorf("%d bytes (%s); the file in %s takes %d", tb.Bytes, tb.SizeSource, dir, alloc)
	}
}
