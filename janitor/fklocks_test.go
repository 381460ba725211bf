package janitor_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// fkShard is pt-osc's leftover of issue 17: __orders_old keeps its foreign key to the
// live customers table, here in another schema and under a name only quotes can hold.
// Beside it, two leftovers whose keys join them to no live table: __tree_old, on itself,
// and __items_old, to a table dropped under foreign_key_checks=0.
func fkShard(t *testing.T) (primary, replica *sqlx.DB, s, other, parent string) {
	t.Helper()
	primary = testdb.Primary(t)
	replica = testdb.Open(t, testdb.ReplicaDSN(t))
	s = testdb.Schema(t, primary)
	other = testdb.Schema(t, primary)
	parent = "cu`st ö"
	conn, err := primary.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	testdb.Exec(t, conn,
		"CREATE TABLE "+q(other, parent)+" (id INT PRIMARY KEY)", "INSERT INTO "+q(other, parent)+" VALUES (1), (2)",
		"CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY, cid INT)",
		"CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY, cid INT, FOREIGN KEY (cid) REFERENCES "+q(other, parent)+" (id))",
		"INSERT INTO "+q(s, "__orders_old")+" VALUES (1, 1), (2, 2)",
		"CREATE TABLE "+q(s, "tree")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "__tree_old")+" (id INT PRIMARY KEY, p INT, FOREIGN KEY (p) REFERENCES "+q(s, "__tree_old")+" (id))",
		"CREATE TABLE "+q(s, "items")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "gone")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "__items_old")+" (id INT PRIMARY KEY, g INT, FOREIGN KEY (g) REFERENCES "+q(s, "gone")+" (id))",
		"SET SESSION foreign_key_checks = 0", "DROP TABLE "+q(s, "gone"), "SET SESSION foreign_key_checks = 1")
	// The key across schemas would keep the parent's schema from being dropped first.
	t.Cleanup(func() { testdb.Exec(t, primary, "DROP DATABASE IF EXISTS "+dbconn.QuoteIdent(s)) })
	testdb.WaitReplica(t, primary, replica)
	return primary, replica, s, other, parent
}

// liveReader opens a session on db that reads table in a transaction it keeps open (a
// report query's, as in issue 17), and waits until the server shows it idle for 2
// seconds (more than one for sure: the server counts whole seconds); a session younger
// than that is ordinary traffic, which the check on the primary lets the statement wait
// for under its short lock wait.
func liveReader(t *testing.T, db *sqlx.DB, table string) int64 {
	t.Helper()
	id, _ := openReader(t, db, table)
	testdb.WaitSessionAge(t, db, id, 2)
	return id
}

// openReader opens a session on db that reads table in a transaction it keeps open, and
// returns at once: its id, and end, which ends the transaction (also at cleanup) and
// waits until INNODB_TRX, which answers from a cache the server renews at most every
// 100 ms, no longer lists it: a check right after would count it as open still.
func openReader(t *testing.T, db *sqlx.DB, table string) (id int64, end func()) {
	t.Helper()
	conn, err := db.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if err := conn.GetContext(context.Background(), &id, "SELECT CONNECTION_ID()"); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, conn, "START TRANSACTION", "SELECT COUNT(*) FROM "+table)
	end = func() {
		_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		deadline := time.Now().Add(5 * time.Second)
		for {
			var n int
			err := db.Get(&n, "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = ?", id)
			if err != nil || n == 0 || time.Now().After(deadline) {
				return
			}
			// Polling, with a deadline, slower than the cache: read within 100 ms of the
			// last read, the server does not renew it.
			time.Sleep(150 * time.Millisecond)
		}
	}
	t.Cleanup(end)
	return id, end
}

// probe reads table on db over and over until stop is called, and then returns the
// slowest read: how long the live table's ordinary queries queued.
func probe(t *testing.T, db *sqlx.DB, table string) (stop func() time.Duration) {
	t.Helper()
	conn, err := db.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var worst time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer conn.Close()
		for {
			select {
			case <-done:
				return
			default:
			}
			start := time.Now()
			var n int
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := conn.GetContext(ctx, &n, "SELECT COUNT(*) FROM "+table)
			cancel()
			if err != nil {
				t.Errorf("probe read of %s: %v", table, err)
				return
			}
			worst = max(worst, time.Since(start))
			time.Sleep(5 * time.Millisecond) // pacing the probe, not synchronisation
		}
	}()
	return func() time.Duration {
		close(done)
		wg.Wait()
		return worst
	}
}

