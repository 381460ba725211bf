package janitor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/report"
)

// Restored is one table a restore gave its name back.
type Restored struct {
	Schema   string
	HoldName string
	Table    string
	Until    time.Time
	// CommentRestored is false when the table is back under its name but its comment
	// still holds the hold record (running restore again finishes it).
	CommentRestored bool
	// Marked: the comment ends with the restore marker (discovery.RestoredMarker), so
	// later runs keep the table (reason restored). When false, Note says why and
	// KeepEntry is the policy.keep entry that keeps it instead.
	Marked    bool
	KeepEntry string
	Note      string
	// State is the table's hold state after the restore, from its comment as read back:
	// restored (marked), none (its own comment alone) or recorded (still the record).
	State discovery.HoldState
}

// ErrNotHeld: nothing janitor holds answers to the name given to Restore.
var ErrNotHeld = errors.New("not held by janitor")

// ErrRestoreDeferred: a check the guard makes before a restore's RENAME found it would
// stall a live table or a replica, or another janitor works on the table now; nothing
// was renamed, and running the restore again once the reason is gone restores it.
var ErrRestoreDeferred = errors.New("restore deferred")

// Restore renames a held table back to its original name, with its original comment,
// together with the other tables of its migration held in the same run. table is the
// original name or the hold name. It refuses, renaming nothing, when an original name
// is taken again. Its RENAME goes through the guard as a hold's does (restoreGroup), and
// when a check defers it the error wraps ErrRestoreDeferred with the reason. It takes
// RestoreLockName and the tables' own locks (tablelock.go), so it never races a run's
// DROP of the table, nor waits for a run to end; it needs nothing but the shard: the
// hold record is in the table's comment.
func (j *Janitor) Restore(ctx context.Context, shard, schema, table string) ([]Restored, error) {
	var sc ShardConfig
	found := false
	for _, s := range j.cfg.Shards {
		if s.Name == shard {
			sc, found = s, true
		}
	}
	if !found {
		return nil, fmt.Errorf("--shard %q: no such shard in the configuration", shard)
	}
	r, err := j.restoreRun(ctx, nil, sc, &report.Shard{Name: sc.Name})
	if r != nil {
		defer r.close()
	}
	var stop *errStop
	if errors.As(err, &stop) {
		return nil, fmt.Errorf("cannot restore on shard %q now: %s; nothing was renamed", shard, stop.why)
	}
	if err != nil {
		return nil, err
	}
	holds, err := r.listHolds(ctx, schema)
	if err != nil {
		return nil, err
	}
	var picked []discovery.Hold
	for _, h := range holds {
		if h.HoldName == table || h.Table == table {
			picked = append(picked, h)
		}
	}
	switch {
	case len(picked) == 0:
		return restoreAnswer(r.finishInterrupted(ctx, schema, table, holds))
	case len(picked) > 1:
		var names []string
		for _, h := range picked {
			names = append(names, fmt.Sprintf("%s (held %s UTC)", h.HoldName, h.HeldAt.Format(time.DateTime)))
		}
		return nil, fmt.Errorf("%s was held more than once: %s; restore one by its hold name",
			dbconn.QualifiedName(schema, table), strings.Join(names, ", "))
	}
	return restoreAnswer(r.restoreGroup(ctx, schema, picked[0], holds, nil))
}

// restoreAnswer is `janitor restore`'s answer from what restoreGroup (or
// finishInterrupted) did: the tables restored, or an error that says why not, wrapping
// ErrRestoreDeferred when the guard held the restore back.
func restoreAnswer(out []Restored, d decision, err error) ([]Restored, error) {
	switch {
	case err != nil:
		return out, err
	case d.stop != nil && len(out) > 0:
		return out, fmt.Errorf("restored, then: %s", d.stop.why)
	case d.stop != nil:
		return nil, fmt.Errorf("%w: %s; nothing was renamed", ErrRestoreDeferred, d.stop.why)
	case !d.proceed && d.out.outcome == report.OutcomeDeferred:
		return nil, fmt.Errorf("%w: %s; nothing was renamed: run it again once that is gone", ErrRestoreDeferred, d.out.reason)
	case !d.proceed:
		return nil, fmt.Errorf("not restored: %s", d.out.reason)
	}
	return out, nil
}

