package discovery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
)

// Scheduled events and table-level grants: two more kinds of evidence that someone still
// uses a leftover. A weekly event that runs `INSERT INTO _orders_old …` writes it too
// seldom for recent_write, and once the table is gone (or held under another name) the
// event only fails in the error log. A GRANT on the leftover itself is a DBA keeping it
// for somebody (a reporting user reading `_orders_old`).
//
// Both are read once per Inspector, like triggers and routines: one query each per
// shard, whatever the number of candidates, and neither opens a user table.

// usageCache holds, for one Inspector's life, the events and table grants read.
type usageCache struct {
	events memo[event]
	grants memo[tableGrant]
}

type event struct {
	Schema, Name, Status string
	Body                 sql.NullString
	// Ran: the server records a run (LAST_EXECUTED); LastRun is that run in UTC, NULL
	// when the event's own time zone (LAST_EXECUTED is in it) cannot be converted: a
	// named zone on a server without time zone tables.
	Ran     bool
	LastRun sql.NullTime
}

// allEvents reads every scheduled event (storedObjectsWhere), once per Inspector, from
// information_schema.EVENTS. That view shows an event only to an account holding EVENT
// on its schema, and shows nothing, with no error, to one without (measured on MariaDB
// 10.11 and 11.8 and MySQL 9.7; SHOW EVENTS fails with 1044 instead): without EVENT ON
// *.* an empty answer proves nothing, so the evidence is unreadable.
//
// MariaDB also keeps events in mysql.event, readable with SELECT alone; MySQL 8 and
// later keep them in the data dictionary, which only this view shows. One source for
// every flavor, the one that decodes the body's character set, is worth the grant.
func (in *Inspector) allEvents(ctx context.Context) ([]event, error) {
	return readStored(ctx, in, &in.usage.events, in.server.SeesEvents, storedKind[event]{
		hidden:  "the account lacks the EVENT privilege, so the server hides scheduled events and their bodies (GRANT EVENT ON *.* to janitor's account)",
		what:    "scheduled events",
		view:    "EVENTS",
		columns: "EVENT_SCHEMA, EVENT_NAME, STATUS, EVENT_DEFINITION, LAST_EXECUTED IS NOT NULL, CONVERT_TZ(LAST_EXECUTED, TIME_ZONE, '+00:00')",
		scan: func(r *sqlx.Rows) (e event, err error) {
			return e, r.Scan(&e.Schema, &e.Name, &e.Status, &e.Body, &e.Ran, &e.LastRun)
		},
		keepReadErr: true,
		bodyHidden: func(e event) error {
			if e.Body.Valid {
				return nil
			}
			return fmt.Errorf("the body of event %s is hidden from this account (GRANT EVENT ON *.* to janitor's account)",
				dbconn.QualifiedName(e.Schema, e.Name))
		},
	})
}

// errEventMangled: see errMangled; MySQL 9.7.4 mangles event bodies the same way.
var errEventMangled = errors.New("MySQL prints event bodies with a backtick-holding name mangled (9.7.4 shows `_we``ird_old` as `__we`ird_oldd`), so no text search can prove an event does not name this table")

// eventsNaming finds scheduled events whose body names this table: bare or quoted in the
// event's own schema (an event runs with its schema as the default database), qualified
// from any schema. Disabled events count: anyone with EVENT can enable one again, and
// a replica's copies of the primary's events (SLAVESIDE_DISABLED) are enabled by design
// on the replica that is promoted. An event that only CALLs a routine naming the table
// needs no search here: the routine keeps it (routine_reference). SQL an event builds
// at run time (PREPARE from a string) is not seen, as for routines.
func (in *Inspector) eventsNaming(ctx context.Context, t *Table) []string {
	evs, err := in.allEvents(ctx)
	if err != nil {
		t.Evidence.unreadable("scheduled events", err)
		return nil
	}
	names := usageNames(t)
	var out []string
	for _, e := range evs {
		if bodiesHide(in.server.Flavor, t, e.Schema, e.Body.String, names...) {
			t.Evidence.unreadable("scheduled events", errEventMangled)
			return nil
		}
		for _, n := range names {
			if bodyNames(e.Schema, e.Body.String, t.Schema, n) {
				out = append(out, describeUsage(dbconn.QualifiedName(e.Schema, e.Name)+eventStatus(e.Status), t, n))
				break
			}
		}
	}
	return out
}

// eventStatus is " (disabled)" and the like for an event that is not enabled.
func eventStatus(s string) string {
	if strings.EqualFold(s, "ENABLED") {
		return ""
	}
	return " (" + strings.ToLower(s) + ")"
}

