// Package report is janitor's output: the JSON contract and its text and markdown
// renderings. The JSON field names are a stable contract; add fields, never rename.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/prometheus/common/version"

	"github.com/janitorhq/janitor/internal/human"
)

// Modes of a report.
const (
	ModeReport  = "report"  // inventory only
	ModeDryRun  = "dry-run" // `run` without --execute: the plan
	ModeExecute = "execute" // `run --execute`
)

// Outcomes of a table in a run.
const (
	OutcomeDropped  = "dropped"
	OutcomeSkipped  = "skipped"
	OutcomeDeferred = "deferred" // a limit, the throttle or a lock kept it for a later run
	OutcomeFailed   = "failed"
	OutcomePlanned  = "planned" // dry run: would be dropped
	// OutcomeHeld: renamed to a hold name (execute.hold); a later run drops it once the
	// hold has ended and nothing touched it.
	OutcomeHeld = "held"
	// OutcomeRestored: a held table someone asked for by its original name during the
	// hold, renamed back to it by this run (OriginalTable), its comment marked so that
	// later runs keep it (reason_code restored).
	OutcomeRestored = "restored"
)

// Report covers every shard of one invocation.
type Report struct {
	GeneratedAt time.Time `json:"generated_at"`
	Mode        string    `json:"mode"`
	// Build is the janitor that made the report (set by Finish).
	Build Build `json:"build"`
	// Partition is INDEX/COUNT when this run was one pod's share of the fleet
	// (--partition).
	Partition        string  `json:"partition,omitempty"`
	ReclaimableBytes int64   `json:"reclaimable_bytes"`
	ReclaimedBytes   *int64  `json:"reclaimed_bytes,omitempty"`
	Shards           []Shard `json:"shards"`
}

// Build says which janitor made a report. The release build stamps the values into
// prometheus/common/version with -ldflags -X (scripts/release.sh, deploy/Dockerfile),
// the same variables janitor_build_info reads; a plain `go build` leaves them to what
// Go's build information knows (cmd/janitor fills them in at start).
type Build struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	BuildDate string `json:"build_date"`
}

// CurrentBuild is the running binary's Build.
func CurrentBuild() Build {
	return Build{Version: version.Version, Revision: version.GetRevision(), BuildDate: version.BuildDate}
}

// Shard statuses.
const (
	StatusOK    = "ok"    // answered
	StatusError = "error" // could not be inventoried: see error
	// StatusNotVisited: the run ended (execute.deadline, a signal) before it reached the
	// shard. Not an error: the next run visits it. Blocked says why.
	StatusNotVisited = "not_visited"
)

// Why an execute run stopped dropping on a shard (Shard.BlockedCode). A bounded set: it
// is a metric label.
const (
	// A replica in shards[].replicas cannot be reached to see its sessions.
	BlockedReplicaUnreachable = "replica_unreachable"
	// A replica's sessions are hidden from janitor's account (no PROCESS, no SELECT on
	// performance_schema).
	BlockedReplicaGrants = "replica_grants"
	// A replica cannot say who holds a table's metadata lock (MariaDB without the
	// metadata_lock_info plugin, MySQL without performance_schema's MDL instrument).
	BlockedReplicaLockSource = "replica_lock_source"
	// A server the shard's binary log reaches (an attached replica, or one fed by a
	// replica in turn), or a live reader of an Aurora primary, is neither in
	// shards[].replicas nor in shards[].ignore_replicas, or reads the binary log without
	// registering: janitor cannot look at it.
	BlockedReplicaUnchecked = "replica_unchecked"
	// A replica's sessions or metadata locks could not be read for another reason.
	BlockedReplicaUnreadable = "replica_unreadable"
	// A replica's applier waits for a metadata lock or has stopped.
	BlockedReplicaApplier = "replica_applier"
	// A replica did not apply a purge batch within throttle.max_wait, although no
	// throttle signal held the purge back (lag can read healthy while an applier is
	// stuck or slow).
	BlockedReplicaApply = "replica_apply"
	// A throttle signal stayed unhealthy for throttle.max_wait.
	BlockedThrottle = "throttle"
	// The server is read-only or replicates: not a primary.
	BlockedReadOnly = "read_only"
	// A different server answers than the one inventoried.
	BlockedFailover = "failover"
	// Another janitor (or this run's previous session) holds the drop lock.
	BlockedLock = "lock"
	// The connection to the primary was lost too often or for too long.
	BlockedConnection = "connection"
	// execute.deadline or execute.max_duration was reached: before a statement, during
	// a throttle wait or a reconnect it cut short, or between purge batches.
	// (execute.max_tables_per_run and max_bytes_per_run block nothing: no code.)
	BlockedRunLimit = "run_limit"
	// A signal stopped the run.
	BlockedSignal = "signal"
)

