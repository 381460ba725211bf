package discovery

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
)

// Tables whose definition names other tables on the server: a MERGE table's UNION list,
// and the connection of a FEDERATED, CONNECT, SPIDER or OQGRAPH table, which may point
// back at this server (a loopback address, or this host and port) or, for CONNECT's
// TBL/PROXY/XCOL/OCCUR/PIVOT types and OQGRAPH's data_table, name a local table outright.
// Dropping a table one of them names breaks every query on it (MERGE: error 1168).
//
// Finding them is the costly part. information_schema.TABLES filtered on ENGINE is
// answered from the data dictionary on MySQL 8 (cheap), but on MariaDB and MySQL 5.7 it
// opens the definition (.frm) of every table on the server (EXPLAIN: Open_frm_only,
// Opened_table_definitions +1 per table): the incident's failure mode, if milder. So
// each listing runs only when it can matter, at most once per Inspector:
//   - MERGE tables: only for a MyISAM candidate. A MERGE table opens only identical
//     MyISAM tables; one that names a table of any other engine already fails with
//     1168, and dropping that table breaks nothing that works. (This also keeps one
//     broken MERGE table, which cannot be read, from blocking every InnoDB candidate.)
//   - FEDERATED, CONNECT, SPIDER, OQGRAPH tables: only when one of these engines is
//     loaded (information_schema.ENGINES, which opens nothing). A table of an engine the
//     server has not loaded cannot be opened, so it cannot read anything.
// Each table found is then read with SHOW CREATE TABLE, which opens that table only.

// linkEngines are the engines whose tables read another table through a connection
// string or a table list. FederatedX registers itself as FEDERATED.
var linkEngines = []string{"FEDERATED", "CONNECT", "SPIDER", "OQGRAPH"}

const mergeEngine = "MRG_MYISAM"

// refTable is a table whose definition may name others.
type refTable struct {
	Schema, Name, Engine string
	// Def is SHOW CREATE TABLE's text.
	Def string
	// Union is a MERGE table's UNION list, each entry qualified with its schema.
	Union [][2]string
}

func (r refTable) qualified() string { return dbconn.QualifiedName(r.Schema, r.Name) }

// refCache holds what one Inspector learned about such tables.
type refCache struct {
	// enginesRead: linkLoaded was read.
	enginesRead bool
	enginesErr  error
	linkLoaded  []string
	// merge, link: the tables found, by kind; nil until read.
	merge, link       []refTable
	mergeErr, linkErr error
}

// needsMerge tells whether a MERGE table can read t: see the comment at the top.
func needsMerge(t *Table) bool { return strings.EqualFold(t.Engine, "MyISAM") }

// loadedLinkEngines lists which of linkEngines the server has loaded.
func (in *Inspector) loadedLinkEngines(ctx context.Context) ([]string, error) {
	c := &in.refs
	if c.enginesRead {
		return c.linkLoaded, c.enginesErr
	}
	c.enginesRead = true
	c.linkLoaded, c.enginesErr = queryAll(ctx, in, `SELECT /* janitor */ UPPER(ENGINE) FROM information_schema.ENGINES
		WHERE SUPPORT IN ('YES', 'DEFAULT') AND UPPER(ENGINE) IN (`+placeholders(len(linkEngines))+`)`, anySlice(linkEngines), scanString)
	if c.enginesErr != nil {
		c.enginesErr = fmt.Errorf("list loaded engines: %w", c.enginesErr)
	}
	return c.linkLoaded, c.enginesErr
}

