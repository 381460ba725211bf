package replica

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

// Status is one channel of SHOW REPLICA STATUS, with MySQL's and MariaDB's old and new
// column names folded together.
type Status struct {
	// Channel is the channel (MySQL) or connection (MariaDB) name; "" for the default.
	Channel    string
	IORunning  string
	SQLRunning string
	// Lag is nil when Seconds_Behind_Master is NULL.
	Lag       *int64
	LastError string

	// From performance_schema, MySQL 8.0 and later only (nil or 0 elsewhere; filled by
	// ReadApplierTimes). Seconds_Behind_Source is 0 whenever the applier is idle, even
	// when the receiver has heard nothing for minutes (a stalled network): these catch
	// what it misses.
	//
	// Applying is how long ago the oldest transaction a worker is applying now was committed
	// on the original source.
	Applying *time.Duration
	// Silent is how long the receiver has heard nothing from its source: no transaction
	// queued and no heartbeat. Heartbeat is the period the source sends heartbeats at when
	// it has nothing else to send; 0 turns the silence rule off.
	Silent    *time.Duration
	Heartbeat time.Duration
}

// StatusStatements are tried in order: MariaDB's SHOW ALL SLAVES STATUS is the only form
// that shows every named connection (its SHOW SLAVE STATUS shows the default one only);
// SHOW REPLICA STATUS (MySQL 8.0.22+, MariaDB 10.5+, the only form MySQL 8.4 knows) and
// SHOW SLAVE STATUS show every channel on MySQL.
var StatusStatements = []string{
	"SHOW /* janitor */ ALL SLAVES STATUS",
	"SHOW /* janitor */ REPLICA STATUS",
	"SHOW /* janitor */ SLAVE STATUS",
}

// ReadStatuses returns every replication channel of a server: none on a server that
// replicates from nobody.
func ReadStatuses(ctx context.Context, q sqlx.QueryerContext) ([]Status, error) {
	sts, _, err := ReadStatusesWith(ctx, q, StatusStatements)
	return sts, err
}

// ReadStatusesWith tries stmts (some of StatusStatements) in order and returns the
// statuses and the statement that answered ("" on error), for a caller that asks again
// in the form the server answered.
func ReadStatusesWith(ctx context.Context, q sqlx.QueryerContext, stmts []string) ([]Status, string, error) {
	var out []Status
	stmt, err := ShowAny(ctx, q, stmts, func(col func(keys ...string) string) error {
		var st Status
		st.Channel = col("Connection_name", "Channel_Name", "Channel_name")
		st.IORunning = col("Replica_IO_Running", "Slave_IO_Running")
		st.SQLRunning = col("Replica_SQL_Running", "Slave_SQL_Running")
		if n, err := strconv.ParseInt(col("Seconds_Behind_Source", "Seconds_Behind_Master"), 10, 64); err == nil {
			st.Lag = &n
		}
		if st.LastError = col("Last_SQL_Error"); st.LastError == "" {
			st.LastError = col("Last_IO_Error")
		}
		out = append(out, st)
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return out, stmt, nil
}

// ShowAny runs the first of stmts (the forms of one SHOW statement, in the order to try
// them) that the server knows, calling fn for each row as ShowRows does, and returns the
// statement that answered (on an error, the statement that failed). Only a statement the server does not know (error 1064) moves
// on to the next form: any other failure (a timeout) must not fall back to a form that
// shows less (MariaDB's SHOW SLAVE STATUS shows its default connection only).
func ShowAny(ctx context.Context, q sqlx.QueryerContext, stmts []string, fn func(col func(keys ...string) string) error) (string, error) {
	var err error
	for _, stmt := range stmts {
		if err = ShowRows(ctx, q, stmt, fn); err == nil {
			return stmt, nil
		}
		var me *mysql.MySQLError
		if !errors.As(err, &me) || me.Number != 1064 {
			return stmt, err
		}
	}
	return "", err
}

// ShowRows runs a SHOW statement whose columns differ by flavor and version (SHOW
// REPLICA STATUS, SHOW REPLICAS and their older names) and calls fn for each row with
// col, which reads a column by any of its names: the first of keys the row has, as text
// ("" when it has none of them, or NULL).
func ShowRows(ctx context.Context, q sqlx.QueryerContext, stmt string, fn func(col func(keys ...string) string) error) error {
	rows, err := q.QueryxContext(ctx, stmt)
	if err != nil {
		return fmt.Errorf("%s: %w", strings.TrimPrefix(stmt, "SHOW /* janitor */ "), err)
	}
	defer rows.Close()
	for rows.Next() {
		m := map[string]any{}
		if err := rows.MapScan(m); err != nil {
			return err
		}
		col := func(keys ...string) string {
			for _, k := range keys {
				switch v := m[k].(type) {
				case []byte:
					return string(v)
				case string:
					return v
				case nil:
				default:
					return fmt.Sprint(v)
				}
			}
			return ""
		}
		if err := fn(col); err != nil {
			return err
		}
	}
	return rows.Err()
}
