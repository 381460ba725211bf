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
	probe := fresh
	if h := fresh.Hold; fresh.Tool == discovery.ToolJanitor {
		if h == nil || policies.MigrationKey(fresh) == "" {
			return proceed(), nil
		}
		// A held table belongs to the migration its hold record names.
		probe = &discovery.Table{Schema: fresh.Schema, Name: fresh.Name, Tool: h.Tool, Role: h.Role, Base: h.Base}
	}
	if d, err := r.binlogClients(ctx, in, probe); err != nil || !d.proceed {
		return d, err
	}
	sibs, err := in.Siblings(ctx, probe)
	if err != nil {
		return decision{}, err
	}
	pc := policies.Context{VitessTableGC: r.sc.VitessTableGC, ClockShift: r.j.ClockShift, Shard: r.sc.Name}
	for _, n := range sibs {
		st, err := in.Inspect(ctx, n)
		if errors.Is(err, discovery.ErrGone) {
			continue
		}
		if err != nil {
			return decision{}, err
		}
		if v, ok := policies.Alive(r.j.cfg.Policy, pc, st, policies.Evaluate(r.j.cfg.Policy, pc, st)); ok {
			kept := policies.KeptWith(st, v)
			return leave(outcome{report.OutcomeSkipped, "re-check before drop: " + kept.Reason, 0}), nil
		}
	}
	return proceed(), nil
}

// binlogClients looks, for a table of a tool that streams the binary log, at the
// primary's binary log clients (a held table's own evidence does not, its tool being
// janitor's) and at each replica's: gh-ost streams from a replica by default and applies
// on the primary, so its one session that lasts while it is paused may be on a replica,
// where the inventory does not look. A client that may be the tool keeps the table
// (binlog_client); one janitor cannot list keeps it too.
func (r *shardRun) binlogClients(ctx context.Context, in *discovery.Inspector, probe *discovery.Table) (decision, error) {
	if !discovery.StreamsBinlog(probe) {
		return proceed(), nil
	}
	keep := func(where string, clients []string, err error) (decision, bool) {
		if err != nil {
			return leave(outcome{report.OutcomeSkipped, "re-check before drop: cannot list the binary log clients of " + where +
				" (" + err.Error() + "), one of which may be the tool that made it", 0}), true
		}
		if len(clients) > 0 {
			return leave(outcome{report.OutcomeSkipped, "re-check before drop: a binary log client that is not a replica streams from " + where +
				" and may be the tool, paused or postponing its cut-over (binlog_client): " + strings.Join(clients, "; "), 0}), true
		}
		return decision{}, false
	}
	clients, err := in.BinlogClients(ctx, probe.Schema)
	if d, stop := keep("the primary", clients, err); stop {
		return d, nil
	}
	for _, rd := range r.replicas {
		v, err := r.replicaView(ctx, rd)
		if err != nil {
			return decision{}, err
		}
		clients, err := discovery.NewInspector(v.db, v.server, r.j.discoveryOptions(), r.log).BinlogClients(ctx, probe.Schema)
		if d, stop := keep("replica "+rd.name, clients, err); stop {
			return d, nil
		}
	}
	return proceed(), nil
}
