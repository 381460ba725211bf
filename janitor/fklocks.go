package janitor

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/replica"
	"github.com/janitorhq/janitor/report"
)

// On MySQL 8 and later the DDL janitor sends on a table — the hold's comment ALTER, its
// RENAME, the DROP — also takes an exclusive metadata lock on every table a foreign key
// joins it to: its parents (pt-osc's _orders_old keeps its key to the live customers)
// and its children. A session that read such a live table in a transaction it keeps
// open makes the statement wait, and every new query of that live table queues behind
// the waiting statement: on the primary for the statement's lock_wait_timeout, on a
// replica (where the applier waits without a limit) until the reader ends. MariaDB
// 10.11 locks none of them (measured: docs/dropping.md, Locks). So before each such
// statement janitor looks, on every server whose DDL locks them, for sessions holding
// those tables' metadata locks, and sends the statement itself with a short lock wait.

// fkLockWait is the session lock_wait_timeout of a statement that locks live tables
// through foreign keys: the longest a reader that arrives between the check and the
// statement can stall those tables on the primary. MySQL counts it in whole seconds.
const fkLockWait = time.Second

// locksFKTables reports whether DDL on a server of this flavor locks the tables a
// foreign key joins the table to: MySQL 8 and later do (measured on 9.7.4), MariaDB does
// not (measured on 10.11; TestDDLLocksOnFKTables). MySQL 5.7, not measured, is taken to
// lock them: a check too many defers a leftover, one too few stalls a live table.
func locksFKTables(f discovery.Flavor) bool { return f != discovery.FlavorMariaDB }

// fkState is what the last preDropChecks learned of the table's foreign keys, for the
// statement that follows it.
type fkState struct {
	tables []discovery.FKTable // the live tables the statement locks on the primary
}

// fkTables reads, on the dropping connection, the tables a foreign key joins t to, when
// the primary's or a replica's DDL locks them (on a MariaDB-only shard nothing is read).
// A set janitor cannot read exactly leaves the table (skipped, with the reason).
func (r *shardRun) fkTables(ctx context.Context, t *discovery.Table) ([]discovery.FKTable, decision, error) {
	needed := locksFKTables(r.server.Flavor)
	for _, rd := range r.replicas {
		if v := r.replicaSeen[rd.name]; v == nil || locksFKTables(v.flavor) {
			needed = true // a replica not looked at yet may be MySQL: read the set
		}
	}
	if !needed {
		return nil, proceed(), nil
	}
	in := discovery.NewInspector(r.conn, r.server, r.j.discoveryOptions(), r.log)
	fks, err := in.ForeignKeyTables(ctx, discovery.Name{Schema: t.Schema, Table: t.Name, Orphan: t.Orphan})
	if err != nil {
		if connectionLost(err) {
			return nil, decision{}, err
		}
		return nil, leave(outcome{report.OutcomeSkipped, "cannot tell which tables its DDL would lock through foreign keys: " + err.Error(), 0}), nil
	}
	return fks, proceed(), nil
}

// fkHolder is a session holding (or waiting for) a metadata lock on a table the
// statement would lock through a foreign key.
type fkHolder struct{ replica.Lock }

// reader tells, on the primary, a session that would stall the statement from one that
// is about to let go: one that has held the lock for more than a second as far as the
// server tells — running a statement, or idle (in a transaction, LOCK TABLES, HANDLER),
// for that long, or in a transaction open that long. The server counts whole seconds (a
// process list's TIME, INNODB_TRX's trx_started), so a session two milliseconds old may
// show 1: 2 is the first value that means a second has passed. A live table always has
// younger holders: its ordinary traffic (under load a sysbench transaction shows 1 at
// times), which deferring on would never drop. The rule is right on the primary only:
// there the statement waits for such a holder under fkLockWait, so the damage a young
// holder (or one that arrives after the check) can do is bounded by that second, after
// which the statement gives up and the table is deferred. A replica's applier waits
// without any limit, so there every holder counts, whatever its age (replicaFKReaders).
func (h fkHolder) reader() bool {
	return h.Secs.Int64 >= 2 || h.TrxSecs.Int64 >= 2
}

