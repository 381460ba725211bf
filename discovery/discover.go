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
	"regexp"
	"sort"
	"strings"
	"time"

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
	// Orphan names come from the InnoDB dictionary, not from TABLES.
	Orphan bool
	// DictName is the InnoDB dictionary name (db/table) of an orphan.
	DictName string
}

// Inspector looks at one server.
type Inspector struct {
	q      Querier
	server Server
	opts   Options
	log    *slog.Logger
	// viewDefs caches every view's definition for this Inspector's life.
	viewDefs []viewDef
	// triggers caches every trigger for this Inspector's life.
	triggers []trigger
	// routines caches every stored procedure and function for this Inspector's life;
	// routinesErr, that some could not be read.
	routines    []routine
	routinesErr error
	// sizes holds tablespace sizes read ahead by PrefetchSizes, by dictionary name.
	sizes map[string]tablespaceSize
}

type tablespaceSize struct {
	files       int
	size, alloc int64
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
	all, err := queryAll(ctx, in, query, args, func(r *sqlx.Rows) (n Name, err error) { return n, r.Scan(&n.Schema, &n.Table) })
	if err != nil {
		return nil, fmt.Errorf("list table names: %w", err)
	}
	var out []Name
	for _, n := range all {
		if len(Classify(n.Table)) > 0 {
			out = append(out, n)
		}
	}
	orphans, err := in.listOrphans(ctx)
	if err != nil {
		return nil, err
	}
	out = append(out, orphans...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Schema != out[j].Schema {
			return out[i].Schema < out[j].Schema
		}
		return out[i].Table < out[j].Table
	})
	return out, nil
}

