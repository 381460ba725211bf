package report

import (
	"bytes"
	"encoding/json"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/version"
)

func sample() *Report {
	created := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	return &Report{
		GeneratedAt: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), Mode: ModeReport,
		Shards: []Shard{
			{Name: "shard-b", Tables: []Table{
				{Schema: "app", Table: "_orders_old", Tool: "pt-osc", Role: "old", BaseTable: "orders", Bytes: 17825792,
					SizeSource: "tablespace", CreatedAt: &created, AgeSeconds: 86400 * 4, Verdict: "drop", ReasonCode: "dead", Reason: "dead"},
				{Schema: "app", Table: "_x_new", Tool: "ambiguous", Role: "new", Bytes: 1 << 20, Verdict: "skip", ReasonCode: "ambiguous_tool", Reason: "fits both"},
				{Schema: "app", Table: "evil|name`\n\x1b[31mred", Tool: "pt-osc", Role: "old", Bytes: 2048, Verdict: "drop", Reason: "a|b\nc"},
			}},
			{Name: "shard-a", Error: "connect to 10.0.0.1:3306: connection refused"},
		},
	}
}

func TestFinishSumsDropRows(t *testing.T) {
	r := sample()
	r.Finish()
	if r.Shards[0].Name != "shard-a" {
		t.Error("shards are sorted by name")
	}
	b := r.Shards[1]
	if b.ReclaimableBytes != 17825792+2048 || r.ReclaimableBytes != b.ReclaimableBytes {
		t.Errorf("reclaimable %d / %d", b.ReclaimableBytes, r.ReclaimableBytes)
	}
	if r.Shards[0].Tables == nil {
		t.Error("tables must encode as [] not null")
	}
	if !r.Failed() {
		t.Error("a shard error fails the report")
	}
	if r.ReclaimedBytes != nil {
		t.Error("a report has no reclaimed bytes")
	}
}

func TestFinishInExecuteMode(t *testing.T) {
	r := sample()
	r.Mode = ModeExecute
	r.Shards[1].Error = ""
	r.Shards[0].Tables[0].Outcome, r.Shards[0].Tables[0].FreedBytes = OutcomeDropped, 17825792
	r.Shards[0].Tables[2].Outcome = OutcomeFailed
	r.Finish()
	b := r.Shards[1]
	if *b.ReclaimedBytes != 17825792 || *r.ReclaimedBytes != 17825792 {
		t.Errorf("reclaimed %d", *b.ReclaimedBytes)
	}
	if b.ReclaimableBytes != 2048 {
		t.Errorf("what was dropped is no longer reclaimable: %d", b.ReclaimableBytes)
	}
	if !r.Failed() {
		t.Error("a failed table fails the run")
	}
}

func TestJSONContract(t *testing.T) {
	r := sample()
	r.Finish()
	var buf bytes.Buffer
	if err := Write(&buf, r, "json"); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		GeneratedAt      string `json:"generated_at"`
		ReclaimableBytes int64  `json:"reclaimable_bytes"`
		Shards           []struct {
			Name, Error      string
			ReclaimableBytes int64 `json:"reclaimable_bytes"`
			Tables           []map[string]any
		}
	}
	dec := json.NewDecoder(&buf)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if doc.GeneratedAt != "2026-11-24T10:00:00Z" || doc.ReclaimableBytes != 17825792+2048 {
		t.Errorf("%+v", doc)
	}
	row := doc.Shards[1].Tables[1]
	for _, k := range []string{"schema", "table", "tool", "role", "base_table", "bytes", "created_at", "age_seconds", "verdict", "reason"} {
		if _, ok := row[k]; !ok {
			t.Errorf("row lacks %q: %v", k, row)
		}
	}
}

