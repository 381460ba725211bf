package discovery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/jmoiron/sqlx"
)

// Reads by name. The evidence rules look at what is on the server now (sessions,
// triggers, bodies); a read that ran and ended leaves none of it. The server's
// statement statistics keep some of it, and janitor reads them twice:
//
//   - before holding or dropping (recent_read): a leftover whose rows were read within
//     policy.min_age is in use. Only a source with a time can say "within": the
//     statement digests' LAST_SEEN. performance_schema's per-table counters and
//     MariaDB's userstat count since the server started (or since someone truncated
//     or flushed them), so a count above zero says "read since then" and is recent
//     only when "then" is within policy.min_age;
//   - during a hold (accessed_during_hold, and the automatic restore): the application
//     asks for the ORIGINAL name, and every such statement fails with 1146. The hold
//     name's counters never see it. The digests do (their text names the original name,
//     SUM_ERRORS counts the failure, LAST_SEEN dates it), and so does a failed
//     statement still in performance_schema's statement history, whose message names
//     the table ("Table 'shop._orders_old' doesn't exist") even when its text was built
//     at run time (CONCAT + PREPARE inside a procedure). MySQL also counts 1146 per
//     account (events_errors_summary_by_account_by_error), with no table: one raised
//     since the hold began by an account other than janitor's keeps the table,
//     unattributed, unless a source ties it to a table (explained).
//
// Everything is read once per Inspector (one query per source and shard, whatever the
// number of candidates) and matched in memory: a digest's text quotes every identifier,
// so its names are indexed, not searched.

// NameUse is what the statement statistics say about statements naming one table.
type NameUse struct {
	// Last is the latest time a statement naming it ran (nil: none seen).
	Last *time.Time
	// What describes the latest one ("SELECT … (digest, 12 runs, 12 failed)").
	What []string
	// Failed counts statements naming it that failed with 1146 (it did not exist).
	Failed int64
}

// Reads is the evidence of recent reads of a table that is not held.
type Reads struct {
	// Last is the latest read with a time (statement digests); nil when none.
	Last *time.Time
	// LastWhat says which statement.
	LastWhat string
	// Count is how many reads the counters saw since CountSince (0: none).
	Count int64
	// CountSince is when those counters started counting (the server's start).
	CountSince *time.Time
	// CountWhat names the counters.
	CountWhat string
}

// errAccount is one account's 1146 errors (MySQL's error summary).
type errAccount struct {
	account string
	raised  int64
	last    time.Time
}

type digestRow struct {
	schema string
	text   string
	count  int64
	errors int64
	last   time.Time
}

type digestRef struct {
	digest int
	qual   string // lower-cased qualifying schema, "" when unqualified
	// anySchema: the name was found by its text, not parsed, and its schema is unknown.
	anySchema bool
}

// names reports whether ref's digest names schema.table (ls: schema lower-cased).
func (ref digestRef) names(d digestRow, ls, schema string) bool {
	return ref.anySchema || ref.qual == ls || ref.qual == "" && strings.EqualFold(d.schema, schema)
}

// refs lists the digests that name table. MySQL 9.7 writes a backtick inside a name
// as it is, not doubled (measured: `we`ird`; MariaDB 11.8 doubles it), so a digest
// naming such a table cannot be parsed: for those names every digest that holds the
// quoted name, raw or doubled, names it, in any schema. A wrong match keeps a table; a
// missed one drops it.
func (c *useCache) refs(table string) []digestRef {
	lt := strings.ToLower(table)
	out := c.byName[lt]
	if !strings.Contains(table, "`") {
		return out
	}
	raw, doubled := "`"+lt+"`", "`"+strings.ReplaceAll(lt, "`", "``")+"`"
	for i, d := range c.digests {
		if ownStatement(d.text) {
			continue
		}
		if l := strings.ToLower(d.text); strings.Contains(l, raw) || strings.Contains(l, doubled) {
			out = append(out, digestRef{digest: i, anySchema: true})
		}
	}
	return out
}

type failedStmt struct {
	at   *time.Time
	text string
	// account is the session's user@host while it lives, as the error summary by
	// account writes it ("" once it ended, or for a thread of no user).
	account string
}

// useKey is a table whose reads by name a lookup wants: a candidate, or a held table's
// original name.
type useKey struct{ schema, table string }

// useCache holds, for one Inspector's life, what the statement statistics say about the
// names it was asked for (want): only their rows are read, plus every digest with an
// error (a CALL, an EXECUTE, an error summary's statement need those whatever they name).
type useCache struct {
	read bool
	pfs  bool
	// want are the names read so far; covered indexes them ("schema\x00table", as listed).
	want    []useKey
	covered map[useKey]bool
	// digestWhy says why statement digests are not read ("" when they are);
	// digestPartial, why some may be missing.
	digestWhy, digestPartial string
	digests                  []digestRow
	byName                   map[string][]digestRef
	// failed maps "schema.table" (lower-cased) to failed statements in the history.
	failed     map[string][]failedStmt
	historyWhy string
	// errs is read at the first held table only: nothing else needs it, and only when
	// the gate (errsGate) says a 1146 may have been raised since that table's hold began.
	errsRead bool
	errs     []errAccount
	errsWhy  string
	// missing are the names janitor holds or restored, read when an account's 1146
	// needs them (missingNames).
	missing map[string][]missingName
	// gate is the server's latest 1146, any account, read once (errsGate).
	gate errGate
	// digestsAll: the digests read are every digest (an unfiltered read), and
	// digestRows counts the digest table's rows that read read, the catch-all row of
	// lost statements among them (queryDigests).
	digestsAll bool
	digestRows int64
	// consumers are performance_schema's consumers and whether each is on.
	consumers map[string]bool
	// maxDigest is the bytes of a statement's tokens a digest keeps (max_digest_length,
	// or performance_schema_max_digest_length when smaller).
	maxDigest int
	// counts maps schema and table to reads counted since countsSince; countsFrom
	// says which source fills it ("" when none).
	counts map[[2]string]int64
	// lockCounted and ioCounted: the table lock and table I/O instruments are on
	// (instrumentsRead: read, once per look).
	instrumentsRead, lockCounted, ioCounted bool
	countsFrom                              string
	countsWhat                              string
	countsSince                             time.Time
	countsWhy                               string
	err                                     error
	// now is the inventory's server clock (the batch's), when an inventory read the
	// sources: the counters' window is measured from it.
	now time.Time
}

