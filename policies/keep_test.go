package policies

import (
	"strings"
	"testing"

	"github.com/janitorhq/janitor/discovery"
)

func TestKeep(t *testing.T) {
	cfg := Defaults()
	cfg.Keep = []KeepEntry{{Schema: "other", AllTables: true}, {Schema: "SHOP", Table: "__Orders_Old"}}
	if v := Evaluate(cfg, Context{}, dead()); v.Code != CodeKeptByConfig || !strings.Contains(v.Reason, "policy.keep[1]") {
		t.Errorf("listed table: %+v", v)
	}
	// Kept before anything else objects: the person's decision is the reason to show.
	tb := dead()
	tb.Evidence.Sessions = []string{"id 7"}
	if v := Evaluate(cfg, Context{}, tb); v.Code != CodeKeptByConfig {
		t.Errorf("listed table in use: %+v", v)
	}
	tb = dead()
	tb.Name = "__orders_old2"
	if v := Evaluate(cfg, Context{}, tb); v.Code != CodeDead {
		t.Errorf("unlisted table: %+v", v)
	}
	// A held table is kept by its original name, and told how to restore it.
	tb = dead()
	tb.Name, tb.Tool, tb.Role = "_janitor_hold_0123456789abcdef_20261124120000_", discovery.ToolJanitor, discovery.RoleHold
	tb.Hold = &discovery.Hold{Schema: "shop", Table: "__orders_old", Until: now.Add(-1)}
	if v := Evaluate(cfg, Context{}, tb); v.Code != CodeKeptByConfig || !strings.Contains(v.Reason, "janitor restore") {
		t.Errorf("held table whose original name is listed: %+v", v)
	}
	// A restore marker keeps a table with no configuration at all.
	tb = dead()
	tb.Comment = "own " + discovery.RestoredMarker(now)
	if v := Evaluate(Defaults(), Context{}, tb); v.Code != CodeRestored || !strings.Contains(v.Reason, "2026-11-24 12:00:00 UTC") {
		t.Errorf("restored table: %+v", v)
	}
}

func TestKeepValidate(t *testing.T) {
	bad := map[string]KeepEntry{
		"keep[0].schema: required": {Table: "t"},
		"keep[0].table: required":  {Schema: "s"},
		"has both":                 {Schema: "s", Table: "t", AllTables: true},
		"65 characters":            {Schema: "s", Table: strings.Repeat("é", 65)},
		"ends with a space":        {Schema: "s", Table: "t "},
		"is in backticks":          {Schema: "`s`", Table: "t"},
		"contains a NUL":           {Schema: "s", Table: "a\x00b"},
	}
	for want, k := range bad {
		c := Defaults()
		c.Keep = []KeepEntry{k}
		if err := c.Validate("policy"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%+v: %v, want %q", k, err, want)
		}
	}
	c := Defaults()
	c.Keep = []KeepEntry{{Schema: " s", Table: strings.Repeat("é", 64)}, {Schema: "a.b", Table: "`x"}, {Schema: "s", AllTables: true}}
	if err := c.Validate("policy"); err != nil {
		t.Errorf("good entries: %v", err)
	}
}
