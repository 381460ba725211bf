package replica

import (
	"database/sql"
	"strings"
	"testing"
)

// TestPerfSchemaLockSource: a MySQL replica's metadata_locks is trusted only when it can
// list every holder. A server that has dropped locks for want of room
// (Performance_schema_metadata_lock_lost > 0: performance_schema_max_metadata_locks set
// too low by hand) may miss the reader that would stall the replicated DROP, so it is no
// lock source; a server that cannot be made to drop any (a test would have to restart one
// with a tiny lock table) is checked here on the values it reports.
func TestPerfSchemaLockSource(t *testing.T) {
	ok := perfSchemaLocks{on: sql.NullInt64{Int64: 1, Valid: true}, maxLocks: sql.NullInt64{Int64: -1, Valid: true},
		instrument: sql.NullString{String: "YES", Valid: true}, consumer: sql.NullString{String: "YES", Valid: true},
		lost: sql.NullInt64{Int64: 0, Valid: true}}
	if missing, _ := ok.missing(); missing != "" {
		t.Fatalf("a complete lock source is refused: %s", missing)
	}
	for name, c := range map[string]struct {
		st   func(*perfSchemaLocks)
		want string
	}{
		"off":        {func(s *perfSchemaLocks) { s.on.Int64 = 0 }, "performance_schema is off"},
		"no room":    {func(s *perfSchemaLocks) { s.maxLocks.Int64 = 0 }, "performance_schema_max_metadata_locks is 0"},
		"instrument": {func(s *perfSchemaLocks) { s.instrument.String = "NO" }, "instrument is disabled"},
		"consumer":   {func(s *perfSchemaLocks) { s.consumer.String = "NO" }, "consumer is disabled"},
		"lost":       {func(s *perfSchemaLocks) { s.lost.Int64 = 3 }, "dropped 3 metadata locks"},
	} {
		st := ok
		c.st(&st)
		missing, fix := st.missing()
		if !strings.Contains(missing, c.want) || fix == "" {
			t.Errorf("%s: missing %q (fix %q), want %q and a fix", name, missing, fix, c.want)
		}
	}
}
