package janitor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/report"
)

// A hold exists to catch a use that static evidence cannot see, and the use it catches
// is a statement that asks for the table by its original name and fails with 1146:
// the application is broken from the RENAME on. So a held table that someone asked for
// (discovery's HoldEvidence.AskedFor: a statement digest or a failed statement naming
// the original name since the hold began) is not only kept: an execute run renames it
// back before it does anything else on the shard, as `janitor restore` would, and the
// report, the log, Slack and janitor_hold_restored_total (Hooks.HoldMoved: the RENAME
// back) say so. An access by the hold
// name, or a 1146 no statistic attributes to a table, keeps the table
// (accessed_during_hold) and alerts, without a restore: whoever reads the hold name
// found it there, and an unattributed error may be another table's.

// asked reports whether a candidate is a held table someone asked for by its name.
func asked(c candidate) bool {
	t := c.table
	return t.HoldState().UnderHold() && c.verdict.Code == policies.CodeAccessedDuringHold &&
		len(t.Evidence.Hold.AskedFor) > 0
}

// planRestores tells, in a dry run's plan, which held tables --execute would restore.
func (j *Janitor) planRestores(cands []candidate, s *report.Shard, execute bool) {
	if execute {
		return
	}
	for _, c := range cands {
		if asked(c) {
			s.Tables[c.row].Reason += "; --execute restores it to its original name at once"
		}
	}
}

// restoreAsked restores every held table someone asked for, with its migration's
// partners. Each restore passes the guard (restoreGroup) under the tables' own locks, so
// it never races a DROP. A restore that fails is a failed table: the application is
// still broken. One the guard defers is a deferred table whose reason begins "restore
// deferred" and names what it waits for; the next look (`janitor holds` within minutes)
// tries again, and Hooks.RestoreDeferred is told. A stop (the budget, the throttle, an
// applier blocked) ends the restores and is returned: the shard does no more this run.
func (r *shardRun) restoreAsked(ctx context.Context, cands []candidate) *errStop {
	done := map[string]bool{}
	for i, c := range cands {
		t := c.table
		if !asked(c) || done[t.Schema+"\x00"+t.Name] {
			continue
		}
		row := &r.s.Tables[c.row]
		restored, d, err := r.restoreHeld(ctx, t)
		if err == nil && !d.proceed && d.stop == nil && d.out.outcome != report.OutcomeDeferred {
			// Gone or no longer held since discovery, or a check that leaves the table
			// for a person (a replica that would not apply the RENAME back): not restored,
			// and no later look will do better by itself.
			err = errors.New(d.out.reason)
		}
		if err != nil {
			row.Outcome = report.OutcomeFailed
			row.Reason = fmt.Sprintf("asked for by its original name during the hold, and the automatic restore failed: %v; restore it by hand with `janitor restore --shard %s %s` (%s)",
				err, discovery.QuoteArg(r.sc.Name), discovery.QuoteArg(t.Schema+"."+t.Hold.Table), row.Reason)
			r.log.ErrorContext(ctx, "could not restore a held table asked for by its original name", "table", dbconn.QualifiedName(t.Schema, t.Name),
				"original", t.Hold.Table, "err", err)
			continue
		}
		r.markRestored(ctx, t, restored)
		for _, res := range restored {
			done[res.Schema+"\x00"+res.HoldName] = true
		}
		if d.stop == nil && d.proceed {
			continue
		}
		why := d.out.reason
		if d.stop != nil {
			why = d.stop.why
		}
		if len(restored) == 0 {
			r.restoreDeferred(ctx, c, why)
		}
		if d.stop != nil {
			for _, o := range cands[i+1:] {
				if asked(o) && !done[o.table.Schema+"\x00"+o.table.Name] {
					r.restoreDeferred(ctx, o, why)
				}
			}
			return d.stop
		}
	}
	return nil
}

// RestoreDeferredReason begins the report reason of a held table asked for by its
// original name whose restore was deferred (its outcome is deferred).
const RestoreDeferredReason = "restore deferred: "

