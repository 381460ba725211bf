package janitor

import (
	"testing"

	"github.com/janitorhq/janitor/internal/testdb"
)

// sandboxRun returns a run on the sandbox primary's shard, gated by the sandbox replica
// (named replica; its pool open), with the defaults as tune changes them; it closes when
// the test ends.
func sandboxRun(tb testing.TB, replica string, tune func(*Config)) *shardRun {
	tb.Helper()
	cfg := Defaults()
	cfg.Shards = []ShardConfig{{Name: "sandbox", DSN: testdb.PrimaryDSN(tb), Replicas: []ReplicaConfig{{Name: replica, DSN: testdb.ReplicaDSN(tb)}}}}
	if tune != nil {
		tune(&cfg)
	}
	j := New(cfg, nil)
	r := &shardRun{j: j, sc: cfg.Shards[0], log: j.log}
	tb.Cleanup(r.close)
	r.replicas = j.replicaDBs(cfg.Shards[0], &r.closers)
	return r
}