// loadUses reads every source once per Inspector; a source a flavor or configuration
// lacks is a reason in the cache, a failed read is c.err.
//
// want are the tables the caller looks for. Only their digests (and the digests with
// errors) and their counter rows are read: the digest table holds up to 10,000
// statements of up to 1 KB each, and the counters a row per table of the server, which
// cost more than the 2023 incident's query at 10,000 tables (docs/benchmarks.md). An
// inventory asks for all its candidates and held tables' original names at once
// (InspectAll); a re-check outside one asks for its table alone, and a later name on
// the same Inspector reads that name's rows afresh.
func (in *Inspector) loadUses(ctx context.Context, b *batch, want ...useKey) *useCache {
	c := &in.uses
	// An inventory (b: InspectAll's batch) reads for all its names at once, by its clock.
	if b != nil {
		if !b.now.IsZero() {
			c.now = b.now
			if c.read && c.countsFrom != "" {
				// Read early (beginUses, before the batch read the server's clock).
				c.countsSince = in.server.Started(c.now)
			}
		}
		if len(b.useWant) > 0 {
			want = append(append([]useKey(nil), b.useWant...), want...)
		}
	}
	if !c.read {
		in.beginUses(ctx, want)
		return c
	}
	if c.err != nil {
		return c
	}
	var missing []useKey
	for _, k := range want {
		if !c.covered[k] {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return c
	}
	if b != nil {
		c.setWant(append(c.want, missing...))
	} else {
		c.setWant(want)
	}
	// An inventory's later names are held tables' original names (InspectAll): no
	// rule weighs their counters (recentReads looks at candidates only), and their
	// read would scan the summary again.
	if err := in.readByName(ctx, c, missing, b == nil); err != nil {
		c.err = err
	}
	return c
}

// beginUses reads every source once for want: the first read of an Inspector's life.
func (in *Inspector) beginUses(ctx context.Context, want []useKey) {
	c := &in.uses
	c.read = true
	c.setWant(want)
	// Each query gets its own discovery.query_timeout (scalar, queryAll, queryEach).
	var pfs, maxDigest sql.NullInt64
	if err := in.scalar(ctx, "SELECT /* janitor */ @@performance_schema, LEAST(@@max_digest_length, @@performance_schema_max_digest_length)", &pfs, &maxDigest); err != nil {
		c.err = fmt.Errorf("read @@performance_schema: %w", err)
		return
	}
	c.pfs = pfs.Int64 == 1
	c.maxDigest = int(maxDigest.Int64)
	if !c.pfs {
		c.digestWhy = "performance_schema is off"
		c.historyWhy, c.errsWhy, c.countsWhy = c.digestWhy, c.digestWhy, c.digestWhy
		c.errsRead = true
	} else {
		c.countsFrom = "performance_schema"
		if err := in.loadCounters(ctx, c, c.want); err != nil {
			c.err = err
			return
		}
		// Every digest, always: performance_schema's counters can miss a use a digest
		// keeps (they can be truncated, paused, or reset by a RENAME; a statement that
		// failed before it opened the table counts nowhere else), and no cheap read
		// tells that they did not.
		if err := in.loadDigests(ctx, c); err != nil {
			c.err = err
			return
		}
		if err := in.loadHistory(ctx, c); err != nil {
			c.err = err
			return
		}
	}
	if c.counts == nil && in.server.Flavor == FlavorMariaDB {
		if err := in.loadUserstat(ctx, c); err != nil {
			c.err = err
		}
	}
}

// setWant replaces the names the cache reads.
func (c *useCache) setWant(want []useKey) {
	c.want, c.covered = nil, map[useKey]bool{}
	for _, k := range want {
		if !c.covered[k] {
			c.covered[k] = true
			c.want = append(c.want, k)
		}
	}
}

// readByName reads the sources that are filtered by name for names new to the cache
// (missing, now in c.want): the digests again, filtered by c.want, unless a read of
// every digest is already indexed (an inventory's), and, when counters, the counter
// rows of missing.
func (in *Inspector) readByName(ctx context.Context, c *useCache, missing []useKey, counters bool) error {
	if c.digestWhy == "" && !c.digestsAll {
		if err := in.readDigests(ctx, c); err != nil {
			return err
		}
	}
	if !counters {
		return nil
	}
	switch c.countsFrom {
	case "performance_schema":
		return in.loadCounters(ctx, c, missing)
	case "userstat":
		return in.readUserstat(ctx, c)
	}
	return nil
}

// loadErrors reads MySQL's error summary once, at the first held table that needs it:
// one held since since. The summary by account is a full scan of one row per account
// and error number (9,740 rows and up to 0.32 s on the drops benchmark's server,
// docs/benchmarks.md), sent before every hold statement and DROP of a held table; the
// server-wide count of 1146 is one row read by its key. When that row says no 1146 was
// raised since since (a second's margin: both keep whole seconds), no account's row can
// have one either and the scan would find nothing to keep the table for. A gate that
// cannot be read, or says nothing, does not skip it.
func (in *Inspector) loadErrors(ctx context.Context, c *useCache, since time.Time) error {
	if c.errsRead {
		return nil
	}
	if in.server.Flavor != FlavorMariaDB && in.errsGate(ctx, c).quietSince(since) {
		return nil
	}
	c.errsRead = true
	return in.loadErrorSummary(ctx, c)
}

// errGate is performance_schema's server-wide row for error 1146.
type errGate struct {
	read bool
	// ok: the row was read and found; raised and last are its count and latest time
	// (last zero when none was raised).
	ok     bool
	raised int64
	last   time.Time
}

// quietSince reports whether the gate shows no 1146 raised after since: read, found,
// and either none raised or the latest a second or more before since.
func (g errGate) quietSince(since time.Time) bool {
	return g.ok && (g.raised == 0 || g.last.IsZero() || !g.last.Add(time.Second).After(since))
}

// errsGate reads, once per Inspector, how many 1146 errors the server raised and when
// last (events_errors_summary_global_by_error: every account's and thread's, janitor's
// own included). A failed read is logged and leaves the gate shut: the scan runs.
func (in *Inspector) errsGate(ctx context.Context, c *useCache) errGate {
	if c.gate.read {
		return c.gate
	}
	c.gate.read = true
	var raised sql.NullInt64
	var last sql.NullFloat64
	err := in.scalar(ctx, `SELECT /* janitor */ SUM_ERROR_RAISED, UNIX_TIMESTAMP(LAST_SEEN)
		FROM performance_schema.events_errors_summary_global_by_error WHERE ERROR_NUMBER = 1146`, &raised, &last)
	if err != nil {
		if !errors.Is(err, sql.ErrNoRows) {
			in.log.DebugContext(ctx, "read the server's count of error 1146: reading every account's instead", "error", err)
		}
		return c.gate
	}
	c.gate.ok = raised.Valid
	c.gate.raised = raised.Int64
	if last.Valid {
		c.gate.last = unixTime(last.Float64)
	}
	return c.gate
}

// scalar reads one row under discovery.query_timeout.
func (in *Inspector) scalar(ctx context.Context, query string, dest ...any) error {
	qctx, cancel := in.ctx(ctx)
	defer cancel()
	return in.q.QueryRowxContext(qctx, query).Scan(dest...)
}

// consumers reads performance_schema's consumers once per Inspector: the digests and
// the statement history both need them, within one look.
func consumers(ctx context.Context, in *Inspector) (map[string]bool, error) {
	if c := in.uses.consumers; c != nil {
		return c, nil
	}
	on, err := readConsumers(ctx, in)
	if err == nil {
		in.uses.consumers = on
	}
	return on, err
}

func readConsumers(ctx context.Context, in *Inspector) (map[string]bool, error) {
	ctx, cancel := in.ctx(ctx)
	defer cancel()
	on := map[string]bool{}
	rows, err := in.q.QueryxContext(ctx, "SELECT /* janitor */ NAME, ENABLED FROM performance_schema.setup_consumers")
	if err != nil {
		return nil, fmt.Errorf("read performance_schema.setup_consumers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, en string
		if err := rows.Scan(&name, &en); err != nil {
			return nil, fmt.Errorf("read performance_schema.setup_consumers: %w", err)
		}
		on[name] = en == "YES"
	}
	return on, rows.Err()
}

// loadDigests reads every statement digest. At most performance_schema_digests_size
// rows (10,000 by default), each text at most max_digest_length (1,024) bytes.
func (in *Inspector) loadDigests(ctx context.Context, c *useCache) error {
	on, err := consumers(ctx, in)
	if err != nil {
		return err
	}
	if !on["global_instrumentation"] || !on["statements_digest"] {
		c.digestWhy = "performance_schema's statements_digest (or global_instrumentation) consumer is disabled"
		return nil
	}
	var name string
	var lost int64
	err = in.scalar(ctx, "SHOW /* janitor */ GLOBAL STATUS LIKE 'Performance_schema_digest_lost'", &name, &lost)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("read Performance_schema_digest_lost: %w", err)
	}
	// An inventory's read of every digest comes first, and counts them: a second scan
	// of the table to learn its room (digestRoom) is then not needed.
	if err := in.readDigests(ctx, c); err != nil {
		return err
	}
	if lost > 0 {
		// The counter never goes back, a TRUNCATE of the digest table included: a table
		// with room now (its rows, the catch-all row of lost statements among them, fewer
		// than its size) has lost nothing since it was last emptied, and that TRUNCATE's
		// own loss is the one every reason already owns to (docs/dropping.md).
		rows, size, err := in.digestRoom(ctx, c)
		if err != nil {
			return fmt.Errorf("read the digest table's size: %w", err)
		}
		if size.Int64 > 0 && rows.Int64 < size.Int64 {
			lost = 0
		}
	}
	if lost > 0 {
		c.digestPartial = fmt.Sprintf("performance_schema's digest table filled up (Performance_schema_digest_lost %d): statements new since then are not told apart", lost)
	}
	return nil
}

// digestRoom returns the digest table's rows and its size. An unfiltered read counted
// the rows as it read them all: only the size is asked then, not a second scan of the
// table (30 ms at 10,000 digests on MySQL 9.7). That count is of the moment of the
// digests janitor reads, before the lost counter was read: a table with room then had
// lost nothing up to that moment, which is what the caller needs to know.
func (in *Inspector) digestRoom(ctx context.Context, c *useCache) (rows, size sql.NullInt64, err error) {
	if c.digestsAll {
		rows = sql.NullInt64{Int64: c.digestRows, Valid: true}
		return rows, size, in.scalar(ctx, "SELECT /* janitor */ @@performance_schema_digests_size", &size)
	}
	return rows, size, in.scalar(ctx, "SELECT /* janitor */ COUNT(*), @@performance_schema_digests_size FROM performance_schema.events_statements_summary_by_digest", &rows, &size)
}

// maxDigestPatterns bounds the LIKE patterns of one digest read. Each is matched
// against every digest's text on the server, which costs more than sending the text:
// on MySQL 9.7 with 10,000 digests, reading them all took 0.3-0.5 s, one pattern
// 0.2-0.3 s, 100 patterns 1.5-2.1 s (docs/benchmarks.md). A re-check (one name) filters;
// an inventory of more names reads every digest, once.
const maxDigestPatterns = 4

// digestFilter is the WHERE clause that keeps the digests that may name one of want,
// and every digest with an error. A digest quotes every identifier in backticks, a
// backtick inside doubled (digestIdents), so a digest the in-memory matcher finds
// holds "`name`" verbatim; LIKE compares under the column's case-insensitive
// collation, as the matcher compares lower-cased names, and may keep more, never fewer.
func digestFilter(want []useKey, max int) (string, []any) {
	seen := map[string]bool{}
	var names []string
	for _, k := range want {
		l := strings.ToLower(k.table)
		if !seen[l] {
			seen[l] = true
			names = append(names, k.table)
		}
	}
	if len(names) > max {
		// An inventory's: no pattern is built for a filter that is not used.
		return "", nil
	}
	var likes []string
	var args []any
	for _, n := range names {
		likes = append(likes, "DIGEST_TEXT LIKE ?")
		args = append(args, digestPattern(n))
	}
	// Every CALL too: a procedure that builds its SQL at run time and catches the error
	// asks for a held name with a CALL that succeeds and names nothing (dynamicCalls).
	return " AND (SUM_ERRORS > 0 OR DIGEST_TEXT LIKE 'CALL %'" + orJoin(likes) + ")", args
}

// digestPattern is the LIKE pattern of a digest that quotes name. The matcher compares
// names lower-cased rune by rune (strings.ToLower), which the server's collations do
// not all mirror: a character outside ASCII, and k and i (the Kelvin sign and the
// dotted capital I lower-case to them), match any one character, so the pattern keeps
// every digest the matcher may find, and some more.
func digestPattern(name string) string {
	var b strings.Builder
	b.WriteString("%`")
	for _, r := range name {
		switch {
		case r >= 0x80 || r == 'k' || r == 'K' || r == 'i' || r == 'I':
			b.WriteByte('_')
		case r == '`':
			// Doubled on some servers, as it is on MySQL 9.7 (refs).
			b.WriteByte('%')
		default:
			b.WriteString(escapeLike(string(r)))
		}
	}
	b.WriteString("`%")
	return b.String()
}

func orJoin(clauses []string) string {
	if len(clauses) == 0 {
		return ""
	}
	return " OR " + strings.Join(clauses, " OR ")
}

// readDigests reads the digests that may name c.want, or failed, and indexes them by
// the names they hold.
func (in *Inspector) readDigests(ctx context.Context, c *useCache) error {
	where, args := digestFilter(c.want, maxDigestPatterns)
	rows, total, err := in.queryDigests(ctx, where, args)
	if err != nil {
		return err
	}
	c.digests, c.digestsAll, c.digestRows = rows, where == "", total
	c.byName = indexDigests(rows)
	return nil
}

// queryDigests reads the statement digests, filtered by where (digestFilter), and
// counts the rows of the digest table it read: unfiltered, every row, the catch-all row
// of statements it had no room for (no text) among them.
func (in *Inspector) queryDigests(ctx context.Context, where string, args []any) ([]digestRow, int64, error) {
	if where != "" {
		where = " WHERE DIGEST_TEXT IS NOT NULL" + where
	}
	var rows []digestRow
	var total int64
	err := queryEach(ctx, in, `SELECT /* janitor */ COALESCE(SCHEMA_NAME, ''), DIGEST_TEXT, COUNT_STAR, SUM_ERRORS, UNIX_TIMESTAMP(LAST_SEEN)
		FROM performance_schema.events_statements_summary_by_digest`+where, args,
		func(r *sqlx.Rows) error {
			var d digestRow
			var text sql.NullString
			var last sql.NullFloat64
			if err := r.Scan(&d.schema, &text, &d.count, &d.errors, &last); err != nil {
				return err
			}
			total++
			if text.Valid {
				d.text, d.last = text.String, unixTime(last.Float64)
				rows = append(rows, d)
			}
			return nil
		})
	if err != nil {
		return nil, 0, fmt.Errorf("read performance_schema.events_statements_summary_by_digest: %w", err)
	}
	return rows, total, nil
}

// readsAside reports whether an inventory of names reads its sources of reads by name
// on a second connection (startUses): on MySQL (MariaDB 11.8 reads its digests in
// milliseconds), with a pool to take the connection from, and names more than a
// re-check's filter takes, for which the digest table is read whole, at 0.1-0.3 s at
// 10,000 digests, whatever the filter (docs/benchmarks.md).
func (in *Inspector) readsAside(names []Name) bool {
	if _, pool := in.q.(*sqlx.DB); !pool || in.server.Flavor == FlavorMariaDB {
		return false
	}
	want := make([]useKey, 0, len(names))
	for _, n := range names {
		want = append(want, useKey{n.Schema, n.Table})
	}
	where, _ := digestFilter(want, maxDigestPatterns)
	return where == ""
}

// startUses reads the sources of reads by name for an inventory's names on the pool's
// other connection, begun with the inventory, while the first connection reads the
// candidates' metadata (which opens them): the counters (16-30 ms at 100 candidates
// and 10,000 tables on MySQL 9.7), the digests (0.1-0.3 s at 10,000) and the
// statement history then overlap that read instead of following it. The same
// statements as when the first candidate's gather reads them; only where they run
// aside (readsAside). Until b.used closes nothing else may touch in.uses. The
// processlist read need not wait for them: it leaves janitor's own reads out (ownRead).
// A held table's original name, known from its comment only after the metadata read,
// is read after (InspectAll).
func (in *Inspector) startUses(ctx context.Context, b *batch, names []Name) {
	if !b.aside || len(names) == 0 {
		return
	}
	want := make([]useKey, 0, len(names))
	for _, n := range names {
		want = append(want, useKey{n.Schema, n.Table})
	}
	b.used = make(chan struct{})
	go func() {
		defer close(b.used)
		in.beginUses(ctx, want)
	}()
}

// ownRead is the processlist condition that leaves out janitor's own reads: a
// statement of janitor's own account that begins as every read janitor sends does. Many
// of them name candidates (the metadata, FULLTEXT, foreign-key and counter reads), and
// the server lists one in the processlist for a moment after janitor has its rows
// (measured on MySQL 9.7: a processlist read began up to a millisecond before the counter
// read on the other connection ended, in 1-6 % of inventories of 30 candidates; the
// pool's two connections take statements in turn, so the read just before the
// processlist read is often on the other one). A read by janitor is not a session using
// a table; another janitor's DDL on it (a hold, a DROP, a purge) is not a read and is
// still seen.
const ownRead = "(INFO LIKE 'SELECT /* janitor */%' AND USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1))"

// waitUses waits for startUses' read, if any.
func (b *batch) waitUses() {
	if b.used != nil {
		<-b.used
	}
}

// indexDigests indexes the digests by the names they hold, all but janitor's own
// (ownStatement): which of them read data (readsData, before a hold) or ask for a held
// table (asksFor, during one) each reader decides.
func indexDigests(rows []digestRow) map[string][]digestRef {
	byName := map[string][]digestRef{}
	for i, d := range rows {
		if ownStatement(d.text) {
			continue
		}
		for _, id := range digestIdents(d.text) {
			byName[strings.ToLower(id.name)] = append(byName[strings.ToLower(id.name)], digestRef{digest: i, qual: strings.ToLower(id.qual)})
		}
	}
	return byName
}

func unixTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

// loadHistory reads the failed statements (1146) still in performance_schema's
// statement tables: each session's current statement, its last ten
// (events_statements_history, on by default on MySQL) and, where a DBA enabled it, the
// long history. Their message names the missing table, whatever built the statement.
func (in *Inspector) loadHistory(ctx context.Context, c *useCache) error {
	on, err := consumers(ctx, in)
	if err != nil {
		return err
	}
	var tables []string
	for _, t := range []string{"events_statements_current", "events_statements_history", "events_statements_history_long"} {
		if on[t] {
			tables = append(tables, t)
		}
	}
	if len(tables) == 0 || !on["global_instrumentation"] {
		c.historyWhy = "performance_schema's statement history consumers are disabled"
		return nil
	}
	// The pfs timer of this statement is "now" on the same clock as TIMER_END.
	var parts []string
	for _, t := range tables {
		parts = append(parts, "SELECT THREAD_ID, MESSAGE_TEXT, SQL_TEXT, TIMER_END FROM performance_schema."+t+" WHERE MYSQL_ERRNO = 1146")
	}
	// The session's account (threads, while it lives) ties a failed statement to an
	// account's 1146 in the error summary (explained).
	q := `SELECT /* janitor */ h.MESSAGE_TEXT, COALESCE(h.SQL_TEXT, ''), h.TIMER_END,
		(SELECT c.TIMER_START FROM performance_schema.events_statements_current c WHERE c.THREAD_ID =
			(SELECT t.THREAD_ID FROM performance_schema.threads t WHERE t.PROCESSLIST_ID = CONNECTION_ID()) LIMIT 1),
		UTC_TIMESTAMP(6),
		CASE WHEN th.PROCESSLIST_USER IS NULL THEN '' ELSE CONCAT(th.PROCESSLIST_USER, '@', COALESCE(th.PROCESSLIST_HOST, '')) END
		FROM (` + strings.Join(parts, " UNION ALL ") + `) h LEFT JOIN performance_schema.threads th ON th.THREAD_ID = h.THREAD_ID`
	type hrow struct {
		msg, text, account string
		end, nowT          sql.NullInt64
		serverTime         time.Time
	}
	rows, err := queryAll(ctx, in, q, nil, func(r *sqlx.Rows) (h hrow, err error) {
		var msg sql.NullString
		err = r.Scan(&msg, &h.text, &h.end, &h.nowT, &h.serverTime, &h.account)
		h.msg = msg.String
		return h, err
	})
	if err != nil {
		return fmt.Errorf("read performance_schema's statement history: %w", err)
	}
	c.failed = map[string][]failedStmt{}
	for _, h := range rows {
		if strings.Contains(h.text, "/* janitor */") {
			continue
		}
		name, ok := missingTable(h.msg)
		if !ok {
			continue
		}
		f := failedStmt{text: h.text, account: h.account}
		if h.end.Valid && h.nowT.Valid && h.nowT.Int64 >= h.end.Int64 {
			at := h.serverTime.UTC().Add(-time.Duration((h.nowT.Int64 - h.end.Int64) / 1000))
			f.at = &at
		}
		key := strings.ToLower(name)
		c.failed[key] = append(c.failed[key], f)
	}
	return nil
}

// missingTable reads the table out of error 1146's message, "Table 'db.t' doesn't exist".
func missingTable(msg string) (string, bool) {
	rest, ok := strings.CutPrefix(msg, "Table '")
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, "' doesn't exist")
	if i < 0 {
		return "", false
	}
	return rest[:i], true
}

