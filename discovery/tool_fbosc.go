package discovery

import (
	"regexp"
	"time"
)

// ToolFBOSC is Facebook's OnlineSchemaChange.
const ToolFBOSC Tool = "fb-osc"

// Facebook's OnlineSchemaChange: __osc_new_<t> is the copy, __osc_chg_<t> the change
// capture table fed by triggers __osc_ins/upd/del_<t>, __osc_old_<t> the original; newer
// versions name them n!<t>, c!<t>, o!<t> and the triggers i!<t>, u!<t>, d!<t>.
var fbOSCSpec = &ToolSpec{
	Tool: ToolFBOSC, Name: "Facebook OSC", Droppable: true,
	Rules: []Rule{
		{Pattern: regexp.MustCompile(`^__osc_(new|chg|old)_(.+)$`), BaseGroup: 2, RoleGroup: 1,
			RoleMap: map[string]Role{"new": RoleNew, "chg": RoleDelta, "old": RoleOld}},
		{Pattern: regexp.MustCompile(`^([nco])!(.+)$`), BaseGroup: 2, RoleGroup: 1,
			RoleMap: map[string]Role{"n": RoleNew, "c": RoleDelta, "o": RoleOld}},
	},
	Prefixes: []string{`\_%`, `_!%`},
	Examples: []Example{
		{Name: "__osc_new_events", Role: RoleNew, Base: "events"},
		{Name: "__osc_chg_events", Role: RoleDelta, Base: "events"},
		{Name: "__osc_old_events", Role: RoleOld, Base: "events"},
		{Name: "n!pageviews", Role: RoleNew, Base: "pageviews"},
		{Name: "c!pageviews", Role: RoleDelta, Base: "pageviews"},
		{Name: "o!pageviews", Role: RoleOld, Base: "pageviews"},
	},
	Names: func(base string, _ time.Time) []Example {
		return []Example{
			{Name: "__osc_new_" + base, Role: RoleNew, Base: base},
			{Name: "__osc_chg_" + base, Role: RoleDelta, Base: base},
			{Name: "__osc_old_" + base, Role: RoleOld, Base: base},
			{Name: "n!" + base, Role: RoleNew, Base: base},
			{Name: "c!" + base, Role: RoleDelta, Base: base},
			{Name: "o!" + base, Role: RoleOld, Base: base},
		}
	},
	Triggers: func(_, base string) *regexp.Regexp {
		b := regexp.QuoteMeta(base)
		return regexp.MustCompile(`^(__osc_(ins|upd|del)_` + b + `|[iud]!` + b + `)$`)
	},
	Doc: DocRow{Tool: "Facebook OSC", Tables: "`__osc_new/chg/old_t`, `n!t`, `c!t`, `o!t`", InUse: "`__osc_*` / `[iud]!t` triggers"},
}
