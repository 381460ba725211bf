package janitor

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/replica"
	"github.com/janitorhq/janitor/report"
)

// A replica's appliers, as the dropper sees them: before a statement, one waiting for
// another session's lock stops the shard (readersOn finds it); after it, watchAppliers
// follows the statement to every replica until it is applied, and a stopped or blocked
// applier met on the way stops the shard too. waitApplied waits until every replica has
// applied a GTID position (gtidPosition): after each purge batch, and for a replica that
// may only lag behind a table's creation (filters.go). What an applier is, and its wait states,
// are package replica's (Session.Applier, replica.WaitStates).

// applierBlocked stops the shard's drops: a replica's applier waits for a metadata
// lock, so replication there is stalled until whoever holds it lets go, and every
// further DROP would queue behind it too.
func (r *shardRun) applierBlocked(ctx context.Context, name string, s replica.Session, when string) error {
	what := "a table metadata lock"
	if !strings.HasPrefix(s.State, replica.WaitStates[0]) {
		what = fmt.Sprintf("a lock (%s: a backup or FLUSH TABLES WITH READ LOCK holds it)", strings.ToLower(s.State))
	}
	why := fmt.Sprintf("replica %s: its applier (session %d) waits for %s (%ds so far, seen %s): replication there is stalled behind the session holding it; stopped dropping on this shard. Find the holder on %s and end it, or wait for it",
		name, s.ID, what, s.Secs.Int64, when, name)
	r.log.ErrorContext(ctx, "replica applier waits for a metadata lock: stopping drops on this shard", "replica", name, "applier_session", s.ID, "seconds", s.Secs.Int64, "when", when)
	if h := r.j.Hooks.ReplicaBlocked; h != nil {
		h(r.sc.Name, name)
	}
	return &errStop{code: report.BlockedReplicaApplier, why: why}
}

// applierStopped stops the shard when a replica's applier has stopped, counted and
// alerted like an applier blocked on a metadata lock.
func (r *shardRun) applierStopped(ctx context.Context, name string, st replica.Status, when string) error {
	why := fmt.Sprintf("replica %s: its applier (channel %q) stopped %s (SQL thread running: %s; last error: %s): replication there has stopped; stopped dropping on this shard. Fix the replica and restart its applier",
		name, st.Channel, when, st.SQLRunning, st.LastError)
	r.log.ErrorContext(ctx, "replica applier stopped: stopping drops on this shard", "replica", name, "channel", st.Channel, "last_error", st.LastError, "when", when)
	if h := r.j.Hooks.ReplicaBlocked; h != nil {
		h(r.sc.Name, name)
	}
	return &errStop{code: report.BlockedReplicaApplier, why: why}
}

// watchAppliers follows a statement that takes schema.table's name away (a DROP, a hold's
// RENAME, a restore's RENAME back of a hold name) to every replica, until each has
// applied it (the name is gone there) or the throttle's
// max_replica_lag has passed — a replica healthy by the throttle applies it within that;
// a slower one is caught by the lag signal and by the next drop's look at its appliers.
// An applier seen waiting for a metadata lock stops the shard (an *errStop), and the
// reason says which statement it followed (after: "after dropping schema.table").
func (r *shardRun) watchAppliers(ctx context.Context, schema, table, after string) error {
	tc := r.j.cfg.ThrottleFor(r.sc)
	deadline := time.Now().Add(tc.MaxReplicaLag)
	pending := slices.Clone(r.replicas)
	for len(pending) > 0 {
		var still []replicaDB
		for _, rd := range pending {
			done, err := r.appliedOn(ctx, rd, schema, table, after)
			if err != nil {
				return err
			}
			if !done {
				still = append(still, rd)
			}
		}
		pending = still
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			r.log.InfoContext(ctx, "the DROP has not reached every replica yet; the next drop looks at their appliers again",
				"table", dbconn.QualifiedName(schema, table), "replicas", len(pending))
			return nil
		}
		if !sleep(ctx, tc.CheckInterval) {
			return nil // stopping: the run ends after this table anyway
		}
	}
	return nil
}

// appliedOn reports whether the replica no longer has the table, after checking that
// none of its appliers waits for a metadata lock; after names the statement followed.
func (r *shardRun) appliedOn(ctx context.Context, rd replicaDB, schema, table, after string) (bool, error) {
	v, err := r.replicaView(ctx, rd)
	if err != nil {
		return false, err
	}
	qctx, cancel := context.WithTimeout(ctx, r.j.cfg.ThrottleFor(r.sc).SignalTimeout)
	defer cancel()
	s, waiting, err := replica.WaitingApplier(qctx, v.db)
	switch {
	case err != nil:
		return false, r.replicaUnreadable(ctx, v, err)
	case waiting:
		return false, r.applierBlocked(ctx, v.name, s, after)
	}
	has, err := tableExists(qctx, v.db, schema, table)
	if err != nil {
		return false, r.replicaUnreadable(ctx, v, err)
	}
	if has {
		// Not applied yet. An applier that stopped on an error — the replicated
		// statement failed there, on an object janitor did not see — stops replication
		// until someone fixes it: say so now rather than wait out max_replica_lag and
		// report a clean drop. (The throttle refuses a drop while an applier is down,
		// so one found stopped here stopped after the statement was sent.)
		sts, err := replica.ReadStatuses(qctx, v.db)
		if err != nil {
			return false, r.replicaUnreadable(ctx, v, err)
		}
		for _, st := range sts {
			if !strings.EqualFold(st.SQLRunning, "Yes") {
				return false, r.applierStopped(ctx, v.name, st, after)
			}
		}
	}
	return !has, nil
}

