package janitor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
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
// blocks the shard; so does a registry row whose server_id matches nothing.

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
	var err error
	for _, stmt := range replicaRegistryStatements {
		if regs, err = readRegistry(ctx, q, stmt); err == nil || !dbconn.IsError(err, 1064) {
			break
		}
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

func readRegistry(ctx context.Context, q sqlx.QueryerContext, stmt string) ([]attachedReplica, error) {
	var out []attachedReplica
	err := showRows(ctx, q, stmt, func(str func(keys ...string) string) error {
		id, err := strconv.ParseUint(str("Server_Id", "Server_id"), 10, 64)
		if err != nil {
			return fmt.Errorf("%s: a row without a server_id (%q)", stmt, str("Server_Id", "Server_id"))
		}
		port, _ := strconv.Atoi(str("Port"))
		out = append(out, attachedReplica{serverID: id, uuid: str("Replica_UUID", "Slave_UUID"), host: str("Host"), port: port})
		return nil
	})
	return out, err
}

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
		_, v, err := r.replicaView(ctx, rd)
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
		if len(dumps) > len(regs) {
			// Some dump session has no registry row, and which one cannot be told.
			var hosts []string
			for _, d := range dumps {
				hosts = append(hosts, fmt.Sprintf("session %d from %s", d.id, d.host))
			}
			unchecked = append(unchecked, fmt.Sprintf("%d binlog dump sessions on %s (%s) but %d rows in its replica registry: one reads the binary log without registering, and cannot be matched", len(dumps), source, strings.Join(hosts, ", "), len(regs)))
		}
	}
	regs, dumps, err := readAttached(ctx, q)
	if err != nil {
		return r.topologyUnreadable(ctx, "the primary", err)
	}
	check("the primary", regs, dumps)
	for _, rd := range r.replicas {
		db, _, err := r.replicaView(ctx, rd)
		if err != nil {
			return err
		}
		qctx, cancel := context.WithTimeout(ctx, r.j.cfg.ThrottleFor(r.sc).SignalTimeout)
		regs, dumps, err := readAttached(qctx, db)
		cancel()
		if err != nil {
			return r.topologyUnreadable(ctx, "replica "+rd.name, err)
		}
		check("replica "+rd.name, regs, dumps)
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
