package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
)

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond with a deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond) // polling an HTTP endpoint, with a deadline
	}
}

// TestServe: serve runs the job at once, exposes its metrics, says when its
// configuration changed on disk instead of reloading it, posts to Slack, and stops
// cleanly when its context ends (SIGTERM).
func TestServe(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, "orders")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+dbconn.QualifiedName(s, "__orders_old")+" (id INT PRIMARY KEY)")
	webhook, posts := slackStandIn(t, "__orders_old")
	addr := freeAddr(t)
	cfgPath := writeConfig(t, `shards:
  - name: sandbox
    dsn: "`+testdb.PrimaryDSN(t)+`"
discovery:
  schemas: [`+s+`]
policy:
  min_age: 0s
serve:
  listen: "`+addr+`"
  interval: 1h
slack:
  webhook_url: "`+webhook+`"
`)
	srv := startServe(t, cfgPath, addr)
	base := srv.base
	eventually(t, "the first run's metrics", func() bool {
		code, body := get(base + "/metrics")
		return code == 200 && strings.Contains(body, `janitor_reclaimable_bytes{shard="sandbox"}`)
	})
	if code, _ := get(base + "/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get(base + "/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	_, body := get(base + "/metrics")
	for _, want := range []string{"janitor_build_info{", "janitor_last_success_timestamp_seconds", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	eventually(t, "the slack post", func() bool { return posts.Load() == 1 })
	if code := srv.stop(t); code != 0 {
		t.Errorf("serve exited %d after its context ended", code)
	}
	if code, _ := get(base + "/healthz"); code != 0 {
		t.Errorf("server still answering after shutdown")
	}
}

func TestServeReportsAChangedConfig(t *testing.T) {
	addr := freeAddr(t)
	body := nowhereServeConfig(addr)
	cfgPath := writeConfig(t, body)
	srv := startServe(t, cfgPath, addr)
	base := srv.base
	eventually(t, "ready", func() bool { code, _ := get(base + "/readyz"); return code == 200 })
	// A ConfigMap update swaps a symlink: a read that fails meanwhile is no change.
	if err := os.Rename(cfgPath, cfgPath+".swap"); err != nil {
		t.Fatal(err)
	}
	if code, b := get(base + "/readyz"); code != 200 {
		t.Errorf("/readyz = %d %q while the config could not be read, want 200", code, b)
	}
	if err := os.Rename(cfgPath+".swap", cfgPath); err != nil {
		t.Fatal(err)
	}
	// A change shows at once, not at the next run (an hour away here).
	if err := os.WriteFile(cfgPath, []byte(body+"policy:\n  min_age: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, b := get(base + "/readyz"); code != 503 || !strings.Contains(b, "restart") {
		t.Errorf("/readyz = %d %q after the config changed, want 503 saying restart", code, b)
	}
	srv.stop(t)
}
