package janitor

import (
	"context"
	"fmt"
	"testing"

	"github.com/janitorhq/janitor/internal/testdb"
)

// BenchmarkReplicaReaders measures the per-drop cost of the look at a replica's
// sessions (three queries: the lock source is there, the sessions, the table's
// metadata-lock holders), with that many idle client sessions on the replica, a tenth
// of them inside an open transaction.
//
//	go test -run '^$' -bench ReplicaReaders -benchtime 200x ./janitor
func BenchmarkReplicaReaders(b *testing.B) {
	// The round trip of a trivial query on the same pool, for scale on a loaded machine.
	b.Run("baseline=SELECT 1", func(b *testing.B) {
		replica := testdb.Open(b, testdb.ReplicaDSN(b))
		for range b.N {
			testdb.Exec(b, replica, "SELECT /* janitor */ 1")
		}
	})
	for _, sessions := range []int{10, 200} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			benchReaders(b, sessions)
		})
	}
}

func benchReaders(b *testing.B, sessions int) {
	ctx := context.Background()
	replica := testdb.Open(b, testdb.ReplicaDSN(b))
	replica.SetMaxOpenConns(sessions + 1)
	var loaded int
	if err := replica.Get(&loaded, "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO'"); err != nil {
		b.Fatal(err)
	}
	if !testdb.IsMySQL(b) && loaded == 0 {
		testdb.Exec(b, replica, "INSTALL SONAME 'metadata_lock_info'")
		b.Cleanup(func() { testdb.Exec(b, replica, "UNINSTALL SONAME 'metadata_lock_info'") })
	}
	for i := range sessions {
		conn, err := replica.Connx(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _, _ = conn.ExecContext(ctx, "ROLLBACK"); _ = conn.Close() })
		if i%10 == 0 {
			testdb.Exec(b, conn, "BEGIN", "SELECT COUNT(*) FROM mysql.user")
		}
	}
	r := sandboxRun(b, "r", nil)
	if _, err := r.replicaReaders(ctx, "app", "__orders_old"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := r.replicaReaders(ctx, "app", "__orders_old"); err != nil {
			b.Fatal(err)
		}
	}
}
