package policies

import (
	"fmt"

	"github.com/janitorhq/janitor/discovery"
)

// A migration's tables share one verdict. Its signs of life are spread over them: gh-ost
// writes its heartbeat and status rows into the changelog, copies into the ghost table,
// and holds sessions on either; pt-osc's triggers feed its _new table, not its _old one.
// Judged alone, a paused gh-ost's ghost table looks dead while its changelog is written
// every second, and holding it alone breaks the migration's cut-over (error 1146 on
// each retry, each retry locking the live table). So a table is kept while any table
// of its migration is kept for a reason that may mean the migration is alive.

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

// MigrationKey names the running migration t belongs to on its server ("" when it
// belongs to none: no base in the name, janitor's own holds, which holdGroups keep
// together, or an original table renamed away at cut-over: see InFlight).
func MigrationKey(t *discovery.Table) string {
	if t.Tool == discovery.ToolJanitor || t.Tool == discovery.ToolAmbiguous || !discovery.InFlight(t.Role) {
		return ""
	}
	g := discovery.GroupOf(t)
	if g == "" {
		return ""
	}
	return t.Schema + "\x00" + g
}

// Groups applies the group verdict to verdicts vs of tables (same order): a table to
// drop whose migration has a table kept for a Live reason is kept with that table's
// code, and the reason names it.
func Groups(tables []*discovery.Table, vs []Verdict) []Verdict {
	out := append([]Verdict(nil), vs...)
	first := map[string]int{}
	for i, t := range tables {
		if !Spreads(t, vs[i]) {
			continue
		}
		// Under every reading of its name, as the re-check's discovery.Siblings finds
		// it: a table kept as ambiguous between two tools may be either's.
		for _, k := range readingKeys(t) {
			if _, ok := first[k]; !ok {
				first[k] = i
			}
		}
	}
	for i, t := range tables {
		if vs[i].Action != Drop {
			continue
		}
		if o, ok := first[MigrationKey(t)]; ok {
			out[i] = KeptWith(tables[o], vs[o])
		}
	}
	return out
}

// Spreads reports whether t, kept with v, keeps the other tables of its migration: v
// may mean the migration is alive, and t is one the migration works in while it runs
// (discovery.InFlight), or its cut-over sentry, which exists only while it cuts over.
func Spreads(t *discovery.Table, v Verdict) bool {
	if v.Action != Skip || !Live(v.Code) || t.Tool == discovery.ToolJanitor {
		return false
	}
	return discovery.InFlight(t.Role) || v.Code == CodeCutOverSentry
}

// KeptWith is the verdict of a table whose migration's table other is kept with v.
func KeptWith(other *discovery.Table, v Verdict) Verdict {
	return Verdict{Action: Skip, Code: v.Code, Reason: fmt.Sprintf("its migration's %s is kept (%s): a migration's tables go together; %s",
		other.Name, v.Code, v.Reason)}
}

// readingKeys are the MigrationKeys of t's resolved reading and of every reading of its
// name (a sentry's too).
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
