package discovery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
)

// resolve picks one reading when a name fits several tools' rules (Spirit's `_t_new`
// and `_t_old` are also pt-osc's: their specs' ConfusedWith). A reading whose base
// table exists, or whose tool's traces are on the server, beats one with neither; then
// a tool's own traces decide (its spec's triggers, checkpoint, locks, changelog), and
// traces of several tools leave it ambiguous; then Options.ToolsInUse, when exactly
// one of the tools is listed; otherwise the tool is ambiguous.
func (in *Inspector) resolve(ctx context.Context, t *Table, b *batch) {
	readings := t.Readings
	// A tool's fixed control table (a First rule: _spirit_x_gho is Spirit's) is that
	// tool's whatever another rule reads into the name: its reading has no base, so the
	// base rule below would set it aside for one whose base exists.
	for _, r := range readings {
		if r.Role == RoleControl {
			t.Reading, t.Tool, t.Role, t.Base = r, r.Tool, r.Role, r.Base
			return
		}
	}
	if len(readings) > 1 {
		var withBase []Match
		for _, r := range readings {
			if r.Base == "" {
				continue
			}
			ok, err := in.tableExists(ctx, b, t.Schema, r.Base)
			if err != nil {
				t.Evidence.unreadable("base table of the "+string(r.Tool)+" reading", err)
			}
			// A reading with its tool's traces stays though its base is missing: a tool
			// that cuts long names (gh-ost) leaves a base that never exists, and setting
			// its reading aside would leave its liveness evidence unread.
			if ok || in.tracedReading(ctx, t, r, b) {
				withBase = append(withBase, r)
			}
		}
		if len(withBase) > 0 {
			readings = withBase
		}
	}
	t.Reading = readings[0]
	t.Tool, t.Role, t.Base = t.Reading.Tool, t.Reading.Role, t.Reading.Base
	tools := map[Tool]bool{}
	for _, r := range readings {
		tools[r.Tool] = true
	}
	if len(tools) == 1 {
		return
	}
	// A tool's own traces (triggers, checkpoint, locks, changelog: its spec's) decide.
	// Traces of several tools leave it ambiguous: picking one would leave the other's
	// liveness evidence unread (gh-ost's heartbeat is read only for gh-ost's reading).
	var traced []Match
	for _, r := range readings {
		if !slices.ContainsFunc(traced, func(m Match) bool { return m.Tool == r.Tool }) && in.tracedReading(ctx, t, r, b) {
			traced = append(traced, r)
		}
	}
	switch {
	case len(traced) == 1:
		r := traced[0]
		t.Reading, t.Tool, t.Role, t.Base = r, r.Tool, r.Role, r.Base
		return
	case len(traced) > 1:
		for _, r := range traced {
			t.TracedTools = append(t.TracedTools, r.Tool)
		}
		t.Tool = ToolAmbiguous
		return
	}
	// No trace: the tools the fleet declares may settle it.
	var declared []Match
	for _, r := range readings {
		if slices.Contains(in.opts.ToolsInUse, r.Tool) {
			declared = append(declared, r)
		}
	}
	if len(declared) > 0 && !slices.ContainsFunc(declared, func(m Match) bool { return m.Tool != declared[0].Tool }) {
		r := declared[0]
		t.Reading, t.Tool, t.Role, t.Base = r, r.Tool, r.Role, r.Base
		t.ToolDeclared = true
		return
	}
	t.Tool = ToolAmbiguous
}

// tracedReading reports whether the traces of r's tool are on the server for r's base.
func (in *Inspector) tracedReading(ctx context.Context, t *Table, r Match, b *batch) bool {
	s := SpecOf(r.Tool)
	return s != nil && r.Base != "" && in.traced(ctx, t, s, r, b)
}

// traced reports whether the tool's traces of a migration of r's base are on the
// server: its triggers on the base, its checkpoint table, a named lock it holds, its
// changelog (which, for a changelog's own name, is the table itself).
func (in *Inspector) traced(ctx context.Context, t *Table, s *ToolSpec, r Match, b *batch) bool {
	base := r.Base
	if s.Triggers != nil && len(in.triggersNamed(ctx, t, base, s.Triggers(t.Schema, base))) > 0 {
		return true
	}
	var tables []string
	if s.Checkpoint != nil {
		tables = append(tables, s.Checkpoint(base))
	}
	if s.Changelog != nil {
		tables = append(tables, s.Changelog(&Table{Schema: t.Schema, Name: t.Name, Tool: r.Tool, Role: r.Role, Base: base}))
	}
	for _, name := range tables {
		ok, err := in.tableExists(ctx, b, t.Schema, name)
		if err != nil {
			// A lookup that failed is no proof of absence: the table is then skipped.
			t.Evidence.unreadable(s.Name+" trace "+name, err)
		}
		if ok {
			return true
		}
	}
	return s.Locks != nil && len(in.locksHeld(ctx, t, s.Locks(t.Schema, base), b)) > 0
}

// gather reads the evidence the policies weigh: the table's own facts, then each kind
// of EvidenceKinds in its order. Each read failure is recorded, never turned into a
// fact. b is InspectAll's batch, nil for a fresh look.
func (in *Inspector) gather(ctx context.Context, t *Table, b *batch) {
	ev := &t.Evidence
	ev.SeesAllSessions = in.server.SeesAllSessions
	ev.ServerUptime = in.server.Uptime
	if !t.Orphan {
		in.hiddenSchemas(t)
	}
	if t.Base != "" {
		ok, err := in.tableExists(ctx, b, t.Schema, t.Base)
		if err != nil {
			ev.unreadable("base table", err)
		}
		ev.BaseExists = ok
	}
	for _, k := range evidenceKinds {
		k.gatherInto(ctx, in, t, b)
	}
}

