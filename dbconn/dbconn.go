// Package dbconn opens connections to MySQL-family servers the way janitor needs them
// (bounded timeouts, UTC session, interpolated parameters, a program name the DBA can see)
// and holds the few SQL helpers every other package shares: identifier quoting, DSN
// redaction and MySQL error classification.
package dbconn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// Options bound how long janitor waits on a server. A dead shard must cost seconds, not
// the operating system's TCP timeout.
type Options struct {
	ConnectTimeout time.Duration
	// ReadTimeout bounds every network read, so a query that hangs on a wedged server
	// fails instead of holding a goroutine forever. Context deadlines do the fine work.
	ReadTimeout time.Duration
	// MaxOpenConns caps this process' connections to one server.
	MaxOpenConns int
	// SessionVars are set on every connection as it opens.
	SessionVars map[string]string
	// ServerVars, when set, is given the server's @@version and @@version_comment, read
	// on the first connection, and returns more session variables for every connection:
	// those only some flavors have. They are set on that first connection with one SET
	// and on every later one as it opens, instead of dialling the server a second time.
	ServerVars func(version, comment string) map[string]string
}

// DefaultOptions suits a busy production primary.
func DefaultOptions() Options {
	return Options{ConnectTimeout: 5 * time.Second, ReadTimeout: 60 * time.Second, MaxOpenConns: 2}
}

// ParseDSN parses a go-sql-driver DSN and returns an error that never contains the
// password.
func ParseDSN(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid DSN %q (want user:password@tcp(host:port)/): %s", Redact(dsn), dsnProblem(err))
	}
	return cfg, nil
}

// dsnProblem says what is wrong with a DSN without the driver's own words, which can
// quote pieces of it (a network named after "user:pass…" when a slash in the password
// cut the DSN short).
func dsnProblem(err error) string {
	msg := err.Error()
	for _, known := range []string{
		"invalid DSN: did you forget to escape a param value?",
		"invalid DSN: network address not terminated (missing closing brace)",
		"invalid DSN: missing the slash separating the database name",
		"invalid DSN: interpolateParams can not be used with unsafe collations",
	} {
		if msg == known {
			return msg
		}
	}
	return "the driver could not parse it (its message is withheld: it can quote the password); check the form, and escape / @ : in the password"
}

// Open returns a pool to one server, pinged within the connect timeout.
func Open(ctx context.Context, dsn string, opts Options) (*sqlx.DB, error) {
	cfg, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if opts.ConnectTimeout > 0 {
		cfg.Timeout = opts.ConnectTimeout
	}
	if opts.ReadTimeout > 0 {
		cfg.ReadTimeout = opts.ReadTimeout
		cfg.WriteTimeout = opts.ReadTimeout
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// Times in information_schema are rendered in the session time zone; pin it so that
	// created_at means the same on every shard.
	cfg.Params["time_zone"] = "'+00:00'"
	// janitor's LIKE patterns escape _ and % with a backslash, which NO_BACKSLASH_ESCAPES
	// would turn into a literal (lookups then find nothing, which reads as "absent"), and
	// ANSI_QUOTES would change what quotes mean: pin a plain mode for janitor's sessions.
	cfg.Params["sql_mode"] = "'NO_ENGINE_SUBSTITUTION'"
	for k, v := range opts.SessionVars {
		cfg.Params[k] = v
	}
	cfg.ConnectionAttributes = "program_name:janitor"
	// Read by every connection as it opens: the variables ServerVars chose, once known.
	var serverVars atomic.Pointer[map[string]string]
	if err := cfg.Apply(mysql.BeforeConnect(func(_ context.Context, c *mysql.Config) error {
		if vars := serverVars.Load(); vars != nil {
			maps.Copy(c.Params, *vars)
		}
		return nil
	})); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Addr, err)
	}
	db := sqlx.NewDb(sql.OpenDB(connector), "mysql")
	if opts.MaxOpenConns > 0 {
		db.SetMaxOpenConns(opts.MaxOpenConns)
		db.SetMaxIdleConns(opts.MaxOpenConns)
	}
	// A connection that sat idle across a failover is useless; recycle rather than
	// redeploy (the incident's long tail).
	db.SetConnMaxLifetime(5 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)
	pctx, cancel := context.WithTimeout(ctx, connectBudget(opts))
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to %s as %q: %w", cfg.Addr, cfg.User, err)
	}
	if opts.ServerVars != nil {
		if err := setServerVars(ctx, db, opts.ServerVars, &serverVars); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	return db, nil
}

