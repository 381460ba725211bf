package janitor

import (
	"context"
	"strings"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/report"
)

// preDropChecks runs the checks that come after the fresh re-check, as close as they can
// be to a DROP or a hold's RENAME, on the dropping connection. A non-nil outcome means:
// leave the table this run. Both statements go through here, so a check added here
// guards both.
func (r *shardRun) preDropChecks(ctx context.Context, t *discovery.Table) (*outcome, error) {
	// A reader on a replica would stall that replica's replication behind its metadata
	// lock: a replicated RENAME waits for it just as a DROP does.
	readers, err := r.replicaReaders(ctx, t.Schema, t.Name)
	if err != nil {
		return nil, err
	}
	if len(readers) > 0 {
		r.log.WarnContext(ctx, "in use on a replica: deferred", "table", dbconn.QualifiedName(t.Schema, t.Name), "readers", strings.Join(readers, "; "))
		return &outcome{report.OutcomeDeferred, "in use on a replica, where its DROP or RENAME would wait and stall replication: " + strings.Join(readers, "; "), 0}, nil
	}
	return nil, nil
}
