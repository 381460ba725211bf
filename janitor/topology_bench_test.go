package janitor

import (
	"context"
	"testing"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
)

// BenchmarkReplicaStatementChecks measures what issue 17 §2 and §3 add before every
// statement: listing the replicas the primary and the replica feed (registry and dump
// sessions on each), and the replica's filters and its copy of the table.
//
//	go test -run '^$' -bench ReplicaStatementChecks -benchtime 200x ./janitor
func BenchmarkReplicaStatementChecks(b *testing.B) {
	ctx := context.Background()
	r := sandboxRun(b, "r", nil)
	primary := testdb.Primary(b)
	conn, err := primary.Connx(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	if r.server, err = discovery.ReadServer(ctx, conn); err != nil {
		b.Fatal(err)
	}
	t := &discovery.Table{Schema: "mysql", Name: "user"}
	b.Run("topology", func(b *testing.B) {
		for range b.N {
			if err := r.checkTopology(ctx, conn); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("filters+table", func(b *testing.B) {
		for range b.N {
			if _, err := r.replicaStatements(ctx, t); err != nil {
				b.Fatal(err)
			}
		}
	})
}
