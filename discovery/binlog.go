package discovery

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
)

// A tool that streams the binary log (gh-ost, Spirit) is connected to the server as a
// replica for as long as it runs: its Binlog Dump session stays while it copies, while
// its operator has throttled it, and while it postpones its cut-over, when its
// heartbeat may have stopped and nothing names its tables. The processlist does not
// say which migration such a session serves (gh-ost's streamer names no table, and the
// lock gh-ost names after its session, gh-ost.<id>.lock, is taken only during the
// cut-over), so janitor tells the tool from the replicas by the account: a replica's
// account needs REPLICATION SLAVE only, an online schema change tool's must create,
// alter and drop tables. A dump session whose account may do that, or whose account
// janitor cannot read, keeps every leftover of such a tool on the server.

// binlogClient is a Binlog Dump session.
type binlogClient struct {
	id         int64
	user, host string
	cmd        string
}

// BinlogClients lists the sessions streaming this Inspector's server's binary log that
// janitor cannot show are not the tool of a migration in schema, each with why. gh-ost
// streams from a replica by default (it applies on the primary): the dropper asks each
// replica too.
func (in *Inspector) BinlogClients(ctx context.Context, schema string) ([]string, error) {
	return in.binlogClients(ctx, schema)
}

// binlogClients reads the binary log clients and their accounts' grants once per
// Inspector, and returns those that may be the tool of a migration in schema.
func (in *Inspector) binlogClients(ctx context.Context, schema string) ([]string, error) {
	if !in.binlog.read {
		in.binlog.dumps, in.binlog.access, in.binlog.err = in.readBinlogClients(ctx)
		in.binlog.read = true
	}
	if in.binlog.err != nil {
		return nil, in.binlog.err
	}
	var out []string
	for _, d := range in.binlog.dumps {
		if w := in.binlog.access[d.user].in(schema); w != "" {
			out = append(out, fmt.Sprintf("connection %d (%s from %s, %s): %s", d.id, d.user, d.host, d.cmd, w))
		}
	}
	return out, nil
}

// binlogCache is what binlogClients read.
type binlogCache struct {
	read   bool
	dumps  []binlogClient
	access map[string]access
	err    error
}

// access is what an account streaming the binary log may do: why it may be a tool in
// every schema (a global grant, a role, a proxy grant, grants janitor cannot read), and
// in which schemas only (schema-level or narrower grants: gh-ost refuses to start
// without ALL or ALTER, CREATE, DROP, … on the migrated schema or *.*). A change data
// capture client such as Maxwell, with ALL on its own schema, is thus no tool of another
// schema's migration.
type access struct {
	why     string
	schemas []scoped
}

// scoped is a grant on the schemas a SHOW GRANTS pattern names (_ and % wildcards).
type scoped struct{ pattern, why string }

// in says why a client with access a may be the tool of a migration in schema.
func (a access) in(schema string) string {
	if a.why != "" {
		return a.why
	}
	for _, sc := range a.schemas {
		if schemaPatternCovers(sc.pattern, schema) {
			return sc.why
		}
	}
	return ""
}

func (in *Inspector) readBinlogClients(ctx context.Context) ([]binlogClient, map[string]access, error) {
	dumps, err := queryAll(ctx, in, `SELECT /* janitor */ ID, USER, COALESCE(HOST, ''), COMMAND FROM information_schema.PROCESSLIST
		WHERE COMMAND LIKE 'Binlog Dump%' AND ID <> CONNECTION_ID()`, nil,
		func(r *sqlx.Rows) (c binlogClient, err error) { return c, r.Scan(&c.id, &c.user, &c.host, &c.cmd) })
	if err != nil {
		return nil, nil, fmt.Errorf("list binary log clients: %w", err)
	}
	acc := map[string]access{}
	if len(dumps) == 0 {
		return nil, acc, nil
	}
	mandatory, why := in.mandatoryRoles(ctx)
	for _, d := range dumps {
		if _, ok := acc[d.user]; !ok {
			if why != "" {
				acc[d.user] = access{why: why}
				continue
			}
			acc[d.user] = in.mayMigrate(ctx, d.user, mandatory)
		}
	}
	return dumps, acc, nil
}

