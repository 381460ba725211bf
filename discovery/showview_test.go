package discovery_test

import (
	"strings"
	"testing"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/policies"
)

// TestViewDefinitionHiddenWithoutShowView: issue 18 §2's review, both flavors. An account
// with SELECT but no SHOW VIEW on *.* still lists another definer's view, with an empty
// definition (measured on MariaDB 10.11 and MySQL 9.7.4): read as "names nothing", that
// view over the leftover would be missed. It makes the evidence unreadable, naming
// SHOW VIEW. Held before this review: this test keeps it so.
func TestViewDefinitionHiddenWithoutShowView(t *testing.T) {
	db := testdb.Primary(t)
	shop, other := testdb.Schema(t, db), testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(shop, "orders")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(shop, "__orders_old")+" (id INT PRIMARY KEY)",
		"CREATE VIEW "+q(other, "reads_old")+" AS SELECT id FROM "+q(shop, "__orders_old"))
	dsn, _ := userDSN(t, db, "SELECT, PROCESS, TRIGGER, EVENT ON *.*")
	tb, v := verdictOf(t, inspector(t, testdb.Open(t, dsn), shop), shop, "__orders_old")
	if v.Action == policies.Drop || v.Code != policies.CodeEvidenceUnreadable || !strings.Contains(v.Reason, "SHOW VIEW") {
		t.Errorf("%s %s (%s), views %q; want evidence_unreadable naming SHOW VIEW", v.Action, v.Code, v.Reason, tb.Evidence.Views)
	}
}
