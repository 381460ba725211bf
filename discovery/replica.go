package discovery

import (
	"context"
	"errors"
)

// References reads, on this Inspector's server, what names the table n there: the
// evidence kinds with a Replica word (triggers, stored routines, views, foreign keys,
// MERGE and link tables, scheduled events and grants on the table) that the primary's
// re-check reads, asked of another server. The dropper asks it of each
// replica before a DROP: a replica often holds objects the primary lacks (a reporting
// schema created with sql_log_bin=0, a replica-only child table), and the replicated
// DROP then breaks them there — a foreign key from a replica-only child makes the
// replica's applier stop on error 1451, a replica-only view fails with 1356.
//
// gone reports that the table does not exist on this server: the replicated DROP
// TABLE would then stop the applier there with error 1051. unreadable lists the
// evidence that could not be read; the caller must not drop then.
func (in *Inspector) References(ctx context.Context, n Name) (refs, unreadable []string, gone bool, err error) {
	t := &Table{Schema: n.Schema, Name: n.Table, Orphan: n.Orphan}
	if n.Orphan {
		// A #sql orphan is local to one server's data directory and is not
		// replicated by name: nothing on another server names it.
		return nil, nil, false, nil
	}
	if err := in.readMeta(ctx, t, nil); err != nil {
		if errors.Is(err, ErrGone) {
			return nil, nil, true, nil
		}
		return nil, nil, false, err
	}
	ev := &t.Evidence
	// The replica's own account: its partial revokes hide its schemas, whatever the
	// primary's account sees.
	in.hiddenSchemas(t)
	// The kinds a replica is asked (EvidenceKind.Replica), as the primary reads them.
	for _, k := range evidenceKinds {
		if k.Replica == "" {
			continue
		}
		for _, s := range k.read(in, ctx, t, nil) {
			refs = append(refs, k.Replica+" "+s)
		}
	}
	return refs, ev.Unreadable, false, nil
}