// TestLiveFKParentReaderDefers: issue 17. On MySQL 8+ a DROP or RENAME of pt-osc's
// __orders_old takes an exclusive metadata lock on its foreign-key parent too; with a
// session holding the parent in an open transaction, the statement waits, and every new
// read of the live parent queues behind it: on the primary for the lock wait, on a
// replica (whose applier waits without a limit) until the reader ends. janitor now looks
// at the parent's metadata locks on every server and defers the leftover, naming the
// live table, the server, the session and its age; the parent's reads never queue.
// Leftovers whose keys join them to no live table (a key on itself, a key to a table
// dropped under foreign_key_checks=0) are dropped in the same run. MariaDB's DDL locks
// no parent (measured on 10.11): there the leftover is dropped and nothing queues.
// Before, on MySQL, the DROP waited on the primary (the parent's reads with it) and was
// deferred blaming the leftover; on a replica it stalled replication.
func TestLiveFKParentReaderDefers(t *testing.T) {
	for _, where := range []string{"primary", "replica"} {
		for _, hold := range []time.Duration{0, time.Hour} {
			t.Run(fmt.Sprintf("%s/hold=%s", where, hold), func(t *testing.T) {
				primary, replica, s, other, parent := fkShard(t)
				server, name := primary, "primary sandbox"
				if where == "replica" {
					server, name = replica, "replica sandbox-replica"
				}
				id := liveReader(t, server, q(other, parent))
				cfg := config(t, s)
				cfg.Execute.Hold = hold
				cfg.Execute.LockWaitTimeout = 3 * time.Second // what a parent's reads would wait, before
				// The probe reads the parent on the primary only: on a replica its own reads,
				// each a transaction for a moment, would be readers for the replica check.
				stop := func() time.Duration { return 0 }
				if where == "primary" {
					stop = probe(t, server, q(other, parent))
				}
				r := janitor.New(cfg, nil).Run(context.Background(), true)
				worst := stop()
				if where == "replica" {
					// Replication goes on, and the parent's reads there do not queue.
					testdb.Exec(t, primary, "CREATE TABLE "+q(s, "after")+" (id INT PRIMARY KEY)")
					testdb.WaitReplicaWithin(t, primary, replica, 10)
					start := time.Now()
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					var n int
					if err := replica.GetContext(ctx, &n, "SELECT COUNT(*) FROM "+q(other, parent)); err != nil {
						t.Errorf("a read of the parent on the replica: %v", err)
					}
					cancel()
					worst = time.Since(start)
				}
				got := outcomes(r)
				o := got["__orders_old"]
				t.Logf("__orders_old: %s (%s); slowest read of the parent on the %s: %s", o.Outcome, o.Reason, where, worst.Round(time.Millisecond))
				if r.Shards[0].Blocked != "" || r.Failed() {
					t.Errorf("blocked %q, error %q: a reader of a live parent defers one table", r.Shards[0].Blocked, r.Shards[0].Error)
				}
				if worst > time.Second {
					t.Errorf("a read of the live parent on the %s queued %s behind janitor's statement", where, worst)
				}
				done := report.OutcomeDropped
				if hold > 0 {
					done = report.OutcomeHeld
				}
				for _, free := range []string{"__tree_old", "__items_old"} {
					if got[free].Outcome != done {
						t.Errorf("%s: %s (%s); want %s: its keys join it to no live table", free, got[free].Outcome, got[free].Reason, done)
					}
				}
				if !testdb.IsMySQL(t) {
					if o.Outcome != done {
						t.Errorf("outcome %q (%s); want %s: MariaDB's DDL does not lock the parent", o.Outcome, o.Reason, done)
					}
					return
				}
				for _, want := range []string{name, fmt.Sprintf("session %d ", id), "idle for", q(other, parent), "foreign-key parent"} {
					if !strings.Contains(o.Reason, want) {
						t.Errorf("reason %q; want it to name %q", o.Reason, want)
					}
				}
				if o.Outcome != report.OutcomeDeferred || !exists(t, primary, s, "__orders_old") {
					t.Errorf("outcome %q; want deferred, and the table kept", o.Outcome)
				}
				testdb.WaitReplica(t, primary, replica)
				if !exists(t, replica, s, "__orders_old") {
					t.Errorf("gone on the replica")
				}
			})
		}
	}
}

