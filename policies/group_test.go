package policies

import (
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/discovery"
)

// ghostTable is one table of gh-ost's migration of orders, dead on its own.
func ghostTable(name string, role discovery.Role) *discovery.Table {
	t := dead()
	t.Name, t.Tool, t.Role = name, discovery.ToolGhost, role
	t.Reading = discovery.Match{Tool: discovery.ToolGhost, Role: role, Base: "orders"}
	t.Readings = []discovery.Match{t.Reading}
	return t
}

// TestGroups: a sign of life in one table of a migration keeps all of them; reasons
// about one table alone, another migration's life, and janitor's holds do not spread.
func TestGroups(t *testing.T) {
	cfg := Defaults()
	cfg.MinAge = 0
	cases := []struct {
		name    string
		mutate  func(gho, ghc, del *discovery.Table)
		want    [3]Code // _orders_gho, _orders_ghc, _orders_del
		mention string  // in the kept-with reasons
	}{
		{"all dead", func(_, _, _ *discovery.Table) {}, [3]Code{CodeDead, CodeDead, CodeDead}, ""},
		{"a session on the ghost table", func(gho, _, _ *discovery.Table) { gho.Evidence.Sessions = []string{"connection 7 (app, Query for 1s)"} },
			[3]Code{CodeInUse, CodeInUse, CodeDead}, "_orders_gho"},
		{"a status row in the changelog", func(_, ghc, _ *discovery.Table) {
			ghc.Evidence.HeartbeatAge, ghc.Evidence.ChangelogWritten, ghc.Evidence.Changelog = dur(12*time.Minute), dur(2*time.Second), "_orders_ghc"
		}, [3]Code{CodeLiveHeartbeat, CodeLiveHeartbeat, CodeDead}, "_orders_ghc"},
		{"a binary log client", func(_, ghc, _ *discovery.Table) { ghc.Evidence.BinlogClients = []string{"connection 9 (ghost from h)"} },
			[3]Code{CodeBinlogClient, CodeBinlogClient, CodeDead}, "_orders_ghc"},
		{"unreadable evidence", func(gho, _, _ *discovery.Table) { gho.Evidence.Unreadable = []string{"processlist: denied"} },
			[3]Code{CodeEvidenceUnreadable, CodeEvidenceUnreadable, CodeDead}, "_orders_gho"},
		{"a view names one table: only that one", func(gho, _, _ *discovery.Table) { gho.Evidence.Views = []string{"shop.v"} },
			[3]Code{CodeViewReference, CodeDead, CodeDead}, ""},
		{"a changelog kept for another reason still shows its status rows", func(_, ghc, _ *discovery.Table) {
			ghc.Comment = discovery.RestoredMarker(now.Add(-time.Hour))
			ghc.Evidence.HeartbeatAge, ghc.Evidence.ChangelogWritten, ghc.Evidence.Changelog = dur(12*time.Minute), dur(2*time.Second), "_orders_ghc"
		}, [3]Code{CodeLiveHeartbeat, CodeRestored, CodeDead}, "_orders_ghc"},
		{"an original table renamed away is an earlier run's: its life does not spread", func(_, _, del *discovery.Table) {
			del.Evidence.Sessions = []string{"connection 7"}
		}, [3]Code{CodeDead, CodeDead, CodeInUse}, ""},
		{"nor does the running migration's life keep it", func(gho, _, _ *discovery.Table) { gho.Evidence.Sessions = []string{"connection 7"} },
			[3]Code{CodeInUse, CodeInUse, CodeDead}, "_orders_gho"},
		{"a cut-over sentry keeps its migration", func(_, _, del *discovery.Table) { del.Comment = "ghost-cut-over-sentry" },
			[3]Code{CodeCutOverSentry, CodeCutOverSentry, CodeCutOverSentry}, "_orders_del"},
		{"another migration's life does not spread", func(gho, _, _ *discovery.Table) {
			gho.Base, gho.Reading.Base, gho.Readings = "users", "users", []discovery.Match{{Tool: discovery.ToolGhost, Base: "users"}}
			gho.Evidence.Sessions = []string{"connection 7"}
		}, [3]Code{CodeInUse, CodeDead, CodeDead}, ""},
		{"another schema's life does not spread", func(gho, _, _ *discovery.Table) {
			gho.Schema, gho.Evidence.Sessions = "other", []string{"connection 7"}
		}, [3]Code{CodeInUse, CodeDead, CodeDead}, ""},
		{"a name read as ambiguous keeps each reading's migration", func(gho, _, _ *discovery.Table) {
			gho.Tool = discovery.ToolAmbiguous
			gho.Readings = []discovery.Match{{Tool: discovery.ToolGhost, Base: "orders"}, {Tool: discovery.ToolOak, Base: "x"}}
			gho.Evidence.Sessions = []string{"connection 7"}
		}, [3]Code{CodeInUse, CodeInUse, CodeDead}, "_orders_gho"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tables := []*discovery.Table{ghostTable("_orders_gho", discovery.RoleGhost), ghostTable("_orders_ghc", discovery.RoleChangelog),
				ghostTable("_orders_del", discovery.RoleOld)}
			c.mutate(tables[0], tables[1], tables[2])
			var vs []Verdict
			for _, tb := range tables {
				vs = append(vs, Evaluate(cfg, Context{}, tb))
			}
			got := Groups(cfg, Context{}, tables, vs)
			for i, v := range got {
				if v.Code != c.want[i] {
					t.Errorf("%s: %s (%s); want %s", tables[i].Name, v.Code, v.Reason, c.want[i])
				}
				if vs[i].Action == Drop && v.Action == Skip && !strings.Contains(v.Reason, c.mention) {
					t.Errorf("%s: %q does not name %s", tables[i].Name, v.Reason, c.mention)
				}
			}
		})
	}
}

