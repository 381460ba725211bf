package janitor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
)

// TestDDLLocksOnFKTables measures what locksFKTables assumes, with the statements janitor
// sends: with a session holding a live table in an open transaction, does the statement
// on a leftover joined to it by a foreign key wait for that table's metadata lock? The
// leftover is a child (pt-osc's _orders_old, parent customers live) or a parent (a live
// ledger references it). Measured on MySQL 9.7.4: the RENAME and the DROP lock both
// sides, the comment ALTER only the children (the parents it takes SHARED_UPGRADABLE,
// which a reader does not block), the purge's DELETE neither. MariaDB 10.11 locks
// neither side with any of them. A server that starts to (a new version) fails here:
// locksFKTables must then say so, or its readers go unseen.
func TestDDLLocksOnFKTables(t *testing.T) {
	ctx := context.Background()
	db := testdb.Primary(t)
	srv, err := discovery.ReadServer(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		leftover, live string
		child          bool // the leftover is the child
	}{{"_orders_old", "customers", true}, {"_acct_old", "ledger", false}} {
		for _, stmt := range []string{"comment ALTER", "RENAME", "DROP", "purge DELETE"} {
			t.Run(c.leftover+"/"+stmt, func(t *testing.T) {
				t.Parallel() // each waits up to its 1s lock wait: together, not in turn
				s := testdb.Schema(t, db)
				conn, err := db.Connx(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				leftover, live := dbconn.QualifiedName(s, c.leftover), dbconn.QualifiedName(s, c.live)
				if c.child {
					testdb.Exec(t, conn, "CREATE TABLE "+live+" (id INT PRIMARY KEY)", "INSERT INTO "+live+" VALUES (1)",
						"CREATE TABLE "+leftover+" (id INT PRIMARY KEY, c INT, FOREIGN KEY (c) REFERENCES "+live+" (id))",
						"INSERT INTO "+leftover+" VALUES (1, 1)")
				} else {
					testdb.Exec(t, conn, "CREATE TABLE "+leftover+" (id INT PRIMARY KEY)", "INSERT INTO "+leftover+" VALUES (1), (2)",
						"CREATE TABLE "+live+" (id INT PRIMARY KEY, a INT, FOREIGN KEY (a) REFERENCES "+leftover+" (id))",
						"INSERT INTO "+live+" VALUES (1, 1)")
				}
				reader, err := db.Connx(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer reader.Close()
				testdb.Exec(t, reader, "START TRANSACTION", "SELECT COUNT(*) FROM "+live)
				defer func() { _, _ = reader.ExecContext(ctx, "ROLLBACK") }()

				var id int64
				if err := conn.GetContext(ctx, &id, "SELECT CONNECTION_ID()"); err != nil {
					t.Fatal(err)
				}
				// A parent is dropped as janitor never would (it keeps a referenced table):
				// with foreign_key_checks off, to see the lock alone.
				testdb.Exec(t, conn, "SET SESSION lock_wait_timeout = 1", "SET SESSION foreign_key_checks = 0")
				done := make(chan error, 1)
				var purgeLocks []string
				go func() {
					var err error
					switch stmt {
					case "comment ALTER":
						err = setComment(ctx, conn, srv, leftover, "x")
					case "RENAME":
						_, err = conn.ExecContext(ctx, "RENAME /* janitor */ TABLE "+leftover+" TO "+dbconn.QualifiedName(s, "_janitor_hold_x"))
					case "DROP":
						_, err = conn.ExecContext(ctx, "DROP /* janitor */ TABLE "+leftover)
					case "purge DELETE":
						_, err = conn.ExecContext(ctx, "SET SESSION foreign_key_checks = 1")
						if err == nil {
							_, err = conn.ExecContext(ctx, "START TRANSACTION")
						}
						if err == nil {
							_, err = conn.ExecContext(ctx, "SELECT /* janitor purge */ 1 FROM "+leftover+" LIMIT 0")
						}
						if err == nil {
							// The child's row, or a parent's row no child references.
							_, err = conn.ExecContext(ctx, fmt.Sprintf("DELETE /* janitor purge */ FROM %s WHERE id = %d", leftover, map[bool]int{true: 1, false: 2}[c.child]))
						}
						purgeLocks = locksOf(ctx, db, srv.Flavor, id, s)
						_, _ = conn.ExecContext(ctx, "ROLLBACK")
					}
					done <- err
				}()
				// While the statement waits: its locks, and how long a plain read of the
				// live table queues behind it (what docs/dropping.md records).
				var locks []string
				queued := time.Duration(-1)
				for deadline := time.Now().Add(10 * time.Second); ; {
					select {
					case err = <-done:
					default:
						var state string
						if e := db.GetContext(ctx, &state, "SELECT COALESCE(MAX(STATE), '') FROM information_schema.PROCESSLIST WHERE ID = ?", id); e != nil {
							t.Fatal(e)
						}
						if !strings.HasPrefix(state, "Waiting for table metadata lock") {
							if time.Now().After(deadline) {
								t.Fatalf("%s neither finished nor waited", stmt)
							}
							time.Sleep(20 * time.Millisecond) // polling, with a deadline
							continue
						}
						locks = locksOf(ctx, db, srv.Flavor, id, s)
						start := time.Now()
						var n int
						if e := db.GetContext(ctx, &n, "SELECT COUNT(*) FROM "+live); e != nil {
							t.Fatal(e)
						}
						queued = time.Since(start)
						err = <-done
					}
					break
				}
				if stmt == "purge DELETE" {
					locks = purgeLocks
				}
				read := "the statement did not wait"
				if queued >= 0 {
					read = fmt.Sprintf("a read of %s queued %s behind it", c.live, queued.Round(time.Millisecond))
				}
				t.Logf("%s of %s: its locks %v; %s", stmt, c.leftover, locks, read)
				waited := dbconn.IsError(err, dbconn.ErrLockWaitTimeout)
				if err != nil && !waited {
					t.Fatalf("%s: %v", stmt, err)
				}
				want := locksFKTables(srv.Flavor) && stmt != "purge DELETE" && !(stmt == "comment ALTER" && c.child)
				t.Logf("%s %s of %s, a session holding %s (%s): waited %v", srv.Flavor, stmt, c.leftover, c.live, map[bool]string{true: "its parent", false: "its child"}[c.child], waited)
				if waited != want {
					t.Errorf("%s of %s waited for a reader of %s: %v; want %v", stmt, c.leftover, c.live, waited, want)
				}
			})
		}
	}
}

// locksOf lists the metadata locks the session id holds or waits for in schema, as the
// server's lock list shows them (empty where it has none).
func locksOf(ctx context.Context, db *sqlx.DB, f discovery.Flavor, id int64, schema string) []string {
	q := `SELECT CONCAT(m.OBJECT_NAME, ' ', m.LOCK_TYPE, ' ', m.LOCK_STATUS) FROM performance_schema.metadata_locks m
		JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
		WHERE t.PROCESSLIST_ID = ? AND m.OBJECT_TYPE = 'TABLE' AND m.OBJECT_SCHEMA = ? ORDER BY 1`
	if f == discovery.FlavorMariaDB {
		q = `SELECT CONCAT(TABLE_NAME, ' ', LOCK_MODE) FROM information_schema.METADATA_LOCK_INFO
			WHERE THREAD_ID = ? AND LOCK_TYPE = 'Table metadata lock' AND TABLE_SCHEMA = ? ORDER BY 1`
	}
	var out []string
	if err := db.SelectContext(ctx, &out, q, id, schema); err != nil {
		return []string{"(no lock list: " + err.Error() + ")"}
	}
	return out
}

// TestPreDropChecksOnLiveFKTables: the check before a statement on a leftover that a
// live table references (the leftover is the parent: a DROP under foreign_key_checks=0
// or a RENAME would lock the child on MySQL), on the primary. A reader of the child
// defers it, named with its side of the key; a primary that cannot say who holds a
// metadata lock defers it with the fix, and so does a transaction whose locks the
// instrument, switched on after it read the child, does not list; so does a backup lock, which the statement
// would wait for while holding the child's lock; a reader younger than a second is let
// through, and the statement's lock wait is then one second. On MariaDB, whose DDL
// locks no such table, none of this holds anything back.
func TestPreDropChecksOnLiveFKTables(t *testing.T) {
	ctx := context.Background()
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, "_acct_old")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+dbconn.QualifiedName(s, "ledger")+" (id INT PRIMARY KEY, a INT, FOREIGN KEY (a) REFERENCES "+dbconn.QualifiedName(s, "_acct_old")+" (id))")
	cfg := Defaults()
	// The primary's own checks are under test: the sandbox replica it feeds is ignored
	// by server_id, as a deliberately unchecked replica would be (topology.go).
	var replicaID string
	if err := testdb.Open(t, testdb.ReplicaDSN(t)).GetContext(ctx, &replicaID, "SELECT @@server_id"); err != nil {
		t.Fatal(err)
	}
	cfg.Shards = []ShardConfig{{Name: "sandbox", DSN: testdb.PrimaryDSN(t), IgnoreReplicas: []string{replicaID}}}
	j := New(cfg, nil)
	pool, err := j.openForDrops(ctx, cfg.Shards[0].DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	r := &shardRun{j: j, sc: cfg.Shards[0], db: pool, log: j.log}
	defer r.close()
	if err := r.connect(ctx, ""); err != nil {
		t.Fatal(err)
	}
	mysql := locksFKTables(r.server.Flavor)
	leftover := &discovery.Table{Schema: s, Name: "_acct_old"}
	check := func(what string, deferred bool, want ...string) {
		t.Helper()
		d, err := r.preDropChecks(ctx, leftover)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("%s: proceed %v %s", what, d.proceed, d.out.reason)
		if d.proceed == deferred || (deferred && d.out.outcome != "deferred") {
			t.Errorf("%s: proceed %v (%s %s); want deferred %v", what, d.proceed, d.out.outcome, d.out.reason, deferred)
		}
		for _, w := range want {
			if deferred && !strings.Contains(d.out.reason, w) {
				t.Errorf("%s: reason %q; want it to say %q", what, d.out.reason, w)
			}
		}
	}
	session := func() (*sqlx.Conn, int64) {
		c, err := db.Connx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		if err := c.GetContext(ctx, &id, "SELECT CONNECTION_ID()"); err != nil {
			t.Fatal(err)
		}
		return c, id
	}
	// The reader, young: let through, with the short lock wait.
	reader, id := session()
	defer reader.Close()
	testdb.Exec(t, reader, "START TRANSACTION", "SELECT COUNT(*) FROM "+dbconn.QualifiedName(s, "ledger"))
	check("a reader under a second old", false)
	var lwt int
	if err := r.conn.GetContext(ctx, &lwt, "SELECT @@SESSION.lock_wait_timeout"); err != nil {
		t.Fatal(err)
	}
	if want := map[bool]int{true: 1, false: int(cfg.Execute.LockWaitTimeout.Seconds())}[mysql]; lwt != want {
		t.Errorf("the statement's lock_wait_timeout is %d, want %d", lwt, want)
	}
	// The reader, over a second old (the server shows 2): deferred, named.
	testdb.WaitSessionAge(t, db, id, 2)
	check("a reader of the child", mysql, "primary sandbox", fmt.Sprintf("session %d ", id), dbconn.QualifiedName(s, "ledger"), "foreign-key child")
	testdb.Exec(t, reader, "ROLLBACK")
	check("no reader", false)
	if !mysql {
		return
	}
	// No metadata-lock source on the primary.
	testdb.Exec(t, db, "UPDATE performance_schema.setup_instruments SET ENABLED = 'NO' WHERE NAME = 'wait/lock/metadata/sql/mdl'")
	check("the MDL instrument off", true, "primary sandbox", "instrument is disabled", "UPDATE performance_schema.setup_instruments")
	// A reader whose lock was taken while the instrument was off: no list shows it.
	hidden, hid := session()
	defer hidden.Close()
	testdb.Exec(t, hidden, "START TRANSACTION", "SELECT COUNT(*) FROM "+dbconn.QualifiedName(s, "ledger"))
	defer func() { _, _ = hidden.ExecContext(ctx, "ROLLBACK") }()
	testdb.Exec(t, db, "UPDATE performance_schema.setup_instruments SET ENABLED = 'YES' WHERE NAME = 'wait/lock/metadata/sql/mdl'")
	for deadline := time.Now().Add(10 * time.Second); ; {
		// INNODB_TRX is a cache the server renews only when it was not read in the
		// last 100 ms: polled faster, it never shows the transaction.
		var secs int64
		if err := db.Get(&secs, "SELECT COALESCE(MAX(TIMESTAMPDIFF(SECOND, trx_started, NOW())), 0) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = ?", hid); err != nil {
			t.Fatal(err)
		}
		if secs >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the hidden reader's transaction never showed 2 s old")
		}
		time.Sleep(150 * time.Millisecond) // polling, with a deadline
	}
	check("a reader whose lock is not listed", true, fmt.Sprintf("session %d ", hid), "holds no metadata lock performance_schema lists")
	testdb.Exec(t, hidden, "ROLLBACK")
	// A backup lock.
	backup, bid := session()
	defer backup.Close()
	testdb.Exec(t, backup, "LOCK INSTANCE FOR BACKUP")
	check("a backup lock", true, fmt.Sprintf("session %d ", bid), "backup lock")
	testdb.Exec(t, backup, "UNLOCK INSTANCE")
	check("no backup lock", false)
}