// mandatoryRoles returns MySQL's mandatory roles as grantees ('name'@'host'): every
// account has them and may activate them (all of them at login under
// activate_all_roles_on_login), yet SHOW GRANTS FOR an account does not list them
// (checked on 9.7.4), so their grants are read as each account's own. why is set when
// janitor cannot read them, which keeps every client. MariaDB has no such roles.
func (in *Inspector) mandatoryRoles(ctx context.Context) (grantees []string, why string) {
	if in.server.Flavor != FlavorMySQL8 {
		return nil, ""
	}
	v, err := queryAll(ctx, in, "SELECT /* janitor */ @@GLOBAL.mandatory_roles", nil, scanString)
	if err != nil || len(v) != 1 {
		return nil, fmt.Sprintf("janitor cannot read mandatory_roles, which every account has (%v)", err)
	}
	for rest := strings.TrimSpace(v[0]); rest != ""; {
		var item string
		item, rest, _ = cutOutside(rest, ",")
		name, host, _ := cutOutside(strings.TrimSpace(item), "@")
		n, ok1 := unquoteName(name)
		h, ok2 := unquoteName(host)
		if !ok1 || !ok2 || n == "" {
			return nil, fmt.Sprintf("janitor cannot read mandatory_roles %q, which every account has", v[0])
		}
		if host == "" {
			h = "%"
		}
		grantees = append(grantees, sqlString(n)+"@"+sqlString(h))
		rest = strings.TrimSpace(rest)
	}
	return grantees, ""
}

// unquoteName reads a name as mandatory_roles writes it: bare, or quoted with `, ' or "
// (the quote doubled inside).
func unquoteName(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || !strings.ContainsAny(s[:1], "`'\"") {
		return s, !strings.ContainsAny(s, "`'\"\\ ")
	}
	q := s[:1]
	if len(s) < 2 || !strings.HasSuffix(s, q) {
		return "", false
	}
	return strings.ReplaceAll(s[1:len(s)-1], q+q, q), true
}

// sqlString quotes s as a string literal under janitor's sql_mode (backslash escapes on).
func sqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// mayMigrate reads what an account streaming the binary log may do (access): one of its
// host entries may create, alter or drop tables (ON *.*, on a schema or narrower), has a
// role (which may carry such privileges) or a proxy grant, or janitor cannot read its
// grants (other accounts' grants need SELECT ON *.*, which janitor's checks require
// anyway). The grants come from the server's in-memory grant tables
// (information_schema.USER_PRIVILEGES and SHOW GRANTS): no table is opened.
func (in *Inspector) mayMigrate(ctx context.Context, user string, mandatory []string) access {
	grantees, err := queryAll(ctx, in, "SELECT /* janitor */ DISTINCT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE LIKE ?",
		[]any{escapeLike("'"+strings.ReplaceAll(user, "'", "''")+"'@") + "%"}, scanString)
	if err != nil {
		return access{why: fmt.Sprintf("cannot read its account's privileges (%v)", err)}
	}
	if len(grantees) == 0 {
		return access{why: "janitor cannot see its account's grants (an anonymous, proxied or external account, or janitor lacks SELECT ON *.*)"}
	}
	var a access
	for i, g := range append(grantees, mandatory...) {
		lines, err := queryAll(ctx, in, "SHOW /* janitor */ GRANTS FOR "+g, nil, scanString)
		if err != nil {
			return access{why: fmt.Sprintf("cannot read the grants of %s (%v)", g, err)}
		}
		for _, l := range lines {
			why, schema := grantScope(l)
			if why == "" {
				continue
			}
			if i >= len(grantees) {
				why = g + ", a role in mandatory_roles (every account has it), " + why +
					"; if this client is a replica (or another client that is not the tool), take the role out of mandatory_roles or take those privileges from it"
			} else {
				why = g + " " + why + "; " + replicaOnly(g, l)
			}
			if schema == "" {
				return access{why: why}
			}
			a.schemas = append(a.schemas, scoped{schema, why})
		}
	}
	return a
}

