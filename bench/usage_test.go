//go:build bench

package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/internal/testdb"
)

// TestEventAndGrantReadCost measures what reading every scheduled event and every table
// and column grant costs the server, with 10 and with 1,000 tables in a schema: janitor
// reads both once per shard (discovery/events.go; the queries here are its queries), so
// the opens must not grow with the tables. Counted on one session, after FLUSH TABLES:
// Opened_tables and Opened_table_definitions, and wall time.
func TestEventAndGrantReadCost(t *testing.T) {
	db := testdb.Primary(t)
	ctx := context.Background()
	sys := "('mysql', 'information_schema', 'performance_schema', 'sys')"
	queries := []struct{ name, sql string }{
		{"events: `information_schema.EVENTS`", "SELECT EVENT_SCHEMA, EVENT_NAME, STATUS, EVENT_DEFINITION FROM information_schema.EVENTS WHERE EVENT_SCHEMA NOT IN " + sys},
		{"table grants: `TABLE_PRIVILEGES`", "SELECT GRANTEE, TABLE_SCHEMA, TABLE_NAME, '', PRIVILEGE_TYPE FROM information_schema.TABLE_PRIVILEGES WHERE GRANTEE <> 'x' AND TABLE_SCHEMA NOT IN " + sys},
		{"column grants: `COLUMN_PRIVILEGES`", "SELECT GRANTEE, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE FROM information_schema.COLUMN_PRIVILEGES WHERE GRANTEE <> 'x' AND TABLE_SCHEMA NOT IN " + sys},
	}
	var rows []string
	for _, n := range []int{10, 1000} {
		s := testdb.Schema(t, db)
		for i := 0; i < n; i++ {
			testdb.Exec(t, db, fmt.Sprintf("CREATE TABLE %s (id INT PRIMARY KEY)", q(s, fmt.Sprintf("t%04d", i))))
		}
		user := "'" + s[:min(len(s), 32)] + "'@'%'"
		testdb.Exec(t, db, "CREATE TABLE "+q(s, "_t0001_old")+" (id INT PRIMARY KEY)",
			"CREATE EVENT "+q(s, "weekly")+" ON SCHEDULE EVERY 1 WEEK STARTS CURRENT_TIMESTAMP + INTERVAL 1 YEAR DO INSERT INTO _t0001_old VALUES (1)",
			"CREATE USER "+user, "GRANT SELECT ON "+q(s, "_t0001_old")+" TO "+user, "GRANT SELECT (id) ON "+q(s, "t0002")+" TO "+user)
		t.Cleanup(func() { testdb.Exec(t, db, "DROP USER IF EXISTS "+user) })
		c, err := db.Connx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, qu := range queries {
			testdb.Exec(t, c, "FLUSH TABLES")
			o, od := sessionStatus(t, c, "Opened_tables"), sessionStatus(t, c, "Opened_table_definitions")
			start := time.Now()
			r, err := c.QueryxContext(ctx, qu.sql)
			if err != nil {
				t.Fatal(err)
			}
			found := 0
			for r.Next() {
				found++
			}
			r.Close()
			wall := time.Since(start)
			rows = append(rows, fmt.Sprintf("| %s | %d | %d | %.1f ms | %+d | %+d |", qu.name, n, found, float64(wall.Microseconds())/1e3,
				sessionStatus(t, c, "Opened_tables")-o, sessionStatus(t, c, "Opened_table_definitions")-od))
		}
		c.Close()
	}
	t.Logf("\n| read | tables in the schema | rows | wall | Opened_tables | Opened_table_definitions |\n|---|---:|---:|---:|---:|---:|\n%s", strings.Join(rows, "\n"))
}

// sessionStatus reads one of this session's status counters: the replica's dump thread
// and anything else on the server stay out of the figures.
func sessionStatus(t *testing.T, c sqlx.QueryerContext, name string) int64 {
	t.Helper()
	var n string
	var v int64
	if err := c.QueryRowxContext(context.Background(), "SHOW SESSION STATUS LIKE ?", name).Scan(&n, &v); err != nil {
		t.Fatalf("read session status %s: %v", name, err)
	}
	return v
}
