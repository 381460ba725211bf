package janitor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/report"
)

// holdState is one shard run's memory of its holds.
type holdState struct {
	// until is the hold end given to each migration group this run, so a migration's
	// tables held in one run end their hold together.
	until map[string]time.Time
	// last is the record of the hold the last holdOne made.
	last *discovery.Hold
	// state is the hold state of the table the dropper works on, as discovery read it
	// and janitor's statements since moved it (step).
	state discovery.HoldState
}

// holdsTable reports whether a candidate gets a hold rather than an immediate DROP. Vitess
// holds its own tables (its table GC renames them before it purges or drops them); a
// crashed ALTER's #sql table has no name anyone uses; a table janitor already holds
// ends its hold in a DROP.
func (r *shardRun) holdsTable(t *discovery.Table) bool { return r.j.holdsTable(t) }

func (j *Janitor) holdsTable(t *discovery.Table) bool {
	return j.cfg.Execute.Hold > 0 && !t.Orphan && t.Tool != discovery.ToolVitess && t.Tool != discovery.ToolJanitor
}

// planHolds tells, in a dry run's plan, which drops would be holds first.
func (j *Janitor) planHolds(cands []candidate, s *report.Shard, execute bool) {
	if execute {
		return
	}
	for _, c := range cands {
		if row := &s.Tables[c.row]; row.Outcome == report.OutcomePlanned && j.holdsTable(c.table) {
			row.Reason += fmt.Sprintf("; --execute holds it first (renamed for execute.hold %s, dropped by a later run if untouched)", j.cfg.Execute.Hold)
		}
	}
}

// dropOrHold is the one step dropWithRetry repeats: a hold's RENAME or a DROP, under
// the table's lock (tablelock.go), so that a restore never renames it back between the
// re-check and the statement.
func (r *shardRun) dropOrHold(ctx context.Context, c candidate) (decision, error) {
	release, busy, err := r.lockTables(ctx, c.table.Schema, c.table.Name)
	if err != nil {
		return decision{}, err
	}
	if busy != "" {
		return leave(outcome{report.OutcomeDeferred, busy + " (a restore): the next run looks at it again", 0}), nil
	}
	defer release()
	if r.holdsTable(c.table) {
		return r.holdOne(ctx, c)
	}
	return r.dropOne(ctx, c)
}

// held fills a report row from a hold just made (its hold_state came with each move:
// moved); it reports whether out is one.
func (r *shardRun) held(row *report.Table, out outcome) bool {
	h := r.holds.last
	if out.outcome != report.OutcomeHeld || h == nil {
		return false
	}
	u := h.Until
	row.HeldUntil, row.OriginalTable, row.HoldName = &u, h.Table, h.HoldName
	return true
}

// moved tells of a hold state change a statement of janitor's made: the report row's
// hold_state (row may be nil: `janitor restore` has no report), and Hooks.HoldMoved. A
// move the lifecycle does not allow is a bug, logged and not told: every move a
// consumer is told of is one of discovery.HoldState's.
func (r *shardRun) moved(ctx context.Context, row *report.Table, m discovery.HoldMove) {
	if !m.From.CanMove(m.To) {
		r.log.ErrorContext(ctx, "a hold state change the lifecycle does not allow (a bug): not told",
			"table", dbconn.QualifiedName(m.Schema, m.HoldName), "original", m.Original, "from", m.From, "to", m.To)
		return
	}
	m.Shard = r.sc.Name
	if row != nil {
		row.HoldState = m.To.String()
	}
	if hook := r.j.Hooks.HoldMoved; hook != nil {
		hook(m)
	}
}

// step tells of a move of the table the dropper works on, whose record is h, from the
// state it was last known in to to.
func (r *shardRun) step(ctx context.Context, row *report.Table, h *discovery.Hold, to discovery.HoldState) {
	r.moved(ctx, row, holdMove(h, r.holds.state, to))
	r.holds.state = to
}

// holdMove is the move of the table h records from one state to another.
func holdMove(h *discovery.Hold, from, to discovery.HoldState) discovery.HoldMove {
	return discovery.HoldMove{Schema: h.Schema, Original: h.Table, HoldName: h.HoldName, Tool: h.Tool, From: from, To: to}
}