// EvidenceKind is one kind of evidence of life janitor reads of a candidate. The kinds
// form one table, EvidenceKinds: gather reads each in the table's order (which is also
// the order their unreadable entries are listed in), a replica is asked those with a
// Replica word before a DROP (References), and a dead table's reason names those with
// a Dead word (policies).
type EvidenceKind struct {
	// Name is the Evidence field the kind fills.
	Name string
	// Code is the policy code of the rule that keeps a table on this evidence; "" when
	// no rule weighs it alone.
	Code string
	// Replica is the word a replica's finding of this kind is listed under; "" when
	// replicas are not asked (the dropper reads their sessions and locks itself).
	Replica string
	// Dead is the word for this kind in a dead table's reason ("no trigger, … uses
	// it"); "" when the reason does not list it. DeadRank orders the words there: the
	// sentence lists them in its own order, older than this table.
	Dead     string
	DeadRank int
	// ByName: the kind is a reference to the table by its name, in another object's
	// definition or body. It is not read for a crashed ALTER's #sql table, which
	// nothing names.
	ByName bool
	// field is the list a listing kind fills with what read finds; nil for the others,
	// which gather themselves.
	field  func(*Evidence) *[]string
	read   func(in *Inspector, ctx context.Context, t *Table, b *batch) []string
	gather func(in *Inspector, ctx context.Context, t *Table, b *batch)
}

// Found is the list of what a listing kind found in ev; nil for a kind that lists
// nothing (a heartbeat, a hold).
func (k EvidenceKind) Found(ev *Evidence) *[]string {
	if k.field == nil {
		return nil
	}
	return k.field(ev)
}

func (k EvidenceKind) gatherInto(ctx context.Context, in *Inspector, t *Table, b *batch) {
	if k.ByName && t.Orphan {
		return
	}
	if k.read != nil {
		*k.field(&t.Evidence) = k.read(in, ctx, t, b)
		return
	}
	k.gather(in, ctx, t, b)
}

// EvidenceKinds returns the table of evidence kinds, in gather's order.
func EvidenceKinds() []EvidenceKind { return slices.Clone(evidenceKinds) }

// unbatched adapts a read that no batch answers: the whole-server objects it searches
// are read once per Inspector.
func unbatched(read func(*Inspector, context.Context, *Table) []string) func(*Inspector, context.Context, *Table, *batch) []string {
	return func(in *Inspector, ctx context.Context, t *Table, _ *batch) []string { return read(in, ctx, t) }
}

// evidenceKinds: see EvidenceKind. The order is gather's.
var evidenceKinds = []EvidenceKind{
	{Name: "ToolTriggers", Code: "live_migration",
		field: func(e *Evidence) *[]string { return &e.ToolTriggers }, read: (*Inspector).toolTriggers},
	{Name: "WritingTriggers", ByName: true, Code: "trigger_writes", Replica: "trigger", Dead: "trigger", DeadRank: 1,
		field: func(e *Evidence) *[]string { return &e.WritingTriggers }, read: unbatched((*Inspector).writingTriggers)},
	{Name: "Routines", ByName: true, Code: "routine_reference", Replica: "stored",
		field: func(e *Evidence) *[]string { return &e.Routines }, read: unbatched((*Inspector).routinesMentioning)},
	{Name: "Views", ByName: true, Code: "view_reference", Replica: "view", Dead: "view", DeadRank: 3,
		field: func(e *Evidence) *[]string { return &e.Views }, read: unbatched((*Inspector).views)},
	{Name: "ForeignKeys", Code: "foreign_key", Replica: "foreign key", Dead: "foreign key", DeadRank: 4,
		field: func(e *Evidence) *[]string { return &e.ForeignKeys }, read: (*Inspector).foreignKeys},
	// Its Dead word names the link tables too.
	{Name: "MergeTables", ByName: true, Code: "merge_reference", Replica: "MERGE table", Dead: "MERGE or connection table", DeadRank: 5,
		field: func(e *Evidence) *[]string { return &e.MergeTables }, read: unbatched((*Inspector).mergeReferences)},
	{Name: "LinkTables", ByName: true, Code: "link_reference", Replica: "linked table",
		field: func(e *Evidence) *[]string { return &e.LinkTables }, read: unbatched((*Inspector).linkReferences)},
	{Name: "Changelog", Code: "live_heartbeat", gather: (*Inspector).changelog},
	// No rule weighs a checkpoint alone: it tells tools apart (resolve).
	{Name: "CheckpointExists", gather: (*Inspector).checkpoints},
	{Name: "LocksHeld", Code: "lock_held", Dead: "lock", DeadRank: 7,
		field: func(e *Evidence) *[]string { return &e.LocksHeld }, read: (*Inspector).toolLocks},
	{Name: "Sessions", Code: "in_use", Dead: "session", DeadRank: 8,
		field: func(e *Evidence) *[]string { return &e.Sessions }, read: (*Inspector).sessions},
	{Name: "BinlogClients", Code: "binlog_client",
		field: func(e *Evidence) *[]string { return &e.BinlogClients }, read: unbatched((*Inspector).binlogEvidence)},
	{Name: "Hold", Code: "accessed_during_hold", gather: func(in *Inspector, ctx context.Context, t *Table, b *batch) {
		if t.Tool == ToolJanitor {
			in.gatherHold(ctx, t, b)
		}
	}},
	{Name: "DDLRunning", Code: "ddl_running", gather: func(in *Inspector, ctx context.Context, t *Table, _ *batch) {
		if t.Orphan {
			t.Evidence.DDLRunning = in.ddlRunning(ctx, t)
			t.Evidence.OrphansCleaned = in.server.CleansOrphans()
		}
	}},
	// Events and table grants (events.go) last, after the hold: a held table is also
	// looked for under its name before the hold (usageNames).
	{Name: "Events", ByName: true, Code: "event_reference", Replica: "event", Dead: "event", DeadRank: 2,
		field: func(e *Evidence) *[]string { return &e.Events }, read: unbatched((*Inspector).eventsNaming)},
	{Name: "TableGrants", ByName: true, Code: "table_grant", Replica: "table grant to", Dead: "table grant", DeadRank: 6,
		field: func(e *Evidence) *[]string { return &e.TableGrants }, read: unbatched((*Inspector).tableGrants)},
	// Reads by name (recentuse.go) last: statement digests and table read counters.
	{Name: "Reads", Code: "recent_read", gather: (*Inspector).recentReads},
}

