// Package discovery finds the tables that online schema-change tools leave behind and
// gathers, one table at a time, the facts a policy needs to call one dead.
//
// It never runs a query that opens or sizes every table: names come from
// information_schema.TABLES restricted to name columns (the server answers from the
// directory listing), and everything else is looked up by schema and name for the few
// tables whose names match a rule. See the cost table in docs/discovery.md.
package discovery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
)

// Querier is what discovery needs from a connection: a pool or a single *sqlx.Conn, so
// that the dropper can re-inspect on the very connection that will drop.
type Querier interface {
	sqlx.QueryerContext
}

var (
	_ Querier = (*sqlx.DB)(nil)
	_ Querier = (*sqlx.Conn)(nil)
)

// systemSchemas are never looked at.
var systemSchemas = []string{"mysql", "information_schema", "performance_schema", "sys"}

// storedObjectsWhere filters the triggers, routines or events whose bodies may name a
// leftover, col being the view's schema column: those of every schema but the two that
// can hold none. The server lets a DBA create them in mysql and sys too (a housekeeping
// event in mysql is common), so those count, but for the server's own, defined by its
// locked system account, which name no user table.
func storedObjectsWhere(col string) (string, []any) {
	return col + ` NOT IN ('information_schema', 'performance_schema') AND NOT (` + col +
		` IN ('mysql', 'sys') AND DEFINER IN ('mysql.sys@localhost', 'mariadb.sys@localhost'))`, nil
}

// Options narrow discovery.
type Options struct {
	Schemas        []string
	ExcludeSchemas []string
	// ToolsInUse are the tools that run migrations on the fleet. When a name fits
	// several tools and no trace tells which left it, the one reading whose tool is
	// listed here (and no other's) is taken. Empty: such a name stays ambiguous.
	ToolsInUse []Tool
	// QueryTimeout bounds each query.
	QueryTimeout time.Duration
}

// Name is a candidate found by name alone.
type Name struct {
	Schema string
	Table  string
	// Orphan names come from the InnoDB dictionary, not from TABLES; Table is then the
	// raw file name.
	Orphan bool
}

// Inspector looks at one server. It caches what it reads of the whole server (views,
// triggers, routines, events, grants, MERGE and link tables) for its life, which the
// dropper keeps to one re-check. It holds nothing of one inventory: what InspectAll reads
// once for all its candidates lives in a batch (below), which Inspect never has.
type Inspector struct {
	q      Querier
	server Server
	opts   Options
	log    *slog.Logger
	// viewDefs caches every view's definition for this Inspector's life.
	viewDefs []viewDef
	// triggers caches every trigger for this Inspector's life.
	triggers memo[trigger]
	// routines caches every stored procedure and function for this Inspector's life,
	// or that some could not be read.
	routines memo[routine]
	// usage caches scheduled events and table grants for this Inspector's life.
	usage usageCache
	// uses caches the statement statistics (reads by name) for this Inspector's life.
	uses useCache
	// refs caches MERGE and connection-engine tables for this Inspector's life.
	refs refCache
	// refWidth is how many characters the foreign-key view's REF_NAME holds.
	refWidth int
	// binlog caches the binary log clients that may be a tool, for this Inspector's life.
	binlog binlogCache
	// counterSetup caches performance_schema's server-wide settings of the per-table
	// counters (ReadTableCounters), for this Inspector's life.
	counterSetup counterSetup
	// readings caches Classify by table name for this Inspector's life: ListNames,
	// InspectAll's name lookups and each candidate's open all classify the same names,
	// and the rules' regular expressions cost 15-20 µs a name (a twentieth of a report's
	// CPU at 100 candidates, on the path between the server's reads).
	readings map[string][]Match
}

// classify is Classify, once per name for this Inspector (readings); the caller gets its
// own copy.
func (in *Inspector) classify(name string) []Match {
	r, ok := in.readings[name]
	if !ok {
		if in.readings == nil {
			in.readings = map[string][]Match{}
		}
		r = Classify(name)
		in.readings[name] = r
	}
	return slices.Clone(r)
}

// batch is what InspectAll reads once for a shard's inventory and answers its
// candidates' lookups from. It lives only inside InspectAll, which passes it down every
// per-candidate read; Inspect, the pre-DROP re-check, has none and passes nil, so each
// of its reads goes to the server: the type, not a comment, keeps the re-check fresh.
// A nil *batch answers nothing.
type batch struct {
	// now is the server's clock, read for the first candidate.
	now time.Time
	// names caches each schema's table names, listed on first use (tableExists); on
	// MySQL only those of asked, read with the candidates' metadata (askNames, prefetchMeta).
	names map[string]map[string]bool
	asked map[string]map[string]bool
	// meta holds, on MySQL, the candidates' metadata by schema and table (prefetchMeta).
	meta map[string]map[string]metaRow
	// sizes holds the candidates' tablespace sizes, by tablespace name (prefetchSizes).
	sizes map[string]tablespaceSize
	// fkPre and sessPre hold, on MySQL, the foreign keys referencing each candidate and
	// the sessions naming it (prefetchEvidence).
	fkPre   map[*Table][]fkRow
	sessPre map[*Table][]string
	// locks holds, on MySQL, who holds each named lock the candidates' tool specs
	// name (prefetchLocks).
	locks map[string]sql.NullInt64
	// useWant are the names whose reads by name the inventory looks up: every
	// candidate and every held table's original name (recentuse.go reads only theirs).
	useWant []useKey
	// aside: the inventory reads its sources of reads by name on a second connection
	// (readsAside): begun with the inventory (startUses); used closes when that read
	// ends.
	aside bool
	used  chan struct{}
}

// A candidate missing from a batch's maps is looked up alone, as Inspect looks it up.

func (b *batch) metaOf(schema, table string) (metaRow, bool) {
	if b == nil {
		return metaRow{}, false
	}
	m, ok := b.meta[schema][table]
	return m, ok
}

func (b *batch) sizeOf(space string) (tablespaceSize, bool) {
	return lookup(b, func(b *batch) map[string]tablespaceSize { return b.sizes }, space)
}

func (b *batch) foreignKeysOf(t *Table) ([]fkRow, bool) {
	return lookup(b, func(b *batch) map[*Table][]fkRow { return b.fkPre }, t)
}

func (b *batch) lockHolder(name string) (sql.NullInt64, bool) {
	return lookup(b, func(b *batch) map[string]sql.NullInt64 { return b.locks }, name)
}

func (b *batch) sessionsOf(t *Table) ([]string, bool) {
	return lookup(b, func(b *batch) map[*Table][]string { return b.sessPre }, t)
}

