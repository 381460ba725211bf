// Package policies decides, for each leftover, whether janitor may drop it. A table is
// dropped only on positive evidence that it is dead; any doubt is a skip with a reason a
// DBA can act on. A wrongly dropped table is an outage; a wrongly kept one costs disk.
package policies

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/human"
)

// Config tunes the rules that have a threshold.
type Config struct {
	// MinAge is how old a leftover must be, on its tool's time base. 0 turns the age
	// rule off (the other rules still apply).
	MinAge time.Duration `mapstructure:"min_age"`
	// HeartbeatStaleAfter: a gh-ost changelog whose heartbeat and newest row of any kind
	// (a paused gh-ost writes status rows, not heartbeats) are older than this is dead.
	HeartbeatStaleAfter time.Duration `mapstructure:"heartbeat_stale_after"`
	// Keep lists tables janitor never holds or drops, whatever they look like.
	Keep []KeepEntry `mapstructure:"keep"`
}

// KeepEntry names one table, or every table of one schema, to keep. The schema and the
// table are separate keys because either may contain any character, dots included: no
// one string could say where the schema ends. Names match as the server stores them,
// ignoring case (with lower_case_table_names the server folds case, and keeping a table
// whose name only differs in case costs disk, never an outage).
type KeepEntry struct {
	Schema string `mapstructure:"schema"`
	Table  string `mapstructure:"table"`
	// AllTables keeps every leftover in Schema. A separate switch rather than a `*`
	// table: `*` is a legal table name.
	AllTables bool `mapstructure:"all_tables"`
}

// Matches reports whether the entry keeps schema.table.
func (k KeepEntry) Matches(schema, table string) bool {
	return strings.EqualFold(k.Schema, schema) && (k.AllTables || strings.EqualFold(k.Table, table))
}

func (k KeepEntry) String() string {
	if k.AllTables {
		return fmt.Sprintf("{schema: %q, all_tables: true}", k.Schema)
	}
	return fmt.Sprintf("{schema: %q, table: %q}", k.Schema, k.Table)
}

// KeepEntryFor is the policy.keep entry that keeps schema.table, as YAML.
func KeepEntryFor(schema, table string) string {
	return KeepEntry{Schema: schema, Table: table}.String()
}

// maxNameLength is the server's limit for schema and table names (characters).
const maxNameLength = 64

// validateName checks what a name in policy.keep can be: an entry that can never match
// keeps nothing, which is the one way a keep list fails open, so it is refused.
func validateName(key, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s: required", key)
	case len([]rune(name)) > maxNameLength:
		return fmt.Errorf("%s: %q is %d characters; the server allows at most %d, so it names no table", key, name, len([]rune(name)), maxNameLength)
	case strings.TrimRight(name, " ") != name:
		return fmt.Errorf("%s: %q ends with a space; the server allows no name that does, so it names no table", key, name)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("%s: %q contains a NUL character, which no name may", key, name)
	case len(name) > 1 && strings.HasPrefix(name, "`") && strings.HasSuffix(name, "`"):
		return fmt.Errorf("%s: %q is in backticks; write the name as it is, without SQL quoting (quote it for YAML if needed: \"a.b\")", key, name)
	}
	return nil
}

// Defaults are the policy thresholds janitor ships with.
func Defaults() Config {
	return Config{MinAge: 24 * time.Hour, HeartbeatStaleAfter: 10 * time.Minute}
}

