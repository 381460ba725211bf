package discovery_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/policies"
)

// TestPartialRevokeThroughRoles: issue 18 §2's review, MySQL roles. A view in a hidden
// schema reads the leftover. An account whose only grants come from its default role,
// itself holding ALL ON *.* with REVOKE ALL ON secret.*, cannot see the view: its
// evidence must be unreadable (USER_PRIVILEGES lists the role's grants under the role,
// and SHOW GRANTS the role's revoke under the account). An account with its own ALL ON
// *.* and the same role sees the view (a role's revoke takes nothing from a grant the
// account holds itself), and keeps the table for it. Both held before this review:
// this test keeps them so.
func TestPartialRevokeThroughRoles(t *testing.T) {
	testdb.SkipUnless(t, "partial revokes are MySQL's; MariaDB has none", "mysql")
	db := testdb.Primary(t)
	rdb := testdb.Open(t, testdb.ReplicaDSN(t))
	partialRevokes(t, db, rdb)
	shop, secret := testdb.Schema(t, db), testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(shop, "orders")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(shop, "__orders_old")+" (id INT PRIMARY KEY)",
		"CREATE VIEW "+q(secret, "reads_old")+" AS SELECT id FROM "+q(shop, "__orders_old"))
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	role := "'jr_" + hex.EncodeToString(b) + "'@'%'"
	testdb.Exec(t, db, "CREATE ROLE "+role, "GRANT ALL ON *.* TO "+role, "REVOKE ALL ON "+dbconn.QuoteIdent(secret)+".* FROM "+role)
	t.Cleanup(func() { testdb.Exec(t, db, "DROP ROLE IF EXISTS "+role) })

	onlyRole, onlyRoleAccount := userDSN(t, db, role)
	testdb.Exec(t, db, "SET DEFAULT ROLE ALL TO "+onlyRoleAccount)
	tb, v := verdictOf(t, inspector(t, testdb.Open(t, onlyRole), shop), shop, "__orders_old")
	if v.Action == policies.Drop || v.Code != policies.CodeEvidenceUnreadable {
		t.Errorf("grants from a role with a revoke: %s %s (%s), views %q; want evidence_unreadable", v.Action, v.Code, v.Reason, tb.Evidence.Views)
	}

	both, bothAccount := userDSN(t, db, "ALL ON *.*", role)
	testdb.Exec(t, db, "SET DEFAULT ROLE ALL TO "+bothAccount)
	tb, v = verdictOf(t, inspector(t, testdb.Open(t, both), shop), shop, "__orders_old")
	if v.Code != policies.CodeViewReference || !strings.Contains(strings.Join(tb.Evidence.Views, " "), "reads_old") {
		t.Errorf("own ALL ON *.* and a role with a revoke: %s %s (%s); want view_reference (the account sees the view)", v.Action, v.Code, v.Reason)
	}
}

// TestRevokeMessageGrantLiftsIt: the GRANT a hidden schema's message gives must lift the
// revoke when a DBA runs it as printed, for a schema whose name holds a backslash and
// wildcards (shop\_%, a literal name under partial_revokes: a GRANT on `shop\\_%` would
// name another schema and leave the revoke), a backtick and a dot.
func TestRevokeMessageGrantLiftsIt(t *testing.T) {
	testdb.SkipUnless(t, "partial revokes are MySQL's; MariaDB has none", "mysql")
	db := testdb.Primary(t)
	rdb := testdb.Open(t, testdb.ReplicaDSN(t))
	partialRevokes(t, db, rdb)
	for _, schema := range []string{`shop\_%`, "a`b.c"} {
		dsn, account := userDSN(t, db, "SELECT, SHOW VIEW, TRIGGER, EVENT, PROCESS ON *.*")
		testdb.Exec(t, db, "REVOKE SHOW VIEW ON "+dbconn.QuoteIdent(schema)+".* FROM "+account)
		u := testdb.Open(t, dsn)
		srv, err := discovery.ReadServer(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		hidden := srv.HiddenEvidence()
		m := regexp.MustCompile("(GRANT [^;]*?) lifts it").FindStringSubmatch(fmt.Sprint(hidden))
		if m == nil {
			t.Errorf("%q: %v; want a GRANT that lifts the revoke", schema, hidden)
			continue
		}
		testdb.Exec(t, db, m[1])
		if srv, err = discovery.ReadServer(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		if err := srv.HiddenEvidence(); err != nil {
			t.Errorf("%q: after %q, as printed: %v", schema, m[1], err)
		}
	}
}
