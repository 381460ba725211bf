package discovery_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/policies"
)

// partialRevokes turns MySQL's partial_revokes on for the test on the primary and the
// replica, and back off when it ends, once every account the test made is dropped there
// (the server refuses to turn it off while an account holds a partial revoke). A replica
// with it off stops on a replicated partial REVOKE ("There is no such grant defined").
func partialRevokes(t *testing.T, db, rdb *sqlx.DB) {
	t.Helper()
	for _, s := range []*sqlx.DB{db, rdb} {
		var was int
		if err := s.Get(&was, "SELECT @@GLOBAL.partial_revokes"); err != nil {
			t.Fatal(err)
		}
		if was == 1 {
			continue
		}
		testdb.Exec(t, s, "SET GLOBAL partial_revokes = ON")
		t.Cleanup(func() {
			testdb.WaitReplica(t, db, rdb)
			testdb.Exec(t, s, "SET GLOBAL partial_revokes = OFF")
		})
	}
}

// TestPartialRevokeHidesEvidence: issue 18 §2. janitor's account held ALL ON *.* with
// REVOKE ALL ON secret.* (MySQL, partial_revokes=ON). A view in secret read a leftover;
// the server hid the view, USER_PRIVILEGES still listed the global privileges, and the
// leftover was called dead and dropped. Every candidate's evidence is unreadable now,
// with the GRANT that lifts the revoke, on the primary and through a replica's
// References, and the shard's warnings say it once. A revoke of a privilege that hides
// nothing (INSERT), or of a schema no view or routine lives in (performance_schema),
// changes nothing.
func TestPartialRevokeHidesEvidence(t *testing.T) {
	testdb.SkipUnless(t, "partial revokes are MySQL's; MariaDB has none", "mysql")
	db := testdb.Primary(t)
	rdb := testdb.Open(t, testdb.ReplicaDSN(t))
	partialRevokes(t, db, rdb)
	shop, secret, other := testdb.Schema(t, db), testdb.Schema(t, db), testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(shop, "orders")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(shop, "__orders_old")+" (id INT PRIMARY KEY)",
		"CREATE VIEW "+q(secret, "reads_old")+" AS SELECT id FROM "+q(shop, "__orders_old"))
	hidden, hiddenAccount := userDSN(t, db, "ALL ON *.*")
	testdb.Exec(t, db, "REVOKE ALL ON "+dbconn.QuoteIdent(secret)+".* FROM "+hiddenAccount)
	harmless, harmlessAccount := userDSN(t, db, "ALL ON *.*")
	testdb.Exec(t, db, "REVOKE INSERT ON "+dbconn.QuoteIdent(other)+".* FROM "+harmlessAccount)
	// performance_schema holds the statement digests that show reads by name: a revoke
	// there hides evidence too.
	noPFS, noPFSAccount := userDSN(t, db, "ALL ON *.*")
	testdb.Exec(t, db, "REVOKE SELECT ON performance_schema.* FROM "+noPFSAccount)

	u := testdb.Open(t, hidden)
	var seen int
	if err := u.Get(&seen, "SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?", secret); err != nil || seen != 0 {
		t.Fatalf("the account sees %d views in %s (%v); the test expects the server to hide them", seen, secret, err)
	}
	in := inspector(t, u, shop)
	tb, v := verdictOf(t, in, shop, "__orders_old")
	grant := "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON " + dbconn.QuoteIdent(secret) + ".*"
	if v.Code != policies.CodeEvidenceUnreadable || !strings.Contains(v.Reason, grant) || !strings.Contains(v.Reason, "partial revoke") {
		t.Errorf("%s %s (%s), views %q; want evidence_unreadable giving %q", v.Action, v.Code, v.Reason, tb.Evidence.Views, grant)
	}
	check, err := in.CheckSchemas(context.Background())
	if err != nil || !strings.Contains(strings.Join(check.Warnings, "\n"), grant) {
		t.Errorf("shard warnings %q (%v); want one giving %q", check.Warnings, err, grant)
	}

	// The replica's account is read on the replica.
	testdb.WaitReplica(t, db, rdb)
	cfg, err := dbconn.ParseDSN(testdb.ReplicaDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	hcfg, err := dbconn.ParseDSN(hidden)
	if err != nil {
		t.Fatal(err)
	}
	cfg.User, cfg.Passwd = hcfg.User, hcfg.Passwd
	ru := testdb.Open(t, cfg.FormatDSN())
	srv, err := discovery.ReadServer(context.Background(), ru)
	if err != nil {
		t.Fatal(err)
	}
	refs, unreadable, gone, err := discovery.NewInspector(ru, srv, discovery.Options{}, nil).References(context.Background(),
		discovery.Name{Schema: shop, Table: "__orders_old"})
	if err != nil || gone || !strings.Contains(strings.Join(unreadable, "; "), grant) {
		t.Errorf("replica: refs %q, unreadable %q, gone %t, err %v; want unreadable giving %q", refs, unreadable, gone, err, grant)
	}

	// The view is there for an account that sees it, and a harmless revoke hides nothing.
	_, v = verdictOf(t, inspector(t, db, shop), shop, "__orders_old")
	if v.Code != policies.CodeViewReference {
		t.Errorf("as root: %s %s (%s); want view_reference", v.Action, v.Code, v.Reason)
	}
	testdb.Exec(t, db, "DROP VIEW "+q(secret, "reads_old"))
	_, v = verdictOf(t, inspector(t, testdb.Open(t, harmless), shop), shop, "__orders_old")
	if v.Action != policies.Drop {
		t.Errorf("REVOKE INSERT on another schema: %s %s (%s); want drop", v.Action, v.Code, v.Reason)
	}
	_, v = verdictOf(t, inspector(t, testdb.Open(t, noPFS), shop), shop, "__orders_old")
	if v.Code != policies.CodeEvidenceUnreadable || !strings.Contains(v.Reason, "performance_schema") {
		t.Errorf("REVOKE SELECT on performance_schema: %s %s (%s); want evidence_unreadable naming performance_schema", v.Action, v.Code, v.Reason)
	}
}

// TestSchemaHiddenWithoutGlobalGrants: MariaDB's counterpart. Without partial revokes,
// an account sees a schema only through a grant; one whose grants name a few schemas
// does not see the rest, whose views may read a leftover. Its missing SELECT ON *.* (and
// the others) makes every candidate unreadable. Both flavors.
func TestSchemaHiddenWithoutGlobalGrants(t *testing.T) {
	db := testdb.Primary(t)
	shop, secret := testdb.Schema(t, db), testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+q(shop, "orders")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(shop, "__orders_old")+" (id INT PRIMARY KEY)",
		"CREATE VIEW "+q(secret, "reads_old")+" AS SELECT id FROM "+q(shop, "__orders_old"))
	dsn, _ := userDSN(t, db, "PROCESS ON *.*", "SELECT, SHOW VIEW, TRIGGER, EVENT ON "+dbconn.QuoteIdent(shop)+".*")
	tb, v := verdictOf(t, inspector(t, testdb.Open(t, dsn), shop), shop, "__orders_old")
	if v.Code != policies.CodeEvidenceUnreadable || !strings.Contains(v.Reason, "ON *.*") {
		t.Errorf("%s %s (%s), views %q; want evidence_unreadable naming the grant ON *.*", v.Action, v.Code, v.Reason, tb.Evidence.Views)
	}
}
