package janitor

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/replica"
	"github.com/janitorhq/janitor/report"
	"github.com/janitorhq/janitor/throttle"
)

// DropLockName is the named lock a janitor holds on a server while it drops there. It is
// per server, not per configured shard name, so that two janitors — or two shard entries
// that point at one server — never drop on one server at once.
const DropLockName = "janitor.dropper"

// RestoreLockName is the named lock a restore holds on a server (`janitor holds
// --execute`, `janitor restore`): one restorer per server, apart from the run's
// DropLockName, so that a run that holds its lock for hours (a long purge) never keeps a
// table someone asked for missing. A restore sends no DROP; it and a run serialise on
// the one table both would change through the per-table lock (tablelock.go).
const RestoreLockName = "janitor.restorer"

// Run plans (execute=false) or performs (execute=true) the drops on every shard.
func (j *Janitor) Run(ctx context.Context, execute bool) *report.Report {
	return j.eachShardRun(ctx, execute, j.runShard)
}

// eachShardRun runs shard on every shard under one set of gates, in the mode execute
// says: a dry run or an execute run.
func (j *Janitor) eachShardRun(ctx context.Context, execute bool, shard func(context.Context, *gates, ShardConfig, *report.Shard, bool) error) *report.Report {
	mode := report.ModeDryRun
	if execute {
		mode = report.ModeExecute
	}
	g := j.newGates(execute)
	return j.eachShard(ctx, mode, g, func(ctx context.Context, sc ShardConfig, s *report.Shard) error {
		return shard(ctx, g, sc, s, execute)
	})
}

type candidate struct {
	table   *discovery.Table
	verdict policies.Verdict
	row     int // index in s.Tables
}

// shardRun is one shard's drop session.
type shardRun struct {
	j    *Janitor
	sc   ShardConfig
	s    *report.Shard
	log  *slog.Logger
	db   *sqlx.DB
	conn *sqlx.Conn // holds lockName; every re-check and DROP runs here
	// lockName is the server-wide lock conn holds: DropLockName for a run (the zero
	// value), RestoreLockName for a restore.
	lockName string
	connID   int64 // conn's CONNECTION_ID(), to know our own session after a reconnect
	// serverStarted is when the server started, as seen at connect: ids are only ours
	// within one server lifetime.
	serverStarted time.Time
	server        discovery.Server
	thr           *throttle.Throttler
	replicas      []replicaDB
	// replicaSeen remembers, per replica, what its sessions can tell (read once a run).
	replicaSeen map[string]*replicaView
	closers     []func() error
	holds       holdState
	budget      *budget // the run's limits, as this shard has used them
	// inFlight is the statement the current table's work sent last and the server did
	// not refuse (nil: none); only send sets it.
	inFlight *inFlight
	fk       fkState // what the last preDropChecks found of the table's foreign keys
	// restoring is the hold record of the held table the guard is clearing for a restore
	// (nil: a hold, a DROP or a purge): the statements it checks are the RENAME back.
	restoring *discovery.Hold
}

func (j *Janitor) runShard(ctx context.Context, g *gates, sc ShardConfig, s *report.Shard, execute bool) error {
	cands, err := j.candidates(ctx, g, sc, s)
	if err != nil {
		return err
	}
	// A migration's changelog and checkpoint carry evidence about its other tables (the
	// gh-ost heartbeat, Spirit's checkpoint): drop them after those, or the re-check of
	// the others would find their evidence gone.
	sort.SliceStable(cands, func(i, j int) bool {
		return !discovery.CarriesEvidence(cands[i].table) && discovery.CarriesEvidence(cands[j].table)
	})
	// Every skip is an outcome, including candidates over discovery.max_inspect, which
	// are rows without a candidate.
	for i := range s.Tables {
		if s.Tables[i].Verdict == string(policies.Skip) {
			s.Tables[i].Outcome = report.OutcomeSkipped
		}
	}
	for _, c := range cands {
		if c.verdict.Action != policies.Skip && !execute {
			s.Tables[c.row].Outcome = report.OutcomePlanned
		}
	}
	j.planHolds(cands, s, execute)
	j.planRestores(cands, s, execute)
	r := &shardRun{j: j, sc: sc, s: s, log: j.log.With("shard", sc.Name), budget: newBudget(j.cfg.Execute, g)}
	defer r.close()
	if execute && hasDrops(cands) {
		// Drops wait for a slot of execute.concurrency; discovery did not need one.
		if !acquire(ctx, g.drop) {
			r.stopAt(cands, 0, &errStop{code: report.BlockedSignal, why: "stopped by signal before drops began"})
			return nil
		}
		defer func() { <-g.drop }()
		if s := r.budget.stop(time.Now()); s != nil {
			r.stopAt(cands, 0, &errStop{code: s.code, why: s.why + " before drops began on this shard"})
			return nil
		}
	}
	err = r.prepareAndExecute(ctx, cands, execute)
	if err != nil && execute {
		// Every drop not reached is accounted for, not left without an outcome.
		r.deferRest(cands, 0, "not reached: the shard failed: "+err.Error())
	}
	return err
}

