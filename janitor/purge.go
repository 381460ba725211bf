package janitor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/report"
)

// purgeRecheckEvery is how often a running purge re-checks all the evidence, as before
// a DROP: a purge can take hours.
const purgeRecheckEvery = 30 * time.Second

// purge deletes a large table's rows in throttled batches before its DROP, as Vitess'
// table GC does, so the DROP has fewer pages to evict. A purge runs for minutes or hours
// under a name a tool may reuse (gh-ost --initially-drop-ghost-table and Spirit drop and
// recreate their tables), so every batch goes through the guard (the budget and the
// throttle each time, the re-check and the replica checks every purgeRecheckEvery) and
// then checks, under the table's metadata lock, that the table is still the one
// inspected. It proceeds when the table is empty and may be dropped; otherwise it leaves
// the table for this run, or stops the shard.
//
// Replicas pay for every batch again, on their appliers: a batch is not followed by the
// next until every configured replica has applied it (waitApplied), and batches are
// sized (batchSizer) so that this takes about execute.large_table.batch_target. A
// replica is then never more than about one batch behind because of the purge: the
// throttle alone, read between batches, could not see a batch that was still on its way.
func (r *shardRun) purge(ctx context.Context, t *discovery.Table) (decision, error) {
	lt := r.j.cfg.Execute.LargeTable
	tc := r.j.cfg.ThrottleFor(r.sc)
	name := dbconn.QualifiedName(t.Schema, t.Name)
	if t.CreatedAt == nil {
		// Without CREATE_TIME the table under this name cannot be told from a new one.
		r.log.WarnContext(ctx, "no CREATE_TIME to tell this table from a recreated one: dropping without a purge", "table", name)
		return proceed(), nil
	}
	sizer := newBatchSizer(lt)
	var total int64
	batches := 0
	waitReplicas := len(r.replicas) > 0
	start, checked := time.Now(), time.Now()
	for {
		g, err := r.guard(ctx, t, guardOpts{purged: true, batch: true, recheck: time.Since(checked) >= purgeRecheckEvery})
		if err != nil {
			return decision{}, err
		}
		if g.stop != nil {
			return stop(purgeStop(g.stop, total)), nil
		}
		if !g.proceed {
			g.out.reason = fmt.Sprintf("purge stopped after %d rows: %s", total, g.out.reason)
			return g.decision, nil
		}
		if g.fresh != nil {
			checked = time.Now()
		}
		if h := r.j.Hooks.PurgeBatch; h != nil {
			h(r.sc.Name, t.Schema, t.Name, total)
		}
		// Each batch's row events reach every replica: one that lacks the table now
		// (dropped there by hand mid-purge), or whose filters changed, would stop its
		// applier on them (filters.go).
		if lines, err := r.replicaStatements(ctx, t); err != nil {
			if d, serr := stopOf(decision{}, err); serr == nil && d.stop != nil {
				return stop(purgeStop(d.stop, total)), nil
			}
			return decision{}, err
		} else if len(lines) > 0 {
			return leave(outcome{report.OutcomeSkipped, fmt.Sprintf("purge stopped after %d rows: %s", total, strings.Join(lines, "; ")), 0}), nil
		}
		rows := sizer.Next()
		bstart := time.Now()
		bctx, cancel := context.WithTimeout(ctx, r.j.cfg.Execute.LockWaitTimeout+r.j.cfg.Execute.DropTimeout)
		n, replaced, err := r.purgeBatch(bctx, t, *t.CreatedAt, rows)
		var pos string
		if err == nil && replaced == "" && n > 0 && waitReplicas {
			pos, err = r.batchPosition(bctx)
			if err == nil && pos == "" {
				// Without GTIDs the replicas' progress cannot be followed: the throttle's
				// lag reading, between batches, is all there is.
				r.log.WarnContext(ctx, "the primary logs no GTIDs: purge batches do not wait for the replicas to apply them, only for their lag", "table", name)
				waitReplicas = false
			}
		}
		cancel()
		switch {
		case replaced != "":
			return leave(outcome{report.OutcomeSkipped, fmt.Sprintf("purge stopped after %d rows: %s: a new migration may own it", total, replaced), 0}), nil
		case connectionLost(err):
			return decision{}, err
		case err != nil:
			return leave(outcome{report.OutcomeDeferred, fmt.Sprintf("purge stopped after %d rows: %v", total, err), 0}), nil
		}
		total += n
		batches++
		if pos != "" {
			// The wait for the replicas is capped by the budget like the throttle's.
			now := time.Now()
			if s := r.waitApplied(ctx, pos, now.Add(r.budget.cap(now, tc.MaxWait))); s != nil {
				return stop(purgeStop(s, total)), nil
			}
		}
		took := time.Since(bstart)
		sizer.Observe(rows, n, took, g.throttled)
		r.log.DebugContext(ctx, "purge batch", "table", name, "rows", n, "took", took.Round(time.Millisecond), "next", sizer.Next())
		if n == 0 {
			break
		}
		// Cut like every wait: the next batch's guard stops with the budget's code.
		if !sleep(ctx, r.budget.cap(time.Now(), lt.BatchPause)) {
			return leave(outcome{report.OutcomeDeferred, fmt.Sprintf("stopped by signal while purging (%d rows purged)", total), 0}), nil
		}
	}
	r.log.InfoContext(ctx, "purged", "table", name, "rows", total, "batches", batches, "elapsed", time.Since(start).Round(time.Millisecond))
	return proceed(), nil
}

