package discovery

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// ToolJanitor is janitor itself: a table it renamed to a hold name (RoleHold).
const ToolJanitor Tool = "janitor"

// A hold name is `_janitor_hold_<16 hex>_<UTC due time, 14 digits>_`: 46 characters,
// whatever the original name, so it always fits the 64-character limit. The hex is a
// hash of the original schema, name and hold start, so two holds never share a name.
// The name alone tells a person what the table is and when it may go; the table comment
// (HoldComment) carries the rest: the original name, which cannot always fit in a name.
const (
	holdPrefix     = "_janitor_hold_"
	holdStampedFmt = "20060102150405"
)

// holdPattern is the rule's pattern, and is exclusive: a name that fits it is read as
// janitor's hold only, never as another tool's leftover.
var holdPattern = regexp.MustCompile(`^_janitor_hold_[0-9a-f]{16}_(\d{14})_$`)

// IsHoldName reports whether name is a janitor hold name.
func IsHoldName(name string) bool { return holdPattern.MatchString(name) }

// HoldName returns the hold name for a table held from start until until.
func HoldName(schema, table string, start, until time.Time) string {
	h := sha256.Sum256([]byte(schema + "\x00" + table + "\x00" + start.UTC().Format(time.RFC3339Nano)))
	return holdPrefix + hex.EncodeToString(h[:8]) + "_" + until.UTC().Format(holdStampedFmt) + "_"
}

// holdCommentPrefix starts every hold comment; the rest is JSON.
const holdCommentPrefix = "janitor-hold "

// MaxCommentLength is the longest table comment the server takes (characters).
const MaxCommentLength = 2048

// Hold is what janitor writes into a held table's comment: everything a later run, on
// any pod, needs to judge and to undo the hold.
type Hold struct {
	// Schema and Table are the original name (the hold keeps the schema).
	Schema string `json:"schema"`
	Table  string `json:"table"`
	// HoldName is the name the table is (or was about to be) renamed to.
	HoldName string    `json:"hold_name"`
	HeldAt   time.Time `json:"held_at"`
	Until    time.Time `json:"until"`
	// Tool, Role and Base are the reading that made the table dead.
	Tool Tool   `json:"tool"`
	Role Role   `json:"role,omitempty"`
	Base string `json:"base,omitempty"`
	// Group names the migration the table belongs to (tool and base): its tables are
	// restored and dropped together.
	Group string `json:"group,omitempty"`
	// Comment is the table's own comment before the hold, put back on restore.
	Comment string `json:"comment"`
	// Baseline is the access evidence right after the rename; nil until recorded.
	Baseline *AccessBaseline `json:"baseline,omitempty"`
	// PurgeStarted is when janitor began deleting the rows of a held table whose hold
	// ended untouched (execute.large_table.strategy purge): its own DELETEs move the
	// counters from then on.
	PurgeStarted *time.Time `json:"purge_started,omitempty"`
	// Accessed is an access a run saw during the hold, recorded by an execute run so
	// that every later run keeps the table: the sources that showed it move on (an
	// account's latest 1146 is replaced by its next one, a session's history by its
	// next statements, a digest by a TRUNCATE), and a kept hold must stay kept.
	Accessed *RecordedAccess `json:"accessed,omitempty"`
}

// RecordedAccess is an access seen during a hold, as recorded in its hold record.
type RecordedAccess struct {
	At   time.Time `json:"at"`
	What string    `json:"what,omitempty"`
}

// AccessBaseline is the table's access counters when the hold began.
type AccessBaseline struct {
	// ServerStarted tells whether the counters below are from this server lifetime.
	ServerStarted time.Time `json:"server_started"`
	// IO is performance_schema's table I/O COUNT_STAR for the table; nil when not observable.
	IO *int64 `json:"io,omitempty"`
	// Version is 2 for a baseline that records Lock (nil then means the counter was
	// not kept at hold time); 0 for one written before janitor read it.
	Version int `json:"v,omitempty"`
	// Lock is performance_schema's table lock COUNT_STAR for the table right after the
	// comment change that records this baseline, that change's own lock included.
	Lock *int64 `json:"lock,omitempty"`
	// UpdateTime is UPDATE_TIME after the rename; nil when the server shows none.
	UpdateTime *time.Time `json:"update_time,omitempty"`
}

