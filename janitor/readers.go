package janitor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/report"
	"github.com/janitorhq/janitor/throttle"
)

// A DROP replicates. On a replica, a session that reads the table — a long report
// query, or a transaction that read it and stays open — holds the table's metadata
// lock, and the replica's applier then waits behind it with every later event: the
// replica stops applying until the reader ends. So before each DROP (or RENAME) janitor
// looks at every configured replica's sessions, and after each DROP it watches the
// appliers until the DROP is applied.

// Where a replica says who holds a table's metadata lock. A replica that cannot say
// blocks drops on its shard: nothing else shows every reader. INNODB_TRX lists open
// transactions but not the tables they read, and on MariaDB 10.11 and 11.8 it often
// leaves out a transaction that has only read; a metadata lock held outside InnoDB
// (LOCK TABLES, HANDLER, an Aria table) is in no list at all.
const (
	mdlNone     = ""                   // not readable: drops on the shard are refused
	mdlPlugin   = "metadata_lock_info" // MariaDB's plugin, information_schema.METADATA_LOCK_INFO
	mdlPerfSchm = "performance_schema" // MySQL's performance_schema.metadata_locks
)

// replicaView is what one replica's sessions can tell, learned once per run.
type replicaView struct {
	flavor  discovery.Flavor
	account string // the account janitor uses there, quoted for a GRANT
	server  discovery.Server
}

// replicaSession is one row of a replica's process list, with its open transaction.
type replicaSession struct {
	id          int64
	user, cmd   string
	secs        sql.NullInt64
	state       string
	info        sql.NullString
	trxSecs     sql.NullInt64 // age of its open InnoDB transaction
	autocommitR sql.NullInt64 // trx_autocommit_non_locking: a lone autocommit SELECT
}

// applier tells the replication threads (SQL thread, coordinator, workers) from
// client sessions: MariaDB names their commands, both flavors run them as
// 'system user'.
func (s replicaSession) applier() bool {
	return s.user == "system user" || s.cmd == "Slave_SQL" || s.cmd == "Slave_worker"
}

// waitsForMDL: the session waits for a table's metadata lock, or for a backup or global
// read lock, which a replicated DDL waits for the same way.
func (s replicaSession) waitsForMDL() bool {
	for _, p := range appliersWaitStates {
		if strings.HasPrefix(s.state, p) {
			return true
		}
	}
	return false
}

// appliersWaitStates are the states of an applier stalled behind another session's lock.
var appliersWaitStates = []string{"Waiting for table metadata lock", "Waiting for backup lock", "Waiting for global read lock"}

func (s replicaSession) String() string {
	what := fmt.Sprintf("%s for %ds", s.cmd, s.secs.Int64)
	if s.cmd == "Sleep" {
		what = fmt.Sprintf("idle for %ds", s.secs.Int64)
	}
	if s.trxSecs.Valid && s.autocommitR.Int64 == 0 {
		what += fmt.Sprintf(", in a transaction open for %ds", s.trxSecs.Int64)
	}
	return fmt.Sprintf("session %d (user %q, %s)", s.id, s.user, what)
}

// sessionsQuery lists the sessions that run a statement or hold a transaction open,
// and the appliers' states: one query per replica per drop. INNODB_TRX gives a reader's
// transaction age for the reason; it is not evidence on its own (it does not say which
// tables a transaction read, and MariaDB often leaves out one that has only read).
const sessionsQuery = `SELECT /* janitor */ p.ID, p.USER, p.COMMAND, p.TIME, COALESCE(p.STATE, ''), p.INFO,
	TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), t.trx_autocommit_non_locking
	FROM information_schema.PROCESSLIST p LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
	WHERE p.ID <> CONNECTION_ID() AND (p.INFO IS NOT NULL OR t.trx_mysql_thread_id IS NOT NULL
		OR p.USER = 'system user' OR p.COMMAND IN ('Slave_SQL', 'Slave_worker'))`

