package discovery

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/janitorhq/janitor/dbconn"
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
	// Restrictions are the schemas a MySQL partial revoke hides from the account although
	// its global privileges (above) would show them: see readRestrictions.
	Restrictions []Restriction
}

// Restriction is one schema the account's global privileges do not reach: MySQL with
// partial_revokes=ON lets `REVOKE … ON db.*` take a global privilege back for one schema,
// and the server then hides that schema's views, triggers, routines and events from the
// account without an error, while information_schema.USER_PRIVILEGES still lists the
// global privilege. A view there that reads a leftover was missed, and the leftover
// dropped (issue 18 §2).
type Restriction struct {
	// Schema is the schema the revoke names; "" when its line could not be read.
	Schema string
	// Privileges are the revoked privileges that hide evidence (visibilityPrivileges),
	// as SHOW GRANTS spells them.
	Privileges []string
	// Line is SHOW GRANTS' line.
	Line string
}

// visibilityPrivileges are those whose absence hides evidence: SELECT (tables, routines'
// bodies, other accounts' grants), SHOW VIEW (view definitions), TRIGGER and EVENT.
var visibilityPrivileges = []string{"SELECT", "SHOW VIEW", "TRIGGER", "EVENT"}

// HiddenEvidence says, for a server whose account has Restrictions, what janitor cannot
// see and the GRANT that lifts each restriction; nil when nothing is hidden. Every
// candidate gets it as unreadable evidence: a view, trigger, routine or event in a hidden
// schema may name a table in any schema, and nothing tells which.
func (s Server) HiddenEvidence() error {
	if len(s.Restrictions) == 0 {
		return nil
	}
	var parts []string
	for _, r := range s.Restrictions {
		if r.Schema == "" {
			parts = append(parts, fmt.Sprintf("a revoke janitor cannot read (%q): drop it, or fix janitor", r.Line))
			continue
		}
		q := dbconn.QuoteIdent(r.Schema)
		parts = append(parts, fmt.Sprintf("%s (REVOKE %s ON %s.*: GRANT %s ON %s.* TO %s lifts it)", q, strings.Join(r.Privileges, ", "), q,
			strings.Join(visibilityPrivileges, ", "), q, accountOf(r.Line)))
	}
	return fmt.Errorf("partial revokes hide schemas from this account, whose views, triggers, routines and events may use this table unseen: %s; docs/dropping.md, Least privilege",
		strings.Join(parts, "; "))
}

// readRestrictions reads the account's partial revokes from SHOW GRANTS, which the
// account may always run for itself and which lists them, with the account's active
// roles merged in, as `REVOKE privileges ON db.* FROM user@host` (measured on 9.7.4: a
// role granting SELECT on *.* removes SELECT from the line; mysql.user's
// User_attributes holds the same restrictions without the roles, and needs SELECT on
// mysql.user, which a partial revoke may take away too). MariaDB has no partial revokes
// and prints no such line. Only revokes of visibilityPrivileges are kept: REVOKE INSERT
// hides nothing.
func readRestrictions(ctx context.Context, q Querier) ([]Restriction, error) {
	lines, err := queryAll(ctx, &Inspector{q: q}, "SHOW /* janitor */ GRANTS", nil, scanString)
	if err != nil {
		return nil, fmt.Errorf("read own grants (SHOW GRANTS): %w", err)
	}
	var out []Restriction
	for _, line := range lines {
		if !strings.HasPrefix(line, "REVOKE ") {
			continue
		}
		r, ok := parseRevoke(line)
		if !ok {
			out = append(out, Restriction{Line: line})
			continue
		}
		// No view, trigger, routine or event lives in information_schema
		// (storedObjectsWhere): a revoke there hides no evidence. performance_schema
		// does hold evidence: the statement digests that show reads by name, and the
		// metadata locks (recentuse.go, the dropper's lock checks).
		if len(r.Privileges) > 0 && !strings.EqualFold(r.Schema, "information_schema") {
			out = append(out, r)
		}
	}
	return out, nil
}

// parseRevoke reads a REVOKE line as SHOW GRANTS prints it: REVOKE p1, p2 ON `db`.* FROM
// `user`@`host`, the schema quoted with its backticks doubled.
func parseRevoke(line string) (Restriction, bool) {
	r := Restriction{Line: line}
	privs, rest, ok := strings.Cut(strings.TrimPrefix(line, "REVOKE "), " ON `")
	if !ok {
		return r, false
	}
	// The schema, backtick-quoted with ` doubled, then .* and the account.
	schema, i := unquoteBacktick(rest, 0)
	if i >= len(rest) || !strings.HasPrefix(rest[i+1:], ".* FROM ") {
		return r, false
	}
	r.Schema = schema
	for _, p := range strings.Split(privs, ",") {
		p = strings.ToUpper(strings.TrimSpace(p))
		if p == "ALL" || p == "ALL PRIVILEGES" {
			r.Privileges = append([]string{}, visibilityPrivileges...)
			break
		}
		if slices.Contains(visibilityPrivileges, p) {
			r.Privileges = append(r.Privileges, p)
		}
	}
	return r, true
}

