package discovery

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/jmoiron/sqlx"
)

// TestDigestGateSeesUsesTheCountersMissed: a candidate used by name within
// policy.min_age is told by its statement digest (recent_read) even when
// performance_schema's table lock counters show no use of it now. The digest gate
// (digestsUnneeded) reads that "no use" as "no digest names it", which holds only if
// the counters saw every use since the server started; a DBA can make them miss a use
// with the digest kept: a TRUNCATE of the counters (or of the wait summary that resets
// them), the lock instrument or a setup_objects row off while the table was used and
// back on, or a statement that named the table and failed before it opened it (a lock
// wait timed out), which the digests always weighed (latestDigest keeps failed runs).
// The code before the gate (d1eddef) read every digest and kept each of these tables.
func TestDigestGateSeesUsesTheCountersMissed(t *testing.T) {
	testdb.SkipUnless(t, "the digest gate is MySQL's: MariaDB reads its digests in milliseconds", "mysql")
	root := testdb.Primary(t)
	roomForDigests(t, root)
	ctx := context.Background()
	setOn := func(t *testing.T, db *sqlx.DB, q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	lockInstrumentOff := func(t *testing.T, db *sqlx.DB, _ Name) {
		setOn(t, db, "UPDATE performance_schema.setup_instruments SET ENABLED = 'NO' WHERE NAME = ?", lockInstrument)
		t.Cleanup(func() {
			setOn(t, db, "UPDATE performance_schema.setup_instruments SET ENABLED = 'YES' WHERE NAME = ?", lockInstrument)
		})
	}
	for _, tc := range []struct {
		name string
		// before runs before the use, use uses n by name, after runs after it.
		before, after func(t *testing.T, db *sqlx.DB, n Name)
		use           func(t *testing.T, db *sqlx.DB, n Name)
	}{
		{name: "lock summary truncated", after: func(t *testing.T, db *sqlx.DB, _ Name) {
			testdb.Exec(t, db, "TRUNCATE performance_schema.table_lock_waits_summary_by_table")
		}},
		{name: "wait summary truncated", after: func(t *testing.T, db *sqlx.DB, _ Name) {
			// Resets every per-table wait counter, the table lock summary's included.
			testdb.Exec(t, db, "TRUNCATE performance_schema.events_waits_summary_global_by_event_name")
		}},
		{name: "lock instrument off while used", before: lockInstrumentOff, after: func(t *testing.T, db *sqlx.DB, _ Name) {
			setOn(t, db, "UPDATE performance_schema.setup_instruments SET ENABLED = 'YES' WHERE NAME = ?", lockInstrument)
		}},
		{name: "setup_objects off while used", before: func(t *testing.T, db *sqlx.DB, n Name) {
			setOn(t, db, "INSERT INTO performance_schema.setup_objects (OBJECT_TYPE, OBJECT_SCHEMA, OBJECT_NAME, ENABLED, TIMED) VALUES ('TABLE', ?, '%', 'NO', 'NO')", n.Schema)
			t.Cleanup(func() {
				setOn(t, db, "DELETE FROM performance_schema.setup_objects WHERE OBJECT_TYPE = 'TABLE' AND OBJECT_SCHEMA = ?", n.Schema)
			})
			testdb.Exec(t, db, "FLUSH TABLES")
		}, after: func(t *testing.T, db *sqlx.DB, n Name) {
			setOn(t, db, "DELETE FROM performance_schema.setup_objects WHERE OBJECT_TYPE = 'TABLE' AND OBJECT_SCHEMA = ?", n.Schema)
		}},
		{name: "renamed away and back", after: func(t *testing.T, db *sqlx.DB, n Name) {
			// A scream test by hand: the table renamed away, then back.
			away := dbconn.QualifiedName(n.Schema, "parked")
			testdb.Exec(t, db, "RENAME TABLE "+dbconn.QualifiedName(n.Schema, n.Table)+" TO "+away,
				"RENAME TABLE "+away+" TO "+dbconn.QualifiedName(n.Schema, n.Table))
		}},
		{name: "a HANDLER opened, not read yet", use: func(t *testing.T, db *sqlx.DB, n Name) {
			// A session that holds the table open: HANDLER OPEN takes no table lock.
			app, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { app.Close() })
			if _, err := app.ExecContext(ctx, "HANDLER "+dbconn.QualifiedName(n.Schema, n.Table)+" OPEN"); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "prepared, not executed yet", use: func(t *testing.T, db *sqlx.DB, n Name) {
			testdb.Exec(t, db, "PREPARE s FROM 'SELECT * FROM "+dbconn.QualifiedName(n.Schema, n.Table)+"'")
		}},
		{name: "insert timed out on a global read lock", use: func(t *testing.T, db *sqlx.DB, n Name) {
			// A backup's FLUSH TABLES WITH READ LOCK: the application's INSERT waits for
			// the global lock before it opens the table, and gives up.
			backup, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer backup.Close()
			if _, err := backup.ExecContext(ctx, "FLUSH TABLES WITH READ LOCK"); err != nil {
				t.Fatal(err)
			}
			defer func() { _, _ = backup.ExecContext(ctx, "UNLOCK TABLES") }()
			app, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer app.Close()
			if _, err := app.ExecContext(ctx, "SET SESSION lock_wait_timeout = 1"); err != nil {
				t.Fatal(err)
			}
			_, err = app.ExecContext(ctx, "INSERT INTO "+dbconn.QualifiedName(n.Schema, n.Table)+" VALUES (1)")
			if !dbconn.IsError(err, dbconn.ErrLockWaitTimeout) {
				t.Fatalf("INSERT under a global read lock: %v, want a lock wait timeout", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := testdb.Primary(t)
			s := testdb.Schema(t, db)
			names := oldCopies(t, db, s, 2)
			srv := withLongHistory(t, db)
			used := names[0]
			if tc.before != nil {
				tc.before(t, db, used)
			}
			if tc.use != nil {
				tc.use(t, db, used)
			} else {
				testdb.Exec(t, db, "SELECT * FROM "+dbconn.QualifiedName(used.Schema, used.Table))
			}
			if tc.after != nil {
				tc.after(t, db, used)
			}
			var counted sql.NullInt64
			if err := db.GetContext(ctx, &counted, `SELECT SUM(COUNT_STAR) FROM performance_schema.table_lock_waits_summary_by_table
				WHERE OBJECT_SCHEMA = ? AND OBJECT_NAME = ?`, used.Schema, used.Table); err != nil {
				t.Fatal(err)
			}
			if counted.Int64 > 0 {
				t.Fatalf("the use of %s was counted (%d): the case tests nothing", used.Table, counted.Int64)
			}
			in := NewInspector(db, srv, Options{Schemas: []string{s}, QueryTimeout: 30 * time.Second}, nil)
			tables, err := in.InspectAll(ctx, names)
			if err != nil {
				t.Fatal(err)
			}
			if in.uses.err != nil {
				t.Fatal(in.uses.err)
			}
			for _, tb := range tables {
				if tb.Name != used.Table {
					continue
				}
				if r := tb.Evidence.Reads; r.Last == nil {
					t.Errorf("%s used by name just now, its counters silent: no statement digest told: "+
						"recent_read cannot keep it, and the report calls it dead", used.Table)
				}
				// The re-check before every hold or DROP statement (janitor's guard) is a
				// fresh Inspect, which reads the digests that name its table.
				fresh, err := NewInspector(db, srv, Options{Schemas: []string{s}, QueryTimeout: 30 * time.Second}, nil).Inspect(ctx, used)
				if err != nil {
					t.Fatal(err)
				}
				if fresh.Evidence.Reads.Last == nil {
					t.Errorf("%s: the re-check did not tell its use either", used.Table)
				}
				return
			}
			t.Fatalf("%s not in the inventory", used.Table)
		})
	}
}
