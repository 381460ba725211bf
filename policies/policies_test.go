package policies

import (
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/discovery"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// dead returns a pt-osc _old table that every rule accepts; cases mutate one fact.
func dead() *discovery.Table {
	created := now.Add(-72 * time.Hour)
	return &discovery.Table{
		Schema: "shop", Name: "__orders_old", Tool: discovery.ToolPTOSC, Role: discovery.RoleOld, Base: "orders",
		Reading: discovery.Match{Tool: discovery.ToolPTOSC, Role: discovery.RoleOld, Base: "orders"},
		Type:    "BASE TABLE", Engine: "InnoDB", CreatedAt: &created, Bytes: 1 << 20, SizeSource: discovery.SizeTablespace,
		Evidence: discovery.Evidence{Now: now, BaseExists: true, SeesAllSessions: true},
	}
}

func dur(d time.Duration) *time.Duration { return &d }

func TestEvaluate(t *testing.T) {
	cfg := Defaults()
	cases := []struct {
		name   string
		mutate func(*discovery.Table)
		pc     Context
		cfg    *Config
		want   Code
		reason string // a substring the DBA must see
	}{
		{"dead pt-osc old table", func(*discovery.Table) {}, Context{}, nil, CodeDead, "base orders exists"},
		{"view", func(t *discovery.Table) { t.Type = "VIEW" }, Context{}, nil, CodeNotATable, "view"},
		{"spirit sentinel", func(t *discovery.Table) {
			t.Name, t.Tool, t.Role, t.Base = "_spirit_sentinel", discovery.ToolSpirit, discovery.RoleControl, ""
		}, Context{}, nil, CodeControlTable, "never dropped"},
		{"gh-ost cut-over sentry", func(t *discovery.Table) {
			t.Name, t.Tool, t.Role, t.Comment = "__orders_del", discovery.ToolGhost, discovery.RoleOld, "ghost-cut-over-sentry"
		}, Context{}, nil, CodeCutOverSentry, "cut-over"},
		{"unreadable evidence", func(t *discovery.Table) { t.Evidence.Unreadable = []string{"views: denied"} }, Context{}, nil,
			CodeEvidenceUnreadable, "views: denied"},
		{"no PROCESS", func(t *discovery.Table) { t.Evidence.SeesAllSessions = false }, Context{}, nil, CodeSessionsHidden, "PROCESS"},
		{"in use", func(t *discovery.Table) { t.Evidence.Sessions = []string{"connection 7 (app, Query for 3s)"} }, Context{}, nil,
			CodeInUse, "connection 7"},
		{"named lock", func(t *discovery.Table) { t.Evidence.LocksHeld = []string{"shop.orders (connection 9)"} }, Context{}, nil,
			CodeLockHeld, "shop.orders"},
		{"trigger writes", func(t *discovery.Table) {
			t.Evidence.WritingTriggers = []string{"pt_osc_shop_orders_ins (on orders)"}
		}, Context{}, nil, CodeTriggerWrites, "break writes to orders"},
		{"tool triggers on base", func(t *discovery.Table) {
			t.Role = discovery.RoleNew
			t.Evidence.ToolTriggers = []string{"pt_osc_shop_orders_del"}
		}, Context{}, nil, CodeLiveMigration, "pt_osc_shop_orders_del"},
		{"an old copy is not part of a live migration on its base", func(t *discovery.Table) {
			t.Evidence.ToolTriggers = []string{"pt_osc_shop_orders_del"}
		}, Context{}, nil, CodeDead, ""},
		{"live gh-ost heartbeat", func(t *discovery.Table) {
			t.Tool, t.Role, t.Evidence.HeartbeatAge, t.Evidence.Changelog = discovery.ToolGhost, discovery.RoleGhost, dur(2*time.Second), "_orders_ghc"
		}, Context{}, nil, CodeLiveHeartbeat, "_orders_ghc"},
		{"stale gh-ost heartbeat is dead", func(t *discovery.Table) {
			t.Tool, t.Role, t.Evidence.HeartbeatAge = discovery.ToolGhost, discovery.RoleGhost, dur(72*time.Hour)
		}, Context{}, nil, CodeDead, "heartbeat stopped"},
		{"heartbeat at the limit is live", func(t *discovery.Table) {
			t.Tool, t.Evidence.HeartbeatAge = discovery.ToolGhost, dur(cfg.HeartbeatStaleAfter-time.Millisecond)
		}, Context{}, nil, CodeLiveHeartbeat, ""},
		{"view reference", func(t *discovery.Table) { t.Evidence.Views = []string{"shop.v_old"} }, Context{}, nil, CodeViewReference, "shop.v_old"},
		{"foreign key", func(t *discovery.Table) { t.Evidence.ForeignKeys = []string{"shop.fk from shop.notes"} }, Context{}, nil,
			CodeForeignKey, "shop.notes"},
		{"merge reference", func(t *discovery.Table) { t.Evidence.MergeTables = []string{"`shop`.`logs_all`"} }, Context{}, nil,
			CodeMergeReference, "`shop`.`logs_all`"},
		{"link reference", func(t *discovery.Table) { t.Evidence.LinkTables = []string{"`shop`.`remote` (federated)"} }, Context{}, nil,
			CodeLinkReference, "`shop`.`remote` (federated)"},
		{"event reference", func(t *discovery.Table) { t.Evidence.Events = []string{"`shop`.`weekly` (disabled)"} }, Context{}, nil,
			CodeEventReference, "`shop`.`weekly` (disabled)"},
		{"table grant", func(t *discovery.Table) { t.Evidence.TableGrants = []string{"'report'@'%': SELECT"} }, Context{}, nil,
			CodeTableGrant, "'report'@'%': SELECT"},
		{"a sequence is never dropped", func(t *discovery.Table) { t.Type = "SEQUENCE" }, Context{}, nil, CodeNotATable, "sequence"},
		{"base missing", func(t *discovery.Table) { t.Evidence.BaseExists = false }, Context{}, nil, CodeBaseMissing, "look-alike"},
		{"base missing, truncated name", func(t *discovery.Table) {
			t.Name = "_" + strings.Repeat("x", 59) + "_old"
			t.Evidence.BaseExists = false
		}, Context{}, nil, CodeBaseMissing, "64 characters"},
		{"ambiguous tool", func(t *discovery.Table) { t.Tool = discovery.ToolAmbiguous }, Context{}, nil, CodeAmbiguousTool, "pt-osc and Spirit"},
		{"too young", func(t *discovery.Table) { c := now.Add(-time.Hour); t.CreatedAt = &c }, Context{}, nil, CodeTooYoung, "policy.min_age"},
		{"recent write makes it young", func(t *discovery.Table) { u := now.Add(-time.Minute); t.UpdatedAt = &u }, Context{}, nil,
			CodeTooYoung, "UPDATE_TIME"},
		{"min_age 0 turns the age rule off", func(t *discovery.Table) { c := now.Add(-time.Second); t.CreatedAt = &c }, Context{},
			&Config{MinAge: 0, HeartbeatStaleAfter: time.Minute}, CodeDead, ""},
		{"no time base", func(t *discovery.Table) { t.CreatedAt = nil }, Context{}, nil, CodeAgeUnknown, "no time base"},
		{"host-local stamp read conservatively", func(t *discovery.Table) {
			// 30h ago as a name stamp; read as UTC-12 it is 18h old: too young for 24h.
			t.Tool, t.Role = discovery.ToolGhost, discovery.RoleOld
			t.Reading = discovery.Match{Tool: discovery.ToolGhost, Stamp: now.Add(-30 * time.Hour), StampZone: discovery.StampHostLocal}
		}, Context{}, nil, CodeTooYoung, "local time"},
		{"name stamp beats CREATE_TIME", func(t *discovery.Table) {
			t.Reading = discovery.Match{Tool: discovery.ToolSpirit, Stamp: now.Add(-time.Hour), StampZone: discovery.StampUTC}
		}, Context{}, nil, CodeTooYoung, "time stamp in name"},
		{"vitess not due", vitess(now.Add(time.Hour)), Context{}, nil, CodeVitessNotDue, "not yet"},
		{"vitess due", vitess(now.Add(-time.Minute)), Context{}, nil, CodeDead, "fell due"},
		{"vitess due but tablegc runs", vitess(now.Add(-time.Hour)), Context{VitessTableGC: true}, nil, CodeVitessManaged, "Vitess table GC"},
		{"a routine names it", func(t *discovery.Table) {
			t.Evidence.Routines = []string{"procedure `app`.`archive`"}
		}, Context{}, nil, CodeRoutineReference, "archive"},
		{"orphan with ALTER running", func(t *discovery.Table) {
			t.Name, t.Tool, t.Role, t.Base, t.Orphan = "#sql-ib12-34", discovery.ToolOrphan, discovery.RoleOrphan, "", true
			t.Reading = discovery.Match{Tool: discovery.ToolOrphan}
			t.Evidence.ServerUptime = 86400 * 3
			t.Evidence.DDLRunning = []string{"connection 4: ALTER TABLE x"}
		}, Context{}, nil, CodeDDLRunning, "ALTER"},
		{"orphan on a server that cleans its own", func(t *discovery.Table) {
			t.Name, t.Tool, t.Role, t.Base, t.Orphan = "#sql-ib12-34", discovery.ToolOrphan, discovery.RoleOrphan, "", true
			t.Reading = discovery.Match{Tool: discovery.ToolOrphan}
			t.Evidence.ServerUptime = 86400 * 3
			t.Evidence.OrphansCleaned = true
		}, Context{}, nil, CodeDDLRunning, "crash recovery removes"},
		{"a listed #sql table is a user's look-alike", func(t *discovery.Table) {
			t.Name, t.Tool, t.Role, t.Base, t.Orphan = "#sql-1a2b_3", discovery.ToolOrphan, discovery.RoleOrphan, "", false
			t.Reading = discovery.Match{Tool: discovery.ToolOrphan}
			t.Evidence.OrphansCleaned = true
		}, Context{}, nil, CodeLookAlike, "information_schema.TABLES"},
		{"a held #sql look-alike is kept when its hold ends", func(t *discovery.Table) {
			t.Name, t.Tool, t.Role, t.Base = "_janitor_hold_0123456789abcdef_20261202100000_", discovery.ToolJanitor, discovery.RoleHold, ""
			t.Hold = &discovery.Hold{Schema: "shop", Table: "#sql-1a2b_3", Tool: discovery.ToolOrphan, Role: discovery.RoleOrphan,
				HeldAt: now.Add(-8 * 24 * time.Hour), Until: now.Add(-24 * time.Hour)}
		}, Context{}, nil, CodeLookAlike, "janitor restore"},
		{"orphan aged by uptime", func(t *discovery.Table) {
			t.Name, t.Tool, t.Role, t.Base, t.Orphan = "#sql-ib12-34", discovery.ToolOrphan, discovery.RoleOrphan, "", true
			t.Reading, t.CreatedAt = discovery.Match{Tool: discovery.ToolOrphan}, nil
			t.Evidence.ServerUptime = 3600
		}, Context{}, nil, CodeTooYoung, "uptime"},
		{"stamped but written recently", func(t *discovery.Table) {
			t.Tool, t.Role = discovery.ToolSpirit, discovery.RoleOld
			t.Reading = discovery.Match{Tool: discovery.ToolSpirit, Stamp: now.Add(-72 * time.Hour), StampZone: discovery.StampUTC}
			u := now.Add(-5 * time.Minute)
			t.UpdatedAt = &u
		}, Context{}, nil, CodeRecentWrite, "written 5m ago"},
		{"janitor's own purge writes do not count", func(t *discovery.Table) {
			t.Reading = discovery.Match{Tool: discovery.ToolSpirit, Stamp: now.Add(-72 * time.Hour), StampZone: discovery.StampUTC}
			u := now.Add(-time.Second)
			t.UpdatedAt = &u
		}, Context{WrittenByJanitor: true}, nil, CodeDead, ""},
		// Order matters: a live trigger outranks a merely young age.
		{"trigger beats age", func(t *discovery.Table) {
			c := now.Add(-time.Minute)
			t.CreatedAt = &c
			t.Evidence.WritingTriggers = []string{"lhmt_ins_orders (on orders)"}
		}, Context{}, nil, CodeTriggerWrites, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tbl := dead()
			c.mutate(tbl)
			conf := cfg
			if c.cfg != nil {
				conf = *c.cfg
			}
			v := Evaluate(conf, c.pc, tbl)
			if v.Code != c.want {
				t.Fatalf("code %q (%s), want %q", v.Code, v.Reason, c.want)
			}
			if (v.Action == Drop) != (c.want == CodeDead) {
				t.Errorf("action %q for code %q", v.Action, v.Code)
			}
			if !strings.Contains(v.Reason, c.reason) {
				t.Errorf("reason %q lacks %q", v.Reason, c.reason)
			}
		})
	}
}