// lookup reads key in the batch map m picks; a nil batch (the re-check's) answers
// nothing.
func lookup[K comparable, V any](b *batch, m func(*batch) map[K]V, key K) (V, bool) {
	if b == nil {
		var zero V
		return zero, false
	}
	v, ok := m(b)[key]
	return v, ok
}

// spaceSum adds up tablespace files.
type spaceSum struct {
	files       int
	size, alloc int64
	// inexact counts files whose size the server did not give (MySQL: see
	// scanFiles); size then holds a lower bound for them.
	inexact int
}

func (s *spaceSum) add(o spaceSum) {
	s.files += o.files
	s.size += o.size
	s.alloc += o.alloc
	s.inexact += o.inexact
}

// bytes prefers the allocated size (what the file takes on disk) to the file size.
func (s spaceSum) bytes() int64 {
	if s.alloc > 0 {
		return s.alloc
	}
	return s.size
}

// tablespaceSize is what a table frees: its own tablespace or its partitions', and the
// auxiliary tablespaces of its FULLTEXT indexes.
type tablespaceSize struct {
	own, parts, fts spaceSum
	// ftsErr: the FULLTEXT tablespaces could not be read.
	ftsErr error
}

// NewInspector returns an Inspector for a server whose identity was read with ReadServer.
func NewInspector(q Querier, server Server, opts Options, log *slog.Logger) *Inspector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Inspector{q: q, server: server, opts: opts, log: log}
}

func (in *Inspector) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if in.opts.QueryTimeout > 0 {
		return context.WithTimeout(ctx, in.opts.QueryTimeout)
	}
	return context.WithCancel(ctx)
}

// ListNames returns every table whose name fits a rule, without opening any table.
func (in *Inspector) ListNames(ctx context.Context) ([]Name, error) {
	var where []string
	var args []any
	excl := append(append([]string{}, systemSchemas...), in.opts.ExcludeSchemas...)
	where = append(where, "TABLE_SCHEMA NOT IN ("+placeholders(len(excl))+")")
	for _, s := range excl {
		args = append(args, s)
	}
	if len(in.opts.Schemas) > 0 {
		where = append(where, "TABLE_SCHEMA IN ("+placeholders(len(in.opts.Schemas))+")")
		for _, s := range in.opts.Schemas {
			args = append(args, s)
		}
	}
	var likes []string
	for _, p := range NamePrefixes {
		likes = append(likes, "TABLE_NAME LIKE ?")
		args = append(args, p)
	}
	where = append(where, "("+strings.Join(likes, " OR ")+")")
	// Only name columns: the server answers from the directory listing and opens no
	// table (EXPLAIN: Skip_open_table). Asking for anything else here would open all.
	query := "SELECT /* janitor */ TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE " + strings.Join(where, " AND ")
	orphans := in.startOrphans(ctx)
	all, err := queryAll(ctx, in, query, args, func(r *sqlx.Rows) (n Name, err error) { return n, r.Scan(&n.Schema, &n.Table) })
	o := <-orphans
	if err == nil {
		err = o.err
	} else {
		err = fmt.Errorf("list table names: %w", err)
	}
	if err != nil {
		return nil, err
	}
	var out []Name
	for _, n := range all {
		if len(in.classify(n.Table)) > 0 {
			out = append(out, n)
		}
	}
	for _, o := range o.names {
		// MySQL's tablespace view spells a user's #sql… table as it spells an ALTER's
		// (plain): one the listing above shows is the user's, already in out.
		if listed(all, o) {
			continue
		}
		if other, err := in.otherSplit(ctx, o); err != nil {
			return nil, fmt.Errorf("list #sql orphans: %w", err)
		} else if other != "" {
			continue // a user's table with a slash in its name, not a crashed ALTER's (otherSplit)
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Schema != out[j].Schema {
			return out[i].Schema < out[j].Schema
		}
		return out[i].Table < out[j].Table
	})
	return out, nil
}

type orphanList struct {
	names []Name
	err   error
}

// startOrphans reads listOrphans alongside the caller's listing of names. On MySQL with
// a pool, on the pool's second connection: the two reads overlap (6-7 ms of 25 at
// 10,100 tables), and the second connection, which an inventory's digest prefetch takes
// anyway, is then open when InspectAll starts instead of dialled on its critical path.
// Elsewhere it reads in turn, as before.
//
// The inventory's read of every digest does not follow it there while the listing runs:
// tried (docs/benchmarks.md, "The last gap"), it gained nothing measurable, since the
// reads by name read the counters before they wait for the digests, and it cost a
// shard without candidates a read stopped by closing its connection (Aborted_clients).
func (in *Inspector) startOrphans(ctx context.Context) <-chan orphanList {
	out := make(chan orphanList, 1)
	read := func() {
		var o orphanList
		o.names, o.err = in.listOrphans(ctx)
		out <- o
	}
	if _, pool := in.q.(*sqlx.DB); pool && in.server.Flavor == FlavorMySQL8 {
		go read()
	} else {
		read()
	}
	return out
}

// listOrphans finds crashed ALTERs' #sql tables, which only InnoDB shows. It reads the
// tablespace list, which the server keeps in memory, rather than the table dictionary,
// whose scan reads dictionary pages from disk (+16 MB server RSS at 10,000 tables). An
// orphan without a tablespace of its own frees no disk, so nothing worth finding is
// missed. The list holds every tablespace on MySQL 5.7 and 8 and MariaDB before 10.6;
// from 10.6 only opened ones, but there crash recovery removes #sql orphans itself.
//
// On MySQL 8 and later the names come from INNODB_TABLESPACES_BRIEF, a view of the data
// dictionary: INNODB_TABLESPACES fills every row before its WHERE applies, opening every
// tablespace file on the server (0.75 s after a restart at 10,000 tables, and a
// performance_schema file record per file, kept until the server stops).
func (in *Inspector) listOrphans(ctx context.Context) ([]Name, error) {
	d := in.server.Flavor.dialect()
	dicts, err := queryAll(ctx, in, "SELECT /* janitor */ NAME FROM "+d.spaceNames+" WHERE NAME LIKE '%/#sql%'", nil, scanString)
	if err != nil {
		return nil, fmt.Errorf("list #sql orphans: %w", err)
	}
	var out []Name
	for _, dict := range dicts {
		// The table part is the raw file name; the schema part is encoded or plain as
		// the view spells names.
		i := strings.LastIndex(dict, "/")
		if i < 0 {
			continue
		}
		table := dict[i+1:]
		schema, ok := dict[:i], true
		if d.tablespacesEncoded {
			schema, ok = DecodeFilename(dict[:i])
		}
		if len(Classify(table)) == 0 {
			continue
		}
		if !ok {
			// A schema janitor cannot decode: it cannot name the table to drop it.
			in.log.WarnContext(ctx, "skipping a #sql orphan whose schema name does not decode", "tablespace", dict)
			continue
		}
		if in.excluded(schema) {
			continue
		}
		out = append(out, Name{Schema: schema, Table: table, Orphan: true})
	}
	return out, nil
}

