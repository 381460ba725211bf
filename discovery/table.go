package discovery

import (
	"fmt"
	"time"
)

// Size sources, from most to least trusted.
const (
	SizeTablespace       = "tablespace"        // the .ibd file's allocated size (MySQL 8+: its size)
	SizeTableStatus      = "table_status"      // non-InnoDB: computed from the files
	SizeSystemTablespace = "system_tablespace" // file_per_table was off: frees nothing on disk
	// SizeSharedTablespace: MySQL 8+, an InnoDB table with no tablespace of its own: it
	// lives in the system tablespace (created with file_per_table off, or TABLESPACE
	// innodb_system) or in a general tablespace (CREATE TABLESPACE), whose files a DROP
	// does not shrink. Bytes is 0.
	SizeSharedTablespace = "shared_tablespace"
	// SizeTablespaceCompressed: MySQL 8+, a table with COMPRESSION (transparent page
	// compression), whose file has holes punched in it: it takes less on disk than its
	// size, and the DROP frees what it takes. information_schema.FILES knows only the
	// size, and the one view that knows the allocated size (INNODB_TABLESPACES) stats
	// every tablespace file on the server to answer: Bytes is the file's size, an upper
	// bound.
	SizeTablespaceCompressed = "tablespace_compressed"
	// SizeTablespaceEstimate: MySQL 8+, a tablespace found whose files include one whose
	// size information_schema.FILES does not give (under one extent, 1 MiB, or not
	// opened since the server started): the statistics' estimate.
	SizeTablespaceEstimate = "tablespace_estimate"
	SizeEstimate           = "estimate" // statistics only; tablespace not found
	SizeUnknown            = "unknown"
)

// Table is one candidate with everything janitor learned about it.
type Table struct {
	Schema string
	Name   string
	// Tool and Role are the resolved reading; Tool is ToolAmbiguous when the evidence
	// cannot tell two tools apart.
	Tool Tool
	Role Role
	// Base is the altered table ("" when the name carries none).
	Base string
	// Reading is the rule reading Tool/Role/Base came from.
	Reading Match
	// Readings is every rule that matched the name.
	Readings []Match
	// ToolDeclared: several tools fit the name, no trace told them apart, and Tool is
	// the one Options.ToolsInUse lists.
	ToolDeclared bool
	// TracedTools: the name fits several tools and traces of each of these are on the
	// server, so Tool is ToolAmbiguous.
	TracedTools []Tool
	// Orphan: a #sql table from the InnoDB dictionary.
	Orphan bool

	Type       string // BASE TABLE, VIEW, SEQUENCE, SYSTEM VERSIONED
	Engine     string
	Comment    string
	CreatedAt  *time.Time
	UpdatedAt  *time.Time
	Bytes      int64
	SizeSource string

	Evidence Evidence
	// Hold is janitor's hold record, read from the comment of a table janitor renamed
	// to a hold name (Tool ToolJanitor); nil otherwise.
	Hold *Hold

	statBytes   int64
	partitioned bool
	// compressed: CREATE_OPTIONS holds COMPRESSION="zlib" or "lz4" (MySQL's punched
	// holes).
	compressed bool
}

// DataBytes is the table's size as its DROP must walk it: Bytes, but for a table in a
// shared tablespace the statistics' data and index length. Such a table frees 0 bytes
// on disk (Bytes), yet its DROP still frees every page it holds inside that
// tablespace: execute.large_table's threshold weighs this, not what the file system
// gets back.
func (t *Table) DataBytes() int64 {
	if t.SizeSource == SizeSystemTablespace || t.SizeSource == SizeSharedTablespace {
		return max(t.Bytes, t.statBytes)
	}
	return t.Bytes
}