// BlockedCodes lists every Shard.BlockedCode.
var BlockedCodes = []string{BlockedReplicaUnreachable, BlockedReplicaGrants, BlockedReplicaLockSource, BlockedReplicaUnchecked, BlockedReplicaUnreadable, BlockedReplicaApplier,
	BlockedReplicaApply, BlockedThrottle, BlockedReadOnly, BlockedFailover, BlockedLock, BlockedConnection, BlockedRunLimit, BlockedSignal}

// Shard is one shard's answer. Error is "" when the shard answered.
type Shard struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	// Status is StatusOK, StatusError or StatusNotVisited.
	Status           string  `json:"status"`
	Error            string  `json:"error"`
	ReclaimableBytes int64   `json:"reclaimable_bytes"`
	ReclaimedBytes   *int64  `json:"reclaimed_bytes,omitempty"`
	Tables           []Table `json:"tables"`
	// Blocked says why a run stopped early (throttle, failover, signal), with the
	// signal and its last value.
	Blocked string `json:"blocked,omitempty"`
	// BlockedCode is Blocked in a bounded set (Blocked*), set by execute runs only: what
	// janitor_shard_blocked and the JanitorShardBlocked alert read.
	BlockedCode string `json:"blocked_code,omitempty"`
	// Warnings are problems that did not stop the shard but mean part of it was not
	// looked at (a configured schema the server does not have). They do not change
	// the exit status.
	Warnings []string `json:"warnings,omitempty"`
	// ReadsInvisible is not "" when the shard's server keeps no statement statistics
	// (MariaDB with performance_schema off): janitor cannot see a statement asking for
	// a held table by its original name, and the hold is only a scream test. It says
	// why and the fix.
	ReadsInvisible string `json:"reads_invisible,omitempty"`
	// ThrottleWaitSeconds is time spent waiting for health, by signal.
	ThrottleWaitSeconds map[string]float64 `json:"throttle_wait_seconds,omitempty"`
}

// Table is one leftover.
type Table struct {
	Schema     string     `json:"schema"`
	Table      string     `json:"table"`
	Tool       string     `json:"tool"`
	Role       string     `json:"role"`
	BaseTable  string     `json:"base_table"`
	Bytes      int64      `json:"bytes"`
	SizeSource string     `json:"size_source"`
	Engine     string     `json:"engine,omitempty"`
	CreatedAt  *time.Time `json:"created_at"`
	AgeSeconds int64      `json:"age_seconds"`
	Verdict    string     `json:"verdict"`
	ReasonCode string     `json:"reason_code"`
	Reason     string     `json:"reason"`
	// Outcome and FreedBytes are set by `run`.
	Outcome    string `json:"outcome,omitempty"`
	FreedBytes int64  `json:"freed_bytes,omitempty"`
	// HeldUntil, OriginalTable and HoldName are set for a table janitor holds: when the
	// hold ends, the name it had (in the same schema), which `janitor restore` gives
	// back, and the name it has while held. In the run that holds it, Table is still the
	// original name and HoldName the new one; in later runs both are the hold name.
	HeldUntil     *time.Time `json:"held_until,omitempty"`
	OriginalTable string     `json:"original_table,omitempty"`
	HoldName      string     `json:"hold_name,omitempty"`
	// HoldState is where the table stands in janitor's hold lifecycle after this run
	// (discovery.HoldState's names: recorded, renamed, held, purging, dropped, restored,
	// unrecorded); empty for a table no hold has touched.
	HoldState string `json:"hold_state,omitempty"`
}

// Held reports whether the table is under janitor's hold and not dropped.
func (t Table) Held() bool {
	return t.HeldUntil != nil && t.Outcome != OutcomeDropped && t.Outcome != OutcomeRestored
}

// Finish sorts tables and sums the drop verdicts (and, in a run, the bytes freed).
func (r *Report) Finish() {
	r.Build = CurrentBuild()
	r.ReclaimableBytes = 0
	var reclaimed int64
	sort.SliceStable(r.Shards, func(i, j int) bool { return r.Shards[i].Name < r.Shards[j].Name })
	for i := range r.Shards {
		s := &r.Shards[i]
		switch {
		case s.Error != "":
			s.Status = StatusError
		case s.Status == "":
			s.Status = StatusOK
		}
		s.ReclaimableBytes = 0
		var freed int64
		for _, t := range s.Tables {
			// A held table is still on disk: reclaimable until its hold ends in a drop.
			if t.Verdict == "drop" && t.Outcome != OutcomeDropped || t.Verdict != "drop" && t.Held() {
				s.ReclaimableBytes += t.Bytes
			}
			freed += t.FreedBytes
		}
		if s.Tables == nil {
			s.Tables = []Table{}
		}
		sort.SliceStable(s.Tables, func(a, b int) bool {
			if s.Tables[a].Schema != s.Tables[b].Schema {
				return s.Tables[a].Schema < s.Tables[b].Schema
			}
			return s.Tables[a].Table < s.Tables[b].Table
		})
		if r.Mode == ModeExecute {
			f := freed
			s.ReclaimedBytes = &f
			reclaimed += freed
		}
		r.ReclaimableBytes += s.ReclaimableBytes
	}
	if r.Mode == ModeExecute {
		r.ReclaimedBytes = &reclaimed
	}
}