// listed reports whether names, from information_schema.TABLES, hold o. Names are
// compared without regard to case: a server that folds case lists them folded, and
// taking a crashed ALTER's table for a user's only keeps it.
func listed(names []Name, o Name) bool {
	for _, n := range names {
		if strings.EqualFold(n.Schema, o.Schema) && strings.EqualFold(n.Table, o.Table) {
			return true
		}
	}
	return false
}

// otherSplit returns the user's table, as schema.table, that o's tablespace name
// (schema/table, spelled plain on MySQL 8) belongs to when it is cut at another slash
// than the last; "" when none is listed. A crashed ALTER's own name holds no slash, but
// a user's table or schema may: `x/#sql-ib1` in s has the tablespace s/x/#sql-ib1. Names
// with one slash, and flavors that encode it (@002f), ask nothing.
func (in *Inspector) otherSplit(ctx context.Context, o Name) (string, error) {
	if in.server.Flavor.dialect().tablespacesEncoded {
		return "", nil
	}
	full := o.Schema + "/" + o.Table
	for i := 0; i < len(o.Schema); i++ {
		if full[i] != '/' {
			continue
		}
		schema, table := full[:i], full[i+1:]
		ok, err := in.tableExists(ctx, nil, schema, table)
		if err != nil {
			return "", err
		}
		if ok {
			return dbconn.QualifiedName(schema, table), nil
		}
	}
	return "", nil
}

