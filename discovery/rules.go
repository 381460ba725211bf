package discovery

import (
	"regexp"
	"strconv"
	"time"
)

// Tool names the schema-change tool that left a table behind. The values are the JSON
// contract's.
type Tool string

// Tools janitor knows.
const (
	ToolGhost     Tool = "gh-ost"
	ToolBytebase  Tool = "bytebase"
	ToolPTOSC     Tool = "pt-osc"
	ToolLHM       Tool = "lhm"
	ToolSpirit    Tool = "spirit"
	ToolFBOSC     Tool = "fb-osc"
	ToolVitess    Tool = "vitess"
	ToolOrphan    Tool = "mysql-orphan"
	ToolAmbiguous Tool = "ambiguous"
)

// DroppableTools are the tools whose leftovers janitor may drop: every Tool but
// ToolAmbiguous, which is always skipped.
var DroppableTools = []Tool{ToolGhost, ToolBytebase, ToolPTOSC, ToolLHM, ToolSpirit, ToolFBOSC, ToolVitess, ToolOrphan}

// Role says what a leftover was to its tool.
type Role string

// Roles. Vitess tables carry their GC state as role.
const (
	RoleGhost      Role = "ghost"      // gh-ost's copy being filled
	RoleChangelog  Role = "changelog"  // gh-ost's heartbeat and state table
	RoleCheckpoint Role = "checkpoint" // resume state (gh-ost _ghk, Spirit _chkpnt)
	RoleNew        Role = "new"        // the copy being filled (pt-osc, LHM, Spirit, FB OSC)
	RoleOld        Role = "old"        // the original table, renamed away at cut-over
	RoleArchive    Role = "archive"    // LHM's old table, kept with a time stamp
	RoleDelta      Role = "delta"      // FB OSC's change capture table
	RoleSentry     Role = "sentry"     // gh-ost's cut-over sentry
	RoleControl    Role = "control"    // a tool's fixed control table: never ours to drop
	RoleHold       Role = "hold"
	RolePurge      Role = "purge"
	RoleEvac       Role = "evac"
	RoleDrop       Role = "drop"
	RoleOrphan     Role = "orphan" // a crashed ALTER's intermediate table
)

// StampZone says how to read a time stamp in a table name.
type StampZone int

// Time zones of name stamps.
const (
	// StampNone: the name carries no time.
	StampNone StampZone = iota
	// StampUTC: the stamp is UTC (Spirit, Vitess, Unix seconds).
	StampUTC
	// StampHostLocal: the stamp is in the tool host's local time zone, which janitor
	// cannot know (gh-ost, LHM).
	StampHostLocal
)

// Rule recognises one kind of leftover by name. Rules are data: adding a tool is adding
// rows to Rules, not branches to code.
type Rule struct {
	Tool Tool
	Role Role
	// Pattern is matched against the whole table name.
	Pattern *regexp.Regexp
	// BaseGroup is the submatch that holds the altered table's name (0: none).
	BaseGroup int
	// StampGroup is the submatch that holds a time stamp (0: none).
	StampGroup int
	// StampLayout is a time layout for the stamp, or "unix" for Unix seconds.
	StampLayout string
	StampZone   StampZone
	// StampIsDue means the stamp is when the table may move on (Vitess), not when it
	// was made.
	StampIsDue bool
	// RoleGroup, when set, picks Role from RoleMap by that submatch.
	RoleGroup int
	RoleMap   map[string]Role
	// Exclusive: a name this rule matches is read by it alone, never by a later rule.
	Exclusive bool
}

var ghostRoles = map[string]Role{"gho": RoleGhost, "ghc": RoleChangelog, "ghk": RoleCheckpoint, "del": RoleOld}

var vitessRoles = map[string]Role{
	"hld": RoleHold, "prg": RolePurge, "evc": RoleEvac, "drp": RoleDrop,
	"HOLD": RoleHold, "PURGE": RolePurge, "EVAC": RoleEvac, "DROP": RoleDrop,
}

