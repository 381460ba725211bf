package throttle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
)

// Opener returns a connection pool to a server, opening it on first use. Signals open
// lazily so that an unreachable replica is a reading ("unreadable: connection refused"),
// checked again on every poll, rather than a startup failure.
type Opener func(ctx context.Context) (*sqlx.DB, error)

// LazyDB memoises an Opener: a failed open is retried on the next call.
type LazyDB struct {
	open Opener
	mu   sync.Mutex
	db   *sqlx.DB
}

// NewLazyDB wraps open.
func NewLazyDB(open Opener) *LazyDB { return &LazyDB{open: open} }

// Get returns the pool, opening it if needed.
func (l *LazyDB) Get(ctx context.Context) (*sqlx.DB, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db != nil {
		return l.db, nil
	}
	db, err := l.open(ctx)
	if err != nil {
		return nil, err
	}
	l.db = db
	return db, nil
}

// Close closes the pool if it was opened.
func (l *LazyDB) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.db == nil {
		return nil
	}
	err := l.db.Close()
	l.db = nil
	return err
}

// ReplicaLag reads SHOW REPLICA STATUS on one replica. A replica whose threads are
// stopped, whose lag is NULL, or that reports no replication at all is unhealthy.
type ReplicaLag struct {
	Replica string
	DB      *LazyDB
	Max     time.Duration
}

var _ Signal = (*ReplicaLag)(nil)

// Name implements Signal.
func (r *ReplicaLag) Name() string { return "replica_lag:" + r.Replica }

// Check implements Signal.
func (r *ReplicaLag) Check(ctx context.Context) Reading {
	db, err := r.DB.Get(ctx)
	if err != nil {
		return Reading{Err: err}
	}
	st, err := ReadReplicaStatus(ctx, db)
	if err != nil {
		return Reading{Err: err}
	}
	return EvaluateReplicaStatus(st, r.Max)
}

// ReplicaStatus is the part of SHOW REPLICA STATUS janitor reads, with MySQL's and
// MariaDB's old and new column names folded together.
type ReplicaStatus struct {
	Found      bool
	IORunning  string
	SQLRunning string
	// Lag is nil when Seconds_Behind_Master is NULL.
	Lag       *int64
	LastError string
}

// ReadReplicaStatus tries SHOW REPLICA STATUS (MySQL 8.0.22+, MariaDB 10.5+; the only
// form MySQL 8.4 knows) and falls back to SHOW SLAVE STATUS. Found is false on a server
// that replicates from nobody.
func ReadReplicaStatus(ctx context.Context, q sqlx.QueryerContext) (ReplicaStatus, error) {
	st, err := readStatus(ctx, q, "SHOW /* janitor */ REPLICA STATUS")
	if err != nil {
		st, err = readStatus(ctx, q, "SHOW /* janitor */ SLAVE STATUS")
	}
	return st, err
}

func readStatus(ctx context.Context, db sqlx.QueryerContext, q string) (ReplicaStatus, error) {
	var st ReplicaStatus
	rows, err := db.QueryxContext(ctx, q)
	if err != nil {
		return st, fmt.Errorf("%s: %w", strings.TrimPrefix(q, "SHOW /* janitor */ "), err)
	}
	defer rows.Close()
	if !rows.Next() {
		return st, rows.Err()
	}
	m := map[string]any{}
	if err := rows.MapScan(m); err != nil {
		return st, err
	}
	st.Found = true
	get := func(keys ...string) (string, bool) {
		for _, k := range keys {
			if v, ok := m[k]; ok {
				if v == nil {
					return "", false
				}
				if b, ok := v.([]byte); ok {
					return string(b), true
				}
				return fmt.Sprint(v), true
			}
		}
		return "", false
	}
	st.IORunning, _ = get("Replica_IO_Running", "Slave_IO_Running")
	st.SQLRunning, _ = get("Replica_SQL_Running", "Slave_SQL_Running")
	if s, ok := get("Seconds_Behind_Source", "Seconds_Behind_Master"); ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			st.Lag = &n
		}
	}
	st.LastError, _ = get("Last_SQL_Error", "Last_IO_Error")
	return st, rows.Err()
}

