package janitor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/replica"
	"github.com/janitorhq/janitor/report"
)

// A replica's appliers, as the dropper sees them: before a statement, one waiting for
// another session's lock stops the shard (readersOn finds it); after it, watchAppliers
// follows the statement to every replica until it is applied, and a stopped or blocked
// applier met on the way stops the shard too. What an applier is, and its wait states,
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

// watchAppliers follows a DROP of schema.table (or, held, a hold's RENAME of it) to every
// replica, until each has applied it (the table is gone there) or the throttle's
// max_replica_lag has passed — a replica healthy by the throttle applies it within that;
// a slower one is caught by the lag signal and by the next drop's look at its appliers.
// An applier seen waiting for a metadata lock stops the shard (an *errStop), and the
// reason says which of the two statements it followed.
func (r *shardRun) watchAppliers(ctx context.Context, schema, table string, held bool) error {
	after := "after dropping " + dbconn.QualifiedName(schema, table)
	if held {
		after = "after the hold's RENAME of " + dbconn.QualifiedName(schema, table)
	}
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
