package replica

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/internal/testdb"
)

// TestApplierWrittenOnce: what an applier is, and the states it waits in, are Go lists;
// the SQL that finds appliers in a process list is built from them. Each session here is
// judged by Session.Applier and WaitsForLock in Go and by the SQL predicates on the real
// server (the rows fed as a derived table), and both must agree, so a state or command
// added to one cannot be missing from the other.
func TestApplierWrittenOnce(t *testing.T) {
	db := testdb.Primary(t)
	cases := []Session{
		{User: "system user", Command: "Query", State: "Waiting for table metadata lock"},
		{User: "system user", Command: "Connect", State: "Waiting for backup lock"},
		{User: "system user", Command: "Query", State: "Waiting for global read lock"},
		{User: "system user", Command: "Connect", State: "Replica has read all relay log; waiting for more updates"},
		{User: "event_scheduler", Command: "Slave_SQL", State: "Waiting for table metadata lock"},
		{User: "x", Command: "Slave_worker", State: "Waiting for work from SQL thread"},
		{User: "app", Command: "Query", State: "Waiting for table metadata lock"},
		{User: "app", Command: "Sleep", State: ""},
	}
	var rows []string
	for i, s := range cases {
		rows = append(rows, fmt.Sprintf("SELECT %d AS ID, '%s' AS USER, '%s' AS COMMAND, '%s' AS STATE", i, s.User, s.Command, s.State))
	}
	q := fmt.Sprintf("SELECT ID, (%s), (%s) FROM (%s) AS p ORDER BY ID", appliersSQL("p."), waitingSQL(), strings.Join(rows, " UNION ALL "))
	res, err := db.QueryxContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	n := 0
	for res.Next() {
		var id int
		var applier, waits sql.NullBool
		if err := res.Scan(&id, &applier, &waits); err != nil {
			t.Fatal(err)
		}
		s := cases[id]
		if applier.Bool != s.Applier() || waits.Bool != s.WaitsForLock() {
			t.Errorf("%+v: SQL says applier %v, waiting %v; Go says %v, %v", s, applier.Bool, waits.Bool, s.Applier(), s.WaitsForLock())
		}
		n++
	}
	if err := res.Err(); err != nil || n != len(cases) {
		t.Fatalf("%d rows of %d: %v", n, len(cases), err)
	}
	// The thread names are performance_schema's, not the process list's: Go alone.
	if !(Session{Thread: "thread/sql/replica_worker"}).Applier() || (Session{Thread: "thread/sql/one_connection"}).Applier() {
		t.Error("an applier thread is not told from a client's")
	}
}

// TestSQLList: one value is written with = or <>, several with IN.
func TestSQLList(t *testing.T) {
	for _, c := range []struct {
		vals []string
		not  bool
		want string
	}{
		{[]string{"system user"}, false, "USER = 'system user'"},
		{[]string{"system user"}, true, "USER <> 'system user'"},
		{[]string{"a", "b'c"}, false, "USER IN ('a', 'b''c')"},
		{[]string{"a", "b"}, true, "USER NOT IN ('a', 'b')"},
	} {
		if got := sqlList("USER", c.vals, c.not); got != c.want {
			t.Errorf("sqlList(%q, %v) = %q, want %q", c.vals, c.not, got, c.want)
		}
	}
}
