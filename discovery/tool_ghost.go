package discovery

import (
	"regexp"
	"time"
)

// ToolGhost is gh-ost (github/gh-ost).
const ToolGhost Tool = "gh-ost"

// gh-ost (github/gh-ost v1.1.6, go/base/context.go): _<t>_gho is the copy, _<t>_ghc
// the changelog with the heartbeat, _<t>_del the original after cut-over (stamped with
// --timestamp-old-table, in the gh-ost host's local time); _<t>_ghk is the checkpoint
// table of later versions. The cut-over sentry is an _<t>_del with a marking comment.
var ghostSpec = &ToolSpec{
	Tool: ToolGhost, Name: "gh-ost", Droppable: true,
	Rules: []Rule{
		{Pattern: regexp.MustCompile(`^_(.+)_(gho|ghc|ghk)$`), BaseGroup: 1, RoleGroup: 2, RoleMap: ghostRoles},
		{Role: RoleOld, Pattern: regexp.MustCompile(`^_(.+?)(?:_(\d{14}))?_del$`), BaseGroup: 1,
			StampGroup: 2, StampLayout: "20060102150405", StampZone: StampHostLocal},
	},
	Prefixes: []string{`\_%`},
	Examples: []Example{
		{Name: "_orders_gho", Role: RoleGhost, Base: "orders"},
		{Name: "_orders_ghc", Role: RoleChangelog, Base: "orders"},
		{Name: "_orders_ghk", Role: RoleCheckpoint, Base: "orders"},
		{Name: "_orders_del", Role: RoleOld, Base: "orders"},
		{Name: "_orders_20240102030405_del", Role: RoleOld, Base: "orders", Stamp: "2024-01-02 03:04:05"},
	},
	Names:         ghostNames,
	Changelog:     ghostChangelog,
	StreamsBinlog: true,
	EvidenceRoles: []Role{RoleChangelog, RoleCheckpoint},
	Doc: DocRow{Tool: "gh-ost", Tables: "`_t_gho`, `_t_ghc`, `_t_ghk`, `_t_del`, `_t_YYYYMMDDhhmmss_del`",
		InUse: "fresh changelog heartbeat or status row; a binary log client that may be gh-ost; cut-over sentry comment"},
}

var ghostRoles = map[string]Role{"gho": RoleGhost, "ghc": RoleChangelog, "ghk": RoleCheckpoint, "del": RoleOld}

// ghostNames are gh-ost's GetGhostTableName, GetChangelogTableName and GetOldTableName
// (with and without --timestamp-old-table; start is in the tool host's zone).
func ghostNames(base string, start time.Time) []Example {
	stamp := start.Format("20060102150405")
	return []Example{
		{Name: ghostSafeName(base, "gho"), Role: RoleGhost, Base: base},
		{Name: ghostSafeName(base, "ghc"), Role: RoleChangelog, Base: base},
		{Name: ghostSafeName(base, "del"), Role: RoleOld, Base: base},
		{Name: ghostSafeName(base, stamp+"_del"), Role: RoleOld, Base: base, Stamp: start.Format(time.DateTime)},
	}
}

// ghostSafeName is gh-ost's getSafeTableName: _<base>_<suffix>, the base cut (in bytes)
// so the name fits the identifier limit.
func ghostSafeName(base, suffix string) string {
	name := "_" + base + "_" + suffix
	if len(name) <= MaxNameLength {
		return name
	}
	return "_" + base[:len(base)-(len(name)-MaxNameLength)] + "_" + suffix
}

// ghostChangelog is the changelog of the migration t belongs to.
func ghostChangelog(t *Table) string {
	if t.Role == RoleChangelog {
		return t.Name
	}
	return ghostSafeName(t.Base, "ghc")
}
