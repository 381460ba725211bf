package throttle

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/replica"
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

// ReplicaLag reads the replication status of one replica, every channel of it. A
// replica any of whose channels is stopped, has a NULL lag or lags too far, or that
// reports no replication at all, is unhealthy.
type ReplicaLag struct {
	Replica string
	DB      *LazyDB
	Max     time.Duration

	mu   sync.Mutex
	stmt string // the status statement this server answered
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
	// The form this server answered last time is asked alone; after a failure, or the
	// first time, every form is tried again (the replica may have been replaced).
	stmts := replica.StatusStatements
	r.mu.Lock()
	if r.stmt != "" {
		stmts = []string{r.stmt}
	}
	r.mu.Unlock()
	sts, stmt, err := replica.ReadStatusesWith(ctx, db, stmts)
	r.mu.Lock()
	r.stmt = stmt
	r.mu.Unlock()
	if err != nil {
		return Reading{Err: err}
	}
	// Only MySQL leaves SHOW ALL SLAVES STATUS unanswered, and only MySQL (8.0 and later)
	// keeps the applier's and receiver's timestamps in performance_schema.
	if stmt != replica.StatusStatements[0] && len(sts) > 0 {
		if err := readApplierTimes(ctx, db, sts); err != nil {
			return Reading{Err: err}
		}
	}
	return EvaluateReplicaStatuses(sts, r.Max)
}

// applierTimesQuery reads, per channel, what performance_schema knows beyond
// Seconds_Behind_Source: the original commit time of the oldest transaction a worker is
// applying now, and how long the receiver has heard nothing from its source (no
// transaction queued, no heartbeat), with the heartbeat period the source promised. A zero
// timestamp (none yet, or a source too old to send commit times) counts as unknown.
// UNIX_TIMESTAMP keeps the arithmetic free of the session's time zone.
const applierTimesQuery = `SELECT /* janitor */ c.CHANNEL_NAME, c.HEARTBEAT_INTERVAL,
	(SELECT UNIX_TIMESTAMP(NOW(6)) - MIN(UNIX_TIMESTAMP(w.APPLYING_TRANSACTION_ORIGINAL_COMMIT_TIMESTAMP))
		FROM performance_schema.replication_applier_status_by_worker w
		WHERE w.CHANNEL_NAME = c.CHANNEL_NAME AND w.APPLYING_TRANSACTION <> ''
		AND UNIX_TIMESTAMP(w.APPLYING_TRANSACTION_ORIGINAL_COMMIT_TIMESTAMP) > 0) AS applying,
	(SELECT UNIX_TIMESTAMP(NOW(6)) - UNIX_TIMESTAMP(GREATEST(s.LAST_HEARTBEAT_TIMESTAMP, s.LAST_QUEUED_TRANSACTION_END_QUEUE_TIMESTAMP))
		FROM performance_schema.replication_connection_status s
		WHERE s.CHANNEL_NAME = c.CHANNEL_NAME
		AND UNIX_TIMESTAMP(GREATEST(s.LAST_HEARTBEAT_TIMESTAMP, s.LAST_QUEUED_TRANSACTION_END_QUEUE_TIMESTAMP)) > 0) AS silent
	FROM performance_schema.replication_connection_configuration c`

