package janitor_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// attachReplica2 starts the sandbox's second replica (server_id 3), fed by from
// ("primary" or, chained, "replica"), and detaches it when the test ends, so that no
// other test meets a replica it has not configured. It returns a pool to it and its DSN.
func attachReplica2(t *testing.T, from string) (*sqlx.DB, string) {
	t.Helper()
	out, err := exec.Command("../scripts/sandbox.sh", "replica2", from).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/sandbox.sh replica2 %s: %v\n%s", from, err, out)
	}
	dsn := os.Getenv("JANITOR_TEST_REPLICA2_DSN")
	if dsn == "" {
		t.Fatal("JANITOR_TEST_REPLICA2_DSN is not set: eval \"$(scripts/sandbox.sh env)\" again (this sandbox.sh prints it)")
	}
	r2 := testdb.Open(t, dsn)
	t.Cleanup(func() { detachReplica2(t, r2) })
	return r2, dsn
}

// detachReplica2 stops the second replica's replication and waits until its sources no
// longer list it: a binlog dump session outlives its replica until it next writes to it,
// so the dump sessions are ended (the sandbox replica reconnects within a second).
func detachReplica2(t *testing.T, r2 *sqlx.DB) {
	t.Helper()
	stop := "STOP SLAVE"
	if testdb.IsMySQL(t) {
		stop = "STOP REPLICA"
	}
	testdb.Exec(t, r2, stop)
	for _, db := range []*sqlx.DB{testdb.Primary(t), testdb.Open(t, testdb.ReplicaDSN(t))} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var ids []int64
			if err := db.Select(&ids, "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')"); err != nil {
				t.Fatal(err)
			}
			regs := registry(t, db)
			if !slices.ContainsFunc(strings.Split(regs, "; "), func(e string) bool { return strings.HasPrefix(e, "3 ") }) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the second replica is still registered: %s", regs)
			}
			for _, id := range ids {
				_, _ = db.Exec(fmt.Sprintf("KILL CONNECTION %d", id))
			}
			time.Sleep(200 * time.Millisecond) // polling the registry, with a deadline
		}
	}
	testdb.WaitReplica(t, testdb.Primary(t), testdb.Open(t, testdb.ReplicaDSN(t)))
}

// registry is a server's list of the replicas it feeds: "server_id host:port; …".
func registry(t *testing.T, db *sqlx.DB) string {
	t.Helper()
	stmt := "SHOW SLAVE HOSTS"
	if testdb.IsMySQL(t) {
		stmt = "SHOW REPLICAS"
	}
	rows, err := db.Queryx(stmt)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		m := map[string]any{}
		if err := rows.MapScan(m); err != nil {
			t.Fatal(err)
		}
		id := m["Server_id"]
		if id == nil {
			id = m["Server_Id"]
		}
		out = append(out, fmt.Sprintf("%s %s:%s", str(id), str(m["Host"]), str(m["Port"])))
	}
	return strings.Join(out, "; ")
}