// fkHolders lists, on one server, the sessions that hold or wait for a metadata lock on
// any of tables and would stall a statement that locks them: on the primary those that
// pass fkHolder.reader; with anyAge (a replica, whose applier waits without a limit)
// every one. The replication threads' own locks are the applying of earlier events, not
// readers.
func fkHolders(ctx context.Context, q sqlx.QueryerContext, src replica.Source, tables []discovery.FKTable, anyAge bool) ([]fkHolder, error) {
	names := make([][2]string, len(tables))
	for i, t := range tables {
		names[i] = [2]string{t.Schema, t.Table}
	}
	locks, err := replica.TableLocks(ctx, q, src, names)
	if err != nil {
		return nil, err
	}
	var out []fkHolder
	for _, l := range locks {
		// The collations may fold case: only the tables asked about count.
		if h := (fkHolder{l}); fkListed(tables, l.Schema, l.Table) && !l.Applier() && (anyAge || h.reader()) {
			out = append(out, h)
		}
	}
	return out, nil
}

func fkListed(tables []discovery.FKTable, schema, name string) bool {
	for _, t := range tables {
		if t.Schema == schema && t.Table == name {
			return true
		}
	}
	return false
}

// fkRole names schema.name with its side of the foreign key, for a reason.
func fkRole(tables []discovery.FKTable, schema, name string) string {
	for _, t := range tables {
		if t.Schema == schema && t.Table == name {
			return fmt.Sprintf("%s (%s, key %s)", dbconn.QualifiedName(schema, name), t.Role(), t.Key)
		}
	}
	return dbconn.QualifiedName(schema, name)
}

// describe is one holder for a reason: the live table, the session and its age.
func (h fkHolder) describe(where string, tables []discovery.FKTable) string {
	s := h.Session
	if s.TrxSecs.Valid {
		s.AutocommitRO = sql.NullInt64{} // its age is the point here
	}
	return fmt.Sprintf("%s: %s holds a metadata lock (%s) on live table %s", where, s, h.Mode, fkRole(tables, h.Schema, h.Table))
}

// primaryFKReaders looks on the primary, on the dropping connection, for sessions that
// would stall the statement on a live table it locks through a foreign key, and for a
// backup or global read lock, which the statement would wait for while already holding
// some of those tables' locks. It returns one line per finding; a primary that cannot
// say who holds a metadata lock is a finding too (the table waits until it can).
func (r *shardRun) primaryFKReaders(ctx context.Context, tables []discovery.FKTable) ([]string, error) {
	where := "primary " + r.sc.Name
	qctx, cancel := context.WithTimeout(ctx, r.j.cfg.ThrottleFor(r.sc).SignalTimeout)
	defer cancel()
	src, missing, err := replica.LockSource(qctx, r.conn, r.server.Flavor)
	if err != nil {
		return nil, fmt.Errorf("read the primary's metadata-lock source: %w", err)
	}
	if src == replica.None {
		return []string{fmt.Sprintf("%s cannot say who holds the metadata locks of the live tables its DDL would lock (%s): %s; %s",
			where, fkNames(tables), missing.What, missing.Fix)}, nil
	}
	holders, err := fkHolders(qctx, r.conn, src, tables, false)
	if err != nil {
		return nil, fmt.Errorf("read the primary's metadata locks on %s: %w", fkNames(tables), err)
	}
	var out []string
	for _, h := range holders {
		out = append(out, h.describe(where, tables))
	}
	if src == replica.PerfSchema {
		unlisted, err := replica.UnlistedTransactions(qctx, r.conn)
		if err == nil && len(unlisted) > 0 {
			// INNODB_TRX answers from a cache the server refreshes at most every 100 ms:
			// a transaction that has just ended may still be in it. Only those seen
			// again after the cache has been renewed count.
			if !sleep(qctx, 200*time.Millisecond) {
				return nil, fmt.Errorf("read the primary's open transactions: %w", qctx.Err())
			}
			var again []replica.Session
			if again, err = replica.UnlistedTransactions(qctx, r.conn); err == nil {
				unlisted = slices.DeleteFunc(again, func(s replica.Session) bool {
					return !slices.ContainsFunc(unlisted, func(o replica.Session) bool { return o.ID == s.ID })
				})
			}
		}
		if err != nil {
			return nil, fmt.Errorf("read the primary's open transactions: %w", err)
		}
		for _, s := range unlisted {
			out = append(out, fmt.Sprintf("%s: %s holds no metadata lock performance_schema lists (its locks were taken before the wait/lock/metadata/sql/mdl instrument was enabled), so it may hold %s",
				where, s, fkNames(tables)))
		}
	}
	locks, err := replica.BackupLocks(qctx, r.conn, src)
	if err != nil {
		return nil, fmt.Errorf("read the primary's backup locks: %w", err)
	}
	for _, l := range locks {
		out = append(out, fmt.Sprintf("%s: %s holds a backup lock (%s: a backup, or FLUSH TABLES WITH READ LOCK) that the DDL would wait for while holding the locks of %s",
			where, l.Session, l.Mode, fkNames(tables)))
	}
	return out, nil
}