// restoreRun opens a shard's restore session: the dropping connection under
// RestoreLockName, the replicas and the throttle the guard asks, and the budget (g's
// deadline; nil for `janitor restore`). A stop (another restorer, a read-only server)
// comes back as an *errStop. The caller closes the run, also on error.
func (j *Janitor) restoreRun(ctx context.Context, g *gates, sc ShardConfig, s *report.Shard) (*shardRun, error) {
	r := &shardRun{j: j, sc: sc, s: s, log: j.log.With("shard", sc.Name), budget: newBudget(j.cfg.Execute, g), lockName: RestoreLockName}
	db, err := j.openForDrops(ctx, sc.DSN)
	if err != nil {
		return nil, err
	}
	r.db = db
	r.closers = append(r.closers, db.Close)
	r.replicas = j.replicaDBs(sc, &r.closers)
	r.thr = j.throttler(sc, db, r.replicas)
	return r, r.connect(ctx, "")
}

// restoreGroup renames target, and the tables of its migration held with it (from
// holds, the schema's hold records), back to their original names in one statement,
// then gives each its comment back with the restore marker. `janitor restore` and an
// execute run restoring a table someone asked for (holdwatch.go) both come here. The
// RENAME is a statement like a hold's: it locks the held tables, the original names and
// every table a foreign key joins them to, and replicates; so, under the tables' locks
// (tablelock.go), every table of the group passes the guard first (budget, throttle, a
// fresh re-check, the replica and lock checks of preDropChecks) and the statements run
// with the FK lock wait; afterwards the appliers are watched. known is target as
// discovery read it (nil: not inspected), so the re-check sees a replaced table. The
// decision proceeds when the group was restored; else it is the guard's (deferred or
// skipped, with the reason; or a stop), and nothing was renamed. A stop after the
// RENAME (an applier blocked on it) comes with the restored tables.
func (r *shardRun) restoreGroup(ctx context.Context, schema string, target discovery.Hold, holds []discovery.Hold, known *discovery.Table) ([]Restored, decision, error) {
	group := []discovery.Hold{target}
	if target.Group != "" {
		for _, h := range holds {
			if h.HoldName != target.HoldName && h.Group == target.Group && h.Until.Equal(target.Until) {
				group = append(group, h)
			}
		}
	}
	var names []string
	for _, h := range group {
		names = append(names, h.HoldName, h.Table)
	}
	release, busy, err := r.lockTables(ctx, schema, names...)
	if err != nil {
		return nil, decision{}, err
	}
	if busy != "" {
		return nil, leave(outcome{report.OutcomeDeferred, busy, 0}), nil
	}
	defer release()
	// Every original name must be free before anything moves: a half-restored migration
	// would confuse its tool and the person restoring it.
	for _, h := range group {
		ok, err := tableExists(ctx, r.conn, schema, h.Table)
		if err != nil {
			return nil, decision{}, err
		}
		if ok {
			return nil, decision{}, fmt.Errorf("%s exists again (created after the hold): not restoring %s%s; rename or drop the new %s first",
				dbconn.QualifiedName(schema, h.Table), h.HoldName, groupNote(group), h.Table)
		}
	}
	if d, err := r.guardRestore(ctx, schema, group, known); err != nil || !d.proceed {
		return nil, d, err
	}
	var pairs []string
	for _, h := range group {
		pairs = append(pairs, dbconn.QualifiedName(schema, h.HoldName)+" TO "+dbconn.QualifiedName(schema, h.Table))
	}
	// One statement: the migration's tables come back together or not at all. The
	// guard left the schema as default database, as the hold's own RENAME: a replica's
	// database filters judge DDL by it (filters.go).
	if _, err := r.conn.ExecContext(ctx, "RENAME /* janitor */ TABLE "+strings.Join(pairs, ", ")); err != nil {
		if dbconn.IsError(err, dbconn.ErrLockWaitTimeout, dbconn.ErrLockDeadlock) {
			return nil, leave(outcome{report.OutcomeDeferred, r.lockWaitReason("the restore's RENAME"), 0}), nil
		}
		return nil, decision{}, fmt.Errorf("rename back: %w", err)
	}
	for _, h := range group {
		r.moved(ctx, nil, holdMove(&h, h.State(), discovery.HoldRecorded))
	}
	out := make([]Restored, 0, len(group))
	for _, h := range group {
		res := Restored{Schema: schema, HoldName: h.HoldName, Table: h.Table, Until: h.Until}
		r.restoreComment(ctx, &res, h)
		out = append(out, res)
	}
	// The RENAME back replicates and waits for readers' metadata locks like any DDL.
	after := "after the restore's RENAME of " + dbconn.QualifiedName(schema, target.HoldName) + " to " + dbconn.QualifiedName(schema, target.Table)
	d, err := stopOf(proceed(), r.watchAppliers(ctx, schema, target.HoldName, after))
	return out, d, err
}

