package testdb

import (
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