// purgeStop says, in a stop that came during a purge, how far the purge got.
func purgeStop(s *errStop, total int64) *errStop {
	switch s.code {
	case report.BlockedSignal:
		return &errStop{code: s.code, why: fmt.Sprintf("stopped by signal while purging (%d rows purged)", total)}
	case report.BlockedRunLimit:
		return &errStop{code: s.code, why: fmt.Sprintf("%s during a purge (%d rows purged): the table stays for a later run", s.why, total)}
	case report.BlockedThrottle, report.BlockedReplicaApply, report.BlockedReplicaUnreachable:
		return &errStop{code: s.code, why: fmt.Sprintf("purge paused after %d rows: %s", total, s.why)}
	}
	return s
}

// batchPosition is, right after a batch committed on r.conn, what the replicas must
// have applied to have applied it, in the form their wait function takes: on MariaDB
// the batch's own GTID (@@last_gtid); on MySQL, whose session does not expose its last
// GTID to SQL, the primary's whole executed set, which contains it. "" when the primary
// logs no GTIDs (MariaDB without a binary log, MySQL with gtid_mode not ON).
func (r *shardRun) batchPosition(ctx context.Context) (string, error) {
	return r.gtidPosition(ctx, "janitor purge", "@@last_gtid", "read the batch's GTID")
}

// behind says that a replica did not apply a purge batch by the deadline.
type behind struct {
	replica, pos string
	waited       time.Duration
	err          error // the last failure to ask, if any
}

func (e *behind) String() string {
	if e.err != nil {
		return fmt.Sprintf("replica %s: cannot tell whether it applied the last batch (%s) after %s: %v", e.replica, clip(e.pos), e.waited.Round(time.Second), e.err)
	}
	return fmt.Sprintf("replica %s: has not applied the last batch (%s) after %s", e.replica, clip(e.pos), e.waited.Round(time.Second))
}

// behindStop is the stop of a replica that did not apply a purge batch in time, with its
// code: the budget's, when the budget cut the wait; the throttle's, when a signal says
// why (the lag, a stopped applier: the throttle's own alert covers it); else
// replica_unreachable for a replica that could not be asked, replica_apply for one
// that did not apply.
func (r *shardRun) behindStop(ctx context.Context, b *behind) *errStop {
	why := b.String()
	if s := r.budget.stop(time.Now()); s != nil {
		return &errStop{code: s.code, why: s.why + " while waiting for the replicas (" + why + ")"}
	}
	bad := r.thr.Check(ctx)
	if len(bad) > 0 {
		why += "; " + readings(bad)
	}
	code := report.BlockedReplicaApply
	switch {
	case b.err != nil:
		code = report.BlockedReplicaUnreachable
	case len(bad) > 0:
		code = report.BlockedThrottle
	}
	return &errStop{code: code, why: why}
}

// purgeBatch deletes up to rows rows in one transaction. Reading the table first takes
// its metadata lock until the commit, so nobody can drop, rename or recreate it between
// the identity check (CREATE_TIME, as inspected) and the DELETE. replaced says why the
// table under the name is no longer the one inspected ("" while it is).
func (r *shardRun) purgeBatch(ctx context.Context, t *discovery.Table, created time.Time, rows int) (n int64, replaced string, err error) {
	name := dbconn.QualifiedName(t.Schema, t.Name)
	tx, err := r.conn.BeginTxx(ctx, nil)
	if err != nil {
		return 0, "", err
	}
	defer func() { _ = tx.Rollback() }()
	// Both statements carry an alias of janitor's: the digest keeps it (not the
	// comment), and it tells them from an application's statements of the same shape
	// (discovery's ownPurgeStatement), which are a use of the table.
	if _, err := tx.ExecContext(ctx, discovery.PurgeLock(name)); err != nil {
		if dbconn.IsError(err, dbconn.ErrNoSuchTable) {
			return 0, "the table was dropped during the purge", nil
		}
		return 0, "", err
	}
	var now sql.NullTime
	err = tx.QueryRowxContext(ctx, "SELECT /* janitor purge */ CREATE_TIME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		t.Schema, t.Name).Scan(&now)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, "the table was dropped during the purge", nil
	case err != nil:
		return 0, "", err
	case !now.Valid || !now.Time.UTC().Equal(created.UTC()):
		return 0, fmt.Sprintf("the table was replaced during the purge (CREATE_TIME %s, was %s)",
			fmtTime(now), created.UTC().Format(time.DateTime)), nil
	}
	res, err := tx.ExecContext(ctx, discovery.PurgeDelete(name, rows))
	if err != nil {
		return 0, "", err
	}
	n, _ = res.RowsAffected()
	return n, "", tx.Commit()
}

func fmtTime(t sql.NullTime) string {
	if !t.Valid {
		return "unknown"
	}
	return t.Time.UTC().Format(time.DateTime)
}
