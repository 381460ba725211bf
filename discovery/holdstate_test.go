package discovery

import (
	"testing"
	"time"
)

// holdComment is the comment of a table held from __orders_old, with what the record
// carries at each step.
func holdComment(t *testing.T, baseline, purge bool) (holdName, comment string) {
	t.Helper()
	at := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	until := at.Add(7 * 24 * time.Hour)
	h := Hold{Schema: "shop", Table: "__orders_old", HoldName: HoldName("shop", "__orders_old", at, until), HeldAt: at, Until: until,
		Tool: ToolPTOSC, Role: RoleOld, Base: "orders", Comment: "orders before the migration"}
	if baseline {
		io := int64(3)
		h.Baseline = &AccessBaseline{ServerStarted: at.Add(-time.Hour), IO: &io, Version: 2}
	}
	if purge {
		p := until.Add(time.Hour)
		h.PurgeStarted = &p
	}
	c, err := h.CommentText()
	if err != nil {
		t.Fatal(err)
	}
	return h.HoldName, c
}

// TestHoldStateOf: every state derives from a table's name and comment alone, as any
// run on any pod reads them.
func TestHoldStateOf(t *testing.T) {
	holdName, recorded := holdComment(t, false, false)
	_, baselined := holdComment(t, true, false)
	_, purging := holdComment(t, true, true)
	_, purgingNoBaseline := holdComment(t, false, true)
	marker := RestoredMarker(time.Date(2026, 12, 2, 3, 20, 0, 0, time.UTC))
	for _, c := range []struct {
		what, name, comment string
		want                HoldState
	}{
		{"an ordinary table", "__orders_old", "orders before the migration", HoldNone},
		{"no comment", "__orders_old", "", HoldNone},
		{"the record written, not yet renamed (or a restore before its comment)", "__orders_old", recorded, HoldRecorded},
		{"another table's record, copied with the comment", "__orders_new", recorded, HoldNone},
		{"renamed, no baseline yet", holdName, recorded, HoldRenamed},
		{"renamed, baseline recorded", holdName, baselined, HoldHeld},
		{"purge started", holdName, purging, HoldPurging},
		{"purge started on a hold without a baseline", holdName, purgingNoBaseline, HoldPurging},
		{"restored, with the marker", "__orders_old", "orders before the migration " + marker, HoldRestored},
		{"restored, the marker alone", "__orders_old", marker, HoldRestored},
		{"a hold name without a record", holdName, "orders before the migration", HoldUnrecorded},
		{"a hold name with a broken record", holdName, "janitor-hold {", HoldUnrecorded},
	} {
		if got := HoldStateOf(c.name, c.comment); got != c.want {
			t.Errorf("%s: HoldStateOf(%q, %.40q...) = %s, want %s", c.what, c.name, c.comment, got, c.want)
		}
	}
}

// TestTableHoldState: a table's state follows discovery's reading (the exclusive hold
// rule, and the record it parsed) and agrees with JanitorHold.
func TestTableHoldState(t *testing.T) {
	holdName, recorded := holdComment(t, false, false)
	h, _ := ParseHold(recorded)
	for _, c := range []struct {
		what string
		t    *Table
		want HoldState
		held bool
	}{
		{"nil", nil, HoldNone, false},
		{"held, the record parsed", &Table{Name: holdName, Tool: ToolJanitor, Comment: recorded, Hold: &h}, HoldRenamed, true},
		{"a hold name without a record", &Table{Name: holdName, Tool: ToolJanitor}, HoldUnrecorded, false},
		{"the record under the original name", &Table{Name: "__orders_old", Tool: ToolPTOSC, Comment: recorded}, HoldRecorded, false},
		// Not read as janitor's (an orphan's name, say): no hold, whatever it looks like.
		{"a hold name discovery did not read as janitor's", &Table{Name: holdName, Orphan: true, Comment: recorded}, HoldNone, false},
	} {
		if got := c.t.HoldState(); got != c.want {
			t.Errorf("%s: HoldState() = %s, want %s", c.what, got, c.want)
		}
		if got := c.t.JanitorHold() != nil; got != c.held {
			t.Errorf("%s: JanitorHold() != nil is %t, want %t", c.what, got, c.held)
		}
	}
	// The record in memory, as a run updates it when it marks the purge.
	p := time.Now()
	h.PurgeStarted = &p
	if got := h.State(); got != HoldPurging {
		t.Errorf("Hold.State() with PurgeStarted = %s, want purging", got)
	}
}

