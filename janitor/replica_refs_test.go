package janitor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// TestReplicaOnlyReferencesKeepTheTable: a replica may hold objects the primary lacks
// (a reporting schema created there directly). A replica-only child table whose foreign
// key references the leftover made the replicated DROP stop the replica's applier with
// error 1451 (measured on MariaDB 10.11: Slave_SQL_Running: No, janitor reported
// "dropped" and exited 0); a replica-only view over it failed afterwards with 1356.
// Both keep the table now, which stays on both servers, and replication keeps running.
func TestReplicaOnlyReferencesKeepTheTable(t *testing.T) {
	for _, tc := range []struct{ kind, ddl, want string }{
		{"foreign key", "CREATE TABLE %s (id INT PRIMARY KEY, ref INT, FOREIGN KEY (ref) REFERENCES %s (id)) ENGINE=InnoDB", "foreign key"},
		{"view", "CREATE VIEW %s AS SELECT id FROM %s", "view"},
		// A weekly event on the replica alone (MySQL: its body is unreadable for a name
		// with a backtick, which keeps the table too).
		{"event", "CREATE EVENT %s ON SCHEDULE EVERY 1 WEEK STARTS CURRENT_TIMESTAMP + INTERVAL 1 YEAR DO DELETE FROM %s", "event"},
		// A reporting account on the replica alone; the first %s only names the case.
		{"grant", "GRANT SELECT ON %[2]s TO 'rpt_reader'@'%%' /* %[1]s */", "rpt_reader"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			base, old := oddName(t, "rpt")
			primary, replica, s := rptLeftovers(t, base, old)
			// Another schema, on the replica only: a reporting schema.
			// Written with sql_log_bin=0: the replica's own binary log must not get
			// transactions of its own (gtid_strict_mode would stop its applier).
			other := s + "_ro"
			local, _ := replicaConn(t)
			testdb.Exec(t, local, "SET sql_log_bin = 0", "CREATE DATABASE "+dbconn.QuoteIdent(other), "CREATE USER 'rpt_reader'@'%'",
				fmt.Sprintf(tc.ddl, q(other, "Child é"), q(s, old)))
			t.Cleanup(func() {
				testdb.Exec(t, local, "DROP DATABASE IF EXISTS "+dbconn.QuoteIdent(other), "DROP USER IF EXISTS 'rpt_reader'@'%'")
			})

			r := janitor.New(config(t, s), nil).Run(context.Background(), true)
			o := outcomes(r)[old]
			t.Logf("reason: %s", o.Reason)
			if o.Outcome != report.OutcomeSkipped || !strings.Contains(o.Reason, "replica sandbox-replica") || !strings.Contains(o.Reason, tc.want) {
				t.Errorf("outcome %q (%s); want skipped, naming sandbox-replica and the %s", o.Outcome, o.Reason, tc.want)
			}
			if !exists(t, primary, s, old) || !exists(t, replica, s, old) {
				t.Errorf("the table was dropped")
			}
			var running string
			rows, err := replica.Queryx(testdb.ReplicaStatus(t))
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				m := map[string]any{}
				if err := rows.MapScan(m); err != nil {
					t.Fatal(err)
				}
				if v, ok := m["Slave_SQL_Running"].([]byte); ok {
					running = string(v)
				}
				if v, ok := m["Replica_SQL_Running"].([]byte); ok {
					running = string(v)
				}
			}
			rows.Close()
			if running != "Yes" {
				t.Errorf("the replica's applier runs %q, want Yes", running)
			}
		})
	}
}

// TestStoppedApplierAfterDropStopsTheShard: a replicated DROP that fails on a replica —
// here a replica-only foreign key created after the pre-DROP check — stops the replica's
// applier. janitor used to wait out max_replica_lag, report a clean "dropped" and exit 0;
// it now stops the shard, names the replica and its error, and counts it.
func TestStoppedApplierAfterDropStopsTheShard(t *testing.T) {
	primary, replica, s := rptLeftovers(t, "rpt", "__rpt_old")
	other := s + "_ro"
	local, _ := replicaConn(t)
	testdb.Exec(t, local, "SET sql_log_bin = 0", "CREATE DATABASE "+dbconn.QuoteIdent(other))
	t.Cleanup(func() {
		testdb.Exec(t, local, "DROP DATABASE IF EXISTS "+dbconn.QuoteIdent(other))
		start := "START SLAVE"
		if testdb.IsMySQL(t) {
			start = "START REPLICA"
		}
		testdb.Exec(t, replica, start)
		testdb.WaitReplica(t, primary, replica)
	})
	j := janitor.New(config(t, s), nil)
	blocked := 0
	j.Hooks.ReplicaBlocked = func(string, string) { blocked++ }
	j.Hooks.BeforeDrop = func(_, schema, table string) {
		testdb.Exec(t, local, fmt.Sprintf("CREATE TABLE %s (id INT PRIMARY KEY, ref INT, FOREIGN KEY (ref) REFERENCES %s (id)) ENGINE=InnoDB",
			q(other, "child"), q(schema, table)))
	}
	r := j.Run(context.Background(), true)
	b := r.Shards[0].Blocked
	t.Logf("blocked: %s", b)
	if !strings.Contains(b, "replica sandbox-replica") || !strings.Contains(b, "applier") || !strings.Contains(b, "stopped") {
		t.Errorf("blocked = %q; want the replica's stopped applier named", b)
	}
	if blocked != 1 {
		t.Errorf("ReplicaBlocked told %d times, want 1", blocked)
	}
}
