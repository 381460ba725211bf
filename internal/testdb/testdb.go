// Package testdb gives tests a real MariaDB: the sandbox primary and replica started by
// scripts/sandbox.sh, and a uniquely named schema per test that is dropped afterwards.
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
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
)

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
	var pos string
	if err := primary.Get(&pos, "SELECT @@gtid_binlog_pos"); err != nil {
		t.Fatal(err)
	}
	var res int
	if err := replica.Get(&res, "SELECT MASTER_GTID_WAIT(?, 600)", pos); err != nil || res != 0 {
		t.Fatalf("replica did not reach %s: %d %v", pos, res, err)
	}
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
