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
}

// AccessBaseline is the table's access counters when the hold began.
type AccessBaseline struct {
	// ServerStarted tells whether the counters below are from this server lifetime.
	ServerStarted time.Time `json:"server_started"`
	// IO is performance_schema's COUNT_STAR for the table; nil when not observable.
	IO *int64 `json:"io,omitempty"`
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
}

// gatherHold reads a held table's hold record and the evidence of access since.
func (in *Inspector) gatherHold(ctx context.Context, t *Table) {
	h, ok := ParseHold(t.Comment)
	if !ok {
		return
	}
	t.Hold = &h
	ev := &t.Evidence.Hold
	if h.PurgeStarted != nil {
		// The hold ended with no access seen, and janitor's own DELETEs since cannot be
		// told from anyone else's use.
		ev.Unobservable = "janitor began purging it at " + h.PurgeStarted.Format(time.DateTime) +
			" UTC, after its hold ended with no access seen: its own deletes hide any access since"
		return
	}
	b := h.Baseline
	// Writes: UPDATE_TIME moves on a write (in memory: a restart clears it).
	if t.UpdatedAt != nil && (b == nil || b.UpdateTime == nil || t.UpdatedAt.After(*b.UpdateTime)) && t.UpdatedAt.After(h.HeldAt.Add(-time.Second)) {
		ev.Accesses = append(ev.Accesses, "written at "+t.UpdatedAt.Format(time.DateTime)+" UTC (UPDATE_TIME)")
	}
	io, why, err := in.ReadTableIO(ctx, t.Schema, t.Name)
	switch {
	case err != nil:
		t.Evidence.unreadable("performance_schema table I/O", err)
	case why != "":
		ev.Unobservable = why
	default:
		started := in.server.Started(t.Evidence.Now)
		sameLife := b != nil && b.IO != nil && sameInstant(b.ServerStarted, started)
		switch {
		case sameLife && io > *b.IO:
			ev.Accesses = append(ev.Accesses, fmt.Sprintf("%d row operations since the hold began (performance_schema COUNT_STAR %d, was %d)", io-*b.IO, io, *b.IO))
		case !sameLife && io > 0:
			ev.Accesses = append(ev.Accesses, fmt.Sprintf("%d row operations since the server started (performance_schema COUNT_STAR)", io))
		case !sameLife:
			ev.Unobservable = "the server restarted during the hold (or the hold record has no baseline): reads before " +
				started.Format(time.DateTime) + " UTC cannot be observed"
		}
	}
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

// ReadTableIO returns performance_schema's COUNT_STAR of row operations on a table.
// why is not "" when the server does not count them (performance_schema off, the
// table instrument or its consumer disabled); a table never touched has no row: 0.
func (in *Inspector) ReadTableIO(ctx context.Context, schema, table string) (n int64, why string, err error) {
	qctx, cancel := in.ctx(ctx)
	defer cancel()
	return ReadTableIO(qctx, in.q, schema, table)
}

// ReadTableIO is Inspector.ReadTableIO on any querier.
func ReadTableIO(ctx context.Context, q Querier, schema, table string) (n int64, why string, err error) {
	var on sql.NullInt64
	if err := q.QueryRowxContext(ctx, "SELECT /* janitor */ @@performance_schema").Scan(&on); err != nil {
		return 0, "", fmt.Errorf("read @@performance_schema: %w", err)
	}
	if on.Int64 != 1 {
		return 0, "performance_schema is off on this server: reads cannot be observed, only writes (UPDATE_TIME)", nil
	}
	var enabled string
	err = q.QueryRowxContext(ctx, "SELECT /* janitor */ ENABLED FROM performance_schema.setup_instruments WHERE NAME = 'wait/io/table/sql/handler'").Scan(&enabled)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("read performance_schema.setup_instruments: %w", err)
	}
	if enabled != "YES" {
		return 0, "performance_schema's table I/O instrument (wait/io/table/sql/handler) is disabled: reads cannot be observed, only writes (UPDATE_TIME)", nil
	}
	var cons string
	err = q.QueryRowxContext(ctx, "SELECT /* janitor */ ENABLED FROM performance_schema.setup_consumers WHERE NAME = 'global_instrumentation'").Scan(&cons)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("read performance_schema.setup_consumers: %w", err)
	}
	if cons != "YES" {
		return 0, "performance_schema's global_instrumentation consumer is disabled: reads cannot be observed, only writes (UPDATE_TIME)", nil
	}
	var count sql.NullInt64
	err = q.QueryRowxContext(ctx, `SELECT /* janitor */ SUM(COUNT_STAR) FROM performance_schema.table_io_waits_summary_by_table
		WHERE OBJECT_TYPE = 'TABLE' AND OBJECT_SCHEMA = ? AND OBJECT_NAME = ?`, schema, table).Scan(&count)
	if err != nil {
		return 0, "", fmt.Errorf("read performance_schema.table_io_waits_summary_by_table: %w", err)
	}
	return count.Int64, "", nil
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
