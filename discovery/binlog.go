package discovery

import (
	"context"
	"fmt"
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
// janitor cannot show to be replicas, each with why. gh-ost streams from a replica by
// default (it applies on the primary): the dropper asks each replica too.
func (in *Inspector) BinlogClients(ctx context.Context) ([]string, error) {
	return in.binlogClients(ctx)
}

// binlogClients returns, once per Inspector, the sessions streaming the binary log that
// janitor cannot show to be replicas, each with why.
func (in *Inspector) binlogClients(ctx context.Context) ([]string, error) {
	if in.binlog.read {
		return in.binlog.clients, in.binlog.err
	}
	in.binlog.clients, in.binlog.err = in.readBinlogClients(ctx)
	in.binlog.read = true
	return in.binlog.clients, in.binlog.err
}

// binlogCache is what binlogClients read.
type binlogCache struct {
	read    bool
	clients []string
	err     error
}

func (in *Inspector) readBinlogClients(ctx context.Context) ([]string, error) {
	dumps, err := queryAll(ctx, in, `SELECT /* janitor */ ID, USER, COALESCE(HOST, ''), COMMAND FROM information_schema.PROCESSLIST
		WHERE COMMAND LIKE 'Binlog Dump%' AND ID <> CONNECTION_ID()`, nil,
		func(r *sqlx.Rows) (c binlogClient, err error) { return c, r.Scan(&c.id, &c.user, &c.host, &c.cmd) })
	if err != nil {
		return nil, fmt.Errorf("list binary log clients: %w", err)
	}
	var out []string
	why := map[string]string{}
	for _, d := range dumps {
		w, ok := why[d.user]
		if !ok {
			w = in.mayMigrate(ctx, d.user)
			why[d.user] = w
		}
		if w == "" {
			continue
		}
		out = append(out, fmt.Sprintf("connection %d (%s from %s, %s): %s", d.id, d.user, d.host, d.cmd, w))
	}
	return out, nil
}

// mayMigrate says why an account streaming the binary log may be an online schema
// change tool ("" when it is a replication-only account): one of its host entries may
// create, alter or drop tables (ON *.* or on a schema), has a role (which may carry
// such privileges) or a proxy grant, or janitor cannot read its grants (other accounts'
// grants need SELECT ON *.*, which janitor's checks require anyway). The grants come
// from the server's in-memory grant tables (information_schema.USER_PRIVILEGES and
// SHOW GRANTS): no table is opened.
func (in *Inspector) mayMigrate(ctx context.Context, user string) string {
	grantees, err := queryAll(ctx, in, "SELECT /* janitor */ DISTINCT GRANTEE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE LIKE ?",
		[]any{escapeLike("'"+strings.ReplaceAll(user, "'", "''")+"'@") + "%"}, scanString)
	if err != nil {
		return fmt.Sprintf("cannot read its account's privileges (%v)", err)
	}
	if len(grantees) == 0 {
		return "janitor cannot see its account's grants (an anonymous, proxied or external account, or janitor lacks SELECT ON *.*)"
	}
	for _, g := range grantees {
		lines, err := queryAll(ctx, in, "SHOW /* janitor */ GRANTS FOR "+g, nil, scanString)
		if err != nil {
			return fmt.Sprintf("cannot read the grants of %s (%v)", g, err)
		}
		for _, l := range lines {
			if why := grantMayMigrate(l); why != "" {
				return g + " " + why + "; " + replicaOnly(g, l)
			}
		}
	}
	return ""
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
// change ("" when it does not): privileges that create, alter or drop tables, a role, a
// proxy grant. It errs towards yes: any privilege word starting CREATE, ALTER or DROP
// counts (CREATE VIEW included), as does a line it cannot read.
func grantMayMigrate(line string) string {
	rest, ok := strings.CutPrefix(strings.TrimSpace(line), "GRANT ")
	if !ok {
		return "" // REVOKE lines (partial revokes) only take away
	}
	// A role grant names the role first, quoted; a privilege is a bare word. Told
	// before looking for " ON ", which a role's name may hold (`mig ON x`).
	privs, _, ok := strings.Cut(rest, " ON ")
	if !ok || strings.HasPrefix(rest, "`") || strings.HasPrefix(rest, "'") || strings.HasPrefix(rest, `"`) {
		return "has a role, which may let it alter tables"
	}
	if strings.HasPrefix(privs, "PROXY") {
		return "may act as another account"
	}
	for _, p := range strings.Split(privs, ",") {
		p = strings.ToUpper(strings.TrimSpace(p))
		for _, w := range []string{"ALL", "CREATE", "ALTER", "DROP"} {
			if p == w || strings.HasPrefix(p, w+" ") || strings.HasPrefix(p, w+"(") {
				return "may create, alter or drop tables, as gh-ost's account must"
			}
		}
	}
	return ""
}

// StreamsBinlog reports whether one of the tools t may belong to streams the binary log.
func StreamsBinlog(t *Table) bool {
	return slices.ContainsFunc(tracedTools(t), func(tr traced) bool { return tr.spec.StreamsBinlog })
}
