package janitor

import (
	"context"
	"errors"
	"strings"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/report"
)

// recheckGroup is the group verdict of the pre-DROP re-check: the inventory judged the
// table with its migration's other tables (policies.Groups), and each of those may have
// come alive since, so each is inspected afresh on the dropping connection. One kept
// for a reason that may mean the migration is alive keeps this table too.
func (r *shardRun) recheckGroup(ctx context.Context, in *discovery.Inspector, fresh *discovery.Table) (decision, error) {
	sibs, err := in.Siblings(ctx, fresh)
	if err != nil {
		return decision{}, err
	}
	if d, err := r.replicaBinlogClients(ctx, fresh); err != nil || !d.proceed {
		return d, err
	}
	pc := policies.Context{VitessTableGC: r.sc.VitessTableGC, ClockShift: r.j.ClockShift}
	for _, n := range sibs {
		st, err := in.Inspect(ctx, n)
		if errors.Is(err, discovery.ErrGone) {
			continue
		}
		if err != nil {
			return decision{}, err
		}
		v := policies.Evaluate(r.j.cfg.Policy, pc, st)
		if policies.Spreads(st, v) {
			kept := policies.KeptWith(st, v)
			return leave(outcome{report.OutcomeSkipped, "re-check before drop: " + shardInReason(kept.Reason, r.sc.Name), 0}), nil
		}
	}
	return proceed(), nil
}

// replicaBinlogClients looks, for a table of a tool that streams the binary log, at each
// replica's binary log clients: gh-ost streams from a replica by default and applies on
// the primary, so its one session that lasts while it is paused may be on a replica,
// where the inventory does not look. A client there that may be the tool keeps the
// table (binlog_client); one janitor cannot list keeps it too.
func (r *shardRun) replicaBinlogClients(ctx context.Context, fresh *discovery.Table) (decision, error) {
	if !discovery.StreamsBinlog(fresh) {
		return proceed(), nil
	}
	for _, rd := range r.replicas {
		db, v, err := r.replicaView(ctx, rd)
		if err != nil {
			return decision{}, err
		}
		in := discovery.NewInspector(db, v.server, r.j.discoveryOptions(), r.log)
		clients, err := in.BinlogClients(ctx)
		if err != nil {
			return leave(outcome{report.OutcomeSkipped, "re-check before drop: cannot list the binary log clients of replica " + rd.name +
				" (" + err.Error() + "), one of which may be the tool that made it", 0}), nil
		}
		if len(clients) > 0 {
			return leave(outcome{report.OutcomeSkipped, "re-check before drop: a binary log client that is not a replica streams from replica " + rd.name +
				" and may be the tool, paused or postponing its cut-over (binlog_client): " + strings.Join(clients, "; "), 0}), nil
		}
	}
	return proceed(), nil
}
