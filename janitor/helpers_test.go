package janitor_test

import (
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/report"
)

// ghostTables returns the statements that leave gh-ost's tables of base in schema s: base,
// the ghost table ghost LIKE it and the changelog _base_ghc, whose one heartbeat is age old
// (an SQL interval such as "2 DAY").
func ghostTables(s, base, ghost, age string) []string {
	changelog := "_" + base + "_ghc"
	return []string{
		"CREATE TABLE " + q(s, base) + " (id INT PRIMARY KEY)",
		"CREATE TABLE " + q(s, ghost) + " LIKE " + q(s, base), ghostChangelog(s, changelog),
		"INSERT INTO " + q(s, changelog) + " (id, last_update, hint, value) VALUES (1, NOW() - INTERVAL " + age + ", 'heartbeat', 'then')",
	}
}

// deadGhost returns the statements that leave a dead gh-ost migration of base in schema s:
// _base_gho and _base_ghc, whose heartbeat stopped two days ago.
func deadGhost(s, base string) []string {
	return ghostTables(s, base, "_"+base+"_gho", "2 DAY")
}

// ghostShard returns the primary and a new schema holding the dead gh-ost migration of
// orders (deadGhost).
func ghostShard(t *testing.T) (*sqlx.DB, string) {
	t.Helper()
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, deadGhost(s, "orders")...)
	return db, s
}

// newUser creates user@127.0.0.1 with password, dropped when the test ends, and returns the
// grantee ('user'@'127.0.0.1').
func newUser(t *testing.T, db *sqlx.DB, user, password string) string {
	t.Helper()
	grantee := "'" + user + "'@'127.0.0.1'"
	testdb.Exec(t, db, "CREATE USER "+grantee+" IDENTIFIED BY '"+password+"'")
	t.Cleanup(func() { _, _ = db.Exec("DROP USER IF EXISTS " + grantee) })
	return grantee
}

// wantGhostCodes fails the test unless both gh-ost tables of orders, _orders_gho and
// _orders_ghc, have code in got, with a reason that contains has (when not "").
func wantGhostCodes(t *testing.T, got map[string]report.Table, what string, code policies.Code, has string) {
	t.Helper()
	for _, name := range []string{"_orders_gho", "_orders_ghc"} {
		if row := got[name]; row.ReasonCode != string(code) || !strings.Contains(row.Reason, has) {
			t.Errorf("%s: %s: %s (%s); want %s with %q", what, name, row.ReasonCode, row.Reason, code, has)
		}
	}
}
