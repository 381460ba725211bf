package janitor

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
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
	// DefaultsFile is a MySQL option file (what the mysql client and pt-toolkit take as
	// --defaults-file) whose [client] group gives the user, password, host, port or
	// socket and TLS; read at the edge into User, Password, Addr or DSN, and TLS. The
	// shard's replicas take its user, password and TLS, as from user and password_file.
	DefaultsFile string `mapstructure:"defaults_file"`
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
	// IgnoreReplicas names, by server_id (or, on MySQL, server_uuid), the servers fed by
	// this shard's binary log that janitor must not look at: a binlog reader that is not
	// a replica (a CDC connector, gh-ost's own reader) or a replica deliberately left
	// out; on Aurora, a reader instance by its identifier (SERVER_ID in
	// replica_host_status). Any other attached server not in replicas blocks drops on
	// the shard.
	IgnoreReplicas []string `mapstructure:"ignore_replicas"`
	// UnregisteredBinlogReaders is how many binlog dump sessions without a row in the
	// replica registry each server of this shard (the primary, each listed replica) is
	// expected to have: clients that stream the binary log without registering
	// (Debezium's connector, mysqlbinlog --stop-never backups). A MySQL or MariaDB
	// replica always registers, so such a session is no replica that applies the DDL;
	// but janitor cannot tell which session is whose, so only a count the DBA states is
	// passed over, and one more blocks drops as before. 0 (the default): none.
	UnregisteredBinlogReaders int `mapstructure:"unregistered_binlog_readers"`
	// Source names where the shard came from when not the shards list (a shards_dir
	// file), for errors.
	Source string `mapstructure:"-"`
}

// ReplicaConfig is one replica whose lag is read with SHOW REPLICA STATUS.
type ReplicaConfig struct {
	Name    string `mapstructure:"name"`
	DSN     string `mapstructure:"dsn"`
	DSNFile string `mapstructure:"dsn_file"`
	// DefaultsFile is a MySQL option file for this replica (its [client] user,
	// password, host and port), read at the edge into DSN.
	DefaultsFile string `mapstructure:"defaults_file"`
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

// Validate checks the configuration and names the key at fault. Each section checks
// its own keys; what spans sections (a shard's throttle against the fleet's) is checked
// here.
func (c *Config) Validate() error {
	fleetThrottleErr := c.Throttle.Validate("throttle")
	return errors.Join(
		c.validateShards(fleetThrottleErr),
		c.Policy.Validate("policy"),
		fleetThrottleErr,
		validateThrottleURL("throttle", c.Throttle),
		c.Discovery.Validate("discovery"),
		c.Execute.Validate("execute"),
		c.validateBatchTarget(),
		c.Slack.Validate("slack"),
		c.Metrics.Validate("metrics"),
		c.Serve.Validate("serve"),
	)
}

// validateShards checks every shard, and its throttle section merged over the fleet's.
func (c *Config) validateShards(fleetThrottleErr error) error {
	var errs []error
	if len(c.Shards) == 0 {
		errs = append(errs, errors.New("shards: at least one shard is required (in shards, or as files in shards_dir)"))
	}
	seen := map[string]bool{}
	for i, s := range c.Shards {
		key := s.key(i)
		if s.Name != "" && seen[s.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q is used by two shards", key, s.Name))
		}
		seen[s.Name] = true
		errs = append(errs, s.Validate(key), validateThrottleURL(fmt.Sprintf("shards[%d].throttle", i), s.Throttle))
		if err := s.Throttle.ValidateOverride(key + ".throttle"); err != nil {
			errs = append(errs, err)
		} else if fleetThrottleErr != nil {
			// The fleet-level mistake is reported once, under its own key.
		} else {
			errs = append(errs, s.validateMerged(key, c.ThrottleFor(s), c.ShardDefaults))
		}
	}
	return errors.Join(errs...)
}

// Validate checks what the shard says on its own; key names it (shards[i] or its
// shards_dir file).
func (s ShardConfig) Validate(key string) error {
	var errs []error
	if s.Name == "" {
		errs = append(errs, fmt.Errorf("%s.name: required", key))
	}
	errs = append(errs, checkDSN(key, s.DSN))
	for j, r := range s.Replicas {
		rkey := fmt.Sprintf("%s.replicas[%d]", key, j)
		if r.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: required", rkey))
		}
		errs = append(errs, checkDSN(rkey, r.DSN))
	}
	errs = append(errs, validateIgnoreReplicas(key, s.IgnoreReplicas))
	if n := s.UnregisteredBinlogReaders; n < 0 || n > maxUnregisteredReaders {
		errs = append(errs, fmt.Errorf("%s.unregistered_binlog_readers: %d is not a count from 0 to %d: write how many binlog clients that do not register (a CDC connector, mysqlbinlog --stop-never) stream each of the shard's servers", key, n, maxUnregisteredReaders))
	}
	return errors.Join(errs...)
}