func (r *shardRun) prepareAndExecute(ctx context.Context, cands []candidate, execute bool) error {
	j, sc, s := r.j, r.sc, r.s
	db, err := j.openForDrops(ctx, sc.DSN)
	if err != nil {
		return err
	}
	r.db = db
	r.closers = append(r.closers, db.Close)
	r.replicas = j.replicaDBs(sc, &r.closers)
	r.thr = j.throttler(sc, db, r.replicas)
	r.thr.OnWait = func(signal string, d time.Duration) {
		if s.ThrottleWaitSeconds == nil {
			s.ThrottleWaitSeconds = map[string]float64{}
		}
		s.ThrottleWaitSeconds[signal] += d.Seconds()
		if j.Hooks.ThrottleWait != nil {
			j.Hooks.ThrottleWait(sc.Name, signal, d)
		}
	}
	if !execute {
		// Tell the DBA what an execute run would meet right now. A refusal that waiting
		// does not lift — a read-only or replicating server, a replica whose sessions or
		// metadata locks janitor cannot read — makes the plan's drops what --execute
		// would report: deferred, with the reason and the fix; a throttle signal only
		// delays them, so they stay planned.
		refusal := ""
		srv, err := discovery.ReadServer(ctx, db)
		if err == nil {
			r.server = srv // checkTopology below asks an Aurora primary for its readers
		}
		if err == nil && srv.ReadOnly {
			refusal = "server is read-only: --execute refuses to drop here"
		} else if why, err := replicates(ctx, db); err == nil && why != "" {
			refusal = "--execute refuses to drop here: " + why
		}
		for _, rd := range r.replicas {
			if _, err := r.replicaView(ctx, rd); err != nil && refusal == "" {
				refusal = "an execute run would not drop here: " + err.Error()
			}
		}
		if refusal == "" {
			// An attached replica janitor does not look at (topology.go). A registry
			// the account may not read is not named: listing it is an execute grant.
			var stop *errStop
			if err := r.checkTopology(ctx, db); errors.As(err, &stop) && stop.code == report.BlockedReplicaUnchecked {
				refusal = "an execute run would not drop here: " + err.Error()
			}
		}
		if refusal != "" {
			s.Blocked = refusal
			for _, c := range cands {
				if row := &s.Tables[c.row]; row.Outcome == report.OutcomePlanned {
					row.Outcome, row.Reason = report.OutcomeDeferred, refusal
				}
			}
		} else if bad := r.thr.Check(ctx); len(bad) > 0 {
			s.Blocked = "an execute run would wait now: " + readings(bad)
		}
		return nil
	}
	return r.execute(ctx, cands)
}

// serverLock is the name of the server-wide lock this run takes.
func (r *shardRun) serverLock() string {
	if r.lockName != "" {
		return r.lockName
	}
	return DropLockName
}

func (r *shardRun) close() {
	if r.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = r.conn.ExecContext(ctx, "DO /* janitor */ RELEASE_LOCK(?)", r.serverLock())
		cancel()
		_ = r.conn.Close()
	}
	for i := len(r.closers) - 1; i >= 0; i-- {
		_ = r.closers[i]()
	}
}

