package discovery

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
)

// errUnknownCharset is ER_UNKNOWN_CHARACTER_SET: MySQL has no filename charset in SQL.
const errUnknownCharset = 1115

// deepRecursion returns a session of the primary whose recursive CTEs may run to 100,000
// rows, and a context that ends within timeout; both end with the test.
func deepRecursion(t *testing.T, timeout time.Duration) (context.Context, *sqlx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	c, err := testdb.Primary(t).Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// Both bound recursive CTEs at 1000 rows by default, each with its own variable.
	_, _ = c.ExecContext(ctx, "SET SESSION cte_max_recursion_depth = 100000")
	_, _ = c.ExecContext(ctx, "SET SESSION max_recursive_iterations = 100000")
	return ctx, c
}

// TestFilenameEncodingMatchesServer compares EncodeFilename and DecodeFilename with the
// server's own filename character set for every character of the Basic Multilingual
// Plane (surrogates aside): what CONVERT(... USING filename) writes, janitor writes, and
// reads back. Run on every flavor the sandbox offers.
func TestFilenameEncodingMatchesServer(t *testing.T) {
	ctx, c := deepRecursion(t, 2*time.Minute)
	rows, err := c.QueryxContext(ctx, `WITH RECURSIVE n(cp) AS (SELECT 1 UNION ALL SELECT cp + 1 FROM n WHERE cp < 65535)
		SELECT cp, CONVERT(CONVERT(CHAR(cp USING ucs2) USING filename) USING binary) FROM n WHERE cp NOT BETWEEN 55296 AND 57343`)
	if dbconn.IsError(err, errUnknownCharset) {
		t.Skip("this server has no filename character set in SQL (MySQL): TestFilenameEncodingByTables compares names with its dictionary")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n, bad := 0, 0
	for rows.Next() {
		var cp int
		var server []byte
		if err := rows.Scan(&cp, &server); err != nil {
			t.Fatal(err)
		}
		n++
		in := string(rune(cp))
		got, ok := EncodeFilename(in)
		if cp == 0 || !ok || got != string(server) {
			if bad++; bad <= 20 {
				t.Errorf("U+%04X: janitor encodes %q (ok %v), the server %q", cp, got, ok, server)
			}
			continue
		}
		if back, ok := DecodeFilename(string(server)); !ok || back != in {
			if bad++; bad <= 20 {
				t.Errorf("U+%04X: janitor decodes the server's %q as %q (ok %v)", cp, server, back, ok)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 65535-2048 {
		t.Fatalf("compared %d characters, want %d", n, 65535-2048)
	}
	if bad > 0 {
		t.Fatalf("%d of %d characters differ from the server", bad, n)
	}
	t.Logf("all %d characters encode and decode as the server does", n)
}

// TestFilenameDecodingMatchesServer reads every two-character code back as the server
// does: @ and two characters it knows are one character, any other is not a letter.
func TestFilenameDecodingMatchesServer(t *testing.T) {
	ctx, c := deepRecursion(t, time.Minute)
	rows, err := c.QueryxContext(ctx, `WITH RECURSIVE n(code) AS (SELECT 0 UNION ALL SELECT code + 1 FROM n WHERE code < 5993)
		SELECT code, CONVERT(CONVERT(CONVERT(CONCAT('@', CHAR(48 + code DIV 80), CHAR(48 + code MOD 80)) USING binary)
			USING filename) USING utf8mb4) FROM n`)
	if dbconn.IsError(err, errUnknownCharset) {
		t.Skip("this server has no filename character set in SQL (MySQL)")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var code int
		var server string
		if err := rows.Scan(&code, &server); err != nil {
			t.Fatal(err)
		}
		enc := fmt.Sprintf("@%c%c", 48+code/80, 48+code%80)
		got, ok := DecodeFilename(enc)
		// The server writes ? for a sequence it cannot read, and NUL for @@@.
		known := len([]rune(server)) == 1 && server != "?" && server != "\x00"
		if known != ok || (ok && got != server) {
			t.Errorf("%q: janitor reads %q (ok %v), the server %q", enc, got, ok, server)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestFilenameEncodingByTables creates tables named with every character the encoding
// writes as two characters, the ASCII punctuation and a sample of the other characters,
// and compares janitor's encoding with the server's own: its table dictionary (encoded
// on every flavor) and the .ibd files. It is the proof on servers without a filename
// character set in SQL (MySQL).
func TestFilenameEncodingByTables(t *testing.T) {
	db := testdb.Primary(t)
	ctx := context.Background()
	s := testdb.Schema(t, db)
	var chars []rune
	for r := range filenameEncode {
		chars = append(chars, r)
	}
	slices.Sort(chars)
	var others []rune
	for r := rune(0x20); r < 0x7F; r++ {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			others = append(others, r)
		}
	}
	for r := rune(0x80); r <= 0xFFFF; r += 101 {
		if _, ok := filenameEncode[r]; !ok && (r < 0xD800 || r > 0xDFFF) {
			others = append(others, r)
		}
	}
	var names []string
	for _, set := range []struct {
		runes []rune
		per   int
	}{{chars, 56}, {others, 40}} { // file names stay within 255 bytes
		for i := 0; i < len(set.runes); i += set.per {
			names = append(names, fmt.Sprintf("e%d_%s_", len(names), string(set.runes[i:min(i+set.per, len(set.runes))])))
		}
	}
	srv, err := ReadServer(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	d := srv.Flavor.dialect()
	encSchema, ok := EncodeFilename(s)
	if !ok {
		t.Fatal(s)
	}
	for _, n := range names {
		testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, n)+" (id INT PRIMARY KEY) ENGINE=InnoDB")
	}
	dict := map[string]bool{}
	rows, err := db.QueryxContext(ctx, "SELECT NAME FROM "+d.tables+" WHERE NAME LIKE ?", escapeLike(encSchema+"/")+"%")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		dict[name] = true
	}
	rows.Close()
	var datadir string
	if err := db.Get(&datadir, "SELECT @@datadir"); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		enc, ok := EncodeFilename(n)
		if !ok || !dict[encSchema+"/"+enc] {
			t.Errorf("%q: janitor encodes %q, not in the server's dictionary (%d names there)", n, enc, len(dict))
			continue
		}
		if _, err := os.Stat(filepath.Join(os.Getenv("JANITOR_TEST_PRIMARY_FSROOT"), datadir, encSchema, enc+".ibd")); err != nil {
			t.Errorf("%q: %v", n, err)
		}
		if back, ok := DecodeFilename(enc); !ok || back != n {
			t.Errorf("%q: decodes back as %q (%v)", n, back, ok)
		}
	}
	t.Logf("%d tables: %d two-character letters and %d other characters agree with the server", len(names), len(chars), len(others))
}
