package janitor_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/metrics"
	"github.com/janitorhq/janitor/report"
)

// replicaConn is one session on the sandbox replica, closed at the end of the test.
func replicaConn(t *testing.T) (*sqlx.Conn, int64) {
	t.Helper()
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	conn, err := replica.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	var id int64
	if err := conn.GetContext(context.Background(), &id, "SELECT CONNECTION_ID()"); err != nil {
		t.Fatal(err)
	}
	return conn, id
}

// trxListed waits up to 5 s for the replica's INNODB_TRX to list session id's
// transaction: InnoDB serves INNODB_TRX from a cache refreshed at most every 100 ms, so a
// look right after the read may not see it yet.
func trxListed(t *testing.T, id int64) bool {
	t.Helper()
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		if err := replica.Get(&n, "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = ?", id); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return true
		}
	}
	return false
}

// rptLeftovers creates a dead pt-osc leftover named old (base base) and waits until the
// replica has it.
func rptLeftovers(t *testing.T, base, old string) (primary, replica *sqlx.DB, schema string) {
	t.Helper()
	primary = testdb.Primary(t)
	replica = testdb.Open(t, testdb.ReplicaDSN(t))
	schema = testdb.Schema(t, primary)
	testdb.Exec(t, primary, "CREATE TABLE "+q(schema, base)+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(schema, old)+" (id INT PRIMARY KEY)", "INSERT INTO "+q(schema, old)+" VALUES (1), (2)")
	testdb.WaitReplica(t, primary, replica)
	return primary, replica, schema
}

// lockSource makes the replica able (on) or unable to say who holds a table's metadata
// lock, for the rest of the test: MariaDB's metadata_lock_info plugin loaded or not;
// MySQL's wait/lock/metadata/sql/mdl instrument enabled or not.
func lockSource(t *testing.T, replica *sqlx.DB, on bool) {
	t.Helper()
	if isMariaDB(t, replica) {
		var n int
		if err := replica.Get(&n, "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO'"); err != nil {
			t.Fatal(err)
		}
		switch {
		case on && n == 0:
			testdb.Exec(t, replica, "INSTALL SONAME 'metadata_lock_info'")
			t.Cleanup(func() { testdb.Exec(t, replica, "UNINSTALL SONAME 'metadata_lock_info'") })
		case !on && n > 0:
			testdb.Exec(t, replica, "UNINSTALL SONAME 'metadata_lock_info'")
			t.Cleanup(func() { testdb.Exec(t, replica, "INSTALL SONAME 'metadata_lock_info'") })
		}
		return
	}
	const instrument = "UPDATE performance_schema.setup_instruments SET ENABLED = '%s' WHERE NAME = 'wait/lock/metadata/sql/mdl'"
	var was string
	if err := replica.Get(&was, "SELECT ENABLED FROM performance_schema.setup_instruments WHERE NAME = 'wait/lock/metadata/sql/mdl'"); err != nil {
		t.Fatal(err)
	}
	want := map[bool]string{true: "YES", false: "NO"}[on]
	testdb.Exec(t, replica, fmt.Sprintf(instrument, want))
	t.Cleanup(func() { testdb.Exec(t, replica, fmt.Sprintf(instrument, was)) })
}

func isMariaDB(t *testing.T, db *sqlx.DB) bool {
	var v string
	if err := db.Get(&v, "SELECT @@version"); err != nil {
		t.Fatal(err)
	}
	return strings.Contains(strings.ToLower(v), "mariadb")
}

