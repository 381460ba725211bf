package janitor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/report"
	"github.com/janitorhq/janitor/throttle"
)

// errStop ends a shard's run early without failing it: the rest is deferred. Code that
// answers with a decision turns it into one with stopOf; the readers of replicas still
// return it as an error.
type errStop struct {
	why string
	// code is why in a bounded set (report.Blocked*): the metric's label.
	code string
}

func (e *errStop) Error() string { return e.why }

// decision is what the guard, or one of its checks, decided about a table: proceed;
// leave the table this run with outcome out (also how a statement reports what it did:
// dropped, held); or stop, deferring the rest of the shard with stop's blocked code. A
// failure is an error beside it. The zero value leaves, so a path that forgets to
// decide never lets a statement through.
type decision struct {
	proceed bool
	out     outcome
	stop    *errStop
}

func proceed() decision          { return decision{proceed: true} }
func leave(out outcome) decision { return decision{out: out} }
func stop(s *errStop) decision   { return decision{stop: s} }
func stopWith(code, why string) decision {
	return stop(&errStop{code: code, why: why})
}

// stopOf turns an *errStop returned as an error (by connect, the re-check or the readers
// of replicas) into a stop decision; any other error stays a failure.
func stopOf(d decision, err error) (decision, error) {
	var s *errStop
	if errors.As(err, &s) {
		return stop(s), nil
	}
	return d, err
}

// guardOpts says what the statement the guard clears is.
type guardOpts struct {
	// purged: the table's last writes are janitor's own purge batches (the re-check's
	// policies.Context.WrittenByJanitor).
	purged bool
	// batch: a purge batch, which is re-checked (with the replica checks) only every
	// purgeRecheckEvery, when recheck is set; every batch checks the table's identity
	// itself, under its metadata lock.
	batch, recheck bool
	// restore: a restore's RENAME back of a held table (r.restoring says which), re-checked
	// by recheckRestore instead of the policies.
	restore bool
}

// guarded is the guard's answer: its decision, the table as the re-check read it (nil
// for a purge batch not re-checked), and whether the throttle held the statement back.
type guarded struct {
	decision
	fresh     *discovery.Table
	throttled bool
}

// guard is the one step before every statement janitor sends for a table: a DROP, a
// hold's comment change and RENAME, a purge batch, a restore's RENAME back and comment
// change (restore.go). In order: the budget (execute.deadline,
// execute.max_duration, a stop signal); the throttle, its wait capped by the budget; the
// fresh re-check on the dropping connection (recheck, or recheckRestore); the replica
// and lock checks
// (preDropChecks). A check added to any step guards every kind of statement.
func (r *shardRun) guard(ctx context.Context, t *discovery.Table, o guardOpts) (guarded, error) {
	if ctx.Err() != nil {
		return guarded{decision: stopWith(report.BlockedSignal, "stopped by signal before the next statement")}, nil
	}
	if s := r.budget.stop(time.Now()); s != nil {
		return guarded{decision: stop(s)}, nil
	}
	throttled, d := r.waitHealthy(ctx)
	if d.stop != nil {
		return guarded{decision: d, throttled: throttled}, nil
	}
	g := guarded{decision: proceed(), throttled: throttled}
	if o.batch && !o.recheck {
		return g, nil
	}
	var fresh *discovery.Table
	var err error
	if o.restore {
		fresh, d, err = r.recheckRestore(ctx, t)
	} else {
		fresh, d, err = r.recheck(ctx, t, o.purged)
	}
	if d, err = stopOf(d, err); err != nil || !d.proceed {
		return guarded{decision: d, throttled: throttled}, err
	}
	// Last, as close to the statement as it can be.
	d, err = stopOf(r.preDropChecks(ctx, fresh))
	if err != nil || !d.proceed {
		return guarded{decision: d, throttled: throttled}, err
	}
	g.fresh = fresh
	return g, nil
}

// waitHealthy reads the throttle's signals once and, when one is unhealthy, waits for
// health up to throttle.max_wait, cut to what the budget leaves. It reports whether it
// had to wait, and a stop when the wait ended without health: the budget's own when the
// budget cut it, else the throttle's, naming the signal.
func (r *shardRun) waitHealthy(ctx context.Context) (bool, decision) {
	if len(r.thr.Check(ctx)) == 0 {
		return false, proceed()
	}
	maxWait := r.budget.cap(time.Now(), r.j.cfg.ThrottleFor(r.sc).MaxWait)
	err := r.thr.Wait(ctx, maxWait)
	var b *throttle.Blocked
	switch {
	case err == nil:
		return true, proceed()
	case ctx.Err() != nil || !errors.As(err, &b):
		return true, stopWith(report.BlockedSignal, "stopped by signal while throttled")
	}
	if s := r.budget.stop(time.Now()); s != nil {
		return true, stop(&errStop{code: s.code, why: fmt.Sprintf("%s while throttled (%s)", s.why, readings(b.Readings))})
	}
	return true, stopWith(report.BlockedThrottle, b.Error())
}

// inFlight marks the statement that changes a table (a DROP, a hold's RENAME, a comment
// change) as sent and not refused: after a lost connection it tells what the table's
// absence, or its state, means.
type inFlight struct {
	drop bool            // a DROP: the table gone means dropped
	hold *discovery.Hold // a hold's RENAME: the hold name present means held
	// comment: a comment change (the hold record, the purge mark), this comment found
	// on the table means it took effect, and renewed CREATE_TIME (adoptOwnComment).
	comment string
}

// send sends one statement that changes a table, on the dropping connection. It is the
// one place that sets the in-flight marker: set before the statement goes out, cleared
// when the server answers with a refusal; kept when the server took it, or when the
// connection was lost without an answer, until the next table begins (or markPurge has
// adopted the comment change it marks).
func (r *shardRun) send(ctx context.Context, f *inFlight, stmt string, args ...any) error {
	r.inFlight = f
	_, err := r.conn.ExecContext(ctx, stmt, args...)
	if err != nil && !connectionLost(err) {
		r.inFlight = nil
	}
	return err
}