// Validate names the key at fault.
func (c Config) Validate(prefix string) error {
	var errs []error
	if c.MinAge < 0 {
		errs = append(errs, fmt.Errorf("%s.min_age: must not be negative, got %s", prefix, c.MinAge))
	}
	if c.HeartbeatStaleAfter < time.Second {
		errs = append(errs, fmt.Errorf("%s.heartbeat_stale_after: must be at least 1s (gh-ost beats every 100ms), got %s", prefix, c.HeartbeatStaleAfter))
	}
	for i, k := range c.Keep {
		key := fmt.Sprintf("%s.keep[%d]", prefix, i)
		if err := validateName(key+".schema", k.Schema); err != nil {
			errs = append(errs, err)
		}
		switch {
		case k.AllTables && k.Table != "":
			errs = append(errs, fmt.Errorf("%s: has both table %q and all_tables: true; write one entry per table, or all_tables alone to keep the whole schema", key, k.Table))
		case k.AllTables:
		case k.Table == "":
			errs = append(errs, fmt.Errorf("%s.table: required: write {schema: s, table: t}, or {schema: s, all_tables: true} to keep every table of the schema", key))
		default:
			if err := validateName(key+".table", k.Table); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// Action is what to do with a table.
type Action string

// Actions.
const (
	Drop Action = "drop"
	Skip Action = "skip"
)

// Code is a short, bounded reason code: fit for a metric label.
type Code string

// Reason codes. Adding one is a change to the metrics contract.
const (
	CodeDead Code = "dead"
	// Codes of a person's decision to keep a table.
	CodeKeptByConfig       Code = "kept_by_config"
	CodeRestored           Code = "restored"
	CodeNotATable          Code = "not_a_table"
	CodeControlTable       Code = "control_table"
	CodeCutOverSentry      Code = "cutover_sentry"
	CodeEvidenceUnreadable Code = "evidence_unreadable"
	CodeSessionsHidden     Code = "sessions_hidden"
	CodeInUse              Code = "in_use"
	CodeLockHeld           Code = "lock_held"
	CodeBinlogClient       Code = "binlog_client"
	CodeTriggerWrites      Code = "trigger_writes"
	CodeRoutineReference   Code = "routine_reference"
	CodeLiveMigration      Code = "live_migration"
	CodeLiveHeartbeat      Code = "live_heartbeat"
	CodeDDLRunning         Code = "ddl_running"
	CodeViewReference      Code = "view_reference"
	CodeForeignKey         Code = "foreign_key"
	CodeMergeReference     Code = "merge_reference"
	CodeLinkReference      Code = "link_reference"
	CodeEventReference     Code = "event_reference"
	CodeTableGrant         Code = "table_grant"
	CodeBaseMissing        Code = "base_missing"
	CodeLookAlike          Code = "look_alike"
	CodeAmbiguousTool      Code = "ambiguous_tool"
	CodeVitessManaged      Code = "vitess_managed"
	CodeVitessNotDue       Code = "vitess_not_due"
	CodeAgeUnknown         Code = "age_unknown"
	CodeTooYoung           Code = "too_young"
	CodeRecentWrite        Code = "recent_write"
	CodeRecentRead         Code = "recent_read"
	// Codes of janitor's own holds (execute.hold).
	CodeHoldRecordMissing  Code = "hold_record_missing"
	CodeHeld               Code = "held"
	CodeAccessedDuringHold Code = "accessed_during_hold"
	// CodeNotInspected comes from NotInspected, not from a rule: the shard held more
	// candidates than one run may open (discovery.max_inspect).
	CodeNotInspected Code = "not_inspected"
)

// Codes lists every code, for metrics that want to export zeros.
var Codes = []Code{CodeDead, CodeKeptByConfig, CodeRestored, CodeNotATable, CodeControlTable, CodeCutOverSentry, CodeEvidenceUnreadable,
	CodeSessionsHidden, CodeInUse, CodeLockHeld, CodeBinlogClient, CodeTriggerWrites, CodeRoutineReference, CodeLiveMigration, CodeLiveHeartbeat,
	CodeDDLRunning, CodeViewReference, CodeForeignKey, CodeMergeReference, CodeLinkReference, CodeEventReference, CodeTableGrant, CodeBaseMissing, CodeLookAlike, CodeAmbiguousTool, CodeVitessManaged,
	CodeVitessNotDue, CodeAgeUnknown, CodeTooYoung, CodeRecentWrite, CodeRecentRead, CodeHoldRecordMissing, CodeHeld, CodeAccessedDuringHold,
	CodeNotInspected}

// Verdict is the policy's answer for one table.
type Verdict struct {
	Action Action
	Code   Code
	Reason string
}

// Context is what the policy knows beyond the table: per-shard facts.
type Context struct {
	// VitessTableGC: Vitess' own table GC runs on this shard.
	VitessTableGC bool
	// WrittenByJanitor: the table's last writes were janitor's own purge batches, so
	// UPDATE_TIME says nothing about anyone else.
	WrittenByJanitor bool
	// ClockShift is added to the server's clock when judging whether a hold has ended:
	// tests move past a hold without waiting for it. Zero in production.
	ClockShift time.Duration
	// Shard is the configured shard's name, for the restore command in a held table's
	// reason.
	Shard string
}

// ghostSentryComment is the table comment gh-ost gives its cut-over sentry.
const ghostSentryComment = "ghost-cut-over-sentry"

type rule struct {
	code  Code
	check func(c Config, pc Context, t *discovery.Table) (reason string, skip bool)
}

// rules run in order; the first that objects decides. The order puts what would break
// production (sessions, triggers, locks) before what is merely uncertain.
var rules = []rule{
	// A person's decision comes first: it is the reason they will look for.
	{CodeKeptByConfig, func(c Config, pc Context, t *discovery.Table) (string, bool) {
		h := t.JanitorHold()
		for i, k := range c.Keep {
			if h != nil && (k.Matches(t.Schema, h.Table) || k.Matches(t.Schema, t.Name)) {
				return fmt.Sprintf("held as %s, and policy.keep[%d] %s lists it: never dropped; bring it back with `%s`",
					t.Name, i, k, restoreCommand(pc, t)), true
			}
			if k.Matches(t.Schema, t.Name) {
				return fmt.Sprintf("listed in policy.keep[%d] %s", i, k), true
			}
		}
		return "", false
	}},
	{CodeRestored, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		at, found := discovery.ParseRestored(t.Comment)
		if !found {
			return "", false
		}
		when := "restored by janitor"
		if !at.IsZero() {
			when += " on " + at.Format(time.DateTime) + " UTC"
		}
		return when + " (its comment says so): kept; to let janitor drop it again, remove that part of its comment", true
	}},
	{CodeNotATable, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return fmt.Sprintf("is a %s, not a base table", strings.ToLower(t.Type)), t.Type != "BASE TABLE"
	}},
	{CodeControlTable, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return fmt.Sprintf("%s control table: dropping it can trigger or break a running migration (never dropped)", t.Tool),
			t.Role == discovery.RoleControl
	}},
	{CodeCutOverSentry, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		// Bytebase's gh-ost marks its sentry with the same comment.
		return "gh-ost cut-over sentry: it exists only while a cut-over runs",
			t.Role == discovery.RoleSentry || strings.Contains(t.Comment, ghostSentryComment)
	}},
	{CodeHoldRecordMissing, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "has a janitor hold name but no hold record in its comment: its original name is unknown; look at it and rename or drop it by hand",
			t.HoldState() == discovery.HoldUnrecorded
	}},
	{CodeEvidenceUnreadable, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "could not read all evidence: " + strings.Join(t.Evidence.Unreadable, "; "), len(t.Evidence.Unreadable) > 0
	}},
	{CodeSessionsHidden, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "cannot see other sessions, so cannot prove none uses it (grant PROCESS)", !t.Evidence.SeesAllSessions
	}},
	{CodeInUse, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "in use by " + strings.Join(t.Evidence.Sessions, ", "), len(t.Evidence.Sessions) > 0
	}},
	{CodeLockHeld, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "a migration holds named lock " + strings.Join(t.Evidence.LocksHeld, ", "), len(t.Evidence.LocksHeld) > 0
	}},
	{CodeBinlogClient, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		// Whatever its heartbeat says: a paused gh-ost beats no more but stays connected.
		return fmt.Sprintf("%s streams the binary log while it migrates, and a binary log client that is not a replica is connected: %s; "+
			"it may be the tool, paused or postponing its cut-over (if it is not, each client above says how to make its account one janitor can tell from the tool)",
			toolName(t), strings.Join(t.Evidence.BinlogClients, "; ")), len(t.Evidence.BinlogClients) > 0
	}},
	// janitor holds no crashed ALTER's #sql table (those are dropped at once, never
	// renamed), so a hold record that says it held one held a user's table named like one
	// (before issue 18; look_alike, below): never dropped at the hold's end.
	{CodeLookAlike, func(_ Config, pc Context, t *discovery.Table) (string, bool) {
		if t.JanitorHold() == nil {
			return "", false
		}
		s := discovery.SpecOf(t.Hold.Tool)
		if s == nil || s.Unlisted == "" {
			return "", false
		}
		return fmt.Sprintf("held as %s, read then as a crashed ALTER's table, which janitor never holds: a table someone named like one; restore it with `%s`",
			t.Name, restoreCommand(pc, t)), true
	}},
	{CodeAccessedDuringHold, func(_ Config, pc Context, t *discovery.Table) (string, bool) {
		if t.JanitorHold() == nil || pc.WrittenByJanitor {
			return "", false
		}
		// Any use of a table under its hold name is a use nobody could have meant for a
		// leftover: whoever reads it by that name found it after the hold broke them.
		acc := append(append([]string{}, t.Evidence.Hold.Accesses...), t.Evidence.Sessions...)
		return fmt.Sprintf("held since %s UTC and accessed during the hold (%s): kept; if something needs it, restore it with `%s`",
			t.Hold.HeldAt.Format(time.DateTime), strings.Join(acc, "; "), restoreCommand(pc, t)), len(acc) > 0
	}},
	{CodeHeld, func(_ Config, pc Context, t *discovery.Table) (string, bool) {
		if t.JanitorHold() == nil {
			return "", false
		}
		return fmt.Sprintf("held by janitor until %s UTC (was %s); restore with `%s`",
			t.Hold.Until.Format(time.DateTime), t.Hold.Table, restoreCommand(pc, t)), !t.Evidence.Now.Add(pc.ClockShift).After(t.Hold.Until)
	}},
	{CodeTriggerWrites, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "trigger " + strings.Join(t.Evidence.WritingTriggers, ", ") + " writes into it: dropping it would break writes to " +
			baseOr(t, "the trigger's table"), len(t.Evidence.WritingTriggers) > 0
	}},
	{CodeLiveMigration, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		// A live migration's triggers feed its copy and delta tables; an old copy from
		// an earlier run on the same base is not part of it.
		feeds := t.Role == discovery.RoleNew || t.Role == discovery.RoleDelta
		return fmt.Sprintf("%s triggers %s on %s: a migration is running or crashed mid-copy", t.Tool,
			strings.Join(t.Evidence.ToolTriggers, ", "), t.Base), feeds && len(t.Evidence.ToolTriggers) > 0
	}},
	{CodeLiveHeartbeat, func(c Config, _ Context, t *discovery.Table) (string, bool) {
		ev := t.Evidence
		if hb := ev.HeartbeatAge; hb != nil && *hb < c.HeartbeatStaleAfter {
			return fmt.Sprintf("gh-ost heartbeat in %s is %s old (live until %s): migration running", ev.Changelog,
				human.Duration(*hb), human.Duration(c.HeartbeatStaleAfter)), true
		}
		// A gh-ost its operator throttled writes no heartbeat but goes on writing its
		// status rows: a changelog written recently is a migration alive.
		if w := ev.ChangelogWritten; w != nil && *w < c.HeartbeatStaleAfter {
			hb := "no heartbeat row"
			if ev.HeartbeatAge != nil {
				hb = "heartbeat " + human.Duration(*ev.HeartbeatAge) + " old"
			}
			return fmt.Sprintf("gh-ost changelog %s was written %s ago (row %q; live until %s) though its %s: migration paused or throttled, not dead",
				ev.Changelog, human.Duration(*w), ev.ChangelogHint, human.Duration(c.HeartbeatStaleAfter), hb), true
		}
		return "", false
	}},
	{CodeDDLRunning, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		if t.Orphan && t.Evidence.OrphansCleaned {
			return "this server's crash recovery removes crashed ALTERs' #sql tables (MariaDB 10.6+, MySQL 8): one that exists belongs to a statement still running", true
		}
		return "an ALTER-like statement is running and may own this #sql table: " + strings.Join(t.Evidence.DDLRunning, "; "),
			len(t.Evidence.DDLRunning) > 0
	}},
	{CodeRoutineReference, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "stored " + strings.Join(t.Evidence.Routines, ", ") + " names it: a trigger, an event or the application may call it to write there",
			len(t.Evidence.Routines) > 0
	}},
	{CodeViewReference, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "referenced by view " + strings.Join(t.Evidence.Views, ", "), len(t.Evidence.Views) > 0
	}},
	{CodeForeignKey, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "referenced by foreign key " + strings.Join(t.Evidence.ForeignKeys, ", "), len(t.Evidence.ForeignKeys) > 0
	}},
	{CodeMergeReference, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "listed in the UNION of MERGE table " + strings.Join(t.Evidence.MergeTables, ", ") +
			": dropping it makes every query on that table fail (error 1168)", len(t.Evidence.MergeTables) > 0
	}},
	{CodeLinkReference, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "named by the connection or table list of " + strings.Join(t.Evidence.LinkTables, ", ") +
			", which may read it through this server", len(t.Evidence.LinkTables) > 0
	}},
	{CodeEventReference, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "scheduled event " + strings.Join(t.Evidence.Events, ", ") + " names it: it runs too seldom for recent_write, and fails once the table is gone",
			len(t.Evidence.Events) > 0
	}},
	{CodeTableGrant, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		return "granted on the table itself to " + strings.Join(t.Evidence.TableGrants, "; ") +
			": someone was meant to use it; a grant outlives DROP and RENAME, so if it is stale, REVOKE it", len(t.Evidence.TableGrants) > 0
	}},
	// A table someone read recently is in use, whatever its name says. Only a read with a
	// time is "recent" (a statement digest's LAST_SEEN); a counter that counts since the
	// server started says only "since then", which is recent when the start is.
	{CodeRecentRead, func(c Config, _ Context, t *discovery.Table) (string, bool) {
		r := t.Evidence.Reads
		if c.MinAge == 0 || t.Tool == discovery.ToolJanitor {
			return "", false
		}
		if r.Last != nil {
			// A digest seen after the inventory read the server's clock is "0s ago".
			if ago := max(t.Evidence.Now.Sub(*r.Last), 0); ago < c.MinAge {
				return fmt.Sprintf("a statement used it by name %s ago, within policy.min_age %s: %s", human.Duration(ago), human.Duration(c.MinAge), r.LastWhat), true
			}
		}
		if r.Count > 0 && r.CountSince != nil {
			if ago := t.Evidence.Now.Sub(*r.CountSince); ago < c.MinAge {
				return fmt.Sprintf("read %d times since the server started %s ago (%s), within policy.min_age %s", r.Count, human.Duration(ago), r.CountWhat, human.Duration(c.MinAge)), true
			}
		}
		return "", false
	}},
	{CodeLookAlike, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		// A table with the tool's trace was kept by an earlier rule (its triggers).
		s := discovery.SpecOf(t.Tool)
		if s == nil {
			return "", false
		}
		if s.Unlisted != "" && !t.Orphan {
			return s.Unlisted + " (never dropped; drop it by hand if it is the server's)", true
		}
		why, ok := s.TraceOnly[t.Role]
		return why + ": may be an application table with a look-alike name (never dropped; drop it by hand if it is the tool's)", ok
	}},
	{CodeBaseMissing, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		if t.Base == "" || t.Evidence.BaseExists {
			return "", false
		}
		why := fmt.Sprintf("base table %s does not exist: may be an application table with a look-alike name", t.Base)
		if discovery.Truncated(t.Name) {
			why += " (the name is 64 characters: the tool may have cut the base name)"
		}
		return why, true
	}},
	{CodeAmbiguousTool, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		if t.Tool != discovery.ToolAmbiguous {
			return "", false
		}
		if len(t.TracedTools) > 1 {
			// discovery.tools_in_use only settles names no trace tells apart.
			return discovery.AmbiguityReason(t) + "; look at both, and drop it by hand once no migration uses it", true
		}
		return discovery.AmbiguityReason(t) + "; list the tool your fleet runs in discovery.tools_in_use, or drop by hand if it is yours", true
	}},
	{CodeVitessManaged, func(_ Config, pc Context, t *discovery.Table) (string, bool) {
		return "Vitess table GC runs on this shard and owns its _vt_ tables", t.Tool == discovery.ToolVitess && pc.VitessTableGC
	}},
	{CodeVitessNotDue, func(_ Config, _ Context, t *discovery.Table) (string, bool) {
		if t.Tool != discovery.ToolVitess {
			return "", false
		}
		return fmt.Sprintf("Vitess %s state is due at %s UTC, not yet", t.Role, t.Reading.Stamp.Format(time.DateTime)),
			!t.Evidence.Now.After(t.Reading.Stamp)
	}},
	{CodeAgeUnknown, func(c Config, _ Context, t *discovery.Table) (string, bool) {
		_, _, ok := t.Age()
		return "no time base: neither name stamp, heartbeat nor CREATE_TIME", c.MinAge > 0 && !ok && !discovery.DueStamp(t)
	}},
	{CodeTooYoung, func(c Config, _ Context, t *discovery.Table) (string, bool) {
		age, src, ok := t.Age()
		if !ok || discovery.DueStamp(t) {
			return "", false
		}
		return fmt.Sprintf("%s old by %s, younger than policy.min_age %s", human.Duration(age), src, human.Duration(c.MinAge)), c.MinAge > 0 && age < c.MinAge
	}},
	// Whatever the name or heartbeat says, a table someone wrote to recently is in use.
	{CodeRecentWrite, func(c Config, pc Context, t *discovery.Table) (string, bool) {
		// A held table's writes are judged against its hold (accessed_during_hold).
		if t.UpdatedAt == nil || c.MinAge == 0 || pc.WrittenByJanitor || t.Tool == discovery.ToolJanitor {
			return "", false
		}
		ago := t.Evidence.Now.Sub(*t.UpdatedAt)
		return fmt.Sprintf("written %s ago (UPDATE_TIME), within policy.min_age %s", human.Duration(ago), human.Duration(c.MinAge)), ago < c.MinAge
	}},
}

