package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// Session is one session of a server's process list, or the owner of a metadata lock,
// with what janitor reads of it.
type Session struct {
	ID      int64
	User    string
	Command string
	Secs    sql.NullInt64 // the process list's TIME
	State   string
	Info    sql.NullString // the statement it runs, where read
	// TrxSecs is the age of its open InnoDB transaction; AutocommitRO is INNODB_TRX's
	// trx_autocommit_non_locking: a lone autocommit SELECT.
	TrxSecs      sql.NullInt64
	AutocommitRO sql.NullInt64
	// Thread is performance_schema's thread name (MySQL), where read: the appliers'
	// threads are named there even when the process list shows them as ordinary users.
	Thread string
}

// What an applier is — the replication threads: SQL thread, coordinator, workers — as
// a process list or performance_schema shows it. MariaDB names their commands; both
// flavors run them as 'system user'; MySQL names their threads. These lists are the
// only definition: Applier tests them in Go, appliersSQL builds the SQL from them.
var (
	applierUsers    = []string{"system user"}
	applierCommands = []string{"Slave_SQL", "Slave_worker"}
	applierThreads  = []string{"/replica_", "/slave_"}
)

// WaitStates are the states of an applier stalled behind another session's lock: a
// table's metadata lock (the first), or a backup or global read lock, which a
// replicated DDL waits for the same way.
var WaitStates = []string{"Waiting for table metadata lock", "Waiting for backup lock", "Waiting for global read lock"}

// Applier tells the replication threads from client sessions.
func (s Session) Applier() bool {
	if inList(applierUsers, s.User) || inList(applierCommands, s.Command) {
		return true
	}
	for _, t := range applierThreads {
		if strings.Contains(s.Thread, t) {
			return true
		}
	}
	return false
}

// WaitsForLock: the session waits for a table's metadata lock, or for a backup or global
// read lock (one of WaitStates).
func (s Session) WaitsForLock() bool {
	for _, p := range WaitStates {
		if strings.HasPrefix(s.State, p) {
			return true
		}
	}
	return false
}

func inList(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (s Session) String() string {
	what := fmt.Sprintf("%s for %ds", s.Command, s.Secs.Int64)
	if s.Command == "Sleep" {
		what = fmt.Sprintf("idle for %ds", s.Secs.Int64)
	}
	if s.TrxSecs.Valid && s.AutocommitRO.Int64 == 0 {
		what += fmt.Sprintf(", in a transaction open for %ds", s.TrxSecs.Int64)
	}
	return fmt.Sprintf("session %d (user %q, %s)", s.ID, s.User, what)
}

// sqlList is col = 'v' (col <> 'v' with not) for one value, col IN (...) (NOT IN) for
// more; the values are janitor's own constants, quoted as SQL strings.
func sqlList(col string, vals []string, not bool) string {
	quoted := make([]string, len(vals))
	for i, v := range vals {
		quoted[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	switch {
	case len(vals) == 1 && not:
		return col + " <> " + quoted[0]
	case len(vals) == 1:
		return col + " = " + quoted[0]
	case not:
		return col + " NOT IN (" + strings.Join(quoted, ", ") + ")"
	}
	return col + " IN (" + strings.Join(quoted, ", ") + ")"
}

// appliersSQL is the process-list predicate of Applier (its users and commands; the
// thread names are performance_schema's), columns prefixed with p.
func appliersSQL(p string) string {
	return sqlList(p+"USER", applierUsers, false) + " OR " + sqlList(p+"COMMAND", applierCommands, false)
}

// waitingSQL is the predicate of WaitsForLock on a process list's STATE.
func waitingSQL() string {
	var conds []string
	for _, s := range WaitStates {
		conds = append(conds, "STATE LIKE '"+s+"%'")
	}
	return strings.Join(conds, " OR ")
}

// sessionsQuery lists the sessions that run a statement or hold a transaction open,
// and the appliers' states. INNODB_TRX gives a reader's transaction age; it is not
// evidence on its own (it does not say which tables a transaction read, and MariaDB
// often leaves out one that has only read).
var sessionsQuery = `SELECT /* janitor */ p.ID, p.USER, p.COMMAND, p.TIME, COALESCE(p.STATE, ''), p.INFO,
	TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), t.trx_autocommit_non_locking
	FROM information_schema.PROCESSLIST p LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
	WHERE p.ID <> CONNECTION_ID() AND (p.INFO IS NOT NULL OR t.trx_mysql_thread_id IS NOT NULL
		OR ` + appliersSQL("p.") + `)`

// Sessions lists the server's sessions that run a statement or hold a transaction open,
// and its appliers: one query.
func Sessions(ctx context.Context, q sqlx.QueryerContext) ([]Session, error) {
	return scanRows(ctx, q, sessionsQuery, nil, func(s *Session) []any {
		return []any{&s.ID, &s.User, &s.Command, &s.Secs, &s.State, &s.Info, &s.TrxSecs, &s.AutocommitRO}
	})
}

// waitingApplierQuery finds one applier that waits for a lock (WaitsForLock).
var waitingApplierQuery = `SELECT /* janitor */ ID, USER, COMMAND, TIME, STATE FROM information_schema.PROCESSLIST
		WHERE (` + appliersSQL("") + `)
		AND (` + waitingSQL() + `) LIMIT 1`

// WaitingApplier returns an applier of the server that waits for another session's
// lock, if one does (ok).
func WaitingApplier(ctx context.Context, q sqlx.QueryerContext) (s Session, ok bool, err error) {
	err = q.QueryRowxContext(ctx, waitingApplierQuery).Scan(&s.ID, &s.User, &s.Command, &s.Secs, &s.State)
	if errors.Is(err, sql.ErrNoRows) {
		return s, false, nil
	}
	return s, err == nil, err
}