func str(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// TestUnlistedReplicaBlocksTheShard: a second replica attached to the primary but not in
// the configuration, with a session on it that read the leftover in a transaction it
// keeps open. janitor used to look at the listed replica only and drop the table; the
// replicated DROP then waited on the second replica for that reader, stalling its
// replication. Now the shard is blocked (replica_unchecked), naming the second replica
// by its server_id and address, and the table stays. Listed, the second replica is
// looked at (the reader defers the table); named in ignore_replicas, it is not.
func TestUnlistedReplicaBlocksTheShard(t *testing.T) {
	r2, r2dsn := attachReplica2(t, "primary")
	primary := testdb.Primary(t)
	s := testdb.Schema(t, primary)
	oneLeftover(t, primary, s)
	testdb.WaitReplica(t, primary, r2)
	reader, err := r2.Connx(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	testdb.Exec(t, reader, "START TRANSACTION", "SELECT COUNT(*) FROM "+q(s, "__orders_old"))

	cfg := config(t, s)
	// The dry run says so up front.
	plan := janitor.New(cfg, nil).Run(context.Background(), false)
	if o := outcomes(plan)["__orders_old"]; o.Outcome != report.OutcomeDeferred || !strings.Contains(plan.Shards[0].Blocked, "server_id 3") {
		t.Errorf("dry run: outcome %q, blocked %q: want deferred, naming server_id 3", o.Outcome, plan.Shards[0].Blocked)
	}
	r := janitor.New(cfg, nil).Run(context.Background(), true)
	o := outcomes(r)["__orders_old"]
	b := r.Shards[0]
	t.Logf("blocked: %s", b.Blocked)
	port := r2dsn[strings.LastIndex(r2dsn, ":")+1 : strings.LastIndex(r2dsn, ")")]
	// MySQL's registry has no address without report_host: the dump sessions' are named.
	addr := "server_id 3 at 127.0.0.1:" + port
	if testdb.IsMySQL(t) {
		addr = "come from 127.0.0.1:"
	}
	if o.Outcome != report.OutcomeDeferred || b.BlockedCode != report.BlockedReplicaUnchecked ||
		!strings.Contains(b.Blocked, "server_id 3") || !strings.Contains(b.Blocked, addr) || !strings.Contains(b.Blocked, "ignore_replicas") {
		t.Errorf("outcome %q (%s), blocked %q (%s): want deferred, blocked replica_unchecked naming server_id 3 and %q",
			o.Outcome, o.Reason, b.BlockedCode, b.Blocked, addr)
	}
	if !exists(t, primary, s, "__orders_old") || !exists(t, r2, s, "__orders_old") {
		t.Fatal("the table was dropped with an unlisted replica attached")
	}

	// Listed, it is looked at like the first: the reader there defers the table.
	cfg.Shards[0].Replicas = append(cfg.Shards[0].Replicas, janitor.ReplicaConfig{Name: "sandbox-replica2", DSN: r2dsn})
	r = janitor.New(cfg, nil).Run(context.Background(), true)
	if o := outcomes(r)["__orders_old"]; o.Outcome != report.OutcomeDeferred || !strings.Contains(o.Reason, "replica sandbox-replica2") || r.Shards[0].Blocked != "" {
		t.Errorf("listed: outcome %q (%s), blocked %q: want deferred by the reader on sandbox-replica2", o.Outcome, o.Reason, r.Shards[0].Blocked)
	}

	// Ignored on purpose (the reader gone first: ignoring it would stall that replica).
	testdb.Exec(t, reader, "ROLLBACK")
	cfg.Shards[0].Replicas = cfg.Shards[0].Replicas[:1]
	cfg.Shards[0].IgnoreReplicas = []string{"3"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r = janitor.New(cfg, nil).Run(context.Background(), true)
	if o := outcomes(r)["__orders_old"]; o.Outcome != report.OutcomeDropped {
		t.Errorf("ignored: outcome %q (%s), blocked %q: want dropped", o.Outcome, o.Reason, r.Shards[0].Blocked)
	}
}

// TestChainedReplicaIsLookedAt: a replica fed by the listed replica (a chain: it applies
// the primary's DDL through the listed replica's binary log) is reached by every DROP
// and RENAME as well; unlisted, it blocks the shard, named as fed by the listed replica.
func TestChainedReplicaIsLookedAt(t *testing.T) {
	attachReplica2(t, "replica")
	primary := testdb.Primary(t)
	s := testdb.Schema(t, primary)
	oneLeftover(t, primary, s)
	blockedUnchecked(t, primary, s, "server_id 3", "fed by replica sandbox-replica")
}

// blockedUnchecked runs janitor with drops on schema s and wants the shard blocked with
// replica_unchecked, the reason holding each of want, and __orders_old still there.
func blockedUnchecked(t *testing.T, primary *sqlx.DB, s string, want ...string) {
	t.Helper()
	r := janitor.New(config(t, s), nil).Run(context.Background(), true)
	b := r.Shards[0]
	t.Logf("blocked: %s", b.Blocked)
	ok := b.BlockedCode == report.BlockedReplicaUnchecked
	for _, w := range want {
		ok = ok && strings.Contains(b.Blocked, w)
	}
	if !ok {
		t.Errorf("blocked %q (%s): want replica_unchecked naming %q", b.BlockedCode, b.Blocked, want)
	}
	if !exists(t, primary, s, "__orders_old") {
		t.Error("the table was dropped with a replica janitor does not look at attached")
	}
}

// TestUnregisteredBinlogReaderBlocks: mysqlbinlog --read-from-remote-server (MariaDB's
// mariadb-binlog) streams the binary log without registering: a dump session with no
// registry row, which janitor cannot match to anything, so the shard is blocked, naming
// the sessions' addresses.
func TestUnregisteredBinlogReaderBlocks(t *testing.T) {
	primary := testdb.Primary(t)
	s := testdb.Schema(t, primary)
	oneLeftover(t, primary, s)
	dumps := func() []int64 {
		var ids []int64
		if err := primary.Select(&ids, "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')"); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	before := dumps()
	rows, err := primary.Queryx("SHOW BINARY LOGS")
	if err != nil {
		t.Fatal(err)
	}
	var first string
	for rows.Next() {
		m := map[string]any{}
		if err := rows.MapScan(m); err != nil {
			t.Fatal(err)
		}
		if first == "" {
			first = str(m["Log_name"])
		}
	}
	rows.Close()
	cfg, err := dbconn.ParseDSN(testdb.PrimaryDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(cfg.Addr, ":")
	args := []string{"--no-defaults", "--read-from-remote-server", "-h" + host, "-P" + port, "-u" + cfg.User, "-p" + cfg.Passwd, "--stop-never", first}
	ctx, cancel := context.WithCancel(context.Background())
	var cmd *exec.Cmd
	switch root := os.Getenv("JANITOR_TEST_PRIMARY_FSROOT"); {
	case testdb.IsMySQL(t):
		cmd = exec.CommandContext(ctx, "chroot", append([]string{root, "mysqlbinlog"}, args...)...)
	case root != "":
		// MariaDB 11.8 in its chroot: the host's 10.11 client does not know its version,
		// and 11.4+'s own requires TLS by default.
		cmd = exec.CommandContext(ctx, "chroot", append([]string{root, "mariadb-binlog", "--no-defaults", "--skip-ssl"}, args[1:]...)...) // --no-defaults comes first
	default:
		cmd = exec.CommandContext(ctx, "mariadb-binlog", args...)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		// Its dump session outlives it until the server next writes to it: end it.
		deadline := time.Now().Add(30 * time.Second)
		for {
			var extra []int64
			for _, id := range dumps() {
				if !slices.Contains(before, id) {
					extra = append(extra, id)
				}
			}
			if len(extra) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the binlog reader's dump sessions %v are still there", extra)
			}
			for _, id := range extra {
				_, _ = primary.Exec(fmt.Sprintf("KILL CONNECTION %d", id))
			}
			time.Sleep(100 * time.Millisecond) // polling the process list, with a deadline
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for len(dumps()) <= len(before) {
		if time.Now().After(deadline) {
			t.Fatal("the binlog reader never opened a dump session")
		}
		time.Sleep(50 * time.Millisecond) // polling the process list, with a deadline
	}
	blockedUnchecked(t, primary, s, "binlog dump sessions on the primary", "from 127.0.0.1:")
	// A DBA who says one such client is expected (a CDC connector) gets the shard back;
	// a second one would block it again.
	jcfg := config(t, s)
	jcfg.Shards[0].UnregisteredBinlogReaders = 1
	r := janitor.New(jcfg, nil).Run(context.Background(), true)
	if b := r.Shards[0]; b.BlockedCode != "" || r.Failed() {
		t.Errorf("with unregistered_binlog_readers: 1, blocked %q (%s), error %q; want the shard to go on", b.BlockedCode, b.Blocked, b.Error)
	}
	if o := outcomes(r)["__orders_old"]; o.Outcome != report.OutcomeDropped && o.Outcome != report.OutcomeHeld {
		t.Errorf("__orders_old: %q (%s); want it dropped or held once the reader is expected", o.Outcome, o.Reason)
	}
}