// TestLiveFKParentReaderAfterTheCheck: a reader of the live parent that arrives after
// the check (between it and the DROP) is met by the server. On MySQL the DROP then waits
// for it, and the parent's reads queue behind, for the DROP's lock wait: janitor sends
// DDL on a table with foreign keys with a lock wait of one second, not
// execute.lock_wait_timeout, and the deferral names the live table, not only the
// leftover. Before, the parent's reads queued for the whole lock_wait_timeout (3 s here)
// and the reason blamed the leftover alone. MariaDB's DROP does not wait at all.
func TestLiveFKParentReaderAfterTheCheck(t *testing.T) {
	primary, _, s, other, parent := fkShard(t)
	cfg := config(t, s)
	cfg.Execute.LockWaitTimeout = 3 * time.Second
	reader, err := primary.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reader.Close() })
	t.Cleanup(func() { _, _ = reader.ExecContext(context.Background(), "ROLLBACK") })
	var stop func() time.Duration
	j := janitor.New(cfg, nil)
	j.Hooks.BeforeDrop = func(_, _, table string) {
		if table == "__orders_old" {
			testdb.Exec(t, reader, "START TRANSACTION", "SELECT COUNT(*) FROM "+q(other, parent))
			stop = probe(t, primary, q(other, parent))
		}
	}
	r := j.Run(context.Background(), true)
	if stop == nil {
		t.Fatalf("the DROP of __orders_old was never reached: %+v", outcomes(r)["__orders_old"])
	}
	worst := stop()
	o := outcomes(r)["__orders_old"]
	t.Logf("__orders_old: %s (%s); slowest read of the parent: %s", o.Outcome, o.Reason, worst.Round(time.Millisecond))
	if !testdb.IsMySQL(t) {
		if o.Outcome != report.OutcomeDropped || worst > time.Second {
			t.Errorf("outcome %q (%s), parent's reads queued %s; want dropped at once: MariaDB's DROP does not lock the parent", o.Outcome, o.Reason, worst)
		}
		return
	}
	if o.Outcome != report.OutcomeDeferred || !strings.Contains(o.Reason, q(other, parent)) || !strings.Contains(o.Reason, "lock_wait_timeout 1s") {
		t.Errorf("outcome %q (%s); want deferred after a 1s lock wait, naming the live parent", o.Outcome, o.Reason)
	}
	if worst > 2*time.Second {
		t.Errorf("the live parent's reads queued %s behind the DROP; want about its 1s lock wait", worst)
	}
	if !exists(t, primary, s, "__orders_old") {
		t.Error("dropped despite the reader")
	}
}

// TestReplicaOnlyFKParentReaderDefers: a replica may hold keys its primary lacks — here
// the replica's copy of the leftover references a table of a reporting schema that
// exists on the replica alone. On MySQL the replicated DROP or RENAME locks that parent
// there, so a report holding it stalls the applier, though the primary knows of no key.
// The replica's own keys are read too, and the reader there defers the leftover, named.
// Before, the table was dropped and the replica's applier waited behind the report.
// MariaDB locks no parent: there the table is dropped.
func TestReplicaOnlyFKParentReaderDefers(t *testing.T) {
	primary, replica, s := rptLeftovers(t, "rpt", "__rpt_old")
	testdb.Exec(t, primary, "ALTER TABLE "+q(s, "__rpt_old")+" ADD COLUMN rid INT")
	testdb.WaitReplica(t, primary, replica)
	// Written with sql_log_bin=0, as TestReplicaOnlyReferencesKeepTheTable does: the
	// replica's binary log gets no transaction of its own.
	other := s + "_ro"
	local, _ := replicaConn(t)
	testdb.Exec(t, local, "SET sql_log_bin = 0", "CREATE DATABASE "+dbconn.QuoteIdent(other),
		"CREATE TABLE "+q(other, "regions é")+" (id INT PRIMARY KEY)",
		"ALTER TABLE "+q(s, "__rpt_old")+" ADD FOREIGN KEY (rid) REFERENCES "+q(other, "regions é")+" (id)")
	t.Cleanup(func() {
		// After the schema's own cleanup has reached the replica: the key would keep
		// this one from being dropped first.
		testdb.Exec(t, primary, "DROP DATABASE IF EXISTS "+dbconn.QuoteIdent(s))
		testdb.WaitReplica(t, primary, replica)
		testdb.Exec(t, local, "DROP DATABASE IF EXISTS "+dbconn.QuoteIdent(other))
	})
	id := liveReader(t, replica, q(other, "regions é"))
	cfg := config(t, s)
	cfg.Execute.Hold = time.Hour
	r := janitor.New(cfg, nil).Run(context.Background(), true)
	o := outcomes(r)["__rpt_old"]
	t.Logf("__rpt_old: %s (%s)", o.Outcome, o.Reason)
	if !testdb.IsMySQL(t) {
		if o.Outcome != report.OutcomeHeld {
			t.Errorf("outcome %q; want held: MariaDB's RENAME does not lock the parent", o.Outcome)
		}
		return
	}
	for _, want := range []string{"replica sandbox-replica", fmt.Sprintf("session %d ", id), q(other, "regions é"), "foreign-key parent"} {
		if !strings.Contains(o.Reason, want) {
			t.Errorf("reason %q; want it to name %q", o.Reason, want)
		}
	}
	if o.Outcome != report.OutcomeDeferred || r.Shards[0].Blocked != "" || !exists(t, primary, s, "__rpt_old") {
		t.Errorf("outcome %q, blocked %q; want deferred, the shard going on, the table kept", o.Outcome, r.Shards[0].Blocked)
	}
	testdb.Exec(t, primary, "CREATE TABLE "+q(s, "after")+" (id INT PRIMARY KEY)")
	testdb.WaitReplicaWithin(t, primary, replica, 10)
}
