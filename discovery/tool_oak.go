package discovery

import (
	"regexp"
	"time"
)

// ToolOak is openark-kit's oak-online-alter-table, the trigger-based ancestor of gh-ost.
const ToolOak Tool = "oak"

// oak-online-alter-table (shlomi-noach/openarkkit, openarkkit/src/oak/oak-online-alter-table.py
// at 041f03b9, the file last changed in 3d21d592, 2013; the names are unchanged since its
// first version in 2009), lines 954-962:
//
//	ghost_table_name = "__oak_"+original_table_name
//	archive_table_name = "__arc_"+original_table_name
//	after_delete_trigger_name = "%s_AD_oak" % original_table_name   (and _AU_oak, _AI_oak)
//
// __oak_<t> is the copy, fed by AFTER triggers <t>_AD_oak, <t>_AU_oak and <t>_AI_oak on
// <t>; at the end oak renames <t> to __arc_<t> and the copy to <t>, then drops
// __arc_<t>. It has no changelog, heartbeat, checkpoint or named lock, and no signal
// handling: an interrupted run leaves __oak_<t> and its triggers (mid-copy), or
// __arc_<t> carrying the triggers, whose bodies then name a __oak_<t> that is gone
// (between rename and drop). Either way the triggers make the table one a trigger
// writes into or sits on, which keeps it. A table named by --ghost has no oak name and
// is never a candidate. Names are never cut: a base over 58 characters fails oak's
// CREATE TABLE (error 1059) and leaves nothing.
var oakSpec = &ToolSpec{
	Tool: ToolOak, Name: "oak", Droppable: true,
	Rules: []Rule{
		{Role: RoleNew, Pattern: regexp.MustCompile(`^__oak_(.+)$`), BaseGroup: 1},
		{Role: RoleOld, Pattern: regexp.MustCompile(`^__arc_(.+)$`), BaseGroup: 1},
	},
	Prefixes: []string{`\_%`},
	Examples: []Example{
		{Name: "__oak_orders", Role: RoleNew, Base: "orders"},
		{Name: "__arc_orders", Role: RoleOld, Base: "orders"},
		{Name: "__oak_customer_order_line_items_with_tax_and_discount_breakdown", Role: RoleNew,
			Base: "customer_order_line_items_with_tax_and_discount_breakdown"},
		// A base ending like another tool's suffix: the evidence decides.
		{Name: "__oak_carts_new", Role: RoleNew, Base: "carts_new"},
		{Name: "__arc_carts_del", Role: RoleOld, Base: "carts_del"},
	},
	Names: func(base string, _ time.Time) []Example {
		if len("__oak_"+base) > MaxNameLength {
			return nil
		}
		return []Example{
			{Name: "__oak_" + base, Role: RoleNew, Base: base},
			{Name: "__arc_" + base, Role: RoleOld, Base: base},
		}
	},
	ConfusedWith: []Tool{ToolGhost, ToolPTOSC, ToolSpirit},
	// oak drops __arc_t itself; one is left only by a crash between oak's RENAME and that
	// DROP, and then carries oak's triggers (trigger_writes keeps it). Without them the
	// name is all that fits: an archive kept by hand looks the same.
	TraceOnly: map[Role]string{RoleOld: "oak leaves __arc_<t> only with its own triggers on it (after a crash between its RENAME and its DROP), and this table has none"},
	Triggers: func(_, base string) *regexp.Regexp {
		return regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `_A[DUI]_oak$`)
	},
	Doc: DocRow{Tool: "openark oak-online-alter-table", Tables: "`__oak_t`, `__arc_t`",
		InUse: "`t_AD_oak`, `t_AU_oak`, `t_AI_oak` triggers on `t` (on `__arc_t` after oak's rename)"},
}
