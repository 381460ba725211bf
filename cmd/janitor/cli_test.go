package main

import (
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/internal/testdb"
)

// TestHelp: each command prints its own flags in the --flag form and exits 0 (before,
// `report --help` printed the top-level usage and Go's -flag list, and exited 2).
func TestHelp(t *testing.T) {
	for cmd, c := range commands {
		for _, args := range [][]string{{cmd, "--help"}, {cmd, "-h"}, {"help", cmd}} {
			code, stdout, stderr := runCLI(t, args...)
			if code != exitOK || stderr != "" {
				t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
			}
			if !strings.HasPrefix(stdout, "usage: janitor "+cmd) {
				t.Errorf("%v: help does not start with the command's usage: %q", args, stdout)
			}
			for _, f := range c.flags {
				if !strings.Contains(stdout, "  --"+f) {
					t.Errorf("%v: help lacks --%s:\n%s", args, f, stdout)
				}
			}
			if regexp.MustCompile(`(?m)^\s+-[a-z]`).MatchString(stdout) {
				t.Errorf("%v: help shows a single-dash flag:\n%s", args, stdout)
			}
		}
	}
	if !strings.Contains(mustHelp(t, "serve"), "--no-notify") || strings.Contains(mustHelp(t, "serve"), "--output") {
		t.Error("serve's help must list the flags serve takes, and only those")
	}
	for _, args := range [][]string{{"--help"}, {"help"}, {"-h"}} {
		code, stdout, _ := runCLI(t, args...)
		if code != exitOK || !strings.Contains(stdout, "janitor COMMAND --help") {
			t.Errorf("%v: exit %d, %q", args, code, stdout)
		}
	}
}

func mustHelp(t *testing.T, cmd string) string {
	t.Helper()
	_, stdout, _ := runCLI(t, cmd, "--help")
	return stdout
}

// TestJanitorConfigEnv: JANITOR_CONFIG names the file when --config is absent; --config
// wins when both are given.
func TestJanitorConfigEnv(t *testing.T) {
	bad := writeConfig(t, "shards:\n  - name: a\n    dsn: \"u:p@tcp(127.0.0.1:1)/\"\npolicy:\n  min_age: soon\n")
	t.Setenv("JANITOR_CONFIG", bad)
	code, _, stderr := runCLI(t, "report")
	if code != exitUsage || !strings.Contains(stderr, "config file "+bad+": policy.min_age") {
		t.Errorf("JANITOR_CONFIG not read: exit %d, %q", code, stderr)
	}
	t.Setenv("JANITOR_CONFIG", "/nonexistent/janitor.yaml")
	code, _, stderr = runCLI(t, "report", "--config", bad)
	if code != exitUsage || !strings.Contains(stderr, bad) || strings.Contains(stderr, "/nonexistent") {
		t.Errorf("--config must win over JANITOR_CONFIG: exit %d, %q", code, stderr)
	}
	t.Setenv("JANITOR_CONFIG", "")
	if code, _, stderr := runCLI(t, "report"); code != exitUsage || !strings.Contains(stderr, "JANITOR_CONFIG") {
		t.Errorf("no config: exit %d, %q", code, stderr)
	}
}

// TestListenFailureIsNotUsage: a taken port is a failure (exit 1) with a message that
// says so, not a usage error (exit 2, which Kubernetes' podFailurePolicy reads as "bad
// configuration, do not retry").
func TestListenFailureIsNotUsage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := writeConfig(t, "shards:\n  - name: a\n    dsn: \"u:p@tcp(127.0.0.1:1)/\"\nserve:\n  listen: \""+ln.Addr().String()+"\"\n")
	code, _, stderr := runCLI(t, "serve", "--config", p)
	if code != exitFailed || !strings.Contains(stderr, "cannot listen on serve.listen") || !strings.Contains(stderr, ln.Addr().String()) {
		t.Errorf("exit %d, want %d; stderr %q", code, exitFailed, stderr)
	}
}

