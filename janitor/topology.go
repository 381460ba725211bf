package janitor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/replica"
	"github.com/janitorhq/janitor/report"
)

// Every replica a DROP or RENAME reaches must be looked at, not only those listed in
// shards[].replicas: a reader on an unlisted one stalls its applier just the same
// (issue 17 §2). So before each statement janitor asks the primary which servers it
// streams its binary log to, and each listed replica which servers it streams to in turn
// (a chain: a replica with log_replica_updates feeds its own replicas the same DDL), and
// matches every one to a configured replica or to shards[].ignore_replicas.
//
// Matching is by server_id, the one identity both ends report: the primary's registry
// (MySQL SHOW REPLICAS, MariaDB SHOW SLAVE HOSTS) gives each attached replica's
// server_id, and janitor reads @@server_id (and, on MySQL, @@server_uuid, which SHOW
// REPLICAS gives as Replica_UUID) on each configured replica. Addresses are not used to
// match: the registry's Host is report_host when set and otherwise the client's address,
// and a binlog dump session's host is the client address with an ephemeral port, so
// neither names a configured DSN reliably. A binlog dump session in the process list
// with no registry row (a reader that never registered) cannot be matched at all, and
// blocks the shard, beyond the count shards[].unregistered_binlog_readers says to expect
// (CDC connectors that never register); so does a registry row whose server_id matches
// nothing.

// attachedReplica is one server a source streams its binary log to, as its registry
// says.
type attachedReplica struct {
	serverID uint64
	uuid     string // MySQL's Replica_UUID; "" on MariaDB
	host     string // report_host, or the client's address
	port     int
}

func (a attachedReplica) String() string {
	s := fmt.Sprintf("server_id %d", a.serverID)
	if a.host != "" {
		s += " at " + net.JoinHostPort(a.host, strconv.Itoa(a.port))
	}
	if a.uuid != "" {
		s += ", server_uuid " + a.uuid
	}
	return s
}

// dumpSession is one binlog dump session in a source's process list.
type dumpSession struct {
	id   int64
	host string // the client's address and port
}

// replicaRegistryStatements: MySQL 8.0.22+ knows SHOW REPLICAS (9.x only that);
// MariaDB 10.11 knows only SHOW SLAVE HOSTS.
var replicaRegistryStatements = []string{"SHOW /* janitor */ REPLICAS", "SHOW /* janitor */ SLAVE HOSTS"}