// NotVisited counts the shards the run did not reach.
func (r *Report) NotVisited() int {
	n := 0
	for _, s := range r.Shards {
		if s.Status == StatusNotVisited {
			n++
		}
	}
	return n
}

// Failed reports whether any shard or table failed.
func (r *Report) Failed() bool {
	for _, s := range r.Shards {
		if s.Error != "" {
			return true
		}
		for _, t := range s.Tables {
			if t.Outcome == OutcomeFailed {
				return true
			}
		}
	}
	return false
}

// Formats accepted by Write.
var Formats = []string{"text", "json", "markdown"}

// Write renders r in format.
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "text":
		return writeText(w, r)
	case "markdown":
		return writeMarkdown(w, r)
	}
	return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(Formats, ", "))
}

func title(r *Report) string {
	if r.Partition != "" {
		return titleOfMode(r) + ", partition " + r.Partition
	}
	return titleOfMode(r)
}

func titleOfMode(r *Report) string {
	switch r.Mode {
	case ModeDryRun:
		return "janitor run (dry run: nothing dropped)"
	case ModeExecute:
		return "janitor run --execute"
	}
	return "janitor report (dry run: nothing dropped)"
}

func writeText(w io.Writer, r *Report) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "%s — %s — %d shard(s), %s reclaimable", title(r), r.GeneratedAt.UTC().Format("2006-01-02 15:04:05 UTC"),
		len(r.Shards), human.Bytes(r.ReclaimableBytes))
	if r.ReclaimedBytes != nil {
		fmt.Fprintf(b, ", %s reclaimed", human.Bytes(*r.ReclaimedBytes))
	}
	b.WriteString("\n")
	for _, s := range r.Shards {
		b.WriteString("\n")
		addr := ""
		if s.Address != "" {
			addr = " (" + s.Address + ")"
		}
		if s.Error != "" {
			fmt.Fprintf(b, "%s%s: ERROR: %s\n", Printable(s.Name), Printable(addr), Printable(s.Error))
			if len(s.Tables) == 0 {
				continue
			}
		}
		fmt.Fprintf(b, "%s%s: %s\n", Printable(s.Name), Printable(addr), shardSummary(r, s))
		for _, w := range s.Warnings {
			fmt.Fprintf(b, "  warning: %s\n", Printable(w))
		}
		if s.Blocked != "" {
			fmt.Fprintf(b, "  stopped early: %s\n", Printable(s.Blocked))
		}
		if s.ReadsInvisible != "" {
			fmt.Fprintf(b, "  reads invisible: %s\n", Printable(s.ReadsInvisible))
		}
		if len(s.Tables) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
		head := "  VERDICT\tTABLE\tTOOL\tROLE\tBYTES\tAGE\tREASON"
		if r.Mode != ModeReport {
			head = "  OUTCOME\tTABLE\tTOOL\tROLE\tBYTES\tAGE\tREASON"
		}
		fmt.Fprintln(tw, head)
		for _, t := range s.Tables {
			state := t.Verdict
			if t.Outcome != "" {
				state = t.Outcome
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", state, Printable(t.Schema+"."+t.Table), t.Tool, t.Role,
				sizeCell(t), age(t.AgeSeconds), Printable(t.Reason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func shardSummary(r *Report, s Shard) string {
	drop, held := 0, 0
	var next *time.Time
	outcomes := map[string]int{}
	for _, t := range s.Tables {
		if t.Verdict == "drop" {
			drop++
		}
		if t.Held() && t.Outcome != OutcomeHeld {
			held++
			if next == nil || t.HeldUntil.Before(*next) {
				next = t.HeldUntil
			}
		}
		if t.Outcome != "" {
			outcomes[t.Outcome]++
		}
	}
	out := fmt.Sprintf("%d leftover(s), %d to drop, %s reclaimable", len(s.Tables), drop, human.Bytes(s.ReclaimableBytes))
	if s.ReclaimedBytes != nil {
		out += fmt.Sprintf(", %s reclaimed", human.Bytes(*s.ReclaimedBytes))
	}
	if len(outcomes) > 0 {
		var parts []string
		for _, o := range []string{OutcomeDropped, OutcomeHeld, OutcomeRestored, OutcomePlanned, OutcomeDeferred, OutcomeFailed, OutcomeSkipped} {
			if outcomes[o] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", outcomes[o], o))
			}
		}
		out += " (" + strings.Join(parts, ", ") + ")"
	}
	if held > 0 {
		out += fmt.Sprintf("; %d held from earlier runs, the first hold ends %s", held, next.UTC().Format("2006-01-02 15:04 UTC"))
	}
	return out
}

func sizeCell(t Table) string {
	switch t.SizeSource {
	case "system_tablespace":
		return "0 (system tablespace)"
	case "shared_tablespace":
		return "0 (shared tablespace)"
	case "tablespace_compressed":
		// The file's size; its punched holes free less.
		return "≤" + human.Bytes(t.Bytes)
	case "estimate", "tablespace_estimate":
		return "~" + human.Bytes(t.Bytes)
	case "unknown":
		return "?"
	}
	return human.Bytes(t.Bytes)
}

func writeMarkdown(w io.Writer, r *Report) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "### %s\n\n", title(r))
	fmt.Fprintf(b, "%s · %d shard(s) · **%s reclaimable**", r.GeneratedAt.UTC().Format("2006-01-02 15:04 UTC"), len(r.Shards), human.Bytes(r.ReclaimableBytes))
	if r.ReclaimedBytes != nil {
		fmt.Fprintf(b, " · **%s reclaimed**", human.Bytes(*r.ReclaimedBytes))
	}
	b.WriteString("\n\n| shard | status | leftovers | to drop | reclaimable |\n|---|---|---:|---:|---:|\n")
	for _, s := range r.Shards {
		status := "ok"
		if s.Error != "" {
			status = "❌ " + mdCell(s.Error)
		} else if s.Blocked != "" {
			status = "⏸ " + mdCell(s.Blocked)
		}
		for _, w := range s.Warnings {
			status += " ⚠️ " + mdCell(w)
		}
		if s.ReadsInvisible != "" {
			status += " 👁 " + mdCell(s.ReadsInvisible)
		}
		drop := 0
		for _, t := range s.Tables {
			if t.Verdict == "drop" {
				drop++
			}
		}
		fmt.Fprintf(b, "| %s | %s | %d | %d | %s |\n", mdCell(s.Name), status, len(s.Tables), drop, human.Bytes(s.ReclaimableBytes))
	}
	for _, s := range r.Shards {
		if len(s.Tables) == 0 {
			continue
		}
		fmt.Fprintf(b, "\n#### %s\n\n| | table | tool | bytes | age | reason |\n|---|---|---|---:|---:|---|\n", mdCell(s.Name))
		for _, t := range s.Tables {
			state := t.Verdict
			if t.Outcome != "" {
				state = t.Outcome
			}
			fmt.Fprintf(b, "| %s | `%s` | %s | %s | %s | %s |\n", state, mdCode(t.Schema+"."+t.Table), t.Tool, sizeCell(t),
				age(t.AgeSeconds), mdCell(t.Reason))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdCell keeps text from breaking a markdown table row.
func mdCell(s string) string {
	return mdEscaper.Replace(Printable(s))
}

// mdEscaper keeps names inside reasons from becoming markup where the markdown lands
// (a PR comment, a Slack message): a table named _<!channel>_old must not ping anyone,
// _[x](https://…)_old must not become a link, @org/team must not mention a team.
var mdEscaper = strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ",
	"&", "&amp;", "<", "&lt;", ">", "&gt;", "[", `\[`, "]", `\]`, "@", "@\u200b")

// mdCode is for text inside a code span, where links and mentions do not render but
// Slack still reads <…> and tables still split on |.
func mdCode(s string) string { return mdCodeEscaper.Replace(Printable(s)) }

var mdCodeEscaper = strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ", "`", "'", "&", "&amp;", "<", "&lt;", ">", "&gt;")

// Printable replaces control characters, so a hostile table name cannot rewrite the
// terminal or forge report lines.
func Printable(s string) string {
	return strings.Map(func(r rune) rune {
		// Control characters, and format characters (bidi overrides that display a name
		// reversed, zero-width characters) and line or paragraph separators.
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029 {
			return '�'
		}
		return r
	}, s)
}

// age prints a row's age in seconds for the AGE column (human.Age: one unit).
func age(s int64) string { return human.Age(time.Duration(s) * time.Second) }
