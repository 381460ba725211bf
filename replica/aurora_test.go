package replica

import (
	"database/sql"
	"slices"
	"testing"
	"time"
)

// TestLiveReaders runs on rows as replica_host_status gives them (SERVER_ID, SESSION_ID,
// LAST_UPDATE_TIMESTAMP, REPLICA_LAG_IN_MILLISECONDS): no Aurora runs here.
func TestLiveReaders(t *testing.T) {
	now := time.Date(2026, 12, 8, 2, 0, 0, 0, time.UTC)
	row := func(id, session string, age time.Duration) HostStatus {
		return HostStatus{ServerID: id, SessionID: session, LastUpdate: now.Add(-age), LagMillis: sql.NullFloat64{Float64: 12, Valid: true}}
	}
	for _, c := range []struct {
		name string
		rows []HostStatus
		want []string
	}{
		{"writer only", []HostStatus{row("db-1", WriterSession, 0)}, nil},
		{"two readers, sorted", []HostStatus{row("db-1", WriterSession, 0), row("db-3", "b2c4", time.Second), row("db-2", "a1f0", time.Second)}, []string{"db-2", "db-3"}},
		{"a departed reader's stale row", []HostStatus{row("db-1", WriterSession, 0), row("db-9", "c0de", 6*time.Minute)}, nil},
		{"a reader with two rows, once", []HostStatus{row("db-2", "a1f0", time.Second), row("db-2", "a1f1", 2*time.Second)}, []string{"db-2"}},
		{"the writer's row from before a failover", []HostStatus{row("db-2", WriterSession, 0), row("db-2", "a1f0", time.Minute), row("db-1", "b2c4", 0)}, []string{"db-1"}},
	} {
		if got := LiveReaders(c.rows, now); !slices.Equal(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