// replicaOnly tells the DBA how to make grantee, whose SHOW GRANTS line is line, an
// account janitor can tell is a replica. A replica's IO thread needs REPLICATION SLAVE
// and nothing else on either flavor; a replication account with ALL is common, and
// without this the DBA is left to guess why every gh-ost leftover stays.
func replicaOnly(grantee, line string) string {
	const is = "if this client is a replica (or another client that is not the tool), "
	switch why := grantMayMigrate(line); {
	case strings.HasPrefix(why, "has a role"):
		return is + "revoke the role from the account (" + strings.TrimSpace(line) + ")"
	case strings.HasPrefix(why, "may act as"):
		return is + "revoke the proxy grant from the account (" + strings.TrimSpace(line) + ")"
	}
	return is + "make its account replication-only: REVOKE ALL PRIVILEGES, GRANT OPTION FROM " + grantee +
		"; GRANT REPLICATION SLAVE ON *.* TO " + grantee
}

// grantMayMigrate says why one SHOW GRANTS line lets its account run an online schema
// change ("" when it does not), in any schema.
func grantMayMigrate(line string) string {
	why, _ := grantScope(line)
	return why
}

// grantScope says why one SHOW GRANTS line lets its account run an online schema
// change ("" when it does not): privileges that create, alter or drop tables, a role, a
// proxy grant; and the schema pattern the line is about ("" for every schema). It errs
// towards yes: any privilege word starting CREATE, ALTER or DROP counts (CREATE VIEW
// included), and a role, a proxy grant or a target it cannot read covers every schema.
// Names may hold any character, " ON " and commas included: the line is cut outside
// quotes and parentheses.
func grantScope(line string) (why, schema string) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "GRANT ")
	if !ok {
		return "", "" // REVOKE lines (partial revokes) only take away
	}
	// A role grant names the role first, quoted; a privilege is a bare word.
	privs, target, ok := cutOutside(rest, " ON ")
	if !ok || strings.HasPrefix(rest, "`") || strings.HasPrefix(rest, "'") || strings.HasPrefix(rest, `"`) {
		return "has a role, which may let it alter tables", ""
	}
	if strings.HasPrefix(privs, "PROXY") {
		return "may act as another account", ""
	}
	may := false
	for len(privs) > 0 {
		var p string
		p, privs, _ = cutOutside(privs, ",")
		p = strings.ToUpper(strings.TrimSpace(p))
		for _, w := range []string{"ALL", "CREATE", "ALTER", "DROP"} {
			if p == w || strings.HasPrefix(p, w+" ") || strings.HasPrefix(p, w+"(") {
				may = true
			}
		}
	}
	if !may {
		return "", ""
	}
	return "may create, alter or drop tables, as gh-ost's account must", grantSchema(target)
}

// grantSchema is the schema pattern a grant's target (after ON) names, "" when it is
// *.* or janitor cannot read it (every schema, then).
func grantSchema(target string) string {
	for _, kind := range []string{"TABLE ", "FUNCTION ", "PROCEDURE ", "PACKAGE BODY ", "PACKAGE "} {
		target = strings.TrimPrefix(target, kind)
	}
	if !strings.HasPrefix(target, "`") {
		return "" // *.*, * (the current schema), or a form not known here
	}
	var b strings.Builder
	for i := 1; i < len(target); i++ {
		if target[i] == '`' {
			if i+1 < len(target) && target[i+1] == '`' {
				b.WriteByte('`')
				i++
				continue
			}
			if b.Len() == 0 || i+1 >= len(target) || target[i+1] != '.' {
				return ""
			}
			return b.String()
		}
		b.WriteByte(target[i])
	}
	return ""
}

// schemaPatternCovers reports whether a grant's schema pattern may cover schema. It
// errs towards yes: _ and % are wildcards (they are not under MySQL's partial_revokes),
// a backslash may or may not be there, and letters match in any case.
func schemaPatternCovers(pattern, schema string) bool {
	var re strings.Builder
	re.WriteString("(?is)^")
	for _, r := range pattern {
		switch r {
		case '_':
			re.WriteString(".")
		case '%':
			re.WriteString(".*")
		case '\\':
			re.WriteString(`\\?`)
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	m, err := regexp.MatchString(re.String(), schema)
	return m || err != nil
}

// cutOutside cuts s around the first sep that is outside quotes (`, ', ") and
// parentheses.
func cutOutside(s, sep string) (before, after string, found bool) {
	var quote byte
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '`' || c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
		case depth == 0 && strings.HasPrefix(s[i:], sep):
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// StreamsBinlog reports whether one of the tools t may belong to streams the binary log.
func StreamsBinlog(t *Table) bool {
	return slices.ContainsFunc(tracedTools(t), func(tr traced) bool { return tr.spec.StreamsBinlog })
}