func (in *Inspector) excluded(schema string) bool {
	for _, s := range append(append([]string{}, systemSchemas...), in.opts.ExcludeSchemas...) {
		if s == schema {
			return true
		}
	}
	if len(in.opts.Schemas) == 0 {
		return false
	}
	for _, s := range in.opts.Schemas {
		if s == schema {
			return false
		}
	}
	return true
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// ErrGone means the table vanished between listing and inspection.
var ErrGone = errors.New("table no longer exists")

// Inspect gathers every fact about one candidate. Facts that cannot be read are recorded
// in Evidence.Unreadable, so the policy can refuse to drop on missing evidence rather
// than on an error path. It has no batch: every fact is read afresh, by name. It is the
// pre-DROP re-check's view.
func (in *Inspector) Inspect(ctx context.Context, n Name) (*Table, error) {
	t, err := in.open(ctx, n, nil)
	if err != nil {
		return nil, err
	}
	in.finish(ctx, t, nil)
	return t, nil
}

// InspectAll inspects every candidate of an inventory. The metadata lookup opens each
// candidate first; only then are all tablespace sizes read in one pass, because MariaDB
// loads a tablespace into the list that view reads only when its table is first opened
// after a restart: read first, most leftovers would have no size. Candidates that
// vanished meanwhile are left out.
func (in *Inspector) InspectAll(ctx context.Context, names []Name) ([]*Table, error) {
	b := &batch{names: map[string]map[string]bool{}}
	b.aside = in.readsAside(names)
	in.startUses(ctx, b, names)
	defer b.waitUses()
	if err := in.prefetchMeta(ctx, b, names); err != nil {
		return nil, err
	}
	var tables []*Table
	var found []Name
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, err := in.open(ctx, n, b)
		if errors.Is(err, ErrGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		tables = append(tables, t)
		found = append(found, n)
	}
	for _, t := range tables {
		b.useWant = append(b.useWant, useKey{t.Schema, t.Name})
		if h, ok := ParseHold(t.Comment); ok {
			b.useWant = append(b.useWant, useKey{h.Schema, h.Table})
		}
	}
	in.prefetchEvidence(ctx, b, tables)
	// The sizes need the candidates opened (the metadata read above: MySQL and MariaDB
	// list a tablespace's size only once its table was opened after a restart). Where
	// the reads run aside, the sizes run on the other connection too, while this one
	// reads the named locks and the whole-server objects.
	var err error
	sized := make(chan struct{})
	if b.aside {
		go func() {
			defer close(sized)
			err = in.prefetchSizes(ctx, b, found)
		}()
	} else {
		err = in.prefetchSizes(ctx, b, found)
		close(sized)
	}
	in.prefetchLocks(ctx, b, tables)
	in.warmServerReads(ctx, b, tables)
	<-sized
	b.waitUses()
	if err != nil {
		return nil, err
	}
	if b.aside {
		// Held tables' original names, known only from their comments: their rows; and
		// the counters' start on the batch's (the server's) clock.
		in.loadUses(ctx, b)
	}
	for _, t := range tables {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		in.finish(ctx, t, b)
	}
	return tables, nil
}

// warmServerReads runs, while the reads-by-name sources are read on the other
// connection (startUses), the by-name evidence of the first candidate that has any, on a
// scratch copy whose findings are dropped: the whole-server objects it searches
// (triggers, routines, views, MERGE and link tables, events, table grants: ten small
// reads on MySQL 9.7) are read once per Inspector, and the first candidate's gather
// would otherwise read them after that wait, one after the other, on the one connection
// left working. The same reads as that gather's, moved earlier; none where no
// reads-by-name run alongside (b.aside: MySQL, a pool, an inventory).
func (in *Inspector) warmServerReads(ctx context.Context, b *batch, tables []*Table) {
	if !b.aside {
		return
	}
	for _, t := range tables {
		if t.Orphan {
			continue
		}
		scratch := *t
		scratch.Evidence = Evidence{Now: t.Evidence.Now}
		for _, k := range evidenceKinds {
			if k.ByName && k.read != nil {
				k.read(in, ctx, &scratch, b)
			}
		}
		return
	}
}

// Uninspected returns a candidate as its name alone describes it, for a candidate this
// run will not open: tool, role and base come from the naming rules (ambiguous when two
// tools fit), and nothing else is known.
func Uninspected(n Name) *Table {
	t := &Table{Schema: n.Schema, Name: n.Table, Orphan: n.Orphan, SizeSource: SizeUnknown}
	// This host's clock, not the server's: only the age column uses it.
	t.Evidence.Now = time.Now().UTC()
	t.Readings = Classify(n.Table)
	if len(t.Readings) == 0 {
		return t
	}
	t.Reading = t.Readings[0]
	t.Tool, t.Role, t.Base = t.Reading.Tool, t.Reading.Role, t.Reading.Base
	for _, r := range t.Readings[1:] {
		if r.Tool != t.Tool {
			t.Tool = ToolAmbiguous
		}
	}
	return t
}

// open classifies a candidate and reads its metadata, which opens the table. b is
// InspectAll's batch, nil for Inspect.
func (in *Inspector) open(ctx context.Context, n Name, b *batch) (*Table, error) {
	t := &Table{Schema: n.Schema, Name: n.Table, Orphan: n.Orphan}
	t.Readings = in.classify(n.Table)
	if len(t.Readings) == 0 {
		return nil, fmt.Errorf("%s: no rule matches", dbconn.QualifiedName(n.Schema, n.Table))
	}
	if err := in.readNow(ctx, &t.Evidence, b); err != nil {
		return nil, err
	}
	if n.Orphan {
		// Asked afresh (the pre-DROP re-check comes here too): a #sql table the server
		// lists is a user's, whatever its tablespace looks like (tool_orphan.go).
		user, err := in.tableExists(ctx, b, n.Schema, n.Table)
		switch {
		case err != nil:
			t.Evidence.unreadable("whether information_schema.TABLES lists it (a user's table named like a crashed ALTER's)", err)
		case user:
			t.Orphan = false
		default:
			// MySQL spells a slash in a name plain in the tablespace view: s/x/#sql-ib1 may
			// be a user's table `x/#sql-ib1` in s, not #sql-ib1 in a schema "s/x".
			if other, err := in.otherSplit(ctx, n); err != nil {
				t.Evidence.unreadable("whether information_schema.TABLES lists it (a user's table named like a crashed ALTER's)", err)
			} else if other != "" {
				return nil, fmt.Errorf("%s is the tablespace of the user's table %s, no crashed ALTER's: %w", n.Schema+"/"+n.Table, other, ErrGone)
			}
		}
	}
	if t.Orphan {
		t.Type, t.Engine = "BASE TABLE", "InnoDB"
	} else if err := in.readMeta(ctx, t, b); err != nil {
		return nil, err
	}
	return t, nil
}

// finish reads the size and the evidence of an opened candidate.
func (in *Inspector) finish(ctx context.Context, t *Table, b *batch) {
	in.readSize(ctx, t, b)
	in.resolve(ctx, t, b)
	in.gather(ctx, t, b)
}

func (in *Inspector) readNow(ctx context.Context, ev *Evidence, b *batch) error {
	if b != nil && !b.now.IsZero() {
		ev.Now = b.now
		return nil
	}
	qctx, cancel := in.ctx(ctx)
	defer cancel()
	if err := in.q.QueryRowxContext(qctx, "SELECT /* janitor */ UTC_TIMESTAMP(6)").Scan(&ev.Now); err != nil {
		return fmt.Errorf("read server time: %w", err)
	}
	if b != nil {
		// One reading for the inventory: a candidate's age is then measured from
		// before its inspection, which errs young. The pre-DROP re-check reads afresh.
		b.now = ev.Now
	}
	return nil
}

// metaColumns are what readMeta reads from information_schema.TABLES.
const metaColumns = "TABLE_TYPE, ENGINE, CREATE_TIME, UPDATE_TIME, TABLE_COMMENT, DATA_LENGTH, INDEX_LENGTH, CREATE_OPTIONS"

type metaRow struct {
	typ                   string
	engine, comment, opts sql.NullString
	created, updated      sql.NullTime
	dataLen, indexLen     sql.NullInt64
}

func (m *metaRow) dest() []any {
	return []any{&m.typ, &m.engine, &m.created, &m.updated, &m.comment, &m.dataLen, &m.indexLen, &m.opts}
}

func (m metaRow) apply(t *Table) {
	t.Type, t.Engine, t.Comment = m.typ, m.engine.String, m.comment.String
	if m.created.Valid {
		c := m.created.Time.UTC()
		t.CreatedAt = &c
	}
	if m.updated.Valid {
		u := m.updated.Time.UTC()
		t.UpdatedAt = &u
	}
	t.statBytes = m.dataLen.Int64 + m.indexLen.Int64
	opts := strings.ToLower(m.opts.String)
	t.partitioned = strings.Contains(opts, "partitioned")
	t.compressed = strings.Contains(opts, `compression="zlib"`) || strings.Contains(opts, `compression="lz4"`)
}

// readMeta looks the table up by schema and name: the server opens this one table only.
// During an inventory on MySQL the rows prefetchMeta read are used instead.
func (in *Inspector) readMeta(ctx context.Context, t *Table, b *batch) error {
	if m, ok := b.metaOf(t.Schema, t.Name); ok {
		m.apply(t)
		return nil
	}
	qctx, cancel := in.ctx(ctx)
	defer cancel()
	var m metaRow
	err := in.q.QueryRowxContext(qctx, "SELECT /* janitor */ "+metaColumns+
		" FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", t.Schema, t.Name).Scan(m.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", dbconn.QualifiedName(t.Schema, t.Name), ErrGone)
	}
	if err != nil {
		return fmt.Errorf("read metadata of %s: %w", dbconn.QualifiedName(t.Schema, t.Name), err)
	}
	m.apply(t)
	return nil
}

// askNames collects, on MySQL 8 and later, every table an inventory's evidence may ask
// about (each reading's base, Spirit checkpoint and gh-ost changelog) into b.asked;
// prefetchMeta looks them up in the query that reads the candidates' metadata, instead
// of listing each schema's names (20 listings of about 500 names took 0.04-0.08 s at
// 10,100 tables) or a query of their own (another scan of the dictionary's table list,
// 15-25 ms). tableExists answers the names asked from it and looks any other up alone.
// Not on MariaDB, where an IN list on TABLE_NAME opens the tables' definitions.
func (in *Inspector) askNames(b *batch, names []Name) {
	if in.server.Flavor != FlavorMySQL8 {
		return
	}
	b.asked = map[string]map[string]bool{}
	for _, n := range names {
		if b.asked[n.Schema] == nil {
			b.asked[n.Schema] = map[string]bool{}
		}
		for _, r := range in.classify(n.Table) {
			if r.Base == "" {
				continue
			}
			// The names the reading's tool spec will look up: its base, checkpoint and
			// changelog. Any other name is looked up alone by tableExists.
			asks := []string{r.Base}
			if spec := SpecOf(r.Tool); spec != nil {
				if spec.Checkpoint != nil {
					asks = append(asks, spec.Checkpoint(r.Base))
				}
				if spec.Changelog != nil {
					asks = append(asks, spec.Changelog(&Table{Name: n.Table, Tool: r.Tool, Role: r.Role, Base: r.Base}))
				}
			}
			for _, name := range asks {
				if couldName(name) {
					b.asked[n.Schema][name] = true
				}
			}
		}
	}
	for schema := range b.asked {
		b.names[schema] = map[string]bool{}
	}
}

type schemaTable struct{ schema, table string }

// couldName tells whether s could name a table: valid UTF-8 within the identifier's
// character set (utf8mb3: no character beyond the Basic Multilingual Plane) and length.
// The server rejects a whole IN list that holds one that is not (error 3854, for a
// gh-ost changelog name cut inside a character); such a name is left to tableExists'
// single lookup.
func couldName(s string) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > MaxNameLength {
		return false
	}
	for _, r := range s {
		if r > 0xFFFF {
			return false
		}
	}
	return true
}