// TestOpenTransactionOnReplicaDefers: a session on the replica that read the leftover in
// a transaction it keeps open holds the table's metadata lock; the replicated DROP would
// stall the replica's applier behind it (issue 8). The table is deferred, with the
// replica and the session named, and stays on both servers. Run with the replica unable
// to say who holds which metadata lock (any open transaction is suspect) and able to
// (only the holder is).
func TestOpenTransactionOnReplicaDefers(t *testing.T) {
	// A backtick and an accented letter: the lock tables must be asked by the real name.
	const base, old = "rpt`é", "__rpt`é_old"
	for _, source := range []bool{false, true} {
		t.Run(fmt.Sprintf("lock_source=%v", source), func(t *testing.T) {
			primary, replica, s := rptLeftovers(t, base, old)
			lockSource(t, replica, source)
			reader, id := replicaConn(t)
			testdb.Exec(t, reader, "BEGIN", "SELECT COUNT(*) FROM "+q(s, old))
			t.Cleanup(func() { _, _ = reader.ExecContext(context.Background(), "ROLLBACK") })
			if !source && !trxListed(t, id) {
				// Seen on MariaDB 10.11 under load: a transaction that has only read is not
				// always in INNODB_TRX, and then nothing but the metadata-lock plugin shows
				// it (docs/non-goals.md). The plugin case below covers the reader.
				t.Skipf("the replica's INNODB_TRX does not list session %d's read-only transaction: the no-plugin fallback cannot see it", id)
			}

			r := janitor.New(config(t, s), nil).Run(context.Background(), true)
			o := outcomes(r)[old]
			t.Logf("reason: %s", o.Reason)
			if o.Outcome != report.OutcomeDeferred || !strings.Contains(o.Reason, "replica sandbox-replica") ||
				!strings.Contains(o.Reason, fmt.Sprintf("session %d ", id)) {
				t.Errorf("outcome %q (%s); want deferred naming sandbox-replica and session %d", o.Outcome, o.Reason, id)
			}
			if !source && !regexp.MustCompile(`in a transaction open for \d+s`).MatchString(o.Reason) {
				t.Errorf("reason %q does not give the transaction's age", o.Reason)
			}
			if want := map[bool]string{true: ") holds its metadata lock", false: ") may hold its metadata lock"}[source]; !strings.Contains(o.Reason, want) {
				t.Errorf("reason %q; want %q", o.Reason, want)
			}
			if !exists(t, primary, s, old) || !exists(t, replica, s, old) {
				t.Errorf("the table was dropped")
			}
			if r.Shards[0].Blocked != "" || r.Failed() {
				t.Errorf("a reader defers one table, it does not block the shard: blocked %q error %q", r.Shards[0].Blocked, r.Shards[0].Error)
			}
		})
	}
}

// TestLockSourceIsPrecise: where the replica says who holds which metadata lock, a
// transaction on the replica that read another table does not hold this one back.
func TestLockSourceIsPrecise(t *testing.T) {
	primary, replica, s := rptLeftovers(t, "rpt", "__rpt_old")
	lockSource(t, replica, true)
	reader, _ := replicaConn(t)
	testdb.Exec(t, reader, "BEGIN", "SELECT COUNT(*) FROM "+q(s, "rpt"))
	t.Cleanup(func() { _, _ = reader.ExecContext(context.Background(), "ROLLBACK") })
	r := janitor.New(config(t, s), nil).Run(context.Background(), true)
	if o := outcomes(r)["__rpt_old"]; o.Outcome != report.OutcomeDropped {
		t.Errorf("outcome %q (%s); a transaction on another table must not defer it", o.Outcome, o.Reason)
	}
	testdb.WaitReplica(t, primary, replica)
}

// TestRunningStatementOnReplicaDefers: a long report query on the replica naming the
// leftover (a name with a backtick and a non-ASCII letter) defers it.
func TestRunningStatementOnReplicaDefers(t *testing.T) {
	const base, old = "rapport`é", "__rapport`é_old"
	primary, replica, s := rptLeftovers(t, base, old)
	reader, id := replicaConn(t)
	done := make(chan error, 1)
	go func() {
		_, err := reader.ExecContext(context.Background(), "SELECT SLEEP(30) FROM "+q(s, old)+" LIMIT 1")
		done <- err
	}()
	t.Cleanup(func() {
		testdb.Exec(t, replica, fmt.Sprintf("KILL QUERY %d", id))
		<-done
	})
	// Poll until the statement runs (a deadline, not a sleep).
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := replica.Get(&n, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND STATE = 'User sleep'", id); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reader's statement never showed in the replica's process list")
		}
		time.Sleep(20 * time.Millisecond) // polling, with a deadline
	}
	r := janitor.New(config(t, s), nil).Run(context.Background(), true)
	o := outcomes(r)[old]
	t.Logf("reason: %s", o.Reason)
	if o.Outcome != report.OutcomeDeferred || !strings.Contains(o.Reason, "replica sandbox-replica") ||
		!strings.Contains(o.Reason, fmt.Sprintf("session %d ", id)) || !strings.Contains(o.Reason, "runs a statement naming it") {
		t.Errorf("outcome %q (%s); want deferred naming sandbox-replica and session %d", o.Outcome, o.Reason, id)
	}
	if !exists(t, primary, s, old) || !exists(t, replica, s, old) {
		t.Errorf("the table was dropped")
	}
}