// recordOf is the hold record of a table in a state that has one: the record discovery
// parsed (a held table's, updated by markPurge), else its comment's (recorded).
func recordOf(t *discovery.Table) *discovery.Hold {
	if t.Hold != nil {
		return t.Hold
	}
	h, _ := discovery.ParseHold(t.Comment)
	return &h
}

// row is the report row of a candidate; nil without a report.
func (r *shardRun) row(c candidate) *report.Table {
	if r.s == nil {
		return nil
	}
	return &r.s.Tables[c.row]
}

// holdRow fills the hold columns of a report row for a table janitor holds.
func holdRow(row *report.Table, t *discovery.Table) {
	if st := t.HoldState(); st != discovery.HoldNone {
		row.HoldState = st.String()
	}
	h := t.JanitorHold()
	if h == nil {
		return
	}
	u := h.Until
	row.HeldUntil, row.OriginalTable, row.HoldName = &u, h.Table, t.Name
	if row.BaseTable == "" {
		row.BaseTable = h.Base
	}
}

// holdGroups evaluates every table, then keeps each held table whose migration has
// another held table that is kept (accessed, or not due): a migration's tables were
// held together and end together, so a person restoring one finds the others.
func holdGroups(tables []*discovery.Table, eval func(*discovery.Table) policies.Verdict) []policies.Verdict {
	vs := make([]policies.Verdict, len(tables))
	kept := map[string]int{}
	key := func(t *discovery.Table) string {
		h := t.JanitorHold()
		if h == nil || h.Group == "" {
			return ""
		}
		return t.Schema + "\x00" + h.Group + "\x00" + h.Until.UTC().Format(time.RFC3339)
	}
	for i, t := range tables {
		vs[i] = eval(t)
		if k := key(t); k != "" && vs[i].Action == policies.Skip {
			if _, ok := kept[k]; !ok {
				kept[k] = i
			}
		}
	}
	for i, t := range tables {
		k := key(t)
		if k == "" || vs[i].Action != policies.Drop {
			continue
		}
		if o, ok := kept[k]; ok {
			other := tables[o]
			vs[i] = policies.Verdict{Action: policies.Skip, Code: vs[o].Code, Reason: fmt.Sprintf(
				"held with %s (was %s) of the same %s migration, which is kept: %s", other.Name, other.Hold.Table, other.Hold.Tool, vs[o].Reason)}
		}
	}
	return vs
}

// holdOne renames one dead leftover to a hold name, under every precondition of a
// DROP: the guard (budget, throttle, the fresh re-check on the dropping connection, which
// holds the drop lock, and preDropChecks), then applyHold.
func (r *shardRun) holdOne(ctx context.Context, c candidate) (decision, error) {
	r.holds.last = nil
	t := c.table
	if f := r.inFlight; f != nil && f.hold != nil {
		// The connection died after the RENAME went out: the hold name tells.
		if ok, err := tableExists(ctx, r.conn, t.Schema, f.hold.HoldName); err != nil {
			return decision{}, err
		} else if ok {
			r.holds.last = f.hold
			if !r.holds.state.UnderHold() {
				// The RENAME's answer was lost: its move was not told.
				r.step(ctx, r.row(c), f.hold, discovery.HoldRenamed)
			}
			return leave(r.heldOutcome(f.hold, "held (confirmed after the connection was lost; no access baseline recorded)")), nil
		}
	}
	if err := r.adoptOwnComment(ctx, t); err != nil {
		return decision{}, err
	}
	r.inFlight = nil
	g, err := r.guard(ctx, t, guardOpts{})
	if err != nil || !g.proceed {
		return g.decision, err
	}
	return r.applyHold(ctx, r.row(c), g.fresh)
}

