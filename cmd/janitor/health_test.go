package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/janitor"
)

// TestHealthzFailsWhenTheLoopIsStuck: /healthz answers 200 while the schedule loop ticks
// within its budget and 503 once it has been quiet longer (a clock stand-in: pure logic).
func TestHealthzFailsWhenTheLoopIsStuck(t *testing.T) {
	cfg := janitor.Defaults()
	cfg.Serve.Interval, cfg.Serve.Jitter = 6*time.Hour, 15*time.Minute
	now := time.Unix(1_800_000_000, 0)
	w := &loopWatch{budget: quietBudget(cfg, 9), now: func() time.Time { return now }}
	w.tick()
	// 9 shards at concurrency 4: three waves of discovery.
	floor := cfg.Serve.Interval + cfg.Serve.Jitter + 3*cfg.Discovery.ShardTimeout + cfg.Execute.DropTimeout
	if w.budget < floor {
		t.Errorf("budget %s < interval + jitter + 3 discovery waves + drop_timeout = %s", w.budget, floor)
	}
	code := func() int {
		rec := httptest.NewRecorder()
		w.healthz(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		return rec.Code
	}
	now = now.Add(w.budget - time.Second)
	if c := code(); c != 200 {
		t.Errorf("within the budget: /healthz %d", c)
	}
	now = now.Add(2 * time.Second)
	if c := code(); c != 503 {
		t.Errorf("quiet longer than the budget: /healthz %d, want 503", c)
	}
	w.tick()
	if c := code(); c != 200 {
		t.Errorf("after a tick: /healthz %d", c)
	}
}

// TestServeSeesAConfigMapUpdate: mounted as a directory (not subPath), a ConfigMap
// update is kubelet swapping the ..data symlink to a new timestamped directory; /readyz
// must then say "restart".
func TestServeSeesAConfigMapUpdate(t *testing.T) {
	addr := freeAddr(t)
	body := nowhereServeConfig(addr)
	dir := t.TempDir()
	lay := func(ts, content string) {
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ts, "config.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		// Atomic, as kubelet's writer does it: a new link renamed over ..data.
		if err := os.Symlink(ts, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	lay("..2026_12_02_03_00_00.1", body)
	if err := os.Symlink("..data/config.yaml", filepath.Join(dir, "config.yaml")); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, filepath.Join(dir, "config.yaml"), addr)
	base := srv.base
	eventually(t, "ready", func() bool { code, _ := get(base + "/readyz"); return code == 200 })
	if code, _ := get(base + "/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	lay("..2026_12_02_03_05_00.2", body+"policy:\n  min_age: 1h\n")
	if code, b := get(base + "/readyz"); code != 503 || !strings.Contains(b, "restart") {
		t.Errorf("/readyz = %d %q after the ConfigMap changed, want 503 saying restart", code, b)
	}
	srv.stop(t)
}