// inSchemas reads information_schema.TABLES rows for the tables want names, by schema:
// one query per 200 names, TABLE_SCHEMA IN (…) AND TABLE_NAME IN (…), keeping only the
// rows whose schema and name are an exact pair of want (the IN lists cross, and the
// columns may fold case). The query selects TABLE_SCHEMA, TABLE_NAME, then columns; scan
// reads a row. On MySQL 9.7 the server answers with one scan of the dictionary's table
// list, opening nothing and computing the other columns for the rows kept alone (14-20
// ms at 10,100 tables, against 29-63 ms for one query per schema).
func inSchemas[T any](ctx context.Context, in *Inspector, want map[string]map[string]bool, columns columnsFor,
	scan func(*sqlx.Rows) (schemaTable, T, error), keep func(schemaTable, T)) error {
	return inView(ctx, in, "information_schema.TABLES", "", want, columns, scan, keep)
}

// columnsFor returns the columns inView selects after TABLE_SCHEMA and TABLE_NAME
// (", A, B", or "") and their arguments, for one query's names.
type columnsFor func(names []any) (string, []any)

// fixedColumns selects the same columns, without arguments, whatever the names.
func fixedColumns(columns string) columnsFor {
	return func([]any) (string, []any) { return columns, nil }
}

// inView is inSchemas on any dictionary view with TABLE_SCHEMA and TABLE_NAME columns,
// with cond ("X = 'y' AND ", or "") put before the IN lists.
func inView[T any](ctx context.Context, in *Inspector, view, cond string, want map[string]map[string]bool, columns columnsFor,
	scan func(*sqlx.Rows) (schemaTable, T, error), keep func(schemaTable, T)) error {
	type row struct {
		st schemaTable
		v  T
	}
	var schemas, names []any
	seen := map[string]bool{}
	for s, tables := range want {
		schemas = append(schemas, s)
		for t := range tables {
			if !seen[t] {
				seen[t] = true
				names = append(names, t)
			}
		}
	}
	for start := 0; start < len(names); start += prefetchBatch {
		batch := names[start:min(start+prefetchBatch, len(names))]
		cols, colArgs := columns(batch)
		rows, err := queryAll(ctx, in, "SELECT /* janitor */ TABLE_SCHEMA, TABLE_NAME"+cols+" FROM "+view+" WHERE "+cond+"TABLE_SCHEMA IN ("+
			placeholders(len(schemas))+") AND TABLE_NAME IN ("+placeholders(len(batch))+")", append(append(colArgs, schemas...), batch...),
			func(r *sqlx.Rows) (v row, err error) {
				v.st, v.v, err = scan(r)
				return v, err
			})
		if err != nil {
			return fmt.Errorf("look up the candidates' tables: %w", err)
		}
		for _, r := range rows {
			if want[r.st.schema][r.st.table] {
				keep(r.st, r.v)
			}
		}
	}
	return nil
}

// prefetchMeta reads, on MySQL 8 and later, the metadata of an inventory's candidates
// with one query per 200 candidates (inSchemas) instead of one per candidate: there
// information_schema.TABLES is a view of the data dictionary, which sizes only the rows
// kept (measured on 9.7.4 at 10,100 tables: 100 lookups 61-103 ms, the same 100 in 20
// per-schema queries 37-41 ms, in one 14-20 ms). Not on MariaDB, whose information_schema
// opens only the one table of an equality on TABLE_NAME; an IN list there opens them
// all. A candidate missing from the rows is looked up alone by readMeta. The same query
// looks up the names the evidence will ask about (askNames): one scan of the
// dictionary's table list instead of two (the two took 25-32 and 15-25 ms at 10,100
// tables on 9.7.4, the one 25-33 ms).
func (in *Inspector) prefetchMeta(ctx context.Context, b *batch, names []Name) error {
	if in.server.Flavor != FlavorMySQL8 {
		return nil
	}
	in.askNames(b, names)
	meta := map[string]map[string]bool{}
	var metaSchemas []any
	for _, n := range names {
		if n.Orphan {
			continue
		}
		if meta[n.Schema] == nil {
			meta[n.Schema] = map[string]bool{}
			metaSchemas = append(metaSchemas, n.Schema)
		}
		meta[n.Schema][n.Table] = true
	}
	b.meta = map[string]map[string]metaRow{}
	want := map[string]map[string]bool{}
	for _, w := range []map[string]map[string]bool{meta, b.asked} {
		for s, tables := range w {
			if want[s] == nil {
				want[s] = map[string]bool{}
			}
			for t := range tables {
				want[s][t] = true
			}
		}
	}
	for s := range meta {
		b.meta[s] = map[string]metaRow{}
	}
	// The sizes and update time come from InnoDB's statistics (stats_expiry 0): they
	// are computed only for the rows the metadata query alone would have returned
	// (candidates' schemas × candidates' names), not for the asked names.
	columns := func(chunk []any) (string, []any) {
		var cands []any
		for _, t := range chunk {
			for s := range meta {
				if meta[s][t.(string)] {
					cands = append(cands, t)
					break
				}
			}
		}
		if len(cands) == 0 || len(metaSchemas) == 0 {
			return ", " + metaColumns + ", FALSE", nil
		}
		cond := "TABLE_SCHEMA IN (" + placeholders(len(metaSchemas)) + ") AND TABLE_NAME IN (" + placeholders(len(cands)) + ")"
		cols := strings.NewReplacer(
			"UPDATE_TIME", "IF("+cond+", UPDATE_TIME, NULL)",
			"DATA_LENGTH", "IF("+cond+", DATA_LENGTH, NULL)",
			"INDEX_LENGTH", "IF("+cond+", INDEX_LENGTH, NULL)").Replace(metaColumns)
		var args []any
		for range 4 {
			args = append(append(args, metaSchemas...), cands...)
		}
		return ", " + cols + ", " + cond, args
	}
	type metaOrName struct {
		m      metaRow
		isMeta bool
	}
	return inSchemas(ctx, in, want, columns, func(r *sqlx.Rows) (st schemaTable, v metaOrName, err error) {
		err = r.Scan(append(append([]any{&st.schema, &st.table}, v.m.dest()...), &v.isMeta)...)
		return st, v, err
	}, func(st schemaTable, v metaOrName) {
		if b.asked[st.schema][st.table] {
			b.names[st.schema][st.table] = true
		}
		if v.isMeta && meta[st.schema][st.table] {
			b.meta[st.schema][st.table] = v.m
		}
	})
}