// guardRestore passes every table of a group to be restored through the guard, and
// sets the lock wait of the RENAME back by what all of them lock through foreign keys.
func (r *shardRun) guardRestore(ctx context.Context, schema string, group []discovery.Hold, known *discovery.Table) (decision, error) {
	defer func() { r.restoring = nil }()
	var fks []discovery.FKTable
	for i, h := range group {
		t := &discovery.Table{Schema: schema, Name: h.HoldName}
		if i == 0 && known != nil {
			t = known
		}
		r.restoring = &group[i]
		g, err := r.guard(ctx, t, guardOpts{restore: true})
		if err != nil || !g.proceed {
			return g.decision, err
		}
		fks = append(fks, r.fk.tables...)
	}
	r.fk.tables = fks
	if err := r.setLockWait(ctx, len(fks) > 0); err != nil {
		return decision{}, err
	}
	return proceed(), r.useSchema(ctx, schema)
}

// restoreComment gives a restored table its own comment back, with the restore marker
// at its end so that later runs keep it: a restored leftover still has a leftover's name
// and nothing else on the server says a person wants it. Where the marker does not fit
// (the comment is near the server's limit) the table gets its comment alone and res says
// which policy.keep entry keeps it instead. h is the table's hold record.
func (r *shardRun) restoreComment(ctx context.Context, res *Restored, h discovery.Hold) {
	original := h.Comment
	name := dbconn.QualifiedName(res.Schema, res.Table)
	res.KeepEntry = policies.KeepEntryFor(res.Schema, res.Table)
	res.State = discovery.HoldRecorded
	defer func() {
		if res.State != discovery.HoldRecorded {
			r.moved(ctx, nil, holdMove(&h, discovery.HoldRecorded, res.State))
		}
	}()
	var now time.Time
	err := r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ UTC_TIMESTAMP()").Scan(&now)
	if err != nil {
		res.Note = "cannot read the server's time (" + err.Error() + "): its comment still holds the hold record; run restore again"
		return
	}
	text, fits := discovery.WithRestoredMarker(original, now)
	if !fits {
		text = original
	}
	if err := setComment(ctx, r.conn, r.server, name, text); err != nil {
		res.Note = "its comment still holds the hold record (" + err.Error() + "): run restore again to put the original back"
		return
	}
	res.CommentRestored = true
	// Read it back: in a non-strict sql_mode the server cuts a long comment with only a
	// warning, and a cut marker keeps nothing.
	var got string
	err = r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		res.Schema, res.Table).Scan(&got)
	_, marked := discovery.ParseRestored(got)
	res.State = discovery.HoldStateOf(res.Table, got)
	switch {
	case err != nil:
		res.State = discovery.HoldStateOf(res.Table, text) // as written
		res.Note = "cannot read its comment back (" + err.Error() + "), so cannot tell whether later runs will keep it"
	case !fits:
		res.Note = fmt.Sprintf("its comment is too long for the restore marker (%d characters of %d)", len([]rune(original)), discovery.MaxCommentLength)
	case !marked || got != text:
		res.Note = "the server did not keep the restore marker in its comment"
	default:
		res.Marked = true
	}
}