// Rules lists every naming rule janitor knows (restated in docs/discovery.md), from the tools'
// source. Classify returns every rule that matches, in this order, and the evidence
// decides between them.
var Rules = []Rule{
	// janitor's own hold names come first and alone: a held table is janitor's, whatever
	// another tool's pattern might read into its name. The stamp is when the hold ends.
	{Tool: ToolJanitor, Role: RoleHold, Pattern: holdPattern, StampGroup: 1, StampLayout: "20060102150405", StampZone: StampUTC,
		StampIsDue: true, Exclusive: true},
	{Tool: ToolSpirit, Role: RoleControl, Pattern: regexp.MustCompile(`^_spirit_[a-z_]+$`)},
	{Tool: ToolGhost, Pattern: regexp.MustCompile(`^_(.+)_(gho|ghc|ghk)$`), BaseGroup: 1, RoleGroup: 2, RoleMap: ghostRoles},
	{Tool: ToolGhost, Role: RoleOld, Pattern: regexp.MustCompile(`^_(.+?)(?:_(\d{14}))?_del$`), BaseGroup: 1,
		StampGroup: 2, StampLayout: "20060102150405", StampZone: StampHostLocal},
	{Tool: ToolBytebase, Pattern: regexp.MustCompile(`^~(.+?)_(\d{10})_(gho|ghc|del)$`), BaseGroup: 1,
		StampGroup: 2, StampLayout: "unix", StampZone: StampUTC, RoleGroup: 3, RoleMap: ghostRoles},
	{Tool: ToolPTOSC, Role: RoleNew, Pattern: regexp.MustCompile(`^_{1,10}(.+)_new$`), BaseGroup: 1},
	{Tool: ToolPTOSC, Role: RoleOld, Pattern: regexp.MustCompile(`^_{1,10}(.+)_old$`), BaseGroup: 1},
	{Tool: ToolLHM, Role: RoleNew, Pattern: regexp.MustCompile(`^lhmn_(.+)$`), BaseGroup: 1},
	{Tool: ToolLHM, Role: RoleArchive, Pattern: regexp.MustCompile(`^lhma_(\d{4}(?:_\d{2}){5})_(\d{3})_(.+)$`), BaseGroup: 3,
		StampGroup: 1, StampLayout: "2006_01_02_15_04_05", StampZone: StampHostLocal},
	{Tool: ToolSpirit, Pattern: regexp.MustCompile(`^_(.+)_(new|old|chkpnt)$`), BaseGroup: 1, RoleGroup: 2,
		RoleMap: map[string]Role{"new": RoleNew, "old": RoleOld, "chkpnt": RoleCheckpoint}},
	{Tool: ToolSpirit, Role: RoleOld, Pattern: regexp.MustCompile(`^_(.+)_old_(\d{8}_\d{6})$`), BaseGroup: 1,
		StampGroup: 2, StampLayout: "20060102_150405", StampZone: StampUTC},
	{Tool: ToolFBOSC, Pattern: regexp.MustCompile(`^__osc_(new|chg|old)_(.+)$`), BaseGroup: 2, RoleGroup: 1,
		RoleMap: map[string]Role{"new": RoleNew, "chg": RoleDelta, "old": RoleOld}},
	{Tool: ToolFBOSC, Pattern: regexp.MustCompile(`^([nco])!(.+)$`), BaseGroup: 2, RoleGroup: 1,
		RoleMap: map[string]Role{"n": RoleNew, "c": RoleDelta, "o": RoleOld}},
	{Tool: ToolVitess, Pattern: regexp.MustCompile(`^_vt_(hld|prg|evc|drp)_([0-9a-f]{32})_(\d{14})_$`), RoleGroup: 1, RoleMap: vitessRoles,
		StampGroup: 3, StampLayout: "20060102150405", StampZone: StampUTC, StampIsDue: true},
	// vrp is Vitess Online DDL's shadow table (schema.InternalTableVreplicationHint); its
	// stamp is when it was made, not a due time. It is live while its migration runs or
	// waits for cut-over, and Vitess renames it for GC when the migration ends: Vitess'.
	{Tool: ToolVitess, Role: RoleControl, Pattern: regexp.MustCompile(`^_vt_vrp_[0-9a-f]{32}_\d{14}_$`)},
	{Tool: ToolVitess, Pattern: regexp.MustCompile(`^_vt_(HOLD|PURGE|EVAC|DROP)_([0-9a-f]{32})_(\d{14})$`), RoleGroup: 1, RoleMap: vitessRoles,
		StampGroup: 3, StampLayout: "20060102150405", StampZone: StampUTC, StampIsDue: true},
	{Tool: ToolOrphan, Role: RoleOrphan, Pattern: regexp.MustCompile(`^#sql-ib\d+(?:-\d+)?$`)},
	{Tool: ToolOrphan, Role: RoleOrphan, Pattern: regexp.MustCompile(`^#sql2?-[0-9a-f]+[-_][0-9a-f]+(?:_\d+)?$`)},
	{Tool: ToolOrphan, Role: RoleOrphan, Pattern: regexp.MustCompile(`^#sql-(?:alter|backup)-[0-9a-f]+-[0-9a-f]+(?:-[0-9a-f]+)?$`)},
}

// Match is one reading of a table name.
type Match struct {
	Tool Tool
	Role Role
	// Base is the altered table as the name tells it; "" when the name carries none.
	Base string
	// Stamp is the time in the name, zero when there is none.
	Stamp      time.Time
	StampZone  StampZone
	StampIsDue bool
}

// Classify returns every reading of name. Several readings are a real ambiguity (`_t_old`
// is pt-osc's and Spirit's); the Inspector settles it with evidence. An empty result
// means the name is no known leftover.
func Classify(name string) []Match {
	var out []Match
	for _, r := range Rules {
		m := r.Pattern.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		match := Match{Tool: r.Tool, Role: r.Role, StampZone: StampNone, StampIsDue: r.StampIsDue}
		if r.RoleGroup > 0 {
			match.Role = r.RoleMap[m[r.RoleGroup]]
		}
		if r.BaseGroup > 0 {
			match.Base = m[r.BaseGroup]
		}
		if r.StampGroup > 0 && m[r.StampGroup] != "" {
			ts, ok := parseStamp(m[r.StampGroup], r.StampLayout)
			if !ok {
				// A stamp that is not a time means the name only looks like the tool's.
				continue
			}
			match.Stamp, match.StampZone = ts, r.StampZone
		}
		out = append(out, match)
		if r.Exclusive {
			break
		}
	}
	return out
}

func parseStamp(s, layout string) (time.Time, bool) {
	if layout == "unix" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			return time.Time{}, false
		}
		return time.Unix(n, 0).UTC(), true
	}
	t, err := time.ParseInLocation(layout, s, time.UTC)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// NamePrefixes are LIKE patterns that cover every rule, so the listing query returns few
// rows on a server with many tables. Classify decides; these only pre-filter.
var NamePrefixes = []string{`\_%`, `~%`, `lhm%`, `_!%`, `#sql%`}

// MaxNameLength is MySQL's identifier limit; tools cut names to it, so a name of exactly
// this length may have lost part of its base.
const MaxNameLength = 64

// Truncated reports whether a name may have been cut to the identifier limit.
func Truncated(name string) bool { return len(name) >= MaxNameLength }