// EvaluateReplicaStatus judges one replica's status. It is a pure function so the rules
// are tested without a broken replica at hand.
func EvaluateReplicaStatus(st ReplicaStatus, max time.Duration) Reading {
	switch {
	case !st.Found:
		return Reading{Value: "not replicating (no replica status): cannot measure lag"}
	case st.IORunning != "Yes" || st.SQLRunning != "Yes":
		v := fmt.Sprintf("replication stopped (IO %s, SQL %s)", st.IORunning, st.SQLRunning)
		if st.LastError != "" {
			v += ": " + st.LastError
		}
		return Reading{Value: v}
	case st.Lag == nil:
		return Reading{Value: "lag NULL (replication broken)"}
	}
	lag := time.Duration(*st.Lag) * time.Second
	return Reading{Healthy: lag <= max, Value: fmt.Sprintf("lag %s (max %s)", lag, max)}
}

// AuroraLag reads the lag of every Aurora reader from replica_host_status on the writer.
// Aurora replicas share storage, so SHOW REPLICA STATUS says nothing there.
type AuroraLag struct {
	DB  *LazyDB
	Max time.Duration
}

var _ Signal = (*AuroraLag)(nil)

// Name implements Signal.
func (a *AuroraLag) Name() string { return "aurora_replica_lag" }

// AuroraReplica is one row of information_schema.replica_host_status.
type AuroraReplica struct {
	ServerID   string          `db:"SERVER_ID"`
	SessionID  string          `db:"SESSION_ID"`
	LagMillis  sql.NullFloat64 `db:"REPLICA_LAG_IN_MILLISECONDS"`
	LastUpdate time.Time       `db:"LAST_UPDATE_TIMESTAMP"`
}

// Check implements Signal.
func (a *AuroraLag) Check(ctx context.Context) Reading {
	db, err := a.DB.Get(ctx)
	if err != nil {
		return Reading{Err: err}
	}
	var rows []AuroraReplica
	var now time.Time
	if err := db.QueryRowxContext(ctx, "SELECT /* janitor */ UTC_TIMESTAMP(6)").Scan(&now); err != nil {
		return Reading{Err: err}
	}
	err = db.SelectContext(ctx, &rows, `SELECT /* janitor */ SERVER_ID, SESSION_ID, REPLICA_LAG_IN_MILLISECONDS,
		LAST_UPDATE_TIMESTAMP FROM information_schema.replica_host_status`)
	if err != nil {
		return Reading{Err: fmt.Errorf("read replica_host_status: %w", err)}
	}
	return EvaluateAurora(rows, now, a.Max)
}

// auroraStale: Aurora keeps rows of readers that left the cluster; a row not refreshed
// for this long is such a ghost, not a lagging reader.
const auroraStale = 5 * time.Minute

// EvaluateAurora judges replica_host_status rows. The writer's row has SESSION_ID
// 'MASTER_SESSION_ID'. A reader row without a lag value is unhealthy.
func EvaluateAurora(rows []AuroraReplica, now time.Time, max time.Duration) Reading {
	var worst time.Duration
	worstID := ""
	readers := 0
	for _, r := range rows {
		if r.SessionID == "MASTER_SESSION_ID" {
			continue
		}
		if now.Sub(r.LastUpdate) > auroraStale {
			continue
		}
		readers++
		if !r.LagMillis.Valid {
			return Reading{Value: fmt.Sprintf("reader %s reports no lag", r.ServerID)}
		}
		lag := time.Duration(r.LagMillis.Float64 * float64(time.Millisecond))
		if lag >= worst {
			worst, worstID = lag, r.ServerID
		}
	}
	if readers == 0 {
		return Reading{Healthy: true, Value: "no readers"}
	}
	return Reading{Healthy: worst <= max, Value: fmt.Sprintf("worst reader %s lag %s (max %s)", worstID, worst.Round(time.Millisecond), max)}
}

// ThreadsRunning reads the primary's Threads_running: a busy server is no place for a
// DROP.
type ThreadsRunning struct {
	DB  *LazyDB
	Max int64
}

var _ Signal = (*ThreadsRunning)(nil)

// Name implements Signal.
func (t *ThreadsRunning) Name() string { return "threads_running" }

// Check implements Signal.
func (t *ThreadsRunning) Check(ctx context.Context) Reading {
	db, err := t.DB.Get(ctx)
	if err != nil {
		return Reading{Err: err}
	}
	var name string
	var n int64
	err = db.QueryRowxContext(ctx, "SHOW /* janitor */ GLOBAL STATUS LIKE 'Threads_running'").Scan(&name, &n)
	if errors.Is(err, sql.ErrNoRows) {
		return Reading{Err: errors.New("Threads_running not reported")}
	}
	if err != nil {
		return Reading{Err: err}
	}
	return Reading{Healthy: n <= t.Max, Value: fmt.Sprintf("%d running (max %d)", n, t.Max)}
}