// readApplierTimes fills the performance_schema fields of sts, matched by channel. With
// performance_schema off the tables are empty and sts keeps Seconds_Behind_Source alone.
func readApplierTimes(ctx context.Context, q sqlx.QueryerContext, sts []replica.Status) error {
	rows, err := q.QueryxContext(ctx, applierTimesQuery)
	if err != nil {
		return fmt.Errorf("read applier times from performance_schema: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ch string
		var hb float64
		var applying, silent sql.NullFloat64
		if err := rows.Scan(&ch, &hb, &applying, &silent); err != nil {
			return fmt.Errorf("read applier times from performance_schema: %w", err)
		}
		for i := range sts {
			if !strings.EqualFold(sts[i].Channel, ch) {
				continue
			}
			sts[i].Heartbeat = seconds(hb)
			if applying.Valid {
				d := seconds(applying.Float64)
				sts[i].Applying = &d
			}
			if silent.Valid {
				d := seconds(silent.Float64)
				sts[i].Silent = &d
			}
		}
	}
	return rows.Err()
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// EvaluateReplicaStatuses judges a replica by all its channels: healthy only when every
// channel is. It is a pure function so the rules are tested without a broken replica at
// hand.
func EvaluateReplicaStatuses(sts []replica.Status, max time.Duration) Reading {
	if len(sts) == 0 {
		return Reading{Value: "not replicating (no replica status): cannot measure lag"}
	}
	var worst time.Duration
	worstName, worstWhy := "", ""
	for _, st := range sts {
		name := ""
		if st.Channel != "" || len(sts) > 1 {
			name = fmt.Sprintf("channel %q: ", st.Channel)
		}
		switch {
		case st.IORunning != "Yes" || st.SQLRunning != "Yes":
			v := fmt.Sprintf("%sreplication stopped (IO %s, SQL %s)", name, st.IORunning, st.SQLRunning)
			if st.LastError != "" {
				v += ": " + st.LastError
			}
			return Reading{Value: v}
		case st.Lag == nil:
			return Reading{Value: name + "lag NULL (replication broken)"}
		}
		lag, why := time.Duration(*st.Lag)*time.Second, ""
		if st.Applying != nil && *st.Applying > lag {
			lag, why = st.Applying.Round(time.Second), " (applying a transaction committed that long ago)"
		}
		// A source sends a heartbeat every Heartbeat when idle: a receiver that heard
		// nothing for two periods is cut off, and the replica is at least that far behind,
		// whatever Seconds_Behind_Source says.
		if st.Heartbeat > 0 && st.Silent != nil && *st.Silent > 2*st.Heartbeat {
			if stall := *st.Silent - st.Heartbeat; stall > lag {
				lag, why = stall.Round(time.Second), fmt.Sprintf(" (receiver heard nothing from its source for %s, heartbeat every %s)",
					st.Silent.Round(time.Second), st.Heartbeat)
			}
		}
		if lag >= worst {
			worst, worstName, worstWhy = lag, name, why
		}
	}
	return Reading{Healthy: worst <= max, Value: fmt.Sprintf("%slag %s%s (max %s)", worstName, worst, worstWhy, max)}
}

// AuroraLag reads the lag of every Aurora reader from replica_host_status on the writer.
// Aurora replicas share storage, so SHOW REPLICA STATUS says nothing there.
type AuroraLag struct {
	DB  *LazyDB
	Max time.Duration
	// Readers are the reader instances the cluster should have; each must have a fresh
	// row. Without them a cluster with no fresh reader row reads as having no readers.
	Readers []string
	// MinReaders holds drops while fewer readers than this have fresh rows: the check
	// that does not go stale when auto-scaling replaces reader instances.
	MinReaders int
}

var _ Signal = (*AuroraLag)(nil)

// Name implements Signal.
func (a *AuroraLag) Name() string { return "aurora_replica_lag" }

// Check implements Signal.
func (a *AuroraLag) Check(ctx context.Context) Reading {
	db, err := a.DB.Get(ctx)
	if err != nil {
		return Reading{Err: err}
	}
	rows, now, err := replica.ReadHostStatus(ctx, db)
	if err != nil {
		return Reading{Err: err}
	}
	return EvaluateAuroraMin(rows, now, a.Max, a.Readers, a.MinReaders)
}

// EvaluateAurora judges replica_host_status rows. The writer's row has SESSION_ID
// 'MASTER_SESSION_ID'. A row not refreshed within replica.AuroraStale is a departed
// reader's. A reader row without a lag value is unhealthy, and so is a
// reader in expected without a fresh row.
func EvaluateAurora(rows []replica.HostStatus, now time.Time, max time.Duration, expected []string) Reading {
	return EvaluateAuroraMin(rows, now, max, expected, 0)
}

// EvaluateAuroraMin is EvaluateAurora that also wants at least minReaders fresh reader
// rows.
func EvaluateAuroraMin(rows []replica.HostStatus, now time.Time, max time.Duration, expected []string, minReaders int) Reading {
	var worst time.Duration
	worstID := ""
	readers := 0
	fresh := map[string]bool{}
	lastSeen := map[string]time.Time{}
	writer := ""
	for _, r := range rows {
		if r.SessionID == replica.WriterSession {
			writer = r.ServerID
			continue
		}
		if r.LastUpdate.After(lastSeen[r.ServerID]) {
			lastSeen[r.ServerID] = r.LastUpdate
		}
		if now.Sub(r.LastUpdate) > replica.AuroraStale {
			continue
		}
		fresh[r.ServerID] = true
		readers++
		if !r.LagMillis.Valid {
			return Reading{Value: fmt.Sprintf("reader %s reports no lag", r.ServerID)}
		}
		lag := time.Duration(r.LagMillis.Float64 * float64(time.Millisecond))
		if lag >= worst {
			worst, worstID = lag, r.ServerID
		}
	}
	for _, id := range expected {
		if fresh[id] || id == writer {
			// A listed reader promoted to writer by a failover is not missing.
			continue
		}
		if t, ok := lastSeen[id]; ok {
			return Reading{Value: fmt.Sprintf("reader %s has not reported for %s (down or stuck?)", id, now.Sub(t).Round(time.Second))}
		}
		return Reading{Value: fmt.Sprintf("reader %s is not in replica_host_status (down, or not in this cluster?)", id)}
	}
	if readers < minReaders {
		return Reading{Value: fmt.Sprintf("%d readers report fresh rows, min_readers is %d (readers down, or scaling in?)", readers, minReaders)}
	}
	if readers == 0 {
		return Reading{Healthy: true, Value: "no readers (list aurora_readers to hold drops when an expected reader is missing)"}
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
		return Reading{Err: errors.New("the server did not report Threads_running")}
	}
	if err != nil {
		return Reading{Err: err}
	}
	return Reading{Healthy: n <= t.Max, Value: fmt.Sprintf("%d running (max %d)", n, t.Max)}
}