// applyHold holds a table the guard cleared. The hold record goes into the table's
// comment before the RENAME, so a hold name never exists without it; the access baseline
// is added after the RENAME, when the table can no longer be reached by its old name.
func (r *shardRun) applyHold(ctx context.Context, row *report.Table, fresh *discovery.Table) (decision, error) {
	srv, err := discovery.ReadServer(ctx, r.conn)
	if err != nil {
		return decision{}, err
	}
	var now time.Time
	if err := r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ UTC_TIMESTAMP(6)").Scan(&now); err != nil {
		return decision{}, fmt.Errorf("read server time: %w", err)
	}
	now = now.UTC()
	group := discovery.GroupOf(fresh)
	until := now.Add(r.j.cfg.Execute.Hold).Truncate(time.Second)
	if group != "" {
		if r.holds.until == nil {
			r.holds.until = map[string]time.Time{}
		}
		gk := fresh.Schema + "\x00" + group
		if u, ok := r.holds.until[gk]; ok {
			until = u
		} else {
			r.holds.until[gk] = until
		}
	}
	h := &discovery.Hold{
		Schema: fresh.Schema, Table: fresh.Name, HoldName: discovery.HoldName(fresh.Schema, fresh.Name, now, until),
		HeldAt: now, Until: until, Tool: fresh.Tool, Role: fresh.Role, Base: fresh.Base, Group: group,
		Comment: discovery.OriginalComment(fresh.Comment),
	}
	text, err := h.CommentText()
	if err != nil {
		return leave(outcome{report.OutcomeSkipped, "cannot hold: " + err.Error() + "; drop it by hand, or set execute.hold 0s to drop such tables at once", 0}), nil
	}
	name := dbconn.QualifiedName(fresh.Schema, fresh.Name)
	holdName := dbconn.QualifiedName(fresh.Schema, h.HoldName)
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.j.cfg.Execute.LockWaitTimeout+r.j.cfg.Execute.DropTimeout)
	defer cancel()
	if err := r.send(dctx, &inFlight{comment: text}, commentStmt(srv, name), text); connectionLost(err) {
		// Not a failed table: dropWithRetry reconnects, and the guard clears it again
		// (adoptOwnComment first). The record may be in the comment already; under the
		// table's own name it is inert, and the next hold rewrites it.
		return decision{}, err
	} else if d := r.holdStatementFailed(err, "record the hold in the comment"); !d.proceed {
		return d, nil
	}
	r.step(ctx, row, h, discovery.HoldRecorded)
	r.log.InfoContext(ctx, "holding", "table", name, "hold_name", h.HoldName, "until", until, "tool", fresh.Tool, "role", fresh.Role)
	// The comment goes with the RENAME's marker: a RENAME lost before it took effect
	// leaves the table under its name with the record, and a renewed CREATE_TIME.
	if err := r.send(dctx, &inFlight{hold: h, comment: text}, "RENAME /* janitor */ TABLE "+name+" TO "+holdName); err != nil {
		if connectionLost(err) {
			return decision{}, err
		}
		if d := r.holdStatementFailed(err, "RENAME"); !d.proceed {
			return d, nil
		}
	}
	if hook := r.j.Hooks.AfterHoldRename; hook != nil {
		hook(r.sc.Name, fresh.Schema, h.HoldName)
	}
	r.holds.last = h
	r.step(ctx, row, h, discovery.HoldRenamed)
	note := ""
	err = r.recordBaseline(dctx, srv, h, holdName)
	if h.State() == discovery.HoldHeld {
		// Written, whatever came after (recordBaseline's correction of the lock count).
		r.step(ctx, row, h, discovery.HoldHeld)
	}
	if err != nil {
		if connectionLost(err) {
			return decision{}, err
		}
		r.log.WarnContext(ctx, "held without an access baseline", "table", holdName, "err", err)
		note = " (no access baseline recorded: " + err.Error() + ")"
	}
	r.log.InfoContext(ctx, "held", "table", name, "hold_name", h.HoldName, "until", until)
	return leave(r.heldOutcome(h, "held"+note)), nil
}

func (r *shardRun) heldOutcome(h *discovery.Hold, what string) outcome {
	return outcome{report.OutcomeHeld, fmt.Sprintf("%s as %s until %s UTC; a later run drops it if nothing touches it; restore with `%s`",
		what, h.HoldName, h.Until.Format(time.DateTime), discovery.RestoreCommand(r.sc.Name, h.Schema, h.Table)), 0}
}