func hasDrops(cands []candidate) bool {
	for _, c := range cands {
		if c.verdict.Action == policies.Drop {
			return true
		}
	}
	return false
}

func (r *shardRun) execute(ctx context.Context, cands []candidate) error {
	if err := r.connect(ctx, ""); err != nil {
		d, err := stopOf(decision{}, err)
		if err != nil {
			return err
		}
		r.stopAt(cands, 0, d.stop)
		return nil
	}
	// An application failing on a held name comes before any drop (holdwatch.go).
	if s := r.restoreAsked(ctx, cands); s != nil {
		r.stopAt(cands, 0, s)
		return nil
	}
	r.recordAccesses(ctx, cands)
	ex := r.j.cfg.Execute
	r.budget.start(time.Now())
	for i, c := range cands {
		if c.verdict.Action != policies.Drop {
			continue
		}
		row := &r.s.Tables[c.row]
		if ctx.Err() != nil {
			r.stopAt(cands, i, &errStop{code: report.BlockedSignal, why: "stopped by signal before this table"})
			return nil
		}
		if why := r.budget.quota(c.table.Bytes); why != "" {
			r.deferRest(cands, i, why)
			return nil
		}
		if r.budget.tables > 0 && ex.PauseBetweenDrops > 0 {
			// Cut to what the budget leaves: the guard of the next table then stops with
			// the budget's code at once, instead of a pause past the deadline.
			if !sleep(ctx, r.budget.cap(time.Now(), ex.PauseBetweenDrops)) {
				r.stopAt(cands, i, &errStop{code: report.BlockedSignal, why: "stopped by signal before this table"})
				return nil
			}
		}
		d, err := r.dropWithRetry(ctx, c)
		if err != nil {
			row.Outcome, row.Reason = report.OutcomeFailed, err.Error()
			return err
		}
		if d.stop != nil {
			r.stopAt(cands, i, d.stop)
			return nil
		}
		out := d.out
		row.Outcome, row.Reason = out.outcome, out.reason
		held := r.held(row, out)
		if held {
			r.budget.count(0) // a hold counts toward execute.max_tables_per_run, not bytes: it frees none
		}
		if out.outcome == report.OutcomeDropped {
			row.FreedBytes = out.freed
			r.budget.count(out.freed)
			if r.j.Hooks.Dropped != nil {
				r.j.Hooks.Dropped(r.sc.Name, row.Tool, out.freed)
			}
			if r.holds.state.CanMove(discovery.HoldDropped) {
				r.step(ctx, row, recordOf(c.table), discovery.HoldDropped)
			}
		}
		if held || out.outcome == report.OutcomeDropped {
			// The DROP, or the hold's RENAME, replicates and waits for readers' metadata
			// locks like any DDL: follow it to the replicas (the original name is gone
			// there once applied).
			if d, err := stopOf(decision{}, r.watchAppliers(ctx, c.table.Schema, c.table.Name, followed(c.table, held))); err != nil {
				return err
			} else if d.stop != nil {
				r.stopAt(cands, i, d.stop)
				return nil
			}
		}
	}
	return nil
}

// stopAt stops the shard's drops: the shard is blocked with s's reason and code, and
// every drop candidate from index i on is deferred with that reason.
func (r *shardRun) stopAt(cands []candidate, i int, s *errStop) {
	r.s.Blocked, r.s.BlockedCode = s.why, s.code
	r.deferRest(cands, i, s.why)
}

// deferRest marks every drop candidate from index i on as deferred.
func (r *shardRun) deferRest(cands []candidate, from int, why string) {
	for _, c := range cands[from:] {
		if c.verdict.Action != policies.Drop {
			continue
		}
		row := &r.s.Tables[c.row]
		if row.Outcome == "" {
			row.Outcome, row.Reason = report.OutcomeDeferred, why
		}
	}
}

