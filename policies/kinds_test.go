package policies

import (
	"slices"
	"strings"
	"testing"

	"github.com/janitorhq/janitor/discovery"
)

// TestDeadReasonNamesEveryKind: the dead reason's list of what does not use the table
// is read from discovery's table of evidence kinds, and says what it said when it was
// written by hand (the JSON reports of dead tables are unchanged).
func TestDeadReasonNamesEveryKind(t *testing.T) {
	const want = "trigger, event, view, foreign key, MERGE or connection table, table grant, lock or session"
	if usesWords != want {
		t.Errorf("usesWords = %q, want %q", usesWords, want)
	}
	v := Evaluate(Config{}, Context{}, dead())
	if v.Code != CodeDead || !strings.Contains(v.Reason, "no "+want+" uses it") {
		t.Errorf("verdict = %+v, want dead, naming %q", v, want)
	}
}

// TestEvidenceKindsKeepWithTheirCode: each kind of evidence that lists what it found
// keeps an otherwise dead table with the policy code the table of kinds gives it, and
// that code is one of Codes.
func TestEvidenceKindsKeepWithTheirCode(t *testing.T) {
	for _, k := range discovery.EvidenceKinds() {
		if k.Code == "" {
			continue
		}
		if !slices.Contains(Codes, Code(k.Code)) {
			t.Errorf("kind %s: code %q is not in Codes", k.Name, k.Code)
		}
		tb := dead()
		// A kind's evidence counts for a migration's new table (a tool's triggers feed
		// it); for the old one it would not.
		tb.Role = discovery.RoleNew
		found := k.Found(&tb.Evidence)
		if found == nil {
			continue // a heartbeat or a hold: their rules' own tests
		}
		*found = []string{"something"}
		if v := Evaluate(Config{}, Context{}, tb); v.Code != Code(k.Code) {
			t.Errorf("kind %s found something: verdict %+v, want code %s", k.Name, v, k.Code)
		}
	}
}
