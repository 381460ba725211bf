package janitor

import (
	"context"
	"errors"

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
