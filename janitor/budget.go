package janitor

import (
	"fmt"
	"time"

	"github.com/janitorhq/janitor/internal/human"
	"github.com/janitorhq/janitor/report"
)

// budget is one shard run's limits in one value: execute.deadline (from the run's
// start, shared by every shard), execute.max_duration (from the shard's first
// statement), execute.max_tables_per_run and execute.max_bytes_per_run. The guard asks it
// before every statement, and every wait janitor makes before a statement (the throttle,
// a reconnect, a replica applying a purge batch, pause_between_drops, batch_pause) is
// capped by what it leaves, so no wait carries a statement past a limit. Waits after a
// statement, which send nothing, are not: the reconnect after a connection lost with a
// statement in flight, and takeLock waiting for this run's own statement that outlived
// its connection (the deadline lets a statement in flight finish, as SIGTERM does, and
// these learn what it did); watchAppliers following a DROP or RENAME to the replicas
// for up to max_replica_lag (cut at the deadline, it would miss the stall that statement
// causes there, and the shard would not be blocked for it). Each limit maps to its
// blocked code here and nowhere else.
type budget struct {
	ex       ExecuteConfig
	deadline time.Time // execute.deadline as an instant; zero: none
	started  time.Time // when the shard's drops began; zero until then
	tables   int       // tables dropped or held: execute.max_tables_per_run
	bytes    int64     // bytes freed: execute.max_bytes_per_run
}

func newBudget(ex ExecuteConfig, g *gates) *budget {
	b := &budget{ex: ex}
	if g != nil {
		b.deadline = g.deadline
	}
	return b
}

// start marks when the shard's drops began: execute.max_duration counts from here.
func (b *budget) start(now time.Time) { b.started = now }

// stop says why no statement may start at now, as the stop that defers the rest of the
// shard; nil while the time limits allow one. Both time limits are run_limit: a window
// that closes is not a fault (JanitorShardBlocked leaves it alone).
func (b *budget) stop(now time.Time) *errStop {
	if !b.deadline.IsZero() && !now.Before(b.deadline) {
		return &errStop{code: report.BlockedRunLimit, why: fmt.Sprintf("execute.deadline %s reached", b.ex.Deadline)}
	}
	if md := b.ex.MaxDuration; md > 0 && !b.started.IsZero() && now.Sub(b.started) >= md {
		return &errStop{code: report.BlockedRunLimit, why: fmt.Sprintf("execute.max_duration %s reached", md)}
	}
	return nil
}

// quota says why the next table, of size bytes, is not begun ("" when it may be): the
// per-run counts. Reaching one is the configuration doing its job, so it sets no blocked
// code and leaves the shard's blocked empty; the tables not begun are deferred with it.
// The first table always fits the byte quota: a table larger than the quota would
// otherwise never be dropped.
func (b *budget) quota(bytes int64) string {
	if m := b.ex.MaxTablesPerRun; m > 0 && b.tables >= m {
		return fmt.Sprintf("execute.max_tables_per_run %d reached", m)
	}
	if m := b.ex.MaxBytesPerRun; m > 0 && b.bytes+bytes > m && b.tables > 0 {
		return fmt.Sprintf("execute.max_bytes_per_run %s reached", human.Bytes(m))
	}
	return ""
}

// count records a table done: a hold counts toward execute.max_tables_per_run, not
// toward bytes (it frees none); a DROP toward both.
func (b *budget) count(freed int64) {
	b.tables++
	b.bytes += freed
}

// cap cuts a wait of d, starting at now, to what the time limits leave. A wait cut short
// ends with the budget's stop (stop(now) is then non-nil), not the waited-for thing's.
func (b *budget) cap(now time.Time, d time.Duration) time.Duration {
	if !b.deadline.IsZero() {
		d = min(d, b.deadline.Sub(now))
	}
	if md := b.ex.MaxDuration; md > 0 && !b.started.IsZero() {
		d = min(d, b.started.Add(md).Sub(now))
	}
	return max(d, 0)
}