// tablesOfEngines lists, then reads, every table in a user schema whose engine is one
// of engines.
func (in *Inspector) tablesOfEngines(ctx context.Context, engines []string) ([]refTable, error) {
	args := append(anySlice(engines), anySlice(systemSchemas)...)
	found, err := queryAll(ctx, in, `SELECT /* janitor */ TABLE_SCHEMA, TABLE_NAME, UPPER(ENGINE) FROM information_schema.TABLES
		WHERE UPPER(ENGINE) IN (`+placeholders(len(engines))+`) AND TABLE_SCHEMA NOT IN (`+placeholders(len(systemSchemas))+`)`, args,
		func(r *sqlx.Rows) (rt refTable, err error) { return rt, r.Scan(&rt.Schema, &rt.Name, &rt.Engine) })
	if err != nil {
		return nil, fmt.Errorf("list %s tables: %w", strings.Join(engines, "/"), err)
	}
	out := []refTable{}
	for _, rt := range found {
		qctx, cancel := in.ctx(ctx)
		var name string
		err := in.q.QueryRowxContext(qctx, "SHOW /* janitor */ CREATE TABLE "+rt.qualified()).Scan(&name, &rt.Def)
		cancel()
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == 1146 {
			continue // dropped meanwhile
		}
		if err != nil {
			// A MERGE table one of whose tables is missing cannot be read (1168): what
			// it names is unknown, so every candidate it could name is kept.
			return nil, fmt.Errorf("read definition of %s table %s: %w", strings.ToLower(rt.Engine), rt.qualified(), err)
		}
		if rt.Engine == mergeEngine {
			u, err := unionList(rt.Def)
			if err != nil {
				return nil, fmt.Errorf("read UNION of MERGE table %s: %w", rt.qualified(), err)
			}
			for _, n := range u {
				if n[0] == "" {
					n[0] = rt.Schema // unqualified: the MERGE table's own schema
				}
				rt.Union = append(rt.Union, n)
			}
		}
		out = append(out, rt)
	}
	return out, nil
}

// mergeReferences names the MERGE tables whose UNION lists t. Names are compared without
// regard to case: with lower_case_table_names=0 that may keep a table another one's
// MERGE names, which costs only disk.
func (in *Inspector) mergeReferences(ctx context.Context, t *Table) []string {
	if !needsMerge(t) {
		return nil
	}
	c := &in.refs
	if c.merge == nil && c.mergeErr == nil {
		c.merge, c.mergeErr = in.tablesOfEngines(ctx, []string{mergeEngine})
	}
	if c.mergeErr != nil {
		t.Evidence.unreadable("MERGE tables", c.mergeErr)
		return nil
	}
	var out []string
	for _, m := range c.merge {
		for _, n := range m.Union {
			if strings.EqualFold(n[0], t.Schema) && strings.EqualFold(n[1], t.Name) {
				out = append(out, m.qualified())
				break
			}
		}
	}
	return out
}