func TestRenderingsSurviveHostileNames(t *testing.T) {
	r := sample()
	r.Finish()
	for _, f := range []string{"text", "markdown"} {
		var buf bytes.Buffer
		if err := Write(&buf, r, f); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if strings.Contains(out, "\x1b") {
			t.Errorf("%s: an escape sequence from a table name reached the output", f)
		}
		if !strings.Contains(out, "connection refused") || !strings.Contains(out, "17.0 MiB") {
			t.Errorf("%s:\n%s", f, out)
		}
		if f == "markdown" {
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, "evil") && strings.Count(strings.ReplaceAll(line, `\|`, ""), "|") != 7 {
					t.Errorf("a name broke the markdown row: %q", line)
				}
			}
		}
	}
	if err := Write(&bytes.Buffer{}, r, "yaml"); err == nil {
		t.Error("unknown format accepted")
	}
}

// TestAgeColumn: the AGE column shows one unit (human.Age), as it always has; the
// reasons beside it give two.
func TestAgeColumn(t *testing.T) {
	for s, want := range map[int64]string{5: "5s", 120: "2m", 150: "2m", 7200: "2h", 94020: "26h", 86400 * 3: "3d", -7200: "-2h"} {
		if got := age(s); got != want {
			t.Errorf("age(%d) = %q, want %q", s, got, want)
		}
	}
}

// TestHostileNamesInShardFieldsAndReasons: names reach shard errors, blocked reasons and
// row reasons too. None may reach a terminal as control or bidi characters, nor a Slack
// message or PR comment as a mention, link or HTML.
func TestHostileNamesInShardFieldsAndReasons(t *testing.T) {
	r := &Report{Mode: ModeReport, Shards: []Shard{
		{Name: "s1", Error: "read metadata of `shop`.`x\n\x1b[2Js9: 0 leftover(s)`: boom"},
		{Name: "s2", Blocked: "purge paused: `a\u202etxt.exe_old`", Tables: []Table{
			{Schema: "shop", Table: "_<!channel>_old", Verdict: "skip", ReasonCode: "base_missing",
				Reason: "base table <!channel> does not exist; see [x](https://evil.example) @org/team"},
		}},
	}}
	r.Finish()
	var text, md bytes.Buffer
	if err := Write(&text, r, "text"); err != nil {
		t.Fatal(err)
	}
	if err := Write(&md, r, "markdown"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"\x1b", "\u202e", "\ns9: 0 leftover(s)"} {
		if strings.Contains(text.String(), bad) {
			t.Errorf("text output carries %q:\n%s", bad, text.String())
		}
	}
	for _, bad := range []string{"<!channel>", " @org"} {
		if strings.Contains(md.String(), bad) {
			t.Errorf("markdown output carries %q:\n%s", bad, md.String())
		}
	}
	if regexp.MustCompile(`(^|[^\\])[\[\]]`).MatchString(md.String()) {
		t.Errorf("an unescaped [ or ] (a link) in the markdown:\n%s", md.String())
	}
}

// TestHeldInText: the text report says what is held and when the first hold ends.
func TestHeldInText(t *testing.T) {
	until := time.Date(2026, 12, 9, 3, 0, 0, 0, time.UTC)
	r := &Report{Mode: ModeExecute, Shards: []Shard{{Name: "s1", Tables: []Table{
		{Schema: "app", Table: "_janitor_hold_0123456789abcdef_20261209030000_", Tool: "janitor", Role: "hold", Verdict: "skip",
			ReasonCode: "held", Reason: "held by janitor until 2026-12-09 03:00:00 UTC (was __a_old)", Bytes: 1 << 20, HeldUntil: &until, OriginalTable: "__a_old"},
	}}}}
	r.Finish()
	var js bytes.Buffer
	if err := Write(&js, r, "json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(js.String(), `"held_until": "2026-12-09T03:00:00Z"`) || !strings.Contains(js.String(), `"original_table": "__a_old"`) {
		t.Errorf("JSON lacks held_until or original_table:\n%s", js.String())
	}
	var b strings.Builder
	if err := Write(&b, r, "text"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "1 held from earlier runs, the first hold ends 2026-12-09 03:00 UTC") || r.ReclaimableBytes != 1<<20 {
		t.Errorf("text:\n%s\nreclaimable %d", b.String(), r.ReclaimableBytes)
	}
}

