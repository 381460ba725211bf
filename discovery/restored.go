package discovery

import (
	"regexp"
	"strings"
	"time"
)

// A restored table carries a marker at the end of its comment, written by `janitor
// restore`: "restored by janitor on 2026-12-02 03:20:00 UTC: keep". The marker is what
// makes a restore last: a restored leftover still has a leftover's name and evidence, so
// without it a later run, on any pod and with no state, would hold it again. A marker
// can only keep a table, never make one droppable, so a marker someone typed by hand, or
// one a tool copied with the comment, errs on the side of disk.
const (
	restoredPrefix = "restored by janitor on "
	restoredSuffix = " UTC: keep"
)

var restoredPattern = regexp.MustCompile(`restored by janitor on (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC: keep`)

// RestoredMarker is the marker for a restore at t.
func RestoredMarker(t time.Time) string {
	return restoredPrefix + t.UTC().Format(time.DateTime) + restoredSuffix
}

// WithRestoredMarker appends the marker for a restore at t to comment, after a space
// when comment is not empty. ok is false when the result would not fit in a table
// comment; the server would refuse it, or in a non-strict sql_mode cut the marker off.
func WithRestoredMarker(comment string, t time.Time) (string, bool) {
	if _, found := ParseRestored(comment); found {
		return comment, true
	}
	s := RestoredMarker(t)
	if comment != "" {
		s = comment + " " + s
	}
	return s, len([]rune(s)) <= MaxCommentLength
}

// ParseRestored finds a restore marker anywhere in comment, including inside a hold
// record's copy of the comment; at is the restore time.
func ParseRestored(comment string) (at time.Time, found bool) {
	if !strings.Contains(comment, restoredPrefix) {
		return time.Time{}, false
	}
	m := restoredPattern.FindStringSubmatch(comment)
	if m == nil {
		return time.Time{}, false
	}
	at, err := time.Parse(time.DateTime, m[1])
	if err != nil {
		// 2026-13-45 25:61:61: still a marker someone meant; keep the table.
		return time.Time{}, true
	}
	return at.UTC(), true
}