// mdlQueries name, per source, the sessions holding or waiting for a table's metadata
// lock: the second query per replica per drop, where the replica can answer it.
var mdlQueries = map[string]string{
	mdlPlugin: `SELECT /* janitor */ m.THREAD_ID, COALESCE(p.USER, ''), COALESCE(p.COMMAND, ''), p.TIME, COALESCE(p.STATE, '')
		FROM information_schema.METADATA_LOCK_INFO m LEFT JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
		WHERE m.LOCK_TYPE = 'Table metadata lock' AND m.TABLE_SCHEMA = ? AND m.TABLE_NAME = ? AND m.THREAD_ID <> CONNECTION_ID()`,
	mdlPerfSchm: `SELECT /* janitor */ t.PROCESSLIST_ID, COALESCE(t.PROCESSLIST_USER, ''), COALESCE(t.PROCESSLIST_COMMAND, ''), t.PROCESSLIST_TIME,
		COALESCE(t.PROCESSLIST_STATE, ''), t.NAME
		FROM performance_schema.metadata_locks m JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
		WHERE m.OBJECT_TYPE = 'TABLE' AND m.OBJECT_SCHEMA = ? AND m.OBJECT_NAME = ?
		AND t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID()`,
}

// backupQueries name, per source, the sessions holding a lock that blocks every DDL on
// the server without holding any table's metadata lock: a backup's (MySQL's LOCK
// INSTANCE FOR BACKUP, which XtraBackup 8 holds for its whole copy by default; MariaDB's
// BACKUP STAGE BLOCK_DDL and later stages) or FLUSH TABLES WITH READ LOCK. The
// replicated DROP or RENAME waits behind it ("Waiting for backup lock"), and every later
// event with it. On MariaDB the modes that ordinary statements take (and BACKUP STAGE
// START and FLUSH, which let a DROP through: measured on 10.11) are left out; any other
// mode counts, so a mode janitor does not know errs on the side of waiting.
var backupQueries = map[string]string{
	mdlPlugin: `SELECT /* janitor */ m.THREAD_ID, COALESCE(p.USER, ''), COALESCE(p.COMMAND, ''), p.TIME, COALESCE(p.STATE, ''), m.LOCK_MODE
		FROM information_schema.METADATA_LOCK_INFO m LEFT JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
		WHERE m.LOCK_TYPE = 'Backup lock' AND m.THREAD_ID <> CONNECTION_ID() AND m.LOCK_MODE NOT IN ('MDL_BACKUP_START', 'MDL_BACKUP_FLUSH',
			'MDL_BACKUP_DML', 'MDL_BACKUP_TRANS_DML', 'MDL_BACKUP_SYS_DML', 'MDL_BACKUP_DDL', 'MDL_BACKUP_ALTER_COPY',
			'MDL_BACKUP_ALTER_COPY_COMMIT', 'MDL_BACKUP_COMMIT')`,
	mdlPerfSchm: `SELECT /* janitor */ t.PROCESSLIST_ID, COALESCE(t.PROCESSLIST_USER, ''), COALESCE(t.PROCESSLIST_COMMAND, ''), t.PROCESSLIST_TIME,
		COALESCE(t.PROCESSLIST_STATE, ''), CONCAT(m.OBJECT_TYPE, ' ', m.LOCK_TYPE), t.NAME
		FROM performance_schema.metadata_locks m JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
		WHERE m.OBJECT_TYPE IN ('BACKUP LOCK', 'GLOBAL') AND m.LOCK_TYPE = 'SHARED' AND m.LOCK_STATUS = 'GRANTED'
		AND t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID()`,
}

