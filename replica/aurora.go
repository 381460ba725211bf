package replica

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
)

// HostStatus is one row of Aurora MySQL's information_schema.replica_host_status, read
// on the writer: one per instance of the cluster. Aurora readers share the writer's
// storage, so SHOW REPLICA STATUS says nothing about them; this table does.
type HostStatus struct {
	// ServerID is the DB instance identifier (not @@server_id).
	ServerID string `db:"SERVER_ID"`
	// SessionID is WriterSession on the writer's row.
	SessionID  string          `db:"SESSION_ID"`
	LagMillis  sql.NullFloat64 `db:"REPLICA_LAG_IN_MILLISECONDS"`
	LastUpdate time.Time       `db:"LAST_UPDATE_TIMESTAMP"`
}

// WriterSession is the SESSION_ID of the writer's own row.
const WriterSession = "MASTER_SESSION_ID"

// AuroraStale: a reader row not refreshed for this long is not a live reader's. Aurora
// keeps rows of readers that left the cluster, so an unlisted stale row is such a
// ghost; a listed reader with only a stale row is down or stuck.
const AuroraStale = 5 * time.Minute

// ReadHostStatus reads replica_host_status on an Aurora writer, and the server's
// UTC_TIMESTAMP to judge its rows' age by (the server's clock, not janitor's).
func ReadHostStatus(ctx context.Context, q sqlx.QueryerContext) ([]HostStatus, time.Time, error) {
	var now time.Time
	if err := q.QueryRowxContext(ctx, "SELECT /* janitor */ UTC_TIMESTAMP(6)").Scan(&now); err != nil {
		return nil, now, err
	}
	var rows []HostStatus
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT /* janitor */ SERVER_ID, SESSION_ID, REPLICA_LAG_IN_MILLISECONDS,
		LAST_UPDATE_TIMESTAMP FROM information_schema.replica_host_status`)
	if err != nil {
		return nil, now, fmt.Errorf("read replica_host_status: %w", err)
	}
	return rows, now, nil
}

// LiveReaders are the instance identifiers of the readers with a row refreshed within
// AuroraStale of now, sorted, each once: the instances attached to the writer now. The
// writer is none of them, even with a reader's row left from before a failover.
func LiveReaders(rows []HostStatus, now time.Time) []string {
	var writers, out []string
	for _, r := range rows {
		if r.SessionID == WriterSession {
			writers = append(writers, r.ServerID)
		}
	}
	for _, r := range rows {
		if r.SessionID == WriterSession || slices.Contains(writers, r.ServerID) || now.Sub(r.LastUpdate) > AuroraStale || slices.Contains(out, r.ServerID) {
			continue
		}
		out = append(out, r.ServerID)
	}
	slices.Sort(out)
	return out
}
