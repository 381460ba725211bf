// Package replica answers what janitor asks a MySQL or MariaDB server about replication,
// on any connection to it (a replica's pool, or the primary's dropping connection): its
// replication channels (SHOW REPLICA STATUS and its older names), its sessions and which
// of them are appliers, who holds a table's metadata lock or a backup lock, and, on
// Aurora, the readers replica_host_status lists.
//
// It reads and parses; it does not judge. What a finding means — a reader that defers a
// table, an applier that stops a shard, a lag that holds drops back — is decided by its
// callers: package janitor for drops, package throttle for its signals. Errors are the
// server's, returned as they come (wrapped with %w where a query names itself), so a
// caller can still tell a missing grant from an unreachable server.
//
// What an applier is, and the states it waits in behind another session's lock, are
// written once, as Go lists (applierUsers, applierCommands, applierThreads, WaitStates):
// the SQL predicates that find appliers in a process list are built from those lists, so
// the Go test and the SQL filter cannot drift apart.
package replica
