package janitor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// heldFKChild is fkShard with its leftovers held by a first run: __orders_old, held,
// keeps its foreign key to the live parent (returned quoted). cfg is the hold
// configuration, with the 3 s lock wait a restore used before it went through the guard.
func heldFKChild(t *testing.T) (primary, replica *sqlx.DB, s, parent string, cfg janitor.Config, hold string) {
	t.Helper()
	primary, replica, s, other, p := fkShard(t)
	cfg = holdConfig(t, s)
	cfg.Execute.LockWaitTimeout = 3 * time.Second
	holdOrders(t, cfg)
	hold = heldName(t, primary, s, "__orders_old")
	testdb.WaitReplica(t, primary, replica)
	return primary, replica, s, q(other, p), cfg, hold
}

// holdOrders holds __orders_old with a first run of cfg.
func holdOrders(t *testing.T, cfg janitor.Config) {
	t.Helper()
	if o := outcomes(janitor.New(cfg, nil).Run(context.Background(), true))["__orders_old"]; o.Outcome != report.OutcomeHeld {
		t.Fatalf("__orders_old: %+v, want held", o)
	}
}

// heldOrders is oneLeftover's __orders_old held by a first run: the primary, the schema
// and the hold configuration.
func heldOrders(t *testing.T) (*sqlx.DB, string, janitor.Config) {
	t.Helper()
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	oneLeftover(t, db, s)
	cfg := holdConfig(t, s)
	holdOrders(t, cfg)
	return db, s, cfg
}

// replicaFlows checks that replication goes on and that a read of table on the replica
// does not queue: a statement stalled there behind a reader fails it.
func replicaFlows(t *testing.T, primary, replica *sqlx.DB, s, table string) {
	t.Helper()
	testdb.Exec(t, primary, fmt.Sprintf("CREATE TABLE %s (id INT PRIMARY KEY)", q(s, fmt.Sprintf("after_%d", time.Now().UnixNano()))))
	testdb.WaitReplicaWithin(t, primary, replica, 10)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	if err := replica.GetContext(ctx, &n, "SELECT COUNT(*) FROM "+table); err != nil {
		t.Errorf("a read of %s on the replica: %v", table, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a read of %s on the replica queued %s", table, d)
	}
}

// TestRestoreWaitsForFKReaders: the review's finding 1. A restore's RENAME back of pt-osc's
// held __orders_old locks its live foreign-key parent on MySQL 8+, like the hold's RENAME
// and the DROP. With a report reading the parent in an open transaction, on the replica
// or the primary, `janitor restore` now defers (ErrRestoreDeferred, naming the server,
// the session and the live table), renames nothing, and the parent's reads never queue;
// once the reader ends, the restore goes through (TestRestoreAfterTheReaderEnds).
// Before, the restore renamed at once: on the replica the applier waited on the parent
// behind the report, and the parent's reads there queued behind it; on the primary the
// parent's reads queued 3 s (execute.lock_wait_timeout) and the restore failed with 1205.
// MariaDB's RENAME locks no parent: it restores at once.
func TestRestoreWaitsForFKReaders(t *testing.T) {
	for _, where := range []string{"primary", "replica"} {
		t.Run(where, func(t *testing.T) {
			primary, replica, s, parent, cfg, hold := heldFKChild(t)
			server, name := primary, "primary sandbox"
			if where == "replica" {
				server, name = replica, "replica sandbox-replica"
			}
			id := liveReader(t, server, parent)
			stop := func() time.Duration { return 0 }
			if where == "primary" {
				stop = probe(t, primary, parent)
			}
			_, err := janitor.New(cfg, nil).Restore(context.Background(), "sandbox", s, "__orders_old")
			worst := stop()
			if where == "replica" {
				replicaFlows(t, primary, replica, s, parent)
			}
			t.Logf("restore with a reader of the parent on the %s: %v; slowest read of the parent: %s", where, err, worst.Round(time.Millisecond))
			if !testdb.IsMySQL(t) {
				if err != nil || !exists(t, primary, s, "__orders_old") {
					t.Errorf("restore: %v; want restored: MariaDB's RENAME does not lock the parent", err)
				}
				return
			}
			if !errors.Is(err, janitor.ErrRestoreDeferred) {
				t.Fatalf("restore: %v; want it deferred", err)
			}
			for _, want := range []string{name, fmt.Sprintf("session %d ", id), parent, "foreign-key parent"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("reason %q; want it to name %q", err, want)
				}
			}
			if worst > time.Second {
				t.Errorf("a read of the live parent on the primary queued %s behind the restore", worst)
			}
			if !exists(t, primary, s, hold) || exists(t, primary, s, "__orders_old") {
				t.Fatal("renamed despite the reader")
			}
		})
	}
}

