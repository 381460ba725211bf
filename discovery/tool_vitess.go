package discovery

import "regexp"

// ToolVitess is Vitess table GC.
const ToolVitess Tool = "vitess"

// Vitess table GC: _vt_<state>_<uuid>_<UTC due time>_, the state hld/prg/evc/drp; older
// versions name them _vt_<STATE>_<uuid>_<stamp>. The stamp is when the
// table moves on to its next state, not when it was made.
var vitessSpec = &ToolSpec{
	Tool: ToolVitess, Name: "Vitess", Droppable: true,
	Rules: []Rule{
		{Pattern: regexp.MustCompile(`^_vt_(hld|prg|evc|drp)_([0-9a-f]{32})_(\d{14})_$`), RoleGroup: 1, RoleMap: vitessRoles,
			StampGroup: 3, StampLayout: "20060102150405", StampZone: StampUTC, StampIsDue: true},
		// vrp is Vitess Online DDL's shadow table (schema.InternalTableVreplicationHint); its
		// stamp is when it was made, not a due time. It is live while its migration runs or
		// waits for cut-over, and Vitess renames it for GC when the migration ends: Vitess'.
		{Role: RoleControl, Pattern: regexp.MustCompile(`^_vt_vrp_[0-9a-f]{32}_\d{14}_$`)},
		{Pattern: regexp.MustCompile(`^_vt_(HOLD|PURGE|EVAC|DROP)_([0-9a-f]{32})_(\d{14})$`), RoleGroup: 1, RoleMap: vitessRoles,
			StampGroup: 3, StampLayout: "20060102150405", StampZone: StampUTC, StampIsDue: true},
	},
	Prefixes: []string{`\_%`},
	Examples: []Example{
		{Name: "_vt_hld_6ace8bcef73211ea87e9f875a4d24e90_20200915120410_", Role: RoleHold, Stamp: "2020-09-15 12:04:10"},
		{Name: "_vt_prg_6ace8bcef73211ea87e9f875a4d24e90_20200915120410_", Role: RolePurge, Stamp: "2020-09-15 12:04:10"},
		{Name: "_vt_evc_6ace8bcef73211ea87e9f875a4d24e90_20200915120410_", Role: RoleEvac, Stamp: "2020-09-15 12:04:10"},
		{Name: "_vt_drp_6ace8bcef73211ea87e9f875a4d24e90_20200915120410_", Role: RoleDrop, Stamp: "2020-09-15 12:04:10"},
		{Name: "_vt_vrp_6ace8bcef73211ea87e9f875a4d24e90_20200915120410_", Role: RoleControl},
		{Name: "_vt_PURGE_6ace8bcef73211ea87e9f875a4d24e90_20200915120410", Role: RolePurge, Stamp: "2020-09-15 12:04:10"},
		{Name: "_vt_HOLD_6ace8bcef73211ea87e9f875a4d24e90_20200915120410", Role: RoleHold, Stamp: "2020-09-15 12:04:10"},
	},
	DueStamp: true,
	Doc: DocRow{Tool: "Vitess table GC", Tables: "`_vt_hld/prg/evc/drp_<uuid>_<stamp>_`, legacy `_vt_HOLD_…`",
		InUse: "due time in the name; `_vt_vrp_…` is Online DDL's shadow table (Vitess' `InternalTableVreplicationHint`, stamped when made), live while its migration runs: never dropped"},
}

var vitessRoles = map[string]Role{
	"hld": RoleHold, "prg": RolePurge, "evc": RoleEvac, "drp": RoleDrop,
	"HOLD": RoleHold, "PURGE": RolePurge, "EVAC": RoleEvac, "DROP": RoleDrop,
}