// usageNames are the names under which something may use t: its own and, for a table
// janitor holds, its name before the hold. Events and grants naming that name meant
// the table: an event that has failed since the hold shows no access to the held name,
// and a grant made during the hold asks for the table back.
func usageNames(t *Table) []string {
	names := []string{t.Name}
	if !IsHoldName(t.Name) {
		return names
	}
	if h, ok := ParseHold(t.Comment); ok && h.Table != t.Name {
		names = append(names, h.Table)
	}
	return names
}

// describeUsage adds the name used when it is not the table's own.
func describeUsage(what string, t *Table, name string) string {
	if name == t.Name {
		return what
	}
	return fmt.Sprintf("%s, under its name before the hold %s", what, dbconn.QuoteIdent(name))
}

type tableGrant struct {
	Grantee, Schema, Table, Column, Privilege string
}

// allTableGrants reads every table- and column-level grant on a user schema's table,
// except those of janitor's own account, once per Inspector. The server answers both
// views from its in-memory grant tables: nothing is opened. They list other accounts'
// grants only to an account with SELECT on the mysql schema (its own grants otherwise,
// with no error; measured on MariaDB 10.11 and 11.8 and MySQL 9.7), hence the check.
//
// The views show the grants in force, as mysql.tables_priv and columns_priv were last
// loaded. A grant names a table by name, not by identity: RENAME and DROP leave it in
// place, so a grant on the name a tool gave the leftover (`_orders_old`) applies to
// whatever table holds that name now, and is kept as evidence even when it was made
// for an earlier table of that name. A grant on the original name (`orders`) applies,
// after the cut-over, to the new table, not to the leftover.
func (in *Inspector) allTableGrants(ctx context.Context) ([]tableGrant, error) {
	if !in.server.SeesGrants {
		return nil, errors.New("the account lacks SELECT ON *.*, so the server shows it only its own table grants (GRANT SELECT ON *.* to janitor's account)")
	}
	return in.usage.grants.get(func() (bool, []tableGrant, error) {
		gs, err := in.readTableGrants(ctx)
		return true, gs, err
	})
}

// readTableGrants reads what allTableGrants keeps.
func (in *Inspector) readTableGrants(ctx context.Context) ([]tableGrant, error) {
	var cur string
	qctx, cancel := in.ctx(ctx)
	err := in.q.QueryRowxContext(qctx, `SELECT /* janitor */ CURRENT_USER()`).Scan(&cur)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("read own account: %w", err)
	}
	// Janitor's own grants are left out here, not in SQL: the views' collation folds
	// case, and user names do not ('JANITOR'@'%' is another account than 'janitor'@'%').
	// A spelling that does not match only keeps tables janitor was granted.
	args := anySlice(systemSchemas)
	where := `WHERE TABLE_SCHEMA NOT IN (` + placeholders(len(systemSchemas)) + `)`
	scan := func(r *sqlx.Rows) (g tableGrant, err error) {
		return g, r.Scan(&g.Grantee, &g.Schema, &g.Table, &g.Column, &g.Privilege)
	}
	tables, err := queryAll(ctx, in, `SELECT /* janitor */ GRANTEE, TABLE_SCHEMA, TABLE_NAME, '', PRIVILEGE_TYPE
		FROM information_schema.TABLE_PRIVILEGES `+where, args, scan)
	if err != nil {
		return nil, fmt.Errorf("read table grants: %w", err)
	}
	columns, err := queryAll(ctx, in, `SELECT /* janitor */ GRANTEE, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, PRIVILEGE_TYPE
		FROM information_schema.COLUMN_PRIVILEGES `+where, args, scan)
	if err != nil {
		return nil, fmt.Errorf("read column grants: %w", err)
	}
	var out []tableGrant
	for _, g := range append(tables, columns...) {
		if !isAccount(g.Grantee, cur) {
			out = append(out, g)
		}
	}
	return out, nil
}

// tableGrants lists, one entry per grantee, the grants on this table (or its columns)
// held by an account other than janitor's. Names compare without regard to case: with
// lower_case_table_names=0 a grant on a name differing in case keeps the table a run
// longer, which costs only disk.
func (in *Inspector) tableGrants(ctx context.Context, t *Table) []string {
	gs, err := in.allTableGrants(ctx)
	if err != nil {
		t.Evidence.unreadable("table grants", err)
		return nil
	}
	var order []string
	privs := map[string][]string{}
	for _, n := range usageNames(t) {
		for _, g := range gs {
			if !strings.EqualFold(g.Schema, t.Schema) || !strings.EqualFold(g.Table, n) {
				continue
			}
			who := describeUsage(g.Grantee, t, n)
			if _, ok := privs[who]; !ok {
				order = append(order, who)
			}
			p := g.Privilege
			if g.Column != "" {
				p += " (" + dbconn.QuoteIdent(g.Column) + ")"
			}
			privs[who] = append(privs[who], p)
		}
	}
	var out []string
	for _, who := range order {
		out = append(out, fmt.Sprintf("%s: %s", who, strings.Join(privs[who], ", ")))
	}
	return out
}
