package discovery

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/github/gh-ost/go/base"
)

// checkReading fails unless name classifies, among its readings, as tool with want's
// role, base and stamp.
func checkReading(t *testing.T, tool Tool, name string, want Example) {
	t.Helper()
	m := findTool(Classify(name), tool)
	if m == nil {
		t.Errorf("%q: not read as %s; got %+v", name, tool, Classify(name))
		return
	}
	if m.Role != want.Role {
		t.Errorf("%q: role %q, want %q", name, m.Role, want.Role)
	}
	if len(name) < MaxNameLength && m.Base != want.Base {
		t.Errorf("%q: base %q, want %q", name, m.Base, want.Base)
	}
	if len(name) >= MaxNameLength && !strings.HasPrefix(want.Base, m.Base) {
		t.Errorf("%q: cut base %q is not a prefix of %q", name, m.Base, want.Base)
	}
	var stamp time.Time
	if want.Stamp != "" {
		var err error
		if stamp, err = time.Parse(time.DateTime, want.Stamp); err != nil {
			t.Fatalf("%q: example stamp: %v", name, err)
		}
	}
	if !m.Stamp.Equal(stamp) {
		t.Errorf("%q: stamp %v, want %v", name, m.Stamp, stamp)
	}
}

// TestSpecExamples reads every spec's example names: each classifies as its tool, fits
// only its tool and the tools it declares it is confused with, and passes the listing's
// LIKE pre-filter; and each of a spec's rules has an example, so a rule no prefix
// covers fails here.
func TestSpecExamples(t *testing.T) {
	for _, s := range Specs {
		if len(s.Examples) == 0 || len(s.Prefixes) == 0 || s.Name == "" || s.Doc.Tool == "" {
			t.Errorf("%s: a spec needs examples, prefixes, a name and a doc row", s.Tool)
		}
		for i, r := range s.Rules {
			if !slices.ContainsFunc(s.Examples, func(e Example) bool { return r.Pattern.MatchString(e.Name) }) {
				t.Errorf("%s: rule %d (%s) has no example", s.Tool, i, r.Pattern)
			}
		}
		for _, e := range s.Examples {
			checkReading(t, s.Tool, e.Name, e)
			for _, m := range Classify(e.Name) {
				if m.Tool != s.Tool && !confusable(s.Tool, m.Tool) {
					t.Errorf("%s example %q is also read as %s, which the spec does not list in ConfusedWith", s.Tool, e.Name, m.Tool)
				}
			}
			if !likeAny(e.Name, s.Prefixes) {
				t.Errorf("%s example %q fits none of the spec's prefixes %q", s.Tool, e.Name, s.Prefixes)
			}
			if !likeAny(e.Name, NamePrefixes) {
				t.Errorf("%s example %q fits no NamePrefixes", s.Tool, e.Name)
			}
		}
	}
}

// TestSpecNames builds every tool's names as the tool does and reads them back.
func TestSpecNames(t *testing.T) {
	start := time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC)
	bases := []string{"orders", "a", "user_events", "order_items_v2", "x_del", "t_ghc_gho", "with space", "tab`tick", "café",
		strings.Repeat("long", 15) + "x"}
	for _, s := range Specs {
		if s.Names == nil {
			continue
		}
		for _, b := range bases {
			for _, e := range s.Names(b, start) {
				checkReading(t, s.Tool, e.Name, e)
			}
		}
	}
	// janitor's holds are named by HoldName.
	until := time.Date(2024, 1, 9, 3, 4, 5, 0, time.UTC)
	for _, b := range bases {
		checkReading(t, ToolJanitor, HoldName("app", b, start, until), Example{Role: RoleHold, Stamp: "2024-01-09 03:04:05"})
	}
}

// TestGhostNamesAreGhosts: the gh-ost spec builds the names gh-ost v1.1.6's own code
// builds, truncation included.
func TestGhostNamesAreGhosts(t *testing.T) {
	start := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tableName := range []string{"orders", "x_del", "with space", strings.Repeat("long", 15) + "x", strings.Repeat("é", 40)} {
		mc := base.NewMigrationContext()
		mc.DatabaseName, mc.OriginalTableName, mc.StartTime = "app", tableName, start
		var theirs []string
		theirs = append(theirs, mc.GetGhostTableName(), mc.GetChangelogTableName(), mc.GetOldTableName())
		mc.TimestampOldTable = true
		theirs = append(theirs, mc.GetOldTableName())
		var ours []string
		for _, e := range ghostNames(tableName, start) {
			ours = append(ours, e.Name)
		}
		if !slices.Equal(ours, theirs) {
			t.Errorf("%q: spec names %q, gh-ost's %q", tableName, ours, theirs)
		}
		if got := ghostChangelog(&Table{Name: mc.GetGhostTableName(), Base: tableName, Role: RoleGhost}); got != mc.GetChangelogTableName() {
			t.Errorf("%q: changelog %q, gh-ost's %q", tableName, got, mc.GetChangelogTableName())
		}
	}
}

