package discovery

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
)

// SchemaCheck is what CheckSchemas found about the configured schema lists.
type SchemaCheck struct {
	// Warnings name a discovery.schemas entry the server does not show (a typo leaves
	// that schema never cleaned), or an exclude_schemas entry that differs from an
	// existing schema only in case (the exclusion probably misses).
	Warnings []string
	// Notes name exclude_schemas entries that match no schema: harmless, worth a log line.
	Notes []string
}

// CheckSchemas compares discovery.schemas and discovery.exclude_schemas with the
// schemas this server has. On a server that folds case (lower_case_table_names 1 or
// 2) it rewrites both lists to the server's spelling, so that "Ledger" excludes ledger
// as the server itself would read it. One query for the schema list, and one per
// missing name to tell "no such schema" from "not visible to this account".
//
// A schema a partial revoke hides (Server.Restrictions) is a warning whatever the lists
// say: its views, triggers, routines and events may use a leftover anywhere, so every
// candidate of the shard is kept as evidence_unreadable until the GRANT it names.
func (in *Inspector) CheckSchemas(ctx context.Context) (SchemaCheck, error) {
	var c SchemaCheck
	if err := in.server.HiddenEvidence(); err != nil {
		c.Warnings = append(c.Warnings, err.Error()+"; until then no candidate is dropped (evidence_unreadable)")
	}
	if len(in.opts.Schemas) == 0 && len(in.opts.ExcludeSchemas) == 0 {
		return c, nil
	}
	visible, err := queryAll(ctx, in, "SELECT /* janitor */ SCHEMA_NAME FROM information_schema.SCHEMATA", nil, scanString)
	if err != nil {
		return c, fmt.Errorf("list schemas: %w", err)
	}
	lctn, err := queryAll(ctx, in, "SELECT /* janitor */ @@lower_case_table_names", nil, func(r *sqlx.Rows) (int, error) {
		var n int
		return n, r.Scan(&n)
	})
	if err != nil || len(lctn) != 1 {
		return c, fmt.Errorf("read lower_case_table_names: %w", err)
	}
	folds := lctn[0] != 0
	// The lists are the configuration's, shared by every shard's Inspector: rewrite
	// copies.
	in.opts.Schemas = slices.Clone(in.opts.Schemas)
	in.opts.ExcludeSchemas = slices.Clone(in.opts.ExcludeSchemas)
	resolve := func(name string) (string, bool) {
		if slices.Contains(visible, name) {
			return name, true
		}
		if folds {
			for _, v := range visible {
				if strings.EqualFold(v, name) {
					return v, true
				}
			}
		}
		return name, false
	}
	caseTwin := func(name string) string {
		for _, v := range visible {
			if strings.EqualFold(v, name) {
				return v
			}
		}
		return ""
	}
	// resolveAll respells each of names as the server does, in place, and hands each it
	// does not show to missing, with the schema differing only in case if there is one.
	resolveAll := func(names []string, missing func(name, twin string)) {
		for i, name := range names {
			got, ok := resolve(name)
			names[i] = got
			if !ok {
				missing(name, caseTwin(name))
			}
		}
	}
	resolveAll(in.opts.Schemas, func(name, twin string) {
		if twin != "" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("discovery.schemas: no schema %q on this server, but there is %q: schema names are case-sensitive here (lower_case_table_names=0); no table in %q is looked at until the name is fixed", name, twin, name))
			return
		}
		c.Warnings = append(c.Warnings, "discovery.schemas: "+in.missing(ctx, name)+"; no table in it is looked at")
	})
	var absentExcludes []string
	resolveAll(in.opts.ExcludeSchemas, func(name, twin string) {
		if twin != "" {
			c.Warnings = append(c.Warnings, fmt.Sprintf("discovery.exclude_schemas: no schema %q on this server, but there is %q, which is NOT excluded: schema names are case-sensitive here (lower_case_table_names=0)", name, twin))
			return
		}
		why, absent := in.missingWhy(ctx, name)
		if absent {
			absentExcludes = append(absentExcludes, fmt.Sprintf("%q", name))
			return
		}
		c.Notes = append(c.Notes, "discovery.exclude_schemas: "+why+"; nothing to exclude")
	})
	// One line for all the entries that name no schema: a configuration shared by a fleet
	// lists every shard's schemas, and a line each would bury the rest of the log.
	if len(absentExcludes) > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf("discovery.exclude_schemas: no schema %s on this server (check the names if that is unexpected); nothing to exclude", strings.Join(absentExcludes, ", ")))
	}
	return c, nil
}

// missing says why a schema is not listed: the server has no such schema, or the
// account holds no privilege on it. The server hides such a schema from the list;
// MySQL then answers "access denied" whether or not it exists, MariaDB tells the two
// apart.
func (in *Inspector) missing(ctx context.Context, name string) string {
	why, _ := in.missingWhy(ctx, name)
	return why
}

// missingWhy is missing, and whether the server said the schema does not exist.
func (in *Inspector) missingWhy(ctx context.Context, name string) (string, bool) {
	qctx, cancel := in.ctx(ctx)
	defer cancel()
	rows, err := in.q.QueryxContext(qctx, "SHOW /* janitor */ TABLES FROM "+dbconn.QuoteIdent(name)+" LIKE '#janitor-probe#'")
	if err == nil {
		rows.Close()
		// MariaDB answers SHOW TABLES for a schema the account holds nothing on (with no
		// rows), and "unknown database" only for one that does not exist.
		return fmt.Sprintf("schema %q exists but is not visible to this account, which holds no privilege on it (GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON *.* to janitor's account: janitor reads every schema's triggers, routines and events, so a grant on this schema alone would leave its tables unreadable; docs/dropping.md, Least privilege)", name), false
	}
	switch {
	case dbconn.IsError(err, 1049): // ER_BAD_DB_ERROR
		return fmt.Sprintf("schema %q does not exist on this server (check the name)", name), true
	case dbconn.IsError(err, dbconn.ErrDBAccess):
		return fmt.Sprintf("schema %q is not visible to this account: it does not exist, or the account has no privilege on it (check the name, or GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON *.* to janitor's account; docs/dropping.md, Least privilege)", name), false
	}
	return fmt.Sprintf("schema %q is not listed, and checking it failed: %v", name, err), false
}
