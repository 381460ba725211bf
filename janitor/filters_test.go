package janitor_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// replicaFilter sets one replication filter on the sandbox replica for the rest of the
// test, in the flavor's own dynamic way (no restart): MariaDB's SET GLOBAL with the
// replica stopped, MySQL's CHANGE REPLICATION FILTER with the applier stopped. name is
// MariaDB's variable (replicate_do_db, …), value its setting.
func replicaFilter(t *testing.T, replica *sqlx.DB, name, value string) {
	t.Helper()
	set := func(v string) []string {
		if testdb.IsMySQL(t) {
			list := ""
			if v != "" {
				if strings.HasSuffix(name, "_db") {
					list = dbconn.QuoteIdent(v)
				} else {
					list = "'" + strings.ReplaceAll(v, `\`, `\\`) + "'"
				}
			}
			return []string{"STOP REPLICA SQL_THREAD", "CHANGE REPLICATION FILTER " + strings.ToUpper(name) + " = (" + list + ")", "START REPLICA SQL_THREAD"}
		}
		return []string{"STOP SLAVE", "SET GLOBAL " + name + " = '" + strings.ReplaceAll(v, `\`, `\\`) + "'", "START SLAVE"}
	}
	testdb.Exec(t, replica, set(value)...)
	t.Cleanup(func() { testdb.Exec(t, replica, set("")...) })
}

// applierError waits (up to 10 s) for the replica to apply everything the primary has
// written, and returns "" when it did, else what its applier says.
func applierError(t *testing.T, primary, replica *sqlx.DB) string {
	t.Helper()
	posQ, waitQ := "SELECT @@gtid_binlog_pos", "SELECT MASTER_GTID_WAIT(?, 10)"
	if testdb.IsMySQL(t) {
		posQ, waitQ = "SELECT @@gtid_executed", "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, 10)"
	}
	var pos string
	if err := primary.Get(&pos, posQ); err != nil {
		t.Fatal(err)
	}
	var res int
	if err := replica.Get(&res, waitQ, pos); err == nil && res == 0 {
		return ""
	}
	rows, err := replica.Queryx(testdb.ReplicaStatus(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		return "no replication"
	}
	m := map[string]any{}
	if err := rows.MapScan(m); err != nil {
		t.Fatal(err)
	}
	return "applier running " + str(m["Slave_SQL_Running"]) + str(m["Replica_SQL_Running"]) + ": " + str(m["Last_SQL_Error"])
}

// repairOnFailure, when the test fails, skips the replicated statements the sandbox
// replica's applier stopped on, so that one failure does not stop every later test.
func repairOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		ctx := context.Background()
		replica := testdb.Open(t, testdb.ReplicaDSN(t))
		for range 20 {
			if applierError(t, testdb.Primary(t), replica) == "" {
				return
			}
			conn, err := replica.Connx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if testdb.IsMySQL(t) {
				// The failed transaction is named in the applier's error.
				if m := failedGTID.FindStringSubmatch(applierError(t, testdb.Primary(t), replica)); m != nil {
					testdb.Exec(t, conn, "STOP REPLICA", "SET GTID_NEXT = '"+m[1]+"'", "BEGIN", "COMMIT", "SET GTID_NEXT = 'AUTOMATIC'", "START REPLICA")
				}
			} else {
				testdb.Exec(t, conn, "STOP SLAVE", "SET GLOBAL sql_slave_skip_counter = 1", "START SLAVE")
			}
			conn.Close()
		}
		t.Errorf("could not repair the sandbox replica: %s", applierError(t, testdb.Primary(t), replica))
	})
}

var failedGTID = regexp.MustCompile(`transaction '([0-9a-f-]+:[0-9]+)'`)

// tool is a session with schema as its default database, as the schema-change tools
// send their statements.
func tool(t *testing.T, schema string) *sqlx.DB {
	return testdb.Open(t, testdb.WithDB(testdb.PrimaryDSN(t), schema))
}

// TestTableMissingOnAReplica: a leftover created on the primary with sql_log_bin=0 is
// not on the replica. The hold's first statement, its comment ALTER, stopped the
// replica's applier with error 1146 (both flavors); the DROP stops it on MySQL (1051;
// MariaDB applies it as DROP IF EXISTS). Now janitor sends nothing about the table: it
// is skipped, naming the replica, and replication keeps running.
func TestTableMissingOnAReplica(t *testing.T) {
	for _, hold := range []time.Duration{testHold, 0} {
		t.Run(map[bool]string{true: "hold", false: "drop"}[hold > 0], func(t *testing.T) {
			repairOnFailure(t)
			primary := testdb.Primary(t)
			replica := testdb.Open(t, testdb.ReplicaDSN(t))
			s := testdb.Schema(t, primary)
			testdb.Exec(t, primary, "CREATE TABLE "+q(s, "orders")+" (id INT PRIMARY KEY)")
			conn, err := primary.Connx(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			testdb.Exec(t, conn, "SET SESSION sql_log_bin = 0", "CREATE TABLE "+q(s, "__orders_old")+" (id INT PRIMARY KEY)")
			conn.Close()
			testdb.WaitReplica(t, primary, replica)
			cfg := config(t, s)
			cfg.Execute.Hold = hold
			r := janitor.New(cfg, nil).Run(context.Background(), true)
			o := outcomes(r)["__orders_old"]
			t.Logf("reason: %s", o.Reason)
			if o.Outcome != report.OutcomeSkipped || !strings.Contains(o.Reason, "replica sandbox-replica: does not have") {
				t.Errorf("outcome %q (%s): want skipped, naming the replica that lacks it", o.Outcome, o.Reason)
			}
			if e := applierError(t, primary, replica); e != "" {
				t.Errorf("the replica stopped: %s", e)
			}
			if !exists(t, primary, s, "__orders_old") {
				t.Error("the table is gone from the primary")
			}
		})
	}
}

// TestReplicationFilters: a replica with a replication filter applies janitor's
// statements as it applied the tool's own, which janitor now sends with the table's
// schema as default database, or janitor leaves the table, naming the filter.
//   - replicate-do-db=schema: the tool's tables reached the replica. janitor's statements,
//     sent with no default database, were filtered out: the replica kept the leftover,
//     and a tool's later swap onto that name would stop it (1050). Now they apply.
//   - replicate-ignore-db=schema: the replica never had the tables. janitor's statements,
//     with no default database, passed the filter and stopped the applier (1146). Now
//     they are filtered out too.
//   - replicate-wild-ignore-table=schema.\_\_%: the replica never had __orders_old. The
//     hold's RENAME is filtered out (its first table matches) but its ALTER of the hold
//     name is not, and stopped the applier (1146): the hold is refused, naming the
//     filter. A DROP is filtered out as the CREATE was, and goes ahead.
func TestReplicationFilters(t *testing.T) {
	for _, tc := range []struct {
		filter, value string
		// onReplica: the leftover reached the replica.
		onReplica bool
		// holdRefused: the hold is refused by the filter.
		holdRefused bool
	}{
		{"replicate_do_db", "%s", true, false},
		{"replicate_ignore_db", "%s", false, false},
		{"replicate_wild_ignore_table", `%s.\_\_%`, false, true},
	} {
		for _, hold := range []time.Duration{testHold, 0} {
			t.Run(tc.filter+"/"+map[bool]string{true: "hold", false: "drop"}[hold > 0], func(t *testing.T) {
				repairOnFailure(t)
				primary := testdb.Primary(t)
				replica := testdb.Open(t, testdb.ReplicaDSN(t))
				s := testdb.Schema(t, primary)
				testdb.WaitReplica(t, primary, replica)
				replicaFilter(t, replica, tc.filter, strings.ReplaceAll(tc.value, "%s", s))
				// As a tool creates them: unqualified, under USE schema.
				testdb.Exec(t, tool(t, s), "CREATE TABLE orders (id INT PRIMARY KEY)", "CREATE TABLE __orders_old (id INT PRIMARY KEY)")
				testdb.WaitReplica(t, primary, replica)
				if got := exists(t, replica, s, "__orders_old"); got != tc.onReplica {
					t.Fatalf("setup: the leftover on the replica: %v, want %v", got, tc.onReplica)
				}
				cfg := config(t, s)
				cfg.Execute.Hold = hold
				r := janitor.New(cfg, nil).Run(context.Background(), true)
				o := outcomes(r)["__orders_old"]
				t.Logf("outcome %s: %s", o.Outcome, o.Reason)
				if e := applierError(t, primary, replica); e != "" {
					t.Fatalf("the replica stopped: %s", e)
				}
				want := report.OutcomeDropped
				if hold > 0 {
					want = report.OutcomeHeld
					if tc.holdRefused {
						want = report.OutcomeSkipped
					}
				}
				if o.Outcome != want || r.Shards[0].Blocked != "" {
					t.Fatalf("outcome %q (%s), blocked %q: want %s", o.Outcome, o.Reason, r.Shards[0].Blocked, want)
				}
				if want == report.OutcomeSkipped {
					if !strings.Contains(o.Reason, "replica sandbox-replica") || !strings.Contains(o.Reason, tc.filter) {
						t.Errorf("reason %q: want the replica and its filter %s named", o.Reason, tc.filter)
					}
					return
				}
				// The replica ends as the primary does: the old name gone everywhere.
				if exists(t, replica, s, "__orders_old") {
					t.Errorf("the replica kept __orders_old: its filter left janitor's statement out")
				}
			})
		}
	}
}

// TestRestoreUnderDoDB: with replicate-do-db on the replica, `janitor restore`'s RENAME,
// sent with no default database, was filtered out there: the primary had the table back
// under its name, the replica kept the hold name. It is sent with USE schema now, as the
// hold's own statements are.
func TestRestoreUnderDoDB(t *testing.T) {
	repairOnFailure(t)
	primary := testdb.Primary(t)
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	s := testdb.Schema(t, primary)
	testdb.WaitReplica(t, primary, replica)
	replicaFilter(t, replica, "replicate_do_db", s)
	testdb.Exec(t, tool(t, s), "CREATE TABLE orders (id INT PRIMARY KEY)", "CREATE TABLE __orders_old (id INT PRIMARY KEY)")
	cfg := holdConfig(t, s)
	if o := outcomes(janitor.New(cfg, nil).Run(context.Background(), true))["__orders_old"]; o.Outcome != report.OutcomeHeld {
		t.Fatalf("hold: %+v", o)
	}
	hold := heldName(t, primary, s, "__orders_old")
	if done := restore(t, cfg, s, "__orders_old"); len(done) != 1 {
		t.Fatalf("restore: %+v", done)
	}
	if e := applierError(t, primary, replica); e != "" {
		t.Fatalf("the replica stopped: %s", e)
	}
	if !exists(t, replica, s, "__orders_old") || exists(t, replica, s, hold) {
		t.Errorf("the replica has __orders_old %v, %s %v: want the original name back there too",
			exists(t, replica, s, "__orders_old"), hold, exists(t, replica, s, hold))
	}
}

// TestPurgeStopsWhenAReplicaLosesTheTable: the table is dropped on the replica by hand
// (sql_log_bin=0) between two purge batches. The next batch's row events stopped the
// replica's applier (1146). The replica's copy is read before every batch now: the purge
// stops, the table is skipped naming the replica, and replication keeps running.
func TestPurgeStopsWhenAReplicaLosesTheTable(t *testing.T) {
	repairOnFailure(t)
	_, primary, replica, s, cfg, _ := purgeShard(t, 5*time.Second)
	j := janitor.New(cfg, nil)
	j.Hooks.PurgeBatch = func(_, _, _ string, purged int64) {
		if purged > 0 && exists(t, replica, s, "__a_old") {
			local := testdb.Open(t, testdb.ReplicaDSN(t))
			conn, err := local.Connx(context.Background())
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			testdb.Exec(t, conn, "SET SESSION sql_log_bin = 0", "DROP TABLE "+q(s, "__a_old"))
		}
	}
	r := j.Run(context.Background(), true)
	o := outcomes(r)["__a_old"]
	t.Logf("%s: %s", o.Outcome, o.Reason)
	if e := applierError(t, primary, replica); e != "" {
		t.Fatalf("the replica stopped: %s", e)
	}
	if o.Outcome != report.OutcomeSkipped || !strings.Contains(o.Reason, "purge stopped after") || !strings.Contains(o.Reason, "replica sandbox-replica: does not have") {
		t.Errorf("outcome %q (%s): want skipped, the purge stopped, naming the replica that lost the table", o.Outcome, o.Reason)
	}
}
