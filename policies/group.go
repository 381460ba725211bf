package policies

import (
	"fmt"

	"github.com/janitorhq/janitor/discovery"
)

// A migration's tables share one verdict. Its signs of life are spread over them: gh-ost
// writes its heartbeat and status rows into the changelog, copies into the ghost table,
// and holds sessions on either; Spirit checkpoints beside its copy. Judged alone, a
// paused gh-ost's ghost table looks dead while its changelog is written every second,
// and holding it alone breaks the migration's cut-over (error 1146 on each retry, each
// retry locking the live table). So a table is kept while any table of its running
// migration shows a sign that the migration may be alive.

// live are the codes that may mean a migration is alive, or that janitor cannot tell
// it is not. The others are about the one table (a view names it, a person listed it).
var live = map[Code]bool{
	CodeEvidenceUnreadable: true, // cannot tell: fail closed
	CodeSessionsHidden:     true,
	CodeInUse:              true,
	CodeLockHeld:           true,
	CodeBinlogClient:       true,
	CodeCutOverSentry:      true, // exists only while a cut-over runs
	CodeControlTable:       true, // a tool's control table, live while it runs
	CodeTriggerWrites:      true,
	CodeLiveMigration:      true,
	CodeLiveHeartbeat:      true,
	CodeDDLRunning:         true,
	CodeAgeUnknown:         true,
	CodeTooYoung:           true,
	CodeRecentWrite:        true,
	CodeNotInspected:       true, // its evidence was not read this run
}

// Live reports whether a table kept with code keeps its migration's other tables.
func Live(code Code) bool { return live[code] }

// LiveVerdict is the first verdict of a rule whose code is Live that keeps t, whatever
// rule decides t's own verdict: a changelog a view names (view_reference) may still be
// written by its migration every second.
func LiveVerdict(c Config, pc Context, t *discovery.Table) (Verdict, bool) {
	for _, r := range rules {
		if !live[r.code] {
			continue
		}
		if reason, skip := r.check(c, pc, t); skip {
			return Verdict{Action: Skip, Code: r.code, Reason: reason}, true
		}
	}
	return Verdict{}, false
}

// Alive reports whether t, whose own verdict is v, shows that its running migration may
// be alive, and the verdict that says so. t must be a table the migration works in
// while it runs (discovery.InFlight), or its cut-over sentry, which exists only while it
// cuts over. janitor's held tables keep their partners through their hold records
// (janitor's holdGroups), not here.
func Alive(c Config, pc Context, t *discovery.Table, v Verdict) (Verdict, bool) {
	if t.Tool == discovery.ToolJanitor {
		return Verdict{}, false
	}
	if v.Action == Skip && v.Code == CodeNotInspected {
		return v, true
	}
	lv, ok := LiveVerdict(c, pc, t)
	if !ok || !discovery.InFlight(t.Role) && lv.Code != CodeCutOverSentry {
		return Verdict{}, false
	}
	return lv, true
}

// MigrationKey names the running migration t belongs to on its server ("" when it
// belongs to none: no base in the name, an ambiguous tool, or an original table renamed
// away at cut-over: see discovery.InFlight). A table janitor holds belongs to the
// migration its hold record names: a ghost table held apart from its changelog (as
// janitor did before tables shared a verdict) is not dropped while its migration lives.
func MigrationKey(t *discovery.Table) string {
	if t.Tool == discovery.ToolJanitor {
		if h := t.Hold; h != nil && h.Group != "" && discovery.InFlight(h.Role) {
			return t.Schema + "\x00" + h.Group
		}
		return ""
	}
	if t.Tool == discovery.ToolAmbiguous || !discovery.InFlight(t.Role) {
		return ""
	}
	g := discovery.GroupOf(t)
	if g == "" {
		return ""
	}
	return t.Schema + "\x00" + g
}

// Groups applies the group verdict to verdicts vs of tables (same order): a table to
// drop whose running migration has a table that may be alive (Alive) is kept with that
// table's code, and the reason names it.
func Groups(c Config, pc Context, tables []*discovery.Table, vs []Verdict) []Verdict {
	out := append([]Verdict(nil), vs...)
	type alive struct {
		t *discovery.Table
		v Verdict
	}
	first := map[string]alive{}
	for i, t := range tables {
		lv, ok := Alive(c, pc, t, vs[i])
		if !ok {
			continue
		}
		// Under every reading of its name, as the re-check's discovery.Siblings finds
		// it: a table kept as ambiguous between two tools may be either's.
		for _, k := range readingKeys(t) {
			if _, ok := first[k]; !ok {
				first[k] = alive{t, lv}
			}
		}
	}
	for i, t := range tables {
		if vs[i].Action != Drop {
			continue
		}
		if a, ok := first[MigrationKey(t)]; ok && a.t != t {
			out[i] = KeptWith(a.t, a.v)
		}
	}
	return out
}

// readingKeys are the migration keys of t's resolved reading and of every reading of
// its name (a cut-over sentry's too).
func readingKeys(t *discovery.Table) []string {
	var out []string
	if k := MigrationKey(t); k != "" {
		out = append(out, k)
	} else if t.Base != "" && t.Tool != discovery.ToolAmbiguous {
		out = append(out, t.Schema+"\x00"+discovery.GroupOf(t))
	}
	for _, r := range t.Readings {
		if r.Base != "" && r.Tool != discovery.ToolJanitor && discovery.InFlight(r.Role) {
			out = append(out, MigrationKey(&discovery.Table{Schema: t.Schema, Tool: r.Tool, Role: r.Role, Base: r.Base}))
		}
	}
	return out
}

// KeptWith is the verdict of a table whose migration's table other may be alive (v).
func KeptWith(other *discovery.Table, v Verdict) Verdict {
	return Verdict{Action: Skip, Code: v.Code, Reason: fmt.Sprintf("its migration's %s is kept (%s): a migration's tables go together; %s",
		other.Name, v.Code, v.Reason)}
}