// loadErrorSummary reads, on MySQL, how many 1146 errors each account raised and when
// last. MariaDB has no error summary.
func (in *Inspector) loadErrorSummary(ctx context.Context, c *useCache) error {
	if in.server.Flavor == FlavorMariaDB {
		c.errsWhy = "MariaDB keeps no error summary"
		return nil
	}
	rows, err := queryAll(ctx, in, `SELECT /* janitor */ CONCAT(COALESCE(USER, ''), '@', COALESCE(HOST, '')), SUM_ERROR_RAISED, UNIX_TIMESTAMP(LAST_SEEN)
		FROM performance_schema.events_errors_summary_by_account_by_error
		WHERE ERROR_NUMBER = 1146 AND SUM_ERROR_RAISED > 0 AND LAST_SEEN IS NOT NULL
			AND NOT (USER <=> SUBSTRING_INDEX(CURRENT_USER(), '@', 1))`, nil,
		func(r *sqlx.Rows) (e errAccount, err error) {
			var last float64
			err = r.Scan(&e.account, &e.raised, &last)
			e.last = unixTime(last)
			return e, err
		})
	if err != nil {
		return fmt.Errorf("read performance_schema.events_errors_summary_by_account_by_error: %w", err)
	}
	c.errs = rows
	return nil
}

