package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const good = `
shards:
  - name: shard-1
    dsn: "janitor:s3cret@tcp(127.0.0.1:3306)/"
    replicas:
      - name: shard-1-replica
        dsn: "janitor:s3cret@tcp(127.0.0.1:3307)/"
policy:
  min_age: 24h
  heartbeat_stale_after: 10m
`

func TestLoad(t *testing.T) {
	cfg, err := Load(write(t, "c.yaml", good))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.MinAge != 24*time.Hour || cfg.Policy.HeartbeatStaleAfter != 10*time.Minute {
		t.Errorf("policy = %+v", cfg.Policy)
	}
	if len(cfg.Shards) != 1 || cfg.Shards[0].Replicas[0].Name != "shard-1-replica" {
		t.Errorf("shards = %+v", cfg.Shards)
	}
	// Defaults fill what the file leaves out.
	if cfg.Discovery.Concurrency != 4 || cfg.Execute.LockWaitTimeout != 3*time.Second {
		t.Errorf("defaults not applied: %+v %+v", cfg.Discovery, cfg.Execute)
	}
}

func TestEnvOverridesEveryScalarKey(t *testing.T) {
	t.Setenv("JANITOR_POLICY_MIN_AGE", "48h")
	t.Setenv("JANITOR_DISCOVERY_CONCURRENCY", "7")
	t.Setenv("JANITOR_THROTTLE_MAX_REPLICA_LAG", "2s")
	t.Setenv("JANITOR_DISCOVERY_SCHEMAS", "shop,billing")
	t.Setenv("JANITOR_DISCOVERY_TOOLS_IN_USE", "gh-ost,pt-osc")
	cfg, err := Load(write(t, "c.yaml", good))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.MinAge != 48*time.Hour || cfg.Discovery.Concurrency != 7 || cfg.Throttle.MaxReplicaLag != 2*time.Second {
		t.Errorf("env not applied: %+v %+v %+v", cfg.Policy, cfg.Discovery, cfg.Throttle)
	}
	if strings.Join(cfg.Discovery.Schemas, "|") != "shop|billing" {
		t.Errorf("schemas = %q", cfg.Discovery.Schemas)
	}
	if strings.Join(cfg.Discovery.ToolsInUse, "|") != "gh-ost|pt-osc" {
		t.Errorf("tools_in_use = %q", cfg.Discovery.ToolsInUse)
	}
	for _, k := range Keys() {
		// shards_dir and shard_defaults.* are scalars; the shards list is file-only.
		if k == "shards" || strings.HasPrefix(k, "shards.") || strings.HasPrefix(k, "shards[") {
			t.Errorf("key %q: lists cannot be overridden by env", k)
		}
	}
	if EnvName("policy.min_age") != "JANITOR_POLICY_MIN_AGE" {
		t.Error(EnvName("policy.min_age"))
	}
}