// setServerVars reads the server's version on the pool's one open connection, stores
// the variables choose returns for the connections still to open, and sets them on that
// one. Stored first: a connection opened meanwhile has them too.
func setServerVars(ctx context.Context, db *sqlx.DB, choose func(version, comment string) map[string]string, store *atomic.Pointer[map[string]string]) error {
	conn, err := db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("read server version: %w", err)
	}
	defer conn.Close()
	var version, comment string
	if err := conn.QueryRowxContext(ctx, "SELECT /* janitor */ @@version, @@version_comment").Scan(&version, &comment); err != nil {
		return fmt.Errorf("read server version: %w", err)
	}
	vars := choose(version, comment)
	if len(vars) == 0 {
		return nil
	}
	store.Store(&vars)
	set := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		set = append(set, k+" = "+vars[k])
	}
	if _, err := conn.ExecContext(ctx, "SET /* janitor */ SESSION "+strings.Join(set, ", ")); err != nil {
		return fmt.Errorf("set %s: %w", strings.Join(set, ", "), err)
	}
	return nil
}

// connectBudget bounds dialling and the handshake together: a server that accepts the
// connection and never answers costs discovery.connect_timeout, as documented, not the
// dial's timeout plus the handshake's.
func connectBudget(o Options) time.Duration {
	if o.ConnectTimeout <= 0 {
		return 10 * time.Second
	}
	return o.ConnectTimeout
}

// Redact returns the DSN with its password replaced, for logs and reports.
func Redact(dsn string) string {
	out := passwordParam.ReplaceAllString(dsn, "${1}***")
	at := strings.LastIndex(out, "@")
	if at < 0 {
		// No user@ part to cut at: anything after a colon may be a password.
		if colon := strings.Index(out, ":"); colon >= 0 {
			return out[:colon] + ":***"
		}
		return out
	}
	cred := out[:at]
	if colon := strings.Index(cred, ":"); colon >= 0 {
		return cred[:colon] + ":***" + out[at:]
	}
	return out
}

// passwordParam finds a password given as a parameter (a pasted JDBC URL, a
// ?password= the driver does not know).
var passwordParam = regexp.MustCompile(`(?i)((?:password|passwd|pwd)=)[^&;]*`)

// Addr returns host:port of a DSN, or "" when it does not parse.
func Addr(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return ""
	}
	return cfg.Addr
}

// QuoteIdent quotes one identifier (schema or table name) for MySQL. Every name janitor
// puts into SQL goes through here: identifiers may hold any character, backticks included.
func QuoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// QualifiedName quotes schema.table.
func QualifiedName(schema, table string) string {
	return QuoteIdent(schema) + "." + QuoteIdent(table)
}

// MySQL error numbers janitor reacts to.
const (
	ErrLockWaitTimeout  = 1205 // ER_LOCK_WAIT_TIMEOUT: metadata lock not granted in time
	ErrLockDeadlock     = 1213
	ErrBadTable         = 1051 // ER_BAD_TABLE_ERROR: unknown table on DROP
	ErrNoSuchTable      = 1146
	ErrRowIsReferenced  = 1217 // cannot drop: referenced by a foreign key
	ErrRowIsReferenced2 = 1451
	ErrFKDrop           = 3730 // MySQL 8: referenced by a foreign key constraint
	ErrReadOnly         = 1290 // ER_OPTION_PREVENTS_STATEMENT (--read-only)
	ErrAccessDenied     = 1045
	ErrTableAccess      = 1142
	ErrDBAccess         = 1044
	ErrSpecificAccess   = 1227
	ErrQueryInterrupted = 1317
	ErrStatementTimeout = 1969 // MariaDB max_statement_time exceeded
)

// IsError reports whether err is a MySQL error with one of the given numbers.
func IsError(err error, codes ...uint16) bool {
	var me *mysql.MySQLError
	if !errors.As(err, &me) {
		return false
	}
	for _, c := range codes {
		if me.Number == c {
			return true
		}
	}
	return false
}

// Hint says, for the errors a shard most often fails with, what the operator should
// fix; "" when there is nothing more to say than the error itself.
func Hint(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case err == nil:
		return ""
	case IsError(err, ErrAccessDenied):
		return "the server refused the user or password: check the shard's dsn or dsn_file, and that the account may connect from this host"
	case IsError(err, ErrDBAccess, ErrTableAccess, ErrSpecificAccess, 1143):
		return "the account lacks a privilege: grant what docs/dropping.md (Least privilege) lists for this command"
	case IsError(err, 1049):
		return "the DSN names a database that does not exist: leave the part after the / empty"
	case errors.As(err, &dnsErr):
		return "the host name does not resolve: check the host in the shard's DSN"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nothing listens at that address: is the server up, and are the DSN's host and port right?"
	case errors.As(err, &opErr) && opErr.Timeout(), errors.Is(err, context.DeadlineExceeded) && strings.Contains(err.Error(), "connect"):
		return "no answer within discovery.connect_timeout: a firewall, a wrong address, or an overloaded server"
	case errors.Is(err, mysql.ErrNoTLS):
		return "TLS is required but the server does not offer TLS: turn TLS on there, or set the shard's tls.mode to preferred"
	case strings.Contains(err.Error(), "x509:") || strings.Contains(err.Error(), "tls:"):
		return "the TLS handshake failed: check tls.mode, tls.ca_file (RDS/Aurora: the region's CA bundle) and tls.server_name, or the DSN's tls parameter"
	}
	return ""
}
