package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
)

// TestPartitionFlag: two pods read one configuration, each visits its own share (the
// flag, or JANITOR_PARTITION as an Indexed Job sets it), together every shard once; each
// succeeds into its own Pushgateway group, last success included.
func TestPartitionFlag(t *testing.T) {
	var b strings.Builder
	b.WriteString("shards:\n")
	const n = 12
	for i := range n {
		fmt.Fprintf(&b, "  - name: s%02d\n    dsn: %q\n", i, testdb.PrimaryDSN(t))
	}
	b.WriteString("discovery:\n  schemas: [janitor_no_such_schema]\n")
	p, gw := pushingConfig(t, "fleet", b.String())

	seen := map[string]int{}
	visit := func(args ...string) {
		t.Helper()
		code, stdout, stderr := runCLI(t, append([]string{"report", "--config", p, "--output", "json"}, args...)...)
		if code != exitOK {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		var doc struct {
			Partition string
			Shards    []struct{ Name string }
		}
		if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
			t.Fatal(err)
		}
		for _, s := range doc.Shards {
			seen[s.Name]++
			if want := fmt.Sprintf("%d/2", janitor.PartitionOf(s.Name, 2)); doc.Partition != want {
				t.Errorf("%s reported by partition %q, owned by %s", s.Name, doc.Partition, want)
			}
		}
	}
	visit("--partition", "0/2")
	t.Setenv(PartitionEnv, "1/2")
	visit()
	if len(seen) != n {
		t.Errorf("%d of %d shards visited: %v", len(seen), n, seen)
	}
	for s, c := range seen {
		if c != 1 {
			t.Errorf("%s visited %d times", s, c)
		}
	}
	body := scrapeText(t, gw)
	for _, part := range []string{"0", "1"} {
		if !strings.Contains(body, `janitor_last_success_timestamp_seconds{cluster="fleet",instance="",job="janitor",partition="`+part+`"}`) {
			t.Errorf("partition %s set no last success:\n%s", part, body)
		}
	}

	// Bad values name their source; the flag wins over the environment.
	t.Setenv(PartitionEnv, "2/2")
	if code, _, stderr := runCLI(t, "report", "--config", p); code != exitUsage || !strings.Contains(stderr, `JANITOR_PARTITION "2/2": INDEX 2`) {
		t.Errorf("bad env: exit %d, %q", code, stderr)
	}
	if code, _, stderr := runCLI(t, "report", "--config", p, "--partition", "x"); code != exitUsage || !strings.Contains(stderr, `--partition "x"`) {
		t.Errorf("bad flag: exit %d, %q", code, stderr)
	}
	t.Setenv(PartitionEnv, "")
	if code, _, stderr := runCLI(t, "serve", "--config", p, "--partition", "0/2"); code != exitUsage || !strings.Contains(stderr, "--partition is not a serve flag") {
		t.Errorf("serve --partition: exit %d, %q", code, stderr)
	}
	t.Setenv(PartitionEnv, "0/2")
	if code, _, stderr := runCLI(t, "serve", "--config", p); code != exitUsage || !strings.Contains(stderr, "belongs to report and run") {
		t.Errorf("serve with JANITOR_PARTITION: exit %d, %q", code, stderr)
	}
}
