package janitor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/report"
	"github.com/janitorhq/janitor/throttle"
)

// purgeRecheckEvery is how often a running purge re-checks all the evidence, as before
// a DROP: a purge can take hours.
const purgeRecheckEvery = 30 * time.Second

// errReplaced: the table under the purged name is no longer the one inspected.
type errReplaced struct{ why string }

func (e *errReplaced) Error() string { return e.why }

// purge deletes a large table's rows in throttled batches before its DROP, as Vitess'
// table GC does, so the DROP has fewer pages to evict. A purge runs for minutes or hours
// under a name a tool may reuse (gh-ost --initially-drop-ghost-table and Spirit drop and
// recreate their tables), so every batch first checks, under the table's metadata lock,
// that the table is still the one inspected, and all the evidence is re-checked every
// purgeRecheckEvery. It returns a non-nil outcome when the table must not be dropped in
// this run.
func (r *shardRun) purge(ctx context.Context, t *discovery.Table) (*outcome, error) {
	lt := r.j.cfg.Execute.LargeTable
	name := dbconn.QualifiedName(t.Schema, t.Name)
	if t.CreatedAt == nil {
		// Without CREATE_TIME the table under this name cannot be told from a new one.
		r.log.WarnContext(ctx, "no CREATE_TIME to tell this table from a recreated one: dropping without a purge", "table", name)
		return nil, nil
	}
	var total int64
	start, checked := time.Now(), time.Now()
	for {
		if err := r.thr.Wait(ctx, r.j.cfg.ThrottleFor(r.sc).MaxWait); err != nil {
			// As before a DROP: a fleet unhealthy for max_wait defers the rest of the shard
			// (and names the signal), not only this table.
			var b *throttle.Blocked
			if errors.As(err, &b) {
				return nil, &errStop{fmt.Sprintf("purge paused after %d rows: %s", total, b.Error())}
			}
			return nil, &errStop{fmt.Sprintf("stopped by signal while purging (%d rows purged)", total)}
		}
		if md := r.j.cfg.Execute.MaxDuration; md > 0 && time.Since(r.execStarted) >= md {
			return nil, &errStop{fmt.Sprintf("execute.max_duration %s reached during a purge (%d rows purged): the table stays for a later run", md, total)}
		}
		if time.Since(checked) >= purgeRecheckEvery {
			notSent := false
			if _, out, err := r.recheck(ctx, t, &notSent, true); out != nil || err != nil {
				if out != nil {
					out.reason = fmt.Sprintf("purge stopped after %d rows: %s", total, out.reason)
				}
				return out, err
			}
			checked = time.Now()
		}
		if h := r.j.Hooks.PurgeBatch; h != nil {
			h(r.sc.Name, t.Schema, t.Name, total)
		}
		bctx, cancel := context.WithTimeout(ctx, r.j.cfg.Execute.LockWaitTimeout+r.j.cfg.Execute.DropTimeout)
		n, err := r.purgeBatch(bctx, t, *t.CreatedAt, lt.BatchRows)
		cancel()
		var replaced *errReplaced
		switch {
		case errors.As(err, &replaced):
			return &outcome{report.OutcomeSkipped, fmt.Sprintf("purge stopped after %d rows: %s: a new migration may own it", total, replaced.why), 0}, nil
		case connectionLost(err):
			return nil, err
		case err != nil:
			return &outcome{report.OutcomeDeferred, fmt.Sprintf("purge stopped after %d rows: %v", total, err), 0}, nil
		}
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

// purgeBatch deletes up to rows rows in one transaction. Reading the table first takes
// its metadata lock until the commit, so nobody can drop, rename or recreate it between
// the identity check (CREATE_TIME, as inspected) and the DELETE.
func (r *shardRun) purgeBatch(ctx context.Context, t *discovery.Table, created time.Time, rows int) (int64, error) {
	name := dbconn.QualifiedName(t.Schema, t.Name)
	tx, err := r.conn.BeginTxx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "SELECT /* janitor purge */ 1 FROM "+name+" LIMIT 0"); err != nil {
		if dbconn.IsError(err, dbconn.ErrNoSuchTable) {
			return 0, &errReplaced{"the table was dropped during the purge"}
		}
		return 0, err
	}
	var now sql.NullTime
	err = tx.QueryRowxContext(ctx, "SELECT /* janitor purge */ CREATE_TIME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		t.Schema, t.Name).Scan(&now)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, &errReplaced{"the table was dropped during the purge"}
	case err != nil:
		return 0, err
	case !now.Valid || !now.Time.UTC().Equal(created.UTC()):
		return 0, &errReplaced{fmt.Sprintf("the table was replaced during the purge (CREATE_TIME %s, was %s)",
			fmtTime(now), created.UTC().Format(time.DateTime))}
	}
	res, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE /* janitor purge */ FROM %s LIMIT %d", name, rows))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, tx.Commit()
}

func fmtTime(t sql.NullTime) string {
	if !t.Valid {
		return "unknown"
	}
	return t.Time.UTC().Format(time.DateTime)
}
