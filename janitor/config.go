package janitor

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/httpclient"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/throttle"
)

// Config is janitor's whole configuration, filled at the edge (cmd/) and validated once.
// Nothing below cmd/ reads files or the environment.
type Config struct {
	Shards []ShardConfig `mapstructure:"shards"`
	// ShardsDir is a directory (a mounted Secret) with one file per shard: the file
	// name is the shard's name, its content the DSN. An entry of shards with the same
	// name and no DSN of its own adds settings (replicas, throttle) to it.
	ShardsDir     string          `mapstructure:"shards_dir"`
	ShardDefaults ShardDefaults   `mapstructure:"shard_defaults"`
	Policy        policies.Config `mapstructure:"policy"`
	Discovery     DiscoveryConfig `mapstructure:"discovery"`
	Throttle      throttle.Config `mapstructure:"throttle"`
	Execute       ExecuteConfig   `mapstructure:"execute"`
	Metrics       MetricsConfig   `mapstructure:"metrics"`
	Slack         SlackConfig     `mapstructure:"slack"`
	Serve         ServeConfig     `mapstructure:"serve"`
}

// ShardConfig names one primary and the replicas whose lag gates drops on it.
type ShardConfig struct {
	Name    string `mapstructure:"name"`
	DSN     string `mapstructure:"dsn"`
	DSNFile string `mapstructure:"dsn_file"`
	// Addr (host:port) stands for a DSN built from shard_defaults (user, password, TLS).
	Addr string `mapstructure:"addr"`
	// User and PasswordFile override shard_defaults' for this shard and its replicas.
	User         string `mapstructure:"user"`
	PasswordFile string `mapstructure:"password_file"`
	Password     string `mapstructure:"-"`
	// TLS overrides shard_defaults.tls for this shard and its replicas.
	TLS *dbconn.TLS `mapstructure:"tls"`
	// Replicas may be written as host:port strings (with the shard's user and TLS).
	Replicas []ReplicaConfig `mapstructure:"replicas"`
	// Throttle overrides the fleet-wide throttle settings for this shard; zero fields
	// inherit.
	Throttle throttle.Config `mapstructure:"throttle"`
	// VitessTableGC says Vitess' own table GC runs on this shard, so its _vt_ tables are
	// its business, not ours.
	VitessTableGC bool `mapstructure:"vitess_tablegc"`
	// AuroraReaders, with replica_lag_source aurora, are the reader instances the
	// cluster should have (SERVER_ID in replica_host_status): a listed reader without a
	// fresh row holds drops. Unlisted readers count while their rows are fresh.
	AuroraReaders []string `mapstructure:"aurora_readers"`
	// MinReaders, with replica_lag_source aurora, holds drops while fewer readers
	// report fresh rows (0: shard_defaults.min_readers).
	MinReaders int `mapstructure:"min_readers"`
	// Source names where the shard came from when not the shards list (a shards_dir
	// file), for errors.
	Source string `mapstructure:"-"`
}

// ReplicaConfig is one replica whose lag is read with SHOW REPLICA STATUS.
type ReplicaConfig struct {
	Name    string `mapstructure:"name"`
	DSN     string `mapstructure:"dsn"`
	DSNFile string `mapstructure:"dsn_file"`
	// Addr (host:port) stands for a DSN with the shard's user, password and TLS; a
	// replica written as a plain "host:port" string is read as its addr.
	Addr string `mapstructure:"addr"`
}

// DiscoveryConfig bounds how janitor visits shards.
type DiscoveryConfig struct {
	// Concurrency is how many shards are visited at once.
	Concurrency    int           `mapstructure:"concurrency"`
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	// QueryTimeout bounds each metadata query.
	QueryTimeout time.Duration `mapstructure:"query_timeout"`
	// ShardTimeout bounds a whole shard's discovery.
	ShardTimeout time.Duration `mapstructure:"shard_timeout"`
	// Schemas, when set, limits discovery to these schemas.
	Schemas []string `mapstructure:"schemas"`
	// ExcludeSchemas are never looked at (the system schemas always are excluded).
	ExcludeSchemas []string `mapstructure:"exclude_schemas"`
	// MaxInspect caps how many candidates one run opens per shard (0: no cap). Looking
	// a candidate up opens it, and every opened table costs the server table-cache and
	// dictionary memory until evicted; the cap keeps a shard with thousands of
	// leftovers from paying that all at once. Candidates over the cap are reported as
	// skipped (not_inspected) and are reached by later runs as earlier ones are dropped.
	MaxInspect int `mapstructure:"max_inspect"`
	// ToolsInUse names the tools that run migrations on this fleet (JSON tool names).
	// A name that fits two tools with no trace of either (`_orders_old`: pt-osc or
	// Spirit) is read as the one listed here; with both or neither listed it stays
	// ambiguous and is skipped.
	ToolsInUse []string `mapstructure:"tools_in_use"`
}