// uuidPattern is a server_uuid as MySQL writes it.
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// auroraInstancePattern is an Aurora DB instance identifier, as replica_host_status's
// SERVER_ID gives it: a letter, then letters, digits and single hyphens, at most 63,
// not ending in a hyphen. A host:port or a dotted host name is not one.
var auroraInstancePattern = regexp.MustCompile(`^[a-zA-Z](?:-?[a-zA-Z0-9]){0,62}$`)

// maxUnregisteredReaders bounds unregistered_binlog_readers: a count above it is a typo,
// not a fleet.
const maxUnregisteredReaders = 100

// validateIgnoreReplicas: an entry that is not a server_id, a server_uuid or an Aurora
// instance identifier (a host:port, say) would match nothing and leave the shard
// blocked with no hint why.
func validateIgnoreReplicas(key string, ids []string) error {
	var errs []error
	for i, e := range ids {
		if n, err := strconv.ParseUint(e, 10, 32); (err == nil && n > 0) || uuidPattern.MatchString(e) || (auroraInstancePattern.MatchString(e) && len(e) <= 63) {
			continue
		}
		errs = append(errs, fmt.Errorf("%s.ignore_replicas[%d]: %q is not a server_id (1 to 4294967295), a server_uuid or an Aurora instance identifier: write the replica's @@server_id (the Server_Id column of SHOW REPLICAS, MariaDB SHOW SLAVE HOSTS, on its primary), or an Aurora reader's SERVER_ID in replica_host_status; janitor matches attached replicas by id, not by address", key, i, e))
	}
	return errors.Join(errs...)
}

// validateMerged checks the shard against its merged throttle settings t: the lag
// source decides which of replicas, aurora_readers and min_readers are read.
func (s ShardConfig) validateMerged(key string, t throttle.Config, d ShardDefaults) error {
	if err := t.ValidateMerged(key + ".throttle"); err != nil {
		return err
	}
	aurora := t.ReplicaLagSource == "aurora"
	switch {
	case aurora && len(s.Replicas) > 0:
		return fmt.Errorf("%s.replicas: with replica_lag_source aurora, replicas are not read (Aurora readers report no replica status); list their instance ids in %s.aurora_readers", key, key)
	case !aurora && len(s.AuroraReaders) > 0:
		return fmt.Errorf("%s.aurora_readers: only read with replica_lag_source aurora", key)
	case !aurora && s.MinReaders > 0 && s.MinReaders != d.MinReaders:
		return fmt.Errorf("%s.min_readers: only read with replica_lag_source aurora", key)
	}
	return nil
}

// validateThrottleURL: a Prometheus URL without a scheme ("prom:9090") would only fail
// at the first throttle check, as a held drop; say so now.
func validateThrottleURL(prefix string, t throttle.Config) error {
	if u := t.PrometheusURL; u != "" && checkURL(u) != nil {
		return fmt.Errorf("%s.prometheus_url: %q is not an http(s) URL", prefix, redactURL(u))
	}
	return nil
}