// readSize reads the bytes a DROP would free from the tablespace files, not from the
// statistics in TABLES, which go stale (a renamed table showed 48 KiB for a 17 MiB file):
// the table's own tablespace (or its partitions') and those of its FULLTEXT indexes'
// auxiliary tables, which the DROP frees with it. On MySQL a file the tablespace view
// cannot size (scanFiles) makes the whole SizeTablespaceEstimate.
func (in *Inspector) readSize(ctx context.Context, t *Table, b *batch) {
	if !strings.EqualFold(t.Engine, "InnoDB") {
		if t.Type == "BASE TABLE" {
			// MyISAM and Aria compute these from the files themselves.
			t.Bytes, t.SizeSource = t.statBytes, SizeTableStatus
		}
		return
	}
	name, err := in.spaceName(t.Schema, t.Name, t.Orphan)
	if err != nil {
		// No exact spelling: a lookup would find nothing, or another table.
		t.SizeSource = SizeUnknown
		t.Evidence.unreadable("tablespace name", err)
		return
	}
	ts, ok := b.sizeOf(name)
	if !ok {
		ts, err = in.readTablespaces(ctx, t, name)
		if err != nil {
			t.SizeSource = SizeUnknown
			t.Evidence.unreadable("size", err)
			return
		}
	}
	sum := ts.own
	if t.partitioned {
		// Only a partitioned table owns db/t#P#p: on MySQL 8 the names are plain, and a
		// table may itself be named t#p#x.
		sum = ts.parts
	}
	if sum.files == 0 {
		in.readSpace(ctx, t)
		return
	}
	if ts.ftsErr != nil {
		t.Evidence.unreadable("FULLTEXT index tablespaces", ts.ftsErr)
	}
	bytes := sum.bytes()
	if sum.inexact > 0 {
		// MySQL: a file under one extent, or not opened since the server started:
		// the statistics' estimate, or the sizes known if more.
		bytes = max(bytes, t.statBytes)
	}
	t.Bytes, t.SizeSource = bytes+ts.fts.bytes(), SizeTablespace
	switch {
	case sum.inexact+ts.fts.inexact > 0:
		t.SizeSource = SizeTablespaceEstimate
	case t.compressed && in.server.Flavor.dialect().filesSizes:
		// MySQL: FILES gives the size; the holes are not known (SizeTablespaceCompressed).
		t.SizeSource = SizeTablespaceCompressed
	}
}

// readTablespaces looks one table's tablespaces up by name, and its FULLTEXT indexes'
// by its table id.
func (in *Inspector) readTablespaces(ctx context.Context, t *Table, name string) (tablespaceSize, error) {
	d := in.server.Flavor.dialect()
	var ts tablespaceSize
	col := d.spaceCol()
	rows, err := in.spaceRows(ctx, col+" = ? OR "+col+" LIKE ?", []any{name, escapeLike(name) + escapeLike(d.partitionSep) + "%"})
	if err != nil {
		return ts, err
	}
	for _, r := range rows {
		own, part := spaceOf(name, r.name, d.partitionSep)
		switch {
		case own:
			ts.own.add(r.sum)
		case part:
			ts.parts.add(r.sum)
		}
	}
	if t.Orphan {
		return ts, nil // a crashed ALTER's copy: its FULLTEXT tables are the server's to clean
	}
	// The FULLTEXT tablespaces as the inventory reads them: the schema's FTS_ names from
	// the in-memory list, and the table dictionary only when there are some.
	tname, err := in.tableName(t.Schema, t.Name, false)
	if err != nil {
		ts.ftsErr = err
		return ts, nil
	}
	schemaPart, err := in.spaceSchema(t.Schema)
	if err != nil {
		ts.ftsErr = err
		return ts, nil
	}
	sizes := map[string]tablespaceSize{name: ts}
	named := map[string]map[string]string{t.Schema: {t.Name: name}}
	if err := in.prefetchFTS(ctx, map[string]string{schemaPart: t.Schema}, map[string]string{tname: name}, named, sizes); err != nil {
		ts.ftsErr = err
		return ts, nil
	}
	return sizes[name], nil
}

func lastPart(name string) string { return name[strings.LastIndex(name, "/")+1:] }

type spaceRow struct {
	name string
	sum  spaceSum
}

func scanSpace(r *sqlx.Rows) (v spaceRow, err error) {
	var size, alloc sql.NullInt64
	err = r.Scan(&v.name, &size, &alloc)
	v.sum = spaceSum{files: 1, size: size.Int64, alloc: alloc.Int64}
	return v, err
}

// spaceCol is the column that names a tablespace in spaceRows' view.
func (d dialect) spaceCol() string {
	if d.filesSizes {
		return "TABLESPACE_NAME"
	}
	return "NAME"
}

// spaceRows reads the sizes of the tablespaces whose name (spaceCol) satisfies where.
//
// On MySQL 8 and later they come from information_schema.FILES, a view of the data
// dictionary whose sizes InnoDB computes only for the rows the WHERE keeps: it opens the
// named files alone. INNODB_TABLESPACES, the only view with the file's and the allocated
// size, fills every row first: each read opens every tablespace file on the server (0.7 s
// after a restart at 10,000 tables, and 5.8 MB of performance_schema file records kept
// until the server stops), the incident query's cost on another axis. See scanFiles for
// what FILES knows.
func (in *Inspector) spaceRows(ctx context.Context, where string, args []any) ([]spaceRow, error) {
	d := in.server.Flavor.dialect()
	if !d.filesSizes {
		return queryAll(ctx, in, "SELECT /* janitor */ NAME, FILE_SIZE, ALLOCATED_SIZE FROM "+d.tablespaces+" WHERE "+where, args, scanSpace)
	}
	return queryAll(ctx, in, "SELECT /* janitor */ TABLESPACE_NAME, TOTAL_EXTENTS, EXTENT_SIZE, INITIAL_SIZE FROM information_schema.FILES"+
		" WHERE ENGINE = 'InnoDB' AND ("+where+")", args, scanFiles)
}

// scanFiles reads a row of information_schema.FILES. TOTAL_EXTENTS is the size in the
// tablespace's header, in whole extents (1 MiB with 16 KiB pages): a file-per-table
// file of one extent or more grows by whole extents, so that is its file size (measured
// on 9.7.4: equal for 9 MiB and 228 MiB files; what the file takes on disk differs by a
// few KiB). It shows 0 for a file under one extent (it grows page by page from 112 KiB)
// and for one InnoDB has not opened since the server started (the view opens no file:
// that is what makes it cheap). Such a file's size is not known: INITIAL_SIZE (the
// size it was created with, 0 when it was created before the server started) is a lower
// bound, and readSize takes the statistics' estimate when larger.
func scanFiles(r *sqlx.Rows) (v spaceRow, err error) {
	var extents, extent, initial sql.NullInt64
	err = r.Scan(&v.name, &extents, &extent, &initial)
	v.sum = spaceSum{files: 1}
	if extents.Int64 > 0 && extent.Int64 > 0 {
		v.sum.size = extents.Int64 * extent.Int64
		return v, err
	}
	v.sum.size, v.sum.inexact = initial.Int64, 1
	return v, err
}

