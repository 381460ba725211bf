package discovery

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// ToolSpec is everything janitor knows about one tool that leaves tables behind, in one
// place: the tool's file (tool_*.go) declares it and Specs registers it. Discovery,
// policies, the executor and the docs' tool table read the specs, so adding a tool is
// adding one file and one line to Specs.
type ToolSpec struct {
	Tool Tool
	// Name is how messages name the tool ("Spirit").
	Name string
	// Droppable: janitor may drop the tool's leftovers (every tool but janitor's own
	// holds, which are dropped through their hold record, not as a tool's).
	Droppable bool
	// Rules read the tool's names, in order.
	Rules []Rule
	// Prefixes are LIKE patterns that cover every name Rules match (NamePrefixes).
	Prefixes []string
	// Examples are names the tool leaves, each with the reading it must classify to.
	// Every rule needs one: a test reads each through Classify and the prefixes.
	Examples []Example
	// Names builds the names the tool gives a migration of base started at start, as
	// the tool's own code builds them; nil when its names are not built from a base.
	Names func(base string, start time.Time) []Example
	// ConfusedWith are tools whose rules may read the same names (declared by either
	// side); the tools' traces (Triggers, Checkpoint, Locks) decide between them, then
	// discovery.tools_in_use.
	ConfusedWith []Tool

	// Triggers matches the triggers the tool puts on base while it copies.
	Triggers func(schema, base string) *regexp.Regexp
	// Checkpoint names the tool's resume-state table for a migration of base.
	Checkpoint func(base string) string
	// Locks are the named locks the tool holds while it migrates base.
	Locks func(schema, base string) []string
	// Changelog names the gh-ost-style changelog whose heartbeat row gives the
	// migration's liveness and age (Table.Age).
	Changelog func(t *Table) string
	// StreamsBinlog: the tool reads the binary log as a replica while it migrates, so a
	// binary log client janitor cannot show to be a replica may be it (binlog.go).
	StreamsBinlog bool
	// EvidenceRoles are the roles whose tables carry the evidence of the migration's
	// other tables (a changelog, a checkpoint): the executor drops them last.
	EvidenceRoles []Role
	// DueStamp: the name's stamp is when the table may go, not when it was made, so
	// policy.min_age does not apply.
	DueStamp bool
	// TraceOnly are roles whose name alone is no evidence: the tool leaves such a table
	// only together with a trace that keeps it anyway (oak's __arc_t carries oak's
	// triggers), so one without it is someone else's look-alike. Each says why; such a
	// table is never dropped (policies: look_alike).
	TraceOnly map[Role]string
	// Unlisted says why the tool's tables never appear in information_schema.TABLES:
	// one whose name fits a rule but that the listing shows is someone's table with a
	// look-alike name, never dropped (policies: look_alike). "" for tools whose tables
	// are listed like any other.
	Unlisted string

	// Doc is the tool's row in docs/discovery.md's tool table.
	Doc DocRow
}

// Example is one name of a tool and the reading it classifies to.
type Example struct {
	Name string
	Role Role
	Base string
	// Stamp is the name's time as the rule reads it ("2006-01-02 15:04:05"), "" none.
	Stamp string
}

// DocRow is a tool's row in the docs' tool table.
type DocRow struct{ Tool, Tables, InUse string }

// Specs lists every tool in the order Classify reads names: a name two tools' rules fit
// gets its readings in this order (pt-osc before Spirit), and resolve keeps the first
// when the evidence cannot choose. Rules marked First run before every other rule.
var Specs = []*ToolSpec{janitorSpec, ghostSpec, bytebaseSpec, ptoscSpec, lhmSpec, spiritSpec, fbOSCSpec, vitessSpec, orphanSpec, oakSpec}

// SpecOf returns the tool's spec, nil for ToolAmbiguous and unknown tools.
func SpecOf(tool Tool) *ToolSpec {
	for _, s := range Specs {
		if s.Tool == tool {
			return s
		}
	}
	return nil
}

// Rules lists every naming rule (restated in docs/discovery.md): the rules marked First,
// then every spec's rules in Specs order. Classify returns every rule that matches, in
// this order, and the evidence decides between them.
var Rules = rulesOf(Specs)

func rulesOf(specs []*ToolSpec) []Rule {
	var first, rest []Rule
	for _, s := range specs {
		for _, r := range s.Rules {
			r.Tool = s.Tool
			if r.First {
				first = append(first, r)
			} else {
				rest = append(rest, r)
			}
		}
	}
	return append(first, rest...)
}