// Validate names the discovery key at fault.
func (d DiscoveryConfig) Validate(prefix string) error {
	var errs []error
	if d.Concurrency < 1 || d.Concurrency > 256 {
		errs = append(errs, fmt.Errorf("%s.concurrency: %d is not between 1 and 256", prefix, d.Concurrency))
	}
	if d.MaxInspect < 0 {
		errs = append(errs, fmt.Errorf("%s.max_inspect: %d is negative (0 means no cap)", prefix, d.MaxInspect))
	}
	for i, name := range d.ToolsInUse {
		if !slices.Contains(discovery.DroppableTools, discovery.Tool(name)) {
			errs = append(errs, fmt.Errorf("%s.tools_in_use[%d]: %q is not a tool janitor knows (one of %s)", prefix, i, name, toolList()))
		}
	}
	errs = append(errs,
		positive(prefix+".connect_timeout", d.ConnectTimeout),
		positive(prefix+".query_timeout", d.QueryTimeout),
		positive(prefix+".shard_timeout", d.ShardTimeout))
	// A list entry with spaces around it ("payments, ledger") would match no schema and
	// silently stop excluding one.
	for _, l := range []struct {
		key   string
		names []string
	}{{"schemas", d.Schemas}, {"exclude_schemas", d.ExcludeSchemas}, {"tools_in_use", d.ToolsInUse}} {
		for i, n := range l.names {
			if n == "" || strings.TrimSpace(n) != n {
				errs = append(errs, fmt.Errorf("%s.%s[%d]: %q is empty or has spaces around it", prefix, l.key, i, n))
			}
		}
	}
	return errors.Join(errs...)
}

// Validate names the execute key at fault.
func (e ExecuteConfig) Validate(prefix string) error {
	errs := []error{
		positive(prefix+".lock_wait_timeout", e.LockWaitTimeout),
		positive(prefix+".drop_timeout", e.DropTimeout),
	}
	if e.Concurrency < 1 || e.Concurrency > 256 {
		errs = append(errs, fmt.Errorf("%s.concurrency: %d is not between 1 and 256", prefix, e.Concurrency))
	}
	if e.Deadline < 0 {
		errs = append(errs, fmt.Errorf("%s.deadline: must not be negative (0 means none)", prefix))
	}
	if e.MaxDuration < 0 {
		errs = append(errs, fmt.Errorf("%s.max_duration: must not be negative (0 means no limit)", prefix))
	}
	if e.LockWaitTimeout > 0 && e.LockWaitTimeout < time.Second {
		errs = append(errs, fmt.Errorf("%s.lock_wait_timeout: %s is under MySQL's 1s resolution", prefix, e.LockWaitTimeout))
	}
	if e.Hold < 0 {
		errs = append(errs, fmt.Errorf("%s.hold: must not be negative (0s drops at once), got %s", prefix, e.Hold))
	}
	if e.PauseBetweenDrops < 0 {
		errs = append(errs, fmt.Errorf("%s.pause_between_drops: must not be negative", prefix))
	}
	// Negative limits would read as "no limit" (only > 0 limits): refuse them.
	if e.MaxTablesPerRun < 0 {
		errs = append(errs, fmt.Errorf("%s.max_tables_per_run: %d is negative (0 means no limit)", prefix, e.MaxTablesPerRun))
	}
	if e.MaxBytesPerRun < 0 {
		errs = append(errs, fmt.Errorf("%s.max_bytes_per_run: %d is negative (0 means no limit)", prefix, e.MaxBytesPerRun))
	}
	errs = append(errs, e.LargeTable.Validate(prefix+".large_table"))
	return errors.Join(errs...)
}

// Validate names the large_table key at fault.
func (lt LargeTableConfig) Validate(prefix string) error {
	var errs []error
	if lt.BatchPause < 0 {
		errs = append(errs, fmt.Errorf("%s.batch_pause: must not be negative", prefix))
	}
	switch lt.Strategy {
	case "drop", "purge":
	default:
		errs = append(errs, fmt.Errorf("%s.strategy: %q is not \"drop\" or \"purge\"", prefix, lt.Strategy))
	}
	if lt.Strategy != "purge" {
		// The rest is read only by a purge.
		return errors.Join(errs...)
	}
	if lt.ThresholdBytes < 0 {
		errs = append(errs, fmt.Errorf("%s.threshold_bytes: %d is negative", prefix, lt.ThresholdBytes))
	}
	if lt.BatchRows < 1 {
		errs = append(errs, fmt.Errorf("%s.batch_rows: %d is not a row count: write the most rows one purge batch may delete, at least 1 (default 5000)", prefix, lt.BatchRows))
	}
	if lt.BatchMinRows < 1 {
		errs = append(errs, fmt.Errorf("%s.batch_min_rows: %d is not a row count: write the fewest rows a purge batch deletes (and the first batch's size), at least 1 (default %d)", prefix, lt.BatchMinRows, DefaultBatchMinRows))
	} else if lt.BatchRows >= 1 && lt.BatchMinRows > lt.BatchRows {
		errs = append(errs, fmt.Errorf("%s.batch_min_rows: %d is over batch_rows %d: lower it, or raise batch_rows", prefix, lt.BatchMinRows, lt.BatchRows))
	}
	if lt.BatchTarget <= 0 {
		errs = append(errs, fmt.Errorf("%s.batch_target: must be positive, got %s: write how long one purge batch may take until every replica applied it, like %s", prefix, lt.BatchTarget, DefaultBatchTarget))
	}
	return errors.Join(errs...)
}