// GroupOf names the migration a table belongs to: its tool and base table, so gh-ost's
// ghost, changelog and _del of one base are one group.
func GroupOf(t *Table) string {
	if t.Base == "" {
		return ""
	}
	return string(t.Tool) + ":" + t.Base
}

// Comment renders h as a table comment. It fails when the comment would not fit.
func (h Hold) CommentText() (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return "", err
	}
	s := holdCommentPrefix + strings.TrimSuffix(b.String(), "\n")
	if n := len([]rune(s)); n > MaxCommentLength {
		return "", fmt.Errorf("the hold record is %d characters with the table's own comment, over the server's %d", n, MaxCommentLength)
	}
	return s, nil
}

// ParseHold reads a hold comment; ok is false when comment is not one.
func ParseHold(comment string) (Hold, bool) {
	rest, found := strings.CutPrefix(comment, holdCommentPrefix)
	if !found {
		return Hold{}, false
	}
	var h Hold
	if err := json.Unmarshal([]byte(rest), &h); err != nil || h.Table == "" || h.Until.IsZero() {
		return Hold{}, false
	}
	return h, true
}

// OriginalComment is the comment a table had before any hold: a table whose comment is
// a hold record (a hold interrupted before its rename) keeps the recorded one.
func OriginalComment(comment string) string {
	if h, ok := ParseHold(comment); ok {
		return h.Comment
	}
	return comment
}

// HoldEvidence is what discovery learns about a held table.
type HoldEvidence struct {
	// Accesses are observed uses since the hold began, as "what: detail".
	Accesses []string
	// Unobservable says which kinds of access the server cannot show ("" when all can).
	Unobservable string
	// AskedFor are statements that asked for the table by its original name since the
	// hold began (they failed with 1146): someone needs it back, and an execute run
	// restores it. They are in Accesses too.
	AskedFor []string
}

// gatherHold reads a held table's hold record and the evidence of access since.
func (in *Inspector) gatherHold(ctx context.Context, t *Table, inv *batch) {
	h, ok := ParseHold(t.Comment)
	if !ok {
		return
	}
	t.Hold = &h
	ev := &t.Evidence.Hold
	if t.HoldState() == HoldPurging {
		// The hold ended with no access seen, and janitor's own DELETEs since cannot be
		// told from anyone else's use.
		ev.Unobservable = "janitor began purging it at " + h.PurgeStarted.Format(time.DateTime) +
			" UTC, after its hold ended with no access seen: its own deletes hide any access since"
		return
	}
	if a := h.Accessed; a != nil {
		what := ""
		if a.What != "" {
			what = ": " + a.What
		}
		ev.Accesses = append(ev.Accesses, "access recorded in the hold record at "+a.At.Format(time.DateTime)+" UTC"+what)
	}
	b := h.Baseline
	// Writes: UPDATE_TIME moves on a write (in memory: a restart clears it).
	if t.UpdatedAt != nil && (b == nil || b.UpdateTime == nil || t.UpdatedAt.After(*b.UpdateTime)) && t.UpdatedAt.After(h.HeldAt.Add(-time.Second)) {
		ev.Accesses = append(ev.Accesses, "written at "+t.UpdatedAt.Format(time.DateTime)+" UTC (UPDATE_TIME)")
	}
	// The application asks for the original name, not the hold name: statements naming
	// it since the hold began (recentuse.go).
	var unobs []string
	asked, others, why, err := in.heldNameUses(ctx, &h, h.HeldAt, inv)
	if err != nil {
		t.Evidence.unreadable("statements naming its original name (performance_schema statement digests and history)", err)
		return
	}
	ev.AskedFor = asked
	ev.Accesses = append(append(ev.Accesses, asked...), others...)
	if why != "" {
		unobs = append(unobs, why)
	}
	c, err := in.ReadTableCounters(ctx, t.Schema, t.Name)
	if err != nil {
		t.Evidence.unreadable("performance_schema table I/O and lock counters", err)
		return
	}
	started := in.server.Started(t.Evidence.Now)
	if c.IOWhy != "" {
		unobs = append(unobs, c.IOWhy)
	} else {
		sameLife := b != nil && b.IO != nil && sameInstant(b.ServerStarted, started)
		switch {
		case sameLife && c.IO > *b.IO:
			ev.Accesses = append(ev.Accesses, fmt.Sprintf("%d row operations since the hold began (performance_schema table I/O COUNT_STAR %d, was %d)", c.IO-*b.IO, c.IO, *b.IO))
		case sameLife && c.IO < *b.IO:
			unobs = append(unobs, fmt.Sprintf("performance_schema's table I/O count went back during the hold (%d, was %d): its summaries were truncated (sys.ps_truncate_all_tables?), and reads before that cannot be observed", c.IO, *b.IO))
		case !sameLife && c.IO > 0:
			ev.Accesses = append(ev.Accesses, fmt.Sprintf("%d row operations since the server started (performance_schema table I/O COUNT_STAR)", c.IO))
		case !sameLife:
			unobs = append(unobs, "the server restarted during the hold (or the hold record has no baseline): reads before "+
				started.Format(time.DateTime)+" UTC cannot be observed")
		}
	}
	if c.LockWhy != "" {
		if c.LockWhy != c.IOWhy {
			unobs = append(unobs, c.LockWhy)
		}
	} else if base, ok := lockBaseline(b, started); ok && c.Lock > base {
		ev.Accesses = append(ev.Accesses, fmt.Sprintf("%d statements opened it since the hold began (performance_schema table lock COUNT_STAR %d, was %d)", c.Lock-base, c.Lock, base))
	} else if ok && c.Lock < base {
		unobs = append(unobs, fmt.Sprintf("performance_schema's table lock count went back during the hold (%d, was %d): its summaries were truncated, and reads before that cannot be observed", c.Lock, base))
	} else if !ok && c.Lock > 0 {
		ev.Accesses = append(ev.Accesses, fmt.Sprintf("%d statements opened it since the server started (performance_schema table lock COUNT_STAR)", c.Lock))
	}
	if c.Partial != "" {
		unobs = append(unobs, c.Partial)
	}
	ev.Unobservable = strings.Join(unobs, "; ")
}

