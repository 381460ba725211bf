package janitor

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Partition is one pod's share of the fleet when an Indexed Job splits it: pod Index of
// Count. Every pod reads the same configuration and keeps the shards it owns.
type Partition struct {
	Index, Count int
}

// MaxPartitions bounds Count: more pods than this would each own a handful of shards,
// and every one of them pushes its own metric group.
const MaxPartitions = 1000

// ParsePartition reads "INDEX/COUNT" (0 ≤ INDEX < COUNT). source names where the value
// came from (a flag or an environment variable), for the error.
func ParsePartition(source, s string) (Partition, error) {
	i, c, ok := strings.Cut(strings.TrimSpace(s), "/")
	index, err1 := strconv.Atoi(i)
	count, err2 := strconv.Atoi(c)
	switch {
	case !ok || err1 != nil || err2 != nil:
		return Partition{}, fmt.Errorf("%s %q: want INDEX/COUNT, such as 0/4 (an Indexed Job passes $(JOB_COMPLETION_INDEX)/COUNT, COUNT being its completions)", source, s)
	case count < 1 || count > MaxPartitions:
		return Partition{}, fmt.Errorf("%s %q: COUNT %d is not between 1 and %d", source, s, count, MaxPartitions)
	case index < 0 || index >= count:
		return Partition{}, fmt.Errorf("%s %q: INDEX %d is not between 0 and COUNT-1 (%d)", source, s, index, count-1)
	}
	return Partition{Index: index, Count: count}, nil
}

// String is "INDEX/COUNT".
func (p Partition) String() string { return fmt.Sprintf("%d/%d", p.Index, p.Count) }

// Owns says whether this partition visits the named shard.
func (p Partition) Owns(shard string) bool { return PartitionOf(shard, p.Count) == p.Index }

// PartitionOf is the partition (0..count-1) that owns a shard, by rendezvous
// (highest-random-weight) hashing of the shard's name: each partition scores the name,
// the highest score wins. The answer depends on the name and count alone — not on the
// order of the configuration or on the other shards — so every pod agrees without
// talking to the others, and raising count from n to n+1 moves only the shards the new
// partition now wins, about 1/(n+1) of them; a modulo would move almost all.
func PartitionOf(shard string, count int) int {
	best, bestScore := 0, uint64(0)
	for i := range count {
		if s := score(shard, i); i == 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

func score(shard string, partition int) uint64 {
	h := sha256.New()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(partition))
	h.Write(b[:])
	h.Write([]byte(shard))
	return binary.BigEndian.Uint64(h.Sum(nil))
}

// Keep returns the shards this partition owns, in the configuration's order.
func (p Partition) Keep(shards []ShardConfig) []ShardConfig {
	var kept []ShardConfig
	for _, s := range shards {
		if p.Owns(s.Name) {
			kept = append(kept, s)
		}
	}
	return kept
}