// TestHoldMoves: the moves janitor's statements make are allowed, and every other
// move between two states is refused.
func TestHoldMoves(t *testing.T) {
	allowed := map[[2]HoldState]string{
		{HoldNone, HoldRecorded}:     "hold: the record into the comment",
		{HoldRecorded, HoldRecorded}: "a hold started over rewrites the record",
		{HoldRecorded, HoldRenamed}:  "hold: RENAME to the hold name",
		{HoldRenamed, HoldHeld}:      "hold: the baseline into the record",
		{HoldHeld, HoldHeld}:         "the baseline's lock count corrected",
		{HoldRenamed, HoldPurging}:   "purge marked",
		{HoldHeld, HoldPurging}:      "purge marked",
		{HoldRenamed, HoldDropped}:   "DROP at the hold's end",
		{HoldHeld, HoldDropped}:      "DROP at the hold's end",
		{HoldPurging, HoldDropped}:   "DROP after the purge",
		{HoldRenamed, HoldRecorded}:  "restore: RENAME back",
		{HoldHeld, HoldRecorded}:     "restore: RENAME back",
		{HoldPurging, HoldRecorded}:  "restore: RENAME back",
		{HoldRecorded, HoldRestored}: "restore: the comment with the marker",
		{HoldRecorded, HoldNone}:     "restore: the comment alone (no room for the marker)",
		{HoldRecorded, HoldDropped}:  "DROP of a leftover whose hold was cut short (execute.hold 0s)",
	}
	var states []HoldState
	for s := HoldNone; s <= HoldUnrecorded; s++ {
		states = append(states, s)
	}
	for _, from := range states {
		for _, to := range states {
			why, want := allowed[[2]HoldState{from, to}]
			if got := from.CanMove(to); got != want {
				t.Errorf("%s → %s: CanMove = %t, want %t %s", from, to, got, want, why)
			}
		}
	}
	// Terminal and foreign states go nowhere.
	for _, s := range []HoldState{HoldDropped, HoldRestored, HoldUnrecorded, HoldState(-1), HoldState(99)} {
		for _, to := range states {
			if s.CanMove(to) {
				t.Errorf("%s → %s allowed; %s is never moved by janitor", s, to, s)
			}
		}
	}
}

// TestHoldStateNames: every state has its name (the report's hold_state), and only the
// held states are under a hold name with a record.
func TestHoldStateNames(t *testing.T) {
	want := []string{"none", "recorded", "renamed", "held", "purging", "dropped", "restored", "unrecorded"}
	for i, w := range want {
		if got := HoldState(i).String(); got != w {
			t.Errorf("HoldState(%d) = %q, want %q", i, got, w)
		}
		under := w == "renamed" || w == "held" || w == "purging"
		if got := HoldState(i).UnderHold(); got != under {
			t.Errorf("%s.UnderHold() = %t, want %t", w, got, under)
		}
	}
	if got := HoldState(len(want)).String(); got != "HoldState(8)" {
		t.Errorf("an unknown state prints %q", got)
	}
	m := HoldMove{From: HoldHeld, To: HoldRecorded}
	if !m.RenamedBack() {
		t.Error("held → recorded is a restore's RENAME back")
	}
	if (HoldMove{From: HoldNone, To: HoldRecorded}).RenamedBack() {
		t.Error("none → recorded is a hold's record, not a RENAME back")
	}
}
