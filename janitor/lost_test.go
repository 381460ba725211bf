package janitor_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// TestDropKilledIsSentAgainAfterTheGuard: a DROP whose session ends while it waits for a
// metadata lock did not happen: janitor reconnects, the re-check finds the table still
// there, and the DROP goes out again only through the guard; the table is reported
// dropped once, not "confirmed gone".
func TestDropKilledIsSentAgainAfterTheGuard(t *testing.T) {
	ctx := context.Background()
	db, s, cfg := leftoverShard(t, false)
	cfg.Execute.LockWaitTimeout = 20 * time.Second // the test ends the session long before
	killed := killWhenWaiting(ctx, t, db, s, "DROP /* janitor */ TABLE")
	var drops int
	j := janitor.New(cfg, nil)
	j.Hooks.BeforeDrop = func(string, string, string) { drops++ }
	r := j.Run(ctx, true)
	if err := <-killed; err != nil {
		t.Fatal(err)
	}
	o := outcomes(r)["__orders_old"]
	if o.Outcome != report.OutcomeDropped || strings.Contains(o.Reason, "confirmed") || r.Failed() {
		t.Errorf("__orders_old: %q (%s), failed %v; want dropped by the second DROP", o.Outcome, o.Reason, r.Failed())
	}
	if exists(t, db, s, "__orders_old") {
		t.Error("__orders_old still exists")
	}
	if drops != 2 {
		t.Errorf("%d DROPs cleared by the guard, want 2 (the killed one, and one after the reconnect)", drops)
	}
}

// killWaiting ends the session whose statement starting with prefix waits for a metadata
// lock that holder's transaction holds, then ends that transaction.
func killWaiting(ctx context.Context, db *sqlx.DB, holder *sqlx.Conn, prefix string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var id int64
		err := db.GetContext(ctx, &id, `SELECT ID FROM information_schema.PROCESSLIST
			WHERE INFO LIKE CONCAT(?, '%') AND STATE LIKE 'Waiting for table metadata lock%' LIMIT 1`, prefix)
		if err == nil {
			if _, err := db.ExecContext(ctx, fmt.Sprintf("KILL CONNECTION %d", id)); err != nil {
				return err
			}
			// KILL only flags the session: release the lock once it is gone, or the
			// statement could get the lock first and take effect.
			for {
				var n int
				if err := db.GetContext(ctx, &n, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id); err != nil {
					return err
				}
				if n == 0 {
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("session %d still there after KILL", id)
				}
				<-time.After(10 * time.Millisecond) // polling, with a deadline
			}
			_, err := holder.ExecContext(ctx, "ROLLBACK")
			return err
		}
		<-time.After(20 * time.Millisecond) // polling, with a deadline
	}
	return fmt.Errorf("%q never waited for the metadata lock", prefix)
}

// TestAnswerLost: the connection is cut after a statement went out and before its
// answer came back (a network cut: the server took the statement), at each statement
// that changes a table. The table's outcome is what the server did, read again on a new
// connection through the guard; a DROP or RENAME the server took is not sent again.
func TestAnswerLost(t *testing.T) {
	for _, tc := range []struct {
		name, stmt string
		hold       bool
		want       string // the outcome
		reason     string // in the outcome's reason
		drops      int    // DROPs cleared by the guard
	}{
		{"hold comment", "ALTER /* janitor */ TABLE", true, report.OutcomeHeld, "held as", 0},
		{"hold rename", "RENAME /* janitor */ TABLE", true, report.OutcomeHeld, "held (confirmed after the connection was lost", 0},
		{"drop", "DROP /* janitor */ TABLE", false, report.OutcomeDropped, "dropped (confirmed gone after the connection was lost)", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, s, cfg := leftoverShard(t, tc.hold)
			// MariaDB renews CREATE_TIME on a comment change: a change in another second
			// than the table's creation must not read, on the retry, as a replaced table.
			olderThanASecond(t, db, s, "__orders_old")
			p := cutProxy(t, cfg.Shards[0].DSN, tc.stmt)
			cfg.Shards[0].DSN = p.dsn
			var drops int
			j := janitor.New(cfg, nil)
			j.Hooks.BeforeDrop = func(string, string, string) { drops++ }
			r := j.Run(ctx, true)
			o := outcomes(r)["__orders_old"]
			p.wantCut(t)
			if o.Outcome != tc.want || !strings.Contains(o.Reason, tc.reason) || r.Failed() {
				t.Errorf("__orders_old: %q (%s), failed %v; want %q, %q", o.Outcome, o.Reason, r.Failed(), tc.want, tc.reason)
			}
			if exists(t, db, s, "__orders_old") {
				t.Error("__orders_old is still under its name")
			}
			if drops != tc.drops {
				t.Errorf("%d DROPs sent, want %d", drops, tc.drops)
			}
			if !tc.hold {
				return
			}
			// One hold, its record whole: the original comment kept, not a record
			// written by the attempt whose answer was lost.
			var comments []string
			if err := db.Select(&comments, "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> 'orders'", s); err != nil {
				t.Fatal(err)
			}
			if len(comments) != 1 {
				t.Fatalf("tables left beside orders: %q; want the one hold", comments)
			}
			if h, ok := discovery.ParseHold(comments[0]); !ok || h.Table != "__orders_old" || h.Comment != "" {
				t.Errorf("hold record %q: want one for __orders_old with the original (empty) comment", comments[0])
			}
		})
	}
}

