package throttle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/internal/testprom"
	"github.com/janitorhq/janitor/replica"
)

func i64(n int64) *int64 { return &n }

func TestEvaluateReplicaStatuses(t *testing.T) {
	ok := func(ch string, lag int64) replica.Status {
		return replica.Status{Channel: ch, IORunning: "Yes", SQLRunning: "Yes", Lag: i64(lag)}
	}
	cases := []struct {
		name    string
		sts     []replica.Status
		healthy bool
		value   string
	}{
		{"caught up", []replica.Status{ok("", 0)}, true, "lag 0s"},
		{"at limit", []replica.Status{ok("", 5)}, true, "lag 5s"},
		{"lagging", []replica.Status{ok("", 6)}, false, "lag 6s"},
		{"NULL lag is not zero", []replica.Status{{IORunning: "Yes", SQLRunning: "Yes"}}, false, "NULL"},
		{"SQL thread stopped", []replica.Status{{IORunning: "Yes", SQLRunning: "No", Lag: i64(0)}}, false, "SQL No"},
		{"IO connecting", []replica.Status{{IORunning: "Connecting", SQLRunning: "Yes", Lag: i64(0)}}, false, "IO Connecting"},
		{"broken with error", []replica.Status{{IORunning: "Yes", SQLRunning: "No", LastError: "Duplicate entry"}}, false, "Duplicate entry"},
		{"not a replica", nil, false, "not replicating"},
		// Multi-source: every channel counts, not the first (a review found only the
		// first was read).
		{"second channel stopped", []replica.Status{ok("a", 0), {Channel: "b", IORunning: "Yes", SQLRunning: "No"}}, false, `channel "b": replication stopped`},
		{"second channel lagging", []replica.Status{ok("a", 0), ok("b", 900)}, false, `channel "b": lag 15m0s`},
		{"all channels fine", []replica.Status{ok("a", 1), ok("b", 2)}, true, `channel "b": lag 2s`},
		// MySQL's performance_schema timestamps beside Seconds_Behind_Source.
		{"applying an old transaction", []replica.Status{withPS(ok("", 0), dur(9*time.Second), nil, 0)}, false, "lag 9s (applying"},
		{"applying a fresh transaction", []replica.Status{withPS(ok("", 1), dur(time.Second/2), nil, 0)}, true, "lag 1s (max"},
		{"receiver silent past two heartbeats", []replica.Status{withPS(ok("", 0), nil, dur(70*time.Second), 30*time.Second)}, false, "lag 40s (receiver heard nothing"},
		{"receiver silent within two heartbeats", []replica.Status{withPS(ok("", 0), nil, dur(50*time.Second), 30*time.Second)}, true, "lag 0s"},
		{"no heartbeat promised", []replica.Status{withPS(ok("", 0), nil, dur(time.Hour), 0)}, true, "lag 0s"},
		{"never heard yet", []replica.Status{withPS(ok("", 0), nil, nil, 30*time.Second)}, true, "lag 0s"},
	}
	for _, c := range cases {
		r := EvaluateReplicaStatuses(c.sts, 5*time.Second)
		if r.Healthy != c.healthy || !strings.Contains(r.Value, c.value) {
			t.Errorf("%s: %+v, want healthy=%v value~%q", c.name, r, c.healthy, c.value)
		}
	}
}

func dur(d time.Duration) *time.Duration { return &d }

func withPS(st replica.Status, applying, silent *time.Duration, heartbeat time.Duration) replica.Status {
	st.Applying, st.Silent, st.Heartbeat = applying, silent, heartbeat
	return st
}

