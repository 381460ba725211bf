package metrics

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/internal/httpclient"
	"github.com/janitorhq/janitor/internal/testprom"
	"github.com/janitorhq/janitor/report"
)

// TestPushThroughAuthenticatingGateway: the Pushgateway sits behind a proxy that wants a
// bearer token and a tenant header; metrics.http_client (prometheus/common's HTTP client
// configuration: the token from a file, an extra header) gets the push and the read-back
// of totals through, and a client without them is refused.
func TestPushThroughAuthenticatingGateway(t *testing.T) {
	gw := testprom.StartPushgateway(t)
	proxy, passed := testprom.AuthProxy(t, gw, map[string]string{"Authorization": "Bearer s3cret-token", "X-Scope-OrgID": "tenant-1"})
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	client, err := httpclient.Client("metrics.http_client", map[string]any{
		"authorization": map[string]any{"credentials_file": tokenFile},
		"http_headers":  map[string]any{"X-Scope-OrgID": map[string]any{"values": []any{"tenant-1"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := New()
	m.Init([]string{"s"})
	m.Dropped("s", "gh-ost", 100)
	m.Observe(&report.Report{Shards: []report.Shard{{Name: "s"}}}, 0)
	g := Gateway{URL: proxy, Job: "janitor", Cluster: "auth", Client: client}
	if err := PushTo(ctx, g, m, nil); err != nil {
		t.Fatalf("push through the proxy: %v", err)
	}
	again := New()
	if err := again.ResumeFrom(ctx, g, []string{"s"}); err != nil {
		t.Fatalf("read totals through the proxy: %v", err)
	}
	again.Dropped("s", "gh-ost", 50)
	if err := PushTo(ctx, g, again, nil); err != nil {
		t.Fatal(err)
	}
	if passed.Load() != 3 {
		t.Errorf("%d requests reached the Pushgateway, want 3", passed.Load())
	}
	body := scrape(t, gw)
	if !strings.Contains(body, `janitor_reclaimed_bytes_total{cluster="auth",instance="",job="janitor",shard="s"} 150`) {
		t.Errorf("totals not carried through the proxy:\n%s", body)
	}
	// Without the client's settings the proxy refuses, and the error says so.
	err = PushTo(ctx, Gateway{URL: proxy, Job: "janitor", Cluster: "auth"}, m, nil)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("a push without credentials: %v, want a 401", err)
	}
}