type idRow struct {
	name string
	id   uint64
}

// prefetchBatch bounds the IN list of one prefetchSizes query.
const prefetchBatch = 200

// prefetchSizes reads the tablespace sizes of many candidates with one read of the
// InnoDB dictionary per batch. Each lookup by name scans the same in-memory dictionary
// (about 30 ms at 10,000 tables), so for an inventory one filtered scan replaces one
// scan per candidate. FULLTEXT auxiliary tablespaces are read once per schema, and their
// owners by table id in one more read. It opens no table (on MySQL no file either: see
// spaceRows). readSize falls back to a per-table lookup for any name not prefetched;
// Inspect, having no batch, always does.
func (in *Inspector) prefetchSizes(ctx context.Context, b *batch, names []Name) error {
	d := in.server.Flavor.dialect()
	sizes := map[string]tablespaceSize{}
	var spaces []string
	owner := map[string]string{}            // tables-view name → tablespace name, for FULLTEXT
	named := map[string]map[string]string{} // schema → table → tablespace name, for FULLTEXT on MySQL
	schemas := map[string]string{}
	for _, n := range names {
		sp, err := in.spaceName(n.Schema, n.Table, n.Orphan)
		if err != nil {
			continue // readSize reports it
		}
		sizes[sp] = tablespaceSize{}
		spaces = append(spaces, sp)
		tn, err1 := in.tableName(n.Schema, n.Table, n.Orphan)
		ss, err2 := in.spaceSchema(n.Schema)
		if err1 == nil && err2 == nil && !n.Orphan {
			owner[tn] = sp
			schemas[ss] = n.Schema
			if named[n.Schema] == nil {
				named[n.Schema] = map[string]string{}
			}
			named[n.Schema][n.Table] = sp
		}
	}
	add := func(rows []spaceRow) {
		for _, r := range rows {
			for _, sp := range candidatesOf(r.name, d.partitionSep, sizes) {
				ts := sizes[sp]
				if own, _ := spaceOf(sp, r.name, d.partitionSep); own {
					ts.own.add(r.sum)
				} else {
					ts.parts.add(r.sum)
				}
				sizes[sp] = ts
			}
		}
	}
	col := d.spaceCol()
	for start := 0; start < len(spaces); start += prefetchBatch {
		batch := spaces[start:min(start+prefetchBatch, len(spaces))]
		var conds []string
		var args []any
		for _, sp := range batch {
			// The column's collation may be binary or fold case: both partition
			// spellings are asked for, and rows are matched exactly below.
			conds = append(conds, col+" = ? OR "+col+" LIKE ? OR "+col+" LIKE ?")
			args = append(args, sp, escapeLike(sp)+"#P#%", escapeLike(sp)+"#p#%")
		}
		rows, err := in.spaceRows(ctx, strings.Join(conds, " OR "), args)
		if err != nil {
			return fmt.Errorf("read tablespace sizes: %w", err)
		}
		add(rows)
	}
	if err := in.prefetchFTS(ctx, schemas, owner, named, sizes); err != nil {
		for sp, ts := range sizes {
			ts.ftsErr = err
			sizes[sp] = ts
		}
	}
	b.sizes = sizes
	return nil
}

// candidatesOf returns the candidates' tablespace names a tablespace row belongs to: its
// own name, or the table part before a partition separator. On MySQL 8 names are
// plain, so t#p#x may be table t's partition x or a table named t#p#x: every reading is
// returned, and readSize takes the partitions only for a partitioned table.
func candidatesOf(row, sep string, sizes map[string]tablespaceSize) []string {
	var out []string
	if _, ok := sizes[row]; ok {
		out = append(out, row)
	}
	lower, lsep := strings.ToLower(row), strings.ToLower(sep)
	for i := 0; ; {
		j := strings.Index(lower[i:], lsep)
		if j < 0 {
			return out
		}
		if _, ok := sizes[row[:i+j]]; ok {
			out = append(out, row[:i+j])
		}
		i += j + 1
	}
}

