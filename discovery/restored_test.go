package discovery

import (
	"strings"
	"testing"
	"time"
)

func TestRestoredMarker(t *testing.T) {
	at := time.Date(2026, 12, 2, 3, 20, 0, 0, time.UTC)
	for _, own := range []string{"", "app's archive", "x restored by janitor on soon: keep"} {
		c, ok := WithRestoredMarker(own, at)
		if !ok || !strings.HasPrefix(c, own) || !strings.HasSuffix(c, "restored by janitor on 2026-12-02 03:20:00 UTC: keep") {
			t.Errorf("WithRestoredMarker(%q) = %q, %v", own, c, ok)
		}
		if got, found := ParseRestored(c); !found || !got.Equal(at) {
			t.Errorf("ParseRestored(%q) = %v, %v", c, got, found)
		}
		// Restoring twice does not stack markers.
		if again, _ := WithRestoredMarker(c, at.Add(time.Hour)); again != c {
			t.Errorf("second marker: %q", again)
		}
	}
	// A held table whose recorded comment carries a marker is still marked: it is kept.
	rec, err := Hold{Table: "t", Until: at, Comment: "own " + RestoredMarker(at)}.CommentText()
	if err != nil {
		t.Fatal(err)
	}
	if _, found := ParseRestored(rec); !found {
		t.Errorf("marker inside a hold record not found: %s", rec)
	}
	for _, c := range []string{"", "restored by janitor", "restored by janitor on 2026-12-02: keep", "keep"} {
		if _, found := ParseRestored(c); found {
			t.Errorf("ParseRestored(%q) found a marker", c)
		}
	}
	// A comment too long for the marker is refused rather than cut by the server.
	if _, ok := WithRestoredMarker(strings.Repeat("é", MaxCommentLength-10), at); ok {
		t.Error("a marker past the comment limit was accepted")
	}
	// Any comment a hold record could carry leaves room for the marker.
	own := strings.Repeat("é", MaxCommentLength)
	for {
		h := Hold{Schema: strings.Repeat("s", 64), Table: strings.Repeat("t", 64), HoldName: HoldName("s", "t", at, at), HeldAt: at, Until: at,
			Tool: ToolPTOSC, Role: RoleOld, Comment: own}
		if _, err := h.CommentText(); err == nil {
			break
		}
		own = own[:len(own)-len("é")]
	}
	if _, ok := WithRestoredMarker(own, at); !ok {
		t.Errorf("the longest comment a hold can record (%d characters) has no room for the marker", len([]rune(own)))
	}
}