// TestRestoreAfterTheReaderEnds: a deferred restore goes through once the reader has
// ended, and replication follows it.
func TestRestoreAfterTheReaderEnds(t *testing.T) {
	primary, replica, s, parent, cfg, hold := heldFKChild(t)
	_, end := openReader(t, replica, parent)
	_, err := janitor.New(cfg, nil).Restore(context.Background(), "sandbox", s, "__orders_old")
	if testdb.IsMySQL(t) && !errors.Is(err, janitor.ErrRestoreDeferred) {
		t.Fatalf("restore with a young reader on the replica: %v; want it deferred", err)
	}
	end()
	if err != nil {
		restore(t, cfg, s, "__orders_old")
	}
	testdb.WaitReplicaWithin(t, primary, replica, 10)
	if !exists(t, primary, s, "__orders_old") || exists(t, replica, s, hold) || !exists(t, replica, s, "__orders_old") {
		t.Error("not restored on the primary and the replica")
	}
}

// TestRestoreWaitsForAStoppedApplier: the throttle is part of a restore's guard. With the
// replica's applier stopped, the restore is deferred with the throttle's reason and
// nothing is renamed. Before, the restore renamed regardless, and the stopped replica
// kept the hold name.
func TestRestoreWaitsForAStoppedApplier(t *testing.T) {
	db, s, cfg := heldOrders(t)
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	cfg.Throttle.MaxWait = 500 * time.Millisecond
	testdb.WaitReplica(t, db, replica)
	testdb.StopReplicaSQL(t, replica)
	_, err := janitor.New(cfg, nil).Restore(context.Background(), "sandbox", s, "__orders_old")
	t.Logf("restore with the replica's applier stopped: %v", err)
	if !errors.Is(err, janitor.ErrRestoreDeferred) || exists(t, db, s, "__orders_old") {
		t.Errorf("restore with the replica's applier stopped: %v; want it deferred, nothing renamed", err)
	}
}

// TestWatchHoldsDefersARestore: finding 1 as the review met it. An application asks for
// the held __orders_old by its name (1146), and a report on the replica reads the live
// parent in an open transaction. `janitor holds --execute` now reports the row deferred,
// its reason beginning "restore deferred" and naming the replica and the parent, tells
// Hooks.RestoreDeferred (janitor_hold_restore_deferred_total, alert
// JanitorHoldRestoreDeferred), and replication goes on; the next look, once the report
// has ended, restores it. Before, it restored at once and the replica's applier waited
// behind the report.
func TestWatchHoldsDefersARestore(t *testing.T) {
	primary, replica, s, parent, cfg, hold := heldFKChild(t)
	requireDigests(t, primary)
	appDSN, _ := account(t, []string{"SELECT ON " + dbconn.QuoteIdent(s) + ".*"})
	app := runApplication(t, appDSN, "SELECT id FROM "+q(s, "__orders_old")+" WHERE id = 1", 200*time.Millisecond)
	waitFor(t, "the application's reads fail on the held name", 10*time.Second, func() bool { return app.failed.Load() >= 2 })
	_, end := openReader(t, replica, parent)

	var deferred atomic.Int64
	j := janitor.New(cfg, nil)
	j.Hooks.RestoreDeferred = func(string) { deferred.Add(1) }
	o := outcomes(j.WatchHolds(context.Background(), true))[hold]
	replicaFlows(t, primary, replica, s, parent)
	t.Logf("%s: %s (%s)", hold, o.Outcome, o.Reason)
	if !testdb.IsMySQL(t) {
		// MariaDB's RENAME locks no foreign-key parent (TestDDLLocksOnFKTables): the
		// reader of the parent holds nothing the restore needs, and replication goes on.
		if o.Outcome != report.OutcomeRestored || deferred.Load() != 0 {
			t.Errorf("%s: %+v, deferred %d times; want restored at once on %s", hold, o, deferred.Load(), testdb.Flavor(t))
		}
		return
	}
	if o.Outcome != report.OutcomeDeferred || !strings.HasPrefix(o.Reason, "restore deferred: ") ||
		!strings.Contains(o.Reason, "replica sandbox-replica") || !strings.Contains(o.Reason, parent) {
		t.Errorf("%s: %+v; want the restore deferred, naming the replica and the live parent", hold, o)
	}
	if deferred.Load() != 1 {
		t.Errorf("Hooks.RestoreDeferred told %d times, want 1", deferred.Load())
	}
	if !exists(t, primary, s, hold) {
		t.Fatal("renamed despite the reader")
	}
	end()
	if o := outcomes(janitor.New(cfg, nil).WatchHolds(context.Background(), true))[hold]; o.Outcome != report.OutcomeRestored || !exists(t, primary, s, "__orders_old") {
		t.Errorf("once the report has ended: %+v; want restored", o)
	}
}