// NamePrefixes are LIKE patterns that cover every rule, so the listing query returns few
// rows on a server with many tables. Classify decides; these only pre-filter.
var NamePrefixes = prefixesOf(Specs)

func prefixesOf(specs []*ToolSpec) []string {
	var out []string
	for _, s := range specs {
		for _, p := range s.Prefixes {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// DroppableTools are the tools whose leftovers janitor may drop: every Tool but
// ToolAmbiguous, which is always skipped, and janitor's own holds.
var DroppableTools = droppable(Specs)

func droppable(specs []*ToolSpec) []Tool {
	var out []Tool
	for _, s := range specs {
		if s.Droppable {
			out = append(out, s.Tool)
		}
	}
	return out
}

// CarriesEvidence reports whether t holds evidence of its migration's other tables (a
// changelog heartbeat, a checkpoint): dropping it first would turn their evidence into
// its absence.
func CarriesEvidence(t *Table) bool {
	s := SpecOf(t.Tool)
	return s != nil && slices.Contains(s.EvidenceRoles, t.Role)
}

// DueStamp reports whether the table's tool stamps names with a due time (Vitess,
// janitor's holds), which min_age does not apply to.
func DueStamp(t *Table) bool {
	s := SpecOf(t.Tool)
	return s != nil && s.DueStamp
}

// AmbiguityReason says which tools an ambiguous table's name fits and which traces
// failed to tell them apart.
func AmbiguityReason(t *Table) string {
	if len(t.TracedTools) > 1 {
		var names []string
		for _, tool := range t.TracedTools {
			if s := SpecOf(tool); s != nil {
				names = append(names, s.Name)
			}
		}
		return "name fits " + orList(names, "and") + ", and traces of each are on the server"
	}
	var names []string
	var has [4]bool // trigger, checkpoint, lock, changelog
	readings := t.Readings
	if len(readings) == 0 {
		readings = Classify(t.Name)
	}
	for _, r := range readings {
		s := SpecOf(r.Tool)
		if s == nil || slices.Contains(names, s.Name) {
			continue
		}
		names = append(names, s.Name)
		has[0] = has[0] || s.Triggers != nil
		has[1] = has[1] || s.Checkpoint != nil
		has[2] = has[2] || s.Locks != nil
		has[3] = has[3] || s.Changelog != nil
	}
	var traces []string
	for i, w := range []string{"trigger", "checkpoint", "lock", "changelog"} {
		if has[i] {
			traces = append(traces, w)
		}
	}
	fits := "name fits " + orList(names, "and")
	if len(names) == 2 {
		fits = "name fits both " + orList(names, "and")
	}
	if len(traces) > 0 {
		fits += " and no " + orList(traces, "or") + " tells which"
	} else {
		fits += " and nothing tells which"
	}
	return fits
}

// orList joins words as prose: "a", "a and b", "a, b and c".
func orList(words []string, conj string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + conj + " " + words[len(words)-1]
}

// traced is a tool reading with the base its traces are looked up by.
type traced struct {
	spec *ToolSpec
	base string
}

// tracedTools are the tools whose traces (triggers, checkpoint, locks) tell whether a
// migration of t's base runs: t's tool, or, when t is ambiguous, every tool its name
// fits, each with its own reading of the base.
func tracedTools(t *Table) []traced {
	if t.Tool != ToolAmbiguous {
		if s := SpecOf(t.Tool); s != nil && t.Base != "" {
			return []traced{{s, t.Base}}
		}
		return nil
	}
	var out []traced
	for _, r := range t.Readings {
		s := SpecOf(r.Tool)
		if s == nil || r.Base == "" || slices.ContainsFunc(out, func(x traced) bool { return x.spec == s }) {
			continue
		}
		out = append(out, traced{s, r.Base})
	}
	return out
}

// DocTable renders the docs' tool table from the specs.
func DocTable() string {
	var b strings.Builder
	b.WriteString("| tool | tables | in use while |\n|---|---|---|\n")
	// Tools' rows first, janitor's own holds last.
	specs := slices.Clone(Specs)
	slices.SortStableFunc(specs, func(a, b *ToolSpec) int {
		switch {
		case a.Droppable == b.Droppable:
			return 0
		case a.Droppable:
			return -1
		}
		return 1
	})
	for _, s := range specs {
		b.WriteString("| " + s.Doc.Tool + " | " + s.Doc.Tables + " | " + s.Doc.InUse + " |\n")
	}
	return b.String()
}
