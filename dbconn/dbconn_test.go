package dbconn_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
)

func TestQuoteIdent(t *testing.T) {
	for in, want := range map[string]string{
		"orders": "`orders`", "we`ird": "`we``ird`", "``": "``````", "a b": "`a b`", "x`; DROP DATABASE y; --": "`x``; DROP DATABASE y; --`",
	} {
		if got := dbconn.QuoteIdent(in); got != want {
			t.Errorf("QuoteIdent(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestHostileNamesRoundTrip creates and drops tables whose names try to break out of
// their quotes, on a real server: each must name exactly itself.
func TestHostileNamesRoundTrip(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	victim := testdb.Schema(t, db)
	names := []string{"x`; DROP DATABASE " + victim + "; --_old", "back``tick_old", "new\nline_old", "ünï cödé_old", "'quote\"_old", `\slash_old`}
	for _, n := range names {
		testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, n)+" (id INT PRIMARY KEY)")
		var got string
		if err := db.Get(&got, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", s, n); err != nil || got != n {
			t.Errorf("%q: created as %q (%v)", n, got, err)
		}
		testdb.Exec(t, db, "DROP TABLE "+dbconn.QualifiedName(s, n))
	}
	var n int
	if err := db.Get(&n, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", victim); err != nil || n != 1 {
		t.Errorf("the victim schema is gone: %d %v", n, err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"janitor:s3cret@tcp(10.0.0.1:3306)/":              "janitor:***@tcp(10.0.0.1:3306)/",
		"janitor:p@ss:w@rd@tcp(10.0.0.1:3306)/app":        "janitor:***@tcp(10.0.0.1:3306)/app",
		"janitor@tcp(10.0.0.1:3306)/":                     "janitor@tcp(10.0.0.1:3306)/",
		"janitor@tcp(10.0.0.1:3306)/?password=x&tls=true": "janitor@tcp(10.0.0.1:3306)/?password=***&tls=true",
		"jdbc:mysql://db1/shop?user=u&PWD=x":              "jdbc:***", // no user@: everything after a colon may be secret
		"janitor:s3cr3t/x":                                "janitor:***",
	} {
		if got := dbconn.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDSNErrorHidesPassword(t *testing.T) {
	for _, dsn := range []string{"janitor:hunter2@tcp(127.0.0.1:3306", "janitor:hunter2@tcp(127.0.0.1:3306)/?badparam=%zz", "hunter2",
		// From a review: a pasted JDBC URL, a password parameter, and a password with a
		// slash that makes the driver quote "user:pass…" as a network name.
		"jdbc:mysql://db1:3306/shop?user=janitor&password=hunter2",
		"janitor@tcp(db1:3306)/?password=hunter2&tls=bogus",
		"janitor:hunt/er2xyz@tcp(db1:3306)",
		"janitor:Ab'hunter2/xyz@tcp(10.0.0.1:3306)", // a quote in the password
		"janitor:hunter2/x",                         // no @ at all
	} {
		_, err := dbconn.ParseDSN(dsn)
		if err == nil {
			t.Errorf("%q parsed", dsn)
			continue
		}
		if (strings.Contains(err.Error(), "hunter2") && dsn != "hunter2") || strings.Contains(err.Error(), "hunt") && strings.Contains(dsn, "hunt/") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestOpenFailsFastAndSaysWhere(t *testing.T) {
	opts := dbconn.DefaultOptions()
	_, err := dbconn.Open(context.Background(), "janitor:hunter2@tcp(127.0.0.1:1)/", opts)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err = %v", err)
	}
}

func TestIsError(t *testing.T) {
	err := fmt.Errorf("drop: %w", &mysql.MySQLError{Number: dbconn.ErrLockWaitTimeout})
	if !dbconn.IsError(err, dbconn.ErrLockDeadlock, dbconn.ErrLockWaitTimeout) || dbconn.IsError(err, dbconn.ErrReadOnly) {
		t.Error("IsError misclassifies a wrapped 1205")
	}
	if dbconn.IsError(errors.New("1205"), dbconn.ErrLockWaitTimeout) {
		t.Error("a plain error is no MySQL error")
	}
}

func TestHint(t *testing.T) {
	_, refused := net.Dial("tcp", "127.0.0.1:1")
	cases := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("connect: %w", &mysql.MySQLError{Number: 1045, Message: "Access denied for user"}), "user or password"},
		{fmt.Errorf("list: %w", &mysql.MySQLError{Number: 1227, Message: "need PROCESS"}), "Least privilege"},
		{&mysql.MySQLError{Number: 1142, Message: "DROP command denied"}, "Least privilege"},
		{&mysql.MySQLError{Number: 1049, Message: "Unknown database"}, "leave the part after the /"},
		{fmt.Errorf("connect: %w", &net.DNSError{Err: "no such host", Name: "db.invalid", IsNotFound: true}), "does not resolve"},
		{fmt.Errorf("connect: %w", refused), "nothing listens"},
		{fmt.Errorf("connect to h:1 as \"u\": %w", context.DeadlineExceeded), "connect_timeout"},
		{errors.New("tls: failed to verify certificate: x509: certificate signed by unknown authority"), "tls parameter"},
		{&mysql.MySQLError{Number: 1146, Message: "Table doesn't exist"}, ""},
	}
	for _, c := range cases {
		got := dbconn.Hint(c.err)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("Hint(%v) = %q, want one containing %q", c.err, got, c.want)
		}
	}
}

// TestSessionSQLModeIsPinned: a server whose global sql_mode has NO_BACKSLASH_ESCAPES
// or ANSI_QUOTES must not change what janitor's SQL means. (MariaDB keeps \ as LIKE's
// escape under NO_BACKSLASH_ESCAPES; MySQL drops it, and lookups would find nothing.)
func TestSessionSQLModeIsPinned(t *testing.T) {
	db := testdb.Primary(t)
	var mode string
	if err := db.Get(&mode, "SELECT @@GLOBAL.sql_mode"); err != nil {
		t.Fatal(err)
	}
	testdb.Exec(t, db, "SET GLOBAL sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'")
	t.Cleanup(func() { testdb.Exec(t, db, "SET GLOBAL sql_mode = '"+mode+"'") })
	pool, err := dbconn.Open(context.Background(), testdb.PrimaryDSN(t), dbconn.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var session string
	if err := pool.Get(&session, "SELECT @@SESSION.sql_mode"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(session, "NO_BACKSLASH_ESCAPES") || strings.Contains(session, "ANSI_QUOTES") {
		t.Errorf("janitor's session runs with sql_mode %q", session)
	}
}

// TestHangingServerCostsConnectTimeout: a server that accepts connections and never
// sends its greeting (a wedged mysqld, a black-holing proxy) must cost connect_timeout,
// as the docs say — it cost twice that.
func TestHangingServerCostsConnectTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	held := make(chan net.Conn, 16)
	defer func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case held <- c: // accept, never answer
			default:
				c.Close()
			}
		}
	}()
	opts := dbconn.DefaultOptions()
	opts.ConnectTimeout = time.Second
	start := time.Now()
	db, err := dbconn.Open(context.Background(), "u:p@tcp("+ln.Addr().String()+")/", opts)
	elapsed := time.Since(start)
	if err == nil {
		db.Close()
		t.Fatal("connected to a server that never answers")
	}
	if elapsed > 1500*time.Millisecond {
		t.Errorf("a hanging server cost %s with connect_timeout 1s", elapsed.Round(time.Millisecond))
	}
	if h := dbconn.Hint(err); !strings.Contains(h, "connect_timeout") {
		t.Errorf("hint %q (err %v) does not name connect_timeout", h, err)
	}
}