// TestReaderAfterTheCheckBlocksTheShard: a reader that starts on the replica between the
// check and the DROP makes the replica's applier wait for the table's metadata lock.
// janitor sees it after the DROP, stops dropping on the shard, says so in the report and
// counts it; once the reader ends, replication catches up.
func TestReaderAfterTheCheckBlocksTheShard(t *testing.T) {
	primary, replica, s := rptLeftovers(t, "rpt", "__rpt_old")
	testdb.Exec(t, primary, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY)")
	testdb.WaitReplica(t, primary, replica)
	reader, _ := replicaConn(t)
	released := false
	release := func() {
		if !released {
			released = true
			testdb.Exec(t, reader, "ROLLBACK")
		}
	}
	t.Cleanup(release)

	cfg := config(t, s)
	cfg.Throttle.MaxReplicaLag = 10 * time.Second // the watch's deadline: long enough to see the wait
	j := janitor.New(cfg, nil)
	m := metrics.New("test")
	m.Init([]string{"sandbox"})
	var first string
	var once sync.Once
	j.Hooks.ReplicaBlocked = m.ReplicaBlocked
	j.Hooks.BeforeDrop = func(_, schema, table string) {
		once.Do(func() {
			first = table
			testdb.Exec(t, reader, "BEGIN", "SELECT COUNT(*) FROM "+q(schema, table))
		})
	}
	r := j.Run(context.Background(), true)
	got := outcomes(r)
	if got[first].Outcome != report.OutcomeDropped {
		t.Fatalf("%s: %s (%s); want dropped", first, got[first].Outcome, got[first].Reason)
	}
	second := "__orders_old"
	if first == second {
		second = "__rpt_old"
	}
	b := r.Shards[0].Blocked
	t.Logf("blocked: %s", b)
	if !strings.Contains(b, "replica sandbox-replica") || !strings.Contains(b, "waits for a table metadata lock") || !strings.Contains(b, "after dropping") {
		t.Errorf("blocked = %q; want the replica's applier wait, seen after the DROP", b)
	}
	if o := got[second]; o.Outcome != report.OutcomeDeferred || o.Reason != b || !exists(t, primary, s, second) {
		t.Errorf("%s: %s (%s); want deferred with the shard's reason, and kept", second, o.Outcome, o.Reason)
	}
	if c := r.Shards[0].BlockedCode; c != report.BlockedReplicaApplier {
		t.Errorf("blocked_code %q, want %q", c, report.BlockedReplicaApplier)
	}
	if v := counter(t, m, "janitor_replica_applier_blocked_total"); v != 1 {
		t.Errorf("janitor_replica_applier_blocked_total = %v, want 1", v)
	}
	// The applier really waits behind the reader; it recovers once the reader ends.
	var state sql.NullString
	if err := replica.Get(&state, "SELECT MAX(STATE) FROM information_schema.PROCESSLIST WHERE USER = 'system user' AND STATE LIKE 'Waiting for table metadata lock%'"); err != nil || !state.Valid {
		t.Errorf("the replica's applier is not waiting (%v %v): the test did not set up the stall", state, err)
	}
	release()
	testdb.WaitReplica(t, primary, replica)
	if exists(t, replica, s, first) {
		t.Errorf("%s still on the replica after the reader ended", first)
	}
}

// gaugeWith reads the series of gauge family name with labels shard and reason.
func gaugeWith(t *testing.T, m *metrics.Metrics, name, shard, reason string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, metric := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range metric.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["shard"] == shard && l["reason"] == reason {
				return metric.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("%s{shard=%q,reason=%q} not exported", name, shard, reason)
	return 0
}

// counter reads a counter family's single series from m's registry.
func counter(t *testing.T, m *metrics.Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal(errors.New(name + ": no single series"))
	return 0
}
