package discovery

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ToolBytebase is Bytebase's gh-ost fork.
const ToolBytebase Tool = "bytebase"

// Bytebase runs its fork of gh-ost with names of its own: ~<t>_<unix seconds>_gho, _ghc
// and _del. Its changelog is gh-ost's, heartbeat and all.
var bytebaseSpec = &ToolSpec{
	Tool: ToolBytebase, Name: "Bytebase", Droppable: true,
	Rules: []Rule{
		{Pattern: regexp.MustCompile(`^~(.+?)_(\d{10})_(gho|ghc|del)$`), BaseGroup: 1,
			StampGroup: 2, StampLayout: "unix", StampZone: StampUTC, RoleGroup: 3, RoleMap: ghostRoles},
	},
	Prefixes: []string{`~%`},
	Examples: []Example{
		{Name: "~orders_1700000000_gho", Role: RoleGhost, Base: "orders", Stamp: "2023-11-14 22:13:20"},
		{Name: "~orders_1700000000_ghc", Role: RoleChangelog, Base: "orders", Stamp: "2023-11-14 22:13:20"},
		{Name: "~orders_1700000000_del", Role: RoleOld, Base: "orders", Stamp: "2023-11-14 22:13:20"},
	},
	Names: func(base string, start time.Time) []Example {
		tmp := "~" + base + "_" + strconv.FormatInt(start.Unix(), 10)
		at := start.UTC().Format(time.DateTime)
		return []Example{
			{Name: tmp + "_gho", Role: RoleGhost, Base: base, Stamp: at},
			{Name: tmp + "_ghc", Role: RoleChangelog, Base: base, Stamp: at},
			{Name: tmp + "_del", Role: RoleOld, Base: base, Stamp: at},
		}
	},
	Changelog:     bytebaseChangelog,
	StreamsBinlog: true,
	EvidenceRoles: []Role{RoleChangelog},
	Doc:           DocRow{Tool: "Bytebase (gh-ost fork)", Tables: "`~t_<unix>_gho/_ghc/_del`", InUse: "as gh-ost"},
}

// bytebaseChangelog is the changelog next to t: the same ~<t>_<unix> stem.
func bytebaseChangelog(t *Table) string {
	for _, s := range []string{"_gho", "_del"} {
		if strings.HasSuffix(t.Name, s) {
			return strings.TrimSuffix(t.Name, s) + "_ghc"
		}
	}
	return t.Name
}
