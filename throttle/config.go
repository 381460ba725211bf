package throttle

import (
	"errors"
	"fmt"
	"time"

	"github.com/janitorhq/janitor/internal/httpclient"
)

// Config holds the throttle settings of one shard (or the fleet default).
type Config struct {
	// MaxReplicaLag: drops wait while any configured replica lags more.
	MaxReplicaLag time.Duration `mapstructure:"max_replica_lag"`
	// ReplicaLagSource is "replica_status" (SHOW REPLICA STATUS on each replica) or
	// "aurora" (information_schema.replica_host_status on the writer).
	ReplicaLagSource string `mapstructure:"replica_lag_source"`
	// MaxThreadsRunning: drops wait while the primary's Threads_running is higher.
	MaxThreadsRunning int `mapstructure:"max_threads_running"`
	// PrometheusURL is the base URL of a Prometheus query API; with
	// FreeableMemoryQuery and MinFreeableMemoryBytes it gates drops on memory.
	PrometheusURL string `mapstructure:"prometheus_url"`
	// PrometheusHTTPClient is prometheus/common's HTTP client configuration for
	// PrometheusURL (bearer_token_file, basic_auth, tls_config, http_headers such as
	// X-Scope-OrgID, …); a shard's section replaces the fleet's whole.
	PrometheusHTTPClient map[string]any `mapstructure:"prometheus_http_client"`
	// FreeableMemoryQuery is a PromQL expression whose smallest sample is the
	// server's freeable memory in bytes. "{{shard}}" is replaced by the shard name.
	FreeableMemoryQuery    string `mapstructure:"freeable_memory_query"`
	MinFreeableMemoryBytes int64  `mapstructure:"min_freeable_memory_bytes"`
	// CheckInterval is how often signals are polled while waiting.
	CheckInterval time.Duration `mapstructure:"check_interval"`
	// SignalTimeout bounds one read of one signal.
	SignalTimeout time.Duration `mapstructure:"signal_timeout"`
	// MaxWait is how long one table may wait for health before the rest of the
	// shard's run is deferred.
	MaxWait time.Duration `mapstructure:"max_wait"`
}

// Defaults are safe for a busy production primary.
func Defaults() Config {
	return Config{
		MaxReplicaLag:     5 * time.Second,
		ReplicaLagSource:  "replica_status",
		MaxThreadsRunning: 30,
		CheckInterval:     time.Second,
		SignalTimeout:     5 * time.Second,
		MaxWait:           10 * time.Minute,
	}
}

// Merge returns c with the non-zero fields of o on top.
func (c Config) Merge(o Config) Config {
	if o.MaxReplicaLag != 0 {
		c.MaxReplicaLag = o.MaxReplicaLag
	}
	if o.ReplicaLagSource != "" {
		c.ReplicaLagSource = o.ReplicaLagSource
	}
	if o.MaxThreadsRunning != 0 {
		c.MaxThreadsRunning = o.MaxThreadsRunning
	}
	if o.PrometheusURL != "" {
		c.PrometheusURL = o.PrometheusURL
	}
	if len(o.PrometheusHTTPClient) > 0 {
		c.PrometheusHTTPClient = o.PrometheusHTTPClient
	}
	if o.FreeableMemoryQuery != "" {
		c.FreeableMemoryQuery = o.FreeableMemoryQuery
	}
	if o.MinFreeableMemoryBytes != 0 {
		c.MinFreeableMemoryBytes = o.MinFreeableMemoryBytes
	}
	if o.CheckInterval != 0 {
		c.CheckInterval = o.CheckInterval
	}
	if o.SignalTimeout != 0 {
		c.SignalTimeout = o.SignalTimeout
	}
	if o.MaxWait != 0 {
		c.MaxWait = o.MaxWait
	}
	return c
}

// Validate checks a complete (merged or default) configuration.
func (c Config) Validate(prefix string) error {
	errs := []error{c.ValidateOverride(prefix)}
	if c.MaxReplicaLag <= 0 {
		errs = append(errs, fmt.Errorf("%s.max_replica_lag: must be positive", prefix))
	}
	if c.MaxThreadsRunning <= 0 {
		errs = append(errs, fmt.Errorf("%s.max_threads_running: must be positive", prefix))
	}
	if c.CheckInterval <= 0 || c.SignalTimeout <= 0 || c.MaxWait <= 0 {
		errs = append(errs, fmt.Errorf("%s: check_interval, signal_timeout and max_wait must be positive", prefix))
	}
	return errors.Join(errs...)
}

// ValidateOverride checks the fields that are wrong whatever they are merged with.
func (c Config) ValidateOverride(prefix string) error {
	var errs []error
	switch c.ReplicaLagSource {
	case "", "replica_status", "aurora":
	default:
		errs = append(errs, fmt.Errorf("%s.replica_lag_source: %q is not \"replica_status\" or \"aurora\"", prefix, c.ReplicaLagSource))
	}
	if _, err := httpclient.Parse(prefix+".prometheus_http_client", c.PrometheusHTTPClient); err != nil {
		errs = append(errs, err)
	}
	if c.MaxReplicaLag < 0 || c.MaxThreadsRunning < 0 || c.MinFreeableMemoryBytes < 0 || c.CheckInterval < 0 || c.MaxWait < 0 || c.SignalTimeout < 0 {
		errs = append(errs, fmt.Errorf("%s: limits must not be negative", prefix))
	}
	return errors.Join(errs...)
}

// ValidateMerged checks what only a merged configuration can tell.
func (c Config) ValidateMerged(prefix string) error {
	if err := c.Validate(prefix); err != nil {
		return err
	}
	memSet := c.FreeableMemoryQuery != "" || c.MinFreeableMemoryBytes != 0 || c.PrometheusURL != ""
	if memSet && (c.FreeableMemoryQuery == "" || c.MinFreeableMemoryBytes <= 0 || c.PrometheusURL == "") {
		return fmt.Errorf("%s: freeable memory needs prometheus_url, freeable_memory_query and min_freeable_memory_bytes together", prefix)
	}
	return nil
}
