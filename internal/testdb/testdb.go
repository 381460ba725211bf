// Package testdb gives tests a real server: the sandbox primary and replica started by
// scripts/sandbox.sh (MariaDB 10.11, MariaDB 11.8 or MySQL 9.7, see Flavor), and a uniquely
// named schema per test that is dropped afterwards.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
)

// Environment variables naming the sandbox servers (scripts/sandbox.sh env prints them).
const (
	PrimaryEnv = "JANITOR_TEST_PRIMARY_DSN"
	ReplicaEnv = "JANITOR_TEST_REPLICA_DSN"
	// FlavorEnv names the sandbox's flavor: mariadb (10.11), mariadb-11.8 or mysql (9.7).
	FlavorEnv = "JANITOR_TEST_FLAVOR"
	// PrimaryFSRootEnv and ReplicaFSRootEnv name the directory the server's paths are
	// relative to (the chroot it runs in; empty for the host's MariaDB).
	PrimaryFSRootEnv = "JANITOR_TEST_PRIMARY_FSROOT"
	ReplicaFSRootEnv = "JANITOR_TEST_REPLICA_FSROOT"
)

// Flavor returns the sandbox's flavor, from JANITOR_TEST_FLAVOR: "mariadb" (10.11, the
// default when unset), "mariadb-11.8" or "mysql" (9.7).
func Flavor(t testing.TB) string {
	t.Helper()
	switch f := os.Getenv(FlavorEnv); f {
	case "":
		return "mariadb"
	case "mariadb", "mariadb-11.8", "mysql":
		return f
	default:
		t.Fatalf("%s=%q: want mariadb, mariadb-11.8 or mysql (scripts/sandbox.sh env prints it)", FlavorEnv, f)
		return ""
	}
}

// Is reports whether the sandbox is one of flavors. A family name matches each of its
// versions: "mariadb" matches mariadb-11.8 too, while "mariadb-11.8" matches only it.
func Is(t testing.TB, flavors ...string) bool {
	t.Helper()
	f := Flavor(t)
	for _, want := range flavors {
		if f == want || strings.HasPrefix(f, want+"-") {
			return true
		}
	}
	return false
}

// IsMySQL reports whether the sandbox is MySQL.
func IsMySQL(t testing.TB) bool { t.Helper(); return Is(t, "mysql") }

// SkipUnless skips the test, saying why, unless the sandbox is one of flavors (matched as
// Is matches them). For a test that only makes sense on some flavors.
func SkipUnless(t testing.TB, why string, flavors ...string) {
	t.Helper()
	if !Is(t, flavors...) {
		t.Skipf("only on %s, not %s: %s", strings.Join(flavors, ", "), Flavor(t), why)
	}
}

// Skip skips the test on flavors, saying why.
func Skip(t testing.TB, why string, flavors ...string) {
	t.Helper()
	if Is(t, flavors...) {
		t.Skipf("not on %s: %s", Flavor(t), why)
	}
}

// DataPath returns where the host sees a server's path p (for example @@datadir plus a
// file name): under JANITOR_TEST_PRIMARY_FSROOT or JANITOR_TEST_REPLICA_FSROOT when the
// server runs in a chroot.
func DataPath(replica bool, p string) string {
	env := PrimaryFSRootEnv
	if replica {
		env = ReplicaFSRootEnv
	}
	return filepath.Join(os.Getenv(env), p)
}

func dsn(t testing.TB, env string) string {
	t.Helper()
	d := os.Getenv(env)
	if d == "" {
		if testing.Short() {
			t.Skipf("%s not set (-short)", env)
		}
		t.Fatalf("%s is not set: start the sandbox with scripts/sandbox.sh up and eval \"$(scripts/sandbox.sh env)\", or use scripts/test.sh", env)
	}
	return d
}

// PrimaryDSN returns the sandbox primary's DSN (an account with every privilege).
func PrimaryDSN(t testing.TB) string { return dsn(t, PrimaryEnv) }

// ReplicaDSN returns the sandbox replica's DSN.
func ReplicaDSN(t testing.TB) string { return dsn(t, ReplicaEnv) }

// Open returns a pool to dsn, closed when the test ends.
func Open(t testing.TB, dsn string) *sqlx.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := dbconn.DefaultOptions()
	opts.MaxOpenConns = 10
	db, err := dbconn.Open(ctx, dsn, opts)
	if err != nil {
		t.Fatalf("open %s: %v", dbconn.Redact(dsn), err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Primary returns a pool to the sandbox primary.
func Primary(t testing.TB) *sqlx.DB { return Open(t, PrimaryDSN(t)) }

var unsafe = regexp.MustCompile(`[^a-z0-9_]+`)

// Schema creates a schema named for the test, unique per run, and drops it when the test
// ends.
func Schema(t testing.TB, db *sqlx.DB) string {
	t.Helper()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := unsafe.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("jt_%s_%s", name, hex.EncodeToString(b))
	Exec(t, db, "CREATE DATABASE "+dbconn.QuoteIdent(name))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+dbconn.QuoteIdent(name)); err != nil {
			t.Errorf("drop test schema %s: %v", name, err)
		}
	})
	return name
}