// holdStatementFailed turns a hold statement's error into a decision: proceed when there
// is none, else leave the table with the outcome the error means.
func (r *shardRun) holdStatementFailed(err error, what string) decision {
	switch {
	case err == nil:
		return proceed()
	case dbconn.IsError(err, dbconn.ErrLockWaitTimeout, dbconn.ErrLockDeadlock):
		return leave(outcome{report.OutcomeDeferred, r.lockWaitReason(what), 0})
	case dbconn.IsError(err, dbconn.ErrBadTable, dbconn.ErrNoSuchTable):
		return leave(outcome{report.OutcomeSkipped, "no longer exists (dropped by someone else)", 0})
	case dbconn.IsError(err, errAlgorithmNotSupported, errAlterOperationNotSupported):
		return leave(outcome{report.OutcomeSkipped, "not held: changing its comment would copy the table on this server (" + err.Error() + "); drop it by hand, or set execute.hold 0s", 0})
	}
	return leave(outcome{report.OutcomeFailed, "hold: " + what + " failed: " + err.Error(), 0})
}

// MySQL's and MariaDB's refusals of an ALTER's ALGORITHM or LOCK clause.
const (
	errAlgorithmNotSupported      = 1845
	errAlterOperationNotSupported = 1846
)

// setComment changes a table's comment without copying the table: MariaDB changes it
// in place with ALGORITHM=INSTANT; MySQL 8.0 and 9.7 refuse INSTANT for a comment (1845)
// and change it in place (no rebuild: the .ibd file keeps its inode) with INPLACE and
// LOCK=NONE. A server that would copy the table refuses instead of copying.
func setComment(ctx context.Context, conn sqlx.ExecerContext, srv discovery.Server, name, comment string) error {
	_, err := conn.ExecContext(ctx, commentStmt(srv, name), comment)
	return err
}

// commentStmt is setComment's statement, the comment its one argument.
func commentStmt(srv discovery.Server, name string) string {
	clause := "ALGORITHM=INSTANT"
	if srv.Flavor != discovery.FlavorMariaDB {
		clause = "ALGORITHM=INPLACE, LOCK=NONE"
	}
	return "ALTER /* janitor */ TABLE " + name + " COMMENT = ?, " + clause
}

// adoptOwnComment runs first when a table's work starts over after a lost connection.
// A comment change janitor sent on the table (a hold record, a purge mark) may have taken
// effect without its answer arriving, and it renews CREATE_TIME (MariaDB and MySQL 9.7
// both): the re-check would read the table as replaced by another. The comment janitor
// wrote, found exactly, proves the table is the one it changed (as markPurge's own
// check does): its new CREATE_TIME, and hold record, become the candidate's.
func (r *shardRun) adoptOwnComment(ctx context.Context, t *discovery.Table) error {
	f := r.inFlight
	if f == nil || f.comment == "" {
		return nil
	}
	var created sql.NullTime
	var comment string
	err := r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ CREATE_TIME, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		t.Schema, t.Name).Scan(&created, &comment)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil // gone: the re-check says so
	case err != nil:
		return fmt.Errorf("read %s after a lost connection: %w", dbconn.QualifiedName(t.Schema, t.Name), err)
	case comment != f.comment || !created.Valid:
		return nil // not changed by janitor: the re-check judges it as it is
	}
	c := created.Time.UTC()
	t.CreatedAt = &c
	if h, ok := discovery.ParseHold(comment); ok && t.HoldState().UnderHold() {
		t.Hold = &h
	}
	return nil
}

// recordBaseline reads the held table's access counters and adds them to its hold record.
// The comment change that writes the record takes one table lock (performance_schema's
// wait/lock/table/sql/handler, measured on MariaDB 10.11 and 11.8 and MySQL 9.7), so
// the lock baseline written is the count read plus that one; the count is read again
// after the change, and a server where the change did not count gets the record
// rewritten with the count it shows (a baseline too high would hide one access).
func (r *shardRun) recordBaseline(ctx context.Context, srv discovery.Server, h *discovery.Hold, holdName string) error {
	var now time.Time
	if err := r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ UTC_TIMESTAMP(6)").Scan(&now); err != nil {
		return err
	}
	b := &discovery.AccessBaseline{ServerStarted: srv.Started(now.UTC()), Version: 2}
	c, err := discovery.ReadTableCounters(ctx, r.conn, h.Schema, h.HoldName)
	if err != nil {
		return err
	}
	if c.IOWhy == "" {
		b.IO = &c.IO
	}
	if c.LockWhy == "" {
		own := c.Lock + 1
		b.Lock = &own
	}
	var upd sql.NullTime
	if err := r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ UPDATE_TIME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		h.Schema, h.HoldName).Scan(&upd); err != nil {
		return err
	}
	if upd.Valid {
		u := upd.Time.UTC()
		b.UpdateTime = &u
	}
	if err := r.writeBaseline(ctx, srv, h, holdName, b); err != nil {
		return err
	}
	if b.Lock == nil {
		return nil
	}
	after, err := discovery.ReadTableCounters(ctx, r.conn, h.Schema, h.HoldName)
	if err != nil || after.LockWhy != "" || after.Lock >= *b.Lock {
		// Unreadable now, or higher: a later run sees an access, which keeps the table.
		return nil
	}
	r.log.WarnContext(ctx, "the hold's comment change did not count in performance_schema's table lock summary; recording the count as read",
		"table", holdName, "recorded", *b.Lock, "read", after.Lock)
	nb := *b
	nb.Lock = &after.Lock
	return r.writeBaseline(ctx, srv, h, holdName, &nb)
}

