//go:build bench

package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
)

// TestGroupRecheckCost measures what the group verdict adds to each pre-DROP re-check of
// a gh-ost table (janitor/group.go): the binary log client listing with its grant reads
// (BinlogClients, once per server per re-check), the sibling lookup by name (Siblings)
// in a schema of 1,000 tables, and one sibling's inspection. Each is done as the
// re-check does it, on a fresh Inspector, 100 times on one session, each after FLUSH
// TABLES, counting that session's Opened_tables and Opened_table_definitions, and wall time.
func TestGroupRecheckCost(t *testing.T) {
	db := testdb.Primary(t)
	ctx := context.Background()
	s := testdb.Schema(t, db)
	for i := 0; i < 1000; i++ {
		testdb.Exec(t, db, fmt.Sprintf("CREATE TABLE %s (id INT PRIMARY KEY)", q(s, fmt.Sprintf("t%04d", i))))
	}
	testdb.Exec(t, db, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+q(s, "_orders_gho")+" LIKE "+q(s, "orders"),
		"CREATE TABLE "+q(s, "_orders_ghc")+" (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, hint VARCHAR(64) NOT NULL, value VARCHAR(4096) NOT NULL, UNIQUE KEY (hint))",
		"INSERT INTO "+q(s, "_orders_ghc")+" (hint, value) VALUES ('heartbeat', 'then')")
	c, err := db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv, err := discovery.ReadServer(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	opts := discovery.Options{Schemas: []string{s}, QueryTimeout: 10 * time.Second}
	in := discovery.NewInspector(c, srv, opts, nil)
	gho, err := in.Inspect(ctx, discovery.Name{Schema: s, Table: "_orders_gho"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	var rows []string
	for _, step := range []struct {
		name string
		do   func(*discovery.Inspector) (int, error)
	}{
		{"binary log clients (processlist, USER_PRIVILEGES, SHOW GRANTS FOR)", func(in *discovery.Inspector) (int, error) {
			cl, err := in.BinlogClients(ctx, s)
			return len(cl), err
		}},
		{"siblings by name (`TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE ?`)", func(in *discovery.Inspector) (int, error) {
			sib, err := in.Siblings(ctx, gho)
			return len(sib), err
		}},
		{"one sibling's inspection (`_orders_ghc`)", func(in *discovery.Inspector) (int, error) {
			_, err := in.Inspect(ctx, discovery.Name{Schema: s, Table: "_orders_ghc"})
			return 1, err
		}},
	} {
		var wall time.Duration
		var opened, defs int64
		found := 0
		for i := 0; i < n; i++ {
			// Cold each time: the worst case, a table cache that lost these tables.
			testdb.Exec(t, c, "FLUSH TABLES")
			o, od := sessionStatus(t, c, "Opened_tables"), sessionStatus(t, c, "Opened_table_definitions")
			start := time.Now()
			f, err := step.do(discovery.NewInspector(c, srv, opts, nil))
			if err != nil {
				t.Fatal(err)
			}
			wall += time.Since(start)
			opened += sessionStatus(t, c, "Opened_tables") - o
			defs += sessionStatus(t, c, "Opened_table_definitions") - od
			found = f
		}
		rows = append(rows, fmt.Sprintf("| %s | %d | %.2f ms | %.2f | %.2f |", step.name, found, float64((wall/n).Microseconds())/1e3,
			float64(opened)/n, float64(defs)/n))
	}
	t.Logf("%s, 1,000 tables in the schema, per call (mean of %d, each after FLUSH TABLES; the status reads' own opens included):\n| step | found | wall | Opened_tables | Opened_table_definitions |\n|---|---:|---:|---:|---:|\n%s",
		srv.Version, n, strings.Join(rows, "\n"))
}
