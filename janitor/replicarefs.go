package janitor

import (
	"context"
	"fmt"
	"strings"

	"github.com/janitorhq/janitor/discovery"
)

// replicaReferences reads, on every configured replica, what names the table there: a
// replica may hold objects the primary lacks (a reporting schema written with
// sql_log_bin=0, a replica-only child table), and the replicated DROP would break them —
// a foreign key from such a child stops the replica's applier with error 1451. A table
// missing on a replica would stop it with error 1051. Each finding is a reason not to
// drop; evidence a replica cannot show is one too.
func (r *shardRun) replicaReferences(ctx context.Context, t *discovery.Table) ([]string, error) {
	return r.onEachReplica(ctx, func(qctx context.Context, v *replicaView) ([]string, error) {
		// The account's grants afresh, not the run's first look (v.server): a partial
		// revoke or a lost privilege since then hides that replica's objects from every
		// new session of the pool.
		srv, err := discovery.ReadServer(qctx, v.db)
		if err != nil {
			return nil, r.replicaUnreadable(ctx, v, err)
		}
		in := discovery.NewInspector(v.db, srv, r.j.discoveryOptions(), r.log)
		refs, unreadable, gone, err := in.References(qctx, discovery.Name{Schema: t.Schema, Table: t.Name, Orphan: t.Orphan})
		switch {
		case err != nil:
			return nil, r.replicaUnreadable(ctx, v, err)
		case gone:
			// Not there: nothing on the replica can name it. Whether janitor's
			// statements may reach a replica without it is replicaStatements' business
			// (filters.go), which runs first.
		case len(unreadable) > 0:
			return []string{fmt.Sprintf("replica %s: cannot read what references it there (%s)", v.name, strings.Join(unreadable, "; "))}, nil
		case len(refs) > 0:
			return []string{fmt.Sprintf("replica %s: referenced there by %s", v.name, strings.Join(refs, ", "))}, nil
		}
		return nil, nil
	})
}
