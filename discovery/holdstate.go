package discovery

import "fmt"

// HoldState is where a table stands in janitor's hold lifecycle. janitor keeps no state
// of its own: the state is derived from what the server shows (HoldStateOf: the table's
// name and its comment), so any run, on any pod, reads the same state after any crash.
// The states and the statements that move a table between them (as Vitess' table GC
// names its hold, purge, evac and drop states):
//
//	none      ──ALTER COMMENT (hold record)────────────▶ recorded
//	recorded  ──ALTER COMMENT (a new hold record)──────▶ recorded   (a hold started over)
//	recorded  ──RENAME to the hold name────────────────▶ renamed
//	renamed   ──ALTER COMMENT (record + baseline)──────▶ held
//	held      ──ALTER COMMENT (baseline rewritten)─────▶ held
//	renamed, held ──ALTER COMMENT (purge_started)──────▶ purging    (hold ended untouched)
//	renamed, held, purging ──DROP──────────────────────▶ dropped    (hold ended untouched)
//	recorded  ──DROP───────────────────────────────────▶ dropped    (a hold cut short; execute.hold 0s since)
//	renamed, held, purging ──RENAME back───────────────▶ recorded   (restore)
//	recorded  ──ALTER COMMENT (own comment + marker)───▶ restored   (restore)
//	recorded  ──ALTER COMMENT (own comment, no room
//	            for the marker)─────────────────────────▶ none       (restore; policy.keep keeps it)
//
// A hold ends by the clock, not by a statement: the hold name and record carry Until,
// and a renamed or held table may leave for purging or dropped only after it (the
// policy's held rule), as a Vitess state's timestamp says when its table may move on.
// recorded is ambiguous on purpose: a hold cut before its RENAME and a restore cut
// before its comment look the same, and both end the same way (`janitor restore` puts
// the comment back; a new hold rewrites the record). unrecorded (a hold name without a
// record) is never made by janitor and never moved: its original name is unknown.
type HoldState int

const (
	// HoldNone: no hold: an ordinary table (or one whose comment carries another
	// table's record, copied with the comment: inert).
	HoldNone HoldState = iota
	// HoldRecorded: under its original name, its comment the hold record.
	HoldRecorded
	// HoldRenamed: under its hold name with its record, no access baseline yet.
	HoldRenamed
	// HoldHeld: under its hold name, its record with the access baseline.
	HoldHeld
	// HoldPurging: under its hold name, its record saying janitor began deleting its
	// rows (Hold.PurgeStarted): its own DELETEs hide any access since.
	HoldPurging
	// HoldDropped: dropped at the end of its hold. The server shows nothing of it: a
	// move's destination only, never derived.
	HoldDropped
	// HoldRestored: under its original name, its comment ending with the restore
	// marker (restored.go): kept for good.
	HoldRestored
	// HoldUnrecorded: a hold name without a hold record.
	HoldUnrecorded
)

var holdStateNames = [...]string{
	HoldNone: "none", HoldRecorded: "recorded", HoldRenamed: "renamed", HoldHeld: "held",
	HoldPurging: "purging", HoldDropped: "dropped", HoldRestored: "restored", HoldUnrecorded: "unrecorded",
}

// String is the state's name, as the report's hold_state gives it.
func (s HoldState) String() string {
	if s < 0 || int(s) >= len(holdStateNames) {
		return fmt.Sprintf("HoldState(%d)", int(s))
	}
	return holdStateNames[s]
}

// UnderHold reports whether a table in state s is held: renamed to its hold name with
// its record (renamed, held or purging), so a restore can give it its name back.
func (s HoldState) UnderHold() bool {
	return s == HoldRenamed || s == HoldHeld || s == HoldPurging
}

// holdMoves are the moves janitor's statements make (the table in HoldState's doc).
var holdMoves = map[HoldState][]HoldState{
	HoldNone:     {HoldRecorded},
	HoldRecorded: {HoldRecorded, HoldRenamed, HoldRestored, HoldNone, HoldDropped},
	HoldRenamed:  {HoldHeld, HoldPurging, HoldDropped, HoldRecorded},
	HoldHeld:     {HoldHeld, HoldPurging, HoldDropped, HoldRecorded},
	HoldPurging:  {HoldDropped, HoldRecorded},
}

// CanMove reports whether a statement of janitor's may move a table from s to to.
func (s HoldState) CanMove(to HoldState) bool {
	for _, n := range holdMoves[s] {
		if n == to {
			return true
		}
	}
	return false
}

// HoldStateOf derives the state of a table from what the server shows: its name and
// its comment.
func HoldStateOf(name, comment string) HoldState {
	return holdStateOf(name, IsHoldName(name), holdRecord(comment), comment)
}

// HoldState is the table's state as discovery read it: a table is under a hold name
// when discovery read its name as janitor's (the exclusive rule, so never an orphan),
// and its state is then read from the record it parsed (Table.Hold, which a run updates
// as it changes the comment).
func (t *Table) HoldState() HoldState {
	if t == nil {
		return HoldNone
	}
	if t.Tool == ToolJanitor {
		return holdStateOf(t.Name, true, t.Hold, t.Comment)
	}
	return holdStateOf(t.Name, false, holdRecord(t.Comment), t.Comment)
}

// State is the state of a table under its hold name (HoldName) with this record.
func (h *Hold) State() HoldState { return holdStateOf(h.HoldName, true, h, "") }

// holdRecord is the hold record in comment, nil when it has none.
func holdRecord(comment string) *Hold {
	if h, ok := ParseHold(comment); ok {
		return &h
	}
	return nil
}

func holdStateOf(name string, holdName bool, h *Hold, comment string) HoldState {
	switch {
	case holdName && h == nil:
		return HoldUnrecorded
	case holdName && h.PurgeStarted != nil:
		return HoldPurging
	case holdName && h.Baseline != nil:
		return HoldHeld
	case holdName:
		return HoldRenamed
	case h != nil && h.Table == name:
		return HoldRecorded
	}
	// A marker anywhere keeps the table (the policy's restored rule), a marker inside a
	// copied record included.
	if _, found := ParseRestored(comment); found {
		return HoldRestored
	}
	return HoldNone
}

// HoldMove is one change of a table's hold state made by janitor (Hooks.HoldMoved):
// metrics, serve's progress watch and the report's hold_state all follow these.
type HoldMove struct {
	Shard  string
	Schema string
	// Original is the table's name before the hold, HoldName its hold name: the table
	// is under the first in states none, recorded and restored, under the second in
	// renamed, held and purging.
	Original string
	HoldName string
	// Tool is the tool that left the table, as its hold record says.
	Tool     Tool
	From, To HoldState
}

// RenamedBack reports whether the move is a restore's RENAME: from a hold name back to
// the original name.
func (m HoldMove) RenamedBack() bool { return m.From.UnderHold() && m.To == HoldRecorded }
