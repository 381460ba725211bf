package janitor

import (
	"context"
	"strings"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/report"
)

// preDropChecks runs the checks that come after the fresh re-check, as close as they can
// be to a DROP or a hold's RENAME, on the dropping connection, and decides whether to
// proceed or leave the table this run. Both statements go through here, so a check
// added here guards both.
func (r *shardRun) preDropChecks(ctx context.Context, t *discovery.Table) (decision, error) {
	r.fk = fkState{}
	// Every server the statement reaches is looked at below, or the shard stops: a
	// replica nobody listed would be passed over (topology.go).
	if err := r.checkTopology(ctx, r.conn); err != nil {
		return decision{}, err
	}
	// What the replicas would do with janitor's statements: a replica that lacks the
	// table, or whose filters let them through unlike the tool's, would stop its
	// applier or keep a name the tool reuses (filters.go).
	diverge, err := r.replicaStatements(ctx, t)
	if err != nil {
		return decision{}, err
	}
	if len(diverge) > 0 {
		r.log.WarnContext(ctx, "a replica would not apply janitor's statements as the primary does: skipped", "table", dbconn.QualifiedName(t.Schema, t.Name), "replicas", strings.Join(diverge, "; "))
		return leave(outcome{report.OutcomeSkipped, strings.Join(diverge, "; "), 0}), nil
	}
	// What names the table on a replica only: the replicated statement would break it
	// there (a foreign key from a replica-only child stops the applier with 1451).
	refs, err := r.replicaReferences(ctx, t)
	if err != nil {
		return decision{}, err
	}
	if len(refs) > 0 {
		r.log.WarnContext(ctx, "referenced on a replica: skipped", "table", dbconn.QualifiedName(t.Schema, t.Name), "references", strings.Join(refs, "; "))
		return leave(outcome{report.OutcomeSkipped, "the replicated DROP or RENAME would break a replica: " + strings.Join(refs, "; "), 0}), nil
	}
	// The live tables a foreign key joins it to, which its DDL locks on MySQL 8+: a
	// reader of one of them, on the primary or a replica, would have the statement
	// wait and every query of that live table queue behind it.
	fks, d, err := r.fkTables(ctx, t)
	if err != nil || !d.proceed {
		return d, err
	}
	var live []string
	if locksFKTables(r.server.Flavor) && len(fks) > 0 {
		if live, err = r.primaryFKReaders(ctx, fks); err != nil {
			return decision{}, err
		}
	}
	if len(live) == 0 && len(r.replicas) > 0 {
		if live, err = r.replicaFKReaders(ctx, t, fks); err != nil {
			return decision{}, err
		}
	}
	if len(live) > 0 {
		r.log.WarnContext(ctx, "a live table its DDL would lock through a foreign key is in use: deferred", "table", dbconn.QualifiedName(t.Schema, t.Name), "readers", strings.Join(live, "; "))
		return leave(outcome{report.OutcomeDeferred, "its DROP or RENAME would also lock the live tables a foreign key joins it to, and would wait for what holds them while their queries queue: " + strings.Join(live, "; "), 0}), nil
	}
	// A reader on a replica would stall that replica's replication behind its metadata
	// lock: a replicated RENAME waits for it just as a DROP does.
	readers, err := r.replicaReaders(ctx, t.Schema, t.Name)
	if err != nil {
		return decision{}, err
	}
	if len(readers) > 0 {
		r.log.WarnContext(ctx, "in use on a replica: deferred", "table", dbconn.QualifiedName(t.Schema, t.Name), "readers", strings.Join(readers, "; "))
		return leave(outcome{report.OutcomeDeferred, "in use on a replica, where its DROP or RENAME would wait and stall replication: " + strings.Join(readers, "; "), 0}), nil
	}
	// A reader that arrives after these checks is met by the server: the statement
	// waits for it, and for that long so do the live tables' queries, so the wait is
	// short when the statement locks live tables on the primary.
	if locksFKTables(r.server.Flavor) {
		r.fk.tables = fks
	}
	if err := r.setLockWait(ctx, len(r.fk.tables) > 0); err != nil {
		return decision{}, err
	}
	// The statements that follow on this connection run with the table's schema as
	// their default database, as the tools' own do: the replicas' database filters
	// judge DDL by it.
	if err := r.useSchema(ctx, t.Schema); err != nil {
		return decision{}, err
	}
	return proceed(), nil
}
