package discovery

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/janitorhq/janitor/internal/testdb"
)

// TestFilenameEncodingMatchesServer compares EncodeFilename and DecodeFilename with the
// server's own filename character set for every character of the Basic Multilingual
// Plane (surrogates aside): what CONVERT(... USING filename) writes, janitor writes, and
// reads back. Run on every flavor the sandbox offers.
func TestFilenameEncodingMatchesServer(t *testing.T) {
	db := testdb.Primary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Both bound recursive CTEs at 1000 rows by default, each with its own variable.
	_, _ = c.ExecContext(ctx, "SET SESSION cte_max_recursion_depth = 100000")
	_, _ = c.ExecContext(ctx, "SET SESSION max_recursive_iterations = 100000")
	rows, err := c.QueryxContext(ctx, `WITH RECURSIVE n(cp) AS (SELECT 1 UNION ALL SELECT cp + 1 FROM n WHERE cp < 65535)
		SELECT cp, CONVERT(CONVERT(CHAR(cp USING ucs2) USING filename) USING binary) FROM n WHERE cp NOT BETWEEN 55296 AND 57343`)
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
	db := testdb.Primary(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = c.ExecContext(ctx, "SET SESSION cte_max_recursion_depth = 100000")
	_, _ = c.ExecContext(ctx, "SET SESSION max_recursive_iterations = 100000")
	rows, err := c.QueryxContext(ctx, `WITH RECURSIVE n(code) AS (SELECT 0 UNION ALL SELECT code + 1 FROM n WHERE code < 5993)
		SELECT code, CONVERT(CONVERT(CONVERT(CONCAT('@', CHAR(48 + code DIV 80), CHAR(48 + code MOD 80)) USING binary)
			USING filename) USING utf8mb4) FROM n`)
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