// TestEvaluateAurora runs on canned replica_host_status rows: no Aurora runs here.
func TestEvaluateAurora(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	row := func(id, session string, lag float64, valid bool, age time.Duration) replica.HostStatus {
		return replica.HostStatus{ServerID: id, SessionID: session, LagMillis: sql.NullFloat64{Float64: lag, Valid: valid}, LastUpdate: now.Add(-age)}
	}
	writer := row("writer-1", "MASTER_SESSION_ID", 0, true, 0)
	cases := []struct {
		name     string
		rows     []replica.HostStatus
		expected []string
		healthy  bool
		value    string
	}{
		{"readers in sync", []replica.HostStatus{writer, row("r1", "a", 15, true, time.Second), row("r2", "b", 20, true, time.Second)}, nil, true, "r2"},
		{"one reader lagging", []replica.HostStatus{writer, row("r1", "a", 15, true, time.Second), row("r2", "b", 9000, true, time.Second)}, nil, false, "r2 lag 9s"},
		{"reader without lag", []replica.HostStatus{writer, row("r1", "a", 0, false, time.Second)}, nil, false, "no lag"},
		{"departed reader ignored", []replica.HostStatus{writer, row("gone", "c", 999999, true, time.Hour), row("r1", "a", 10, true, 0)}, nil, true, "r1"},
		{"writer only", []replica.HostStatus{writer}, nil, true, "no readers"},
		// The writer's own row never counts, whatever it says.
		{"writer row lag ignored", []replica.HostStatus{row("writer-1", "MASTER_SESSION_ID", 1e9, true, 0), row("r1", "a", 1, true, 0)}, nil, true, "r1"},
		// A review: a stuck or missing reader must hold drops when the cluster is known to
		// have it; without the list, a lone stuck reader's stale row reads as "no readers".
		{"expected reader stuck", []replica.HostStatus{writer, row("r1", "a", 900000, true, 6*time.Minute)}, []string{"r1"}, false, "r1 has not reported for 6m0s"},
		{"expected reader missing", []replica.HostStatus{writer, row("r1", "a", 10, true, 0)}, []string{"r1", "r2"}, false, "r2 is not in replica_host_status"},
		{"expected readers fine", []replica.HostStatus{writer, row("r1", "a", 10, true, 0), row("r2", "b", 20, true, 0)}, []string{"r1", "r2"}, true, "r2"},
		{"listed reader promoted to writer", []replica.HostStatus{row("r1", "MASTER_SESSION_ID", 0, true, 0), row("writer-1", "b", 10, true, 0)}, []string{"r1"}, true, "writer-1"},
		{"stuck reader unlisted", []replica.HostStatus{writer, row("r1", "a", 900000, true, 6*time.Minute)}, nil, true, "list aurora_readers"},
	}
	for _, c := range cases {
		r := EvaluateAurora(c.rows, now, 5*time.Second, c.expected)
		if r.Healthy != c.healthy || !strings.Contains(r.Value, c.value) {
			t.Errorf("%s: %+v, want healthy=%v value~%q", c.name, r, c.healthy, c.value)
		}
	}
}

// TestEvaluateAuroraMinReaders: min_readers holds drops when readers are gone without
// naming instances (auto-scaling replaces them); a stale row does not count.
func TestEvaluateAuroraMinReaders(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	row := func(id, session string, age time.Duration) replica.HostStatus {
		return replica.HostStatus{ServerID: id, SessionID: session, LagMillis: sql.NullFloat64{Float64: 10, Valid: true}, LastUpdate: now.Add(-age)}
	}
	writer := row("w", "MASTER_SESSION_ID", 0)
	for _, c := range []struct {
		rows    []replica.HostStatus
		min     int
		healthy bool
		value   string
	}{
		{[]replica.HostStatus{writer, row("r1", "a", 0), row("r2", "b", 0)}, 2, true, "worst reader"},
		{[]replica.HostStatus{writer, row("r1", "a", 0), row("r2", "b", 6*time.Minute)}, 2, false, "1 readers report fresh rows, min_readers is 2"},
		{[]replica.HostStatus{writer}, 1, false, "0 readers"},
		{[]replica.HostStatus{writer}, 0, true, "no readers"},
	} {
		r := EvaluateAuroraMin(c.rows, now, 5*time.Second, nil, c.min)
		if r.Healthy != c.healthy || !strings.Contains(r.Value, c.value) {
			t.Errorf("min %d, %d rows: %+v, want healthy=%v value~%q", c.min, len(c.rows), r, c.healthy, c.value)
		}
	}
}

type fixed struct {
	name string
	seq  []Reading
	n    atomic.Int64
}

