package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/internal/testdb"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "janitor.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code = run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"report"}, "--config FILE is required"},
		{[]string{"report", "--config", "x", "--output", "yaml"}, `--output "yaml"`},
		{[]string{"report", "--config", "/nonexistent.yaml"}, "not found"},
		{[]string{"report", "--config", "x", "--execute"}, "--execute is not a report flag (it is for run and holds)"},
		{[]string{"report", "--bogus"}, "flag provided but not defined: --bogus"},
		{[]string{"serve", "--config", "x", "--output", "json"}, "--output is not a serve flag (it is for report and run and holds)"},
		{[]string{"serve", "--config", "x", "--shard=a"}, "--shard is not a serve flag"},
		{[]string{"report", "--config", "x", "--notify", "--no-notify"}, "contradict"},
		{[]string{"report", "--config", "x", "stray"}, `unexpected argument "stray"`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
	}
	for _, c := range cases {
		code, stdout, stderr := runCLI(t, c.args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d", c.args, code, exitUsage)
		}
		if stdout != "" {
			t.Errorf("%v: usage errors go to stderr, stdout got %q", c.args, stdout)
		}
		if !strings.Contains(stderr, c.want) {
			t.Errorf("%v: stderr %q lacks %q", c.args, stderr, c.want)
		}
	}
}

func TestBadConfigExitsTwoAndNamesTheKey(t *testing.T) {
	p := writeConfig(t, "shards:\n  - name: a\n    dsn: \"janitor:topsecret@tcp(127.0.0.1:3306)/\"\npolicy:\n  min_age: soon\n")
	code, stdout, stderr := runCLI(t, "report", "--config", p)
	if code != exitUsage || stdout != "" {
		t.Fatalf("exit %d stdout %q", code, stdout)
	}
	if !strings.Contains(stderr, "min_age") || strings.Contains(stderr, "topsecret") {
		t.Errorf("stderr = %q: must name min_age and never the password", stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "janitor ") {
		t.Errorf("exit %d, %q", code, stdout)
	}
}

// TestReportJSONContract runs the report against the sandbox and an unreachable shard:
// exit 1, the good shard reported, the JSON fields of the contract present, logs on
// stderr only, and no password anywhere.
func TestReportJSONContract(t *testing.T) {
	db := testdb.Primary(t)
	s := testdb.Schema(t, db)
	testdb.Exec(t, db, "CREATE TABLE "+dbconn.QualifiedName(s, "orders")+" (id INT PRIMARY KEY)",
		"CREATE TABLE "+dbconn.QualifiedName(s, "__orders_old")+" (id INT PRIMARY KEY)")
	dsn := testdb.PrimaryDSN(t)
	p := writeConfig(t, `shards:
  - name: sandbox
    dsn: "`+dsn+`"
  - name: gone
    dsn: "janitor:pw-not-shown@tcp(127.0.0.1:1)/"
discovery:
  schemas: [`+s+`]
  connect_timeout: 1s
policy:
  min_age: 0s
`)
	code, stdout, stderr := runCLI(t, "report", "--config", p, "--output", "json")
	if code != exitFailed {
		t.Errorf("exit %d, want 1 (one shard failed)", code)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
	}
	for _, k := range []string{"generated_at", "reclaimable_bytes", "shards"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("missing top-level %q", k)
		}
	}
	shards := doc["shards"].([]any)
	if len(shards) != 2 {
		t.Fatalf("%d shards", len(shards))
	}
	byName := map[string]map[string]any{}
	for _, sh := range shards {
		m := sh.(map[string]any)
		byName[m["name"].(string)] = m
		for _, k := range []string{"name", "error", "reclaimable_bytes", "tables"} {
			if _, ok := m[k]; !ok {
				t.Errorf("shard missing %q", k)
			}
		}
	}
	if byName["gone"]["error"] == "" {
		t.Error("the unreachable shard has no error")
	}
	tables := byName["sandbox"]["tables"].([]any)
	if len(tables) != 1 {
		t.Fatalf("sandbox tables = %v", tables)
	}
	row := tables[0].(map[string]any)
	for _, k := range []string{"schema", "table", "tool", "role", "base_table", "bytes", "created_at", "age_seconds", "verdict", "reason"} {
		if _, ok := row[k]; !ok {
			t.Errorf("table row missing %q", k)
		}
	}
	if row["tool"] != "pt-osc" || row["verdict"] != "drop" || row["base_table"] != "orders" {
		t.Errorf("row = %v", row)
	}
	if byName["sandbox"]["reclaimable_bytes"].(float64) != row["bytes"].(float64) {
		t.Error("reclaimable_bytes is not the sum of drop rows")
	}
	if !strings.Contains(stderr, "shard failed") {
		t.Errorf("logs belong on stderr: %q", stderr)
	}
	for _, secret := range []string{"pw-not-shown", passwordOf(dsn)} {
		if secret != "" && (strings.Contains(stdout, secret) || strings.Contains(stderr, secret)) {
			t.Errorf("a password leaked into the output")
		}
	}
	for _, format := range []string{"text", "markdown"} {
		code, out, _ := runCLI(t, "report", "--config", p, "--output", format)
		if code != exitFailed || !strings.Contains(out, "__orders_old") || !strings.Contains(out, "gone") {
			t.Errorf("%s: exit %d\n%s", format, code, out)
		}
	}
}

