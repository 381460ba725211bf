package janitor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/replica"
	"github.com/janitorhq/janitor/report"
)

// A replica applies janitor's statements through its replication filters, and against
// its own copy of the table. Two ways that breaks replication (issue 17 §3, both
// flavors):
//
//   - The replica lacks the table (it was created on the primary with sql_log_bin=0, or
//     dropped on the replica by hand): the replicated ALTER, RENAME or DROP, or a purge's
//     row events, stop its applier with error 1146 (1051 for the DROP on MySQL).
//   - A filter treats janitor's statement unlike the tool's own: with
//     replicate-do-db=shop a RENAME sent with no default database is filtered out, the
//     replica keeps the old name, and the tool's next swap onto that name stops the
//     applier with error 1050.
//
// janitor sends every statement with the table's schema as the default database (USE,
// as the tools do), so the database-level filters treat it as they treat the tool's
// statements and a purge's row events alike. Before each statement it reads every
// replica's filters, works out what the replica does with each statement janitor is
// about to send about the table, and proceeds only if the replica applies all of them
// to a table it has, or filters out all of them for a table it does not have.

// replicaFilters is the filter set of one replication channel.
type replicaFilters struct {
	channel                      string
	doDB, ignoreDB               []string
	doTable, ignoreTable         []string
	wildDoTable, wildIgnoreTable []string
	ignoreServerIDs              []string
	unsupported                  []string // filters janitor does not evaluate: name=value
	sourceID                     string   // the server_id of the channel's source
}

// filterColumns are the Replicate_* columns of SHOW REPLICA STATUS (both flavors) that
// janitor evaluates: each channel's effective filters, global or its own.
var filterColumns = map[string]func(f *replicaFilters) *[]string{
	"Replicate_Do_DB":             func(f *replicaFilters) *[]string { return &f.doDB },
	"Replicate_Ignore_DB":         func(f *replicaFilters) *[]string { return &f.ignoreDB },
	"Replicate_Do_Table":          func(f *replicaFilters) *[]string { return &f.doTable },
	"Replicate_Ignore_Table":      func(f *replicaFilters) *[]string { return &f.ignoreTable },
	"Replicate_Wild_Do_Table":     func(f *replicaFilters) *[]string { return &f.wildDoTable },
	"Replicate_Wild_Ignore_Table": func(f *replicaFilters) *[]string { return &f.wildIgnoreTable },
	"Replicate_Ignore_Server_Ids": func(f *replicaFilters) *[]string { return &f.ignoreServerIDs },
}

// unsupportedFilterColumns rewrite or select events by something other than their
// tables: janitor cannot tell what they do to its statements, so a replica with one set
// refuses the table.
var unsupportedFilterColumns = []string{"Replicate_Rewrite_DB", "Replicate_Do_Domain_Ids", "Replicate_Ignore_Domain_Ids"}