// TestPurgeBatchAnswerLost: the connection cut after a purge batch's DELETE went out (its
// transaction never commits): janitor reconnects, the guard clears the table again, and
// the purge goes on to the DROP.
func TestPurgeBatchAnswerLost(t *testing.T) {
	ctx, db, _, s, cfg, _ := purgeShard(t, 10*time.Second)
	p := cutProxy(t, cfg.Shards[0].DSN, "DELETE /* janitor purge */")
	cfg.Shards[0].DSN = p.dsn
	var drops int
	j := janitor.New(cfg, nil)
	j.Hooks.BeforeDrop = func(string, string, string) { drops++ }
	r := j.Run(ctx, true)
	p.wantCut(t)
	if o := outcomes(r)["__a_old"]; o.Outcome != report.OutcomeDropped || r.Failed() || drops != 1 {
		t.Errorf("__a_old: %q (%s), failed %v, %d DROPs; want dropped by one DROP", o.Outcome, o.Reason, r.Failed(), drops)
	}
	if exists(t, db, s, "__a_old") {
		t.Error("__a_old still exists")
	}
}

// proxy forwards connections to a server; the first time a client sends a packet
// holding stmt, the server's answer to it is swallowed and both sides of that connection
// closed.
type proxy struct {
	dsn string
	cut atomic.Bool
	// before, when set, runs when the statement is seen, before it goes on to the server.
	before func()
}

// wantCut fails the test at once unless the proxy cut a connection (if the deadline came
// before the statement, it cut none).
func (p *proxy) wantCut(t *testing.T) {
	t.Helper()
	if !p.cut.Load() {
		t.Fatal("the proxy cut no connection")
	}
}