// Evidence is every fact the policies weigh.
type Evidence struct {
	// Now is the server's clock (UTC): ages are measured on the server's time base.
	Now        time.Time
	BaseExists bool
	// WritingTriggers are triggers whose body writes into this table, or that sit on it.
	WritingTriggers []string
	// Routines are stored procedures and functions whose body names this table: a
	// trigger, an event or the application may call them to write there.
	Routines []string
	// ToolTriggers are a tool's triggers on the base table (a live or crashed migration).
	ToolTriggers []string
	// Events are scheduled events whose body names this table, enabled or not.
	Events []string
	// TableGrants are grants on this table or its columns to accounts other than
	// janitor's, one entry per grantee.
	TableGrants []string
	// Views that mention this table.
	Views []string
	// ForeignKeys that reference this table from another table.
	ForeignKeys []string
	// MergeTables are MERGE (MRG_MyISAM) tables whose UNION lists this table.
	MergeTables []string
	// LinkTables are FEDERATED, CONNECT, SPIDER or OQGRAPH tables whose definition
	// (connection string, table list, data table) names this table.
	LinkTables []string
	// Changelog is gh-ost's changelog table for this migration, "" when absent.
	Changelog string
	// HeartbeatAge is how long ago gh-ost last wrote its heartbeat; nil when there is none.
	HeartbeatAge *time.Duration
	// ChangelogWritten is how long ago the changelog's newest row of any hint was
	// written (a paused gh-ost writes status rows, not heartbeats), and ChangelogHint
	// that row's hint; nil when the changelog is empty or absent.
	ChangelogWritten *time.Duration
	ChangelogHint    string
	// BinlogClients are sessions streaming the server's binary log (Binlog Dump) that
	// janitor cannot show to be replicas: for a tool that streams the binary log while
	// it migrates (gh-ost), such a session may be the tool, paused or not.
	BinlogClients []string
	// CheckpointExists: a Spirit checkpoint table for the same base exists.
	CheckpointExists bool
	// LocksHeld are named locks (GET_LOCK) a tool holds while it migrates this table.
	LocksHeld []string
	// Sessions are other sessions whose running statement mentions this table.
	Sessions []string
	// DDLRunning are running ALTER-like statements (for #sql orphans).
	DDLRunning []string
	// OrphansCleaned: the server's crash recovery removes crashed ALTERs' #sql tables
	// (atomic DDL), so a #sql table on it belongs to a running statement.
	OrphansCleaned bool
	// SeesAllSessions is false when the account cannot see other sessions.
	SeesAllSessions bool
	// ServerUptime in seconds.
	ServerUptime int64
	// Hold is the evidence of access to a held table.
	Hold HoldEvidence
	// Reads is the evidence of recent reads of a table not held (recent_read).
	Reads Reads
	// Unreadable lists evidence that could not be read, as "what: error".
	Unreadable []string
}

func (e *Evidence) unreadable(what string, err error) {
	e.Unreadable = append(e.Unreadable, fmt.Sprintf("%s: %v", what, err))
}

// Age returns the table's age on the tool's own time base and a word on where it came
// from. ok is false when janitor has no time base for it.
//
// Name stamps win over CREATE_TIME, which after a RENAME can be the original table's.
// gh-ost and LHM stamp in their host's local time, which janitor cannot know, so the
// stamp is read as the latest instant it could mean (UTC-12). Vitess stamps are a due
// time: the age is how long ago it fell due, negative before.
func (t *Table) Age() (age time.Duration, source string, ok bool) {
	now := t.Evidence.Now
	r := t.Reading
	switch {
	case !r.Stamp.IsZero() && r.StampIsDue:
		return now.Sub(r.Stamp), "time stamp in name (due time, UTC)", true
	case !r.Stamp.IsZero() && r.StampZone == StampHostLocal:
		return now.Sub(r.Stamp.Add(12 * time.Hour)), "time stamp in name (tool host's local time, read as UTC-12)", true
	case !r.Stamp.IsZero():
		return now.Sub(r.Stamp), "time stamp in name (UTC)", true
	case t.Evidence.ChangelogWritten != nil && (t.Evidence.HeartbeatAge == nil || *t.Evidence.ChangelogWritten < *t.Evidence.HeartbeatAge):
		// A paused gh-ost beats no more but writes status rows: its last write is
		// the migration's age.
		return *t.Evidence.ChangelogWritten, "gh-ost changelog's last write", true
	case t.Evidence.HeartbeatAge != nil:
		return *t.Evidence.HeartbeatAge, "gh-ost heartbeat", true
	case t.Orphan:
		// A crashed ALTER leaves its #sql table only through a crash, so the table
		// predates the server's start.
		return time.Duration(t.Evidence.ServerUptime) * time.Second, "server uptime (an orphan predates the restart)", true
	}
	var last *time.Time
	source = "CREATE_TIME"
	if t.CreatedAt != nil {
		last = t.CreatedAt
	}
	if t.UpdatedAt != nil && (last == nil || t.UpdatedAt.After(*last)) {
		last, source = t.UpdatedAt, "UPDATE_TIME (last write)"
	}
	if last == nil {
		return 0, "", false
	}
	return now.Sub(*last), source, true
}