// accountOf is the account a SHOW GRANTS line names after FROM or TO, as printed.
func accountOf(line string) string {
	for _, sep := range []string{" FROM ", " TO "} {
		if i := strings.LastIndex(line, sep); i >= 0 {
			return line[i+len(sep):]
		}
	}
	return "janitor's account"
}

// Identity is a string that changes when a different server answers at the same address.
func (s Server) Identity() string {
	return fmt.Sprintf("%s:%d/id=%d/uuid=%s", s.Hostname, s.Port, s.ServerID, s.UUID)
}

type dialect struct {
	tablespaces string // FILE_SIZE/ALLOCATED_SIZE by tablespace NAME
	// spaceNames lists tablespace NAMEs without sizing them: on MySQL 8 the
	// dictionary view INNODB_TABLESPACES_BRIEF, which opens no file, where
	// INNODB_TABLESPACES opens every tablespace file on the server whatever its WHERE.
	spaceNames string
	// filesSizes: sizes come from information_schema.FILES (MySQL 8) by
	// TABLESPACE_NAME, not from the tablespaces view (see readSpaceRows).
	filesSizes bool
	tables     string // InnoDB dictionary tables: NAME, TABLE_ID, SPACE
	foreign    string // foreign keys: ID, FOR_NAME, REF_NAME
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
		return dialect{tablespaces: "information_schema.INNODB_TABLESPACES", spaceNames: "information_schema.INNODB_TABLESPACES_BRIEF",
			filesSizes: true, tables: "information_schema.INNODB_TABLES",
			foreign: "information_schema.INNODB_FOREIGN", tablesEncoded: true, partitionSep: "#p#", ftsPrefix: "fts_"}
	}
	return dialect{tablespaces: "information_schema.INNODB_SYS_TABLESPACES", spaceNames: "information_schema.INNODB_SYS_TABLESPACES",
		tables:  "information_schema.INNODB_SYS_TABLES",
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
	if s.Restrictions, err = readRestrictions(ctx, q); err != nil {
		return s, err
	}
	return s, nil
}

// globalPrivileges returns the privileges the current account holds on *.*.
// USER_PRIVILEGES lists every account's grants to a privileged user, so it is filtered
// to CURRENT_USER(): in SQL, roughly, then here exactly, since the view's collation
// folds case and user names do not (another account 'JANITOR'@'h' holding EVENT must
// not make janitor's 'janitor'@'h' believe it sees events).
func globalPrivileges(ctx context.Context, q Querier) (map[string]bool, error) {
	rows, err := q.QueryxContext(ctx, `SELECT /* janitor */ GRANTEE, PRIVILEGE_TYPE, CURRENT_USER() FROM information_schema.USER_PRIVILEGES
		WHERE GRANTEE = CONCAT('\'', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '\'@\'', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '\'')`)
	if err != nil {
		return nil, fmt.Errorf("read own privileges: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var grantee, p, cur string
		if err := rows.Scan(&grantee, &p, &cur); err != nil {
			return nil, fmt.Errorf("read own privileges: %w", err)
		}
		if isAccount(grantee, cur) {
			out[strings.ToUpper(p)] = true
		}
	}
	return out, rows.Err()
}

// isAccount reports whether grantee, as the privilege views spell it ('user'@'host'),
// is the account current, as CURRENT_USER() spells it (user@host; a host holds no @):
// the user name compared exactly, the host without regard to case. A spelling that
// does not match counts as another account.
func isAccount(grantee, current string) bool {
	user, host := current, ""
	if i := strings.LastIndex(current, "@"); i >= 0 {
		user, host = current[:i], current[i+1:]
	}
	prefix := "'" + user + "'@'"
	return strings.HasPrefix(grantee, prefix) && strings.EqualFold(grantee[len(prefix):], host+"'")
}

// unquoteBacktick reads a backtick-quoted identifier whose opening backtick is just
// before s[from], a backtick inside it doubled, as the server prints identifiers (SHOW
// GRANTS, statement digests). It returns the identifier and the index of its closing
// backtick (len(s) when there is none).
func unquoteBacktick(s string, from int) (string, int) {
	var b strings.Builder
	j := from
	for ; j < len(s); j++ {
		if s[j] == '`' {
			if j+1 < len(s) && s[j+1] == '`' {
				b.WriteByte('`')
				j++
				continue
			}
			break
		}
		b.WriteByte(s[j])
	}
	return b.String(), j
}