// ExecuteConfig governs `run --execute`.
type ExecuteConfig struct {
	// LockWaitTimeout is the session lock_wait_timeout for DROP: a table someone holds
	// a lock on is deferred within this time instead of queueing every query behind it.
	LockWaitTimeout time.Duration `mapstructure:"lock_wait_timeout"`
	// MaxTablesPerRun stops a run after this many drops per shard (0: no limit).
	MaxTablesPerRun int `mapstructure:"max_tables_per_run"`
	// MaxBytesPerRun stops a run after this many bytes dropped per shard (0: no limit).
	MaxBytesPerRun int64 `mapstructure:"max_bytes_per_run"`
	// MaxDuration stops starting drops on a shard this long after its drops began (0:
	// no limit): a maintenance window. The table in flight finishes.
	MaxDuration time.Duration `mapstructure:"max_duration"`
	// Concurrency is how many shards drop at once (one DROP at a time on each), apart
	// from discovery.concurrency: discovery is short and CPU-bound, drops are long and
	// mostly waiting (pause, throttle), so a fleet needs more of them at once.
	Concurrency int `mapstructure:"concurrency"`
	// Deadline bounds the whole run from its start (0: none): after it no new drop, and
	// no new shard, starts; the DROP in flight finishes; shards not reached are reported
	// not_visited. Set it under the Job's activeDeadlineSeconds by the DROP's own budget
	// (lock_wait_timeout + drop_timeout) and a margin, so Kubernetes never kills a DROP.
	Deadline time.Duration `mapstructure:"deadline"`
	// PauseBetweenDrops lets the server settle (purge, file unlink) between two drops.
	PauseBetweenDrops time.Duration `mapstructure:"pause_between_drops"`
	// DropTimeout bounds one DROP (or purge batch) once its locks are granted: a very
	// large table can take minutes to drop, and cutting the connection mid-statement
	// gains nothing (the server finishes anyway).
	DropTimeout time.Duration `mapstructure:"drop_timeout"`
	// LargeTable configures what happens to tables over a size threshold.
	LargeTable LargeTableConfig `mapstructure:"large_table"`
	// Hold: a dead leftover is first renamed to a hold name for this long, and dropped
	// by a later run only once the hold has ended and nothing touched it meanwhile; until
	// then `janitor restore` brings it back. 0 drops at once.
	Hold time.Duration `mapstructure:"hold"`
}

// LargeTableConfig: dropping a large table can stall a busy server (gh-ost#307). With
// Strategy "purge", rows are deleted in throttled batches first, as Vitess' table GC does,
// so the final DROP has little to free.
type LargeTableConfig struct {
	Strategy       string `mapstructure:"strategy"` // "drop" (default) or "purge"
	ThresholdBytes int64  `mapstructure:"threshold_bytes"`
	// BatchRows is the most rows one purge batch deletes; BatchMinRows the fewest (and
	// the first batch's size). In between, each batch is sized from what the last took.
	BatchRows    int `mapstructure:"batch_rows"`
	BatchMinRows int `mapstructure:"batch_min_rows"`
	// BatchTarget is how long one batch should take from its start on the primary until
	// every replica has applied it: about how far behind the purge puts a replica.
	BatchTarget time.Duration `mapstructure:"batch_target"`
	BatchPause  time.Duration `mapstructure:"batch_pause"`
}

// MetricsConfig configures Prometheus metrics.
type MetricsConfig struct {
	PushgatewayURL string `mapstructure:"pushgateway_url"`
	// HTTPClient is prometheus/common's HTTP client configuration for the Pushgateway
	// (bearer_token_file, basic_auth, tls_config, http_headers such as a tenant id, …),
	// read by internal/httpclient; empty: a plain client.
	HTTPClient map[string]any `mapstructure:"http_client"`
	Job        string         `mapstructure:"job"`
	Cluster    string         `mapstructure:"cluster"`
}

// SlackConfig configures the incoming webhook reports go to.
type SlackConfig struct {
	WebhookURL     string        `mapstructure:"webhook_url"`
	WebhookURLFile string        `mapstructure:"webhook_url_file"`
	Timeout        time.Duration `mapstructure:"timeout"`
}

