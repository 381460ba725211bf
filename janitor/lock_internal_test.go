package janitor

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/janitorhq/janitor/internal/testdb"
)

// TestReconnectReclaimsItsOwnSession: after the dropping connection is lost while the
// server keeps its session (a network blip it did not see, or a DROP that outlived its
// client), the session still holds the drop lock. The reconnect must tell it from
// another janitor: end it when idle, wait for it while it runs a statement.
func TestReconnectReclaimsItsOwnSession(t *testing.T) {
	ctx := context.Background()
	cfg := Defaults()
	cfg.Shards = []ShardConfig{{Name: "sandbox", DSN: testdb.PrimaryDSN(t)}}
	cfg.Execute.LockWaitTimeout, cfg.Execute.DropTimeout = time.Second, 10*time.Second
	j := New(cfg, nil)
	db, err := j.openForDrops(ctx, cfg.Shards[0].DSN)
	if err != nil {
		t.Fatal(err)
	}
	r := &shardRun{j: j, sc: cfg.Shards[0], db: db, log: j.log}
	defer r.close()
	defer db.Close()
	if err := r.connect(ctx, ""); err != nil {
		t.Fatal(err)
	}
	other := testdb.Primary(t)
	holder := func() int64 {
		var h sql.NullInt64
		if err := other.Get(&h, "SELECT IS_USED_LOCK(?)", DropLockName); err != nil {
			t.Fatal(err)
		}
		return h.Int64
	}

	// Idle: the lost session is ended and the lock taken.
	lost, lostID := r.conn, r.connID
	r.conn = nil // lost without ending its session
	if err := r.connect(ctx, r.server.Identity()); err != nil {
		t.Fatalf("reconnect with our idle session holding the lock: %v", err)
	}
	if h := holder(); h != r.connID || h == lostID {
		t.Errorf("lock held by %d, want the new session %d (old %d)", h, r.connID, lostID)
	}
	_ = lost.Close()

	// Busy: the lost session runs a statement; the reconnect waits for it to finish
	// rather than kill it.
	busy, busyID := r.conn, r.connID
	done := make(chan error, 1)
	go func() {
		var slept int
		err := busy.QueryRowxContext(ctx, "SELECT SLEEP(1)").Scan(&slept)
		if err == nil && slept != 0 {
			err = errors.New("SLEEP was interrupted")
		}
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for { // wait until the statement runs, so the session is busy, not idle
		var cmd string
		if err := other.Get(&cmd, "SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = ?", busyID); err == nil && cmd == "Query" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the busy session never started its statement")
		}
		time.Sleep(10 * time.Millisecond) // polling the processlist, with a deadline
	}
	r.conn = nil
	if err := r.connect(ctx, r.server.Identity()); err != nil {
		t.Fatalf("reconnect with our busy session holding the lock: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("the previous session's statement did not finish undisturbed: %v", err)
	}
	if h := holder(); h != r.connID {
		t.Errorf("lock held by %d, want %d", h, r.connID)
	}
	_ = busy.Close()

	// After a server restart connection ids start again: a holder with our old id is
	// somebody else's, even if the numbers match. (Simulated: as if the server we knew
	// had started an hour earlier than this one.)
	mine := r.conn
	r.conn = nil
	r.serverStarted = r.serverStarted.Add(-time.Hour)
	err = r.connect(ctx, r.server.Identity())
	var restarted *errStop
	if !errors.As(err, &restarted) {
		t.Errorf("reconnect after a restart with our old id holding the lock: %v, want errStop (not a kill)", err)
	}
	if h := holder(); h != r.connID {
		t.Errorf("the holder %d was disturbed; want %d still holding", h, r.connID)
	}
	r.conn = mine

	// Another janitor's session is left alone.
	mine = r.conn
	r.conn = nil
	r.connID = -1 // as if this run had never held the lock
	err = r.connect(ctx, r.server.Identity())
	var stop *errStop
	if !errors.As(err, &stop) {
		t.Errorf("reconnect with another janitor holding the lock: %v, want errStop", err)
	}
	r.conn = mine
}