// replicaView opens (once) the replica's pool and learns what its sessions can tell. Any
// failure is an *errStop: a replica whose sessions or metadata locks janitor cannot see
// blocks drops.
func (r *shardRun) replicaView(ctx context.Context, rd replicaDB) (*sqlx.DB, *replicaView, error) {
	db, err := rd.db.Get(ctx)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return nil, nil, r.replicaUnreadable(ctx, rd.name, "", err)
	}
	if err != nil {
		return nil, nil, &errStop{code: report.BlockedReplicaUnreachable, why: fmt.Sprintf("replica %s: cannot reach it to see its sessions (%v): drops on this shard wait until janitor can, since a reader there would stall its replication", rd.name, err)}
	}
	if v := r.replicaSeen[rd.name]; v != nil {
		return db, v, nil
	}
	qctx, cancel := context.WithTimeout(ctx, r.j.cfg.ThrottleFor(r.sc).SignalTimeout)
	defer cancel()
	srv, err := discovery.ReadServer(qctx, db)
	if err != nil {
		return nil, nil, r.replicaUnreadable(ctx, rd.name, "", err)
	}
	v := &replicaView{flavor: srv.Flavor, account: "janitor's account", server: srv}
	var user string
	if err := db.QueryRowxContext(qctx, "SELECT /* janitor */ CURRENT_USER()").Scan(&user); err == nil {
		if i := strings.LastIndexByte(user, '@'); i >= 0 {
			v.account = fmt.Sprintf("'%s'@'%s'", user[:i], user[i+1:])
		}
	}
	if !srv.SeesAllSessions {
		// Without PROCESS the process list shows janitor's own sessions only, which
		// would read as "nobody reads this table".
		return nil, nil, &errStop{code: report.BlockedReplicaGrants, why: fmt.Sprintf("replica %s: the account cannot see other sessions there: GRANT PROCESS ON *.* TO %s on that replica (docs/dropping.md, Least privilege)", rd.name, v.account)}
	}
	if _, err := r.lockSource(qctx, rd.name, db, v); err != nil {
		r.log.WarnContext(ctx, "replica cannot say who holds a table's metadata lock: nothing is dropped or held on this shard",
			"replica", rd.name, "why", err.Error())
		return nil, nil, err
	}
	if r.replicaSeen == nil {
		r.replicaSeen = map[string]*replicaView{}
	}
	r.replicaSeen[rd.name] = v
	return db, v, nil
}

// lockSource says where the replica tells who holds a table's metadata lock. Where it
// cannot, the error is an *errStop naming the replica, what is missing and the fix: the
// replicated DROP or RENAME would wait there behind a reader janitor cannot see, and
// stall replication. It is asked again before every statement (one small query), so a
// source switched off during a run stops the next drop rather than hiding readers.
func (r *shardRun) lockSource(ctx context.Context, replica string, db *sqlx.DB, v *replicaView) (string, error) {
	if v.flavor == discovery.FlavorMariaDB {
		var n int
		err := db.QueryRowxContext(ctx, `SELECT /* janitor */ COUNT(*) FROM information_schema.PLUGINS
			WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'`).Scan(&n)
		switch {
		case err != nil:
			return mdlNone, r.replicaUnreadable(ctx, replica, v.account, err)
		case n > 0:
			return mdlPlugin, nil
		}
		return mdlNone, noLockSource(replica, "the metadata_lock_info plugin is not loaded",
			"INSTALL SONAME 'metadata_lock_info' there (it stays installed across restarts; to have it on every server built from your config, add plugin_load_add = metadata_lock_info under [mariadbd])")
	}
	// MySQL: metadata_locks lists a lock only while performance_schema is on, the MDL
	// instrument and the global_instrumentation consumer are enabled (all three are
	// MySQL 8's default) and the lock table is not sized to nothing; otherwise it is
	// silently empty.
	var st perfSchemaLocks
	err := db.QueryRowxContext(ctx, `SELECT /* janitor */ @@performance_schema, @@performance_schema_max_metadata_locks,
		(SELECT ENABLED FROM performance_schema.setup_instruments WHERE NAME = 'wait/lock/metadata/sql/mdl'),
		(SELECT ENABLED FROM performance_schema.setup_consumers WHERE NAME = 'global_instrumentation'),
		(SELECT VARIABLE_VALUE FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Performance_schema_metadata_lock_lost')`).
		Scan(&st.on, &st.maxLocks, &st.instrument, &st.consumer, &st.lost)
	if err != nil {
		return mdlNone, r.replicaUnreadable(ctx, replica, v.account, err)
	}
	if missing, fix := st.missing(); missing != "" {
		return mdlNone, noLockSource(replica, missing, fix)
	}
	return mdlPerfSchm, nil
}

// perfSchemaLocks is what a MySQL server says about its metadata_locks table.
type perfSchemaLocks struct {
	on, maxLocks         sql.NullInt64
	instrument, consumer sql.NullString
	lost                 sql.NullInt64 // Performance_schema_metadata_lock_lost
}