// lockBaseline is the table lock count a held table had when its hold began, ok false
// when there is none from this server lifetime (then every count is an access: the
// RENAME leaves the hold name without a counter row, and janitor changes its comment
// only to record the baseline, in the same lifetime, or at a purge, which ends the
// reading of counters). A baseline written before janitor read the lock counter
// (Version 0) has an I/O count read right after the RENAME and one comment change
// after it, which takes one table lock (measured on MariaDB 10.11 and 11.8 and MySQL
// 9.7): its baseline is 1.
func lockBaseline(b *AccessBaseline, started time.Time) (int64, bool) {
	if b == nil || !sameInstant(b.ServerStarted, started) {
		return 0, false
	}
	switch {
	case b.Version >= 2 && b.Lock != nil:
		return *b.Lock, true
	case b.Version == 0 && b.IO != nil:
		return 1, true
	}
	return 0, false
}

// sameInstant compares two server start times read as now-uptime (one-second jitter).
func sameInstant(a, b time.Time) bool {
	d := a.Sub(b)
	return d < 5*time.Second && d > -5*time.Second
}

// Started is when the server started, from its uptime and the clock now.
func (s Server) Started(now time.Time) time.Time {
	return now.Add(-time.Duration(s.Uptime) * time.Second).Truncate(time.Second)
}

// Table counters are performance_schema's two per-table summaries janitor reads as
// evidence of access to a held table:
//
//   - table_io_waits_summary_by_table (instrument wait/io/table/sql/handler) counts row
//     operations: a statement that reads no row adds nothing — any read of an empty
//     table (COUNT(*) included), LIMIT 0, WHERE 1=0, EXPLAIN, LOCK TABLES;
//   - table_lock_waits_summary_by_table (instrument wait/lock/table/sql/handler) counts
//     the handler's table locks: one for every statement that opens the table for its
//     rows, whether it reads any (all of the above count), but none for metadata reads
//     (SHOW CREATE TABLE, DESCRIBE, SHOW INDEX, SHOW TABLE STATUS, information_schema)
//     or HANDLER OPEN without a READ. janitor's own comment change counts one.
//
// Measured on MariaDB 10.11.19 and 11.8.9 and MySQL 9.7.4 (docs/dropping.md, Holds).
const (
	ioInstrument   = "wait/io/table/sql/handler"
	lockInstrument = "wait/lock/table/sql/handler"
)

// TableCounters is a table's access counters in performance_schema.
type TableCounters struct {
	// IO is the table's row operations (0 when it has no row yet), valid when IOWhy is "".
	IO int64
	// Lock is the table's handler table locks: statements that opened it, valid when
	// LockWhy is "".
	Lock int64
	// IOWhy and LockWhy say why a counter is not kept ("" when it is).
	IOWhy, LockWhy string
	// Partial is not "" when the counters are kept but may miss this table
	// (performance_schema.setup_objects does not enable it).
	Partial string
}

