package throttle

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/internal/testprom"
)

// TestFreeableMemoryThroughAuthenticatingProxy: the query API sits behind a proxy that
// wants basic auth (password from a file) and a tenant header, as a multi-tenant
// querier does; prometheus_http_client gets the query through, and without it the
// signal reads as an error (unhealthy), never as healthy.
func TestFreeableMemoryThroughAuthenticatingProxy(t *testing.T) {
	base := testprom.Start(t, "shard-1")
	proxy, passed := testprom.AuthProxy(t, base, map[string]string{
		"Authorization": "Basic amFuaXRvcjpwYXNz", // janitor:pass
		"X-Scope-OrgID": "tenant-1",
	})
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("pass"), 0o600); err != nil {
		t.Fatal(err)
	}
	query := `min(node_memory_MemAvailable_bytes{shard="{{shard}}"})`
	fm, err := NewFreeableMemory(proxy, map[string]any{
		"basic_auth":   map[string]any{"username": "janitor", "password_file": pw},
		"http_headers": map[string]any{"x-scope-orgid": map[string]any{"values": []any{"tenant-1"}}},
	}, query, "shard-1", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if r := fm.Check(context.Background()); !r.Healthy || r.Err != nil {
		t.Errorf("through the proxy with credentials: %+v", r)
	}
	if passed.Load() == 0 {
		t.Error("no query passed the proxy")
	}
	bare, err := NewFreeableMemory(proxy, nil, query, "shard-1", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if r := bare.Check(context.Background()); r.Healthy || r.Err == nil || !strings.Contains(r.Err.Error(), "401") {
		t.Errorf("without credentials: %+v, want an error naming 401", r)
	}
}

// TestPrometheusHTTPClientValidation: a misspelt key or two credentials at once is an
// error naming the section, found when the configuration is validated.
func TestPrometheusHTTPClientValidation(t *testing.T) {
	c := Defaults()
	c.PrometheusHTTPClient = map[string]any{"bearer_token_fle": "/x"}
	if err := c.Validate("throttle"); err == nil || !strings.Contains(err.Error(), "throttle.prometheus_http_client") || !strings.Contains(err.Error(), "bearer_token_fle") {
		t.Errorf("misspelt key: %v", err)
	}
	c.PrometheusHTTPClient = map[string]any{"bearer_token": "a", "basic_auth": map[string]any{"username": "u", "password": "p"}}
	if err := c.Validate("shards[0].throttle"); err == nil || !strings.Contains(err.Error(), "shards[0].throttle.prometheus_http_client") {
		t.Errorf("two credentials: %v", err)
	}
	c.PrometheusHTTPClient = map[string]any{"tls_config": map[string]any{"insecure_skip_verify": false}, "http_headers": map[string]any{"X-Scope-OrgID": map[string]any{"values": []any{"t"}}}}
	if err := c.Validate("throttle"); err != nil {
		t.Errorf("a valid section: %v", err)
	}
}