// restoreDeferred reports a restore the guard deferred: the table is still missing
// under its original name, and an application may be failing on it.
func (r *shardRun) restoreDeferred(ctx context.Context, c candidate, why string) {
	t := c.table
	row := &r.s.Tables[c.row]
	row.Outcome = report.OutcomeDeferred
	row.Reason = fmt.Sprintf(RestoreDeferredReason+"%s; asked for by its original name during the hold (%s), it stays held as %s, and the next `janitor holds --execute` tries again; to restore it by hand once that is gone: `janitor restore --shard %s %s`",
		why, strings.Join(t.Evidence.Hold.AskedFor, "; "), t.Name, discovery.QuoteArg(r.sc.Name), discovery.QuoteArg(t.Schema+"."+t.Hold.Table))
	r.log.WarnContext(ctx, "restore deferred: a held table asked for by its original name is still held", "table", dbconn.QualifiedName(t.Schema, t.Name),
		"original", t.Hold.Table, "reason", why)
	if h := r.j.Hooks.RestoreDeferred; h != nil {
		h(r.sc.Name)
	}
}

// markRestored fills the report rows of the tables a restore gave their names back; t
// is the table that was asked for.
func (r *shardRun) markRestored(ctx context.Context, t *discovery.Table, restored []Restored) {
	for _, res := range restored {
		for i := range r.s.Tables {
			rw := &r.s.Tables[i]
			if rw.Schema != res.Schema || rw.Table != res.HoldName {
				continue
			}
			rw.Outcome, rw.OriginalTable, rw.HoldState = report.OutcomeRestored, res.Table, res.State.String()
			why := strings.Join(t.Evidence.Hold.AskedFor, "; ")
			if rw.Table != t.Name {
				why = "held with " + t.Name + " (was " + t.Hold.Table + "), which was asked for by its original name"
			}
			rw.Reason = fmt.Sprintf("restored to %s (held until %s UTC): %s", res.Table, res.Until.Format(time.DateTime), why)
			if !res.Marked {
				rw.Reason += "; " + res.Note + "; to keep it, add to policy.keep: " + res.KeepEntry
			}
		}
		r.log.WarnContext(ctx, "restored a held table: a statement asked for it by its original name during the hold",
			"table", dbconn.QualifiedName(res.Schema, res.Table), "hold_name", res.HoldName, "evidence", strings.Join(t.Evidence.Hold.AskedFor, "; "))
	}
}

// restoreHeld restores one held table (and its group) found by its hold name.
func (r *shardRun) restoreHeld(ctx context.Context, t *discovery.Table) ([]Restored, decision, error) {
	holds, err := r.listHolds(ctx, t.Schema)
	if err != nil {
		return nil, decision{}, err
	}
	for _, h := range holds {
		if h.HoldName == t.Name {
			return r.restoreGroup(ctx, t.Schema, h, holds, t)
		}
	}
	return nil, leave(outcome{report.OutcomeSkipped, "no longer held (restored or dropped since discovery)", 0}), nil
}

// WatchHolds is the frequent, light look at janitor's holds (`janitor holds`): on every
// shard it lists the names, inspects the held tables only, and with execute restores
// each one someone asked for by its original name. It never holds or drops: a hold
// that ended untouched waits for the next `janitor run --execute`. Its cost per shard
// is the name listing and the statement statistics (one read each), whatever the
// number of leftovers, so it can run every few minutes: an application failing on a
// held name is repaired within that interval, not at the next nightly run.
func (j *Janitor) WatchHolds(ctx context.Context, execute bool) *report.Report {
	w := *j
	w.holdsOnly = true
	return w.eachShardRun(ctx, execute, w.watchShard)
}

func (j *Janitor) watchShard(ctx context.Context, g *gates, sc ShardConfig, s *report.Shard, execute bool) error {
	cands, err := j.candidates(ctx, g, sc, s)
	if err != nil {
		return err
	}
	var restore, record bool
	for _, c := range cands {
		row := &s.Tables[c.row]
		record = record || toRecord(c)
		switch {
		case asked(c):
			restore = true
			if !execute {
				row.Outcome = report.OutcomePlanned
				row.Reason += "; `janitor holds --execute` restores it to its original name"
			}
		case c.verdict.Action == policies.Drop:
			row.Outcome, row.Reason = report.OutcomeDeferred, row.Reason+"; `janitor holds` only restores: the next `janitor run --execute` drops it"
		default:
			row.Outcome = report.OutcomeSkipped
		}
	}
	if !execute || !restore && !record {
		return nil
	}
	// Its own lock, not the run's: a run holding janitor.dropper for hours must not keep
	// the table missing (tablelock.go).
	r, err := j.restoreRun(ctx, g, sc, s)
	if r != nil {
		defer r.close()
	}
	if err != nil {
		var stop *errStop
		if errors.As(err, &stop) {
			s.Blocked, s.BlockedCode = stop.why, stop.code
			for _, c := range cands {
				if asked(c) {
					r.restoreDeferred(ctx, c, stop.why)
				}
			}
			return nil
		}
		return err
	}
	if stop := r.restoreAsked(ctx, cands); stop != nil {
		s.Blocked, s.BlockedCode = stop.why, stop.code
		return nil
	}
	r.recordAccesses(ctx, cands)
	return nil
}