func vitess(due time.Time) func(*discovery.Table) {
	return func(t *discovery.Table) {
		t.Name = "_vt_drp_6ace8bcef73211ea87e9f875a4d24e90_20200915120410_"
		t.Tool, t.Role, t.Base, t.CreatedAt = discovery.ToolVitess, discovery.RoleDrop, "", nil
		t.Reading = discovery.Match{Tool: discovery.ToolVitess, Role: discovery.RoleDrop, Stamp: due, StampZone: discovery.StampUTC, StampIsDue: true}
	}
}

// TestEveryCodeIsReachable keeps Codes (the metric label set) and the rules in step.
func TestEveryCodeIsReachable(t *testing.T) {
	// dead comes from Evaluate when no rule skips; not_inspected from NotInspected.
	inRules := map[Code]bool{CodeDead: true, NotInspected(2, 1).Code: true}
	for _, r := range rules {
		inRules[r.code] = true
	}
	for _, c := range Codes {
		if !inRules[c] {
			t.Errorf("code %q is listed but no rule gives it", c)
		}
		delete(inRules, c)
	}
	for c := range inRules {
		t.Errorf("rule code %q missing from Codes", c)
	}
}

func TestValidate(t *testing.T) {
	if err := Defaults().Validate("policy"); err != nil {
		t.Fatal(err)
	}
	err := Config{MinAge: -time.Second, HeartbeatStaleAfter: time.Millisecond}.Validate("policy")
	for _, key := range []string{"policy.min_age", "policy.heartbeat_stale_after"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error %v does not name %s", err, key)
		}
	}
}
