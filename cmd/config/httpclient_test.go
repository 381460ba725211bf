package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/internal/httpclient"
)

// TestHTTPClientSectionsLoad: metrics.http_client and throttle.prometheus_http_client
// come through the loader as prometheus/common's HTTP client configuration, and a
// misspelt key fails the load naming the section and the key.
func TestHTTPClientSectionsLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "janitor.yaml")
	body := `shards:
  - name: s
    dsn: "u:p@tcp(127.0.0.1:3306)/"
metrics:
  pushgateway_url: https://push.example.invalid
  http_client:
    bearer_token_file: /var/run/secrets/push-token
    http_headers:
      X-Scope-OrgID:
        values: [tenant-1]
    tls_config:
      ca_file: /etc/ssl/certs/ca-certificates.crt
throttle:
  prometheus_url: https://prom.example.invalid
  freeable_memory_query: min(x)
  min_freeable_memory_bytes: 1
  prometheus_http_client:
    basic_auth:
      username: janitor
      password_file: /var/run/secrets/prom-password
`
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := httpclient.Parse("metrics.http_client", cfg.Metrics.HTTPClient)
	if err != nil {
		t.Fatal(err)
	}
	if mc.BearerTokenFile != "" && mc.Authorization == nil {
		t.Errorf("bearer_token_file not read: %+v", mc)
	}
	if mc.TLSConfig.CAFile != "/etc/ssl/certs/ca-certificates.crt" || mc.HTTPHeaders == nil || len(mc.HTTPHeaders.Headers) != 1 {
		t.Errorf("metrics.http_client: %+v", mc)
	}
	tc, err := httpclient.Parse("throttle.prometheus_http_client", cfg.Throttle.PrometheusHTTPClient)
	if err != nil || tc.BasicAuth == nil || tc.BasicAuth.Username != "janitor" {
		t.Errorf("throttle.prometheus_http_client: %+v %v", tc.BasicAuth, err)
	}
	bad := strings.Replace(body, "bearer_token_file:", "bearer_tokn_file:", 1)
	if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "metrics.http_client") || !strings.Contains(err.Error(), "bearer_tokn_file") {
		t.Errorf("a misspelt key: %v", err)
	}
}