func (f *fixed) Name() string { return f.name }
func (f *fixed) Check(context.Context) Reading {
	i := int(f.n.Add(1)) - 1
	if i >= len(f.seq) {
		i = len(f.seq) - 1
	}
	return f.seq[i]
}

func TestWaitReturnsOnceHealthy(t *testing.T) {
	lag := &fixed{name: "replica_lag:r1", seq: []Reading{{Value: "lag 9s"}, {Value: "lag 7s"}, {Healthy: true, Value: "lag 1s"}}}
	var waited []string
	thr := New([]Signal{lag, Noop{}}, time.Millisecond, time.Second, nil)
	thr.OnWait = func(s string, _ time.Duration) { waited = append(waited, s) }
	if err := thr.Wait(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	if lag.n.Load() != 3 || len(waited) != 2 || waited[0] != "replica_lag:r1" {
		t.Errorf("checks=%d waited=%v", lag.n.Load(), waited)
	}
}

func TestWaitFailsClosed(t *testing.T) {
	broken := &fixed{name: "replica_lag:r1", seq: []Reading{{Healthy: true, Err: errors.New("connection refused")}}}
	thr := New([]Signal{broken}, time.Millisecond, time.Second, nil)
	err := thr.Wait(context.Background(), 20*time.Millisecond)
	var b *Blocked
	if !errors.As(err, &b) || !errors.Is(err, ErrMaxWait) {
		t.Fatalf("err = %v, want *Blocked", err)
	}
	if !strings.Contains(err.Error(), "replica_lag:r1: unreadable: connection refused") {
		t.Errorf("error does not name the signal and its last value: %v", err)
	}
}

func TestWaitStopsOnCancel(t *testing.T) {
	bad := &fixed{name: "threads_running", seq: []Reading{{Value: "99 running"}}}
	thr := New([]Signal{bad}, time.Hour, time.Second, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- thr.Wait(ctx, time.Hour) }()
	for bad.n.Load() == 0 {
		time.Sleep(time.Millisecond) // polling for the first check, not synchronising on time
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

// TestFreeableMemory runs client_golang's real API client against a local HTTP server
// speaking the Prometheus query API.
func TestFreeableMemory(t *testing.T) {
	cases := []struct {
		name    string
		status  int
		body    string
		healthy bool
		errLike string
		value   string
	}{
		{"above floor", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"instance":"a"},"value":[1700000000,"4294967296"]},{"metric":{"instance":"b"},"value":[1700000000,"3221225472"]}]}}`, true, "", "3.0 GiB"},
		{"below floor", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"104857600"]}]}}`, false, "", "100.0 MiB"},
		{"no series", 200, `{"status":"success","data":{"resultType":"vector","result":[]}}`, false, "", "no series"},
		{"NaN", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"NaN"]}]}}`, false, "", "NaN"},
		{"+Inf", 200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"+Inf"]}]}}`, false, "", ""},
		{"partial answer", 200, `{"status":"success","warnings":["store gateway eu-1 unreachable"],"data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"4294967296"]}]}}`, false, "", "warnings: store gateway eu-1 unreachable"},
		{"server error", 503, `{"status":"error","errorType":"unavailable","error":"overloaded"}`, false, "503", ""},
		{"bad query", 400, `{"status":"error","errorType":"bad_data","error":"parse error"}`, false, "parse error", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var gotQuery string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				gotQuery = r.Form.Get("query")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(c.status)
				_, _ = w.Write([]byte(c.body))
			}))
			defer srv.Close()
			fm, err := NewFreeableMemory(srv.URL, nil, `min(node_memory_MemAvailable_bytes{shard="{{shard}}"})`, "shard-1", 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			r := fm.Check(context.Background())
			if gotQuery != `min(node_memory_MemAvailable_bytes{shard="shard-1"})` {
				t.Errorf("query sent = %q", gotQuery)
			}
			if r.Healthy != c.healthy {
				t.Errorf("healthy = %v (%+v)", r.Healthy, r)
			}
			if c.errLike != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), c.errLike)) {
				t.Errorf("err = %v, want ~%q", r.Err, c.errLike)
			}
			if c.value != "" && !strings.Contains(r.Value, c.value) {
				t.Errorf("value = %q, want ~%q", r.Value, c.value)
			}
		})
	}
}

func TestFreeableMemoryUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	fm, err := NewFreeableMemory(url, nil, "x", "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	thr := New([]Signal{fm}, time.Millisecond, time.Second, nil)
	if err := thr.Wait(context.Background(), 10*time.Millisecond); !errors.Is(err, ErrMaxWait) {
		t.Errorf("an unreachable Prometheus must hold drops back; err = %v", err)
	}
}

// TestFreeableMemoryFromRealPrometheus: Debian's Prometheus scrapes a real node_exporter;
// the signal reads this machine's MemAvailable through the query API.
func TestFreeableMemoryFromRealPrometheus(t *testing.T) {
	base := testprom.Start(t, "shard-1")
	query := `min(node_memory_MemAvailable_bytes{shard="{{shard}}"})`
	healthy, err := NewFreeableMemory(base, nil, query, "shard-1", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if r := healthy.Check(context.Background()); !r.Healthy || r.Err != nil || !strings.Contains(r.Value, "freeable") {
		t.Errorf("1 MiB floor: %+v", r)
	}
	low, _ := NewFreeableMemory(base, nil, query, "shard-1", 1<<50)
	if r := low.Check(context.Background()); r.Healthy || !strings.Contains(r.Value, "floor 1.0 PiB") {
		t.Errorf("1 PiB floor: %+v", r)
	}
	other, _ := NewFreeableMemory(base, nil, query, "shard-2", 1)
	if r := other.Check(context.Background()); r.Healthy || !strings.Contains(r.Value, "no series") {
		t.Errorf("a shard Prometheus knows nothing of: %+v", r)
	}
	bad, _ := NewFreeableMemory(base, nil, `min(node_memory_MemAvailable_bytes{`, "shard-1", 1)
	if r := bad.Check(context.Background()); r.Healthy || r.Err == nil {
		t.Errorf("a malformed query: %+v", r)
	}
}

// TestReplicaLagSeesEveryConnection: on a multi-source replica, a named connection
// (MariaDB) or channel (MySQL) that is stopped makes the replica unhealthy although the
// default one is fine (MariaDB's SHOW SLAVE STATUS shows the default connection only).
func TestReplicaLagSeesEveryConnection(t *testing.T) {
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	lag := &ReplicaLag{Replica: "sandbox-replica", Max: time.Hour, DB: NewLazyDB(func(context.Context) (*sqlx.DB, error) { return replica, nil })}
	if r := lag.Check(context.Background()); !r.Healthy {
		t.Fatalf("the sandbox replica reads unhealthy before the test: %+v", r)
	}
	if testdb.IsMySQL(t) {
		testdb.Exec(t, replica, "CHANGE REPLICATION SOURCE TO SOURCE_HOST='127.0.0.1', SOURCE_PORT=1, SOURCE_USER='x' FOR CHANNEL 'reports'")
		t.Cleanup(func() { testdb.Exec(t, replica, "RESET REPLICA ALL FOR CHANNEL 'reports'") })
	} else {
		testdb.Exec(t, replica, "CHANGE MASTER 'reports' TO MASTER_HOST='127.0.0.1', MASTER_PORT=1, MASTER_USER='x'")
		t.Cleanup(func() { testdb.Exec(t, replica, "RESET SLAVE 'reports' ALL") })
	}
	lag = &ReplicaLag{Replica: "sandbox-replica", Max: time.Hour, DB: NewLazyDB(func(context.Context) (*sqlx.DB, error) { return replica, nil })}
	r := lag.Check(context.Background())
	if r.Healthy || !strings.Contains(r.Value, `channel "reports": replication stopped`) {
		t.Errorf("with a stopped named connection: %+v, want unhealthy naming it", r)
	}
}

// TestReplicaLagSeesAStalledReceiver: on MySQL, Seconds_Behind_Source is 0 while the
// applier is idle, even when the receiver's connection to its source has gone silent. The
// replica's channel is routed through a proxy that then stops forwarding (the TCP
// connection stays open, as on a stalled network): IO Yes, SQL Yes, lag 0, and only the
// receiver's missing heartbeats in performance_schema give it away. (A second channel to
// the same source cannot do: the source lets one connection per replica server_uuid.)
func TestReplicaLagSeesAStalledReceiver(t *testing.T) {
	testdb.SkipUnless(t, "performance_schema's receiver timestamps are MySQL's", "mysql")
	rdb := testdb.Open(t, testdb.ReplicaDSN(t))
	var srcPort int
	var heartbeat float64
	if err := rdb.QueryRowx("SELECT PORT, HEARTBEAT_INTERVAL FROM performance_schema.replication_connection_configuration WHERE CHANNEL_NAME = ''").Scan(&srcPort, &heartbeat); err != nil {
		t.Fatal(err)
	}
	p := newStallProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(srcPort)))
	_, port, _ := net.SplitHostPort(p.addr())
	testdb.Exec(t, rdb, "STOP REPLICA", "CHANGE REPLICATION SOURCE TO SOURCE_PORT="+port+", SOURCE_HEARTBEAT_PERIOD=1", "START REPLICA")
	t.Cleanup(func() {
		testdb.Exec(t, rdb, "STOP REPLICA",
			fmt.Sprintf("CHANGE REPLICATION SOURCE TO SOURCE_PORT=%d, SOURCE_HEARTBEAT_PERIOD=%g", srcPort, heartbeat), "START REPLICA")
	})
	lag := &ReplicaLag{Replica: "sandbox-replica", Max: time.Second, DB: NewLazyDB(func(context.Context) (*sqlx.DB, error) { return rdb, nil })}
	// The receiver must have heard its source through the proxy before the pause: on a
	// fresh replica with no transaction queued yet, no time stamp exists to measure the
	// silence from (the clean-clone CI run paused before the first heartbeat).
	var since float64
	if err := rdb.Get(&since, "SELECT UNIX_TIMESTAMP(NOW(6))"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var heard sql.NullFloat64
		if err := rdb.Get(&heard, "SELECT UNIX_TIMESTAMP(LAST_HEARTBEAT_TIMESTAMP) FROM performance_schema.replication_connection_status WHERE CHANNEL_NAME = ''"); err != nil {
			t.Fatal(err)
		}
		if heard.Valid && heard.Float64 >= since {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxied channel heard no heartbeat in 30 s")
		}
		time.Sleep(200 * time.Millisecond) // polling the replica, with a deadline
	}
	// Healthy first: the channel connects through the proxy and hears heartbeats.
	deadline = time.Now().Add(30 * time.Second)
	for {
		r := lag.Check(context.Background())
		if r.Healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxied channel never read healthy: %+v", r)
		}
		time.Sleep(200 * time.Millisecond) // polling the replica, with a deadline
	}
	p.pause()
	deadline = time.Now().Add(30 * time.Second)
	for {
		r := lag.Check(context.Background())
		if !r.Healthy {
			if !strings.Contains(r.Value, "receiver heard nothing") {
				t.Errorf("unhealthy for another reason than the silent receiver: %+v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a receiver silent for 30 s still reads healthy: %+v", r)
		}
		time.Sleep(200 * time.Millisecond) // polling the replica, with a deadline
	}
	// Seconds_Behind_Source alone saw nothing wrong: the reason the check exists.
	sts, err := replica.ReadStatuses(context.Background(), rdb)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].IORunning != "Yes" || sts[0].Lag == nil || *sts[0].Lag != 0 {
		t.Errorf("the stalled replica's status: %+v; the test wants IO Yes, lag 0 to show the blind spot", sts)
	}
}

// stallProxy forwards TCP to a server until paused; then it holds every connection open
// and forwards nothing, as a stalled network does.
type stallProxy struct {
	ln     net.Listener
	paused atomic.Bool
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln}
	var conns []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			go p.pipe(c, s)
			go p.pipe(s, c)
		}
	}()
	return p
}

func (p *stallProxy) addr() string { return p.ln.Addr().String() }
func (p *stallProxy) pause()       { p.paused.Store(true) }

func (p *stallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.paused.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
