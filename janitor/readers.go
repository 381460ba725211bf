package janitor

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/replica"
)

// Readers of a table on a replica: where a replica says who holds a table's metadata
// lock (replica.LockSource), and a replica that cannot say blocks drops on its shard,
// since nothing else shows every reader (replicas.go, lockSource). The looks cost a
// fixed number of queries per replica per statement (docs/benchmarks.md): the sessions
// with their transactions, the lock source, the backup locks, the table's metadata-lock
// holders, and on MySQL the sessions whose locks performance_schema cannot list.

// replicaReaders looks at every configured replica of the shard for sessions that use
// schema.table: a running statement that names it, or a session holding or waiting for
// its metadata lock. It returns one line per reader; a non-nil error (an *errStop)
// means drops on this shard must stop: a replica's sessions or metadata locks could not
// be read, or its applier already waits for a metadata lock. The DROP path calls it
// after the re-check; a RENAME path must call it too.
func (r *shardRun) replicaReaders(ctx context.Context, schema, table string) ([]string, error) {
	return r.onEachReplica(ctx, func(qctx context.Context, v *replicaView) ([]string, error) {
		// MariaDB lists, for a moment after a bulk write or a purge batch is applied, a
		// metadata lock on the table held by thread 0: no session, a server thread of its
		// own. It is gone within milliseconds, so such a finding alone is looked at again
		// for a short while before it defers the table; one that stays defers it.
		wait := time.Now().Add(backgroundLockWait)
		if dl, ok := qctx.Deadline(); ok && dl.Add(-time.Second).Before(wait) {
			// The looks share throttle.signal_timeout: leave the last one its time.
			wait = dl.Add(-time.Second)
		}
		for {
			lines, background, err := r.readersOn(qctx, v, schema, table)
			if err != nil || !background || len(lines) > 1 || !time.Now().Before(wait) {
				return lines, err
			}
			if !sleep(qctx, 100*time.Millisecond) {
				return lines, nil
			}
		}
	})
}

// backgroundLockWait bounds how long a metadata lock held by a MariaDB server thread
// (thread 0), and nothing else, is looked at again before it defers a table.
const backgroundLockWait = 2 * time.Second

// readersOn is one look at one replica. background reports that the only finding is a
// metadata lock held by thread 0 (no session: a MariaDB server thread), which
// replicaReaders looks at again.
func (r *shardRun) readersOn(ctx context.Context, v *replicaView, schema, table string) (_ []string, background bool, _ error) {
	src, err := r.lockSource(ctx, v)
	if err != nil {
		return nil, false, err
	}
	sessions, err := replica.Sessions(ctx, v.db)
	if err != nil {
		return nil, false, r.replicaUnreadable(ctx, v, err)
	}
	var out []string
	seen := map[int64]bool{}
	for _, s := range sessions {
		switch {
		case s.Applier():
			if s.WaitsForLock() {
				return nil, false, r.applierBlocked(ctx, v.name, s, "before dropping "+dbconn.QualifiedName(schema, table))
			}
		case s.Info.Valid && discovery.Mentions(s.Info.String, schema, table):
			seen[s.ID] = true
			out = append(out, fmt.Sprintf("replica %s: %s runs a statement naming it: %s", v.name, s, clip(s.Info.String)))
		}
	}
	blockers, err := r.backupLocksOn(ctx, v, src)
	if err != nil {
		return nil, false, err
	}
	out = append(out, blockers...)
	holders, err := replica.Holders(ctx, v.db, src, schema, table)
	if err != nil {
		return nil, false, r.replicaUnreadable(ctx, v, err)
	}
	for _, s := range holders {
		// The appliers' own locks are the replication of earlier events, not readers.
		if seen[s.ID] || s.Applier() {
			continue
		}
		seen[s.ID] = true
		background = background || s.ID == 0
		if i := slices.IndexFunc(sessions, func(o replica.Session) bool { return o.ID == s.ID }); i >= 0 {
			s.TrxSecs = sessions[i].TrxSecs
		}
		out = append(out, fmt.Sprintf("replica %s: %s holds its metadata lock", v.name, s))
	}
	if src == replica.PerfSchema {
		unlisted, err := r.locksUnlisted(ctx, v, sessions, seen)
		if err != nil {
			return nil, false, err
		}
		out = append(out, unlisted...)
	}
	return out, background, nil
}

// locksUnlisted finds, on MySQL, sessions whose metadata locks performance_schema cannot
// list (replica.LockOwners): a transaction that read the table before the MDL instrument
// was switched on at runtime holds a lock no query shows. Any open transaction holds at
// least the metadata lock of what it read; one with none listed is such a session and
// defers the table (a transaction that has read nothing yet, START TRANSACTION WITH
// CONSISTENT SNAPSHOT, defers it too: a run later, it has read something or ended).
func (r *shardRun) locksUnlisted(ctx context.Context, v *replicaView, sessions []replica.Session, seen map[int64]bool) ([]string, error) {
	var open []replica.Session
	for _, s := range sessions {
		if s.TrxSecs.Valid && !s.Applier() && !seen[s.ID] {
			open = append(open, s)
		}
	}
	if len(open) == 0 {
		return nil, nil
	}
	owners, err := replica.LockOwners(ctx, v.db)
	if err != nil {
		return nil, r.replicaUnreadable(ctx, v, err)
	}
	var out []string
	for _, s := range open {
		if !slices.Contains(owners, s.ID) {
			out = append(out, fmt.Sprintf("replica %s: %s holds no metadata lock performance_schema lists: its locks were taken before the wait/lock/metadata/sql/mdl instrument was enabled, so what it read cannot be known", v.name, s))
		}
	}
	return out, nil
}

// backupLocksOn lists the sessions on a replica holding a lock that blocks every DDL
// there (replica.BackupLocks), one line each; the appliers' own are not readers.
func (r *shardRun) backupLocksOn(ctx context.Context, v *replicaView, src replica.Source) ([]string, error) {
	locks, err := replica.BackupLocks(ctx, v.db, src)
	if err != nil {
		return nil, r.replicaUnreadable(ctx, v, err)
	}
	var out []string
	for _, l := range locks {
		if !l.Applier() {
			out = append(out, fmt.Sprintf("replica %s: %s holds a backup lock that blocks every DDL there (%s: a backup, or FLUSH TABLES WITH READ LOCK)", v.name, l.Session, l.Mode))
		}
	}
	return out, nil
}
