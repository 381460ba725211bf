package janitor

import (
	"context"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/throttle"
)

// errSignal is a signal that could not be built; it always reads as unhealthy, so a
// misconfigured signal holds drops back instead of vanishing.
type errSignal struct {
	name string
	err  error
}

func (e errSignal) Name() string                           { return e.name }
func (e errSignal) Check(context.Context) throttle.Reading { return throttle.Reading{Err: e.err} }

// replicaDB is one configured replica's pool: one connection, opened at first use,
// shared by its lag signal and the dropper's look at its sessions.
type replicaDB struct {
	name string
	db   *throttle.LazyDB
}

// replicaDBs returns a lazily opened pool for each of the shard's replicas.
func (j *Janitor) replicaDBs(sc ShardConfig, closers *[]func() error) []replicaDB {
	tc := j.cfg.ThrottleFor(sc)
	var out []replicaDB
	for _, rc := range sc.Replicas {
		lazy := throttle.NewLazyDB(func(ctx context.Context) (*sqlx.DB, error) {
			opts := dbconn.DefaultOptions()
			opts.ConnectTimeout = min(j.cfg.Discovery.ConnectTimeout, tc.SignalTimeout)
			opts.ReadTimeout = tc.SignalTimeout
			opts.MaxOpenConns = 1
			return dbconn.Open(ctx, rc.DSN, opts)
		})
		*closers = append(*closers, lazy.Close)
		out = append(out, replicaDB{rc.Name, lazy})
	}
	return out
}

// throttler builds the signals of one shard: lag of each replica (or of Aurora's
// readers), the primary's Threads_running, and freeable memory when configured.
func (j *Janitor) throttler(sc ShardConfig, primary *sqlx.DB, replicas []replicaDB) *throttle.Throttler {
	tc := j.cfg.ThrottleFor(sc)
	prim := throttle.NewLazyDB(func(context.Context) (*sqlx.DB, error) { return primary, nil })
	var signals []throttle.Signal
	if tc.ReplicaLagSource == "aurora" {
		signals = append(signals, &throttle.AuroraLag{DB: prim, Max: tc.MaxReplicaLag, Readers: sc.AuroraReaders, MinReaders: sc.MinReaders})
	} else {
		if len(sc.Replicas) == 0 {
			j.log.Warn("no replicas configured: drops on this shard are not gated on replica lag", "shard", sc.Name)
		}
		for _, rd := range replicas {
			signals = append(signals, &throttle.ReplicaLag{Replica: rd.name, DB: rd.db, Max: tc.MaxReplicaLag})
		}
	}
	signals = append(signals, &throttle.ThreadsRunning{DB: prim, Max: int64(tc.MaxThreadsRunning)})
	if tc.PrometheusURL != "" {
		fm, err := throttle.NewFreeableMemory(tc.PrometheusURL, tc.PrometheusHTTPClient, tc.FreeableMemoryQuery, sc.Name, tc.MinFreeableMemoryBytes)
		if err != nil {
			signals = append(signals, errSignal{"freeable_memory", err})
		} else {
			signals = append(signals, fm)
		}
	}
	return throttle.New(signals, tc.CheckInterval, tc.SignalTimeout, j.log.With("shard", sc.Name))
}