// ServeConfig configures `janitor serve`.
type ServeConfig struct {
	Listen   string        `mapstructure:"listen"`
	Interval time.Duration `mapstructure:"interval"`
	Jitter   time.Duration `mapstructure:"jitter"`
	// Execute makes each scheduled run drop; otherwise serve only reports.
	Execute bool `mapstructure:"execute"`
}

// DefaultHold is execute.hold's default.
const DefaultHold = 7 * 24 * time.Hour

// Defaults returns a configuration that is safe for a busy production primary.
func Defaults() Config {
	return Config{
		Policy: policies.Defaults(),
		Discovery: DiscoveryConfig{
			Concurrency:    4,
			ConnectTimeout: 5 * time.Second,
			QueryTimeout:   30 * time.Second,
			ShardTimeout:   10 * time.Minute,
			MaxInspect:     1000,
		},
		Throttle: throttle.Defaults(),
		Execute: ExecuteConfig{
			Concurrency:       4,
			LockWaitTimeout:   3 * time.Second,
			PauseBetweenDrops: 5 * time.Second,
			DropTimeout:       30 * time.Minute,
			// A week: a weekly job (report, export, reconciliation) reads the table within
			// the hold, so its access is seen and the table kept; see docs/dropping.md.
			Hold: DefaultHold,
			LargeTable: LargeTableConfig{
				Strategy:       "drop",
				ThresholdBytes: 10 << 30,
				BatchRows:      5000,
				BatchMinRows:   DefaultBatchMinRows,
				BatchTarget:    DefaultBatchTarget,
				BatchPause:     100 * time.Millisecond,
			},
		},
		Metrics: MetricsConfig{Job: "janitor"},
		Slack:   SlackConfig{Timeout: 10 * time.Second},
		Serve:   ServeConfig{Listen: ":9187", Interval: 6 * time.Hour, Jitter: 10 * time.Minute},
	}
}

