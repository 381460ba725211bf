package janitor

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/report"
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

// throttler builds the signals of one shard: lag of each replica (or of Aurora's
// readers), the primary's Threads_running, and freeable memory when configured.
func (j *Janitor) throttler(sc ShardConfig, primary *sqlx.DB, closers *[]func() error) *throttle.Throttler {
	tc := j.cfg.ThrottleFor(sc)
	prim := throttle.NewLazyDB(func(context.Context) (*sqlx.DB, error) { return primary, nil })
	var signals []throttle.Signal
	if tc.ReplicaLagSource == "aurora" {
		signals = append(signals, &throttle.AuroraLag{DB: prim, Max: tc.MaxReplicaLag})
	} else {
		for _, rc := range sc.Replicas {
			lazy := throttle.NewLazyDB(func(ctx context.Context) (*sqlx.DB, error) {
				opts := dbconn.DefaultOptions()
				opts.ConnectTimeout = min(j.cfg.Discovery.ConnectTimeout, tc.SignalTimeout)
				opts.ReadTimeout = tc.SignalTimeout
				opts.MaxOpenConns = 1
				return dbconn.Open(ctx, rc.DSN, opts)
			})
			*closers = append(*closers, lazy.Close)
			signals = append(signals, &throttle.ReplicaLag{Replica: rc.Name, DB: lazy, Max: tc.MaxReplicaLag})
		}
	}
	signals = append(signals, &throttle.ThreadsRunning{DB: prim, Max: int64(tc.MaxThreadsRunning)})
	if tc.PrometheusURL != "" {
		fm, err := throttle.NewFreeableMemory(tc.PrometheusURL, tc.FreeableMemoryQuery, sc.Name, tc.MinFreeableMemoryBytes)
		if err != nil {
			signals = append(signals, errSignal{"freeable_memory", err})
		} else {
			signals = append(signals, fm)
		}
	}
	return throttle.New(signals, tc.CheckInterval, tc.SignalTimeout, j.log.With("shard", sc.Name))
}

// purge deletes a large table's rows in throttled batches before its DROP, as Vitess'
// table GC does, so the DROP has fewer pages to evict. It returns a non-nil outcome when
// the table must not be dropped in this run.
func (r *shardRun) purge(ctx context.Context, t *discovery.Table) (*outcome, error) {
	lt := r.j.cfg.Execute.LargeTable
	name := dbconn.QualifiedName(t.Schema, t.Name)
	stmt := fmt.Sprintf("DELETE /* janitor purge */ FROM %s LIMIT %d", name, lt.BatchRows)
	var total int64
	start := time.Now()
	for {
		if err := r.thr.Wait(ctx, r.j.cfg.ThrottleFor(r.sc).MaxWait); err != nil {
			return &outcome{report.OutcomeDeferred, fmt.Sprintf("purge paused after %d rows: %v", total, err), 0}, nil
		}
		bctx, cancel := context.WithTimeout(ctx, r.j.cfg.Execute.LockWaitTimeout+r.j.cfg.Execute.DropTimeout)
		res, err := r.conn.ExecContext(bctx, stmt)
		cancel()
		if err != nil {
			if connectionLost(err) {
				return nil, err
			}
			return &outcome{report.OutcomeDeferred, fmt.Sprintf("purge stopped after %d rows: %v", total, err), 0}, nil
		}
		n, _ := res.RowsAffected()
		total += n
		if n == 0 {
			break
		}
		if !sleep(ctx, lt.BatchPause) {
			return &outcome{report.OutcomeDeferred, fmt.Sprintf("stopped by signal while purging (%d rows purged)", total), 0}, nil
		}
	}
	r.log.InfoContext(ctx, "purged", "table", name, "rows", total, "elapsed", time.Since(start).Round(time.Millisecond))
	return nil, nil
}