func passwordOf(dsn string) string {
	cfg, err := dbconn.ParseDSN(dsn)
	if err != nil || len(cfg.Passwd) < 4 {
		return ""
	}
	return cfg.Passwd
}

// TestCronRunsPushRunningTotals runs `janitor report` twice, as two nights of the
// CronJob, with one live and one unreachable shard, against a real Pushgateway: the
// second night's push must carry the first's error count on (2, not 1 and 1), and the
// dead shard must read as down.
func TestCronRunsPushRunningTotals(t *testing.T) {
	p, gw := pushingConfig(t, "nightly", aliveAndGone(t, "pw-not-shown"))
	for night := 1; night <= 2; night++ {
		if code, _, stderr := runCLI(t, "report", "--config", p, "--output", "json"); code != exitFailed {
			t.Fatalf("night %d: exit %d, want 1 (a shard failed)\n%s", night, code, stderr)
		} else if strings.Contains(stderr, "carry metric totals") {
			t.Fatalf("night %d: totals not read back: %s", night, stderr)
		}
	}
	body := scrapeText(t, gw)
	for _, want := range []string{
		`janitor_shard_errors_total{cluster="nightly",instance="",job="janitor",shard="gone"} 2`,
		`janitor_shard_errors_total{cluster="nightly",instance="",job="janitor",shard="alive"} 0`,
		`janitor_shard_up{cluster="nightly",instance="",job="janitor",shard="gone"} 0`,
		`janitor_shard_up{cluster="nightly",instance="",job="janitor",shard="alive"} 1`,
		`janitor_tables_dropped_total{cluster="nightly",instance="",job="janitor",shard="alive"} 0`,
		`janitor_tables_dropped_by_tool_total{cluster="nightly",instance="",job="janitor",tool="gh-ost"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("pushgateway lacks %s", want)
		}
	}
	if strings.Contains(body, "pw-not-shown") {
		t.Error("a DSN password reached the pushgateway")
	}
}

// TestShardFlag: --shard limits a run to some shards; an unknown name is a usage error
// that lists the configured ones; a partial run's push keeps the other shards' figures
// and sets no fleet-wide success.
func TestShardFlag(t *testing.T) {
	p, gw := pushingConfig(t, "partial", aliveAndGone(t, "pw"))
	code, _, stderr := runCLI(t, "report", "--config", p, "--shard", "alive,nope")
	if code != exitUsage || !strings.Contains(stderr, "--shard nope: no such shard") || !strings.Contains(stderr, "it has: alive, gone") {
		t.Errorf("unknown shard: exit %d, stderr %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "serve", "--config", p, "--shard", "alive"); code != exitUsage || !strings.Contains(stderr, "--shard is not a serve flag") {
		t.Errorf("serve --shard: exit %d, stderr %q", code, stderr)
	}

	// A full run: gone fails.
	if code, _, stderr := runCLI(t, "report", "--config", p); code != exitFailed {
		t.Fatalf("full run: exit %d\n%s", code, stderr)
	}
	// Only the live shard: exit 0, and gone is not visited.
	code, stdout, stderr := runCLI(t, "report", "--config", p, "--output", "json", "--shard", "alive", "--notify")
	if code != exitOK {
		t.Fatalf("--shard alive: exit %d\n%s", code, stderr)
	}
	var doc struct{ Shards []struct{ Name string } }
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || len(doc.Shards) != 1 || doc.Shards[0].Name != "alive" {
		t.Errorf("--shard alive reported %+v (%v)", doc.Shards, err)
	}
	body := scrapeText(t, gw)
	for _, want := range []string{
		`janitor_shard_up{cluster="partial",instance="",job="janitor",shard="gone"} 0`,
		`janitor_shard_errors_total{cluster="partial",instance="",job="janitor",shard="gone"} 1`,
		`janitor_shard_up{cluster="partial",instance="",job="janitor",shard="alive"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("after a partial run the pushgateway lacks %s", want)
		}
	}
	if strings.Contains(body, "janitor_last_success_timestamp_seconds{") {
		t.Error("a partial run set the fleet's last success")
	}
}

// scrapeText returns the exposition text a Pushgateway serves.
func scrapeText(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDriverLogsAreStructured(t *testing.T) {
	var b bytes.Buffer
	log, err := newLogger(&b, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	driverLog{log}.Print("connection.go:803: ", "closing bad idle connection: EOF")
	var line map[string]any
	if err := json.Unmarshal(b.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q (%v)", b.String(), err)
	}
	if line["msg"] != "mysql driver" || !strings.Contains(fmt.Sprint(line["detail"]), "closing bad idle connection") {
		t.Errorf("logged %v", line)
	}
}
