package discovery_test

import (
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/policies"
)

// oldLeftovers returns the statements that create, for each base, the table base in
// schema s and a dead pt-osc copy of it, __base_old.
func oldLeftovers(s string, bases ...string) []string {
	var stmts []string
	for _, base := range bases {
		stmts = append(stmts, "CREATE TABLE "+q(s, base)+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__"+base+"_old")+" (id INT PRIMARY KEY)")
	}
	return stmts
}

// wantCodes fails the test unless in's verdict on each table of s has the code want
// gives it.
func wantCodes(t *testing.T, in *discovery.Inspector, s string, want map[string]policies.Code) {
	t.Helper()
	for table, code := range want {
		if _, v := verdictOf(t, in, s, table); v.Code != code {
			t.Errorf("%s: %s %s (%s); want skip %s", table, v.Action, v.Code, v.Reason, code)
		}
	}
}

// listNames returns in's inventory of names, failing the test on an error.
func listNames(t *testing.T, in *discovery.Inspector) []discovery.Name {
	t.Helper()
	names, err := in.ListNames(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// inspectAll returns in's inspection of every name it lists, failing the test on an
// error.
func inspectAll(t *testing.T, in *discovery.Inspector) []*discovery.Table {
	t.Helper()
	tables, err := in.InspectAll(t.Context(), listNames(t, in))
	if err != nil {
		t.Fatal(err)
	}
	return tables
}

// mariaDBOnly skips the test, saying why, unless db is a MariaDB server.
func mariaDBOnly(t *testing.T, db *sqlx.DB, why string) {
	t.Helper()
	srv, err := discovery.ReadServer(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Flavor != discovery.FlavorMariaDB {
		t.Skip(why)
	}
}

// primarySchema returns the primary and a new schema on it, which the test's end drops:
// the opening of most tests.
func primarySchema(t *testing.T) (*sqlx.DB, string) {
	t.Helper()
	db := testdb.Primary(t)
	return db, testdb.Schema(t, db)
}