// validateBatchTarget: a batch the replicas take batch_target to apply puts them about
// that far behind, so with strategy purge the target must be under the fleet's
// max_replica_lag and every shard's, or the purge would hold itself back.
func (c *Config) validateBatchTarget() error {
	lt := c.Execute.LargeTable
	if lt.Strategy != "purge" || lt.BatchTarget <= 0 {
		return nil
	}
	var errs []error
	if lag := c.Throttle.MaxReplicaLag; lag > 0 && lt.BatchTarget >= lag {
		errs = append(errs, fmt.Errorf("execute.large_table.batch_target: %s is not under throttle.max_replica_lag %s: a batch that long puts the replicas that far behind; write at most half of it", lt.BatchTarget, lag))
	}
	for i, s := range c.Shards {
		if lag := s.Throttle.MaxReplicaLag; lag > 0 && lt.BatchTarget >= lag {
			errs = append(errs, fmt.Errorf("execute.large_table.batch_target: %s is not under %s.throttle.max_replica_lag %s: a batch that long puts the replicas that far behind; write at most half of it", lt.BatchTarget, s.key(i), lag))
		}
	}
	return errors.Join(errs...)
}

// Validate names the slack key at fault, never echoing the webhook: it is a credential.
func (s SlackConfig) Validate(prefix string) error {
	var errs []error
	if s.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("%s.timeout: must be positive, got %s", prefix, s.Timeout))
	}
	if s.WebhookURL != "" && checkURL(s.WebhookURL) != nil {
		errs = append(errs, fmt.Errorf("%s.webhook_url: not an http(s) URL", prefix))
	}
	return errors.Join(errs...)
}

// Validate names the metrics key at fault.
func (m MetricsConfig) Validate(prefix string) error {
	var errs []error
	if m.PushgatewayURL != "" && strings.TrimSpace(m.Job) == "" {
		errs = append(errs, fmt.Errorf("%s.job: required with %s.pushgateway_url (it names the pushed group)", prefix, prefix))
	}
	if u := m.PushgatewayURL; u != "" {
		if err := checkURL(u); err != nil {
			errs = append(errs, fmt.Errorf("%s.pushgateway_url: %q is %w", prefix, redactURL(u), err))
		}
	}
	if _, err := httpclient.Parse(prefix+".http_client", m.HTTPClient); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Validate names the serve key at fault.
func (s ServeConfig) Validate(prefix string) error {
	var errs []error
	if s.Interval <= 0 {
		errs = append(errs, fmt.Errorf("%s.interval: must be positive, got %s", prefix, s.Interval))
	}
	if s.Jitter < 0 {
		errs = append(errs, fmt.Errorf("%s.jitter: must not be negative", prefix))
	} else if s.Interval > 0 && s.Jitter >= s.Interval {
		errs = append(errs, fmt.Errorf("%s.jitter: %s must be under %s.interval %s, or runs can follow each other at once", prefix, s.Jitter, prefix, s.Interval))
	}
	return errors.Join(errs...)
}

// positive refuses a zero or negative duration where none means "off".
func positive(key string, v time.Duration) error {
	if v <= 0 {
		return fmt.Errorf("%s: must be positive, got %s", key, v)
	}
	return nil
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
