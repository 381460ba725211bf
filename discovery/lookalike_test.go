package discovery_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/policies"
)

// TestSlashedLookAlikeIsNoOrphan: MySQL's tablespace view spells names plain, so a
// user's table `x/#sql-ib4646` in schema s has the tablespace s/x/#sql-ib4646, which
// reads as a crashed ALTER's #sql-ib4646 in a schema "s/x". Compared with the listing
// as (schema, table), that phantom was not found there and was listed as an orphan of
// "s/x", dead, whose DROP fails; compared by the whole spelling it is the user's table.
// MariaDB encodes the slash (@002f): no phantom there.
func TestSlashedLookAlikeIsNoOrphan(t *testing.T) {
	db, s := primarySchema(t)
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "x/#sql-ib4646")+" (id INT PRIMARY KEY, v VARCHAR(200))")
	fill(t, db, q(s, "x/#sql-ib4646"), 50, "REPEAT('x', 200)")
	srv, err := discovery.ReadServer(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	// Every schema in scope, the phantom's too: a fleet's default.
	in := discovery.NewInspector(db, srv, discovery.Options{Schemas: []string{s, s + "/x"}, QueryTimeout: 30 * time.Second}, nil)
	names := listNames(t, in)
	for _, n := range names {
		if n.Orphan {
			tb, err := in.Inspect(context.Background(), n)
			if err != nil {
				t.Errorf("%q.%q listed as a crashed ALTER's orphan (inspect: %v); it is the user's table %q", n.Schema, n.Table, err, "x/#sql-ib4646")
				continue
			}
			v := policies.Evaluate(policies.Config{}, policies.Context{}, tb)
			t.Errorf("%q.%q listed as a crashed ALTER's orphan (%s %s: %s); it is the user's table %q", n.Schema, n.Table, v.Action, v.Code, v.Reason, "x/#sql-ib4646")
		}
	}
	if !testdb.IsMySQL(t) {
		return // no listing spells the phantom there
	}
	// The pre-DROP re-check of the phantom asks the server again.
	tb, err := in.Inspect(context.Background(), discovery.Name{Schema: s + "/x", Table: "#sql-ib4646", Orphan: true})
	if !errors.Is(err, discovery.ErrGone) {
		v := policies.Verdict{}
		if tb != nil {
			v = policies.Evaluate(policies.Config{}, policies.Context{}, tb)
		}
		t.Errorf("re-check of the phantom orphan: %v (%s %s: %s); want gone: the tablespace is the user's table's", err, v.Action, v.Code, v.Reason)
	}
}