// Exec runs statements and fails the test on error.
func Exec(t testing.TB, db sqlx.ExecerContext, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, s := range stmts {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// Status reads one global status counter.
func Status(t testing.TB, db sqlx.QueryerContext, name string) int64 {
	t.Helper()
	var n string
	var v int64
	if err := db.QueryRowxContext(context.Background(), "SHOW GLOBAL STATUS LIKE ?", name).Scan(&n, &v); err != nil {
		t.Fatalf("read status %s: %v", name, err)
	}
	return v
}

// WithDB returns dsn pointing at schema as its default database.
func WithDB(dsn, schema string) string {
	i := strings.LastIndex(dsn, "/")
	if i < 0 {
		return dsn
	}
	rest := dsn[i+1:]
	q := ""
	if j := strings.Index(rest, "?"); j >= 0 {
		q = rest[j:]
	}
	return dsn[:i+1] + schema + q
}

// WaitReplica waits until replica has applied everything primary has written.
func WaitReplica(t testing.TB, primary, replica *sqlx.DB) {
	t.Helper()
	WaitReplicaWithin(t, primary, replica, 600)
}

// WaitReplicaWithin waits up to seconds until replica has applied everything primary has
// written.
func WaitReplicaWithin(t testing.TB, primary, replica *sqlx.DB, seconds int) {
	t.Helper()
	posQ, waitQ := "SELECT @@gtid_binlog_pos", "SELECT MASTER_GTID_WAIT(?, ?)"
	if IsMySQL(t) {
		posQ, waitQ = "SELECT @@gtid_executed", "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?)"
	}
	var pos string
	if err := primary.Get(&pos, posQ); err != nil {
		t.Fatal(err)
	}
	var res int
	if err := replica.Get(&res, waitQ, pos, seconds); err != nil || res != 0 {
		t.Fatalf("replica did not reach %s: %d %v", pos, res, err)
	}
}

// StopReplicaSQL stops the replica's applier (SQL) thread and starts it again when the
// test ends, in the flavor's own words.
func StopReplicaSQL(t testing.TB, replica *sqlx.DB) {
	t.Helper()
	stop, start := "STOP SLAVE SQL_THREAD", "START SLAVE SQL_THREAD"
	if IsMySQL(t) {
		stop, start = "STOP REPLICA SQL_THREAD", "START REPLICA SQL_THREAD"
	}
	Exec(t, replica, stop)
	t.Cleanup(func() { Exec(t, replica, start) })
}

// ReplicaStatus is the flavor's SHOW statement for the replica's status: MySQL 8.4 and 9.x
// know only SHOW REPLICA STATUS.
func ReplicaStatus(t testing.TB) string {
	t.Helper()
	if IsMySQL(t) {
		return "SHOW REPLICA STATUS"
	}
	return "SHOW SLAVE STATUS"
}

// WaitUp waits until db answers again, after a restart.
func WaitUp(t testing.TB, db *sqlx.DB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for db.Ping() != nil {
		if time.Now().After(deadline) {
			t.Fatal("server did not come back within a minute")
		}
		time.Sleep(100 * time.Millisecond) // polling for the restarted server, with a deadline
	}
}

// Seq returns a table expression, to follow FROM, with one column seq counting 1 to n:
// MariaDB's Sequence engine table seq_1_to_n in schema, or on MySQL (which has no such
// engine) a cross join of digits cut at n.
func Seq(t testing.TB, schema string, n int) string {
	t.Helper()
	if !IsMySQL(t) {
		return dbconn.QuoteIdent(schema) + "." + dbconn.QuoteIdent(fmt.Sprintf("seq_1_to_%d", n))
	}
	const digit = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4" +
		" UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)"
	var from, sum []string
	for i, m := 0, 1; m < n || i == 0; i, m = i+1, m*10 {
		from = append(from, fmt.Sprintf("%s AS d%d", digit, i))
		sum = append(sum, fmt.Sprintf("%d * d%d.d", m, i))
	}
	return fmt.Sprintf("(SELECT %s + 1 AS seq FROM %s HAVING seq <= %d) AS seq_1_to_%d",
		strings.Join(sum, " + "), strings.Join(from, " CROSS JOIN "), n, n)
}

// WaitSessionAge polls db's process list until session id has been in its current
// state for at least secs seconds (the TIME column; the server counts whole seconds),
// failing after 10 s more. Tests of age rules (a reader older than janitor's lock wait)
// need the server to show the age, not the test's clock.
func WaitSessionAge(t testing.TB, db sqlx.QueryerContext, id int64, secs int64) {
	t.Helper()
	deadline := time.Now().Add(time.Duration(secs)*time.Second + 10*time.Second)
	for {
		var age int64
		if err := sqlx.GetContext(context.Background(), db, &age, "SELECT TIME FROM information_schema.PROCESSLIST WHERE ID = ?", id); err != nil {
			t.Fatal(err)
		}
		if age >= secs {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %d never showed %d seconds in its state", id, secs)
		}
		time.Sleep(50 * time.Millisecond) // polling, with a deadline
	}
}
