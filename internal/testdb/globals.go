package testdb

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/jmoiron/sqlx"
)

// SetGlobal sets the integer global variable name to v on db until the test ends, when
// the value it had comes back.
func SetGlobal(t testing.TB, db *sqlx.DB, name string, v int) {
	t.Helper()
	var was int
	if err := db.Get(&was, "SELECT @@GLOBAL."+name); err != nil {
		t.Fatal(err)
	}
	Exec(t, db, fmt.Sprintf("SET GLOBAL %s = %d", name, v))
	t.Cleanup(func() { Exec(t, db, fmt.Sprintf("SET GLOBAL %s = %d", name, was)) })
}

// InSystemTablespace runs create (a CREATE TABLE) with innodb_file_per_table off, so the
// table lives in the system tablespace, then turns it on again; the test's end restores
// the setting it found.
func InSystemTablespace(t testing.TB, db *sqlx.DB, create string) {
	t.Helper()
	SetGlobal(t, db, "innodb_file_per_table", 0)
	Exec(t, db, create)
	Exec(t, db, "SET GLOBAL innodb_file_per_table = ON")
}

// GeneralTablespace creates a general tablespace (MySQL's CREATE TABLESPACE … ADD
// DATAFILE) with a random name and returns it; it is dropped when the test ends. Call
// it before Schema: cleanups run last-registered first, so the schema's tables are
// gone by the time the tablespace is dropped.
func GeneralTablespace(t testing.TB, db *sqlx.DB) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ts := "jt_ts_" + hex.EncodeToString(b)
	Exec(t, db, "CREATE TABLESPACE `"+ts+"` ADD DATAFILE '"+ts+".ibd'")
	t.Cleanup(func() { Exec(t, db, "DROP TABLESPACE `"+ts+"`") })
	return ts
}