// TestGroupsLeaveHoldsAlone: janitor's held tables are grouped by their hold records
// (janitor.holdGroups), not by their tool and base.
func TestGroupsLeaveHoldsAlone(t *testing.T) {
	held := dead()
	held.Tool, held.Name = discovery.ToolJanitor, "_janitor_hold_0123456789abcdef_20261201000000_"
	live := dead()
	live.Evidence.Sessions = []string{"connection 7"}
	vs := Groups(Defaults(), Context{}, []*discovery.Table{held, live}, []Verdict{{Action: Drop, Code: CodeDead}, Evaluate(Defaults(), Context{}, live)})
	if vs[0].Code != CodeDead {
		t.Errorf("held table: %s (%s); want dead", vs[0].Code, vs[0].Reason)
	}
}

// TestLiveCodesAreCodes: every code Live names is a code.
func TestLiveCodesAreCodes(t *testing.T) {
	known := map[Code]bool{}
	for _, c := range Codes {
		known[c] = true
	}
	for c := range live {
		if !known[c] {
			t.Errorf("Live names %q, which is no code", c)
		}
	}
}

// TestGroupsKeepAHeldPartner: a ghost table janitor held apart from its changelog (as it
// did before a migration's tables shared a verdict) is not dropped at its hold's end
// while the changelog shows the migration alive.
func TestGroupsKeepAHeldPartner(t *testing.T) {
	cfg := Defaults()
	cfg.MinAge = 0
	held := dead()
	held.Tool, held.Role, held.Base, held.Name = discovery.ToolJanitor, discovery.RoleHold, "", "_janitor_hold_0123456789abcdef_20261101000000_"
	held.Hold = &discovery.Hold{Table: "_orders_gho", Tool: discovery.ToolGhost, Role: discovery.RoleGhost, Base: "orders", Group: "gh-ost:orders",
		HeldAt: now.Add(-8 * 24 * time.Hour), Until: now.Add(-24 * time.Hour)}
	ghc := ghostTable("_orders_ghc", discovery.RoleChangelog)
	ghc.Evidence.HeartbeatAge, ghc.Evidence.ChangelogWritten, ghc.Evidence.Changelog = dur(8*24*time.Hour), dur(time.Second), "_orders_ghc"
	tables := []*discovery.Table{held, ghc}
	vs := []Verdict{Evaluate(cfg, Context{}, held), Evaluate(cfg, Context{}, ghc)}
	if vs[0].Action != Drop {
		t.Fatalf("held table alone: %s (%s); want dead, or the test shows nothing", vs[0].Code, vs[0].Reason)
	}
	if got := Groups(cfg, Context{}, tables, vs); got[0].Code != CodeLiveHeartbeat || !strings.Contains(got[0].Reason, "_orders_ghc") {
		t.Errorf("held ghost table: %s (%s); want kept live_heartbeat with _orders_ghc", got[0].Code, got[0].Reason)
	}
	// A held table of an original table (an earlier run's _del) is not kept by it.
	held.Hold.Role, held.Hold.Table = discovery.RoleOld, "_orders_del"
	if got := Groups(cfg, Context{}, tables, vs); got[0].Action != Drop {
		t.Errorf("held _del: %s (%s); want dead", got[0].Code, got[0].Reason)
	}
}