func TestDSNFile(t *testing.T) {
	dsn := write(t, "dsn", "janitor:fromfile@tcp(10.0.0.1:3306)/\n")
	cfg, err := Load(write(t, "c.yaml", "shards:\n  - name: a\n    dsn_file: "+dsn+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Shards[0].DSN != "janitor:fromfile@tcp(10.0.0.1:3306)/" {
		t.Errorf("dsn = %q", cfg.Shards[0].DSN)
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"unknown key", good + "polcy:\n  min_age: 1h\n", "polcy"},
		{"unknown nested key", strings.Replace(good, "min_age: 24h", "min_agee: 24h", 1), "min_agee"},
		{"unknown shard key", strings.Replace(good, "    dsn: \"janitor:s3cret@tcp(127.0.0.1:3306)/\"", "    dns: x", 1), "dns"},
		{"bad duration", strings.Replace(good, "min_age: 24h", "min_age: 3 days", 1), "min_age"},
		{"bare number duration", strings.Replace(good, "min_age: 24h", "min_age: 24", 1), "no unit"},
		{"shard without dsn", "shards:\n  - name: a\n", "shards[0].dsn: required"},
		{"replica without dsn", "shards:\n  - name: a\n    dsn: u:p@tcp(h:1)/\n    replicas:\n      - name: r\n", "shards[0].replicas[0].dsn"},
		{"no shards", "policy:\n  min_age: 1h\n", "shards"},
		{"duplicate shard", "shards:\n  - name: a\n    dsn: u:p@tcp(h:1)/\n  - name: a\n    dsn: u:p@tcp(h:2)/\n", "used by two shards"},
		{"malformed yaml", "shards: [\n", "c.yaml"},
		{"missing dsn file", "shards:\n  - name: a\n    dsn_file: /nonexistent/dsn\n", "shards[0].dsn_file"},
		{"negative min_age", strings.Replace(good, "min_age: 24h", "min_age: -1h", 1), "policy.min_age"},
		{"bad lag source", good + "throttle:\n  replica_lag_source: galera\n", "throttle.replica_lag_source"},
		{"half a memory signal", good + "throttle:\n  min_freeable_memory_bytes: 1000\n", "prometheus_url"},
		{"bad strategy", good + "execute:\n  large_table:\n    strategy: shred\n", "execute.large_table.strategy"},
		{"unknown tool", good + "discovery:\n  tools_in_use: [pt-osc, pt_osc]\n", `discovery.tools_in_use[1]: "pt_osc" is not a tool`},
		{"replicas under aurora", "shards:\n  - name: a\n    dsn: u:p@tcp(h:1)/\n    replicas:\n      - name: r\n        dsn: u:p@tcp(h:2)/\nthrottle:\n  replica_lag_source: aurora\n", "shards[0].replicas: with replica_lag_source aurora"},
		{"aurora readers without aurora", "shards:\n  - name: a\n    dsn: u:p@tcp(h:1)/\n    aurora_readers: [r1]\n", "shards[0].aurora_readers"},
		{"negative max_tables_per_run", good + "execute:\n  max_tables_per_run: -1\n", "execute.max_tables_per_run"},
		{"negative max_bytes_per_run", good + "execute:\n  max_bytes_per_run: -5\n", "execute.max_bytes_per_run"},
		{"fractional count", good + "execute:\n  max_tables_per_run: 0.5\n", "not a whole number"},
		{"negative batch_pause", good + "execute:\n  large_table:\n    batch_pause: -1s\n", "execute.large_table.batch_pause"},
		{"negative slack timeout", good + "slack:\n  timeout: -30s\n", "slack.timeout"},
		{"pushgateway without job", good + "metrics:\n  pushgateway_url: http://pg:9091\n  job: \"\"\n", "metrics.job"},
		{"jitter not under interval", good + "serve:\n  interval: 5m\n  jitter: 10m\n", "serve.jitter"},
		{"spaces around a schema", good + "discovery:\n  exclude_schemas: [\" ledger\"]\n", "discovery.exclude_schemas[0]"},
		{"negative max_inspect", good + "discovery:\n  max_inspect: -1\n", "discovery.max_inspect"},
		{"ambiguous is no tool", good + "discovery:\n  tools_in_use: [ambiguous]\n", "discovery.tools_in_use[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(write(t, "c.yaml", c.body))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	bodies := []string{
		"shards:\n  - name: a\n    dsn: \"janitor:hunter2@tcp(127.0.0.1:3306/\"\n",                // malformed DSN
		"shards:\n  - name: a\n    dsn: \"janitor:hunter2@tcp(127.0.0.1:3306)/\"\n    bogus: 1\n", // unknown key
		good + "slack:\n  webhook_url: \"ftp://hooks.example/hunter2\"\n",
	}
	for _, b := range bodies {
		_, err := Load(write(t, "c.yaml", b))
		if err == nil {
			t.Fatalf("no error for %q", b)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error leaks a secret: %v", err)
		}
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("err = %v", err)
	}
}

// TestEnvEdgeCases: an empty JANITOR_* variable clears a key rather than being ignored,
// and comma lists are trimmed (a review: "payments, ledger" silently stopped excluding
// ledger).
func TestEnvEdgeCases(t *testing.T) {
	t.Setenv("JANITOR_DISCOVERY_EXCLUDE_SCHEMAS", "payments, ledger ,")
	t.Setenv("JANITOR_SLACK_WEBHOOK_URL", "")
	cfg, err := Load(write(t, "c.yaml", good+"slack:\n  webhook_url: https://hooks.example/services/T/B/x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Discovery.ExcludeSchemas, "|"); got != "payments|ledger" {
		t.Errorf("exclude_schemas = %q, want payments|ledger", got)
	}
	if cfg.Slack.WebhookURL != "" {
		t.Error("JANITOR_SLACK_WEBHOOK_URL=\"\" did not turn the webhook off")
	}
}

// TestFleetThrottleErrorNamedOnce: a mistake in the fleet-wide throttle section is
// reported under throttle, once, not under every shard's (absent) section.
func TestFleetThrottleErrorNamedOnce(t *testing.T) {
	body := "shards:\n  - name: a\n    dsn: u:p@tcp(h:1)/\n  - name: b\n    dsn: u:p@tcp(h:2)/\nthrottle:\n  replica_lag_source: bogus\n"
	_, err := Load(write(t, "c.yaml", body))
	if err == nil {
		t.Fatal("no error")
	}
	if n := strings.Count(err.Error(), "replica_lag_source"); n != 1 || strings.Contains(err.Error(), "shards[") {
		t.Errorf("error %q: want the fleet key once and no shard key", err)
	}
}

// TestEmptyEnvForALimitIsAnError: JANITOR_EXECUTE_MAX_TABLES_PER_RUN= would decode as 0,
// "no limit"; it must be refused (found by a review).
func TestEmptyEnvForALimitIsAnError(t *testing.T) {
	for _, k := range []string{"JANITOR_EXECUTE_MAX_TABLES_PER_RUN", "JANITOR_DISCOVERY_MAX_INSPECT", "JANITOR_POLICY_MIN_AGE", "JANITOR_SERVE_EXECUTE"} {
		t.Run(k, func(t *testing.T) {
			t.Setenv(k, "")
			_, err := Load(write(t, "c.yaml", good))
			if err == nil || !strings.Contains(err.Error(), k+" is set but empty") {
				t.Errorf("err = %v", err)
			}
		})
	}
}

// TestErrorsSayWhereTheValueCameFrom: every kind of key (duration, size, count, switch,
// list, URL, choice), set badly in the file or in the environment, is reported with the
// file and key or the variable's name, the value as written, and what to write instead.
// Before this, `policy.min_age: 9999999999h` said only "time: invalid duration", and
// JANITOR_POLICY_MIN_AGE=abc blamed the config file.
func TestErrorsSayWhereTheValueCameFrom(t *testing.T) {
	cases := []struct {
		kind, key, value string
		want             string // what the message must also say (the advice)
	}{
		{"duration", "policy.min_age", "9999999999h", "like 30s, 10m or 48h"},
		{"duration", "policy.min_age", "abc", "like 30s, 10m or 48h"},
		{"duration without unit", "throttle.max_replica_lag", "24", "no unit"},
		{"negative duration", "execute.max_duration", "-1h", "must not be negative"},
		{"size", "execute.max_bytes_per_run", "10GiB", "10737418240"},
		{"size out of range", "execute.large_table.threshold_bytes", "99999999999999999999999", "at most 9223372036854775807"},
		{"count", "discovery.concurrency", "four", "whole number"},
		{"count out of range", "discovery.concurrency", "0", "between 1 and 256"},
		{"switch", "serve.execute", "maybe", "true or false"},
		{"list", "discovery.tools_in_use", "gh-ost,pt_osc", "is not a tool janitor knows"},
		{"url", "metrics.pushgateway_url", "ftp://pg:9091", "http(s) URL"},
		{"url", "throttle.prometheus_url", "prom:9090", "http(s) URL"},
		{"choice", "execute.large_table.strategy", "shred", `"drop" or "purge"`},
		{"choice", "throttle.replica_lag_source", "galera", "replica_status"},
	}
	for _, c := range cases {
		t.Run(c.kind+"/file/"+c.key, func(t *testing.T) {
			path := write(t, "c.yaml", minimal+yamlFor(c.key, c.value))
			_, err := Load(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range []string{"config file " + path + ": " + c.key, shownValue(c.key, c.value), c.want} {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			if strings.Contains(msg, "JANITOR_") {
				t.Errorf("error %q blames the environment", msg)
			}
		})
		t.Run(c.kind+"/env/"+c.key, func(t *testing.T) {
			path := write(t, "c.yaml", good)
			t.Setenv(EnvName(c.key), c.value)
			_, err := Load(path)
			if err == nil {
				t.Fatal("no error")
			}
			var line string
			for _, l := range strings.Split(err.Error(), "\n") {
				if strings.HasPrefix(l, "environment variable "+EnvName(c.key)+" ") {
					line = l
				}
				if strings.Contains(l, "config file "+path+": "+c.key) {
					t.Errorf("error %q blames the config file for an environment variable", l)
				}
			}
			if line == "" {
				t.Fatalf("error %q does not name %s", err, EnvName(c.key))
			}
			if !strings.Contains(line, c.want) {
				t.Errorf("error %q does not say %q", line, c.want)
			}
			if !strings.Contains(c.value, ",") && !strings.Contains(line, c.value) {
				t.Errorf("error %q does not show the value %q", line, c.value)
			}
		})
	}
}

// minimal is a configuration with one shard and nothing else.
const minimal = "shards:\n  - name: shard-1\n    dsn: \"janitor:s3cret@tcp(127.0.0.1:3306)/\"\n"

// yamlFor nests key: value under its sections, and adds a prometheus query so that a
// URL check is not hidden by the "all three together" rule.
func yamlFor(key, value string) string {
	parts := strings.Split(key, ".")
	var b strings.Builder
	for i, p := range parts[:len(parts)-1] {
		fmt.Fprintf(&b, "%s%s:\n", strings.Repeat("  ", i), p)
	}
	val := value
	if strings.Contains(value, ",") {
		val = "[" + value + "]"
	} else if _, err := strconv.ParseFloat(value, 64); err != nil || key == "policy.min_age" {
		val = strconv.Quote(value)
	}
	fmt.Fprintf(&b, "%s%s: %s\n", strings.Repeat("  ", len(parts)-1), parts[len(parts)-1], val)
	return b.String()
}

// shownValue is how the message shows the value: lists name the bad element.
func shownValue(key, value string) string {
	if strings.Contains(value, ",") {
		return strconv.Quote(value[strings.LastIndex(value, ",")+1:])
	}
	if value == "99999999999999999999999" {
		return "1e+23"
	}
	return value
}

// TestPurgeBatchKeys: the purge's batch settings are checked at load, with strategy
// purge, each error naming the key, where its value came from, the value and what to
// write instead.
func TestPurgeBatchKeys(t *testing.T) {
	purge := good + "execute:\n  large_table:\n    strategy: purge\n"
	cases := []struct {
		name, body, key, value, want string
	}{
		{"target over the lag limit", purge + "    batch_target: 3s\nthrottle:\n  max_replica_lag: 2s\n", "execute.large_table.batch_target", "3s", "not under throttle.max_replica_lag 2s"},
		{"target over a shard's lag limit", strings.Replace(purge, "    replicas:", "    throttle:\n      max_replica_lag: 400ms\n    replicas:", 1),
			"execute.large_table.batch_target", "500ms", "shards[0].throttle.max_replica_lag 400ms"},
		{"zero target", purge + "    batch_target: 0s\n", "execute.large_table.batch_target", "0s", "must be positive"},
		{"min over max", purge + "    batch_rows: 100\n    batch_min_rows: 500\n", "execute.large_table.batch_min_rows", "500", "over batch_rows 100"},
		{"zero min", purge + "    batch_min_rows: 0\n", "execute.large_table.batch_min_rows", "0", "at least 1"},
		{"zero max", purge + "    batch_rows: 0\n", "execute.large_table.batch_rows", "0", "at least 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := write(t, "c.yaml", c.body)
			_, err := Load(path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range []string{"config file " + path + ": " + c.key, c.value, c.want} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	t.Run("from the environment", func(t *testing.T) {
		t.Setenv(EnvName("execute.large_table.batch_target"), "5s")
		_, err := Load(write(t, "c.yaml", purge))
		if err == nil || !strings.Contains(err.Error(), "environment variable JANITOR_EXECUTE_LARGE_TABLE_BATCH_TARGET") ||
			!strings.Contains(err.Error(), "5s") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("strategy drop reads none of them", func(t *testing.T) {
		if _, err := Load(write(t, "c.yaml", good+"execute:\n  large_table:\n    batch_target: 1h\n    batch_min_rows: 0\n")); err != nil {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		cfg, err := Load(write(t, "c.yaml", purge))
		if err != nil {
			t.Fatal(err)
		}
		if lt := cfg.Execute.LargeTable; lt.BatchMinRows != 100 || lt.BatchRows != 5000 || lt.BatchTarget != 500*time.Millisecond {
			t.Errorf("defaults: %+v", lt)
		}
	})
}

// TestEveryProblemLineIsPlaced: a section with two mistakes gives two lines, each naming
// the file. Sections join their own problems; before they were flattened, the second
// line of throttle's or policy's problems lost its "config file" prefix.
func TestEveryProblemLineIsPlaced(t *testing.T) {
	path := write(t, "c.yaml", minimal+"throttle:\n  replica_lag_source: galera\n  max_wait: -1s\npolicy:\n  min_age: -1h\n  heartbeat_stale_after: 0s\nserve:\n  interval: 0s\n")
	_, err := Load(path)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) < 5 {
		t.Errorf("want at least 5 problems, got %q", err)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "config file "+path+": ") {
			t.Errorf("line %q does not say where the value came from", l)
		}
	}
}

// TestIgnoreReplicas: server_ids come as numbers or strings; an address is refused with
// the key, the value and the file named.
func TestIgnoreReplicas(t *testing.T) {
	cfg, err := Load(write(t, "c.yaml", strings.Replace(good, "policy:", "    ignore_replicas: [4201, \"3e11fa47-71ca-11e1-9e33-c80aa9429562\"]\npolicy:", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Shards[0].IgnoreReplicas; len(got) != 2 || got[0] != "4201" {
		t.Errorf("ignore_replicas = %q", got)
	}
	p := write(t, "c.yaml", strings.Replace(good, "policy:", "    ignore_replicas: [\"db-3:3306\"]\npolicy:", 1))
	_, err = Load(p)
	for _, want := range []string{p, `shards[0].ignore_replicas[0]: "db-3:3306" is not a server_id`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want %q", err, want)
		}
	}
	t.Log(err)
	// The count of binlog clients that never register: a number, 0 to 100.
	cfg, err = Load(write(t, "c.yaml", strings.Replace(good, "policy:", "    unregistered_binlog_readers: 2\npolicy:", 1)))
	if err != nil || cfg.Shards[0].UnregisteredBinlogReaders != 2 {
		t.Fatalf("unregistered_binlog_readers: 2 read as %+v, %v", cfg, err)
	}
	p = write(t, "c.yaml", strings.Replace(good, "policy:", "    unregistered_binlog_readers: -1\npolicy:", 1))
	_, err = Load(p)
	for _, want := range []string{p, "shards[0].unregistered_binlog_readers: -1 is not a count from 0 to 100"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v: want %q", err, want)
		}
	}
}