// ReadTableCounters reads performance_schema's access counters of a table.
func (in *Inspector) ReadTableCounters(ctx context.Context, schema, table string) (TableCounters, error) {
	qctx, cancel := in.ctx(ctx)
	defer cancel()
	// The sources of reads by name, read first by the same look, know whether
	// performance_schema is on (a startup setting); the server-wide settings are read
	// once per look, not once per held table of an inventory.
	if u := &in.uses; u.read && u.err == nil && u.pfs {
		if !in.counterSetup.read {
			st, err := readCounterSetup(qctx, in.q)
			if err != nil {
				return TableCounters{}, err
			}
			in.counterSetup = st
		}
		return tableCounters(qctx, in.q, in.counterSetup, schema, table)
	}
	return ReadTableCounters(qctx, in.q, schema, table)
}

// ReadTableCounters is Inspector.ReadTableCounters on any querier.
func ReadTableCounters(ctx context.Context, q Querier, schema, table string) (TableCounters, error) {
	var on sql.NullInt64
	if err := q.QueryRowxContext(ctx, "SELECT /* janitor */ @@performance_schema").Scan(&on); err != nil {
		return TableCounters{}, fmt.Errorf("read @@performance_schema: %w", err)
	}
	st := counterSetup{read: true, off: on.Int64 != 1}
	if !st.off {
		var err error
		if st, err = readCounterSetup(ctx, q); err != nil {
			return TableCounters{}, err
		}
	}
	return tableCounters(ctx, q, st, schema, table)
}

// counterSetup is what performance_schema's settings say of every table's counters.
type counterSetup struct {
	read bool
	// off: performance_schema is off.
	off bool
	// global is setup_consumers' global_instrumentation ("YES" when on); enabled,
	// setup_instruments' ENABLED of the table I/O and lock instruments.
	global  string
	enabled map[string]string
	// catchAll, actorsOff and threadsOff: setup_actors' enabled catch-all rows and
	// disabled rows, and the foreground sessions not instrumented now.
	catchAll, actorsOff, threadsOff int
}

// readCounterSetup reads the server-wide settings of the counters, performance_schema on.
func readCounterSetup(ctx context.Context, q Querier) (counterSetup, error) {
	st := counterSetup{read: true, enabled: map[string]string{}}
	err := q.QueryRowxContext(ctx, "SELECT /* janitor */ ENABLED FROM performance_schema.setup_consumers WHERE NAME = 'global_instrumentation'").Scan(&st.global)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("read performance_schema.setup_consumers: %w", err)
	}
	if st.global != "YES" {
		return st, nil
	}
	rows, err := q.QueryxContext(ctx, "SELECT /* janitor */ NAME, ENABLED FROM performance_schema.setup_instruments WHERE NAME IN (?, ?)", ioInstrument, lockInstrument)
	if err != nil {
		return st, fmt.Errorf("read performance_schema.setup_instruments: %w", err)
	}
	for rows.Next() {
		var name, en string
		if err := rows.Scan(&name, &en); err != nil {
			rows.Close()
			return st, fmt.Errorf("read performance_schema.setup_instruments: %w", err)
		}
		st.enabled[name] = en
	}
	if err := rows.Close(); err != nil {
		return st, fmt.Errorf("read performance_schema.setup_instruments: %w", err)
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("read performance_schema.setup_instruments: %w", err)
	}
	if st.enabled[ioInstrument] != "YES" && st.enabled[lockInstrument] != "YES" {
		return st, nil
	}
	// setup_actors (and threads.INSTRUMENTED, which it sets when a session connects, and
	// which can be changed afterwards) switch instrumentation off per session: a session
	// not instrumented moves neither count, whatever it reads (measured on MySQL 9.7).
	// Only a catch-all row enabled and no row disabled instruments every new session.
	err = q.QueryRowxContext(ctx, `SELECT /* janitor */ COALESCE(SUM(HOST = '%' AND USER = '%' AND ENABLED = 'YES'), 0),
		COALESCE(SUM(ENABLED <> 'YES'), 0) FROM performance_schema.setup_actors`).Scan(&st.catchAll, &st.actorsOff)
	if err != nil {
		return st, fmt.Errorf("read performance_schema.setup_actors: %w", err)
	}
	err = q.QueryRowxContext(ctx, `SELECT /* janitor */ COUNT(*) FROM performance_schema.threads
		WHERE TYPE = 'FOREGROUND' AND INSTRUMENTED <> 'YES'`).Scan(&st.threadsOff)
	if err != nil {
		return st, fmt.Errorf("read performance_schema.threads: %w", err)
	}
	return st, nil
}