func groupNote(group []discovery.Hold) string {
	if len(group) < 2 {
		return ""
	}
	return fmt.Sprintf(" or the %d other tables held with it", len(group)-1)
}

// finishInterrupted handles a name that no hold answers to: a table under its original
// name whose comment is still a hold record (a hold interrupted before its RENAME, or
// a restore before its comment) gets its comment back, under the table's lock and the
// guard, as the comment change of a restore (it locks what the RENAME back would).
func (r *shardRun) finishInterrupted(ctx context.Context, schema, table string, holds []discovery.Hold) ([]Restored, decision, error) {
	var comment string
	err := r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
		schema, table).Scan(&comment)
	if err == nil && discovery.HoldStateOf(table, comment) == discovery.HoldRecorded {
		h, _ := discovery.ParseHold(comment)
		release, busy, err := r.lockTables(ctx, schema, table)
		if err != nil {
			return nil, decision{}, err
		}
		if busy != "" {
			return nil, leave(outcome{report.OutcomeDeferred, busy, 0}), nil
		}
		defer release()
		if d, err := r.guardRestore(ctx, schema, []discovery.Hold{h}, &discovery.Table{Schema: schema, Name: table}); err != nil || !d.proceed {
			return nil, d, err
		}
		res := Restored{Schema: schema, HoldName: h.HoldName, Table: table, Until: h.Until}
		r.restoreComment(ctx, &res, h)
		if !res.CommentRestored {
			return nil, decision{}, fmt.Errorf("put back the comment of %s: %s", dbconn.QualifiedName(schema, table), res.Note)
		}
		if res.Note == "" {
			res.Note = "was already under its name (an interrupted hold or restore); its comment is back"
		}
		return []Restored{res}, proceed(), nil
	}
	var held []string
	for _, h := range holds {
		held = append(held, h.Table+" (as "+h.HoldName+")")
	}
	sort.Strings(held)
	list := "none"
	if len(held) > 0 {
		list = strings.Join(held, ", ")
	}
	return nil, decision{}, fmt.Errorf("%s: %w (held in schema %q: %s)", dbconn.QualifiedName(schema, table), ErrNotHeld, schema, list)
}

// listHolds reads every hold record in a schema.
func (r *shardRun) listHolds(ctx context.Context, schema string) ([]discovery.Hold, error) {
	rows, err := r.conn.QueryxContext(ctx, `SELECT /* janitor */ TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE '\_janitor\_hold\_%'`, schema)
	if err != nil {
		return nil, fmt.Errorf("list held tables: %w", err)
	}
	defer rows.Close()
	var out []discovery.Hold
	for rows.Next() {
		var name, comment string
		if err := rows.Scan(&name, &comment); err != nil {
			return nil, err
		}
		if !discovery.HoldStateOf(name, comment).UnderHold() {
			continue
		}
		h, _ := discovery.ParseHold(comment)
		h.HoldName = name // the name is the truth; the record was written before the RENAME
		out = append(out, h)
	}
	return out, rows.Err()
}

// SchemaExists reports whether a schema exists on a shard's primary; restore uses it to
// split SCHEMA.TABLE when a name has dots.
func (j *Janitor) SchemaExists(ctx context.Context, shard, schema string) (bool, error) {
	for _, s := range j.cfg.Shards {
		if s.Name != shard {
			continue
		}
		db, err := j.open(ctx, s.DSN)
		if err != nil {
			return false, err
		}
		defer db.Close()
		var n int
		err = db.QueryRowxContext(ctx, "SELECT /* janitor */ COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", schema).Scan(&n)
		return n > 0, err
	}
	return false, fmt.Errorf("--shard %q: no such shard in the configuration", shard)
}