// gtidPosition reads on the dropping connection what the replicas must have applied to
// have applied what the primary has written, in the form their wait function
// (waitApplied) takes: on MariaDB the GTID variable mariadbVar (@@last_gtid for the
// session's last transaction, @@GLOBAL.gtid_binlog_pos for all); on MySQL, whose session
// does not expose its last GTID to SQL, the primary's whole executed set. "" when the
// primary logs no GTIDs (MariaDB without a binary log, MySQL with gtid_mode not ON).
// tag is the queries' comment; what names the MariaDB read in its error.
func (r *shardRun) gtidPosition(ctx context.Context, tag, mariadbVar, what string) (string, error) {
	if r.server.Flavor == discovery.FlavorMariaDB {
		var pos sql.NullString
		if err := r.conn.QueryRowxContext(ctx, "SELECT /* "+tag+" */ "+mariadbVar).Scan(&pos); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		return pos.String, nil
	}
	var mode, set sql.NullString
	if err := r.conn.QueryRowxContext(ctx, "SELECT /* "+tag+" */ @@GLOBAL.gtid_mode, @@GLOBAL.gtid_executed").Scan(&mode, &set); err != nil {
		return "", fmt.Errorf("read the primary's executed GTIDs: %w", err)
	}
	if !strings.EqualFold(mode.String, "ON") {
		return "", nil
	}
	return set.String, nil
}

// waitApplied waits until every configured replica has applied pos, asking each with
// the server's own wait function (MariaDB MASTER_GTID_WAIT, MySQL
// WAIT_FOR_EXECUTED_GTID_SET) in short steps, so that a stop signal, or a wait past the
// deadline, is seen within a step. The wait is not a failure: past the deadline it is a
// stop, and the shard is deferred as when the throttle blocks. A replica that cannot be
// asked is waited for too (fail closed), and named. nil: applied.
func (r *shardRun) waitApplied(ctx context.Context, pos string, deadline time.Time) *errStop {
	tc := r.j.cfg.ThrottleFor(r.sc)
	q := "SELECT /* janitor purge */ MASTER_GTID_WAIT(?, ?)"
	if r.server.Flavor != discovery.FlavorMariaDB {
		q = "SELECT /* janitor purge */ WAIT_FOR_EXECUTED_GTID_SET(?, ?)"
	}
	// A step stays well under the replica connection's read timeout (signal_timeout).
	step := max(100*time.Millisecond, min(time.Second, tc.SignalTimeout/2))
	started := time.Now()
	signal := &errStop{code: report.BlockedSignal, why: "stopped by signal while waiting for the replicas"}
	for _, rd := range r.replicas {
		warned := false
		for {
			res, err := r.waitStep(ctx, rd, q, pos, step, tc.SignalTimeout)
			if err == nil && res.Valid && res.Int64 == 0 {
				break
			}
			if ctx.Err() != nil {
				return signal
			}
			if !time.Now().Before(deadline) {
				return r.behindStop(ctx, &behind{replica: rd.name, pos: pos, waited: time.Since(started), err: err})
			}
			if err != nil || !res.Valid {
				// An error or a NULL answers at once: do not spin on it, nor log it each time.
				if !warned {
					r.log.WarnContext(ctx, "cannot ask a replica whether it applied the purge batch; waiting", "replica", rd.name, "err", err)
					warned = true
				}
				if !sleep(ctx, tc.CheckInterval) {
					return signal
				}
			}
		}
	}
	return nil
}

// waitStep asks one replica to wait up to step for pos: 0 when applied, else a timeout
// (MariaDB -1, MySQL 1) or NULL.
func (r *shardRun) waitStep(ctx context.Context, rd replicaDB, q, pos string, step, timeout time.Duration) (sql.NullInt64, error) {
	var res sql.NullInt64
	qctx, cancel := context.WithTimeout(ctx, step+timeout)
	defer cancel()
	db, err := rd.db.Get(qctx)
	if err != nil {
		return res, err
	}
	err = db.QueryRowxContext(qctx, q, pos, step.Seconds()).Scan(&res)
	return res, err
}