// counterBatch is how many tables one counter query names.
const counterBatch = 500

// loadCounters reads the per-table read counts of performance_schema for c.want. Its
// table lock summary counts one lock per statement that opened a table, to read
// (COUNT_READ) or to write (the rest of COUNT_STAR), rows or not: every use by name. The
// table I/O summary (rows fetched) adds nothing to that and costs as much to read (a
// walk of every table's row per key, 15-30 ms at 10,000 tables on MySQL 9.7:
// docs/benchmarks.md), so it is read only where the lock instrument is off. Both count
// since the server started. Both tables have an index on (OBJECT_TYPE, OBJECT_SCHEMA,
// OBJECT_NAME) on MySQL 8 and later, which the name list uses.
func (in *Inspector) loadCounters(ctx context.Context, c *useCache, keys []useKey) error {
	c.countsSince = in.server.Started(c.nowOr())
	if !c.instrumentsRead {
		on := map[string]bool{}
		err := queryEach(ctx, in, "SELECT /* janitor */ NAME, ENABLED FROM performance_schema.setup_instruments WHERE NAME IN (?, ?)",
			[]any{ioInstrument, lockInstrument}, func(r *sqlx.Rows) error {
				var name, en string
				err := r.Scan(&name, &en)
				on[name] = en == "YES"
				return err
			})
		if err != nil {
			return fmt.Errorf("read performance_schema.setup_instruments: %w", err)
		}
		c.instrumentsRead, c.lockCounted, c.ioCounted = true, on[lockInstrument], on[ioInstrument]
	}
	var q string
	switch {
	case c.lockCounted:
		c.countsWhat = "performance_schema table lock COUNT_READ"
		q = "SELECT /* janitor */ OBJECT_SCHEMA, OBJECT_NAME, COUNT_READ FROM performance_schema.table_lock_waits_summary_by_table WHERE OBJECT_TYPE = 'TABLE' AND COUNT_READ > 0 AND (OBJECT_SCHEMA, OBJECT_NAME) IN "
	case c.ioCounted:
		c.countsWhat = "performance_schema table I/O COUNT_FETCH"
		q = "SELECT /* janitor */ OBJECT_SCHEMA, OBJECT_NAME, COUNT_FETCH FROM performance_schema.table_io_waits_summary_by_table WHERE OBJECT_TYPE = 'TABLE' AND COUNT_FETCH > 0 AND (OBJECT_SCHEMA, OBJECT_NAME) IN "
	default:
		c.countsWhy = "performance_schema's table lock and table I/O instruments (" + lockInstrument + ", " + ioInstrument + ") are disabled"
		c.counts = nil
		return nil
	}
	if c.counts == nil {
		c.counts = map[[2]string]int64{}
	}
	for _, k := range keys {
		delete(c.counts, [2]string{k.schema, k.table})
	}
	if err := countByName(ctx, in, q, keys, c.counts); err != nil {
		return fmt.Errorf("read performance_schema's table counters: %w", err)
	}
	return nil
}