// readFilters reads the filters of every replication channel of a replica, from the
// same statement as its status (replica.StatusStatements: MariaDB's SHOW ALL SLAVES
// STATUS shows every named connection, each with its own filters).
func readFilters(ctx context.Context, q sqlx.QueryerContext) ([]replicaFilters, error) {
	var out []replicaFilters
	_, err := replica.ShowAny(ctx, q, replica.StatusStatements, func(str func(keys ...string) string) error {
		f := replicaFilters{channel: str("Connection_name", "Channel_Name"), sourceID: str("Master_Server_Id", "Source_Server_Id")}
		for col, field := range filterColumns {
			*field(&f) = splitFilter(str(col))
		}
		for _, col := range unsupportedFilterColumns {
			if v := strings.TrimSpace(str(col)); v != "" {
				f.unsupported = append(f.unsupported, strings.ToLower(col)+"="+v)
			}
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// splitFilter splits a Replicate_* column: a comma-separated list.
func splitFilter(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// filterVerdict is what one channel does with one statement: applied or filtered out,
// and the rule that decided ("" when no rule did: applied by default).
type filterVerdict struct {
	applied bool
	rule    string
}

// evaluate says what the channel does with a statement sent with db as its default
// database that changes tables (schema-qualified), as the server's Rpl_filter does
// (MySQL's "How Servers Evaluate Replication Filtering Rules"; MariaDB's is the same
// code): the database rules first — for a statement (every DDL, under any binlog format)
// the default database, for a row event the table's own database: janitor makes them the
// same by sending USE schema first — then the table rules, table by table in the
// statement's order, where the first rule any table matches decides; with do-table or
// wild-do-table rules and no match, the statement is filtered out. fold compares names
// case-insensitively (lower_case_table_names other than 0).
func (f replicaFilters) evaluate(db string, tables []qualifiedTable, fold bool, sourceID string) filterVerdict {
	eq := func(a, b string) bool {
		if fold {
			return strings.EqualFold(a, b)
		}
		return a == b
	}
	in := func(list []string, s string) bool {
		return slices.ContainsFunc(list, func(x string) bool { return eq(x, s) })
	}
	if sourceID != "" && slices.Contains(f.ignoreServerIDs, sourceID) {
		return filterVerdict{false, "replicate_ignore_server_ids=" + strings.Join(f.ignoreServerIDs, ",")}
	}
	switch {
	case len(f.doDB) > 0:
		if db == "" || !in(f.doDB, db) {
			return filterVerdict{false, "replicate_do_db=" + strings.Join(f.doDB, ",")}
		}
	case len(f.ignoreDB) > 0:
		if in(f.ignoreDB, db) {
			return filterVerdict{false, "replicate_ignore_db=" + db}
		}
	}
	if len(f.doTable)+len(f.ignoreTable)+len(f.wildDoTable)+len(f.wildIgnoreTable) == 0 {
		return filterVerdict{true, ""}
	}
	for _, t := range tables {
		key := t.schema + "." + t.table
		if in(f.doTable, key) {
			return filterVerdict{true, "replicate_do_table=" + key}
		}
		if in(f.ignoreTable, key) {
			return filterVerdict{false, "replicate_ignore_table=" + key}
		}
		// The server compares wild patterns case-insensitively whatever
		// lower_case_table_names says (wild_case_compare).
		for _, p := range f.wildDoTable {
			if wildMatch(p, key) {
				return filterVerdict{true, "replicate_wild_do_table=" + p}
			}
		}
		for _, p := range f.wildIgnoreTable {
			if wildMatch(p, key) {
				return filterVerdict{false, "replicate_wild_ignore_table=" + p}
			}
		}
	}
	if len(f.doTable)+len(f.wildDoTable) > 0 {
		return filterVerdict{false, "no replicate_do_table or replicate_wild_do_table rule matches (" + strings.Join(append(slices.Clone(f.doTable), f.wildDoTable...), ",") + ")"}
	}
	return filterVerdict{true, ""}
}

// qualifiedTable is one table a statement changes.
type qualifiedTable struct{ schema, table string }

// wildMatch matches s against a replicate-wild-*-table pattern: % any run of characters,
// _ any one character, \ escapes the next; case-insensitive, as the server compares.
func wildMatch(pattern, s string) bool {
	p, t := []rune(strings.ToLower(pattern)), []rune(strings.ToLower(s))
	var match func(i, j int) bool
	match = func(i, j int) bool {
		for i < len(p) {
			switch p[i] {
			case '%':
				for i < len(p) && p[i] == '%' {
					i++
				}
				if i == len(p) {
					return true
				}
				for k := j; k <= len(t); k++ {
					if match(i, k) {
						return true
					}
				}
				return false
			case '_':
				if j >= len(t) {
					return false
				}
			case '\\':
				if i+1 < len(p) {
					i++
				}
				if j >= len(t) || t[j] != p[i] {
					return false
				}
			default:
				if j >= len(t) || t[j] != p[i] {
					return false
				}
			}
			i++
			j++
		}
		return j == len(t)
	}
	return match(0, 0)
}

// plannedStatement is one statement janitor is about to send about a table.
type plannedStatement struct {
	what   string // for the reason: "the hold's RENAME"
	tables []qualifiedTable
}

// plannedStatements are the statements janitor sends about t after preDropChecks: the
// hold's comment ALTER, RENAME and baseline ALTER (on the hold name), or the DROP (and a
// purge's DELETEs and comment ALTER, which change t alone as the DROP does), or, for a
// restore (r.restoring), the RENAME back and the comment ALTER on the original name. The hold
// name is a stand-in with the real one's shape: only its shape can matter to a filter.
func (r *shardRun) plannedStatements(t *discovery.Table) []plannedStatement {
	own := []qualifiedTable{{t.Schema, t.Name}}
	if h := r.restoring; h != nil {
		// A restore: the hold name back to the original name, then the comment ALTER on it.
		orig := qualifiedTable{t.Schema, h.Table}
		return []plannedStatement{
			{"the restore's RENAME", []qualifiedTable{own[0], orig}},
			{"the restore's comment ALTER", []qualifiedTable{orig}},
		}
	}
	if !r.holdsTable(t) {
		return []plannedStatement{{"DROP (and a purge's DELETEs)", own}}
	}
	now := time.Now().UTC()
	hold := qualifiedTable{t.Schema, discovery.HoldName(t.Schema, t.Name, now, now.Add(r.j.cfg.Execute.Hold))}
	return []plannedStatement{
		{"the hold's comment ALTER", own},
		{"the hold's RENAME", []qualifiedTable{own[0], hold}},
		{"the hold's ALTER of the held table", []qualifiedTable{hold}},
	}
}

// replicaStatements checks, on every configured replica, that the statements janitor is
// about to send about t do there what they do on the primary. It returns one line per
// replica where they would not (the table is left this run); an error (an *errStop) when
// a replica's filters or tables cannot be read.
func (r *shardRun) replicaStatements(ctx context.Context, t *discovery.Table) ([]string, error) {
	if t.Orphan {
		// A crashed ALTER's #sql table is local to the primary's data directory, and
		// the server does not write its DROP to the binary log.
		return nil, nil
	}
	stmts := r.plannedStatements(t)
	lines, err := r.statementsOnReplicas(ctx, t, stmts)
	if err != nil || len(lines) == 0 {
		return lines, err
	}
	// A replica may only lag behind the table's creation (a leftover younger than its
	// lag): once every replica has applied what the primary has now, look again. A
	// replica that does not catch up within max_replica_lag, or a primary without
	// GTIDs, leaves the first answer standing.
	pos, err := r.primaryPosition(ctx)
	if err != nil {
		return nil, err
	}
	if pos == "" {
		return lines, nil
	}
	now := time.Now()
	if s := r.waitApplied(ctx, pos, now.Add(r.budget.cap(now, r.j.cfg.ThrottleFor(r.sc).MaxReplicaLag))); s != nil {
		// A signal or the run's budget ends the run; a replica still behind leaves the
		// first answer standing.
		if s.code == report.BlockedSignal || r.budget.stop(time.Now()) != nil {
			return nil, s
		}
		return lines, nil
	}
	return r.statementsOnReplicas(ctx, t, stmts)
}

// primaryPosition is the primary's executed GTID set now, in the form the replicas'
// wait functions take; "" when it logs no GTIDs.
func (r *shardRun) primaryPosition(ctx context.Context) (string, error) {
	return r.gtidPosition(ctx, "janitor", "@@GLOBAL.gtid_binlog_pos", "read the primary's GTID position")
}

// statementsOnReplicas is one look at every configured replica's filters and tables.
func (r *shardRun) statementsOnReplicas(ctx context.Context, t *discovery.Table, stmts []plannedStatement) ([]string, error) {
	return r.onEachReplica(ctx, func(qctx context.Context, v *replicaView) ([]string, error) {
		filters, err := readFilters(qctx, v.db)
		if err != nil {
			return nil, r.replicaUnreadable(ctx, v, err)
		}
		has, err := tableExists(qctx, v.db, t.Schema, t.Name)
		if err != nil {
			return nil, r.replicaUnreadable(ctx, v, err)
		}
		if line := statementsOn(v.name, filters, stmts, t, has, v.server.LowerCaseTableNames != 0, r.server.ServerID); line != "" {
			return []string{line}, nil
		}
		return nil, nil
	})
}

// statementsOn decides for one replica; "" when janitor may send its statements.
func statementsOn(replica string, filters []replicaFilters, stmts []plannedStatement, t *discovery.Table, has, fold bool, sourceID uint64) string {
	name := dbconn.QualifiedName(t.Schema, t.Name)
	src := ""
	if sourceID != 0 {
		src = fmt.Sprint(sourceID)
	}
	// A multi-source replica's other channels do not carry this primary's events: only
	// the channels fed by it count, when any is (a replica fed through another replica,
	// a chain, has none: then every channel counts).
	var ours []replicaFilters
	for _, f := range filters {
		if src != "" && f.sourceID == src {
			ours = append(ours, f)
		}
	}
	if len(ours) > 0 {
		filters = ours
	}
	var applied, filtered []string
	for _, f := range filters {
		if len(f.unsupported) > 0 {
			return fmt.Sprintf("replica %s: its replication filter %s (channel %q) is one janitor does not evaluate, so it cannot tell what the replica would do with its statements: drop %s by hand, or remove the filter", replica, strings.Join(f.unsupported, "; "), f.channel, name)
		}
		for _, s := range stmts {
			v := f.evaluate(t.Schema, s.tables, fold, src)
			if w := f.evaluate(t.Schema, s.tables, !fold, src); w.applied != v.applied {
				return fmt.Sprintf("replica %s: whether its replication filter (channel %q) lets %s of %s through depends on letter case (%s): drop it by hand, or write the filter in the names' own case", replica, f.channel, s.what, name, firstNonEmpty(v.rule, w.rule))
			}
			what := s.what
			if v.rule != "" {
				what += " (" + v.rule + ", channel " + fmt.Sprintf("%q", f.channel) + ")"
			}
			if v.applied {
				applied = append(applied, what)
			} else {
				filtered = append(filtered, what)
			}
		}
	}
	switch {
	case len(filtered) > 0 && len(applied) > 0:
		return fmt.Sprintf("replica %s: its replication filters let some of janitor's statements about %s through and not others (through: %s; filtered out: %s): the replica would end up with neither name or both, and a tool's later statement would stop its applier; drop it by hand", replica, name, strings.Join(applied, "; "), strings.Join(filtered, "; "))
	case len(filtered) > 0 && has:
		return fmt.Sprintf("replica %s: has %s, but its replication filter leaves janitor's statements out there (%s): the replica would keep it, and a tool's later statement onto that name would stop its applier (error 1050); drop it by hand on both servers, or fix the filter", replica, name, strings.Join(filtered, "; "))
	case len(filtered) == 0 && !has:
		return fmt.Sprintf("replica %s: does not have %s (created on the primary with sql_log_bin=0, or removed on the replica): janitor's %s would stop its applier there (error 1146); drop it by hand on the primary with SET sql_log_bin = 0", replica, name, stmts[0].what)
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// useSchema makes schema the default database of the dropping connection, for the
// statements that follow there: the replicas' database-level filters (replicate-do-db,
// replicate-ignore-db) judge a DDL statement by its default database, under every
// binlog format, and the tools send theirs with USE schema.
func (r *shardRun) useSchema(ctx context.Context, schema string) error {
	if _, err := r.conn.ExecContext(ctx, "USE /* janitor */ "+dbconn.QuoteIdent(schema)); err != nil {
		return fmt.Errorf("USE %s before its statements: %w", dbconn.QuoteIdent(schema), err)
	}
	return nil
}
