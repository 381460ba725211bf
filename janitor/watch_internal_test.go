package janitor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/report"
)

// TestStallAfterAHoldSaysRename: a replica applier seen stalled after a hold's RENAME
// is reported as after that RENAME, not "after dropping" (issue 17): the DBA looking
// for the statement finds the table under its hold name. A session on the replica reads
// the table in an open transaction; the primary renames it as a hold does; the watch
// that follows the statement finds the applier waiting. Before, the reason said
// "after dropping" whatever the statement was.
func TestStallAfterAHoldSaysRename(t *testing.T) {
	ctx := context.Background()
	primary := testdb.Primary(t)
	replica := testdb.Open(t, testdb.ReplicaDSN(t))
	s := testdb.Schema(t, primary)
	testdb.Exec(t, primary, "CREATE TABLE "+dbconn.QualifiedName(s, "__orders_old")+" (id INT PRIMARY KEY)")
	testdb.WaitReplica(t, primary, replica)
	reader, err := replica.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reader.Close() })
	testdb.Exec(t, reader, "START TRANSACTION", "SELECT COUNT(*) FROM "+dbconn.QualifiedName(s, "__orders_old"))
	t.Cleanup(func() { _, _ = reader.ExecContext(context.Background(), "ROLLBACK") })
	testdb.Exec(t, primary, "RENAME TABLE "+dbconn.QualifiedName(s, "__orders_old")+" TO "+dbconn.QualifiedName(s, "_janitor_hold_x"))

	r := sandboxRun(t, "sandbox-replica", func(cfg *Config) {
		cfg.Throttle.CheckInterval, cfg.Throttle.MaxReplicaLag = 50*time.Millisecond, 10*time.Second
	})
	err = r.watchAppliers(ctx, s, "__orders_old", followed(&discovery.Table{Schema: s, Name: "__orders_old"}, true))
	var stop *errStop
	if !errors.As(err, &stop) || stop.code != report.BlockedReplicaApplier {
		t.Fatalf("watch after the RENAME: %v; want the applier's wait", err)
	}
	t.Logf("blocked: %s", stop.why)
	if want := "seen after the hold's RENAME of " + dbconn.QualifiedName(s, "__orders_old"); !strings.Contains(stop.why, want) || strings.Contains(stop.why, "after dropping") {
		t.Errorf("reason %q; want it to say %q", stop.why, want)
	}
}
