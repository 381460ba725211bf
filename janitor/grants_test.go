package janitor_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/metrics"
	"github.com/janitorhq/janitor/report"
)

// The GRANTs docs/dropping.md documents. Keep them in step with that page: a change here is a
// change to what DBAs are asked to grant.
// MySQL's name for MariaDB's SLAVE MONITOR is REPLICATION CLIENT.
func reportGrants(t *testing.T) []string {
	return []string{"SELECT, PROCESS, SHOW VIEW, TRIGGER, EVENT, " + monitorGrant(t) + " ON *.*"}
}

func executeGrants(t *testing.T) []string {
	return []string{"SELECT, PROCESS, SHOW VIEW, TRIGGER, EVENT, " + monitorGrant(t) + ", " + registryGrant(t) + ", DROP ON *.*"}
}

// registryGrant is the privilege that lets an account list the replicas a server feeds
// (MySQL SHOW REPLICAS, MariaDB SHOW SLAVE HOSTS): execute runs need it on every
// primary and replica.
func registryGrant(t *testing.T) string {
	if testdb.IsMySQL(t) {
		return "REPLICATION SLAVE"
	}
	return "REPLICATION MASTER ADMIN"
}

// monitorGrant is the privilege that lets an account read replica status.
func monitorGrant(t *testing.T) string {
	if testdb.IsMySQL(t) {
		return "REPLICATION CLIENT"
	}
	return "SLAVE MONITOR"
}

// account creates a user with exactly grants on primary (it replicates to the replica)
// and returns its DSNs.
func account(t *testing.T, grants []string) (primary, replica string) {
	t.Helper()
	db := testdb.Primary(t)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	user, pw := "jt_"+hex.EncodeToString(b), "pw_"+hex.EncodeToString(b)
	testdb.Exec(t, db, "CREATE USER '"+user+"'@'127.0.0.1' IDENTIFIED BY '"+pw+"'")
	t.Cleanup(func() { testdb.Exec(t, db, "DROP USER IF EXISTS '"+user+"'@'127.0.0.1'") })
	for _, g := range grants {
		testdb.Exec(t, db, "GRANT "+g+" TO '"+user+"'@'127.0.0.1'")
	}
	swap := func(dsn string) string {
		cfg, err := dbconn.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.User, cfg.Passwd = user, pw
		return cfg.FormatDSN()
	}
	testdb.WaitReplica(t, db, testdb.Open(t, testdb.ReplicaDSN(t)))
	return swap(testdb.PrimaryDSN(t)), swap(testdb.ReplicaDSN(t))
}

func verdicts(r *report.Report) map[string]string {
	out := map[string]string{}
	for _, s := range r.Shards {
		for _, tb := range s.Tables {
			out[tb.Table] = tb.Verdict + " " + tb.ReasonCode
		}
	}
	return out
}

func TestReportWithLeastPrivilege(t *testing.T) {
	db := testdb.Primary(t)
	s, _, _ := seed(t, db)
	full := janitor.New(config(t, s), nil).Report(context.Background())
	p, r := account(t, reportGrants(t))
	cfg := config(t, s)
	cfg.Shards[0].DSN, cfg.Shards[0].Replicas[0].DSN = p, r
	least := janitor.New(cfg, nil).Report(context.Background())
	if least.Failed() {
		t.Fatalf("report failed with the documented grants: %+v", least.Shards[0].Error)
	}
	want, got := verdicts(full), verdicts(least)
	if len(want) == 0 || len(got) != len(want) {
		t.Fatalf("least privilege saw %d tables, full privilege %d", len(got), len(want))
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s: %q with the documented grants, %q with all privileges", name, got[name], v)
		}
	}
	// The dry run reads replica status too.
	plan := janitor.New(cfg, nil).Run(context.Background(), false)
	if b := plan.Shards[0].Blocked; b != "" {
		t.Errorf("dry run with the documented grants: %s", b)
	}
}

