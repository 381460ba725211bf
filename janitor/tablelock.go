package janitor

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/janitorhq/janitor/dbconn"
)

// A run and a restore hold different server-wide locks (DropLockName, RestoreLockName),
// so that a run busy for hours never keeps a restore waiting. What they must not do is
// change one table at once: a RENAME back racing the run's re-check and DROP (or purge)
// of the same held table. So each also holds, on its dropping connection and for as
// long as it works on a table, a named lock per table it will change: the run the table
// it re-checks and drops, holds or purges; a restore every hold name it renames back and
// every original name it renames to. Whoever comes second finds the lock taken, and
// defers the table to its next look (a restore to the next `janitor holds` run, within
// minutes). MySQL 5.7+ and MariaDB 10.0.2+ let one session hold several named locks
// (checked on 9.7 and 10.11: TestRestoreWhileARunHoldsItsLock).

// tableLockWait is how long a GET_LOCK of a table's lock waits for the other side to
// finish what it was doing: a restore's checks and RENAME, or a run's re-check and
// DROP, take about that long; a purge far longer, and is not waited for.
const tableLockWait = time.Second

// tableLockName is the named lock of schema.table on a server: a digest, because a
// lock's name is limited to 64 characters and a schema and table name may each be 64.
func tableLockName(schema, table string) string {
	sum := sha256.Sum256([]byte(schema + "\x00" + table))
	return "janitor.table." + hex.EncodeToString(sum[:20])
}

// lockTables takes the table locks of names (in schema) on the dropping connection.
// When another session holds one, it releases those it took and returns who holds it
// (busy); release gives back every lock taken, and must be called when the work on the
// tables is done. An error is a failure to ask (a lost connection, for the caller's
// reconnect).
func (r *shardRun) lockTables(ctx context.Context, schema string, names ...string) (release func(), busy string, err error) {
	var taken []string
	release = func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		for _, l := range taken {
			_, _ = r.conn.ExecContext(rctx, "DO /* janitor */ RELEASE_LOCK(?)", l)
		}
	}
	for _, n := range names {
		l := tableLockName(schema, n)
		var got sql.NullInt64
		if err := r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ GET_LOCK(?, ?)", l, int64(tableLockWait/time.Second)).Scan(&got); err != nil {
			release()
			return nil, "", fmt.Errorf("take the lock of %s: %w", dbconn.QualifiedName(schema, n), err)
		}
		if got.Int64 == 1 {
			taken = append(taken, l)
			continue
		}
		release()
		var holder sql.NullInt64
		var info sql.NullString
		_ = r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ IS_USED_LOCK(?)", l).Scan(&holder)
		if holder.Valid {
			_ = r.conn.QueryRowxContext(ctx, "SELECT /* janitor */ INFO FROM information_schema.PROCESSLIST WHERE ID = ?", holder.Int64).Scan(&info)
		}
		who := fmt.Sprintf("session %d", holder.Int64)
		if info.String != "" {
			who += fmt.Sprintf(", running %q", info.String)
		}
		return nil, fmt.Sprintf("another janitor (%s) is working on %s: its lock %s was still taken after %s", who, dbconn.QualifiedName(schema, n), l, tableLockWait), nil
	}
	return release, "", nil
}
