// Package janitor runs discovery, policies and (for `run --execute`) the dropper over a
// fleet of shards, one goroutine per shard up to a bound, and assembles the report.
// A shard that fails is reported with its error; the others carry on.
//
// # The dropper
//
// Per shard, the candidates are worked one table at a time on one connection, which
// holds the server-wide lock DropLockName (run.go), and the table's own lock while it
// works on it (tablelock.go). A table's work is a hold (hold.go: the table's comment gets
// the hold record, then a RENAME to the hold name) or a DROP, preceded for a large table
// by a purge in batches (purge.go). A restore (restore.go) holds RestoreLockName instead,
// and the locks of the tables it renames back, so a run never blocks it and neither
// changes a table the other is working on.
//
// Every statement that changes a table — a DROP, a hold's comment change and RENAME, a
// purge batch, a restore's RENAME back and comment change — is cleared by one step, the guard (guard.go), whose steps run in this
// order:
//
//  1. the budget (budget.go): execute.deadline and execute.max_duration, and a stop signal;
//  2. the throttle: every signal healthy, waiting at most throttle.max_wait, cut to what
//     the budget leaves;
//  3. the fresh re-check on the dropping connection: the same writable server, every piece
//     of evidence gathered again, the policy, the same table (CREATE_TIME, tool, base);
//     for a restore, the same writable server and the table still held (recheckRestore);
//  4. preDropChecks (predrop.go): what only the replicas and the server's locks can tell.
//
// A purge batch takes steps 1 and 2 every time and steps 3 and 4 every
// purgeRecheckEvery; it checks the table's identity itself, under its metadata lock.
// The guard answers with a decision: proceed (with the table as re-read), leave (the
// table keeps its outcome for this run), or stop (the rest of the shard is deferred, and
// the shard is blocked with a code from the report's bounded set); an error beside it is
// a failure of the shard. A check added to any step guards every kind of statement.
//
// The statement itself is a small apply per kind (applyDrop, applyHold, purgeBatch),
// sent by the one helper, send, that keeps the in-flight marker: after a lost
// connection, it says whether a table found gone was dropped by janitor and whether a
// hold name found present is janitor's hold.
//
// # Holds
//
// A hold (execute.hold) moves a table through the states of discovery.HoldState, each
// read from the server alone (the table's name and comment): none → recorded (applyHold
// writes the hold record into the comment) → renamed (the RENAME to the hold name) →
// held (the access baseline added to the record); once the hold ended untouched, →
// purging (markPurge) → dropped (the DROP), or held → dropped; a restore (restore.go,
// `janitor restore` or an execute run restoring a table asked for: holdwatch.go) →
// recorded (one RENAME back for the migration's tables) → restored (the comment with
// the restore marker). Every move a statement makes is told to Hooks.HoldMoved (moved
// and step, hold.go); a move the lifecycle does not allow would be a bug, logged and
// not told. Metrics and serve's watch follow that hook, and the report row's hold_state
// is set with it.
//
// The budget is one value per shard run: execute.deadline (from the run's start),
// execute.max_duration (from the shard's first statement), execute.max_tables_per_run
// and execute.max_bytes_per_run. It caps every wait made for a table — the throttle, a
// reconnect, the replicas applying a purge batch — and maps each limit to its blocked
// code: run_limit for the two time limits; none for the two quotas, which defer the
// rest of the shard without blocking it.
//
// # Replicas
//
// A replica answers the dropper's questions in one place. Package replica reads and
// parses what a server says about replication, on any connection: its channels
// (replica.ReadStatuses, moved out of throttle, whose ReplicaLag signal now calls it),
// its sessions and which are appliers — what an applier is and its wait states are Go
// lists the SQL predicates are built from, so they are written once — who holds a
// table's metadata lock or a backup lock and where that is listed (replica.LockSource),
// and Aurora's replica_host_status. It decides nothing. Package throttle keeps only
// signals; janitor does not import it for replica status.
//
// In this package the decisions about replicas are split by concern:
//
//   - replicas.go: the handle, replicaView — a configured replica's pool, janitor's
//     account there, its server (flavor, server_id), checked once a run for PROCESS and
//     a lock source — and onEachReplica, the one loop that asks every configured replica
//     under throttle.signal_timeout and stops at the first that cannot answer;
//   - readers.go: the sessions that read the table (statements, metadata-lock holders,
//     backup locks, MySQL's locks performance_schema cannot list);
//   - replicarefs.go: what names the table on a replica; filters.go: what its
//     replication filters do with janitor's statements; fklocks.go: who holds the live
//     tables its DDL locks through foreign keys, on the primary and the replicas;
//   - appliers.go: an applier waiting for a lock or stopped, watchAppliers after a
//     statement, and waitApplied (applied through a GTID position) for purge batches
//     and lagging replicas;
//   - topology.go: every replica the primary feeds, listed or not (SHOW REPLICAS, the
//     binlog dump sessions, and on Aurora replica_host_status), matched to shards[].replicas
//     or shards[].ignore_replicas.
//
// Every finding either defers the table with a reason or stops the shard with a code
// (replica_*); evidence a replica cannot show stops it too.
package janitor