// missing says why metadata_locks cannot be trusted to list every holder, and the fix;
// "" when it can.
func (st perfSchemaLocks) missing() (string, string) {
	switch {
	case st.on.Int64 != 1:
		return "performance_schema is off",
			"set performance_schema = ON in its server config and restart it (it cannot be switched on at runtime)"
	case st.maxLocks.Int64 == 0:
		return "performance_schema_max_metadata_locks is 0",
			"remove performance_schema_max_metadata_locks from its server config (the default, -1, sizes it automatically) and restart it"
	case st.instrument.String != "YES":
		return "the wait/lock/metadata/sql/mdl instrument is disabled",
			"UPDATE performance_schema.setup_instruments SET ENABLED = 'YES' WHERE NAME = 'wait/lock/metadata/sql/mdl' there (and performance-schema-instrument = 'wait/lock/metadata/sql/mdl=ON' in its server config, so a restart keeps it)"
	case st.consumer.String != "YES":
		return "the global_instrumentation consumer is disabled",
			"UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME = 'global_instrumentation' there (and performance-schema-consumer-global-instrumentation = ON in its server config, so a restart keeps it)"
	case st.lost.Int64 > 0:
		// The lock table was full at some point: any lock since may be missing from it,
		// silently. The counter only resets with the server.
		return fmt.Sprintf("performance_schema dropped %d metadata locks it had no room for since the server started, so its list may miss a holder", st.lost.Int64),
			"remove performance_schema_max_metadata_locks from its server config (the default, -1, sizes it automatically), or raise it, and restart it"
	}
	return "", ""
}

// noLockSource is the *errStop of a replica that cannot say who holds a metadata lock.
func noLockSource(replica, missing, fix string) error {
	return &errStop{code: report.BlockedReplicaLockSource, why: fmt.Sprintf("replica %s: cannot see who holds a table's metadata lock there (%s): a reader there in an open transaction would go unseen and the replicated DROP or RENAME would stall replication behind it, so nothing is dropped or held on this shard. Fix: %s; docs/dropping.md, Readers on replicas",
		replica, missing, fix)}
}

// replicaUnreadable turns a failure to read a replica's sessions into the *errStop that
// blocks the shard, naming the grant when the server refused for want of one. A signal
// (ctx cancelled, not a query's own timeout) is named as such, not as an unreadable
// replica.
func (r *shardRun) replicaUnreadable(ctx context.Context, replica, account string, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return &errStop{code: report.BlockedSignal, why: "stopped by signal while looking at the replicas' sessions"}
	}
	if account == "" {
		account = "janitor's account"
	}
	if dbconn.IsError(err, dbconn.ErrSpecificAccess, 1142, 1044) { // 1142 table access denied, 1044 database access denied
		return &errStop{code: report.BlockedReplicaGrants, why: fmt.Sprintf("replica %s: cannot read its sessions (%v): GRANT PROCESS ON *.* TO %s there (MySQL: and SELECT ON performance_schema.*), as docs/dropping.md (Least privilege) lists", replica, err, account)}
	}
	return &errStop{code: report.BlockedReplicaUnreadable, why: fmt.Sprintf("replica %s: cannot read its sessions (%v): drops on this shard wait until janitor can", replica, err)}
}

