package discovery

import (
	"context"
	"fmt"
	"slices"

	"github.com/janitorhq/janitor/dbconn"
)

// InFlight reports whether a table of role is one a migration works in while it runs
// (its copy, changelog, checkpoint, delta table), as opposed to the original table it
// renamed away at cut-over (RoleOld). A migration has no original table of its own
// until it cuts over, and then it is done: an _old or _del beside a live copy is an
// earlier run's (gh-ost refuses to start beside an unstamped _del; pt-osc picks a free
// _old name at its swap), and a session reading an old copy says nothing of the
// migration running now. gh-ost's cut-over sentry is named like an original table;
// its own rule keeps it, and policies.Spreads lets it keep its migration.
func InFlight(role Role) bool { return role != RoleOld }

// Siblings lists the other tables of t's migration on the server: those in t's schema
// whose name has a reading of t's tool and base (any reading, not only the one that
// would win: a sibling read otherwise is still looked at). The lookup is by name alone
// (LIKE, which opens nothing); the pre-DROP re-check inspects each, since a migration's
// liveness may show in any of its tables.
func (in *Inspector) Siblings(ctx context.Context, t *Table) ([]Name, error) {
	if t.Base == "" || t.Orphan || t.Tool == ToolAmbiguous || t.Tool == ToolJanitor || !InFlight(t.Role) {
		return nil, nil
	}
	names, err := queryAll(ctx, in, `SELECT /* janitor */ TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE ?`, []any{t.Schema, "%" + escapeLike(t.Base) + "%"}, scanString)
	if err != nil {
		return nil, fmt.Errorf("list the tables of %s's migration: %w", dbconn.QualifiedName(t.Schema, t.Name), err)
	}
	var out []Name
	for _, n := range names {
		if n == t.Name {
			continue
		}
		// An original table is looked at too: it may be the cut-over sentry.
		if slices.ContainsFunc(Classify(n), func(m Match) bool { return m.Tool == t.Tool && m.Base == t.Base }) {
			out = append(out, Name{Schema: t.Schema, Table: n})
		}
	}
	return out, nil
}
