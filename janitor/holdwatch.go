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
// report, the log, Slack and janitor_hold_restored_total say so. An access by the hold
// name, or a 1146 no statistic attributes to a table, keeps the table
// (accessed_during_hold) and alerts, without a restore: whoever reads the hold name
// found it there, and an unattributed error may be another table's.

// asked reports whether a candidate is a held table someone asked for by its name.
func asked(c candidate) bool {
	t := c.table
	return t.Tool == discovery.ToolJanitor && t.Hold != nil && c.verdict.Code == policies.CodeAccessedDuringHold &&
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
// partners, on the connection that holds the drop lock (so never racing a DROP). A
// restore that fails is a failed table: the application is still broken.
func (r *shardRun) restoreAsked(ctx context.Context, cands []candidate) {
	done := map[string]bool{}
	for _, c := range cands {
		t := c.table
		if !asked(c) || done[t.Schema+"\x00"+t.Name] {
			continue
		}
		row := &r.s.Tables[c.row]
		restored, err := r.restoreHeld(ctx, t)
		if err != nil {
			row.Outcome = report.OutcomeFailed
			row.Reason = fmt.Sprintf("asked for by its original name during the hold, and the automatic restore failed: %v; restore it by hand with `janitor restore --shard %s %s` (%s)",
				err, discovery.QuoteArg(r.sc.Name), discovery.QuoteArg(t.Schema+"."+t.Hold.Table), row.Reason)
			r.log.ErrorContext(ctx, "could not restore a held table asked for by its original name", "table", dbconn.QualifiedName(t.Schema, t.Name),
				"original", t.Hold.Table, "err", err)
			continue
		}
		for _, res := range restored {
			done[res.Schema+"\x00"+res.HoldName] = true
			for i := range r.s.Tables {
				rw := &r.s.Tables[i]
				if rw.Schema != res.Schema || rw.Table != res.HoldName {
					continue
				}
				rw.Outcome, rw.OriginalTable = report.OutcomeRestored, res.Table
				why := strings.Join(t.Evidence.Hold.AskedFor, "; ")
				if rw.Table != t.Name {
					why = "held with " + t.Name + " (was " + t.Hold.Table + "), which was asked for by its original name"
				}
				rw.Reason = fmt.Sprintf("restored to %s (held until %s UTC): %s", res.Table, res.Until.Format(time.DateTime), why)
				if !res.Marked {
					rw.Reason += "; " + res.Note + "; to keep it, add to policy.keep: " + res.KeepEntry
				}
				if r.j.Hooks.HoldRestored != nil {
					r.j.Hooks.HoldRestored(r.sc.Name, rw.Tool)
				}
			}
			r.log.WarnContext(ctx, "restored a held table: a statement asked for it by its original name during the hold",
				"table", dbconn.QualifiedName(res.Schema, res.Table), "hold_name", res.HoldName, "evidence", strings.Join(t.Evidence.Hold.AskedFor, "; "))
		}
	}
}

// restoreHeld restores one held table (and its group) found by its hold name.
func (r *shardRun) restoreHeld(ctx context.Context, t *discovery.Table) ([]Restored, error) {
	holds, err := r.listHolds(ctx, t.Schema)
	if err != nil {
		return nil, err
	}
	for _, h := range holds {
		if h.HoldName == t.Name {
			return r.restoreGroup(ctx, t.Schema, h, holds)
		}
	}
	return nil, fmt.Errorf("%s is no longer held (restored or dropped since discovery)", dbconn.QualifiedName(t.Schema, t.Name))
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
	var cands []candidate
	if err := j.inventory(ctx, g, sc, s, func(t *discovery.Table, v policies.Verdict) {
		cands = append(cands, candidate{table: t, verdict: v, row: len(s.Tables) - 1})
	}); err != nil {
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
	r := &shardRun{j: j, sc: sc, s: s, log: j.log.With("shard", sc.Name), budget: newBudget(j.cfg.Execute, g)}
	defer r.close()
	db, err := j.openForDrops(ctx, sc.DSN)
	if err != nil {
		return err
	}
	r.db = db
	r.closers = append(r.closers, db.Close)
	if err := r.connect(ctx, ""); err != nil {
		var stop *errStop
		if errors.As(err, &stop) {
			s.Blocked, s.BlockedCode = stop.why, stop.code
			return nil
		}
		return err
	}
	r.restoreAsked(ctx, cands)
	r.recordAccesses(ctx, cands)
	return nil
}

// toRecord reports whether a candidate is a held table kept for an access during its
// hold (not asked for: that one is restored) whose hold record does not say so yet.
func toRecord(c candidate) bool {
	t := c.table
	return t.Tool == discovery.ToolJanitor && t.Hold != nil && t.Hold.Accessed == nil && t.Hold.PurgeStarted == nil &&
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

func (r *shardRun) recordAccess(ctx context.Context, t *discovery.Table) error {
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
