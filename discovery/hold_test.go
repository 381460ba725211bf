package discovery

import (
	"strings"
	"testing"
	"time"
)

// TestHoldNameIsJanitorsAlone: a hold name fits 64 characters whatever the original,
// reads as janitor's hold with its end as due stamp, and no other rule reads it.
func TestHoldNameIsJanitorsAlone(t *testing.T) {
	start := time.Date(2026, 12, 2, 10, 0, 0, 123, time.UTC)
	until := start.Add(7 * 24 * time.Hour).Truncate(time.Second)
	for _, orig := range []string{"__orders_old", strings.Repeat("ü", 64), "_x_gho", "a`b.c@d#e%f g"} {
		name := HoldName("s", orig, start, until)
		if len(name) > MaxNameLength || !IsHoldName(name) {
			t.Fatalf("%q: hold name %q (%d bytes)", orig, name, len(name))
		}
		ms := Classify(name)
		if len(ms) != 1 || ms[0].Tool != ToolJanitor || ms[0].Role != RoleHold || !ms[0].StampIsDue || !ms[0].Stamp.Equal(until) {
			t.Fatalf("%q classifies as %+v", name, ms)
		}
	}
	if HoldName("s", "a", start, until) == HoldName("s", "a", start.Add(time.Nanosecond), until) {
		t.Error("two holds of one name at different instants share a hold name")
	}
	for _, look := range []string{"_janitor_hold_", "_janitor_hold_0123456789abcdef_2026120210000_", "_janitor_hold_0123456789ABCDEF_20261202100000_"} {
		for _, m := range Classify(look) {
			if m.Tool == ToolJanitor {
				t.Errorf("%q reads as janitor's hold", look)
			}
		}
	}
}

// TestHoldCommentRoundTrip: the record survives any original name and comment, and a
// record too long for a comment is refused rather than cut.
func TestHoldCommentRoundTrip(t *testing.T) {
	h := Hold{Schema: "s.x", Table: "a`b'c\"d\\e é", HoldName: "_janitor_hold_0123456789abcdef_20261202100000_",
		HeldAt: time.Now().UTC(), Until: time.Now().UTC().Add(time.Hour), Tool: ToolGhost, Comment: "ghost-cut-over-sentry <&>"}
	text, err := h.CommentText()
	if err != nil {
		t.Fatal(err)
	}
	got, ok := ParseHold(text)
	if !ok || got.Table != h.Table || got.Comment != h.Comment || !got.Until.Equal(h.Until) {
		t.Fatalf("parsed %+v from %q", got, text)
	}
	if OriginalComment(text) != h.Comment || OriginalComment("plain") != "plain" {
		t.Error("OriginalComment")
	}
	if _, ok := ParseHold("janitor-hold {not json"); ok {
		t.Error("a broken record parsed")
	}
	h.Comment = strings.Repeat("x", MaxCommentLength)
	if _, err := h.CommentText(); err == nil {
		t.Error("an over-long record was accepted")
	}
}
