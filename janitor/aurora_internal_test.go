package janitor

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/replica"
	"github.com/janitorhq/janitor/report"
)

// TestUncheckedAurora decides on rows as replica_host_status gives them (SERVER_ID,
// SESSION_ID, LAST_UPDATE_TIMESTAMP, REPLICA_LAG_IN_MILLISECONDS): no Aurora runs here.
// A live reader is unchecked unless a configured replica is it (by name, or its
// endpoint's first label) or ignore_replicas names its instance identifier.
func TestUncheckedAurora(t *testing.T) {
	now := time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC)
	row := func(id, session string, age time.Duration) replica.HostStatus {
		return replica.HostStatus{ServerID: id, SessionID: session, LastUpdate: now.Add(-age), LagMillis: sql.NullFloat64{Float64: 20, Valid: true}}
	}
	rows := []replica.HostStatus{
		row("orders-1", replica.WriterSession, 0),
		row("orders-2", "4b3c2e1a-0f9d-4c7b-8a6e-5d4c3b2a1f0e", time.Second),
		row("orders-3", "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", 2*time.Second),
		row("orders-old", "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9", time.Hour), // left the cluster
	}
	for _, c := range []struct {
		name string
		sc   ShardConfig
		want []string
	}{
		{"nothing configured", ShardConfig{}, []string{"orders-2", "orders-3"}},
		{"one ignored", ShardConfig{IgnoreReplicas: []string{"ORDERS-3"}}, []string{"orders-2"}},
		{"one listed by name", ShardConfig{Replicas: []ReplicaConfig{{Name: "orders-2"}}, IgnoreReplicas: []string{"orders-3"}}, nil},
		{"one listed by its instance endpoint", ShardConfig{Replicas: []ReplicaConfig{
			{Name: "reader", DSN: "janitor:pw@tcp(orders-2.c9akciq32.eu-west-1.rds.amazonaws.com:3306)/"},
			{Name: "other", Addr: "orders-3.c9akciq32.eu-west-1.rds.amazonaws.com:3306"}}}, nil},
		{"the cluster reader endpoint is no instance", ShardConfig{Replicas: []ReplicaConfig{
			{Name: "ro", DSN: "janitor:pw@tcp(orders.cluster-ro-c9akciq32.eu-west-1.rds.amazonaws.com:3306)/"}}}, []string{"orders-2", "orders-3"}},
		{"a server_id in ignore_replicas matches no instance", ShardConfig{IgnoreReplicas: []string{"2", "3"}}, []string{"orders-2", "orders-3"}},
	} {
		var got []string
		for _, line := range c.sc.uncheckedAurora(rows, now) {
			id, _, _ := strings.Cut(strings.TrimPrefix(line, "Aurora reader "), " ")
			got = append(got, id)
			if !strings.Contains(line, "ignore_replicas") {
				t.Errorf("%s: %q does not say how to fix it", c.name, line)
			}
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: unchecked %q, want %q", c.name, got, c.want)
		}
	}
	if err := validateIgnoreReplicas("shards[0]", []string{"orders-2", "a", "db-reader-2a"}); err != nil {
		t.Errorf("Aurora instance identifiers refused: %v", err)
	}
	for _, bad := range []string{"orders-2.c9akciq32.eu-west-1.rds.amazonaws.com", "orders-", "orders--2", "2orders", strings.Repeat("a", 64)} {
		if validateIgnoreReplicas("shards[0]", []string{bad}) == nil {
			t.Errorf("%q taken for an instance identifier", bad)
		}
	}
}

// recorder passes queries through to a server and records them; with hostStatus set it
// answers a query of information_schema.replica_host_status from those rows instead,
// as an Aurora writer would.
type recorder struct {
	sqlx.QueryerContext
	hostStatus string
	mu         sync.Mutex
	queries    []string
}

func (c *recorder) rewrite(q string) string {
	c.mu.Lock()
	c.queries = append(c.queries, q)
	c.mu.Unlock()
	if c.hostStatus != "" && strings.Contains(q, "information_schema.replica_host_status") {
		return strings.Replace(q, "information_schema.replica_host_status", "("+c.hostStatus+") AS replica_host_status", 1)
	}
	return q
}

func (c *recorder) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.QueryerContext.QueryContext(ctx, c.rewrite(q), args...)
}