// TestWarningsInEveryRendering: a shard warning (a configured schema the server does
// not have) shows in JSON, text and markdown, hostile characters neutralised; a shard
// without warnings has no warnings field (the JSON contract only grows).
func TestWarningsInEveryRendering(t *testing.T) {
	r := sample()
	r.Shards[0].Warnings = []string{`discovery.schemas: schema "shop|<!channel>" does not exist on this server`}
	r.Finish()
	var js, text, md bytes.Buffer
	for f, b := range map[string]*bytes.Buffer{"json": &js, "text": &text, "markdown": &md} {
		if err := Write(b, r, f); err != nil {
			t.Fatal(err)
		}
	}
	var doc struct{ Shards []map[string]any }
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Shards[0]["warnings"]; ok {
		t.Error("shard-a has no warnings but the JSON has the field")
	}
	if w, _ := doc.Shards[1]["warnings"].([]any); len(w) != 1 {
		t.Errorf("shard-b warnings = %v", doc.Shards[1]["warnings"])
	}
	if !strings.Contains(text.String(), "  warning: discovery.schemas: schema \"shop|<!channel>\" does not exist") {
		t.Errorf("text lacks the warning:\n%s", text.String())
	}
	if !strings.Contains(md.String(), `⚠️ discovery.schemas: schema "shop\|&lt;!channel&gt;" does not exist`) {
		t.Errorf("markdown lacks the escaped warning:\n%s", md.String())
	}
}

// TestEstimatedSizesAreMarked: a size janitor estimated (from the statistics, or on MySQL
// from the statistics of a tablespace information_schema.FILES cannot size) is printed
// with a leading ~; a tablespace's own size is not.
func TestEstimatedSizesAreMarked(t *testing.T) {
	for source, want := range map[string]string{"tablespace": "1.0 MiB", "estimate": "~1.0 MiB", "tablespace_estimate": "~1.0 MiB",
		"tablespace_compressed": "≤1.0 MiB", "shared_tablespace": "0 (shared tablespace)"} {
		bytes := int64(1 << 20)
		if source == "shared_tablespace" {
			bytes = 0
		}
		if got := sizeCell(Table{Bytes: bytes, SizeSource: source}); got != want {
			t.Errorf("%s: %q, want %q", source, got, want)
		}
	}
}

// TestBuildInJSON: the JSON report says which janitor wrote it ("build": version,
// revision, build_date), read from prometheus/common/version, where the release build
// stamps them; a held row gives its hold name in hold_name.
func TestBuildInJSON(t *testing.T) {
	v, r, d := version.Version, version.Revision, version.BuildDate
	t.Cleanup(func() { version.Version, version.Revision, version.BuildDate = v, r, d })
	version.Version, version.Revision, version.BuildDate = "v9.8.7", "0123abcd", "2026-12-01T10:20:30Z"
	until := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	rep := &Report{Mode: ModeExecute, Shards: []Shard{{Name: "s", Tables: []Table{{Schema: "app", Table: "_t_old",
		Outcome: OutcomeHeld, HeldUntil: &until, OriginalTable: "_t_old", HoldName: "_janitor_hold_0123456789abcdef_20261208000000_"}}}}}
	rep.Finish()
	var buf bytes.Buffer
	if err := Write(&buf, rep, "json"); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Build  map[string]string `json:"build"`
		Shards []struct {
			Tables []map[string]any `json:"tables"`
		} `json:"shards"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"version": "v9.8.7", "revision": "0123abcd", "build_date": "2026-12-01T10:20:30Z"}; !maps.Equal(doc.Build, want) {
		t.Errorf("build = %v, want %v", doc.Build, want)
	}
	if got := doc.Shards[0].Tables[0]["hold_name"]; got != "_janitor_hold_0123456789abcdef_20261208000000_" {
		t.Errorf("hold_name = %v", got)
	}
}