// replicaReaders looks at every configured replica of the shard for sessions that use
// schema.table: a running statement that names it, or a session holding or waiting for
// its metadata lock. It returns one line per reader; a non-nil error (an *errStop)
// means drops on this shard must stop: a replica's sessions or metadata locks could not
// be read, or its applier already waits for a metadata lock. The DROP path calls it
// after the re-check; a RENAME path must call it too.
func (r *shardRun) replicaReaders(ctx context.Context, schema, table string) ([]string, error) {
	return r.onEachReplica(ctx, func(qctx context.Context, rd replicaDB, db *sqlx.DB, v *replicaView) ([]string, error) {
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
			lines, background, err := r.readersOn(qctx, rd.name, db, v, schema, table)
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

// replicaReferences reads, on every configured replica, what names the table there: a
// replica may hold objects the primary lacks (a reporting schema written with
// sql_log_bin=0, a replica-only child table), and the replicated DROP would break them —
// a foreign key from such a child stops the replica's applier with error 1451. A table
// missing on a replica would stop it with error 1051. Each finding is a reason not to
// drop; evidence a replica cannot show is one too.
func (r *shardRun) replicaReferences(ctx context.Context, t *discovery.Table) ([]string, error) {
	return r.onEachReplica(ctx, func(qctx context.Context, rd replicaDB, db *sqlx.DB, v *replicaView) ([]string, error) {
		// The account's grants afresh, not the run's first look (v.server): a partial
		// revoke or a lost privilege since then hides that replica's objects from every
		// new session of the pool.
		srv, err := discovery.ReadServer(qctx, db)
		if err != nil {
			return nil, r.replicaUnreadable(ctx, rd.name, v.account, err)
		}
		in := discovery.NewInspector(db, srv, r.j.discoveryOptions(), r.log)
		refs, unreadable, gone, err := in.References(qctx, discovery.Name{Schema: t.Schema, Table: t.Name, Orphan: t.Orphan})
		switch {
		case err != nil:
			return nil, r.replicaUnreadable(ctx, rd.name, v.account, err)
		case gone:
			// Not there: nothing on the replica can name it. Whether janitor's
			// statements may reach a replica without it is replicaStatements' business
			// (filters.go), which runs first.
		case len(unreadable) > 0:
			return []string{fmt.Sprintf("replica %s: cannot read what references it there (%s)", rd.name, strings.Join(unreadable, "; "))}, nil
		case len(refs) > 0:
			return []string{fmt.Sprintf("replica %s: referenced there by %s", rd.name, strings.Join(refs, ", "))}, nil
		}
		return nil, nil
	})
}

// onEachReplica calls fn on every configured replica, with its pool, its view (who we
// are there, what it is) and a context bounded by throttle.signal_timeout, and gathers
// the lines fn returns. The first error ends the walk: a replica that cannot be read
// stops drops rather than being passed over.
func (r *shardRun) onEachReplica(ctx context.Context, fn func(qctx context.Context, rd replicaDB, db *sqlx.DB, v *replicaView) ([]string, error)) ([]string, error) {
	var out []string
	for _, rd := range r.replicas {
		db, v, err := r.replicaView(ctx, rd)
		if err != nil {
			return nil, err
		}
		qctx, cancel := context.WithTimeout(ctx, r.j.cfg.ThrottleFor(r.sc).SignalTimeout)
		lines, err := fn(qctx, rd, db, v)
		cancel()
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return out, nil
}

// background reports that the only finding is a metadata lock held by thread 0 (no
// session: a MariaDB server thread), which replicaReaders looks at again.
func (r *shardRun) readersOn(ctx context.Context, replica string, db *sqlx.DB, v *replicaView, schema, table string) (_ []string, background bool, _ error) {
	src, err := r.lockSource(ctx, replica, db, v)
	if err != nil {
		return nil, false, err
	}
	rows, err := db.QueryxContext(ctx, sessionsQuery)
	if err != nil {
		return nil, false, r.replicaUnreadable(ctx, replica, v.account, err)
	}
	var sessions []replicaSession
	for rows.Next() {
		var s replicaSession
		if err := rows.Scan(&s.id, &s.user, &s.cmd, &s.secs, &s.state, &s.info, &s.trxSecs, &s.autocommitR); err != nil {
			rows.Close()
			return nil, false, r.replicaUnreadable(ctx, replica, v.account, err)
		}
		sessions = append(sessions, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, r.replicaUnreadable(ctx, replica, v.account, err)
	}
	var out []string
	seen := map[int64]bool{}
	for _, s := range sessions {
		switch {
		case s.applier():
			if s.waitsForMDL() {
				return nil, false, r.applierBlocked(ctx, replica, s, "before dropping "+dbconn.QualifiedName(schema, table))
			}
		case s.info.Valid && discovery.Mentions(s.info.String, schema, table):
			seen[s.id] = true
			out = append(out, fmt.Sprintf("replica %s: %s runs a statement naming it: %s", replica, s, clip(s.info.String)))
		}
	}
	blockers, err := r.backupLocksOn(ctx, replica, db, v, src)
	if err != nil {
		return nil, false, err
	}
	out = append(out, blockers...)
	holders, err := db.QueryxContext(ctx, mdlQueries[src], schema, table)
	if err != nil {
		return nil, false, r.replicaUnreadable(ctx, replica, v.account, err)
	}
	defer holders.Close()
	for holders.Next() {
		var s replicaSession
		dest := []any{&s.id, &s.user, &s.cmd, &s.secs, &s.state}
		var thread string
		if src == mdlPerfSchm {
			dest = append(dest, &thread)
		}
		if err := holders.Scan(dest...); err != nil {
			return nil, false, r.replicaUnreadable(ctx, replica, v.account, err)
		}
		// The appliers' own locks are the replication of earlier events, not readers.
		if seen[s.id] || s.applier() || strings.Contains(thread, "/replica_") || strings.Contains(thread, "/slave_") {
			continue
		}
		seen[s.id] = true
		background = background || s.id == 0
		if i := slices.IndexFunc(sessions, func(o replicaSession) bool { return o.id == s.id }); i >= 0 {
			s.trxSecs = sessions[i].trxSecs
		}
		out = append(out, fmt.Sprintf("replica %s: %s holds its metadata lock", replica, s))
	}
	if err := holders.Err(); err != nil {
		return nil, false, r.replicaUnreadable(ctx, replica, v.account, err)
	}
	if src == mdlPerfSchm {
		unlisted, err := r.locksUnlisted(ctx, replica, db, v, sessions, seen)
		if err != nil {
			return nil, false, err
		}
		out = append(out, unlisted...)
	}
	return out, background, nil
}

// locksUnlisted finds, on MySQL, sessions whose metadata locks performance_schema cannot
// list: it records a lock only if the MDL instrument was enabled when the lock was taken
// (measured on 9.7.4), so a transaction that read the table before the instrument was
// switched on at runtime holds a lock no query shows. Any open transaction holds at
// least the metadata lock of what it read; one with none listed is such a session and
// defers the table (a transaction that has read nothing yet, START TRANSACTION WITH
// CONSISTENT SNAPSHOT, defers it too: a run later, it has read something or ended).
func (r *shardRun) locksUnlisted(ctx context.Context, replica string, db *sqlx.DB, v *replicaView, sessions []replicaSession, seen map[int64]bool) ([]string, error) {
	var open []replicaSession
	for _, s := range sessions {
		if s.trxSecs.Valid && !s.applier() && !seen[s.id] {
			open = append(open, s)
		}
	}
	if len(open) == 0 {
		return nil, nil
	}
	var owners []int64
	err := sqlx.SelectContext(ctx, db, &owners, `SELECT /* janitor */ DISTINCT t.PROCESSLIST_ID
		FROM performance_schema.metadata_locks m JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
		WHERE t.PROCESSLIST_ID IS NOT NULL`)
	if err != nil {
		return nil, r.replicaUnreadable(ctx, replica, v.account, err)
	}
	var out []string
	for _, s := range open {
		if !slices.Contains(owners, s.id) {
			out = append(out, fmt.Sprintf("replica %s: %s holds no metadata lock performance_schema lists: its locks were taken before the wait/lock/metadata/sql/mdl instrument was enabled, so what it read cannot be known", replica, s))
		}
	}
	return out, nil
}

// backupLocksOn lists the sessions on a replica holding a lock that blocks every DDL
// there (backupQueries), one line each.
func (r *shardRun) backupLocksOn(ctx context.Context, replica string, db *sqlx.DB, v *replicaView, src string) ([]string, error) {
	rows, err := db.QueryxContext(ctx, backupQueries[src])
	if err != nil {
		return nil, r.replicaUnreadable(ctx, replica, v.account, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s replicaSession
		var mode, thread string
		dest := []any{&s.id, &s.user, &s.cmd, &s.secs, &s.state, &mode}
		if src == mdlPerfSchm {
			dest = append(dest, &thread)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, r.replicaUnreadable(ctx, replica, v.account, err)
		}
		if s.applier() || strings.Contains(thread, "/replica_") || strings.Contains(thread, "/slave_") {
			continue
		}
		out = append(out, fmt.Sprintf("replica %s: %s holds a backup lock that blocks every DDL there (%s: a backup, or FLUSH TABLES WITH READ LOCK)", replica, s, mode))
	}
	if err := rows.Err(); err != nil {
		return nil, r.replicaUnreadable(ctx, replica, v.account, err)
	}
	return out, nil
}

// applierBlocked stops the shard's drops: a replica's applier waits for a metadata
// lock, so replication there is stalled until whoever holds it lets go, and every
// further DROP would queue behind it too.
func (r *shardRun) applierBlocked(ctx context.Context, replica string, s replicaSession, when string) error {
	what := "a table metadata lock"
	if !strings.HasPrefix(s.state, appliersWaitStates[0]) {
		what = fmt.Sprintf("a lock (%s: a backup or FLUSH TABLES WITH READ LOCK holds it)", strings.ToLower(s.state))
	}
	why := fmt.Sprintf("replica %s: its applier (session %d) waits for %s (%ds so far, seen %s): replication there is stalled behind the session holding it; stopped dropping on this shard. Find the holder on %s and end it, or wait for it",
		replica, s.id, what, s.secs.Int64, when, replica)
	r.log.ErrorContext(ctx, "replica applier waits for a metadata lock: stopping drops on this shard", "replica", replica, "applier_session", s.id, "seconds", s.secs.Int64, "when", when)
	if h := r.j.Hooks.ReplicaBlocked; h != nil {
		h(r.sc.Name, replica)
	}
	return &errStop{code: report.BlockedReplicaApplier, why: why}
}

// applierStopped stops the shard when a replica's applier has stopped, counted and
// alerted like an applier blocked on a metadata lock.
func (r *shardRun) applierStopped(ctx context.Context, replica string, st throttle.ReplicaStatus, when string) error {
	why := fmt.Sprintf("replica %s: its applier (channel %q) stopped %s (SQL thread running: %s; last error: %s): replication there has stopped; stopped dropping on this shard. Fix the replica and restart its applier",
		replica, st.Channel, when, st.SQLRunning, st.LastError)
	r.log.ErrorContext(ctx, "replica applier stopped: stopping drops on this shard", "replica", replica, "channel", st.Channel, "last_error", st.LastError, "when", when)
	if h := r.j.Hooks.ReplicaBlocked; h != nil {
		h(r.sc.Name, replica)
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
	db, v, err := r.replicaView(ctx, rd)
	if err != nil {
		return false, err
	}
	qctx, cancel := context.WithTimeout(ctx, r.j.cfg.ThrottleFor(r.sc).SignalTimeout)
	defer cancel()
	var s replicaSession
	err = db.QueryRowxContext(qctx, `SELECT /* janitor */ ID, USER, COMMAND, TIME, STATE FROM information_schema.PROCESSLIST
		WHERE (USER = 'system user' OR COMMAND IN ('Slave_SQL', 'Slave_worker'))
		AND (STATE LIKE 'Waiting for table metadata lock%' OR STATE LIKE 'Waiting for backup lock%' OR STATE LIKE 'Waiting for global read lock%') LIMIT 1`).
		Scan(&s.id, &s.user, &s.cmd, &s.secs, &s.state)
	switch {
	case err == nil:
		return false, r.applierBlocked(ctx, rd.name, s, after)
	case !errors.Is(err, sql.ErrNoRows):
		return false, r.replicaUnreadable(ctx, rd.name, v.account, err)
	}
	var n int
	if err := db.QueryRowxContext(qctx, "SELECT /* janitor */ COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", schema, table).Scan(&n); err != nil {
		return false, r.replicaUnreadable(ctx, rd.name, v.account, err)
	}
	if n > 0 {
		// Not applied yet. An applier that stopped on an error — the replicated
		// statement failed there, on an object janitor did not see — stops replication
		// until someone fixes it: say so now rather than wait out max_replica_lag and
		// report a clean drop. (The throttle refuses a drop while an applier is down,
		// so one found stopped here stopped after the statement was sent.)
		sts, err := throttle.ReadReplicaStatuses(qctx, db)
		if err != nil {
			return false, r.replicaUnreadable(ctx, rd.name, v.account, err)
		}
		for _, st := range sts {
			if !strings.EqualFold(st.SQLRunning, "Yes") {
				return false, r.applierStopped(ctx, rd.name, st, after)
			}
		}
	}
	return n == 0, nil
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		return string(r[:120]) + "…"
	}
	return s
}