func (c *recorder) QueryxContext(ctx context.Context, q string, args ...any) (*sqlx.Rows, error) {
	return c.QueryerContext.QueryxContext(ctx, c.rewrite(q), args...)
}

func (c *recorder) QueryRowxContext(ctx context.Context, q string, args ...any) *sqlx.Row {
	return c.QueryerContext.QueryRowxContext(ctx, c.rewrite(q), args...)
}

// TestAuroraReadersInTopology: on a server that is not Aurora (the sandbox), the
// topology check asks the primary what it asked before and nothing about Aurora;
// given an Aurora writer's replica_host_status (fed through the real server as a
// derived table, read by the code that reads it on Aurora), a live reader neither
// configured nor ignored blocks the shard with replica_unchecked, naming it.
func TestAuroraReadersInTopology(t *testing.T) {
	ctx := context.Background()
	cfg := Defaults()
	cfg.Shards = []ShardConfig{{Name: "sandbox", DSN: testdb.PrimaryDSN(t), Replicas: []ReplicaConfig{{Name: "r", DSN: testdb.ReplicaDSN(t)}}}}
	j := New(cfg, nil)
	run := func(t *testing.T, sc ShardConfig, aurora bool, hostStatus string) (*recorder, error) {
		r := &shardRun{j: j, sc: sc, log: j.log}
		t.Cleanup(r.close)
		r.replicas = j.replicaDBs(sc, &r.closers)
		primary := testdb.Primary(t)
		var err error
		if r.server, err = discovery.ReadServer(ctx, primary); err != nil {
			t.Fatal(err)
		}
		if r.server.Aurora {
			t.Fatal("the sandbox reads as Aurora")
		}
		r.server.Aurora = aurora
		rec := &recorder{QueryerContext: primary, hostStatus: hostStatus}
		return rec, r.checkTopology(ctx, rec)
	}

	t.Run("not Aurora", func(t *testing.T) {
		rec, err := run(t, cfg.Shards[0], false, "")
		if err != nil {
			t.Fatalf("the sandbox's topology: %v", err)
		}
		// The registry (SHOW REPLICAS or SHOW SLAVE HOSTS: MariaDB answers the second
		// after refusing the first) and the binlog dump sessions: nothing else.
		for _, q := range rec.queries {
			if strings.Contains(q, "replica_host_status") || strings.Contains(q, "aurora") {
				t.Errorf("a server that is not Aurora was asked %q", q)
			}
		}
		if want := 2 + btoi(testdb.Is(t, "mariadb", "mariadb-11.8")); len(rec.queries) != want {
			t.Errorf("%d queries on the primary, want %d: %q", len(rec.queries), want, rec.queries)
		}
	})

	hostStatus := `SELECT 'orders-1' AS SERVER_ID, 'MASTER_SESSION_ID' AS SESSION_ID, 0 AS REPLICA_LAG_IN_MILLISECONDS, UTC_TIMESTAMP(6) AS LAST_UPDATE_TIMESTAMP
		UNION ALL SELECT 'orders-2', '4b3c2e1a-0f9d-4c7b-8a6e-5d4c3b2a1f0e', 12.5, UTC_TIMESTAMP(6) - INTERVAL 2 SECOND
		UNION ALL SELECT 'orders-old', '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9', 10, UTC_TIMESTAMP(6) - INTERVAL 1 HOUR`
	t.Run("Aurora reader unchecked", func(t *testing.T) {
		_, err := run(t, cfg.Shards[0], true, hostStatus)
		var stop *errStop
		if !errors.As(err, &stop) || stop.code != report.BlockedReplicaUnchecked || !strings.Contains(stop.why, "Aurora reader orders-2 ") || strings.Contains(stop.why, "orders-old") {
			t.Fatalf("an unlisted live Aurora reader: %v, want replica_unchecked naming orders-2 and not the departed orders-old", err)
		}
	})
	t.Run("Aurora reader ignored", func(t *testing.T) {
		sc := cfg.Shards[0]
		sc.IgnoreReplicas = []string{"orders-2"}
		if _, err := run(t, sc, true, hostStatus); err != nil {
			t.Fatalf("an ignored Aurora reader still blocks: %v", err)
		}
	})
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