// writeBaseline writes h with baseline b into the held table's comment.
func (r *shardRun) writeBaseline(ctx context.Context, srv discovery.Server, h *discovery.Hold, holdName string, b *discovery.AccessBaseline) error {
	prev := h.Baseline
	h.Baseline = b
	text, err := h.CommentText()
	if err == nil {
		err = setComment(ctx, r.conn, srv, holdName, text)
	}
	if err != nil {
		h.Baseline = prev
	}
	return err
}

func tableExists(ctx context.Context, q sqlx.QueryerContext, schema, table string) (bool, error) {
	var n int
	err := q.QueryRowxContext(ctx, "SELECT /* janitor */ COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", schema, table).Scan(&n)
	return n > 0, err
}

// markPurge records in a held table's hold record that janitor's purge begins, so the
// purge's own DELETEs are not read as access by a later run if the purge is cut short.
// The comment change renews CREATE_TIME on MariaDB, so the table's identity (CREATE_TIME,
// checked by every purge batch and re-check) is read again, together with the comment
// that proves it is still the table just marked. A lost connection is an error, for
// dropWithRetry to reconnect and start the table over under the guard.
func (r *shardRun) markPurge(ctx context.Context, row *report.Table, cand, fresh *discovery.Table) (decision, error) {
	st := fresh.HoldState()
	if st == discovery.HoldPurging && r.holds.state != discovery.HoldPurging {
		// Marked before a lost connection, and adopted (adoptOwnComment): not told yet.
		r.step(ctx, row, fresh.Hold, discovery.HoldPurging)
	}
	if !st.CanMove(discovery.HoldPurging) {
		return proceed(), nil // not held, or marked already
	}
	h := *fresh.Hold
	var now time.Time
	if err := r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ UTC_TIMESTAMP(6)").Scan(&now); connectionLost(err) {
		return decision{}, err
	} else if err != nil {
		return leave(outcome{report.OutcomeDeferred, "read server time: " + err.Error(), 0}), nil
	}
	now = now.UTC()
	h.PurgeStarted = &now
	text, err := h.CommentText()
	if err != nil {
		return leave(outcome{report.OutcomeSkipped, "cannot record the purge in the hold record: " + err.Error(), 0}), nil
	}
	name := dbconn.QualifiedName(fresh.Schema, fresh.Name)
	if err := r.send(ctx, &inFlight{comment: text}, commentStmt(r.server, name), text); connectionLost(err) {
		return decision{}, err
	} else if d := r.holdStatementFailed(err, "record the purge in the comment"); !d.proceed {
		return d, nil
	}
	var created sql.NullTime
	var comment string
	err = r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ CREATE_TIME, TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		fresh.Schema, fresh.Name).Scan(&created, &comment)
	if connectionLost(err) {
		return decision{}, err
	}
	if err != nil || comment != text || !created.Valid {
		return leave(outcome{report.OutcomeSkipped, fmt.Sprintf("the table changed while janitor recorded its purge (comment or CREATE_TIME: %v)", err), 0}), nil
	}
	c := created.Time.UTC()
	fresh.CreatedAt, cand.CreatedAt = &c, &c
	fresh.Hold, cand.Hold = &h, &h
	r.step(ctx, row, &h, discovery.HoldPurging)
	// Known and adopted: a connection lost later in the purge has no statement in flight.
	r.inFlight = nil
	return proceed(), nil
}