// toolTriggers lists the triggers of t's tool on its base, or of every tool an
// ambiguous name fits.
func (in *Inspector) toolTriggers(ctx context.Context, t *Table, _ *batch) []string {
	var out []string
	for _, tr := range tracedTools(t) {
		if tr.spec.Triggers != nil {
			out = append(out, in.triggersNamed(ctx, t, tr.base, tr.spec.Triggers(t.Schema, tr.base))...)
		}
	}
	return out
}

// changelog reads the heartbeat of t's tool's changelog (gh-ost's).
func (in *Inspector) changelog(ctx context.Context, t *Table, b *batch) {
	if s := SpecOf(t.Tool); s != nil && s.Changelog != nil {
		in.heartbeat(ctx, t, s.Changelog(t), b)
	}
}

// checkpoints looks for the checkpoint table of t's tool (Spirit's), or of every tool an
// ambiguous name fits.
func (in *Inspector) checkpoints(ctx context.Context, t *Table, b *batch) {
	ev := &t.Evidence
	for _, tr := range tracedTools(t) {
		if tr.spec.Checkpoint != nil {
			cp := tr.spec.Checkpoint(tr.base)
			ok, err := in.tableExists(ctx, b, t.Schema, cp)
			if err != nil {
				ev.unreadable(string(tr.spec.Tool)+" checkpoint", err)
			}
			ev.CheckpointExists = ev.CheckpointExists || ok && t.Name != cp
		}
	}
}

// toolLocks lists the named locks t's tool holds while it migrates t's base (or those
// of every tool an ambiguous name fits).
func (in *Inspector) toolLocks(ctx context.Context, t *Table, b *batch) []string {
	var locks []string
	for _, tr := range tracedTools(t) {
		if tr.spec.Locks != nil {
			locks = append(locks, tr.spec.Locks(t.Schema, tr.base)...)
		}
	}
	return in.locksHeld(ctx, t, locks, b)
}

// binlogEvidence lists, for a tool that streams the binary log, its clients that may
// be the tool.
func (in *Inspector) binlogEvidence(ctx context.Context, t *Table) []string {
	if !StreamsBinlog(t) {
		return nil
	}
	clients, err := in.binlogClients(ctx, t.Schema)
	if err != nil {
		t.Evidence.unreadable("binary log clients", err)
	}
	return clients
}

// hiddenSchemas records, as unreadable evidence, the schemas a partial revoke hides
// from the account (Server.HiddenEvidence): what they hold cannot be searched.
func (in *Inspector) hiddenSchemas(t *Table) {
	if err := in.server.HiddenEvidence(); err != nil {
		t.Evidence.unreadable("schemas hidden from this account", err)
	}
}

type trigger struct {
	Schema, Name, Table, Body string
}

// allTriggers reads every trigger (storedObjectsWhere), once per Inspector. The server
// reads trigger files only and opens no table (26 ms and no opens at 10,000 tables), so
// a trigger on any table, in any schema, that writes into a leftover is found, not only
// those on its base table.
func (in *Inspector) allTriggers(ctx context.Context) ([]trigger, error) {
	return readStored(ctx, in, &in.triggers, in.server.SeesTriggers, storedKind[trigger]{
		hidden:  "the account lacks the TRIGGER privilege, so the server hides triggers (grant TRIGGER ON *.*)",
		what:    "triggers",
		view:    "TRIGGERS",
		columns: "TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_STATEMENT",
		scan: func(r *sqlx.Rows) (tr trigger, err error) {
			return tr, r.Scan(&tr.Schema, &tr.Name, &tr.Table, &tr.Body)
		},
	})
}

// triggersFor returns every trigger, or nil with the failure recorded as unreadable
// evidence of t.
func (in *Inspector) triggersFor(ctx context.Context, t *Table) []trigger {
	trs, err := in.allTriggers(ctx)
	if err != nil {
		t.Evidence.unreadable("triggers", err)
	}
	return trs
}

func (in *Inspector) triggersNamed(ctx context.Context, t *Table, on string, re *regexp.Regexp) []string {
	trs := in.triggersFor(ctx, t)
	var out []string
	for _, tr := range trs {
		if tr.Schema == t.Schema && tr.Table == on && re.MatchString(tr.Name) {
			out = append(out, tr.Name)
		}
	}
	return out
}

type routine struct {
	Schema, Name, Type string
	Body               sql.NullString
}

// allRoutines reads every stored procedure and function (storedObjectsWhere), once per
// Inspector: a trigger or an event may CALL one that writes into a leftover, which the
// trigger's own body does not show. A body the account may not read (NULL without
// global SELECT) makes the evidence unreadable rather than absent.
func (in *Inspector) allRoutines(ctx context.Context) ([]routine, error) {
	return readStored(ctx, in, &in.routines, in.server.SeesRoutines, storedKind[routine]{
		hidden:  "the account lacks SELECT ON *.*, so the server hides other definers' stored routines (grant SELECT ON *.*)",
		what:    "stored routines",
		view:    "ROUTINES",
		columns: "ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION",
		scan: func(r *sqlx.Rows) (rt routine, err error) {
			return rt, r.Scan(&rt.Schema, &rt.Name, &rt.Type, &rt.Body)
		},
		bodyHidden: func(rt routine) error {
			if rt.Body.Valid {
				return nil
			}
			return fmt.Errorf("the body of %s %s is hidden from this account (grant SELECT ON *.*)",
				strings.ToLower(rt.Type), dbconn.QualifiedName(rt.Schema, rt.Name))
		},
	})
}