// linkReferences names the FEDERATED, CONNECT, SPIDER and OQGRAPH tables whose
// definition names t. The host in a connection string is not resolved (127.0.0.1,
// localhost, this host's name or address, a proxy in front of it: janitor cannot tell
// them all from another server), so a definition that names t's table name anywhere, as
// a whole word, keeps it.
func (in *Inspector) linkReferences(ctx context.Context, t *Table) []string {
	loaded, err := in.loadedLinkEngines(ctx)
	if err != nil {
		t.Evidence.unreadable("loaded engines", err)
		return nil
	}
	if len(loaded) == 0 {
		return nil
	}
	c := &in.refs
	if c.link == nil && c.linkErr == nil {
		c.link, c.linkErr = in.tablesOfEngines(ctx, loaded)
	}
	if c.linkErr != nil {
		t.Evidence.unreadable(strings.Join(loaded, "/")+" tables", c.linkErr)
		return nil
	}
	// SHOW CREATE TABLE prints string options with ' doubled and \ doubled.
	escaped := strings.NewReplacer(`'`, `''`, `\`, `\\`).Replace(t.Name)
	var out []string
	for _, l := range c.link {
		if namesWord(l.Def, t.Name) || namesWord(l.Def, escaped) {
			out = append(out, fmt.Sprintf("%s (%s)", l.qualified(), strings.ToLower(l.Engine)))
		}
	}
	return out
}

// namesWord reports whether text holds name, ignoring case, with no identifier
// character right before or after it: `/db/_logs_old'`, `table "_logs_old"`,
// `TABNAME='_logs_old'`, `TABLE_LIST='a,_logs_old'` all count; `_logs_old2` does not.
func namesWord(text, name string) bool {
	if name == "" {
		return false
	}
	lt, ln := strings.ToLower(text), strings.ToLower(name)
	for i := 0; ; {
		j := strings.Index(lt[i:], ln)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(ln)
		if !identByteBefore(lt, start) && !identByteAt(lt, end) {
			return true
		}
		i = start + 1
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

func identByteBefore(s string, i int) bool { return i > 0 && isIdentByte(s[i-1]) }
func identByteAt(s string, i int) bool     { return i < len(s) && isIdentByte(s[i]) }

// unionList reads the UNION=(…) option of a MERGE table's SHOW CREATE TABLE text: a list
// of `table` or `schema`.`table`, backtick-quoted with doubled backticks inside (the
// server always prints it so, whatever the CREATE statement said). Quoted identifiers
// and string literals before it (column names, comments) are skipped, so a comment that
// says UNION=( does not count.
func unionList(def string) ([][2]string, error) {
	for i := 0; i < len(def); {
		switch c := def[i]; {
		case c == '`':
			_, n, err := readQuoted(def[i:], '`')
			if err != nil {
				return nil, err
			}
			i += n
		case c == '\'' || c == '"':
			_, n, err := readQuoted(def[i:], c)
			if err != nil {
				return nil, err
			}
			i += n
		case (c == 'U' || c == 'u') && !identByteBefore(def, i) && len(def) >= i+5 && strings.EqualFold(def[i:i+5], "UNION") && !identByteAt(def, i+5):
			rest := strings.TrimLeft(def[i+5:], " ")
			if !strings.HasPrefix(rest, "=") {
				i += 5
				continue
			}
			rest = strings.TrimLeft(rest[1:], " ")
			if !strings.HasPrefix(rest, "(") {
				return nil, errors.New("UNION= is not followed by (")
			}
			return readUnion(rest[1:])
		default:
			i++
		}
	}
	return [][2]string{}, nil // a MERGE table with an empty UNION names nothing
}

// readUnion reads `a`.`b`,`c`) from the start of s.
func readUnion(s string) ([][2]string, error) {
	var out [][2]string
	for {
		s = strings.TrimLeft(s, " ")
		if strings.HasPrefix(s, ")") {
			return out, nil
		}
		first, n, err := readIdent(s)
		if err != nil {
			return nil, err
		}
		s = strings.TrimLeft(s[n:], " ")
		entry := [2]string{"", first}
		if strings.HasPrefix(s, ".") {
			second, n, err := readIdent(strings.TrimLeft(s[1:], " "))
			if err != nil {
				return nil, err
			}
			s = strings.TrimLeft(strings.TrimLeft(s[1:], " ")[n:], " ")
			entry = [2]string{first, second}
		}
		out = append(out, entry)
		switch {
		case strings.HasPrefix(s, ","):
			s = s[1:]
		case strings.HasPrefix(s, ")"):
			return out, nil
		default:
			return nil, fmt.Errorf("unexpected text in UNION list at %.20q", s)
		}
	}
}

// readIdent reads one identifier, backtick-quoted or bare.
func readIdent(s string) (string, int, error) {
	if strings.HasPrefix(s, "`") || strings.HasPrefix(s, `"`) { // "…" under ANSI_QUOTES
		return readQuoted(s, s[0])
	}
	n := 0
	for n < len(s) && isIdentByte(s[n]) {
		n++
	}
	if n == 0 {
		return "", 0, fmt.Errorf("expected a table name in UNION list at %.20q", s)
	}
	return s[:n], n, nil
}

// readQuoted reads a quoted token starting at s[0] == q, where a doubled quote stands for
// one (and, in string literals, a backslash escapes the next byte). It returns the
// unquoted text and the bytes consumed.
func readQuoted(s string, q byte) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case q == '\'' && s[i] == '\\' && i+1 < len(s):
			b.WriteByte(s[i+1])
			i++
		case s[i] == q && i+1 < len(s) && s[i+1] == q:
			b.WriteByte(q)
			i++
		case s[i] == q:
			return b.String(), i + 1, nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, fmt.Errorf("unterminated %c in %.40q", q, s)
}