// replicaFKReaders looks, on every replica whose DDL locks them, for sessions that
// would stall the replicated statement's applier on a live table it locks through a
// foreign key: the tables read on the primary, and those the replica's own copy of the
// table has keys to (a replica may hold keys the primary lacks). Any holder counts,
// however young: the applier waits for it without a limit, and a reader that started a
// moment before the check may keep its transaction open for as long as it likes.
func (r *shardRun) replicaFKReaders(ctx context.Context, t *discovery.Table, tables []discovery.FKTable) ([]string, error) {
	return r.onEachReplica(ctx, func(qctx context.Context, v *replicaView) ([]string, error) {
		if !locksFKTables(v.flavor) {
			return nil, nil
		}
		src, err := r.lockSource(qctx, v)
		if err != nil {
			return nil, err
		}
		set := tables
		in := discovery.NewInspector(v.db, v.server, r.j.discoveryOptions(), r.log)
		own, err := in.ForeignKeyTables(qctx, discovery.Name{Schema: t.Schema, Table: t.Name, Orphan: t.Orphan})
		if err != nil {
			return []string{fmt.Sprintf("replica %s: cannot tell which tables the replicated DDL would lock there through foreign keys: %v", v.name, err)}, nil
		}
		for _, o := range own {
			if !fkListed(set, o.Schema, o.Table) {
				set = append(set[:len(set):len(set)], o)
			}
		}
		holders, err := fkHolders(qctx, v.db, src, set, true)
		if err != nil {
			return nil, r.replicaUnreadable(ctx, v, err)
		}
		var out []string
		for _, h := range holders {
			out = append(out, h.describe("replica "+v.name, set))
		}
		return out, nil
	})
}

func fkNames(tables []discovery.FKTable) string {
	var names []string
	for _, t := range tables {
		names = append(names, dbconn.QualifiedName(t.Schema, t.Table))
	}
	return strings.Join(names, ", ")
}

// setLockWait gives the dropping session the lock wait of the statement that follows:
// fkLockWait when it locks live tables through foreign keys on the primary, else
// execute.lock_wait_timeout. It is set before every statement, so a table without
// keys after one with them waits as configured.
func (r *shardRun) setLockWait(ctx context.Context, fk bool) error {
	lwt := r.j.cfg.Execute.LockWaitTimeout
	if fk {
		lwt = min(lwt, fkLockWait)
	}
	if _, err := r.conn.ExecContext(ctx, fmt.Sprintf("SET /* janitor */ SESSION lock_wait_timeout = %d", int64(lwt/time.Second))); err != nil {
		return fmt.Errorf("set lock_wait_timeout: %w", err)
	}
	return nil
}

// lockWaitReason is the reason of a statement that gave up waiting for a lock: on a
// table with foreign keys the holder may be on a live table the statement locks too,
// not on the leftover, so both are named.
func (r *shardRun) lockWaitReason(what string) string {
	if len(r.fk.tables) == 0 {
		return fmt.Sprintf("another session holds a lock on it (lock_wait_timeout %s)", r.j.cfg.Execute.LockWaitTimeout)
	}
	return fmt.Sprintf("another session holds a lock on it or on a live table that janitor's statement (%s) locks through a foreign key: %s (lock_wait_timeout %s, short for such tables so that their queries queue no longer)",
		what, fkNames(r.fk.tables), min(r.j.cfg.Execute.LockWaitTimeout, fkLockWait))
}
