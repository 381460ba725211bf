package discovery

import (
	"context"
	"fmt"
	"strings"
)

// Flavor is the server family; it decides which dictionary views exist.
type Flavor string

// Flavors janitor knows.
const (
	FlavorMariaDB Flavor = "mariadb"
	FlavorMySQL57 Flavor = "mysql57"
	FlavorMySQL8  Flavor = "mysql8"
)

// Server is what janitor knows about the server it talks to. Identity lets the dropper
// notice a failover between discovery and DROP.
type Server struct {
	Flavor   Flavor
	Version  string
	Hostname string
	Port     int
	ServerID uint64
	// UUID is @@server_uuid on MySQL; MariaDB has none, so it is empty there and
	// identity rests on hostname, port and server_id.
	UUID     string
	ReadOnly bool
	Aurora   bool
	// Uptime in seconds: a crashed ALTER's #sql table is at least this old.
	Uptime int64
	// SeesAllSessions is true when the account holds PROCESS: without it the
	// processlist shows only janitor's own sessions and proves nothing.
	SeesAllSessions bool
	// SeesTriggers is true when the account holds TRIGGER on all tables: without it
	// information_schema.TRIGGERS silently shows nothing, which would read as "no
	// trigger writes into this table".
	SeesTriggers bool
	// SeesRoutines is true when the account holds SELECT on all tables: without it the
	// server leaves other definers' stored routines out of information_schema.ROUTINES.
	SeesRoutines bool
	// SeesEvents is true when the account holds EVENT on all schemas: without it
	// information_schema.EVENTS silently shows nothing.
	SeesEvents bool
	// SeesGrants is true when the account holds SELECT on all tables: without it
	// information_schema.TABLE_PRIVILEGES shows the account its own grants only.
	SeesGrants bool
	// LowerCaseTableNames is @@lower_case_table_names: not 0, the server keeps names in
	// the dictionary and on disk in lower case.
	LowerCaseTableNames int
}

// Identity is a string that changes when a different server answers at the same address.
func (s Server) Identity() string {
	return fmt.Sprintf("%s:%d/id=%d/uuid=%s", s.Hostname, s.Port, s.ServerID, s.UUID)
}

type dialect struct {
	tablespaces string // FILE_SIZE/ALLOCATED_SIZE by tablespace NAME
	tables      string // InnoDB dictionary tables: NAME, TABLE_ID, SPACE
	foreign     string // foreign keys: ID, FOR_NAME, REF_NAME
	// Whether each view spells schema/table in the server's filename encoding (see
	// EncodeFilename) or as the identifiers themselves. Measured on MariaDB 10.11 (all
	// encoded) and MySQL 9.7 (tablespaces and foreign keys plain, tables encoded).
	tablespacesEncoded, tablesEncoded, foreignEncoded bool
	// partitionSep joins a table's name and a partition's in tablespace names.
	partitionSep string
	// ftsPrefix starts the names of a FULLTEXT index's auxiliary tables.
	ftsPrefix string
}

func (f Flavor) dialect() dialect {
	if f == FlavorMySQL8 {
		return dialect{tablespaces: "information_schema.INNODB_TABLESPACES", tables: "information_schema.INNODB_TABLES",
			foreign: "information_schema.INNODB_FOREIGN", tablesEncoded: true, partitionSep: "#p#", ftsPrefix: "fts_"}
	}
	return dialect{tablespaces: "information_schema.INNODB_SYS_TABLESPACES", tables: "information_schema.INNODB_SYS_TABLES",
		foreign: "information_schema.INNODB_SYS_FOREIGN", tablespacesEncoded: true, tablesEncoded: true, foreignEncoded: true,
		partitionSep: "#P#", ftsPrefix: "FTS_"}
}

// FlavorOf tells the server family from @@version and @@version_comment.
func FlavorOf(version, comment string) Flavor {
	v := strings.ToLower(version + " " + comment)
	switch {
	case strings.Contains(v, "mariadb"):
		return FlavorMariaDB
	case strings.HasPrefix(version, "5."):
		return FlavorMySQL57
	}
	return FlavorMySQL8
}

// CleansOrphans reports whether the server's crash recovery removes the #sql tables a
// crashed ALTER leaves (atomic DDL: MariaDB 10.6 and later, MySQL 8). On such a server a
// #sql table that exists belongs to a statement still running.
func (s Server) CleansOrphans() bool {
	switch s.Flavor {
	case FlavorMySQL8:
		return true
	case FlavorMariaDB:
		var major, minor int
		if _, err := fmt.Sscanf(s.Version, "%d.%d", &major, &minor); err != nil {
			return true // unknown: assume the newer behaviour, which keeps #sql tables
		}
		return major > 10 || (major == 10 && minor >= 6)
	}
	return false
}

// ReadServer reads the server's flavor and identity.
func ReadServer(ctx context.Context, q Querier) (Server, error) {
	var s Server
	var comment string
	var ro, innoRO int
	// Aurora readers are innodb_read_only, whatever read_only says. server_id has a
	// session copy on MariaDB, fixed at connect: only the global one shows a change.
	row := q.QueryRowxContext(ctx, `SELECT /* janitor */ @@version, @@version_comment, @@hostname, @@port, @@GLOBAL.server_id,
		@@read_only, @@innodb_read_only, @@lower_case_table_names`)
	if err := row.Scan(&s.Version, &comment, &s.Hostname, &s.Port, &s.ServerID, &ro, &innoRO, &s.LowerCaseTableNames); err != nil {
		return s, fmt.Errorf("read server variables: %w", err)
	}
	s.ReadOnly = ro != 0 || innoRO != 0
	s.Flavor = FlavorOf(s.Version, comment)
	if s.Flavor != FlavorMariaDB {
		if err := q.QueryRowxContext(ctx, `SELECT /* janitor */ @@server_uuid`).Scan(&s.UUID); err != nil {
			return s, fmt.Errorf("read server_uuid: %w", err)
		}
		var av string
		if err := q.QueryRowxContext(ctx, `SELECT /* janitor */ @@aurora_version`).Scan(&av); err == nil {
			s.Aurora = true
		}
	}
	var name string
	if err := q.QueryRowxContext(ctx, `SHOW /* janitor */ GLOBAL STATUS LIKE 'Uptime'`).Scan(&name, &s.Uptime); err != nil {
		return s, fmt.Errorf("read uptime: %w", err)
	}
	privs, err := globalPrivileges(ctx, q)
	if err != nil {
		return s, err
	}
	// PROCESS alone shows other accounts' sessions in the processlist; SUPER without
	// it does not.
	s.SeesAllSessions = privs["PROCESS"]
	s.SeesTriggers = privs["TRIGGER"]
	s.SeesRoutines = privs["SELECT"]
	s.SeesEvents = privs["EVENT"]
	s.SeesGrants = privs["SELECT"]
	return s, nil
}

// globalPrivileges returns the privileges the current account holds on *.*.
// USER_PRIVILEGES lists every account's grants to a privileged user, so it is filtered
// to CURRENT_USER().
func globalPrivileges(ctx context.Context, q Querier) (map[string]bool, error) {
	rows, err := q.QueryxContext(ctx, `SELECT /* janitor */ PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES
		WHERE GRANTEE = CONCAT('\'', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '\'@\'', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '\'')`)
	if err != nil {
		return nil, fmt.Errorf("read own privileges: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("read own privileges: %w", err)
		}
		out[strings.ToUpper(p)] = true
	}
	return out, rows.Err()
}
