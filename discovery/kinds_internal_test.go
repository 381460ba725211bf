package discovery

import "testing"

// TestEvidenceKindsAreWellFormed: each kind is read one way (a list read into its
// field, or a gather of its own), a kind asked of replicas lists what it finds, and
// the names and Dead ranks are unique.
func TestEvidenceKindsAreWellFormed(t *testing.T) {
	names, ranks := map[string]bool{}, map[int]bool{}
	for _, k := range evidenceKinds {
		if names[k.Name] {
			t.Errorf("kind %s listed twice", k.Name)
		}
		names[k.Name] = true
		if (k.read == nil) == (k.gather == nil) || (k.read != nil) != (k.field != nil) {
			t.Errorf("kind %s: want a read with a field, or a gather alone", k.Name)
		}
		if k.Replica != "" && k.read == nil {
			t.Errorf("kind %s is asked of replicas but lists nothing", k.Name)
		}
		if k.Dead != "" {
			if ranks[k.DeadRank] {
				t.Errorf("kind %s: DeadRank %d taken", k.Name, k.DeadRank)
			}
			ranks[k.DeadRank] = true
		}
	}
}