// tableCounters reads a table's counters under the settings st.
func tableCounters(ctx context.Context, q Querier, st counterSetup, schema, table string) (TableCounters, error) {
	var c TableCounters
	if st.off {
		c.IOWhy = "performance_schema is off on this server: reads cannot be observed, only writes (UPDATE_TIME)"
		c.LockWhy = c.IOWhy
		return c, nil
	}
	if st.global != "YES" {
		c.IOWhy = "performance_schema's global_instrumentation consumer is disabled: reads cannot be observed, only writes (UPDATE_TIME)"
		c.LockWhy = c.IOWhy
		return c, nil
	}
	if st.enabled[ioInstrument] != "YES" {
		c.IOWhy = "performance_schema's table I/O instrument (" + ioInstrument + ") is disabled: row reads cannot be observed"
	}
	if st.enabled[lockInstrument] != "YES" {
		c.LockWhy = "performance_schema's table lock instrument (" + lockInstrument + ") is disabled: statements that read no row " +
			"(COUNT(*) or any read of an empty table, LIMIT 0, EXPLAIN, LOCK TABLES) cannot be observed"
	}
	if c.IOWhy != "" && c.LockWhy != "" {
		c.IOWhy = "performance_schema's table I/O and table lock instruments (" + ioInstrument + ", " + lockInstrument +
			") are disabled: reads cannot be observed, only writes (UPDATE_TIME)"
		c.LockWhy = c.IOWhy
		return c, nil
	}
	// setup_objects can switch off the instruments for some schemas or tables. Any row
	// that matches the table and says NO, or no matching row at all, makes the counters
	// partial: they are still read (a count above the baseline is an access all the
	// same), and the reason says that some reads may not be seen.
	var rowsMatching, disabled int
	err := q.QueryRowxContext(ctx, `SELECT /* janitor */ COUNT(*), COALESCE(SUM(ENABLED <> 'YES'), 0) FROM performance_schema.setup_objects
		WHERE OBJECT_TYPE = 'TABLE' AND OBJECT_SCHEMA IN (?, '%') AND OBJECT_NAME IN (?, '%')`, schema, table).Scan(&rowsMatching, &disabled)
	if err != nil {
		return c, fmt.Errorf("read performance_schema.setup_objects: %w", err)
	}
	var partial []string
	if rowsMatching == 0 || disabled > 0 {
		partial = append(partial, "performance_schema.setup_objects does not enable instrumentation of this table (OBJECT_TYPE 'TABLE'): reads may not be observed")
	}
	if st.catchAll == 0 || st.actorsOff > 0 || st.threadsOff > 0 {
		partial = append(partial, fmt.Sprintf("performance_schema does not instrument every session (setup_actors: %d rows disabled, catch-all row enabled: %t; %d sessions now not instrumented): their reads are not observed",
			st.actorsOff, st.catchAll > 0, st.threadsOff))
	}
	c.Partial = strings.Join(partial, "; ")
	if c.IOWhy == "" {
		if c.IO, err = countStar(ctx, q, "table_io_waits_summary_by_table", schema, table); err != nil {
			return c, err
		}
	}
	if c.LockWhy == "" {
		if c.Lock, err = countStar(ctx, q, "table_lock_waits_summary_by_table", schema, table); err != nil {
			return c, err
		}
	}
	return c, nil
}

// countStar reads a table's COUNT_STAR from one of performance_schema's per-table
// summaries; a table never touched has no row: 0.
func countStar(ctx context.Context, q Querier, summary, schema, table string) (int64, error) {
	var n sql.NullInt64
	err := q.QueryRowxContext(ctx, `SELECT /* janitor */ SUM(COUNT_STAR) FROM performance_schema.`+summary+`
		WHERE OBJECT_TYPE = 'TABLE' AND OBJECT_SCHEMA = ? AND OBJECT_NAME = ?`, schema, table).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read performance_schema.%s: %w", summary, err)
	}
	return n.Int64, nil
}

// QuoteArg quotes a command-line argument for a POSIX shell when it needs it.
func QuoteArg(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r == '_' || r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			safe = false
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