// Validate checks the configuration and names the key at fault.
func (c *Config) Validate() error {
	fleetThrottleErr := c.Throttle.Validate("throttle")
	var errs []error
	if len(c.Shards) == 0 {
		errs = append(errs, errors.New("shards: at least one shard is required (in shards, or as files in shards_dir)"))
	}
	seen := map[string]bool{}
	for i, s := range c.Shards {
		key := s.key(i)
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", key))
		} else if seen[s.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used by two shards", key, s.Name))
		}
		seen[s.Name] = true
		if err := checkDSN(key, s.DSN); err != nil {
			errs = append(errs, err)
		}
		for j, r := range s.Replicas {
			rkey := fmt.Sprintf("%s.replicas[%d]", key, j)
			if r.Name == "" {
				errs = append(errs, fmt.Errorf("%s.name: required", rkey))
			}
			if err := checkDSN(rkey, r.DSN); err != nil {
				errs = append(errs, err)
			}
		}
		if err := s.Throttle.ValidateOverride(key + ".throttle"); err != nil {
			errs = append(errs, err)
		} else if fleetThrottleErr != nil {
			// The fleet-level mistake is reported once, under its own key.
		} else if err := c.Throttle.Merge(s.Throttle).ValidateMerged(key + ".throttle"); err != nil {
			errs = append(errs, err)
		} else if aurora := c.Throttle.Merge(s.Throttle).ReplicaLagSource == "aurora"; aurora && len(s.Replicas) > 0 {
			errs = append(errs, fmt.Errorf("%s.replicas: with replica_lag_source aurora, replicas are not read (Aurora readers report no replica status); list their instance ids in %s.aurora_readers", key, key))
		} else if !aurora && len(s.AuroraReaders) > 0 {
			errs = append(errs, fmt.Errorf("%s.aurora_readers: only read with replica_lag_source aurora", key))
		} else if !aurora && s.MinReaders > 0 && s.MinReaders != c.ShardDefaults.MinReaders {
			errs = append(errs, fmt.Errorf("%s.min_readers: only read with replica_lag_source aurora", key))
		}
	}
	if err := c.Policy.Validate("policy"); err != nil {
		errs = append(errs, err)
	}
	if fleetThrottleErr != nil {
		errs = append(errs, fleetThrottleErr)
	}
	d := c.Discovery
	if d.Concurrency < 1 || d.Concurrency > 256 {
		errs = append(errs, fmt.Errorf("discovery.concurrency: %d is not between 1 and 256", d.Concurrency))
	}
	if d.MaxInspect < 0 {
		errs = append(errs, fmt.Errorf("discovery.max_inspect: %d is negative (0 means no cap)", d.MaxInspect))
	}
	for i, name := range d.ToolsInUse {
		if !slices.Contains(discovery.DroppableTools, discovery.Tool(name)) {
			errs = append(errs, fmt.Errorf("discovery.tools_in_use[%d]: %q is not a tool janitor knows (one of %s)", i, name, toolList()))
		}
	}
	for k, v := range map[string]time.Duration{
		"discovery.connect_timeout": d.ConnectTimeout, "discovery.query_timeout": d.QueryTimeout,
		"discovery.shard_timeout": d.ShardTimeout, "execute.lock_wait_timeout": c.Execute.LockWaitTimeout,
		"execute.drop_timeout": c.Execute.DropTimeout,
	} {
		if v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", k, v))
		}
	}
	if c.Execute.Concurrency < 1 || c.Execute.Concurrency > 256 {
		errs = append(errs, fmt.Errorf("execute.concurrency: %d is not between 1 and 256", c.Execute.Concurrency))
	}
	if c.Execute.Deadline < 0 {
		errs = append(errs, errors.New("execute.deadline: must not be negative (0 means none)"))
	}
	if c.Execute.MaxDuration < 0 {
		errs = append(errs, errors.New("execute.max_duration: must not be negative (0 means no limit)"))
	}
	if c.Execute.LockWaitTimeout > 0 && c.Execute.LockWaitTimeout < time.Second {
		errs = append(errs, fmt.Errorf("execute.lock_wait_timeout: %s is under MySQL's 1s resolution", c.Execute.LockWaitTimeout))
	}
	if c.Execute.Hold < 0 {
		errs = append(errs, fmt.Errorf("execute.hold: must not be negative (0s drops at once), got %s", c.Execute.Hold))
	}
	if c.Execute.PauseBetweenDrops < 0 {
		errs = append(errs, errors.New("execute.pause_between_drops: must not be negative"))
	}
	// Negative limits would read as "no limit" (only > 0 limits): refuse them.
	if c.Execute.MaxTablesPerRun < 0 {
		errs = append(errs, fmt.Errorf("execute.max_tables_per_run: %d is negative (0 means no limit)", c.Execute.MaxTablesPerRun))
	}
	if c.Execute.MaxBytesPerRun < 0 {
		errs = append(errs, fmt.Errorf("execute.max_bytes_per_run: %d is negative (0 means no limit)", c.Execute.MaxBytesPerRun))
	}
	if c.Execute.LargeTable.BatchPause < 0 {
		errs = append(errs, errors.New("execute.large_table.batch_pause: must not be negative"))
	}
	if c.Slack.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("slack.timeout: must be positive, got %s", c.Slack.Timeout))
	}
	if c.Metrics.PushgatewayURL != "" && strings.TrimSpace(c.Metrics.Job) == "" {
		errs = append(errs, errors.New("metrics.job: required with metrics.pushgateway_url (it names the pushed group)"))
	}
	lt := c.Execute.LargeTable
	switch lt.Strategy {
	case "drop", "purge":
	default:
		errs = append(errs, fmt.Errorf("execute.large_table.strategy: %q is not \"drop\" or \"purge\"", lt.Strategy))
	}
	errs = append(errs, c.validateBatches()...)
	if u := c.Metrics.PushgatewayURL; u != "" {
		if err := checkURL(u); err != nil {
			errs = append(errs, fmt.Errorf("metrics.pushgateway_url: %q is %w", redactURL(u), err))
		}
	}
	// A Prometheus URL without a scheme ("prom:9090") would only fail at the first
	// throttle check, as a held drop; say so now.
	if u := c.Throttle.PrometheusURL; u != "" && checkURL(u) != nil {
		errs = append(errs, fmt.Errorf("throttle.prometheus_url: %q is not an http(s) URL", redactURL(u)))
	}
	for i, s := range c.Shards {
		if u := s.Throttle.PrometheusURL; u != "" && checkURL(u) != nil {
			errs = append(errs, fmt.Errorf("shards[%d].throttle.prometheus_url: %q is not an http(s) URL", i, redactURL(u)))
		}
	}
	if _, err := httpclient.Parse("metrics.http_client", c.Metrics.HTTPClient); err != nil {
		errs = append(errs, err)
	}
	if c.Slack.WebhookURL != "" {
		if err := checkURL(c.Slack.WebhookURL); err != nil {
			// Never echo the webhook: it is a credential.
			errs = append(errs, errors.New("slack.webhook_url: not an http(s) URL"))
		}
	}
	if c.Serve.Interval <= 0 {
		errs = append(errs, fmt.Errorf("serve.interval: must be positive, got %s", c.Serve.Interval))
	}
	if c.Serve.Jitter < 0 {
		errs = append(errs, errors.New("serve.jitter: must not be negative"))
	} else if c.Serve.Interval > 0 && c.Serve.Jitter >= c.Serve.Interval {
		errs = append(errs, fmt.Errorf("serve.jitter: %s must be under serve.interval %s, or runs can follow each other at once", c.Serve.Jitter, c.Serve.Interval))
	}
	// A list entry with spaces around it ("payments, ledger") would match no schema and
	// silently stop excluding one.
	for key, names := range map[string][]string{"discovery.schemas": d.Schemas, "discovery.exclude_schemas": d.ExcludeSchemas, "discovery.tools_in_use": d.ToolsInUse} {
		for i, n := range names {
			if n == "" || strings.TrimSpace(n) != n {
				errs = append(errs, fmt.Errorf("%s[%d]: %q is empty or has spaces around it", key, i, n))
			}
		}
	}
	return errors.Join(errs...)
}