// TestYoungFKReaderOnReplicaDefersTheHold: the review's finding 4. A report on the
// replica starts reading the live parent a moment before the run: its session is under
// a second old. A replica's applier waits for it without a limit, so any holder there
// defers the hold's RENAME, whatever its age, and replication goes on. Before, holders
// under 2 s were taken for ordinary traffic the 1 s lock wait bounds (true on the
// primary only): the RENAME was sent and the replica's applier waited behind the report.
func TestYoungFKReaderOnReplicaDefersTheHold(t *testing.T) {
	primary, replica, s, other, p := fkShard(t)
	parent := q(other, p)
	id, _ := openReader(t, replica, parent)
	r := janitor.New(holdConfig(t, s), nil).Run(context.Background(), true)
	replicaFlows(t, primary, replica, s, parent)
	o := outcomes(r)["__orders_old"]
	t.Logf("__orders_old: %s (%s)", o.Outcome, o.Reason)
	if !testdb.IsMySQL(t) {
		if o.Outcome != report.OutcomeHeld {
			t.Errorf("outcome %q; want held: MariaDB's RENAME does not lock the parent", o.Outcome)
		}
		return
	}
	if o.Outcome != report.OutcomeDeferred || !strings.Contains(o.Reason, fmt.Sprintf("replica sandbox-replica: session %d ", id)) || !strings.Contains(o.Reason, parent) {
		t.Errorf("%+v; want deferred, naming the young reader on the replica and the parent", o)
	}
}

// TestRestoreWhileARunHoldsItsLock: the review's finding 5. While another janitor holds
// janitor.dropper (taken here from a test session exactly as a run takes it), a restore
// now completes: it takes janitor.restorer and the tables' own locks, not the run's.
// Before, it answered "another janitor holds lock" and the table stayed missing until
// the run ended. And a RENAME back cannot race a run's purge and DROP of the same held
// table: a restore asked for while a real run purges it finds the table's lock taken and
// is deferred; the run drops the table.
func TestRestoreWhileARunHoldsItsLock(t *testing.T) {
	t.Run("run lock held", func(t *testing.T) {
		db, s, cfg := heldOrders(t)
		other, err := db.Connx(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = other.Close() })
		var got int
		if err := other.QueryRowxContext(context.Background(), "SELECT GET_LOCK(?, 0)", janitor.DropLockName).Scan(&got); err != nil || got != 1 {
			t.Fatalf("take %s: %d %v", janitor.DropLockName, got, err)
		}
		t.Cleanup(func() { _, _ = other.ExecContext(context.Background(), "DO RELEASE_LOCK(?)", janitor.DropLockName) })
		if done := restore(t, cfg, s, "__orders_old"); len(done) != 1 || !exists(t, db, s, "__orders_old") {
			t.Fatalf("restore while a run holds its lock: %+v", done)
		}
	})
	t.Run("mid-purge", func(t *testing.T) {
		db, s, cfg, hold := heldLargeTable(t)
		cfg.Execute.LargeTable = janitor.LargeTableConfig{Strategy: "purge", ThresholdBytes: 0, BatchRows: 500, BatchPause: time.Millisecond}
		j := janitor.New(cfg, nil)
		j.ClockShift = testHold + time.Minute
		var restoreErr error
		tried := false
		j.Hooks.PurgeBatch = func(_, _, _ string, purged int64) {
			if purged > 0 && !tried {
				tried = true
				_, restoreErr = janitor.New(cfg, nil).Restore(context.Background(), "sandbox", s, hold)
			}
		}
		o := outcomes(j.Run(context.Background(), true))[hold]
		if !tried {
			t.Fatalf("the purge never reached a second batch: %+v", o)
		}
		t.Logf("restore during the purge: %v; the run: %s (%s)", restoreErr, o.Outcome, o.Reason)
		if !errors.Is(restoreErr, janitor.ErrRestoreDeferred) || !strings.Contains(restoreErr.Error(), "another janitor") {
			t.Errorf("restore during the run's purge of the table: %v; want it deferred on the table's lock", restoreErr)
		}
		if o.Outcome != report.OutcomeDropped || exists(t, db, s, hold) || exists(t, db, s, "__a_old") {
			t.Errorf("the run: %+v; want the purged table dropped, and nothing renamed back", o)
		}
	})
}