// routinesMentioning finds stored routines whose body names this table.
func (in *Inspector) routinesMentioning(ctx context.Context, t *Table) []string {
	rts, err := in.allRoutines(ctx)
	if err != nil {
		t.Evidence.unreadable("stored routines", err)
		return nil
	}
	var out []string
	for _, rt := range rts {
		if bodiesHide(in.server.Flavor, t, rt.Schema, rt.Body.String) {
			t.Evidence.unreadable("stored routines", errMangled)
			return nil
		}
		if bodyNames(rt.Schema, rt.Body.String, t.Schema, t.Name) {
			out = append(out, fmt.Sprintf("%s %s", strings.ToLower(rt.Type), dbconn.QualifiedName(rt.Schema, rt.Name)))
		}
	}
	return out
}

// writingTriggers finds triggers, on any table, whose body names this table, and
// triggers on this table itself: dropping a table a trigger writes into breaks every
// write to the trigger's table.
func (in *Inspector) writingTriggers(ctx context.Context, t *Table) []string {
	trs := in.triggersFor(ctx, t)
	var out []string
	for _, tr := range trs {
		if bodiesHide(in.server.Flavor, t, tr.Schema, tr.Body) {
			t.Evidence.unreadable("triggers", errMangled)
			return nil
		}
		switch {
		case tr.Schema == t.Schema && tr.Table == t.Name:
			out = append(out, fmt.Sprintf("%s (on this table)", tr.Name))
		case bodyNames(tr.Schema, tr.Body, t.Schema, t.Name):
			out = append(out, fmt.Sprintf("%s (on %s)", tr.Name, tr.Table))
		}
	}
	return out
}

// errMangled explains why a body search cannot clear a name holding a backtick on MySQL.
var errMangled = errors.New("MySQL prints stored trigger and routine bodies with a backtick-holding name mangled (9.7.4 shows `_we``ird_old` as `__we`ird_oldd`), so no text search can prove the body does not name this table")

// bodiesHide reports whether a stored body in bodySchema could name t (by t.Name, or by
// names, when given) without janitor being able to see it: on MySQL 8 and later, when
// the table's name holds a backtick, or its schema's does, the body lives in another
// schema (same-schema bodies are searched for the table's name alone) and holds the
// table's name: only the schema part of such a reference is mangled, so a body without
// the table's name cannot name it. MariaDB keeps bodies as written.
func bodiesHide(f Flavor, t *Table, bodySchema, body string, names ...string) bool {
	if f != FlavorMySQL8 {
		return false
	}
	if len(names) == 0 {
		names = []string{t.Name}
	}
	for _, n := range names {
		if strings.Contains(n, "`") {
			return true
		}
	}
	if bodySchema == t.Schema || !strings.Contains(t.Schema, "`") {
		return false
	}
	for _, n := range names {
		if mayName(body, n) {
			return true
		}
	}
	return false
}

// mayName is the cheap test that runs first: text that does not contain the table's
// name, bare or quoted, cannot name it, and most bodies do not (compiling the exact
// patterns for every trigger and candidate made a report ten times slower).
func mayName(body, table string) bool {
	b, t := strings.ToLower(body), strings.ToLower(table)
	return strings.Contains(b, t) || strings.Contains(b, strings.ToLower(dbconn.QuoteIdent(table))) ||
		strings.Contains(b, strings.ToLower(quoteDouble(table)))
}