// validateBatches checks the purge's settings, read only with strategy purge: each count
// and duration, how they fit together, and the target against every max_replica_lag.
func (c *Config) validateBatches() []error {
	lt := c.Execute.LargeTable
	if lt.Strategy != "purge" {
		return nil
	}
	var errs []error
	if lt.ThresholdBytes < 0 {
		errs = append(errs, fmt.Errorf("execute.large_table.threshold_bytes: %d is negative", lt.ThresholdBytes))
	}
	if lt.BatchRows < 1 {
		errs = append(errs, fmt.Errorf("execute.large_table.batch_rows: %d is not a row count: write the most rows one purge batch may delete, at least 1 (default 5000)", lt.BatchRows))
	}
	if lt.BatchMinRows < 1 {
		errs = append(errs, fmt.Errorf("execute.large_table.batch_min_rows: %d is not a row count: write the fewest rows a purge batch deletes (and the first batch's size), at least 1 (default %d)", lt.BatchMinRows, DefaultBatchMinRows))
	} else if lt.BatchRows >= 1 && lt.BatchMinRows > lt.BatchRows {
		errs = append(errs, fmt.Errorf("execute.large_table.batch_min_rows: %d is over batch_rows %d: lower it, or raise batch_rows", lt.BatchMinRows, lt.BatchRows))
	}
	if lt.BatchTarget <= 0 {
		errs = append(errs, fmt.Errorf("execute.large_table.batch_target: must be positive, got %s: write how long one purge batch may take until every replica applied it, like %s", lt.BatchTarget, DefaultBatchTarget))
		return errs
	}
	// A batch the replicas take batch_target to apply puts them about that far behind:
	// a target at or over the lag limit would make the purge throttle itself.
	if lag := c.Throttle.MaxReplicaLag; lag > 0 && lt.BatchTarget >= lag {
		errs = append(errs, fmt.Errorf("execute.large_table.batch_target: %s is not under throttle.max_replica_lag %s: a batch that long puts the replicas that far behind; write at most half of it", lt.BatchTarget, lag))
	}
	for i, s := range c.Shards {
		if lag := s.Throttle.MaxReplicaLag; lag > 0 && lt.BatchTarget >= lag {
			errs = append(errs, fmt.Errorf("execute.large_table.batch_target: %s is not under %s.throttle.max_replica_lag %s: a batch that long puts the replicas that far behind; write at most half of it", lt.BatchTarget, s.key(i), lag))
		}
	}
	return errs
}

func checkDSN(key, dsn string) error {
	if strings.TrimSpace(dsn) == "" {
		return fmt.Errorf("%s.dsn: required (set dsn, dsn_file or addr)", key)
	}
	if _, err := dbconn.ParseDSN(dsn); err != nil {
		return fmt.Errorf("%s.dsn: %w", key, err)
	}
	return nil
}

// redactURL hides a password in a URL's user part.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = url.User("xxxxx")
		return u.String()
	}
	return s
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an http(s) URL")
	}
	return nil
}

// ThrottleFor returns the throttle settings for one shard: the fleet defaults with the
// shard's overrides on top.
func (c *Config) ThrottleFor(s ShardConfig) throttle.Config {
	return c.Throttle.Merge(s.Throttle)
}

func toolList() string {
	names := make([]string, len(discovery.DroppableTools))
	for i, t := range discovery.DroppableTools {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}