// confusable: either tool's spec lists the other (a new tool declares its confusions in
// its own file).
func confusable(a, b Tool) bool {
	return slices.Contains(SpecOf(a).ConfusedWith, b) || slices.Contains(SpecOf(b).ConfusedWith, a)
}

// TestSpecOrder: readings come in Specs order (rules marked First aside).
func TestSpecOrder(t *testing.T) {
	index := func(tool Tool) int { return slices.IndexFunc(Specs, func(s *ToolSpec) bool { return s.Tool == tool }) }
	for _, s := range Specs {
		if index(s.Tool) != slices.Index(Specs, s) {
			t.Errorf("%s is registered twice", s.Tool)
		}
		for _, o := range s.ConfusedWith {
			if SpecOf(o) == nil {
				t.Errorf("%s says it is confused with %s, which has no spec", s.Tool, o)
			}
		}
	}
	for i, r := range Rules {
		if r.First && i > 0 && !Rules[i-1].First {
			t.Errorf("rule %s comes after a rule not marked First", r.Pattern)
		}
		if i > 0 && !r.First && !Rules[i-1].First && index(r.Tool) < index(Rules[i-1].Tool) {
			t.Errorf("rule %s (%s) comes after %s's", r.Pattern, r.Tool, Rules[i-1].Tool)
		}
	}
	// pt-osc's reading of a shared name comes first: resolve keeps it when nothing decides.
	if got := Classify("_orders_old"); len(got) != 2 || got[0].Tool != ToolPTOSC || got[1].Tool != ToolSpirit {
		t.Errorf("_orders_old: %+v", got)
	}
	if got := Classify("_spirit_x_gho"); len(got) != 2 || got[0].Tool != ToolSpirit || got[0].Role != RoleControl {
		t.Errorf("_spirit_x_gho: Spirit's control rule reads it first; got %+v", got)
	}
}

func TestAmbiguityReason(t *testing.T) {
	tb := &Table{Tool: ToolAmbiguous, Readings: Classify("_sessions_old")}
	if got, want := AmbiguityReason(tb), "name fits both pt-osc and Spirit and no trigger, checkpoint or lock tells which"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCarriesEvidence(t *testing.T) {
	for _, c := range []struct {
		name string
		want bool
	}{{"_t_ghc", true}, {"_t_ghk", true}, {"~t_1700000000_ghc", true}, {"_t_chkpnt", true}, {"_t_gho", false}, {"_t_old", false}} {
		m := Classify(c.name)[0]
		if got := CarriesEvidence(&Table{Tool: m.Tool, Role: m.Role}); got != c.want {
			t.Errorf("%s: %v", c.name, got)
		}
	}
}

// TestDocToolTable: docs/discovery.md's tool table is the specs'.
func TestDocToolTable(t *testing.T) {
	doc, err := os.ReadFile("../docs/discovery.md")
	if err != nil {
		t.Fatal(err)
	}
	if want := DocTable(); !strings.Contains(string(doc), want) {
		t.Errorf("docs/discovery.md's tool table differs from the specs; it should read:\n%s", want)
	}
}

// TestReportingDocListsTools: the JSON contract's list of tool values names every tool.
func TestReportingDocListsTools(t *testing.T) {
	doc, err := os.ReadFile("../docs/reporting.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(doc), "`tool` is one of ")
	list, _, _ := strings.Cut(rest, ";")
	for _, s := range Specs {
		if !strings.Contains(list, "`"+string(s.Tool)+"`") {
			t.Errorf("docs/reporting.md's list of tool values lacks `%s`", s.Tool)
		}
	}
}

// TestDemoSeedsEveryTool: scripts/seed-demo.sh leaves a table of every tool janitor may
// drop, so the demo's report shows each. A crashed ALTER's #sql table takes a server
// crash, which the seed does not stage.
func TestDemoSeedsEveryTool(t *testing.T) {
	seed, err := os.ReadFile("../scripts/seed-demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	stamps := strings.NewReplacer("${past_gh}", "20240102030405", "${past_lhm}", "2024_01_02_03_04_05",
		"${past_spirit}", "20240102_030405", "${past_unix}", "1700000000",
		"${vt_due}", "20240102030405", "${vt_later}", "20240102030405", "${vt_purge}", "20240102030405")
	created := regexp.MustCompile("TABLE\\s+[a-z_]+\\.(?:\\\\`([^\\\\]+)\\\\`|([^\\s;(`]+))")
	seeded := map[Tool]bool{}
	for _, m := range created.FindAllStringSubmatch(string(seed), -1) {
		for _, r := range Classify(stamps.Replace(m[1] + m[2])) {
			seeded[r.Tool] = true
		}
	}
	for _, tool := range DroppableTools {
		if !seeded[tool] && tool != ToolOrphan {
			t.Errorf("scripts/seed-demo.sh leaves no table of %s", tool)
		}
	}
}