// connect takes a dedicated connection, checks that the server is a writable primary
// (and, after a reconnect, the same server as before), and takes the run's server-wide
// lock (serverLock).
func (r *shardRun) connect(ctx context.Context, wantIdentity string) error {
	if r.conn != nil {
		discard(r.conn)
		r.conn = nil
	}
	conn, err := r.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("connect for drops: %w", err)
	}
	srv, err := discovery.ReadServer(ctx, conn)
	if err != nil {
		conn.Close()
		return err
	}
	if wantIdentity != "" && srv.Identity() != wantIdentity {
		conn.Close()
		return &errStop{code: report.BlockedFailover, why: fmt.Sprintf("a different server answers now (%s, was %s): failover? re-discover on the next run", srv.Identity(), wantIdentity)}
	}
	if srv.ReadOnly {
		conn.Close()
		return &errStop{code: report.BlockedReadOnly, why: "server is read-only (a replica, or a primary demoted by failover): refusing to drop here"}
	}
	if why, err := replicates(ctx, conn); err != nil || why != "" {
		conn.Close()
		if err != nil {
			return fmt.Errorf("check whether the server is a replica: %w", err)
		}
		return &errStop{code: report.BlockedReadOnly, why: why}
	}
	started := time.Now().Add(-time.Duration(srv.Uptime) * time.Second)
	if err := r.takeLock(ctx, conn, started); err != nil {
		conn.Close()
		return err
	}
	var id int64
	if err := conn.QueryRowxContext(ctx, "SELECT /* janitor */ CONNECTION_ID()").Scan(&id); err != nil {
		discard(conn) // it holds the lock: end the session, do not pool it
		return fmt.Errorf("read connection id: %w", err)
	}
	lwt := int64(r.j.cfg.Execute.LockWaitTimeout / time.Second)
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("SET /* janitor */ SESSION lock_wait_timeout = %d, SESSION innodb_lock_wait_timeout = %d", lwt, lwt)); err != nil {
		discard(conn)
		return fmt.Errorf("set lock_wait_timeout: %w", err)
	}
	r.conn, r.server, r.connID, r.serverStarted = conn, srv, id, started
	return nil
}

// takeLock takes the run's server-wide lock (serverLock) on conn. When the session holding it is this run's own
// previous one — its connection was lost, but the server has not ended it — that
// session is ended if idle, and waited for if it still runs a statement (a DROP that
// outlived its client: waiting is how janitor learns it finished), up to the DROP's own
// budget. Any other holder is another janitor: this shard is left to it.
func (r *shardRun) takeLock(ctx context.Context, conn *sqlx.Conn, serverStarted time.Time) error {
	deadline := time.Now().Add(r.j.cfg.Execute.LockWaitTimeout + r.j.cfg.Execute.DropTimeout)
	// Connection ids restart with the server: after a restart our previous session is
	// gone, and a holder with its old id is somebody else's.
	ours := r.connID
	if d := serverStarted.Sub(r.serverStarted); d > 5*time.Second || d < -5*time.Second {
		ours = 0
	}
	name := r.serverLock()
	for {
		var got sql.NullInt64
		if err := conn.QueryRowxContext(ctx, "SELECT /* janitor */ GET_LOCK(?, 0)", name).Scan(&got); err != nil {
			return fmt.Errorf("take lock %s: %w", name, err)
		}
		if got.Int64 == 1 {
			return nil
		}
		var holder sql.NullInt64
		if err := conn.QueryRowxContext(ctx, "SELECT /* janitor */ IS_USED_LOCK(?)", name).Scan(&holder); err != nil {
			return fmt.Errorf("read lock %s: %w", name, err)
		}
		if !holder.Valid {
			continue // released in between
		}
		if ours == 0 || holder.Int64 != ours {
			return &errStop{code: report.BlockedLock, why: fmt.Sprintf("another janitor holds lock %q on this server: leaving this shard to it", name)}
		}
		var command, info sql.NullString
		err := conn.QueryRowxContext(ctx, "SELECT /* janitor */ COMMAND, INFO FROM information_schema.PROCESSLIST WHERE ID = ?", holder.Int64).Scan(&command, &info)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue // gone in between
		case err != nil:
			return fmt.Errorf("look at this run's previous session %d: %w", holder.Int64, err)
		case command.String == "Sleep":
			r.log.WarnContext(ctx, "ending this run's previous session, idle and still holding the drop lock", "session", holder.Int64)
			if _, err := conn.ExecContext(ctx, fmt.Sprintf("KILL /* janitor */ CONNECTION %d", holder.Int64)); err != nil && !dbconn.IsError(err, 1094) { // 1094: unknown thread
				return fmt.Errorf("end this run's previous session %d: %w", holder.Int64, err)
			}
		case time.Now().After(deadline):
			return &errStop{code: report.BlockedLock, why: fmt.Sprintf("this run's previous session %d still runs %q after the DROP's budget: look at it", holder.Int64, info.String)}
		default:
			r.log.InfoContext(ctx, "waiting for this run's previous session to finish its statement", "session", holder.Int64, "statement", info.String)
		}
		if !sleep(ctx, 200*time.Millisecond) {
			return &errStop{code: report.BlockedSignal, why: "stopped by signal while waiting for the previous session"}
		}
	}
}

