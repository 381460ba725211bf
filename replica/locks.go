package replica

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/discovery"
)

// Source is where a server says who holds a table's metadata lock. A server that cannot
// say (None) proves nothing about readers: nothing else shows every one. INNODB_TRX
// lists open transactions but not the tables they read, and on MariaDB 10.11 and 11.8 it
// often leaves out a transaction that has only read; a metadata lock held outside InnoDB
// (LOCK TABLES, HANDLER, an Aria table) is in no list at all.
type Source string

const (
	None       Source = ""                   // not readable
	Plugin     Source = "metadata_lock_info" // MariaDB's plugin, information_schema.METADATA_LOCK_INFO
	PerfSchema Source = "performance_schema" // MySQL's performance_schema.metadata_locks
)

// Missing says why a server is no lock source, and the fix.
type Missing struct{ What, Fix string }

// LockSource says where the server of flavor f lists metadata locks; None with what is
// missing when it cannot. One small query: callers ask again before every statement, so
// a source switched off during a run is seen.
func LockSource(ctx context.Context, q sqlx.QueryerContext, f discovery.Flavor) (Source, Missing, error) {
	if f == discovery.FlavorMariaDB {
		var n int
		if err := q.QueryRowxContext(ctx, `SELECT /* janitor */ COUNT(*) FROM information_schema.PLUGINS
			WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'`).Scan(&n); err != nil {
			return None, Missing{}, err
		}
		if n == 0 {
			return None, Missing{"the metadata_lock_info plugin is not loaded", "INSTALL SONAME 'metadata_lock_info' there"}, nil
		}
		return Plugin, Missing{}, nil
	}
	// MySQL: metadata_locks lists a lock only while performance_schema is on, the MDL
	// instrument and the global_instrumentation consumer are enabled (all three are
	// MySQL 8's default) and the lock table is not sized to nothing; otherwise it is
	// silently empty.
	var st perfSchemaLocks
	err := q.QueryRowxContext(ctx, `SELECT /* janitor */ @@performance_schema, @@performance_schema_max_metadata_locks,
		(SELECT ENABLED FROM performance_schema.setup_instruments WHERE NAME = 'wait/lock/metadata/sql/mdl'),
		(SELECT ENABLED FROM performance_schema.setup_consumers WHERE NAME = 'global_instrumentation'),
		(SELECT VARIABLE_VALUE FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Performance_schema_metadata_lock_lost')`).
		Scan(&st.on, &st.maxLocks, &st.instrument, &st.consumer, &st.lost)
	if err != nil {
		return None, Missing{}, err
	}
	if what, fix := st.missing(); what != "" {
		return None, Missing{what, fix}, nil
	}
	return PerfSchema, Missing{}, nil
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

// tableLockQueries name, per source, the sessions holding or waiting for a metadata lock
// on any of a list of tables ((schema = ? AND name = ?) pairs appended at %s), with the
// lock's mode and the age of their open transaction.
var tableLockQueries = map[Source]string{
	Plugin: `SELECT /* janitor */ m.THREAD_ID, COALESCE(p.USER, ''), COALESCE(p.COMMAND, ''), p.TIME, COALESCE(p.STATE, ''), '',
		m.TABLE_SCHEMA, m.TABLE_NAME, m.LOCK_MODE,
		(SELECT TIMESTAMPDIFF(SECOND, x.trx_started, NOW()) FROM information_schema.INNODB_TRX x WHERE x.trx_mysql_thread_id = m.THREAD_ID LIMIT 1)
		FROM information_schema.METADATA_LOCK_INFO m LEFT JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
		WHERE m.LOCK_TYPE = 'Table metadata lock' AND m.THREAD_ID <> CONNECTION_ID() AND (%s)`,
	PerfSchema: `SELECT /* janitor */ t.PROCESSLIST_ID, COALESCE(t.PROCESSLIST_USER, ''), COALESCE(t.PROCESSLIST_COMMAND, ''), t.PROCESSLIST_TIME,
		COALESCE(t.PROCESSLIST_STATE, ''), t.NAME, m.OBJECT_SCHEMA, m.OBJECT_NAME, m.LOCK_TYPE,
		(SELECT TIMESTAMPDIFF(SECOND, x.trx_started, NOW()) FROM information_schema.INNODB_TRX x WHERE x.trx_mysql_thread_id = t.PROCESSLIST_ID LIMIT 1)
		FROM performance_schema.metadata_locks m JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
		WHERE m.OBJECT_TYPE = 'TABLE' AND t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID() AND (%s)`,
}

// tableLockColumns are each source's schema and table columns.
var tableLockColumns = map[Source][2]string{Plugin: {"m.TABLE_SCHEMA", "m.TABLE_NAME"}, PerfSchema: {"m.OBJECT_SCHEMA", "m.OBJECT_NAME"}}

// Lock is a session holding (or waiting for) a metadata lock: on a table (Schema, Table)
// or a backup or global read lock (Mode only).
type Lock struct {
	Session
	Schema, Table string
	Mode          string
}

// TableLocks lists the sessions (janitor's own excepted) holding or waiting for a
// metadata lock on any of tables, each a schema and a table name, as src lists them.
// The collations may fold case: a caller keeps only the names it asked about.
func TableLocks(ctx context.Context, q sqlx.QueryerContext, src Source, tables [][2]string) ([]Lock, error) {
	if len(tables) == 0 {
		return nil, nil
	}
	col := tableLockColumns[src]
	var conds []string
	var args []any
	for _, t := range tables {
		conds = append(conds, fmt.Sprintf("(%s = ? AND %s = ?)", col[0], col[1]))
		args = append(args, t[0], t[1])
	}
	return scanRows(ctx, q, fmt.Sprintf(tableLockQueries[src], strings.Join(conds, " OR ")), args, func(l *Lock) []any {
		return []any{&l.ID, &l.User, &l.Command, &l.Secs, &l.State, &l.Thread, &l.Schema, &l.Table, &l.Mode, &l.TrxSecs}
	})
}

// holderQueries name, per source, the sessions holding or waiting for one table's
// metadata lock.
var holderQueries = map[Source]string{
	Plugin: `SELECT /* janitor */ m.THREAD_ID, COALESCE(p.USER, ''), COALESCE(p.COMMAND, ''), p.TIME, COALESCE(p.STATE, '')
		FROM information_schema.METADATA_LOCK_INFO m LEFT JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
		WHERE m.LOCK_TYPE = 'Table metadata lock' AND m.TABLE_SCHEMA = ? AND m.TABLE_NAME = ? AND m.THREAD_ID <> CONNECTION_ID()`,
	PerfSchema: `SELECT /* janitor */ t.PROCESSLIST_ID, COALESCE(t.PROCESSLIST_USER, ''), COALESCE(t.PROCESSLIST_COMMAND, ''), t.PROCESSLIST_TIME,
		COALESCE(t.PROCESSLIST_STATE, ''), t.NAME
		FROM performance_schema.metadata_locks m JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
		WHERE m.OBJECT_TYPE = 'TABLE' AND m.OBJECT_SCHEMA = ? AND m.OBJECT_NAME = ?
		AND t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID()`,
}

// Holders lists the sessions (janitor's own excepted) holding or waiting for the
// metadata lock of schema.table, as src lists them. A MariaDB server thread holds some
// for a moment with ID 0.
func Holders(ctx context.Context, q sqlx.QueryerContext, src Source, schema, table string) ([]Session, error) {
	return scanRows(ctx, q, holderQueries[src], []any{schema, table}, func(s *Session) []any {
		dest := []any{&s.ID, &s.User, &s.Command, &s.Secs, &s.State}
		if src == PerfSchema {
			dest = append(dest, &s.Thread)
		}
		return dest
	})
}

// backupQueries name, per source, the sessions holding a lock that blocks every DDL on
// the server without holding any table's metadata lock: a backup's (MySQL's LOCK
// INSTANCE FOR BACKUP, which XtraBackup 8 holds for its whole copy by default; MariaDB's
// BACKUP STAGE BLOCK_DDL and later stages) or FLUSH TABLES WITH READ LOCK. A DROP or
// RENAME waits behind it ("Waiting for backup lock"), and on a replica every later event
// with it. On MariaDB the modes that ordinary statements take (and BACKUP STAGE START
// and FLUSH, which let a DROP through: measured on 10.11) are left out; any other mode
// counts, so a mode janitor does not know errs on the side of waiting.
var backupQueries = map[Source]string{
	Plugin: `SELECT /* janitor */ m.THREAD_ID, COALESCE(p.USER, ''), COALESCE(p.COMMAND, ''), p.TIME, COALESCE(p.STATE, ''), m.LOCK_MODE
		FROM information_schema.METADATA_LOCK_INFO m LEFT JOIN information_schema.PROCESSLIST p ON p.ID = m.THREAD_ID
		WHERE m.LOCK_TYPE = 'Backup lock' AND m.THREAD_ID <> CONNECTION_ID() AND m.LOCK_MODE NOT IN ('MDL_BACKUP_START', 'MDL_BACKUP_FLUSH',
			'MDL_BACKUP_DML', 'MDL_BACKUP_TRANS_DML', 'MDL_BACKUP_SYS_DML', 'MDL_BACKUP_DDL', 'MDL_BACKUP_ALTER_COPY',
			'MDL_BACKUP_ALTER_COPY_COMMIT', 'MDL_BACKUP_COMMIT')`,
	PerfSchema: `SELECT /* janitor */ t.PROCESSLIST_ID, COALESCE(t.PROCESSLIST_USER, ''), COALESCE(t.PROCESSLIST_COMMAND, ''), t.PROCESSLIST_TIME,
		COALESCE(t.PROCESSLIST_STATE, ''), CONCAT(m.OBJECT_TYPE, ' ', m.LOCK_TYPE), t.NAME
		FROM performance_schema.metadata_locks m JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
		WHERE m.OBJECT_TYPE IN ('BACKUP LOCK', 'GLOBAL') AND m.LOCK_TYPE = 'SHARED' AND m.LOCK_STATUS = 'GRANTED'
		AND t.PROCESSLIST_ID IS NOT NULL AND t.PROCESSLIST_ID <> CONNECTION_ID()`,
}

// BackupLocks lists the sessions (janitor's own excepted) holding a lock that blocks
// every DDL on the server (backupQueries), each with the lock's mode.
func BackupLocks(ctx context.Context, q sqlx.QueryerContext, src Source) ([]Lock, error) {
	return scanRows(ctx, q, backupQueries[src], nil, func(l *Lock) []any {
		dest := []any{&l.ID, &l.User, &l.Command, &l.Secs, &l.State, &l.Mode}
		if src == PerfSchema {
			dest = append(dest, &l.Thread)
		}
		return dest
	})
}

// LockOwners lists, on MySQL, the sessions performance_schema lists any metadata lock
// of. It records a lock only if the MDL instrument was enabled when the lock was taken
// (measured on 9.7.4): a session in a transaction that is not among them holds locks no
// query shows.
func LockOwners(ctx context.Context, q sqlx.QueryerContext) ([]int64, error) {
	var owners []int64
	err := sqlx.SelectContext(ctx, q, &owners, `SELECT /* janitor */ DISTINCT t.PROCESSLIST_ID
		FROM performance_schema.metadata_locks m JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
		WHERE t.PROCESSLIST_ID IS NOT NULL`)
	return owners, err
}

// unlistedQuery: LockOwners and Sessions in one query, for the sessions in a
// transaction open for more than a second (the server shows 2 s), appliers excepted.
var unlistedQuery = `SELECT /* janitor */ p.ID, COALESCE(p.USER, ''), COALESCE(p.COMMAND, ''), p.TIME, COALESCE(p.STATE, ''),
		TIMESTAMPDIFF(SECOND, x.trx_started, NOW())
		FROM information_schema.INNODB_TRX x JOIN information_schema.PROCESSLIST p ON p.ID = x.trx_mysql_thread_id
		WHERE p.ID <> CONNECTION_ID() AND ` + sqlList("p.USER", applierUsers, true) + ` AND x.trx_started <= NOW() - INTERVAL 2 SECOND
		AND NOT EXISTS (SELECT 1 FROM performance_schema.metadata_locks m JOIN performance_schema.threads t ON t.THREAD_ID = m.OWNER_THREAD_ID
			WHERE t.PROCESSLIST_ID = x.trx_mysql_thread_id)`

// UnlistedTransactions finds, on MySQL, the sessions in a transaction open for more than
// a second that hold no metadata lock performance_schema lists (LockOwners says why
// such a session may hold any). One query, so that a transaction ending between two
// reads is not taken for one. A transaction that has read nothing yet (START
// TRANSACTION WITH CONSISTENT SNAPSHOT) is counted too, on the safe side.
func UnlistedTransactions(ctx context.Context, q sqlx.QueryerContext) ([]Session, error) {
	return scanRows(ctx, q, unlistedQuery, nil, func(s *Session) []any {
		return []any{&s.ID, &s.User, &s.Command, &s.Secs, &s.State, &s.TrxSecs}
	})
}

// scanRows runs query and scans each row into a T through the fields dest names.
func scanRows[T any](ctx context.Context, q sqlx.QueryerContext, query string, args []any, dest func(*T) []any) ([]T, error) {
	rows, err := q.QueryxContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(dest(&v)...); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