// TestNotify: a DBA's run on one shard (--shard) posts nothing to the team's Slack
// channel and pushes nothing to the Pushgateway unless --notify is given; --no-notify
// silences any run. A real Pushgateway, and a local server standing in for Slack.
func TestNotify(t *testing.T) {
	webhook, posts := slackStandIn(t, "")
	p, gw := pushingConfig(t, "notify", `shards:
  - name: alive
    dsn: "`+testdb.PrimaryDSN(t)+`"
  - name: other
    dsn: "`+testdb.PrimaryDSN(t)+`"
discovery:
  schemas: [janitor_no_such_schema]
slack:
  webhook_url: "`+webhook+`"
`)
	pushed := func() bool { return strings.Contains(scrapeText(t, gw), `janitor_shard_up{cluster="notify"`) }
	for _, args := range [][]string{
		{"report", "--shard", "alive"},
		{"run", "--shard", "alive"},
		{"report", "--no-notify"},
		{"run", "--no-notify"},
	} {
		code, _, stderr := runCLI(t, append(args, "--config", p)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		if n := posts.Load(); n != 0 {
			t.Errorf("%v posted to Slack (%d posts)", args, n)
		}
		if pushed() {
			t.Errorf("%v pushed metrics", args)
		}
		if !strings.Contains(stderr, "nothing is posted to Slack or pushed") {
			t.Errorf("%v: the log does not say notifications are off: %s", args, stderr)
		}
	}
	if code, _, stderr := runCLI(t, "report", "--shard", "alive", "--notify", "--config", p); code != exitOK {
		t.Fatalf("--notify: exit %d\n%s", code, stderr)
	}
	if posts.Load() != 1 || !pushed() {
		t.Errorf("--shard --notify: %d Slack posts, pushed %v; want 1 and true", posts.Load(), pushed())
	}
	if code, _, stderr := runCLI(t, "report", "--config", p); code != exitOK {
		t.Fatalf("full run: exit %d\n%s", code, stderr)
	}
	if posts.Load() != 2 {
		t.Errorf("a full run did not post to Slack (%d posts)", posts.Load())
	}
}

// TestWarningKeepsExitZero: a configured schema the server does not have is a warning
// in the JSON report and the log, and the exit status stays 0 (documented in the
// README's exit codes).
func TestWarningKeepsExitZero(t *testing.T) {
	p := writeConfig(t, "shards:\n  - name: alive\n    dsn: \""+testdb.PrimaryDSN(t)+"\"\ndiscovery:\n  schemas: [janitor_no_such_schema]\n")
	code, stdout, stderr := runCLI(t, "report", "--config", p, "--output", "json")
	if code != exitOK {
		t.Fatalf("exit %d, want 0\n%s", code, stderr)
	}
	var doc struct {
		Shards []struct{ Warnings []string }
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil || len(doc.Shards) != 1 || len(doc.Shards[0].Warnings) != 1 ||
		!strings.Contains(doc.Shards[0].Warnings[0], `"janitor_no_such_schema" does not exist`) {
		t.Errorf("report %s (%v): want one warning naming janitor_no_such_schema", stdout, err)
	}
	if !strings.Contains(stderr, "level=WARN") || !strings.Contains(stderr, "janitor_no_such_schema") {
		t.Errorf("the log does not warn: %s", stderr)
	}
}

// TestShortMinAgeWarns: run and serve warn when policy.min_age is under an hour (a
// trigger-based tool's copy table is a candidate before its triggers exist); report,
// which drops nothing, does not.
func TestShortMinAgeWarns(t *testing.T) {
	cfg := writeConfig(t, "shards:\n  - name: nowhere\n    dsn: \"u:p@tcp(127.0.0.1:1)/\"\ndiscovery:\n  connect_timeout: 1s\npolicy:\n  min_age: 0s\n")
	const warning = "policy.min_age is under 1h"
	if _, _, stderr := runCLI(t, "run", "--config", cfg, "--no-notify"); !strings.Contains(stderr, warning) {
		t.Errorf("run with min_age 0s does not warn:\n%s", stderr)
	}
	if _, _, stderr := runCLI(t, "report", "--config", cfg, "--no-notify"); strings.Contains(stderr, warning) {
		t.Errorf("report warns about min_age:\n%s", stderr)
	}
}