// prefetchFTS adds the auxiliary tablespaces of the candidates' FULLTEXT indexes: one
// read of the tablespace list per batch of schemas, and, only when some exist, one read
// of the table dictionary by the table ids their names carry.
//
// Not on MySQL 8 and later, where the table dictionary (INNODB_TABLES) has no lookup by
// table id: every read fills every row first, opening every table's definition (10,115
// opens, 2.8 s and +38 MB of performance_schema memory at 10,100 tables), and a pre-DROP
// re-check would pay that per table. There ftsUnknownMySQL marks the candidates that
// have a FULLTEXT index instead: their auxiliary tablespaces are not counted, and their
// size is an estimate.
func (in *Inspector) prefetchFTS(ctx context.Context, schemas map[string]string, owner map[string]string,
	named map[string]map[string]string, sizes map[string]tablespaceSize) error {
	if in.server.Flavor == FlavorMySQL8 {
		return in.ftsUnknownMySQL(ctx, named, sizes)
	}
	d := in.server.Flavor.dialect()
	byID := map[uint64]spaceSum{}
	var keys []string
	for k := range schemas {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	add := func(rows []spaceRow) {
		for _, r := range rows {
			m := ftsAux.FindStringSubmatch(lastPart(r.name))
			if m == nil {
				continue
			}
			var id uint64
			if _, err := fmt.Sscanf(m[1], "%x", &id); err != nil {
				continue
			}
			s := byID[id]
			s.add(r.sum)
			byID[id] = s
		}
	}
	for start := 0; start < len(keys); start += prefetchBatch {
		batch := keys[start:min(start+prefetchBatch, len(keys))]
		var conds []string
		var args []any
		for _, k := range batch {
			conds = append(conds, d.spaceCol()+" LIKE ?")
			args = append(args, escapeLike(k+"/"+d.ftsPrefix)+"%")
		}
		rows, err := in.spaceRows(ctx, strings.Join(conds, " OR "), args)
		if err != nil {
			return fmt.Errorf("read FULLTEXT index tablespaces: %w", err)
		}
		add(rows)
	}
	if len(byID) == 0 {
		return nil
	}
	var ids []any
	for id := range byID {
		ids = append(ids, id)
	}
	for start := 0; start < len(ids); start += prefetchBatch {
		batch := ids[start:min(start+prefetchBatch, len(ids))]
		rows, err := queryAll(ctx, in, "SELECT /* janitor */ NAME, TABLE_ID FROM "+d.tables+" WHERE TABLE_ID IN ("+
			placeholders(len(batch))+")", batch, func(r *sqlx.Rows) (v idRow, err error) { return v, r.Scan(&v.name, &v.id) })
		if err != nil {
			return fmt.Errorf("read the tables of FULLTEXT indexes: %w", err)
		}
		for _, r := range rows {
			sp, ok := owner[r.name]
			if !ok {
				continue
			}
			ts := sizes[sp]
			ts.fts.add(byID[r.id])
			sizes[sp] = ts
		}
	}
	return nil
}

// ftsUnknownMySQL marks, on MySQL 8 and later, the candidates that have a FULLTEXT index:
// the DROP frees their auxiliary tablespaces too, which janitor cannot tie to their table
// there without opening every definition (see prefetchFTS), so their size is a lower
// bound. information_schema.STATISTICS is a view of the data dictionary; asked for index
// names and types only, it opens no table (measured on 9.7.4: the same opens whichever
// and however many tables match). Rows are kept for exact pairs only: the IN lists cross,
// and the columns may fold case.
func (in *Inspector) ftsUnknownMySQL(ctx context.Context, named map[string]map[string]string, sizes map[string]tablespaceSize) error {
	want := map[string]map[string]bool{}
	for schema, tables := range named {
		want[schema] = map[string]bool{}
		for table := range tables {
			want[schema][table] = true
		}
	}
	err := inView(ctx, in, "information_schema.STATISTICS", "INDEX_TYPE = 'FULLTEXT' AND ", want, fixedColumns(""), func(r *sqlx.Rows) (st schemaTable, _ struct{}, err error) {
		return st, struct{}{}, r.Scan(&st.schema, &st.table)
	}, func(st schemaTable, _ struct{}) {
		// One row per indexed column: marking twice is marking once.
		sp := named[st.schema][st.table]
		ts := sizes[sp]
		ts.fts.inexact = 1
		sizes[sp] = ts
	})
	if err != nil {
		return fmt.Errorf("read which candidates have FULLTEXT indexes: %w", err)
	}
	return nil
}

// readSpace tells a table in the system tablespace (file_per_table off: dropping it
// frees nothing on disk) from one whose tablespace janitor could not find.
//
// On MySQL 8 and later information_schema.INNODB_TABLES, which would say which
// tablespace holds the table, has no lookup by name: every query walks the whole
// dictionary and opens every table's definition (measured on 9.7.4: 10,175 opens and 15 s
// per lookup at 10,000 tables, the incident query's own cost). It is not needed there:
// the data dictionary gives every file-per-table table a tablespace named after it, which
// information_schema.FILES lists whether or not InnoDB has opened the file, under the
// exact name janitor asked for (tested for every class of character). A table with none
// lives in a shared one, the system tablespace or a general tablespace, and its DROP
// frees nothing on disk (measured on 9.7.4: ibdata1 and a general tablespace's file keep
// their size and their allocated blocks). The same holds for a partitioned table's
// partitions: a general tablespace refuses them (error 1478), but the system tablespace
// takes them all when the table is created with file_per_table off (measured on 9.7.4:
// INNODB_TABLES gives each partition SPACE 0, PARTITIONS names innodb_system), and a
// partitioned table with no partition tablespace frees nothing either.
//
// On MariaDB a partitioned table is found by its partitions' names (t#P#p…), every one
// of which must be in the system tablespace.
func (in *Inspector) readSpace(ctx context.Context, t *Table) {
	if in.server.Flavor == FlavorMySQL8 {
		t.Bytes, t.SizeSource = 0, SizeSharedTablespace
		return
	}
	name, err := in.tableName(t.Schema, t.Name, t.Orphan)
	if err == nil {
		d := in.server.Flavor.dialect()
		where, args := "NAME = ?", []any{name}
		if t.partitioned {
			where, args = "NAME LIKE ?", []any{escapeLike(name) + escapeLike(d.partitionSep) + "%"}
		}
		var rows []idRow
		rows, err = queryAll(ctx, in, "SELECT /* janitor */ NAME, SPACE FROM "+d.tables+" WHERE "+where,
			args, func(r *sqlx.Rows) (v idRow, err error) { return v, r.Scan(&v.name, &v.id) })
		system, seen := err == nil, 0
		for _, r := range rows {
			// Exactly: the collation folds case.
			own, part := spaceOf(name, r.name, d.partitionSep)
			if t.partitioned && !part || !t.partitioned && !own {
				continue
			}
			seen++
			system = system && r.id == 0
		}
		if system && seen > 0 {
			t.Bytes, t.SizeSource = 0, SizeSystemTablespace
			return
		}
	}
	t.Bytes, t.SizeSource = t.statBytes, SizeEstimate
}

// tableExists looks a table up with LIKE and its name escaped, not with =: an
// equality lookup makes the server open the table's definition, a pattern makes it
// match the schema's file names and open nothing. LIKE may fold case, so the match is
// checked exactly here.
//
// During InspectAll each schema's names are listed once instead, with the same
// columns and no pattern (the server reads the same directory listing and opens
// nothing), and every lookup in that schema is answered from the list: 160 lookups
// took 0.2 s at 10,000 tables on MySQL 9.7. On MySQL the names the evidence may ask
// about are looked up together instead, with the candidates' metadata (askNames). The pre-DROP re-check
// (Inspect), having no batch, always looks up fresh.
func (in *Inspector) tableExists(ctx context.Context, b *batch, schema, table string) (bool, error) {
	if b != nil && b.asked != nil {
		if b.asked[schema][table] {
			return b.names[schema][table], nil
		}
	} else if b != nil {
		names, ok := b.names[schema]
		if !ok {
			list, err := queryAll(ctx, in, `SELECT /* janitor */ TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?`,
				[]any{schema}, scanString)
			if err != nil {
				return false, fmt.Errorf("list the tables of %s: %w", dbconn.QuoteIdent(schema), err)
			}
			names = map[string]bool{}
			for _, n := range list {
				names[n] = true
			}
			b.names[schema] = names
		}
		return names[table], nil
	}
	names, err := queryAll(ctx, in, `SELECT /* janitor */ TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE ?`, []any{schema, escapeLike(table)}, scanString)
	if err != nil {
		return false, fmt.Errorf("look up %s: %w", dbconn.QualifiedName(schema, table), err)
	}
	for _, n := range names {
		if n == table {
			return true, nil
		}
	}
	return false, nil
}

func escapeLike(s string) string {
	return likeEscaper.Replace(s)
}

// likeEscaper is built once: building a Replacer per call was most of the CPU of
// digestFilter, which escapes a name rune by rune (about 10 ms for 100 names).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
