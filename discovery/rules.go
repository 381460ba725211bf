package discovery

import (
	"regexp"
	"strconv"
	"time"
)

// Tool names the schema-change tool that left a table behind. The values are the JSON
// contract's.
type Tool string

// ToolAmbiguous: the name fits several tools and the evidence cannot tell which. Each
// tool's own constant is in its tool_*.go file, with its spec.
const ToolAmbiguous Tool = "ambiguous"

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

// Rule recognises one kind of leftover by name. A tool's spec lists its rules.
type Rule struct {
	// Tool is the spec's tool (set when Specs are read into Rules).
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
	// First: the rule runs before every other tool's rules (a fixed name a tool owns).
	First bool
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

// MaxNameLength is MySQL's identifier limit; tools cut names to it, so a name of exactly
// this length may have lost part of its base.
const MaxNameLength = 64

// Truncated reports whether a name may have been cut to the identifier limit.
func Truncated(name string) bool { return len(name) >= MaxNameLength }