// discard ends conn's server session instead of returning it to the pool: a pooled
// session would keep holding the run's locks.
func discard(conn *sqlx.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// replicates says why janitor must not drop on this server because it may be a replica
// ("" when it is not): a writable replica (read_only=0, a common slip) would take the
// DROP, diverge from its primary, and leave the primary's table in place. It fails
// closed: replication status janitor may not read proves nothing.
func replicates(ctx context.Context, q sqlx.QueryerContext) (string, error) {
	// MariaDB's SHOW SLAVE STATUS shows the default connection only; ReadStatuses asks
	// SHOW ALL SLAVES STATUS first, so a multi-source replica is seen too.
	sts, err := replica.ReadStatuses(ctx, q)
	if err != nil {
		return replicaStatusError(err)
	}
	if len(sts) == 0 {
		return "", nil
	}
	var names []string
	for _, st := range sts {
		names = append(names, fmt.Sprintf("%q", st.Channel))
	}
	return "server has replication configured (channel " + strings.Join(names, ", ") +
		"): drop on its primary, or, if this server is the primary now, remove the stale configuration (RESET REPLICA ALL)", nil
}

func replicaStatusError(err error) (string, error) {
	if dbconn.IsError(err, dbconn.ErrSpecificAccess) {
		return "cannot tell whether this server is a replica: grant SLAVE MONITOR (MySQL: REPLICATION CLIENT), as docs/dropping.md (Least privilege) lists", nil
	}
	return "", err
}

// maxLossesPerTable bounds how often one table's work may lose the connection.
const maxLossesPerTable = 3

type outcome struct {
	outcome string
	reason  string
	freed   int64
}

// dropWithRetry does one table's work (a hold, or a DROP after an optional purge),
// reconnecting when the connection dies (a restarted primary) and doing it again on the
// new connection, re-checked from the start. What it decided is a leave with the table's
// outcome, or a stop; an error fails the shard.
func (r *shardRun) dropWithRetry(ctx context.Context, c candidate) (decision, error) {
	maxWait := r.j.cfg.ThrottleFor(r.sc).MaxWait
	backoff := 500 * time.Millisecond
	r.inFlight = nil
	r.holds.state = c.table.HoldState()
	for losses := 1; ; losses++ {
		d, err := stopOf(r.dropOrHold(ctx, c))
		if err == nil || !connectionLost(err) {
			return d, err
		}
		// A DROP that takes the server down each time would otherwise be sent again
		// after every restart: give up on the shard after a few losses on one table.
		if losses >= maxLossesPerTable {
			return stopWith(report.BlockedConnection, fmt.Sprintf("connection lost %d times while working on %s (last: %v): stopping this shard; look at the server before the next run",
				losses, dbconn.QualifiedName(c.table.Schema, c.table.Name), err)), nil
		}
		r.log.WarnContext(ctx, "connection lost; reconnecting", "table", c.table.Schema+"."+c.table.Name, "err", err)
		// The wait starts now, not when work on the table began: a DROP that ran long
		// before the connection was lost must still get its reconnect. The budget cuts it,
		// unless a DROP or RENAME (or comment change) is in flight: the reconnect is then
		// how janitor learns what the server did, and sends nothing (the guard of any
		// statement after it stops at the budget). Cut, it reported deferred a table the
		// server had dropped or renamed.
		wait := maxWait
		if r.inFlight == nil {
			wait = r.budget.cap(time.Now(), maxWait)
		}
		deadline := time.Now().Add(wait)
		for {
			if now := time.Now(); now.After(deadline) {
				if s := r.budget.stop(now); s != nil {
					return stopWith(s.code, fmt.Sprintf("%s while reconnecting (%v)", s.why, err)), nil
				}
				return stopWith(report.BlockedConnection, fmt.Sprintf("server unreachable for %s: %v", maxWait, err)), nil
			}
			if !sleep(ctx, backoff) {
				return stopWith(report.BlockedSignal, "stopped by signal while reconnecting"), nil
			}
			backoff = min(2*backoff, 10*time.Second)
			cerr := r.connect(ctx, r.server.Identity())
			if cerr == nil {
				break
			}
			if d, serr := stopOf(decision{}, cerr); serr == nil {
				return d, nil
			}
			err = cerr
		}
	}
}

// dropOne drops one table: the guard, then, for a large table under
// execute.large_table.strategy purge, the purge and the guard again, then the DROP.
func (r *shardRun) dropOne(ctx context.Context, c candidate) (decision, error) {
	t := c.table
	if err := r.adoptOwnComment(ctx, t); err != nil {
		return decision{}, err
	}
	if f := r.inFlight; f != nil && f.drop {
		// The connection died after the DROP went out: the re-check says whether it
		// took effect (the table is gone: dropped). If the table is still there, the
		// DROP did not happen, and the work starts over under the guard.
		if _, d, err := r.recheck(ctx, t, false); err != nil || !d.proceed {
			return d, err
		}
	}
	r.inFlight = nil
	g, err := r.guard(ctx, t, guardOpts{})
	if err != nil || !g.proceed {
		return g.decision, err
	}
	fresh := g.fresh
	lt := r.j.cfg.Execute.LargeTable
	// Its data, not the bytes the file system gets back: a large table in a shared
	// tablespace frees 0 on disk, and its DROP still walks every page (DataBytes).
	if lt.Strategy == "purge" && fresh.DataBytes() > lt.ThresholdBytes && !fresh.Orphan {
		// The purge deletes what the DROP would: the guard above looked at the replicas
		// too, or a table read on a replica, or on one janitor cannot see into, would be
		// emptied and only then refused its DROP.
		if d, err := r.markPurge(ctx, r.row(c), t, fresh); err != nil || !d.proceed {
			return d, err
		}
		if d, err := r.purge(ctx, fresh); err != nil || !d.proceed {
			return d, err
		}
		// The purge took a while: the guard again before the DROP.
		bytes := fresh.Bytes
		if g, err = r.guard(ctx, t, guardOpts{purged: true}); err != nil || !g.proceed {
			return g.decision, err
		}
		fresh = g.fresh
		fresh.Bytes = bytes
	}
	return r.applyDrop(ctx, c, fresh)
}

// applyDrop sends the DROP of a table the guard cleared.
func (r *shardRun) applyDrop(ctx context.Context, c candidate, fresh *discovery.Table) (decision, error) {
	name := dbconn.QualifiedName(fresh.Schema, fresh.Name)
	if h := r.j.Hooks.BeforeDrop; h != nil {
		h(r.sc.Name, fresh.Schema, fresh.Name)
	}
	stmt := "DROP /* janitor */ TABLE " + dropName(fresh)
	r.log.InfoContext(ctx, "dropping", "table", name, "bytes", fresh.Bytes, "tool", fresh.Tool, "role", fresh.Role)
	// The DROP itself is not cancelled by SIGTERM: stopping mid-statement gains nothing,
	// and the process stops right after.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.j.cfg.Execute.LockWaitTimeout+r.j.cfg.Execute.DropTimeout)
	defer cancel()
	start := time.Now()
	err := r.send(dctx, &inFlight{drop: true}, stmt)
	switch {
	case err == nil:
		r.log.InfoContext(ctx, "dropped", "table", name, "bytes", fresh.Bytes, "elapsed", time.Since(start).Round(time.Millisecond))
		return leave(outcome{report.OutcomeDropped, c.verdict.Reason, fresh.Bytes}), nil
	case dbconn.IsError(err, dbconn.ErrLockWaitTimeout, dbconn.ErrLockDeadlock):
		return leave(outcome{report.OutcomeDeferred, r.lockWaitReason("DROP"), 0}), nil
	case dbconn.IsError(err, dbconn.ErrRowIsReferenced, dbconn.ErrRowIsReferenced2, dbconn.ErrFKDrop):
		return leave(outcome{report.OutcomeSkipped, "server refused: referenced by a foreign key: " + err.Error(), 0}), nil
	case dbconn.IsError(err, dbconn.ErrReadOnly):
		return stopWith(report.BlockedReadOnly, "server refused the DROP as read-only: "+err.Error()), nil
	case dbconn.IsError(err, dbconn.ErrBadTable, dbconn.ErrNoSuchTable):
		return leave(outcome{report.OutcomeSkipped, "no longer exists (dropped by someone else)", 0}), nil
	case connectionLost(err):
		return decision{}, err
	}
	return leave(outcome{report.OutcomeFailed, "DROP failed: " + err.Error(), 0}), nil
}

// recheck verifies, on the dropping connection, that the server is still the writable
// primary it was and that the table is still dead; purged says the table's last writes
// are janitor's purge batches. When it decides to proceed, fresh is the table as it is
// now. A table found gone after its DROP went out (r.inFlight) was dropped.
func (r *shardRun) recheck(ctx context.Context, t *discovery.Table, purged bool) (fresh *discovery.Table, d decision, err error) {
	srv, d, err := r.samePrimary(ctx)
	if err != nil || !d.proceed {
		return nil, d, err
	}
	// Fresh evidence, on this connection: a migration may have started since discovery.
	in := discovery.NewInspector(r.conn, srv, r.j.discoveryOptions(), r.log)
	fresh, err = in.Inspect(ctx, discovery.Name{Schema: t.Schema, Table: t.Name, Orphan: t.Orphan})
	if errors.Is(err, discovery.ErrGone) {
		if f := r.inFlight; f != nil && f.drop {
			return nil, leave(outcome{report.OutcomeDropped, "dropped (confirmed gone after the connection was lost)", t.Bytes}), nil
		}
		return nil, leave(outcome{report.OutcomeSkipped, "no longer exists (dropped by someone else)", 0}), nil
	}
	if err != nil {
		return nil, decision{}, err
	}
	// Evidence unreadable because the connection died part-way (a primary restart) is a
	// lost connection, not a verdict: reconnect and look again, rather than skip.
	if len(fresh.Evidence.Unreadable) > 0 {
		if perr := r.conn.PingContext(ctx); connectionLost(perr) {
			return nil, decision{}, fmt.Errorf("re-check of %s: %w", dbconn.QualifiedName(t.Schema, t.Name), perr)
		}
	}
	v := policies.Evaluate(r.j.cfg.Policy, policies.Context{VitessTableGC: r.sc.VitessTableGC, WrittenByJanitor: purged, ClockShift: r.j.ClockShift, Shard: r.sc.Name}, fresh)
	if v.Action != policies.Drop {
		return nil, leave(outcome{report.OutcomeSkipped, "re-check before drop: " + v.Reason, 0}), nil
	}
	// The table's migration may be alive in another of its tables (group.go).
	if d, err := r.recheckGroup(ctx, in, fresh); err != nil || !d.proceed {
		return nil, d, err
	}
	// A table dropped and recreated under the same name since the inspection is not
	// the table the verdict was about (one-second resolution; a leftover is min_age old).
	if t.CreatedAt != nil && (fresh.CreatedAt == nil || !fresh.CreatedAt.Equal(*t.CreatedAt)) {
		now := "unknown"
		if fresh.CreatedAt != nil {
			now = fresh.CreatedAt.Format(time.DateTime)
		}
		return nil, leave(outcome{report.OutcomeSkipped, fmt.Sprintf("re-check before drop: the table was replaced since it was inspected (CREATE_TIME %s, was %s)",
			now, t.CreatedAt.Format(time.DateTime)), 0}), nil
	}
	if fresh.Tool != t.Tool || fresh.Base != t.Base {
		return nil, leave(outcome{report.OutcomeSkipped, fmt.Sprintf("re-check before drop: now reads as %s of %q (was %s of %q)", fresh.Tool, fresh.Base, t.Tool, t.Base), 0}), nil
	}
	return fresh, proceed(), nil
}

// samePrimary checks, on the dropping connection, that the server is still the writable
// primary it was: it may have changed under us (failover to a demoted primary).
func (r *shardRun) samePrimary(ctx context.Context) (discovery.Server, decision, error) {
	srv, err := discovery.ReadServer(ctx, r.conn)
	if err != nil {
		return srv, decision{}, err
	}
	if srv.Identity() != r.server.Identity() {
		return srv, stopWith(report.BlockedFailover, fmt.Sprintf("a different server answers now (%s, was %s): failover? re-discover on the next run", srv.Identity(), r.server.Identity())), nil
	}
	if srv.ReadOnly {
		return srv, stopWith(report.BlockedReadOnly, "server became read-only: refusing to drop"), nil
	}
	return srv, proceed(), nil
}

// recheckRestore is a restore's fresh re-check, on the dropping connection: the server
// is the writable primary it was, and t is still a table janitor holds, the same one
// (CREATE_TIME) when t says which. No policy is asked: the table is restored because
// someone asked for it, not because it is dead.
func (r *shardRun) recheckRestore(ctx context.Context, t *discovery.Table) (*discovery.Table, decision, error) {
	srv, d, err := r.samePrimary(ctx)
	if err != nil || !d.proceed {
		return nil, d, err
	}
	in := discovery.NewInspector(r.conn, srv, r.j.discoveryOptions(), r.log)
	fresh, err := in.Inspect(ctx, discovery.Name{Schema: t.Schema, Table: t.Name})
	switch {
	case errors.Is(err, discovery.ErrGone):
		return nil, leave(outcome{report.OutcomeSkipped, "no longer held: restored or dropped since it was listed", 0}), nil
	case err != nil:
		return nil, decision{}, err
	case !fresh.HoldState().UnderHold() && fresh.HoldState() != discovery.HoldRecorded:
		// Recorded: under its original name with the record still in its comment (an
		// interrupted hold or restore), whose comment a restore puts back.
		return nil, leave(outcome{report.OutcomeSkipped, "no longer held: its comment is not a hold record now", 0}), nil
	case t.CreatedAt != nil && (fresh.CreatedAt == nil || !fresh.CreatedAt.Equal(*t.CreatedAt)):
		return nil, leave(outcome{report.OutcomeSkipped, "re-check before the restore: the held table was replaced since it was inspected", 0}), nil
	}
	return fresh, proceed(), nil
}

// dropName is the name DROP TABLE takes. A crashed ALTER's #sql table has no .frm, so
// the server only finds it under its raw file name with the #mysql50# prefix.
func dropName(t *discovery.Table) string {
	if t.Orphan {
		return dbconn.QualifiedName(t.Schema, "#mysql50#"+t.Name)
	}
	return dbconn.QualifiedName(t.Schema, t.Name)
}

// followed names, for watchAppliers, the statement an execute run sent for t.
func followed(t *discovery.Table, held bool) string {
	if held {
		return "after the hold's RENAME of " + dbconn.QualifiedName(t.Schema, t.Name)
	}
	return "after dropping " + dbconn.QualifiedName(t.Schema, t.Name)
}

// connectionLost reports whether err means the connection is gone (server restarted,
// network cut) rather than that the statement failed.
func connectionLost(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	// 1053 server shutdown in progress, 2006 gone away, 2013 lost connection, 1927
	// MariaDB connection killed.
	if dbconn.IsError(err, 1053, 2006, 2013, 1927) {
		return true
	}
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func readings(rs []throttle.Reading) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += "; "
		}
		s += r.String()
	}
	return s
}