// toRecord reports whether a candidate is a held table kept for an access during its
// hold (not asked for: that one is restored) whose hold record does not say so yet.
func toRecord(c candidate) bool {
	t := c.table
	st := t.HoldState()
	return (st == discovery.HoldRenamed || st == discovery.HoldHeld) && t.Hold.Accessed == nil &&
		c.verdict.Code == policies.CodeAccessedDuringHold && !asked(c)
}

// maxRecordedWhat bounds the evidence a hold record keeps of an access: the record and
// the table's own comment share the server's 2,048 characters.
const maxRecordedWhat = 400

// recordAccesses writes into the hold record of each held table kept for an access
// during its hold that it was, so that no later run drops it: the evidence that kept
// it may be gone by then (an account's 1146 in MySQL's error summary is only its
// latest, a session's statement history only its last ten). Such a table stays until
// someone restores or drops it by hand (docs/dropping.md). A record that cannot be
// written is logged: this run keeps the table anyway, and the next one tries again.
func (r *shardRun) recordAccesses(ctx context.Context, cands []candidate) {
	for _, c := range cands {
		if !toRecord(c) {
			continue
		}
		t := c.table
		if err := r.recordAccess(ctx, t); err != nil {
			r.log.WarnContext(ctx, "could not record the access during the hold in the hold record", "table", dbconn.QualifiedName(t.Schema, t.Name), "err", err)
		}
	}
}

// recordAccess writes the record with a comment change, which is DDL: on MySQL 8+ it
// locks the table's foreign-key children, and it replicates. So it waits for the same
// things as every statement janitor sends (the guard's lock and replica checks, under
// the table's lock shared with restores), but with no re-check of the policies, which
// would only say again that the table is kept. A check that says not now leaves the
// record to the next run: the table is kept this run either way.
func (r *shardRun) recordAccess(ctx context.Context, t *discovery.Table) error {
	release, busy, err := r.lockTables(ctx, t.Schema, t.Name)
	if err != nil || busy != "" {
		return errors.Join(err, errNotNow(busy))
	}
	defer release()
	if _, d := r.waitHealthy(ctx); !d.proceed {
		return errNotNow(d.stop.why)
	}
	d, err := stopOf(r.preDropChecks(ctx, t))
	switch {
	case err != nil:
		return err
	case d.stop != nil:
		return errNotNow(d.stop.why)
	case !d.proceed:
		return errNotNow(d.out.reason)
	}
	var now time.Time
	if err := r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ UTC_TIMESTAMP(6)").Scan(&now); err != nil {
		return err
	}
	h := *t.Hold
	what := []rune(strings.Join(append(append([]string{}, t.Evidence.Hold.Accesses...), t.Evidence.Sessions...), "; "))
	if len(what) > maxRecordedWhat {
		what = append(what[:maxRecordedWhat], '…')
	}
	h.Accessed = &discovery.RecordedAccess{At: now.UTC(), What: string(what)}
	if b := h.Baseline; b != nil && b.Lock != nil {
		// The comment change takes one table lock (recordBaseline): not an access.
		nb, own := *b, *b.Lock+1
		nb.Lock = &own
		h.Baseline = &nb
	}
	text, err := h.CommentText()
	if err != nil {
		// The table's own comment leaves no room for the evidence: the time alone.
		h.Accessed.What = ""
		if text, err = h.CommentText(); err != nil {
			return err
		}
	}
	if err := setComment(ctx, r.conn, r.server, dbconn.QualifiedName(t.Schema, t.Name), text); err != nil {
		return err
	}
	t.Hold = &h
	return nil
}

// holdNames keeps janitor's hold names.
func holdNames(names []discovery.Name) []discovery.Name {
	var out []discovery.Name
	for _, n := range names {
		if !n.Orphan && discovery.IsHoldName(n.Table) {
			out = append(out, n)
		}
	}
	return out
}

// errNotNow is a statement left to a later run, saying why (nil when why is empty).
func errNotNow(why string) error {
	if why == "" {
		return nil
	}
	return errors.New("not now: " + why)
}
