package janitor

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func fleetNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("prod-eu-%04d", i)
	}
	// Names janitor must cope with anywhere: punctuation, non-ASCII.
	return append(names, "a", "shard with space", "ß-shard", "x/y", "")
}

func TestEveryShardLandsInExactlyOnePartition(t *testing.T) {
	names := fleetNames(2000)
	for count := 1; count <= 16; count++ {
		owners := map[string]int{}
		perPart := make([]int, count)
		for idx := range count {
			p := Partition{Index: idx, Count: count}
			for _, n := range names {
				if p.Owns(n) {
					owners[n]++
					perPart[idx]++
				}
			}
		}
		for _, n := range names {
			if owners[n] != 1 {
				t.Fatalf("count %d: %q is owned by %d partitions", count, n, owners[n])
			}
		}
		// Balanced: each partition within 25% of its fair share (2,000 names).
		fair := float64(len(names)) / float64(count)
		for idx, got := range perPart {
			if math.Abs(float64(got)-fair) > 0.25*fair {
				t.Errorf("count %d: partition %d owns %d shards, fair share %.0f", count, idx, got, fair)
			}
		}
	}
}

func TestGrowingCountMovesFewShards(t *testing.T) {
	names := fleetNames(20000)
	for count := 1; count < 16; count++ {
		moved := 0
		for _, n := range names {
			before, after := PartitionOf(n, count), PartitionOf(n, count+1)
			if before != after {
				moved++
				// Only to the new partition: nothing shuffles among the old ones.
				if after != count {
					t.Fatalf("%q moved from %d to %d when count grew %d→%d", n, before, after, count, count+1)
				}
			}
		}
		want := float64(len(names)) / float64(count+1)
		if got := float64(moved); math.Abs(got-want) > 0.1*want {
			t.Errorf("count %d→%d moved %d shards, want about %.0f (1/%d)", count, count+1, moved, want, count+1)
		}
	}
}

func TestParsePartition(t *testing.T) {
	for _, ok := range []string{"0/1", "3/4", " 15/16 "} {
		if _, err := ParsePartition("--partition", ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for in, want := range map[string]string{
		"":      "want INDEX/COUNT",
		"4":     "want INDEX/COUNT",
		"4/4":   "INDEX 4 is not between 0 and COUNT-1 (3)",
		"-1/4":  "INDEX -1",
		"0/0":   "COUNT 0",
		"a/b":   "want INDEX/COUNT",
		"1/4/5": "want INDEX/COUNT",
	} {
		_, err := ParsePartition("JANITOR_PARTITION", in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "JANITOR_PARTITION") {
			t.Errorf("%q: got %v, want an error with %q naming the source", in, err, want)
		}
	}
}