// TestMissingGrantsNeverLookDead: without TRIGGER (or PROCESS, or EVENT), the server
// hides the evidence; janitor must say so and drop nothing, not read silence as "no
// triggers" or "no events".
func TestMissingGrantsNeverLookDead(t *testing.T) {
	db := testdb.Primary(t)
	s, _, _ := seed(t, db)
	for _, c := range []struct{ grants, want string }{
		{"SELECT, PROCESS, SHOW VIEW, EVENT, DROP ON *.*", "TRIGGER"},
		{"SELECT, TRIGGER, SHOW VIEW, EVENT, DROP ON *.*", "PROCESS"},
		{"SELECT, PROCESS, SHOW VIEW, TRIGGER, DROP ON *.*", "EVENT"},
	} {
		p, r := account(t, []string{c.grants})
		cfg := config(t, s)
		cfg.Shards[0].DSN, cfg.Shards[0].Replicas[0].DSN = p, r
		rep := janitor.New(cfg, nil).Report(context.Background())
		if e := rep.Shards[0].Error; e != "" {
			// Failing the shard is fine, if the message says what to grant.
			if !strings.Contains(e, c.want) {
				t.Errorf("without %s: shard error %q does not name the grant", c.want, e)
			}
			continue
		}
		for _, sh := range rep.Shards {
			for _, tb := range sh.Tables {
				if tb.Verdict == "drop" {
					t.Errorf("without %s, %s was judged droppable (%s)", c.want, tb.Table, tb.Reason)
				}
			}
		}
		if v := verdicts(rep)["_orders_new"]; !strings.HasPrefix(v, "skip") {
			t.Errorf("without %s: _orders_new %q", c.want, v)
		}
		if o := outcomes(rep)["__orders_old"]; c.want == "EVENT" && (o.ReasonCode != "evidence_unreadable" || !strings.Contains(o.Reason, "GRANT EVENT ON *.*")) {
			t.Errorf("without EVENT: __orders_old %s %s (%s); want evidence_unreadable saying GRANT EVENT ON *.*", o.Verdict, o.ReasonCode, o.Reason)
		}
	}
}

func TestExecuteWithLeastPrivilege(t *testing.T) {
	db := testdb.Primary(t)
	s, dead, alive := seed(t, db)
	p, r := account(t, executeGrants(t))
	cfg := config(t, s)
	cfg.Shards[0].DSN, cfg.Shards[0].Replicas[0].DSN = p, r
	rep := janitor.New(cfg, nil).Run(context.Background(), true)
	if rep.Failed() || rep.Shards[0].Blocked != "" {
		t.Fatalf("execute with the documented grants: error %q blocked %q", rep.Shards[0].Error, rep.Shards[0].Blocked)
	}
	for _, name := range dead {
		if exists(t, db, s, name) {
			t.Errorf("%s not dropped with the documented grants: %s", name, outcomes(rep)[name].Reason)
		}
	}
	for _, name := range alive {
		if !exists(t, db, s, name) {
			t.Errorf("%s dropped", name)
		}
	}
}

// TestExecuteWithoutReplicaMonitorRefuses: without SLAVE MONITOR janitor cannot tell a
// writable replica from a primary, so it does not drop, and says which grant is missing.
func TestExecuteWithoutReplicaMonitorRefuses(t *testing.T) {
	db, s := primarySchema(t)
	oneLeftover(t, db, s)
	p, _ := account(t, []string{"SELECT, PROCESS, SHOW VIEW, TRIGGER, EVENT, DROP ON *.*"})
	cfg := config(t, s)
	cfg.Shards[0].DSN, cfg.Shards[0].Replicas = p, nil
	rep := janitor.New(cfg, nil).Run(context.Background(), true)
	if o := outcomes(rep)["__orders_old"]; o.Outcome == report.OutcomeDropped || !exists(t, db, s, "__orders_old") {
		t.Fatalf("dropped without being able to tell a replica from a primary: %s (%s)", o.Outcome, o.Reason)
	}
	if !strings.Contains(rep.Shards[0].Blocked+rep.Shards[0].Error, "grant SLAVE MONITOR") {
		t.Errorf("blocked %q error %q: want the missing grant named", rep.Shards[0].Blocked, rep.Shards[0].Error)
	}
}