// quoteDouble quotes a name as ANSI_QUOTES does, for any name: in double quotes, a
// double quote doubled (a backtick is then an ordinary character).
func quoteDouble(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

// Mentions reports whether SQL text (a statement, a routine or trigger body) may name
// schema.table: the table's name quoted anywhere, bare where it is a plain word, or
// qualified with its schema. It errs towards yes, as a check before a DROP must: a
// false match keeps a table a run longer. The dropper uses it on replicas' running
// statements.
func Mentions(text, schema, table string) bool {
	return mentions(text, schema, table) || mentionsQualified(text, schema, table)
}

// bodyNames reports whether a stored body (trigger, routine, event) kept in bodySchema
// names schema.table: in its own schema by the table's name alone, since the body runs
// with its schema as the default database; from any schema, qualified.
func bodyNames(bodySchema, body, schema, table string) bool {
	return bodySchema == schema && mentions(body, schema, table) || mentionsQualified(body, schema, table)
}

// mentions reports whether SQL text names schema.table, quoted or bare.
func mentions(body, schema, table string) bool {
	b := strings.ToLower(body)
	// Quoted, in backticks or (ANSI_QUOTES) double quotes: any name, anywhere.
	if strings.Contains(b, strings.ToLower(dbconn.QuoteIdent(table))) || strings.Contains(b, strings.ToLower(quoteDouble(table))) {
		return true
	}
	if !strings.Contains(b, strings.ToLower(table)) {
		return false // the cheap test of mayName: most bodies stop here
	}
	// Bare identifiers: only where the name is a plain word.
	if plainWord.MatchString(table) {
		re := regexp.MustCompile(`(?i)(?:^|[^` + identChars + `])"?` + regexp.QuoteMeta(table) + `"?(?:$|[^` + identChars + `])`)
		return re.MatchString(body)
	}
	return false
}

// mentionsQualified reports whether SQL text names schema.table, each part quoted
// (backticks, or double quotes under ANSI_QUOTES, whatever the name) or bare (bare only
// where the part is a plain word), with spaces or comments around the dot: the dot is a token of its own,
// and a comment of any kind may stand on either side (-- and # run to the end of the
// line).
func mentionsQualified(body, schema, table string) bool {
	if !mayName(body, table) {
		return false
	}
	const edge = "(?:^|[^" + identChars + "`\"])"
	const tail = "(?:$|[^" + identChars + "`\"])"
	const gap = `(?:\s|/\*.*?\*/|(?:--|#)[^\n]*(?:\n|$))*`
	const dot = gap + `\.` + gap
	forms := func(name string) []string {
		out := []string{regexp.QuoteMeta(dbconn.QuoteIdent(name)), regexp.QuoteMeta(quoteDouble(name))}
		if plainWord.MatchString(name) {
			out = append(out, edge+regexp.QuoteMeta(name))
		}
		return out
	}
	var alts []string
	for _, left := range forms(schema) {
		for _, right := range forms(table) {
			if strings.HasPrefix(right, edge) {
				right = strings.TrimPrefix(right, edge) + tail
			}
			alts = append(alts, left+dot+right)
		}
	}
	return regexp.MustCompile(`(?is)(?:` + strings.Join(alts, "|") + `)`).MatchString(body)
}

// identChars are the characters of an unquoted identifier, as a character-class body:
// MySQL and MariaDB take any character from U+0080 up, besides ASCII letters, digits, _
// and $.
const identChars = `0-9A-Za-z_$\x{80}-\x{10FFFF}`

var plainWord = regexp.MustCompile(`^[` + identChars + `]+$`)

// views finds views that mention the table. Views store their definition with every
// name qualified and quoted, so the search is for `schema`.`table`.
//
// information_schema.VIEWS, scanned, opens the definition of every table in every schema
// on MariaDB (O(tables), the incident's failure mode). Instead, views are listed per
// schema with SHOW FULL TABLES, which reads only each file's type, and each view's
// definition is then read by name, which opens nothing. On MySQL 8 and later VIEWS is a
// view of the data dictionary, read whole in one query. This runs once per Inspector: once per shard
// for a report, and once per DROP for the re-check, which uses a fresh Inspector.
func (in *Inspector) views(ctx context.Context, t *Table) []string {
	if in.viewDefs == nil {
		defs, err := in.readViews(ctx)
		if err != nil {
			t.Evidence.unreadable("views", err)
			return nil
		}
		in.viewDefs = defs
	}
	needle := strings.ToLower(dbconn.QualifiedName(t.Schema, t.Name))
	var out []string
	for _, v := range in.viewDefs {
		if v.def == "" {
			// The server hides the definition from an account without SHOW VIEW: a
			// view janitor cannot read may reference anything.
			t.Evidence.unreadable("views", fmt.Errorf("definition of %s is hidden (grant SHOW VIEW)", v.name))
			return nil
		}
		if strings.Contains(v.def, needle) {
			out = append(out, v.name)
		}
	}
	return out
}

type viewDef struct{ name, def string }

func (in *Inspector) readViews(ctx context.Context) ([]viewDef, error) {
	if in.server.Flavor == FlavorMySQL8 {
		// A view of the data dictionary there: read whole, it opens no table (one
		// query, 0.012 s at 10,100 tables, against a listing per schema).
		type row struct{ schema, name, def string }
		rows, err := queryAll(ctx, in, "SELECT /* janitor */ TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS WHERE TABLE_SCHEMA NOT IN ("+
			placeholders(len(systemSchemas))+")", anySlice(systemSchemas), func(r *sqlx.Rows) (v row, err error) {
			var d sql.NullString
			err = r.Scan(&v.schema, &v.name, &d)
			v.def = d.String
			return v, err
		})
		if err != nil {
			return nil, fmt.Errorf("read views: %w", err)
		}
		defs := []viewDef{}
		for _, r := range rows {
			defs = append(defs, viewDef{name: r.schema + "." + r.name, def: strings.ToLower(r.def)})
		}
		return defs, nil
	}
	schemas, err := in.userSchemas(ctx)
	if err != nil {
		return nil, err
	}
	defs := []viewDef{}
	for _, schema := range schemas {
		names, err := in.viewNames(ctx, schema)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			qctx, cancel := in.ctx(ctx)
			var d sql.NullString
			err := in.q.QueryRowxContext(qctx, `SELECT /* janitor */ VIEW_DEFINITION FROM information_schema.VIEWS
				WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, schema, n).Scan(&d)
			cancel()
			if errors.Is(err, sql.ErrNoRows) {
				continue // dropped meanwhile
			}
			if err != nil {
				return nil, fmt.Errorf("read view %s: %w", dbconn.QualifiedName(schema, n), err)
			}
			defs = append(defs, viewDef{name: schema + "." + n, def: strings.ToLower(d.String)})
		}
	}
	return defs, nil
}

// userSchemas lists every schema but the system ones; views anywhere can reference a
// leftover.
func (in *Inspector) userSchemas(ctx context.Context) ([]string, error) {
	out, err := queryAll(ctx, in, "SELECT /* janitor */ SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ("+
		placeholders(len(systemSchemas))+")", anySlice(systemSchemas), scanString)
	if err != nil {
		return nil, fmt.Errorf("list schemas: %w", err)
	}
	return out, nil
}

func (in *Inspector) viewNames(ctx context.Context, schema string) ([]string, error) {
	out, err := queryAll(ctx, in, "SHOW /* janitor */ FULL TABLES FROM "+dbconn.QuoteIdent(schema)+" WHERE Table_type = 'VIEW'", nil,
		func(r *sqlx.Rows) (name string, err error) {
			var typ string
			return name, r.Scan(&name, &typ)
		})
	if err != nil {
		return nil, fmt.Errorf("list views in %s: %w", dbconn.QuoteIdent(schema), err)
	}
	return out, nil
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// foreignKeys reads the InnoDB dictionary, which answers from memory and opens no table.
// A name janitor cannot spell as the view does makes the evidence unreadable: a lookup
// by a wrong spelling finds no key and would read as "not referenced".
func (in *Inspector) foreignKeys(ctx context.Context, t *Table, b *batch) []string {
	d := in.server.Flavor.dialect()
	name, cut, width, err := in.refName(ctx, t)
	if err != nil {
		t.Evidence.unreadable("foreign keys", err)
		return nil
	}
	// The view's collation folds case, so keys referencing a table whose name differs
	// only in case are found too: they keep this one, for the same reason.
	keys, ok := b.foreignKeysOf(t)
	if !ok {
		keys, err = queryAll(ctx, in, "SELECT /* janitor */ ID, FOR_NAME, REF_NAME FROM "+d.foreign+" WHERE REF_NAME = ?", []any{name},
			func(r *sqlx.Rows) (k fkRow, err error) { return k, r.Scan(&k.id, &k.from, &k.to) })
		if err != nil {
			t.Evidence.unreadable("foreign keys", err)
			return nil
		}
	}
	var out []string
	for _, k := range keys {
		// A key of the table on itself goes with it. Compared exactly, not with the
		// SQL <>, which folds case: _cafÉ_old referencing _café_old is another table.
		// A cut name cannot tell itself from another: the key is counted.
		if k.from == k.to && !cut {
			continue
		}
		ref := fmt.Sprintf("%s from %s", decodeDict(d.foreignEncoded, k.id), decodeDict(d.foreignEncoded, k.from))
		if cut {
			ref += fmt.Sprintf(" (the dictionary cuts names to %d characters: it may reference another table with the same start)", width)
		}
		out = append(out, ref)
	}
	return out
}

type fkRow struct{ id, from, to string }

// refName is the name a table's foreign keys reference it by in the view: cut to the
// view's column width (193 characters on MariaDB 10.11), as a long encoded name is
// stored. Another table sharing the first characters then keeps this one too, which
// errs on the safe side.
func (in *Inspector) refName(ctx context.Context, t *Table) (name string, cut bool, width int, err error) {
	name, err = in.foreignName(t.Schema, t.Name, t.Orphan)
	if err != nil {
		return "", false, 0, err
	}
	width, err = in.refNameWidth(ctx)
	if err != nil {
		return "", false, 0, err
	}
	runes := []rune(name)
	cut = len(runes) > width
	if cut {
		name = string(runes[:width])
	}
	return name, cut, width, nil
}

// matchColumn is a column whose every row lists, comma-separated, the indexes of the
// conditions it meets, each compared by the server as the one-candidate query compares
// it (same column, same collation): a batch finds exactly what the single lookups would.
func matchColumn(conds []string) string {
	var ifs []string
	for i, c := range conds {
		ifs = append(ifs, fmt.Sprintf("IF(%s, %d, NULL)", c, i))
	}
	return "CONCAT_WS(',', " + strings.Join(ifs, ", ") + ")"
}

// matched parses a matchColumn value.
func matched(list sql.NullString, n int) []int {
	var out []int
	for _, f := range strings.Split(list.String, ",") {
		if i, err := strconv.Atoi(f); err == nil && i >= 0 && i < n {
			out = append(out, i)
		}
	}
	return out
}

// evidenceBatch bounds the candidates of one prefetchEvidence query.
const evidenceBatch = 100

// prefetchEvidence reads, on MySQL 8 and later, the foreign keys referencing and the
// sessions naming an inventory's candidates with one query per 100 candidates each,
// instead of one per candidate (measured on 9.7.4: 100 lookups of each took 0.04-0.09 s
// of server time, plus a round trip apiece). Each row says which candidates it belongs
// to by the same comparison the single lookup makes (matchColumn). A batch that fails is
// left to the single lookups.
func (in *Inspector) prefetchEvidence(ctx context.Context, b *batch, tables []*Table) {
	if in.server.Flavor != FlavorMySQL8 {
		return
	}
	d := in.server.Flavor.dialect()
	b.fkPre, b.sessPre = map[*Table][]fkRow{}, map[*Table][]string{}
	for start := 0; start < len(tables); start += evidenceBatch {
		cands := tables[start:min(start+evidenceBatch, len(tables))]
		var named []*Table
		var conds []string
		var args []any
		for _, t := range cands {
			name, _, _, err := in.refName(ctx, t)
			if err != nil {
				continue // foreignKeys reports it
			}
			named = append(named, t)
			conds = append(conds, "REF_NAME = ?")
			args = append(args, name)
		}
		if len(named) > 0 {
			type row struct {
				fkRow
				m sql.NullString
			}
			rows, err := queryAll(ctx, in, "SELECT /* janitor */ ID, FOR_NAME, REF_NAME, "+matchColumn(conds)+" FROM "+d.foreign+
				" WHERE REF_NAME IN ("+placeholders(len(args))+")", append(append([]any{}, args...), args...),
				func(r *sqlx.Rows) (v row, err error) { return v, r.Scan(&v.id, &v.from, &v.to, &v.m) })
			if err == nil {
				for _, t := range named {
					b.fkPre[t] = nil
				}
				for _, r := range rows {
					for _, i := range matched(r.m, len(named)) {
						b.fkPre[named[i]] = append(b.fkPre[named[i]], r.fkRow)
					}
				}
			}
		}
		conds, args = nil, nil
		for _, t := range cands {
			conds = append(conds, "INFO LIKE ? OR INFO LIKE ?")
			args = append(args, "%"+escapeLike(t.Name)+"%", "%"+escapeLike(dbconn.QuoteIdent(t.Name))+"%")
		}
		type row struct {
			session string
			m       sql.NullString
		}
		rows, err := queryAll(ctx, in, `SELECT /* janitor */ ID, USER, COMMAND, TIME, `+matchColumn(conds)+
			` FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO IS NOT NULL AND NOT `+ownRead, args,
			func(r *sqlx.Rows) (v row, err error) {
				var s session
				err = r.Scan(&s.id, &s.user, &s.cmd, &s.secs, &v.m)
				v.session = s.String()
				return v, err
			})
		if err != nil {
			continue
		}
		for _, t := range cands {
			b.sessPre[t] = nil
		}
		for _, r := range rows {
			for _, i := range matched(r.m, len(cands)) {
				b.sessPre[cands[i]] = append(b.sessPre[cands[i]], r.session)
			}
		}
	}
}

// refWidths caches REF_NAME's width per server and version, for the process's life:
// the width is the server binary's definition of the view, the same until an upgrade
// (a new version). Every re-check before a DROP or hold statement makes Inspectors of
// its own, two of which read it (the foreign-key checks have theirs): 2 reads of
// information_schema.COLUMNS per table on the drops benchmark (docs/benchmarks.md).
var refWidths sync.Map

// refNameWidth reads, once per server and version, how many characters the
// foreign-key view's REF_NAME holds.
func (in *Inspector) refNameWidth(ctx context.Context) (int, error) {
	if in.refWidth > 0 {
		return in.refWidth, nil
	}
	key := ""
	if s := in.server; s.Hostname != "" && s.Version != "" {
		key = s.Identity() + "/" + s.Version
		if w, ok := refWidths.Load(key); ok {
			in.refWidth = w.(int)
			return in.refWidth, nil
		}
	}
	view := strings.TrimPrefix(in.server.Flavor.dialect().foreign, "information_schema.")
	ws, err := queryAll(ctx, in, `SELECT /* janitor */ CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = ? AND COLUMN_NAME = 'REF_NAME'`, []any{view},
		func(r *sqlx.Rows) (w sql.NullInt64, err error) { return w, r.Scan(&w) })
	if err != nil {
		return 0, fmt.Errorf("read the width of %s.REF_NAME: %w", view, err)
	}
	if len(ws) != 1 || !ws[0].Valid || ws[0].Int64 <= 0 {
		return 0, fmt.Errorf("read the width of %s.REF_NAME: not found", view)
	}
	in.refWidth = int(ws[0].Int64)
	if key != "" {
		refWidths.Store(key, in.refWidth)
	}
	return in.refWidth, nil
}

// decodeDict renders a dictionary name as schema.table for people; a name that does not
// decode is shown as the view has it.
func decodeDict(encoded bool, s string) string {
	db, rest, ok := strings.Cut(s, "/")
	if !ok {
		return s
	}
	if !encoded {
		return db + "." + rest
	}
	schema, ok1 := DecodeFilename(db)
	table, ok2 := DecodeFilename(rest)
	if !ok1 || !ok2 {
		return s
	}
	return schema + "." + table
}

// heartbeat reads gh-ost's changelog: a live gh-ost refreshes hint='heartbeat' every
// 100 ms. The age is computed by the server against its own clock.
func (in *Inspector) heartbeat(ctx context.Context, t *Table, cl string, b *batch) {
	ev := &t.Evidence
	ok, err := in.tableExists(ctx, b, t.Schema, cl)
	if err != nil {
		ev.unreadable("gh-ost changelog", err)
		return
	}
	if !ok {
		return
	}
	ev.Changelog = cl
	qctx, cancel := in.ctx(ctx)
	defer cancel()
	var secs sql.NullFloat64
	err = in.q.QueryRowxContext(qctx, "SELECT /* janitor */ TIMESTAMPDIFF(MICROSECOND, MAX(last_update), NOW(6)) / 1e6 FROM "+
		dbconn.QualifiedName(t.Schema, cl)+" WHERE hint = 'heartbeat'").Scan(&secs)
	if err != nil {
		ev.unreadable("gh-ost heartbeat", err)
		return
	}
	if secs.Valid {
		d := time.Duration(secs.Float64 * float64(time.Second))
		ev.HeartbeatAge = &d
	}
	in.changelogWritten(ctx, t, cl)
}

// changelogWritten reads the changelog's newest row of any hint. gh-ost stops its
// heartbeat while its operator throttles it (the interactive `throttle` command: v1.1.8's
// InitiateHeartbeat skips user-commanded throttling) but goes on writing its status
// rows ("copy iteration N at T", every 1 to 30 s) and state rows, so a paused migration
// is as alive as its last write of any kind, not only of its heartbeat.
func (in *Inspector) changelogWritten(ctx context.Context, t *Table, cl string) {
	ev := &t.Evidence
	qctx, cancel := in.ctx(ctx)
	defer cancel()
	var hint sql.NullString
	var secs sql.NullFloat64
	err := in.q.QueryRowxContext(qctx, "SELECT /* janitor */ hint, TIMESTAMPDIFF(MICROSECOND, last_update, NOW(6)) / 1e6 FROM "+
		dbconn.QualifiedName(t.Schema, cl)+" ORDER BY last_update DESC LIMIT 1").Scan(&hint, &secs)
	if errors.Is(err, sql.ErrNoRows) {
		return
	}
	if err != nil {
		ev.unreadable("gh-ost changelog's last write", err)
		return
	}
	if secs.Valid {
		d := time.Duration(secs.Float64 * float64(time.Second))
		ev.ChangelogWritten, ev.ChangelogHint = &d, hint.String
	}
}

// gh-ost's cut-over lock is named after its own session (gh-ost.<connection id>.lock),
// which ties it to no table: gh-ost's liveness comes from its heartbeat and the
// processlist, and its spec lists no locks.

// errBadLockName is MySQL's ER_USER_LOCK_WRONG_NAME (3057): "Incorrect user-level lock
// name … can not be expressed in the current character-set".
const errBadLockName = 3057

func (in *Inspector) locksHeld(ctx context.Context, t *Table, names []string, b *batch) []string {
	var out []string
	for _, n := range names {
		holder, ok := b.lockHolder(n)
		var err error
		if !ok {
			qctx, cancel := in.ctx(ctx)
			err = in.q.QueryRowxContext(qctx, "SELECT /* janitor */ IS_USED_LOCK(?)", n).Scan(&holder)
			cancel()
		}
		if dbconn.IsError(err, errBadLockName) {
			// MySQL refuses a name it cannot express in its character set (Spirit's
			// names cut a multibyte character in two) to every session alike: no one,
			// the tool included, can hold a lock of that name.
			continue
		}
		if err != nil {
			t.Evidence.unreadable("named lock "+n, err)
			continue
		}
		if holder.Valid {
			out = append(out, fmt.Sprintf("%s (connection %d)", n, holder.Int64))
		}
	}
	return out
}

// sessions lists other sessions whose statement names this table: bare, or quoted — a
// name with a backtick appears in a statement only quoted, with the backtick doubled.
func (in *Inspector) sessions(ctx context.Context, t *Table, b *batch) []string {
	if pre, ok := b.sessionsOf(t); ok {
		return pre
	}
	out, err := queryAll(ctx, in, `SELECT /* janitor */ ID, USER, COMMAND, TIME FROM information_schema.PROCESSLIST
		WHERE ID <> CONNECTION_ID() AND (INFO LIKE ? OR INFO LIKE ?) AND NOT `+ownRead,
		[]any{"%" + escapeLike(t.Name) + "%", "%" + escapeLike(dbconn.QuoteIdent(t.Name)) + "%"},
		func(r *sqlx.Rows) (string, error) {
			var s session
			err := r.Scan(&s.id, &s.user, &s.cmd, &s.secs)
			return s.String(), err
		})
	if err != nil {
		t.Evidence.unreadable("processlist", err)
	}
	return out
}

// prefetchLocks asks, on MySQL 8 and later, who holds every named lock the tool specs
// of an inventory's candidates name (each reading's, a superset of what traced and
// toolLocks ask) in one statement of up to lockBatch IS_USED_LOCK calls, instead of
// one statement per lock: 80 round trips at 100 candidates on the incident fleet
// (docs/benchmarks.md). A batch that fails (one name MySQL cannot express, 3057, fails
// the whole statement) is left to locksHeld's single lookups.
func (in *Inspector) prefetchLocks(ctx context.Context, b *batch, tables []*Table) {
	if in.server.Flavor != FlavorMySQL8 {
		return
	}
	var names []string
	seen := map[string]bool{}
	for _, t := range tables {
		for _, r := range t.Readings {
			s := SpecOf(r.Tool)
			if s == nil || s.Locks == nil || r.Base == "" {
				continue
			}
			for _, n := range s.Locks(t.Schema, r.Base) {
				if !seen[n] {
					seen[n] = true
					names = append(names, n)
				}
			}
		}
	}
	b.locks = map[string]sql.NullInt64{}
	for start := 0; start < len(names); start += lockBatch {
		chunk := names[start:min(start+lockBatch, len(names))]
		args := make([]any, len(chunk))
		holders := make([]sql.NullInt64, len(chunk))
		dest := make([]any, len(chunk))
		for i, n := range chunk {
			args[i], dest[i] = n, &holders[i]
		}
		qctx, cancel := in.ctx(ctx)
		err := in.q.QueryRowxContext(qctx, "SELECT /* janitor */ "+
			strings.TrimSuffix(strings.Repeat("IS_USED_LOCK(?), ", len(chunk)), ", "), args...).Scan(dest...)
		cancel()
		if err != nil {
			continue
		}
		for i, n := range chunk {
			b.locks[n] = holders[i]
		}
	}
}

// lockBatch bounds the IS_USED_LOCK calls of one prefetchLocks statement.
const lockBatch = 200

// session is a processlist row that names a candidate.
type session struct {
	id        int64
	user, cmd string
	secs      sql.NullInt64
}

func (s session) String() string {
	return fmt.Sprintf("connection %d (%s, %s for %ds)", s.id, s.user, s.cmd, s.secs.Int64)
}

// ddlStatement finds, anywhere in a running statement, a word of a statement that can
// own a #sql table. Anywhere, not at the start: SET STATEMENT … FOR ALTER, a leading
// comment of any length or kind, or a parenthesis would hide it there. Matching too
// much only keeps an orphan a run longer.
var ddlStatement = regexp.MustCompile(`(?is)\b(ALTER|OPTIMIZE|CREATE\s+(UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?INDEX|DROP\s+INDEX|REPAIR|TRUNCATE|ANALYZE)\b`)

// ddlStates are processlist states of a statement copying or rebuilding a table.
var ddlStates = regexp.MustCompile(`(?i)copy to tmp table|alter|rebuild|creating index|committing alter|manage keys|repair`)

// ddlRunning lists running statements that could own a #sql table: by their text,
// read whole, or by their state.
func (in *Inspector) ddlRunning(ctx context.Context, t *Table) []string {
	type proc struct {
		id          int64
		info, state string
	}
	running, err := queryAll(ctx, in, `SELECT /* janitor */ ID, INFO, COALESCE(STATE, '') FROM information_schema.PROCESSLIST
		WHERE ID <> CONNECTION_ID() AND INFO IS NOT NULL`, nil,
		func(r *sqlx.Rows) (p proc, err error) { return p, r.Scan(&p.id, &p.info, &p.state) })
	if err != nil {
		t.Evidence.unreadable("processlist", err)
		return nil
	}
	var out []string
	for _, p := range running {
		if ddlStatement.MatchString(p.info) || ddlStates.MatchString(p.state) {
			info := p.info
			if len(info) > 200 {
				info = info[:200] + "…"
			}
			out = append(out, fmt.Sprintf("connection %d (%s): %s", p.id, p.state, info))
		}
	}
	return out
}