// countByName runs q, which ends in "IN ", for want in batches and adds its rows up.
func countByName(ctx context.Context, in *Inspector, q string, want []useKey, out map[[2]string]int64) error {
	for len(want) > 0 {
		batch := want[:min(len(want), counterBatch)]
		want = want[len(batch):]
		args := make([]any, 0, 2*len(batch))
		for _, k := range batch {
			args = append(args, k.schema, k.table)
		}
		list := "(" + strings.TrimSuffix(strings.Repeat("(?, ?), ", len(batch)), ", ") + ")"
		err := queryEach(ctx, in, q+list, args, func(r *sqlx.Rows) error {
			var s, t string
			var n int64
			if err := r.Scan(&s, &t, &n); err != nil {
				return err
			}
			out[[2]string{s, t}] += n
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// loadUserstat reads MariaDB's userstat TABLE_STATISTICS, where @@userstat is on.
func (in *Inspector) loadUserstat(ctx context.Context, c *useCache) error {
	var on sql.NullInt64
	if err := in.scalar(ctx, "SELECT /* janitor */ @@userstat", &on); err != nil {
		return fmt.Errorf("read @@userstat: %w", err)
	}
	if on.Int64 != 1 {
		c.countsWhy = "performance_schema and userstat are off"
		return nil
	}
	c.countsFrom = "userstat"
	return in.readUserstat(ctx, c)
}

// readUserstat reads userstat's rows of c.want. information_schema.TABLE_STATISTICS
// has no index: the filter saves the transfer, not the server's walk.
func (in *Inspector) readUserstat(ctx context.Context, c *useCache) error {
	c.countsSince = in.server.Started(c.nowOr())
	c.countsWhat = "userstat TABLE_STATISTICS ROWS_READ"
	c.countsWhy = ""
	out := map[[2]string]int64{}
	err := countByName(ctx, in, "SELECT /* janitor */ TABLE_SCHEMA, TABLE_NAME, ROWS_READ FROM information_schema.TABLE_STATISTICS WHERE ROWS_READ > 0 AND (TABLE_SCHEMA, TABLE_NAME) IN ", c.want, out)
	if err != nil {
		return fmt.Errorf("read information_schema.TABLE_STATISTICS: %w", err)
	}
	c.counts = out
	return nil
}

func queryEach(ctx context.Context, in *Inspector, q string, args []any, each func(*sqlx.Rows) error) error {
	ctx, cancel := in.ctx(ctx)
	defer cancel()
	rows, err := in.q.QueryxContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (c *useCache) nowOr() time.Time {
	if !c.now.IsZero() {
		return c.now
	}
	return time.Now().UTC()
}

// ReadVisibility says per shard what janitor can see of reads by name: "" when a
// source of reads with a time exists (statement digests), else why not and what the
// hold then is. Discovery must have run (it reads the sources once).
func (in *Inspector) ReadVisibility(ctx context.Context) string {
	c := in.loadUses(ctx, nil)
	switch {
	case c.err != nil:
		return "the sources of reads by name could not be read (" + c.err.Error() + ")"
	case c.digestWhy == "":
		return ""
	}
	counters := "no table read counter either (" + c.countsWhy + ")"
	if c.countsWhy == "" {
		counters = "only " + c.countsWhat + ", which count since the server started and do not see a statement that fails"
	}
	return "reads by name are invisible here (statement digests: " + c.digestWhy + "; " + counters + "): a statement that asks for a " +
		"held table by its original name fails with 1146 and janitor does not see it, so the hold is only a scream test " +
		"until someone runs `janitor restore`; fix: performance_schema = ON in the server's configuration (a restart)"
}

// recentReads fills t.Evidence.Reads from the statement digests and table counters.
func (in *Inspector) recentReads(ctx context.Context, t *Table, b *batch) {
	if t.Orphan || t.Tool == ToolJanitor {
		return
	}
	c := in.loadUses(ctx, b, useKey{t.Schema, t.Name})
	if c.err != nil {
		t.Evidence.unreadable("reads by name (performance_schema statement digests and table counters)", c.err)
		return
	}
	r := &t.Evidence.Reads
	// janitor reads a gh-ost changelog itself, by name, every run (its heartbeat and
	// status rows: evidence.go): neither its digests nor its counters tell another
	// reader from janitor, and the changelog's rows, not its reads, say whether its
	// migration lives.
	if t.Role == RoleChangelog {
		return
	}
	if c.digestWhy == "" {
		if d, ok := c.latestDigest(t.Schema, t.Name, time.Time{}); ok {
			l := d.last
			r.Last, r.LastWhat = &l, fmt.Sprintf("%s (statement digest, %d runs)", shorten(d.text), d.count)
		}
	}
	if c.counts != nil {
		if n := c.counts[[2]string{t.Schema, t.Name}]; n > 0 {
			s := c.countsSince
			r.Count, r.CountSince, r.CountWhat = n, &s, c.countsWhat
		}
	}
}

// latestDigest returns the latest digest (after since) that reads schema.table.
func (c *useCache) latestDigest(schema, table string, since time.Time) (digestRow, bool) {
	var best digestRow
	found := false
	ls := strings.ToLower(schema)
	for _, ref := range c.refs(table) {
		d := c.digests[ref.digest]
		if !ref.names(d, ls, schema) || !readsData(d.text) {
			continue
		}
		if !d.last.After(since) {
			continue
		}
		if !found || d.last.After(best.last) {
			best, found = d, true
		}
	}
	return best, found
}

// heldNameUses reads the statements that asked for a held table by its original name
// since the hold began. asked are those attributed to the name (they restore the
// table); others are 1146 errors no source attributes (they keep it, no more).
func (in *Inspector) heldNameUses(ctx context.Context, h *Hold, since time.Time, b *batch) (asked, others []string, unobservable string, err error) {
	c := in.loadUses(ctx, b, useKey{h.Schema, h.Table})
	if c.err != nil {
		return nil, nil, "", c.err
	}
	if err := in.loadErrors(ctx, c, since); err != nil {
		return nil, nil, "", err
	}
	var unobs []string
	if c.digestWhy == "" {
		var hits []digestRow
		ls := strings.ToLower(h.Schema)
		seen := map[int]bool{}
		for _, ref := range c.refs(h.Table) {
			d := c.digests[ref.digest]
			if seen[ref.digest] || !ref.names(d, ls, h.Schema) || !d.asksFor(since) {
				continue
			}
			seen[ref.digest] = true
			hits = append(hits, d)
		}
		sort.Slice(hits, func(i, j int) bool { return hits[i].last.After(hits[j].last) })
		for _, d := range hits {
			asked = append(asked, fmt.Sprintf("asked for by its original name: %s, last at %s UTC (statement digest: %d runs, %d failed, in all)",
				shorten(d.text), d.last.Format(time.DateTime), d.count, d.errors))
		}
		dyn, err := in.dynamicCalls(ctx, c, h, since)
		if err != nil {
			return nil, nil, "", err
		}
		asked = append(asked, dyn...)
		asked = append(asked, c.cutDigests(h, since, seen)...)
		if c.digestPartial != "" {
			unobs = append(unobs, c.digestPartial)
		}
	} else {
		unobs = append(unobs, "statements naming its original name cannot be observed: "+c.digestWhy)
	}
	ev, evOthers, err := in.eventCalls(ctx, h, since)
	if err != nil {
		return nil, nil, "", err
	}
	asked, others = append(asked, ev...), append(others, evOthers...)
	if c.historyWhy == "" {
		for _, f := range c.failed[strings.ToLower(h.Schema+"."+h.Table)] {
			if f.at != nil && !f.at.After(since) {
				continue
			}
			when := ""
			if f.at != nil {
				when = " at " + f.at.Format(time.DateTime) + " UTC"
			}
			asked = append(asked, fmt.Sprintf("asked for by its original name and failed with 1146%s: %s (performance_schema statement history)", when, shorten(f.text)))
		}
	}
	for _, e := range c.errs {
		if e.last.After(since) && !in.explained(ctx, c, e, since) {
			others = append(others, fmt.Sprintf("account %s got error 1146 (no such table), last at %s UTC, after the hold began (%d in all); no statement statistics say which table: it may have asked for this one by a name built at run time",
				e.account, e.last.Format(time.DateTime), e.raised))
		}
	}
	return asked, others, strings.Join(unobs, "; "), nil
}

// cutShare is how much of max_digest_length a digest's text must fill to be read as
// cut. MySQL 9.7 marks no cut (measured: a SELECT of 120 columns of 20 characters,
// the table named last, gave 971 characters for 1,024 bytes of tokens, ending in
// "` ,"); the text of an identifier or a comma is about as long as its token, so a
// digest whose text reaches 85 % of the limit may be one whose tokens filled it.
const cutShare = 85

// cut reports whether a digest's text may have been cut at max (bytes of tokens).
func (d digestRow) cut(max int) bool {
	return max > 0 && len(d.text)*100 >= max*cutShare
}

// cutDigests are the digests that may name a held table's original name after the cut
// of their text at max_digest_length: failed since the hold began (a statement naming
// a missing table fails whole, with 1146), not already found by name (seen), and of
// the held table's schema, as their default schema or a name qualified by it in the
// text left. Like a procedure that builds its SQL (dynamicCalls), one is read as a
// request for the table: a restore costs disk, a wrong drop an outage.
func (c *useCache) cutDigests(h *Hold, since time.Time, seen map[int]bool) []string {
	var out []string
	ls := strings.ToLower(h.Schema)
	for i, d := range c.digests {
		if seen[i] || d.errors == 0 || !d.since(since) || !d.cut(c.maxDigest) {
			continue
		}
		named := strings.EqualFold(d.schema, h.Schema)
		for _, id := range digestIdents(d.text) {
			named = named || strings.ToLower(id.qual) == ls
		}
		if !named {
			continue
		}
		out = append(out, fmt.Sprintf("a statement of its schema failed since the hold began, last at %s UTC, and its digest is cut at max_digest_length (%d bytes): it may name the original name after the cut: %s (statement digest: %d runs, %d failed, in all)",
			d.last.Format(time.DateTime), c.maxDigest, shorten(d.text), d.count, d.errors))
	}
	return out
}

// since reports whether a digest ran after t. MariaDB keeps LAST_SEEN in whole seconds
// (measured on 11.8): a digest of the second t falls in is after t only when one of
// its runs failed, which a statement naming a table that exists before the hold does
// not (the setup of a leftover just before its hold is not a use).
func (d digestRow) since(t time.Time) bool {
	if d.last.After(t) && !d.last.Equal(t.Truncate(time.Second)) {
		return true
	}
	return d.last.Equal(t.Truncate(time.Second)) && d.errors > 0
}

// dynamicCalls finds procedures that build their SQL at run time (PREPARE from a
// string) and failed since the hold began: CALL digests with errors whose procedure,
// in the held table's schema or naming that schema, has PREPARE in its body. Which
// table the failed statement asked for is not kept anywhere janitor can read once the
// session ended, so such a failure is read as a request for each held table of the
// schema: a restore costs disk, a wrong drop an outage.
func (in *Inspector) dynamicCalls(ctx context.Context, c *useCache, h *Hold, since time.Time) ([]string, error) {
	var out []string
	for _, d := range c.digests {
		f := strings.Fields(d.text)
		if len(f) == 0 || !strings.EqualFold(f[0], "CALL") || !d.since(since) {
			continue
		}
		ids := digestIdents(d.text)
		if len(ids) == 0 {
			continue
		}
		schema, name := ids[0].name, ids[0].name
		if len(ids) > 1 && ids[1].qual == ids[0].name {
			name = ids[1].name
		} else {
			schema = d.schema
		}
		rs, err := in.allRoutines(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the procedures that failed since the hold began: %w", err)
		}
		for _, r := range rs {
			if !dynamicProcedure(r, schema, name, h) {
				continue
			}
			body := strings.ToUpper(r.Body.String)
			switch {
			case d.errors > 0:
				out = append(out, fmt.Sprintf("procedure %s, which builds its SQL at run time (PREPARE), failed since the hold began, last at %s UTC (statement digest: %d calls, %d failed, in all): it may ask for the original name",
					r.Schema+"."+r.Name, d.last.Format(time.DateTime), d.count, d.errors))
			case strings.Contains(body, "HANDLER"):
				// A handler catches the 1146 of the statement it built: the CALL
				// succeeds, and a session that has ended leaves the error in no
				// summary (measured on MySQL 9.7). Every run since the hold began
				// may have asked.
				out = append(out, fmt.Sprintf("procedure %s, which builds its SQL at run time (PREPARE) and catches errors (a HANDLER, which hides a failure on a missing table), ran since the hold began, last at %s UTC (statement digest: %d calls, in all): it may ask for the original name",
					r.Schema+"."+r.Name, d.last.Format(time.DateTime), d.count))
			}
		}
	}
	return out, nil
}

// dynamicProcedure reports whether r is the procedure schema.name, builds its SQL at run
// time (PREPARE), and may ask for h's original name: of h's schema, or naming it in its
// body.
func dynamicProcedure(r routine, schema, name string, h *Hold) bool {
	if !strings.EqualFold(r.Schema, schema) || !strings.EqualFold(r.Name, name) || !strings.Contains(strings.ToUpper(r.Body.String), "PREPARE") {
		return false
	}
	return strings.EqualFold(r.Schema, h.Schema) || strings.Contains(strings.ToLower(r.Body.String), strings.ToLower(h.Schema))
}

// eventCalls finds the scheduled events that ran since the hold began and CALL a
// procedure that builds its SQL at run time (PREPARE) and catches errors (a HANDLER),
// whose schema is the held table's or whose body names that schema: such an event asks
// for a held name with no CALL digest (an event's statements are its body's, not a
// client's) and, its handler catching the 1146, with no error anywhere (measured on
// MySQL 9.7). They restore the table, as a CALL digest of the procedure does
// (dynamicCalls). An enabled one whose last run cannot be placed in time (its time
// zone has no conversion on this server) keeps it, without a restore. The events'
// LAST_EXECUTED needs no performance_schema: this holds on MariaDB with it off too.
func (in *Inspector) eventCalls(ctx context.Context, h *Hold, since time.Time) (asked, others []string, err error) {
	evs, err := in.allEvents(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read the scheduled events that may call a procedure building its SQL at run time: %w", err)
	}
	var rs []routine
	for _, e := range evs {
		if !e.Body.Valid || !e.Ran || !strings.Contains(strings.ToUpper(e.Body.String), "CALL") {
			continue
		}
		if rs == nil {
			if rs, err = in.allRoutines(ctx); err != nil {
				return nil, nil, fmt.Errorf("read the procedures scheduled events call: %w", err)
			}
		}
		for _, m := range callTarget.FindAllStringSubmatch(e.Body.String, -1) {
			schema, name := e.Schema, callIdent(m[2])
			if m[1] != "" {
				schema = callIdent(m[1])
			}
			for _, r := range rs {
				if !dynamicProcedure(r, schema, name, h) || !strings.Contains(strings.ToUpper(r.Body.String), "HANDLER") {
					continue
				}
				what := fmt.Sprintf("scheduled event %s calls procedure %s, which builds its SQL at run time (PREPARE) and catches errors (a HANDLER, which hides a failure on a missing table)",
					dbconn.QualifiedName(e.Schema, e.Name), dbconn.QualifiedName(r.Schema, r.Name))
				switch {
				case !e.LastRun.Valid:
					if strings.EqualFold(e.Status, "ENABLED") {
						others = append(others, what+"; its last run cannot be placed in time (its time zone has no conversion on this server): it may have asked for the original name")
					}
				case !e.LastRun.Time.Before(since.Add(-time.Second)):
					asked = append(asked, fmt.Sprintf("%s, and ran since the hold began, last at %s UTC: it may ask for the original name", what, e.LastRun.Time.Format(time.DateTime)))
				}
			}
		}
	}
	return asked, others, nil
}

// callTarget finds the procedures a body CALLs: CALL name, CALL schema.name, each part
// bare (any character MySQL allows there, letters outside ASCII included) or
// backtick-quoted.
var callTarget = regexp.MustCompile("(?i)\\bCALL\\s+(?:(`(?:[^`]|``)+`|[^\\s.();`]+)\\s*\\.\\s*)?(`(?:[^`]|``)+`|[^\\s.();`]+)")

// callIdent is one part of a callTarget match: bare, or backtick-quoted
// (unquoteBacktick).
func callIdent(s string) string {
	if strings.HasPrefix(s, "`") {
		name, _ := unquoteBacktick(s, 1)
		return name
	}
	return s
}

// explained reports whether an account's latest 1146 is a statement whose table is
// known, so that it keeps no hold by itself. Within a second of it (the error summary
// keeps whole seconds, rounded), since the hold began:
//
//   - a statement in the history that failed with 1146, in a session of the same
//     account (its message names the table: this one, then asked for, or another);
//   - or a digest that failed and names a table janitor made missing: the original
//     name of a table it holds on the server, or of one it restored after that digest
//     last ran (missingNames). The name was not there, so the failure was a 1146, and
//     the digest asked for that table, which is (or was) restored. The digest table
//     keeps no account: another account's 1146 in the same second is hidden by it, a
//     limit the restore it causes makes visible.
//
// Any other failed digest explains nothing: a duplicate key of another account's job in
// the same second is a failed digest too, and a CALL's or EXECUTE's names no table.
// Anything else, such as a procedure building its SQL at run time from an event, is
// unexplained and keeps the held table; so does a list of names that cannot be read.
func (in *Inspector) explained(ctx context.Context, c *useCache, e errAccount, since time.Time) bool {
	near := func(t time.Time) bool {
		return !t.Before(e.last.Add(-time.Second)) && t.Before(e.last.Add(time.Second))
	}
	if c.historyWhy == "" {
		for _, fs := range c.failed {
			for _, f := range fs {
				if f.at != nil && f.account != "" && f.account == e.account && f.at.After(since) && near(*f.at) {
					return true
				}
			}
		}
	}
	if c.digestWhy != "" {
		return false
	}
	for _, d := range c.digests {
		if d.errors == 0 || !d.since(since) || !near(d.last) {
			continue
		}
		if f := firstWord(d.text); strings.EqualFold(f, "CALL") || strings.EqualFold(f, "EXECUTE") || ownStatement(d.text) {
			continue
		}
		missing, err := in.missingNames(ctx, c)
		if err != nil {
			in.log.DebugContext(ctx, "read the names janitor holds or restored: an account's 1146 stays unexplained", "error", err)
			return false
		}
		for _, id := range digestIdents(d.text) {
			for _, m := range missing[strings.ToLower(id.name)] {
				named := strings.ToLower(id.qual) == m.schema || id.qual == "" && strings.EqualFold(d.schema, m.schema)
				// Whole seconds: a restore marker's time is truncated.
				if named && (m.until.IsZero() || !d.last.After(m.until.Add(time.Second))) {
					return true
				}
			}
		}
	}
	return false
}

// missingName is a name janitor made missing: held (until zero) or held until a
// restore at until.
type missingName struct {
	schema string
	until  time.Time
}

// missingNames reads, once per Inspector, the original names of the tables janitor
// holds on the server (their hold records) and of those it restored (their restore
// marker): lower-cased name to lower-cased schema. Only an account's 1146 that the
// history does not explain needs them.
func (in *Inspector) missingNames(ctx context.Context, c *useCache) (map[string][]missingName, error) {
	if c.missing != nil {
		return c.missing, nil
	}
	type row struct{ schema, name, comment string }
	rows, err := queryAll(ctx, in, `SELECT /* janitor */ TABLE_SCHEMA, TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES
		WHERE TABLE_NAME LIKE '\_janitor\_hold\_%' OR TABLE_COMMENT LIKE '%`+restoredPrefix+`%'`, nil,
		func(r *sqlx.Rows) (x row, err error) {
			err = r.Scan(&x.schema, &x.name, &x.comment)
			return x, err
		})
	if err != nil {
		return nil, fmt.Errorf("read the names janitor holds or restored: %w", err)
	}
	missing := map[string][]missingName{}
	add := func(schema, name string, until time.Time) {
		missing[strings.ToLower(name)] = append(missing[strings.ToLower(name)], missingName{strings.ToLower(schema), until})
	}
	for _, x := range rows {
		if h, ok := ParseHold(x.comment); ok && IsHoldName(x.name) {
			add(h.Schema, h.Table, time.Time{})
		} else if at, ok := ParseRestored(x.comment); ok && !at.IsZero() {
			add(x.schema, x.name, at)
		}
	}
	c.missing = missing
	return missing, nil
}

// shorten cuts a statement for a reason.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 160 {
		return string(r[:160]) + "…"
	}
	return s
}

// ddlWords start statements that are not a use of a table's data: definitions,
// maintenance and metadata reads. Tools and janitor name a leftover in these (a
// cut-over's RENAME, CREATE … LIKE, janitor's own comment change) without reading it.
var ddlWords = map[string]bool{"CREATE": true, "DROP": true, "RENAME": true, "ALTER": true, "TRUNCATE": true,
	"OPTIMIZE": true, "ANALYZE": true, "CHECK": true, "REPAIR": true, "SHOW": true, "DESCRIBE": true, "DESC": true,
	"GRANT": true, "REVOKE": true, "FLUSH": true}

// readsData reports whether a digest is a statement that uses a table's data: anything
// but a definition, maintenance or metadata statement, unless it selects (CREATE …
// SELECT reads), and never one of janitor's own (ownStatement).
func readsData(digest string) bool {
	if ownStatement(digest) {
		return false
	}
	first := firstWord(digest)
	if first == "" {
		return false
	}
	return !ddlWords[strings.ToUpper(first)] || hasKeyword(digest, "SELECT")
}

// hasKeyword reports whether a digest holds word as a keyword: a token of its own (a
// digest spaces its tokens), not a part of an identifier (a schema named
// app_select_log names no SELECT).
func hasKeyword(digest, word string) bool {
	for _, f := range strings.Fields(digest) {
		if strings.EqualFold(strings.Trim(f, "()"), word) {
			return true
		}
	}
	return false
}

// ownStatement reports whether a digest is one of janitor's own statements on a table,
// told by what only janitor's have, never by a shape an application may send too: a
// hold name (its renames, comment changes and purge of a held table), its gh-ost
// heartbeat read, and its purge, whose statements carry an alias no one else writes.
func ownStatement(digest string) bool {
	return strings.Contains(digest, holdPrefix) || ownHeartbeatRead(digest) || ownPurgeStatement(digest)
}

// askRule says when a statement naming a held table's ORIGINAL name, seen since the
// hold began, asks for the table back.
type askRule int

const (
	// askRun: any run since the hold began. The name is not there, so the run failed
	// with 1146; no tool and not janitor send these on a leftover's name once it is
	// held (janitor's own name the hold name: ownStatement).
	askRun askRule = iota
	// askFailed: a run that failed since the hold began. Tools send these on names
	// they create, and a new migration on the same base may create the original name
	// again (pt-osc's _t_old and _t_new, gh-ost's _t_gho and _t_del): its CREATE, ALTER,
	// RENAME, ANALYZE … succeed on the new table and ask for nothing. The same
	// statement failing asked for a table that is not there: an ORM's reflection
	// (SHOW FULL FIELDS, SHOW CREATE TABLE), a job's TRUNCATE or RENAME, a CREATE … LIKE.
	askFailed
	// askNever: a DROP asks for the table to be gone (a tool's cleanup, a DBA's), which
	// the hold's end does anyway; restoring it for the DROP helps no one. A change of
	// the comment alone (commentOnly) needs nothing of the table, and it is janitor's
	// own hold record, written on the original name just before the rename: one that
	// failed (a lock wait) and was sent again by a later hold would otherwise restore
	// every hold of that table.
	askNever
)

// askRules are the digest first words whose rule is not askRun: the one table of them.
var askRules = map[string]askRule{
	"CREATE": askFailed, "RENAME": askFailed, "ALTER": askFailed, "TRUNCATE": askFailed,
	"OPTIMIZE": askFailed, "ANALYZE": askFailed, "CHECK": askFailed, "REPAIR": askFailed,
	"SHOW": askFailed, "DESCRIBE": askFailed, "DESC": askFailed, "GRANT": askFailed,
	"REVOKE": askFailed, "FLUSH": askFailed, "LOCK": askFailed, "HANDLER": askFailed,
	"DROP": askNever,
}

// asksFor reports whether a digest that names a held table's original name (and is not
// janitor's own: indexDigests) asks for the table, having run since the hold began
// (askRules).
func (d digestRow) asksFor(since time.Time) bool {
	if commentOnly(d.text) {
		return false
	}
	// A word not in the table is askRun, the zero rule.
	rule := askRules[strings.ToUpper(firstWord(d.text))]
	if rule == askRun {
		return d.since(since)
	}
	return rule == askFailed && d.errors > 0 && d.since(since)
}

// firstWord is strings.Fields(s)[0] ("" when s has none), without splitting the rest:
// an inventory looks at up to 10,000 digests of up to 1 KB each.
func firstWord(s string) string {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		return s[:i]
	}
	return s
}

// containsFold reports whether s holds sub (ASCII letters), whatever their case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// heartbeatNormal spaces out a digest's punctuation and drops its quotes, for
// ownHeartbeatRead.
var heartbeatNormal = strings.NewReplacer("`", "", "(", " ( ", ")", " ) ", ",", " , ")

// ownHeartbeatRead reports whether a digest is janitor's own read of a gh-ost
// heartbeat (evidence.go, heartbeat): SELECT TIMESTAMPDIFF(MICROSECOND,
// MAX(last_update), NOW(6)) / 1e6 FROM changelog WHERE hint = 'heartbeat'.
func ownHeartbeatRead(digest string) bool {
	// Every digest of an inventory comes here: the cheap test first.
	if !containsFold(digest, "TIMESTAMPDIFF") {
		return false
	}
	u := strings.ToUpper(strings.Join(strings.Fields(heartbeatNormal.Replace(digest)), " "))
	return strings.HasPrefix(u, "SELECT TIMESTAMPDIFF ( MICROSECOND , MAX ( LAST_UPDATE ) , NOW ( ") && strings.Contains(u, " WHERE HINT = ?")
}

// commentOnly reports whether a digest is an ALTER TABLE that changes the table's
// comment and nothing else (janitor/hold.go's commentStmt: ALTER TABLE t COMMENT = ?,
// ALGORITHM = INSTANT, or ALGORITHM = INPLACE, LOCK = NONE).
func commentOnly(digest string) bool {
	f := strings.Fields(strings.NewReplacer("`", "", ",", " , ").Replace(digest))
	if len(f) < 6 || !strings.EqualFold(f[0], "ALTER") || !strings.EqualFold(f[1], "TABLE") {
		return false
	}
	i := 2
	if len(f) > 4 && f[3] == "." {
		i = 4
	}
	i++
	if len(f) < i+3 || !strings.EqualFold(f[i], "COMMENT") || f[i+1] != "=" || f[i+2] != "?" {
		return false
	}
	for rest := f[i+3:]; len(rest) > 0; rest = rest[min(4, len(rest)):] {
		// , ALGORITHM = X or , LOCK = X
		if len(rest) < 4 || rest[0] != "," || rest[2] != "=" ||
			!strings.EqualFold(rest[1], "ALGORITHM") && !strings.EqualFold(rest[1], "LOCK") {
			return false
		}
	}
	return true
}

// purgeAlias is the alias janitor's purge statements carry (janitor/purge.go), so that
// their digests are told from an application's statements of the same shape: the
// comment "/* janitor purge */" does not survive in a digest, an alias does.
const purgeAlias = "janitor_purge"

// PurgeLock is janitor's first statement of a purge batch (janitor/purge.go), on name
// (quoted): it takes the table's lock and reads no row.
func PurgeLock(name string) string {
	return "SELECT /* janitor purge */ 1 AS " + purgeAlias + " FROM " + name + " LIMIT 0"
}

// PurgeDelete is a purge batch's DELETE of up to rows rows of name (quoted). MariaDB
// 10.11 takes no alias in a single-table DELETE: the alias is a subquery's, which both
// flavors evaluate once.
func PurgeDelete(name string, rows int) string {
	return fmt.Sprintf("DELETE /* janitor purge */ FROM %s WHERE (SELECT 1 AS %s) LIMIT %d", name, purgeAlias, rows)
}

// ownPurgeStatement reports whether a digest is janitor's own purge of a large table
// (janitor/purge.go): SELECT 1 AS janitor_purge FROM t LIMIT 0, which takes the table's
// lock, and DELETE FROM t WHERE (SELECT 1 AS janitor_purge) LIMIT n. Counted as reads,
// they kept every purged table for a day (recent_read) at the re-check before its
// DROP. Told by the alias, not by the shape: an application's SELECT 1 FROM t LIMIT 1
// or DELETE FROM t LIMIT 1000 is a use (before a hold as during one).
func ownPurgeStatement(digest string) bool {
	// Every digest of an inventory comes here: the cheap test first.
	if !strings.Contains(digest, "`"+purgeAlias+"`") {
		return false
	}
	f := strings.Fields(digest)
	n := len(f)
	table := func(fs []string) bool {
		// `t`, or `s` . `t`
		return len(fs) == 1 && strings.HasPrefix(fs[0], "`") ||
			len(fs) == 3 && strings.HasPrefix(fs[0], "`") && fs[1] == "." && strings.HasPrefix(fs[2], "`")
	}
	alias := "`" + purgeAlias + "`"
	if n < 4 || !strings.EqualFold(f[n-2], "LIMIT") || f[n-1] != "?" {
		return false
	}
	switch {
	case n >= 8 && strings.EqualFold(f[0], "SELECT") && f[1] == "?" && strings.EqualFold(f[2], "AS") && f[3] == alias &&
		strings.EqualFold(f[4], "FROM"):
		return table(f[5 : n-2])
	case n >= 12 && strings.EqualFold(f[0], "DELETE") && strings.EqualFold(f[1], "FROM") &&
		strings.Join(f[n-9:n-2], " ") == "WHERE ( SELECT ? AS "+alias+" )":
		return table(f[2 : n-9])
	}
	return false
}

type ident struct{ name, qual string }

// digestIdents lists the identifiers of a digest text, each with the identifier that
// qualifies it ("`s` . `t`"): performance_schema quotes every identifier in backticks
// (a backtick inside doubled), with spaces around the dot.
func digestIdents(text string) []ident {
	var out []ident
	var prevEnd = -1
	var prev string
	for i := 0; i < len(text); i++ {
		if text[i] != '`' {
			continue
		}
		name, j := unquoteBacktick(text, i+1)
		id := ident{name: name}
		if prevEnd >= 0 && strings.TrimSpace(text[prevEnd:i]) == "." {
			id.qual = prev
		}
		out = append(out, id)
		prev, prevEnd = id.name, j+1
		i = j
	}
	return out
}