// readAttached reads the replicas a source streams its binary log to: its registry and
// its binlog dump sessions.
func readAttached(ctx context.Context, q sqlx.QueryerContext) ([]attachedReplica, []dumpSession, error) {
	var regs []attachedReplica
	stmt, err := replica.ShowAny(ctx, q, replicaRegistryStatements, func(str func(keys ...string) string) error {
		id, err := strconv.ParseUint(str("Server_Id", "Server_id"), 10, 64)
		if err != nil {
			return noServerID(str("Server_Id", "Server_id"))
		}
		port, _ := strconv.Atoi(str("Port"))
		regs = append(regs, attachedReplica{serverID: id, uuid: str("Replica_UUID", "Slave_UUID"), host: str("Host"), port: port})
		return nil
	})
	if bad := noServerID(""); errors.As(err, &bad) {
		return nil, nil, fmt.Errorf("%s: %w", stmt, err)
	}
	if err != nil {
		return nil, nil, err
	}
	var dumps []dumpSession
	rows, err := q.QueryxContext(ctx, `SELECT /* janitor */ ID, COALESCE(HOST, '') FROM information_schema.PROCESSLIST
		WHERE COMMAND IN ('Binlog Dump', 'Binlog Dump GTID')`)
	if err != nil {
		return nil, nil, fmt.Errorf("read binlog dump sessions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var d dumpSession
		if err := rows.Scan(&d.id, &d.host); err != nil {
			return nil, nil, err
		}
		dumps = append(dumps, d)
	}
	return regs, dumps, rows.Err()
}

// noServerID is a registry row without a server_id, which nothing can match.
type noServerID string

func (e noServerID) Error() string { return fmt.Sprintf("a row without a server_id (%q)", string(e)) }

// ignoredReplica reports whether a's server_id, or its MySQL server_uuid, is in the
// shard's ignore_replicas.
func (s ShardConfig) ignoredReplica(a attachedReplica) bool {
	for _, e := range s.IgnoreReplicas {
		if e == strconv.FormatUint(a.serverID, 10) || (a.uuid != "" && strings.EqualFold(e, a.uuid)) {
			return true
		}
	}
	return false
}

// checkTopology finds the replicas fed by the primary (on q, the dropping connection)
// and, through each configured replica, by the chain below it, and returns an *errStop
// naming every one that is neither configured (and so looked at) nor ignored.
func (r *shardRun) checkTopology(ctx context.Context, q sqlx.QueryerContext) error {
	known := map[uint64]string{} // server_id → configured replica name
	uuids := map[uint64]string{}
	for _, rd := range r.replicas {
		v, err := r.replicaView(ctx, rd)
		if err != nil {
			return err
		}
		known[v.server.ServerID] = rd.name
		uuids[v.server.ServerID] = v.server.UUID
	}
	var unchecked []string
	check := func(source string, regs []attachedReplica, dumps []dumpSession) {
		// MySQL's registry has no address for a replica without report_host: the dump
		// sessions' client addresses are the best janitor can name (it cannot tell
		// which session is whose).
		var from []string
		for _, d := range dumps {
			from = append(from, d.host)
		}
		where := ""
		if len(from) > 0 {
			where = "; no report_host: the binlog dump sessions there come from " + strings.Join(from, ", ")
		}
		for _, a := range regs {
			fed := fmt.Sprintf("fed by %s", source)
			if a.host == "" {
				fed += where
			}
			name, ok := known[a.serverID]
			switch {
			case ok && (a.uuid == "" || uuids[a.serverID] == "" || strings.EqualFold(a.uuid, uuids[a.serverID])):
				continue
			case r.sc.ignoredReplica(a):
				r.log.DebugContext(ctx, "attached replica ignored by configuration", "source", source, "replica", a.String())
				continue
			case ok:
				unchecked = append(unchecked, fmt.Sprintf("%s (%s: its server_id is %s's, its server_uuid is not)", a, fed, name))
			default:
				unchecked = append(unchecked, fmt.Sprintf("%s (%s)", a, fed))
			}
		}
		if expect := r.sc.UnregisteredBinlogReaders; len(dumps) > len(regs)+expect {
			// Some dump session has no registry row, and which one cannot be told.
			var hosts []string
			for _, d := range dumps {
				hosts = append(hosts, fmt.Sprintf("session %d from %s", d.id, d.host))
			}
			also := ""
			if expect > 0 {
				also = fmt.Sprintf(", %d more than the %d that shards[].unregistered_binlog_readers expects", len(dumps)-len(regs)-expect, expect)
			}
			unchecked = append(unchecked, fmt.Sprintf("%d binlog dump sessions on %s (%s) but %d rows in its replica registry%s: one reads the binary log without registering, and cannot be matched (a CDC connector or a binlog backup that never registers: shards[].unregistered_binlog_readers)", len(dumps), source, strings.Join(hosts, ", "), len(regs), also))
		}
	}
	regs, dumps, err := readAttached(ctx, q)
	if err != nil {
		return r.topologyUnreadable(ctx, "the primary", err)
	}
	check("the primary", regs, dumps)
	if r.server.Aurora {
		// Aurora's readers share the writer's storage: they read no binary log, so
		// neither list above shows them. replica_host_status does.
		rows, now, err := replica.ReadHostStatus(ctx, q)
		if err != nil {
			return r.topologyUnreadable(ctx, "the primary", err)
		}
		unchecked = append(unchecked, r.sc.uncheckedAurora(rows, now)...)
	}
	if _, err := r.onEachReplica(ctx, func(qctx context.Context, v *replicaView) ([]string, error) {
		regs, dumps, err := readAttached(qctx, v.db)
		if err != nil {
			return nil, r.topologyUnreadable(ctx, "replica "+v.name, err)
		}
		check("replica "+v.name, regs, dumps)
		return nil, nil
	}); err != nil {
		return err
	}
	if len(unchecked) == 0 {
		return nil
	}
	slices.Sort(unchecked)
	unchecked = slices.Compact(unchecked)
	why := fmt.Sprintf("replicas janitor does not look at are attached: %s. A reader there would stall its replication behind the DROP or RENAME, so nothing is dropped or held on this shard. List each in shards[].replicas (by its DSN: janitor matches it by server_id), or, if it must not be looked at, its server_id in shards[].ignore_replicas; docs/dropping.md, Every replica",
		strings.Join(unchecked, "; "))
	r.log.WarnContext(ctx, "unchecked replicas attached: nothing is dropped or held on this shard", "replicas", strings.Join(unchecked, "; "))
	return &errStop{code: report.BlockedReplicaUnchecked, why: why}
}

// uncheckedAurora names the live readers of an Aurora cluster (replica.LiveReaders of
// its writer's replica_host_status rows) that are neither a configured replica nor in
// ignore_replicas. A reader is matched by its instance identifier (SERVER_ID there):
// to a configured replica of that name, or whose host's first label is it (an instance
// endpoint, <instance>.<cluster hash>.<region>.rds.amazonaws.com); to an
// ignore_replicas entry equal to it. Case does not matter: AWS keeps identifiers in
// lower case.
func (s ShardConfig) uncheckedAurora(rows []replica.HostStatus, now time.Time) []string {
	var out []string
	for _, id := range replica.LiveReaders(rows, now) {
		if s.configuredInstance(id) {
			continue
		}
		if slices.ContainsFunc(s.IgnoreReplicas, func(e string) bool { return strings.EqualFold(e, id) }) {
			continue
		}
		out = append(out, fmt.Sprintf("Aurora reader %s (in replica_host_status on the primary: list it in shards[].replicas by its instance endpoint, or its instance identifier in shards[].ignore_replicas)", id))
	}
	return out
}

// configuredInstance reports whether a configured replica is the Aurora instance id: by
// its name, or by the first label of its DSN's or addr's host.
func (s ShardConfig) configuredInstance(id string) bool {
	for _, rc := range s.Replicas {
		addr := rc.Addr
		if cfg, err := dbconn.ParseDSN(rc.DSN); err == nil && rc.DSN != "" {
			addr = cfg.Addr
		}
		host := addr
		if h, _, err := net.SplitHostPort(addr); err == nil {
			host = h
		}
		label, _, _ := strings.Cut(host, ".")
		if strings.EqualFold(rc.Name, id) || (label != "" && strings.EqualFold(label, id)) {
			return true
		}
	}
	return false
}

// topologyUnreadable is the *errStop of a server whose replicas cannot be listed: an
// unlisted replica could be attached, so drops stop.
func (r *shardRun) topologyUnreadable(ctx context.Context, where string, err error) error {
	if dbconn.IsError(err, dbconn.ErrSpecificAccess, 1142, 1044) {
		return &errStop{code: report.BlockedReplicaGrants, why: fmt.Sprintf("%s: cannot list the replicas it feeds (%v): GRANT REPLICATION MASTER ADMIN ON *.* there (MySQL: REPLICATION SLAVE), as docs/dropping.md (Least privilege) lists", where, err)}
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return &errStop{code: report.BlockedSignal, why: "stopped by signal while listing the replicas"}
	}
	return &errStop{code: report.BlockedReplicaUnreadable, why: fmt.Sprintf("%s: cannot list the replicas it feeds (%v): drops on this shard wait until janitor can", where, err)}
}