// listOrphans finds crashed ALTERs' #sql tables, which only InnoDB shows. It reads the
// tablespace list, which the server keeps in memory, rather than the table dictionary,
// whose scan reads dictionary pages from disk (+16 MB server RSS at 10,000 tables). An
// orphan without a tablespace of its own frees no disk, so nothing worth finding is
// missed. The list holds every tablespace on MySQL 5.7 and 8 and MariaDB before 10.6;
// from 10.6 only opened ones, but there crash recovery removes #sql orphans itself.
func (in *Inspector) listOrphans(ctx context.Context) ([]Name, error) {
	dicts, err := queryAll(ctx, in, "SELECT /* janitor */ NAME FROM "+in.server.Flavor.dialect().tablespaces+" WHERE NAME LIKE '%/#sql%'", nil, scanString)
	if err != nil {
		return nil, fmt.Errorf("list #sql orphans: %w", err)
	}
	var out []Name
	for _, dict := range dicts {
		db, table, ok := strings.Cut(dict, "/")
		if !ok || len(Classify(table)) == 0 || in.excluded(DecodeFilename(db)) {
			continue
		}
		out = append(out, Name{Schema: DecodeFilename(db), Table: table, Orphan: true, DictName: dict})
	}
	return out, nil
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
// than on an error path. It reads sizes by name (no prefetch): it is the pre-DROP
// re-check's view.
func (in *Inspector) Inspect(ctx context.Context, n Name) (*Table, error) {
	t, err := in.open(ctx, n)
	if err != nil {
		return nil, err
	}
	in.finish(ctx, t)
	return t, nil
}

// InspectAll inspects every candidate of an inventory. The metadata lookup opens each
// candidate first; only then are all tablespace sizes read in one pass, because MariaDB
// loads a tablespace into the list that view reads only when its table is first opened
// after a restart: read first, most leftovers would have no size. Candidates that
// vanished meanwhile are left out.
func (in *Inspector) InspectAll(ctx context.Context, names []Name) ([]*Table, error) {
	var tables []*Table
	var found []Name
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t, err := in.open(ctx, n)
		if errors.Is(err, ErrGone) {
			continue
		}
		if err != nil {
			return nil, err
		}
		tables = append(tables, t)
		found = append(found, n)
	}
	if err := in.PrefetchSizes(ctx, found); err != nil {
		return nil, err
	}
	for _, t := range tables {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		in.finish(ctx, t)
	}
	return tables, nil
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

// open classifies a candidate and reads its metadata, which opens the table.
func (in *Inspector) open(ctx context.Context, n Name) (*Table, error) {
	t := &Table{Schema: n.Schema, Name: n.Table, Orphan: n.Orphan}
	t.Readings = Classify(n.Table)
	if len(t.Readings) == 0 {
		return nil, fmt.Errorf("%s: no rule matches", dbconn.QualifiedName(n.Schema, n.Table))
	}
	if err := in.readNow(ctx, &t.Evidence); err != nil {
		return nil, err
	}
	if n.Orphan {
		t.Type, t.Engine = "BASE TABLE", "InnoDB"
		t.dictName = n.DictName
	} else if err := in.readMeta(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// finish reads the size and the evidence of an opened candidate.
func (in *Inspector) finish(ctx context.Context, t *Table) {
	in.readSize(ctx, t)
	in.resolve(ctx, t)
	in.gather(ctx, t)
}

func (in *Inspector) readNow(ctx context.Context, ev *Evidence) error {
	qctx, cancel := in.ctx(ctx)
	defer cancel()
	if err := in.q.QueryRowxContext(qctx, "SELECT /* janitor */ UTC_TIMESTAMP(6)").Scan(&ev.Now); err != nil {
		return fmt.Errorf("read server time: %w", err)
	}
	return nil
}

// readMeta looks the table up by schema and name: the server opens this one table only.
func (in *Inspector) readMeta(ctx context.Context, t *Table) error {
	qctx, cancel := in.ctx(ctx)
	defer cancel()
	var engine, comment sql.NullString
	var created, updated sql.NullTime
	var dataLen, indexLen sql.NullInt64
	err := in.q.QueryRowxContext(qctx, `SELECT /* janitor */ TABLE_TYPE, ENGINE, CREATE_TIME, UPDATE_TIME, TABLE_COMMENT,
		DATA_LENGTH, INDEX_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`,
		t.Schema, t.Name).Scan(&t.Type, &engine, &created, &updated, &comment, &dataLen, &indexLen)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", dbconn.QualifiedName(t.Schema, t.Name), ErrGone)
	}
	if err != nil {
		return fmt.Errorf("read metadata of %s: %w", dbconn.QualifiedName(t.Schema, t.Name), err)
	}
	t.Engine, t.Comment = engine.String, comment.String
	if created.Valid {
		c := created.Time.UTC()
		t.CreatedAt = &c
	}
	if updated.Valid {
		u := updated.Time.UTC()
		t.UpdatedAt = &u
	}
	t.statBytes = dataLen.Int64 + indexLen.Int64
	return nil
}

// readSize reads the bytes a DROP would free from the tablespace file, not from the
// statistics in TABLES, which go stale (a renamed table showed 48 KiB for a 17 MiB file).
func (in *Inspector) readSize(ctx context.Context, t *Table) {
	if !strings.EqualFold(t.Engine, "InnoDB") {
		if t.Type == "BASE TABLE" {
			// MyISAM and Aria compute these from the files themselves.
			t.Bytes, t.SizeSource = t.statBytes, SizeTableStatus
		}
		return
	}
	name := dictNameOf(t.Schema, t.Name, t.dictName)
	var size, alloc sql.NullInt64
	var files int
	var err error
	if ts, ok := in.sizes[name]; ok {
		files, size.Int64, alloc.Int64 = ts.files, ts.size, ts.alloc
	} else {
		qctx, cancel := in.ctx(ctx)
		// Partitions live in tablespaces named db/t#P#p0; sum them.
		err = in.q.QueryRowxContext(qctx, "SELECT /* janitor */ COUNT(*), SUM(FILE_SIZE), SUM(ALLOCATED_SIZE) FROM "+
			in.server.Flavor.dialect().tablespaces+" WHERE NAME = ? OR NAME LIKE ?",
			name, escapeLike(name)+"#P#%").Scan(&files, &size, &alloc)
		cancel()
	}
	switch {
	case err != nil:
		t.SizeSource = SizeUnknown
		t.Evidence.unreadable("size", err)
	case files == 0:
		in.readSpace(ctx, t, name)
	default:
		t.Bytes, t.SizeSource = alloc.Int64, SizeTablespace
		if t.Bytes == 0 {
			t.Bytes = size.Int64
		}
	}
}

func dictNameOf(schema, table, dict string) string {
	if dict != "" {
		return dict
	}
	return EncodeFilename(schema) + "/" + EncodeFilename(table)
}

// prefetchBatch bounds the IN list of one PrefetchSizes query.
const prefetchBatch = 200

// PrefetchSizes reads the tablespace sizes of many candidates with one read of the
// InnoDB dictionary per batch. Each lookup by name scans the same in-memory dictionary
// (about 30 ms at 10,000 tables), so for an inventory one filtered scan replaces one
// scan per candidate. It opens no table. Inspect falls back to a per-table lookup for
// any name not prefetched; the pre-DROP re-check always looks up fresh.
func (in *Inspector) PrefetchSizes(ctx context.Context, names []Name) error {
	sizes := map[string]tablespaceSize{}
	for start := 0; start < len(names); start += prefetchBatch {
		batch := names[start:min(start+prefetchBatch, len(names))]
		var conds []string
		var args []any
		for _, n := range batch {
			d := dictNameOf(n.Schema, n.Table, n.DictName)
			sizes[d] = tablespaceSize{}
			// Partitions are db/t#P#p0 on MariaDB and MySQL 5.7, db/t#p#p0 on MySQL 8;
			// the column's collation may be binary, so both are asked for.
			conds = append(conds, "NAME = ? OR NAME LIKE ? OR NAME LIKE ?")
			args = append(args, d, escapeLike(d)+"#P#%", escapeLike(d)+"#p#%")
		}
		type row struct {
			name        string
			size, alloc int64
		}
		rows, err := queryAll(ctx, in, "SELECT /* janitor */ NAME, FILE_SIZE, ALLOCATED_SIZE FROM "+
			in.server.Flavor.dialect().tablespaces+" WHERE "+strings.Join(conds, " OR "), args,
			func(r *sqlx.Rows) (v row, err error) { return v, r.Scan(&v.name, &v.size, &v.alloc) })
		if err != nil {
			return fmt.Errorf("read tablespace sizes: %w", err)
		}
		for _, r := range rows {
			// Partitions add up to their table.
			name := partitionOf(r.name)
			if ts, ok := sizes[name]; ok {
				ts.files++
				ts.size += r.size
				ts.alloc += r.alloc
				sizes[name] = ts
			}
		}
	}
	in.sizes = sizes
	return nil
}

// partitionSep finds the partition part of a tablespace name: #P# on MariaDB and MySQL
// 5.7, #p# on MySQL 8 (subpartitions, #sp#, follow it).
var partitionSep = regexp.MustCompile(`(?i)#p#`)

// partitionOf returns the table's tablespace name for a partition's (db/t#p#p0 → db/t),
// and name itself for a table's.
func partitionOf(name string) string {
	if loc := partitionSep.FindStringIndex(name); loc != nil {
		return name[:loc[0]]
	}
	return name
}

// readSpace tells a table in the system tablespace (file_per_table off: dropping it
// frees nothing on disk) from one whose tablespace janitor could not find.
//
// Not on MySQL 8 and later: there information_schema.INNODB_TABLES has no lookup by name;
// every query walks the whole dictionary and opens every table's definition (measured on
// 9.7.4: 10,175 opens and 15 s per lookup at 10,000 tables, the incident query's own
// cost). The statistics' estimate stands there instead.
func (in *Inspector) readSpace(ctx context.Context, t *Table, name string) {
	if in.server.Flavor == FlavorMySQL8 {
		t.Bytes, t.SizeSource = t.statBytes, SizeEstimate
		return
	}
	qctx, cancel := in.ctx(ctx)
	defer cancel()
	var space int64
	err := in.q.QueryRowxContext(qctx, "SELECT /* janitor */ SPACE FROM "+in.server.Flavor.dialect().tables+" WHERE NAME = ?", name).Scan(&space)
	if err == nil && space == 0 {
		t.Bytes, t.SizeSource = 0, SizeSystemTablespace
		return
	}
	t.Bytes, t.SizeSource = t.statBytes, SizeEstimate
}

// tableExists looks a table up with LIKE and its name escaped, not with =: an
// equality lookup makes the server open the table's definition, a pattern makes it
// match the schema's file names and open nothing. LIKE may fold case, so the match is
// checked exactly here.
func (in *Inspector) tableExists(ctx context.Context, schema, table string) (bool, error) {
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
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