// TestExecuteWithoutProcessOnReplicaRefuses: without PROCESS on a replica janitor sees
// only its own sessions there, which would read as "nobody reads this table". Drops on
// the shard are blocked, and the message names the grant.
func TestExecuteWithoutProcessOnReplicaRefuses(t *testing.T) {
	db, s := primarySchema(t)
	oneLeftover(t, db, s)
	_, r := account(t, []string{"SELECT, SHOW VIEW, TRIGGER, EVENT, " + monitorGrant(t) + " ON *.*"})
	cfg := config(t, s)
	cfg.Shards[0].Replicas[0].DSN = r
	rep := janitor.New(cfg, nil).Run(context.Background(), true)
	if o := outcomes(rep)["__orders_old"]; o.Outcome != report.OutcomeDeferred || !exists(t, db, s, "__orders_old") {
		t.Fatalf("outcome %q (%s): want deferred and kept, the replica's sessions being unreadable", o.Outcome, o.Reason)
	}
	if b := rep.Shards[0].Blocked; !strings.Contains(b, "replica sandbox-replica") || !strings.Contains(b, "GRANT PROCESS ON *.* TO 'jt_") {
		t.Errorf("blocked %q: want the replica and the grant to add named", b)
	}
	// The operator is paged through janitor_shard_blocked (alert JanitorShardBlocked).
	if c := rep.Shards[0].BlockedCode; c != report.BlockedReplicaGrants {
		t.Errorf("blocked_code %q, want %q", c, report.BlockedReplicaGrants)
	}
	m := metrics.New()
	m.Observe(rep, time.Second)
	if v := gaugeWith(t, m, "janitor_shard_blocked", "sandbox", report.BlockedReplicaGrants); v != 1 {
		t.Errorf("janitor_shard_blocked{shard=sandbox,reason=replica_grants} = %v, want 1", v)
	}
	// The dry run says so up front.
	plan := janitor.New(cfg, nil).Run(context.Background(), false)
	if b := plan.Shards[0].Blocked; !strings.Contains(b, "GRANT PROCESS ON *.* TO 'jt_") {
		t.Errorf("dry run blocked %q: want the grant to add named", b)
	}
	if c := plan.Shards[0].BlockedCode; c != "" {
		t.Errorf("dry run blocked_code %q: a dry run drops nothing, so blocks nothing", c)
	}
}

// TestHiddenRoutineBodiesMakeEvidenceUnreadable: without global SELECT the server hides
// other definers' routines; janitor must not read "hidden" as "names nothing".
func TestHiddenRoutineBodiesMakeEvidenceUnreadable(t *testing.T) {
	db, s := primarySchema(t)
	other := testdb.Schema(t, db)
	oneLeftover(t, db, s)
	testdb.Exec(t, db, "CREATE PROCEDURE "+q(other, "p")+"() SELECT 1")
	p, _ := account(t, []string{"PROCESS, SHOW VIEW, TRIGGER, EVENT, " + monitorGrant(t) + " ON *.*", "SELECT ON `" + s + "`.*"})
	cfg := config(t, s)
	cfg.Shards[0].DSN, cfg.Shards[0].Replicas = p, nil
	r := janitor.New(cfg, nil).Report(context.Background())
	o := outcomes(r)["__orders_old"]
	if o.Verdict != "skip" || o.ReasonCode != "evidence_unreadable" || !strings.Contains(o.Reason, "stored routines: the account lacks SELECT ON *.*") {
		t.Errorf("__orders_old: %s %s (%s), want skip: routine bodies unreadable", o.Verdict, o.ReasonCode, o.Reason)
	}
}
