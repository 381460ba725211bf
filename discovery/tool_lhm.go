package discovery

import (
	"fmt"
	"regexp"
	"time"
)

// ToolLHM is Soundcloud's Large Hadron Migrator.
const ToolLHM Tool = "lhm"

// LHM (Soundcloud's Large Hadron Migrator): lhmn_<t> is the copy, fed by triggers
// lhmt_ins/upd/del_<t>; lhma_<stamp>_<ms>_<t> the archived original, stamped in the
// tool host's local time (Time.now.strftime "%Y_%m_%d_%H_%M_%S_" and milliseconds).
var lhmSpec = &ToolSpec{
	Tool: ToolLHM, Name: "LHM", Droppable: true,
	Rules: []Rule{
		{Role: RoleNew, Pattern: regexp.MustCompile(`^lhmn_(.+)$`), BaseGroup: 1},
		{Role: RoleArchive, Pattern: regexp.MustCompile(`^lhma_(\d{4}(?:_\d{2}){5})_(\d{3})_(.+)$`), BaseGroup: 3,
			StampGroup: 1, StampLayout: "2006_01_02_15_04_05", StampZone: StampHostLocal},
	},
	Prefixes: []string{`lhm%`},
	Examples: []Example{
		{Name: "lhmn_accounts", Role: RoleNew, Base: "accounts"},
		{Name: "lhma_2024_01_02_03_04_05_123_products", Role: RoleArchive, Base: "products", Stamp: "2024-01-02 03:04:05"},
	},
	Names: func(base string, start time.Time) []Example {
		return []Example{
			{Name: "lhmn_" + base, Role: RoleNew, Base: base},
			{Name: "lhma_" + start.Format("2006_01_02_15_04_05") + fmt.Sprintf("_%03d_", start.Nanosecond()/1e6) + base, Role: RoleArchive, Base: base,
				Stamp: start.Format(time.DateTime)},
		}
	},
	Triggers: func(_, base string) *regexp.Regexp {
		return regexp.MustCompile(`^lhmt_(ins|upd|del)_` + regexp.QuoteMeta(base) + `$`)
	},
	Doc: DocRow{Tool: "LHM", Tables: "`lhmn_t`, `lhma_<stamp>_<ms>_t`", InUse: "`lhmt_ins/upd/del_t` triggers"},
}
