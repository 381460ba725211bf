// Package httpclient turns a configuration's http_client section (prometheus/common's
// HTTP client configuration: bearer token or its file, basic auth, TLS, extra headers
// such as a tenant id, proxy) into an *http.Client, for the Pushgateway and the
// Prometheus query API.
package httpclient

import (
	"fmt"
	"net/http"

	promcfg "github.com/prometheus/common/config"
	yaml "go.yaml.in/yaml/v2"
)

// Parse reads a raw http_client section (as the configuration loader decoded it) into
// prometheus/common's type, strictly: an unknown or misspelt key is an error, as are
// two credentials at once (bearer token and basic auth, say). key names the section in
// errors. An empty section is the default client configuration.
func Parse(key string, raw map[string]any) (promcfg.HTTPClientConfig, error) {
	c := promcfg.DefaultHTTPClientConfig
	if len(raw) == 0 {
		return c, nil
	}
	b, err := yaml.Marshal(raw)
	if err != nil {
		return c, fmt.Errorf("%s: %w", key, err)
	}
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w (see prometheus/common's HTTP client configuration: bearer_token_file, basic_auth, tls_config, http_headers, …)", key, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", key, err)
	}
	return c, nil
}

// New returns the client for a parsed section. name is the client's name in
// prometheus/common's logs and User-Agent.
func New(key string, c promcfg.HTTPClientConfig) (*http.Client, error) {
	client, err := promcfg.NewClientFromConfig(c, "janitor")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return client, nil
}

// Client parses raw and returns its client: the two steps at once.
func Client(key string, raw map[string]any) (*http.Client, error) {
	c, err := Parse(key, raw)
	if err != nil {
		return nil, err
	}
	return New(key, c)
}
