package discovery

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"regexp"
	"time"
)

// ToolSpirit is cashapp/spirit.
const ToolSpirit Tool = "spirit"

// Spirit (cashapp/spirit): _<t>_new is the copy, _<t>_old the original after cut-over
// (_<t>_old_<UTC stamp> when it keeps several), _<t>_chkpnt its resume state; _spirit_*
// are fixed control tables (the sentinel pauses cut-over). While it runs it holds a
// named lock per table.
var spiritSpec = &ToolSpec{
	Tool: ToolSpirit, Name: "Spirit", Droppable: true,
	Rules: []Rule{
		// Before every other tool's rules: _spirit_x_gho is Spirit's control table
		// first, whatever gh-ost's rule reads into it.
		{Role: RoleControl, Pattern: regexp.MustCompile(`^_spirit_[a-z_]+$`), First: true},
		{Pattern: regexp.MustCompile(`^_(.+)_(new|old|chkpnt)$`), BaseGroup: 1, RoleGroup: 2,
			RoleMap: map[string]Role{"new": RoleNew, "old": RoleOld, "chkpnt": RoleCheckpoint}},
		{Role: RoleOld, Pattern: regexp.MustCompile(`^_(.+)_old_(\d{8}_\d{6})$`), BaseGroup: 1,
			StampGroup: 2, StampLayout: "20060102_150405", StampZone: StampUTC},
	},
	Prefixes: []string{`\_%`},
	Examples: []Example{
		{Name: "_spirit_sentinel", Role: RoleControl},
		{Name: "_users_new", Role: RoleNew, Base: "users"},
		{Name: "_users_old", Role: RoleOld, Base: "users"},
		{Name: "_users_chkpnt", Role: RoleCheckpoint, Base: "users"},
		{Name: "__users_old", Role: RoleOld, Base: "_users"},
		{Name: "_users_old_20240102_030405", Role: RoleOld, Base: "users", Stamp: "2024-01-02 03:04:05"},
	},
	Names: func(base string, start time.Time) []Example {
		return []Example{
			{Name: "_" + base + "_new", Role: RoleNew, Base: base},
			{Name: "_" + base + "_old", Role: RoleOld, Base: base},
			{Name: spiritCheckpoint(base), Role: RoleCheckpoint, Base: base},
			{Name: "_" + base + "_old_" + start.UTC().Format("20060102_150405"), Role: RoleOld, Base: base,
				Stamp: start.UTC().Format(time.DateTime)},
		}
	},
	ConfusedWith:  []Tool{ToolPTOSC},
	Checkpoint:    spiritCheckpoint,
	Locks:         SpiritLocks,
	StreamsBinlog: true,
	EvidenceRoles: []Role{RoleCheckpoint},
	Doc: DocRow{Tool: "Spirit", Tables: "`_t_new`, `_t_old`, `_t_chkpnt`, `_t_old_<stamp>`, `_spirit_*`",
		InUse: "named lock; a binary log client that may be Spirit; never drops `_spirit_sentinel`"},
}

func spiritCheckpoint(base string) string { return "_" + base + "_chkpnt" }

// SpiritLocks are the advisory lock names Spirit holds while it migrates base: the
// per-table lock of Spirit's dbconn.computeLockName (schema cut to 20 characters, the
// table name as Spirit's auxiliary tables truncate it, cut to 32, and 8 hex digits of
// SHA-1), and the per-schema lock of an atomic multi-table migration.
func SpiritLocks(schema, base string) []string {
	aux := base
	if n := MaxNameLength - len("_chkpnt") - 1; len(aux) > n {
		aux = aux[:n]
	}
	sum := sha1.Sum([]byte(schema + aux))
	multi := sha1.Sum([]byte(schema + "\x00spirit-atomic-multi-table"))
	return []string{
		fmt.Sprintf("%s.%s-%s", cut(schema, 20), cut(aux, 32), hex.EncodeToString(sum[:])[:8]),
		fmt.Sprintf("%s.atomic-multi-table-%s", cut(schema, 20), hex.EncodeToString(multi[:])[:8]),
	}
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