func cutProxy(t *testing.T, dsn, stmt string) *proxy {
	t.Helper()
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	upstream := mc.Addr
	mc.Addr = ln.Addr().String()
	p := &proxy{dsn: mc.FormatDSN()}
	var armed atomic.Bool
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			var cutThis atomic.Bool
			go func() {
				defer u.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 && strings.Contains(string(buf[:n]), stmt) && armed.CompareAndSwap(false, true) {
						cutThis.Store(true)
						if p.before != nil {
							p.before()
						}
					}
					if n > 0 {
						if _, werr := u.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer c.Close()
				defer u.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := u.Read(buf)
					if n > 0 && cutThis.Load() {
						p.cut.Store(true)
						return
					}
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

// TestPurgeMarkAnswerLost: the connection cut after the comment change that records, in a
// held table's hold record, that its purge begins. It reported the table failed (the run
// exited 1); now janitor reconnects, goes through the guard again, and purges and drops it.
func TestPurgeMarkAnswerLost(t *testing.T) {
	db, s, cfg, hold := heldLargeTable(t)
	cfg.Execute.LargeTable = janitor.LargeTableConfig{Strategy: "purge", ThresholdBytes: 0, BatchRows: 500, BatchPause: time.Millisecond}
	p := cutProxy(t, cfg.Shards[0].DSN, "ALTER /* janitor */ TABLE")
	cfg.Shards[0].DSN = p.dsn
	olderThanASecond(t, db, s, hold)
	replicaQuiet(t, db, s, hold)
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	r := j.Run(context.Background(), true)
	p.wantCut(t)
	if o := outcomes(r)[hold]; o.Outcome != report.OutcomeDropped || r.Failed() {
		t.Errorf("%s: %q (%s), failed %v; want dropped after a reconnect", hold, o.Outcome, o.Reason, r.Failed())
	}
	if exists(t, db, s, hold) {
		t.Errorf("%s still exists", hold)
	}
}

// olderThanASecond waits until the table's CREATE_TIME is more than a second behind the
// server's clock, so that a statement that renews it shows a different one.
func olderThanASecond(t *testing.T, db *sqlx.DB, schema, table string) {
	t.Helper()
	createdAgo(t, db, schema, table, 2)
}

// TestAnswerLostPastTheDeadline: a DROP or RENAME sent before execute.deadline whose
// answer is lost after it: the reconnect that learns what the server did is not cut by
// the budget (no statement follows it; the guard of the next one stops at the deadline).
// The reconnect was cut at once, and the table reported deferred though the server had
// dropped or renamed it (a hold with no held row, no Held hook).
func TestAnswerLostPastTheDeadline(t *testing.T) {
	for _, tc := range []struct {
		name, stmt string
		hold       bool
		want       string
	}{
		{"drop", "DROP /* janitor */ TABLE", false, report.OutcomeDropped},
		{"hold rename", "RENAME /* janitor */ TABLE", true, report.OutcomeHeld},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, s, cfg := leftoverShard(t, tc.hold)
			cfg.Execute.Deadline = 5 * time.Second // past discovery on a busy machine
			p := cutProxy(t, cfg.Shards[0].DSN, tc.stmt)
			cfg.Shards[0].DSN = p.dsn
			deadline := time.Now().Add(cfg.Execute.Deadline)
			p.before = func() {
				for time.Now().Before(deadline.Add(100 * time.Millisecond)) {
					<-time.After(10 * time.Millisecond) // polling the clock: the deadline is the condition
				}
			}
			var held int
			j := janitor.New(cfg, nil)
			j.Hooks.HoldMoved = func(mv discovery.HoldMove) {
				if mv.To == discovery.HoldRenamed {
					held++
				}
			}
			r := j.Run(ctx, true)
			p.wantCut(t)
			o := outcomes(r)["__orders_old"]
			if o.Outcome != tc.want || !strings.Contains(o.Reason, "confirmed") || r.Failed() {
				t.Errorf("__orders_old: %q (%s), failed %v; want %q, confirmed after the reconnect", o.Outcome, o.Reason, r.Failed(), tc.want)
			}
			if exists(t, db, s, "__orders_old") {
				t.Error("__orders_old is still under its name")
			}
			if tc.hold && held != 1 {
				t.Errorf("HoldMoved told of %d RENAMEs to the hold name, want 1", held)
			}
		})
	}
}

// TestHoldRenameKilled: the hold's RENAME ended while it waits for a metadata lock, after
// the comment change that wrote the hold record (which renewed CREATE_TIME) took effect.
// The retry knows the record as its own and holds the table; it skipped it as replaced.
func TestHoldRenameKilled(t *testing.T) {
	ctx := context.Background()
	db, s, cfg := leftoverShard(t, true)
	cfg.Execute.LockWaitTimeout = 20 * time.Second // the test ends the session long before
	olderThanASecond(t, db, s, "__orders_old")
	holder, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Close() })
	p := cutProxy(t, cfg.Shards[0].DSN, "RENAME /* janitor */ TABLE")
	cfg.Shards[0].DSN = p.dsn
	killed := make(chan error, 1)
	p.before = func() {
		// Between the comment change and the RENAME: a session takes the table's
		// metadata lock, so the RENAME waits, and the test ends the RENAME's session.
		if _, err := holder.ExecContext(ctx, "BEGIN"); err != nil {
			killed <- err
			return
		}
		if _, err := holder.ExecContext(ctx, "SELECT 1 FROM "+q(s, "__orders_old")+" LIMIT 0"); err != nil {
			killed <- err
			return
		}
		go func() { killed <- killWaiting(ctx, db, holder, "RENAME /* janitor */ TABLE") }()
	}
	heldAfterKill(ctx, t, db, s, cfg, killed)
}

// replicaQuiet waits until the replica has applied everything and no session there holds
// a metadata lock on the table: a 3,000-row table's background work on the replica
// (InnoDB's statistics, seen as a session 0) holds one for a moment after the load, and
// the replica checks defer the table then, as they must.
func replicaQuiet(t *testing.T, db *sqlx.DB, schema, table string) {
	t.Helper()
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	testdb.WaitReplica(t, db, replica)
	q := "SELECT COUNT(*) FROM information_schema.METADATA_LOCK_INFO WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?"
	if !isMariaDB(t, replica) {
		q = "SELECT COUNT(*) FROM performance_schema.metadata_locks WHERE OBJECT_SCHEMA = ? AND OBJECT_NAME = ?"
	}
	deadline := time.Now().Add(15 * time.Second)
	quiet := 0
	for quiet < 5 { // five readings in a row: not between two of the background's locks
		var n int
		if err := replica.Get(&n, q, schema, table); err != nil {
			t.Fatal(err)
		}
		if quiet++; n > 0 {
			quiet = 0
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s.%s: the replica still holds a metadata lock on it after 15 s", schema, table)
		}
		<-time.After(100 * time.Millisecond) // polling, with a deadline
	}
}
