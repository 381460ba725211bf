package janitor

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/replica"
	"github.com/janitorhq/janitor/report"
)

// A DROP replicates. On a replica, a session that reads the table — a long report
// query, or a transaction that read it and stays open — holds the table's metadata
// lock, and the replica's applier then waits behind it with every later event: the
// replica stops applying until the reader ends. So before each DROP (or RENAME) janitor
// looks at every configured replica's sessions (readers.go), what names the table there
// (replicarefs.go), its filters (filters.go) and the live tables its DDL locks through
// foreign keys (fklocks.go); after each DROP it watches the appliers until the DROP is
// applied (appliers.go). This file is the handle those looks share: one per configured
// replica, learned once per run.

// replicaView is one configured replica as the dropper knows it: its pool, who janitor
// is there, what server it is. A replica whose sessions or metadata locks janitor cannot
// see has none: it blocks drops instead.
type replicaView struct {
	name    string
	db      *sqlx.DB
	flavor  discovery.Flavor
	account string // the account janitor uses there, quoted for a GRANT
	server  discovery.Server
}

// replicaView opens (once) the replica's pool and learns what its sessions can tell. Any
// failure is an *errStop: a replica whose sessions or metadata locks janitor cannot see
// blocks drops.
func (r *shardRun) replicaView(ctx context.Context, rd replicaDB) (*replicaView, error) {
	db, err := rd.db.Get(ctx)
	if err != nil && errors.Is(ctx.Err(), context.Canceled) {
		return nil, r.replicaUnreadable(ctx, &replicaView{name: rd.name}, err)
	}
	if err != nil {
		return nil, &errStop{code: report.BlockedReplicaUnreachable, why: fmt.Sprintf("replica %s: cannot reach it to see its sessions (%v): drops on this shard wait until janitor can, since a reader there would stall its replication", rd.name, err)}
	}
	if v := r.replicaSeen[rd.name]; v != nil {
		v.db = db
		return v, nil
	}
	qctx, cancel := context.WithTimeout(ctx, r.j.cfg.ThrottleFor(r.sc).SignalTimeout)
	defer cancel()
	v := &replicaView{name: rd.name, db: db}
	srv, err := discovery.ReadServer(qctx, db)
	if err != nil {
		return nil, r.replicaUnreadable(ctx, v, err)
	}
	v.flavor, v.account, v.server = srv.Flavor, "janitor's account", srv
	var user string
	if err := db.QueryRowxContext(qctx, "SELECT /* janitor */ CURRENT_USER()").Scan(&user); err == nil {
		if i := strings.LastIndexByte(user, '@'); i >= 0 {
			v.account = fmt.Sprintf("'%s'@'%s'", user[:i], user[i+1:])
		}
	}
	if !srv.SeesAllSessions {
		// Without PROCESS the process list shows janitor's own sessions only, which
		// would read as "nobody reads this table".
		return nil, &errStop{code: report.BlockedReplicaGrants, why: fmt.Sprintf("replica %s: the account cannot see other sessions there: GRANT PROCESS ON *.* TO %s on that replica (docs/dropping.md, Least privilege)", rd.name, v.account)}
	}
	if _, err := r.lockSource(qctx, v); err != nil {
		r.log.WarnContext(ctx, "replica cannot say who holds a table's metadata lock: nothing is dropped or held on this shard",
			"replica", rd.name, "why", err.Error())
		return nil, err
	}
	if r.replicaSeen == nil {
		r.replicaSeen = map[string]*replicaView{}
	}
	r.replicaSeen[rd.name] = v
	return v, nil
}

// onEachReplica calls fn on every configured replica, with its handle and a context
// bounded by throttle.signal_timeout, and gathers the lines fn returns. The first error
// ends the walk: a replica that cannot be read stops drops rather than being passed
// over.
func (r *shardRun) onEachReplica(ctx context.Context, fn func(qctx context.Context, v *replicaView) ([]string, error)) ([]string, error) {
	var out []string
	for _, rd := range r.replicas {
		v, err := r.replicaView(ctx, rd)
		if err != nil {
			return nil, err
		}
		qctx, cancel := context.WithTimeout(ctx, r.j.cfg.ThrottleFor(r.sc).SignalTimeout)
		lines, err := fn(qctx, v)
		cancel()
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return out, nil
}

// lockSource says where the replica tells who holds a table's metadata lock. Where it
// cannot, the error is an *errStop naming the replica, what is missing and the fix: the
// replicated DROP or RENAME would wait there behind a reader janitor cannot see, and
// stall replication. It is asked again before every statement (one small query), so a
// source switched off during a run stops the next drop rather than hiding readers.
func (r *shardRun) lockSource(ctx context.Context, v *replicaView) (replica.Source, error) {
	src, missing, err := replica.LockSource(ctx, v.db, v.flavor)
	switch {
	case err != nil:
		return replica.None, r.replicaUnreadable(ctx, v, err)
	case src != replica.None:
		return src, nil
	}
	if v.flavor == discovery.FlavorMariaDB {
		missing.Fix += " (it stays installed across restarts; to have it on every server built from your config, add plugin_load_add = metadata_lock_info under [mariadbd])"
	}
	return replica.None, &errStop{code: report.BlockedReplicaLockSource, why: fmt.Sprintf("replica %s: cannot see who holds a table's metadata lock there (%s): a reader there in an open transaction would go unseen and the replicated DROP or RENAME would stall replication behind it, so nothing is dropped or held on this shard. Fix: %s; docs/dropping.md, Readers on replicas",
		v.name, missing.What, missing.Fix)}
}

// replicaUnreadable turns a failure to read a replica's sessions into the *errStop that
// blocks the shard, naming the grant when the server refused for want of one. A signal
// (ctx cancelled, not a query's own timeout) is named as such, not as an unreadable
// replica.
func (r *shardRun) replicaUnreadable(ctx context.Context, v *replicaView, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return &errStop{code: report.BlockedSignal, why: "stopped by signal while looking at the replicas' sessions"}
	}
	account := v.account
	if account == "" {
		account = "janitor's account"
	}
	if dbconn.IsError(err, dbconn.ErrSpecificAccess, 1142, 1044) { // 1142 table access denied, 1044 database access denied
		return &errStop{code: report.BlockedReplicaGrants, why: fmt.Sprintf("replica %s: cannot read its sessions (%v): GRANT PROCESS ON *.* TO %s there (MySQL: and SELECT ON performance_schema.*), as docs/dropping.md (Least privilege) lists", v.name, err, account)}
	}
	return &errStop{code: report.BlockedReplicaUnreadable, why: fmt.Sprintf("replica %s: cannot read its sessions (%v): drops on this shard wait until janitor can", v.name, err)}
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		return string(r[:120]) + "…"
	}
	return s
}
