package janitor_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// TestReplicaRevokeMidRunIsReread: issue 18 §2's review. janitor read a replica's
// account once per run (its first look at that replica), partial revokes included. A
// REVOKE ALL ON secret.* given to that account on the replica after the first DROP hid
// a replica-only view in secret over the next leftover from every new session there;
// the second DROP used the first look, saw no hidden schema and no view, and dropped
// the table from under the view (MySQL 9.7.4). The replica's grants are read before
// every DROP now: the second table is kept, unreadable there.
func TestReplicaRevokeMidRunIsReread(t *testing.T) {
	testdb.SkipUnless(t, "partial revokes are MySQL's; MariaDB has none", "mysql")
	primary := testdb.Primary(t)
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	// On, on both servers (a replica with it off stops on a replicated partial REVOKE),
	// and back off once the test's account is gone from both.
	for _, db := range []*sqlx.DB{primary, replica} {
		var was int
		if err := db.Get(&was, "SELECT @@GLOBAL.partial_revokes"); err != nil {
			t.Fatal(err)
		}
		if was == 0 {
			testdb.Exec(t, db, "SET GLOBAL partial_revokes = ON")
			t.Cleanup(func() {
				testdb.WaitReplica(t, primary, replica)
				testdb.Exec(t, db, "SET GLOBAL partial_revokes = OFF")
			})
		}
	}
	s, secret := testdb.Schema(t, primary), testdb.Schema(t, primary)
	testdb.Exec(t, primary, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "items")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__items_old")+" (id INT PRIMARY KEY)")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	user, pw := "jrr_"+hex.EncodeToString(b), "pw_"+hex.EncodeToString(b)
	account := "'" + user + "'@'%'"
	testdb.Exec(t, primary, "CREATE USER "+account+" IDENTIFIED BY '"+pw+"'", "GRANT ALL ON *.* TO "+account)
	t.Cleanup(func() { testdb.Exec(t, primary, "DROP USER IF EXISTS "+account) })
	testdb.WaitReplica(t, primary, replica)

	cfg := config(t, s)
	rcfg, err := dbconn.ParseDSN(testdb.ReplicaDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	rcfg.User, rcfg.Passwd = user, pw
	cfg.Shards[0].Replicas[0].DSN = rcfg.FormatDSN()
	j := janitor.New(cfg, nil)
	local, _ := replicaConn(t)
	var first, second string
	var once sync.Once
	j.Hooks.BeforeDrop = func(_, schema, table string) {
		once.Do(func() {
			first, second = table, "__items_old"
			if first == second {
				second = "__orders_old"
			}
			// On the replica alone, after janitor's first look at it.
			testdb.Exec(t, local, "SET sql_log_bin = 0", "REVOKE ALL ON "+dbconn.QuoteIdent(secret)+".* FROM "+account,
				"CREATE VIEW "+q(secret, "reads_old")+" AS SELECT id FROM "+q(schema, second))
			// janitor's pooled sessions there keep the privileges they logged in with; a
			// new one, which the pool may open at any time, does not see the view.
			var ids []int64
			if err := local.SelectContext(context.Background(), &ids, "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?", user); err != nil {
				t.Error(err)
			}
			for _, id := range ids {
				_, _ = local.ExecContext(context.Background(), "KILL ?", id)
			}
		})
	}
	r := j.Run(context.Background(), true)
	got := outcomes(r)
	if got[first].Outcome != report.OutcomeDropped {
		t.Fatalf("%s: %s (%s); want dropped", first, got[first].Outcome, got[first].Reason)
	}
	if o := got[second]; o.Outcome == report.OutcomeDropped || !strings.Contains(o.Reason, "partial revoke") {
		t.Errorf("%s: %s (%s); want kept, its replica's evidence unreadable (partial revoke)", second, o.Outcome, o.Reason)
	}
	testdb.WaitReplica(t, primary, replica)
	var n int
	if err := local.GetContext(context.Background(), &n, "SELECT COUNT(*) FROM "+q(secret, "reads_old")); err != nil {
		t.Errorf("the replica's view over %s fails: %v", second, err)
	}
}