// NotInspected is the verdict for a candidate a run did not open because the shard held
// more candidates (of) than one run may inspect (limit).
func NotInspected(of, limit int) Verdict {
	return Verdict{Action: Skip, Code: CodeNotInspected, Reason: fmt.Sprintf(
		"not inspected: the shard has %d candidates and discovery.max_inspect is %d; each run inspects a share starting at a random one",
		of, limit)}
}

// Evaluate returns the verdict for one inspected table.
func Evaluate(c Config, pc Context, t *discovery.Table) Verdict {
	for _, r := range rules {
		if reason, skip := r.check(c, pc, t); skip {
			return Verdict{Action: Skip, Code: r.code, Reason: reason}
		}
	}
	return Verdict{Action: Drop, Code: CodeDead, Reason: deadReason(c, t)}
}

func deadReason(c Config, t *discovery.Table) string {
	var parts []string
	if h := t.JanitorHold(); h != nil {
		parts = append(parts, fmt.Sprintf("janitor's hold of %s (%s) ended at %s UTC", h.Table, h.Tool, h.Until.Format(time.DateTime)))
		if why := t.Evidence.Hold.Unobservable; why != "" {
			parts = append(parts, "no write observed; "+why+", so the hold alone decides")
		} else {
			parts = append(parts, "no read or write observed during the hold")
		}
	} else if t.Tool == discovery.ToolVitess {
		parts = append(parts, fmt.Sprintf("Vitess %s state fell due at %s UTC", t.Role, t.Reading.Stamp.Format(time.DateTime)))
	} else if age, src, ok := t.Age(); ok {
		parts = append(parts, fmt.Sprintf("%s old by %s", human.Duration(age), src))
	}
	if t.Evidence.HeartbeatAge != nil {
		parts = append(parts, fmt.Sprintf("heartbeat stopped %s ago", human.Duration(*t.Evidence.HeartbeatAge)))
	}
	if w := t.Evidence.ChangelogWritten; w != nil {
		parts = append(parts, fmt.Sprintf("changelog last written %s ago", human.Duration(*w)))
	}
	if t.Base != "" {
		parts = append(parts, "base "+t.Base+" exists")
	}
	parts = append(parts, "no "+usesWords+" uses it")
	if s := discovery.SpecOf(t.Tool); s != nil && s.StreamsBinlog {
		parts = append(parts, "no binary log client may be "+s.Name)
	}
	if t.ToolDeclared {
		parts = append(parts, fmt.Sprintf("read as %s by discovery.tools_in_use (the name also fits another tool)", t.Tool))
	}
	return strings.Join(parts, "; ")
}

// usesWords lists the evidence kinds' words for the dead reason ("trigger, event, …,
// lock or session"), from discovery's table of kinds in their DeadRank order: a kind
// added there is named here.
var usesWords = func() string {
	kinds := discovery.EvidenceKinds()
	slices.SortStableFunc(kinds, func(a, b discovery.EvidenceKind) int { return cmp.Compare(a.DeadRank, b.DeadRank) })
	var words []string
	for _, k := range kinds {
		if k.Dead != "" {
			words = append(words, k.Dead)
		}
	}
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}()

// toolName is how messages name t's tool.
func toolName(t *discovery.Table) string {
	if s := discovery.SpecOf(t.Tool); s != nil {
		return s.Name
	}
	return "a tool its name fits"
}

// restoreCommand is the command that restores a held table on the shard evaluated.
func restoreCommand(pc Context, t *discovery.Table) string {
	return discovery.RestoreCommand(pc.Shard, t.Schema, t.Hold.Table)
}

func baseOr(t *discovery.Table, alt string) string {
	if t.Base != "" {
		return t.Base
	}
	return alt
}
