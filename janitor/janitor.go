package janitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/report"
)

// Janitor is one configured fleet.
type Janitor struct {
	cfg Config
	log *slog.Logger
	// Hooks observe runs (metrics); nil is fine.
	Hooks Hooks
	// ClockShift is added to the server's clock when judging whether a hold has ended
	// (policies.Context.ClockShift): tests only.
	ClockShift time.Duration
	// holdsOnly limits discovery to janitor's hold names (WatchHolds).
	holdsOnly bool
}

// Hooks let callers observe a run without the janitor package knowing about metrics.
type Hooks struct {
	// ThrottleWait is told how long a signal held back drops on a shard.
	ThrottleWait func(shard, signal string, d time.Duration)
	// Dropped is told of each table dropped.
	Dropped func(shard, tool string, bytes int64)
	// HoldMoved is told of every change of a table's hold state janitor makes (the
	// lifecycle in discovery.HoldState): the hold record written, the RENAME to the hold
	// name, the baseline, the purge mark, the DROP of a held table, a restore's RENAME
	// back and its comment. Metrics (janitor_hold_restored_total: a RENAME back) and
	// serve's progress watch follow it; the report's hold_state is set with it.
	HoldMoved func(discovery.HoldMove)
	// RestoreDeferred is told of each held table asked for by its original name whose
	// restore the guard deferred (the report's reason says why): the table is still
	// missing, so an application may still be failing (janitor_hold_restore_deferred_total).
	RestoreDeferred func(shard string)
	// AfterHoldRename, when set, runs after a hold's rename and before anything else:
	// tests kill the process there.
	AfterHoldRename func(shard, schema, holdName string)
	// PurgeBatch is told before each purge batch, with the rows purged so far: the
	// progress of a long purge.
	PurgeBatch func(shard, schema, table string, purged int64)
	// ReplicaBlocked is told when a replica's applier was found waiting for a metadata
	// lock and drops on the shard stopped.
	ReplicaBlocked func(shard, replica string)
	// BeforeDrop is called after every check, just before a DROP is sent (tests use it
	// to change the world in between).
	BeforeDrop func(shard, schema, table string)
}

// New returns a Janitor for a validated configuration.
func New(cfg Config, log *slog.Logger) *Janitor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Janitor{cfg: cfg, log: log}
}

// Report inventories every shard; it drops nothing.
func (j *Janitor) Report(ctx context.Context) *report.Report {
	g := j.newGates(false)
	return j.eachShard(ctx, report.ModeReport, g, func(ctx context.Context, sc ShardConfig, s *report.Shard) error {
		return j.inventory(ctx, g, sc, s, nil)
	})
}

// gates bound one run: how many shards discover at once, how many drop at once, and
// when the run stops starting drops.
type gates struct {
	slots    chan struct{} // shards in progress: discovering, or holding their candidates
	discover chan struct{} // discovery.concurrency
	drop     chan struct{} // execute.concurrency; nil unless execute
	deadline time.Time     // execute.deadline from the run's start; zero: none
}

func (j *Janitor) newGates(execute bool) *gates {
	d := j.cfg.Discovery.Concurrency
	g := &gates{slots: make(chan struct{}, d), discover: make(chan struct{}, d)}
	if execute {
		e := j.cfg.Execute.Concurrency
		// Shards waiting for a drop slot hold their candidates in memory; d more
		// than drop at once keeps discovery ahead of the droppers, and memory bounded.
		g.slots = make(chan struct{}, d+e)
		g.drop = make(chan struct{}, e)
		if dl := j.cfg.Execute.Deadline; dl > 0 {
			g.deadline = time.Now().Add(dl)
		}
	}
	return g
}

// past says whether the run's deadline has passed.
func (g *gates) past() bool {
	return g != nil && !g.deadline.IsZero() && !time.Now().Before(g.deadline)
}

// acquire takes a slot of sem, or returns false when ctx ends first.
func acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// eachShard runs fn for every shard, as many at once as g allows, and assembles the
// report. A shard the run ends before (a signal, execute.deadline) is not_visited, not
// an error: nothing is wrong with it.
func (j *Janitor) eachShard(ctx context.Context, mode string, g *gates, fn func(context.Context, ShardConfig, *report.Shard) error) *report.Report {
	n := len(j.cfg.Shards)
	r := &report.Report{GeneratedAt: time.Now().UTC(), Mode: mode, Shards: make([]report.Shard, n)}
	var wg sync.WaitGroup
	// Start at a random shard: when runs end before reaching every shard, a fixed order
	// would leave the same ones unvisited every night.
	offset := 0
	if n > 0 {
		offset = rand.IntN(n)
	}
	for k := range n {
		i := (offset + k) % n
		sc := j.cfg.Shards[i]
		r.Shards[i] = report.Shard{Name: sc.Name, Address: dbconn.Addr(sc.DSN)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !acquire(ctx, g.slots) {
				r.Shards[i].Status, r.Shards[i].Blocked = report.StatusNotVisited, "not visited: stopped by signal ("+ctx.Err().Error()+")"
				return
			}
			defer func() { <-g.slots }()
			if g.past() {
				r.Shards[i].Status, r.Shards[i].Blocked = report.StatusNotVisited, fmt.Sprintf("not visited: execute.deadline %s reached", j.cfg.Execute.Deadline)
				return
			}
			log := j.log.With("shard", sc.Name)
			start := time.Now()
			if err := fn(ctx, sc, &r.Shards[i]); err != nil {
				r.Shards[i].Error = err.Error()
				if hint := dbconn.Hint(err); hint != "" {
					r.Shards[i].Error += " (" + hint + ")"
				}
				log.ErrorContext(ctx, "shard failed", "err", err, "hint", dbconn.Hint(err), "elapsed", time.Since(start).Round(time.Millisecond))
				return
			}
			log.InfoContext(ctx, "shard done", "leftovers", len(r.Shards[i].Tables), "elapsed", time.Since(start).Round(time.Millisecond))
		}()
	}
	wg.Wait()
	r.Finish()
	if nv := r.NotVisited(); nv > 0 {
		j.log.Warn("shards not visited: the run ended before reaching them", "not_visited", nv, "shards", n)
	}
	return r
}

// open connects to a shard's primary. MySQL 8 serves UPDATE_TIME and sizes in
// information_schema.TABLES from a cache up to a day old unless
// information_schema_stats_expiry is 0, and a stale UPDATE_TIME would hide a recent
// write; the variable does not exist elsewhere, so it is set only once the server
// says it is MySQL 8: on the connection that asked, with one SET, and on every later
// one as it opens (dbconn.Options.ServerVars). Closing the pool and dialling again, as
// janitor once did, cost every MySQL shard a second handshake.
func (j *Janitor) open(ctx context.Context, dsn string) (*sqlx.DB, error) {
	return j.openWithReadTimeout(ctx, dsn, j.cfg.Discovery.QueryTimeout+5*time.Second)
}

// openForDrops opens the pool the dropper uses: its read timeout must outlast a DROP.
func (j *Janitor) openForDrops(ctx context.Context, dsn string) (*sqlx.DB, error) {
	return j.openWithReadTimeout(ctx, dsn, j.cfg.Execute.LockWaitTimeout+j.cfg.Execute.DropTimeout+5*time.Second)
}

func (j *Janitor) openWithReadTimeout(ctx context.Context, dsn string, readTimeout time.Duration) (*sqlx.DB, error) {
	opts := dbconn.DefaultOptions()
	opts.ConnectTimeout = j.cfg.Discovery.ConnectTimeout
	opts.ReadTimeout = readTimeout
	opts.ServerVars = func(version, comment string) map[string]string {
		if discovery.FlavorOf(version, comment) != discovery.FlavorMySQL8 {
			return nil
		}
		return map[string]string{"information_schema_stats_expiry": "0"}
	}
	return dbconn.Open(ctx, dsn, opts)
}

func (j *Janitor) discoveryOptions() discovery.Options {
	tools := make([]discovery.Tool, len(j.cfg.Discovery.ToolsInUse))
	for i, name := range j.cfg.Discovery.ToolsInUse {
		tools[i] = discovery.Tool(name)
	}
	return discovery.Options{
		Schemas:        j.cfg.Discovery.Schemas,
		ExcludeSchemas: j.cfg.Discovery.ExcludeSchemas,
		QueryTimeout:   j.cfg.Discovery.QueryTimeout,
		ToolsInUse:     tools,
	}
}

// candidates runs the inventory of one shard and returns what it kept, each with its
// report row: what a run and a watch of holds both work from.
func (j *Janitor) candidates(ctx context.Context, g *gates, sc ShardConfig, s *report.Shard) ([]candidate, error) {
	var cands []candidate
	err := j.inventory(ctx, g, sc, s, func(t *discovery.Table, v policies.Verdict) {
		cands = append(cands, candidate{table: t, verdict: v, row: len(s.Tables) - 1})
	})
	return cands, err
}

// inventory fills s with every leftover on one shard and its verdict. When keep is not
// nil, the inspected tables are passed to it too (the dropper needs them).
func (j *Janitor) inventory(ctx context.Context, g *gates, sc ShardConfig, s *report.Shard, keep func(*discovery.Table, policies.Verdict)) error {
	if !acquire(ctx, g.discover) {
		return fmt.Errorf("stopped by signal before discovery: %w", ctx.Err())
	}
	defer func() { <-g.discover }()
	// discovery.shard_timeout bounds discovery only: drops have their own bounds
	// (throttle.max_wait, execute.drop_timeout, execute.max_duration).
	ictx, cancel := context.WithTimeout(ctx, j.cfg.Discovery.ShardTimeout)
	defer cancel()
	err := j.discover(ictx, sc, s, keep)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ictx.Err() != nil && ctx.Err() == nil {
		err = fmt.Errorf("discovery timed out after discovery.shard_timeout %s: %w", j.cfg.Discovery.ShardTimeout, err)
	}
	return err
}

func (j *Janitor) discover(ctx context.Context, sc ShardConfig, s *report.Shard, keep func(*discovery.Table, policies.Verdict)) error {
	db, err := j.open(ctx, sc.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	server, err := discovery.ReadServer(ctx, db)
	if err != nil {
		return err
	}
	in := discovery.NewInspector(db, server, j.discoveryOptions(), j.log.With("shard", sc.Name))
	// A typo in discovery.schemas would leave the shard silently never cleaned.
	if check, err := in.CheckSchemas(ctx); err != nil {
		s.Warnings = append(s.Warnings, "could not check discovery.schemas against the server: "+err.Error())
		j.log.Warn("could not check discovery.schemas against the server", "shard", sc.Name, "err", err)
	} else {
		for _, w := range check.Warnings {
			s.Warnings = append(s.Warnings, w)
			j.log.Warn(w, "shard", sc.Name)
		}
		for _, n := range check.Notes {
			j.log.Info(n, "shard", sc.Name)
		}
	}
	names, err := in.ListNames(ctx)
	if err != nil {
		return err
	}
	if j.holdsOnly {
		names = holdNames(names)
	}
	var over []discovery.Name
	if limit := j.cfg.Discovery.MaxInspect; limit > 0 && len(names) > limit {
		// Start at a random candidate: a fixed start would let the same share, if it is
		// all kept (too young, live), hide the rest from every run.
		start := rand.IntN(len(names))
		rotated := append(slices.Clone(names[start:]), names[:start]...)
		names, over = rotated[:limit], rotated[limit:]
		j.log.Warn("more candidates than discovery.max_inspect: the rest are reported, not inspected, this run",
			"shard", sc.Name, "candidates", len(names)+len(over), "max_inspect", limit)
	}
	tables, err := in.InspectAll(ctx, names)
	if err != nil {
		return err
	}
	if len(tables) > 0 {
		if why := in.ReadVisibility(ctx); why != "" {
			s.ReadsInvisible = why
			j.log.Warn(why, "shard", sc.Name)
		}
	}
	pc := policies.Context{VitessTableGC: sc.VitessTableGC, ClockShift: j.ClockShift, Shard: sc.Name}
	verdicts := holdGroups(tables, func(t *discovery.Table) policies.Verdict { return policies.Evaluate(j.cfg.Policy, pc, t) })
	inspected := len(tables)
	for _, n := range over {
		tables = append(tables, discovery.Uninspected(n))
		verdicts = append(verdicts, policies.NotInspected(len(names)+len(over), j.cfg.Discovery.MaxInspect))
	}
	// A migration's tables share one verdict: report, plan and execute alike.
	verdicts = policies.Groups(j.cfg.Policy, pc, tables, verdicts)
	for i, t := range tables {
		v := verdicts[i]
		s.Tables = append(s.Tables, Row(t, v))
		if keep != nil && i < inspected {
			keep(t, v)
		}
	}
	return nil
}

// Row turns an inspected table and its verdict into a report row.
func Row(t *discovery.Table, v policies.Verdict) report.Table {
	age, _, _ := t.Age()
	row := report.Table{
		Schema: t.Schema, Table: t.Name, Tool: string(t.Tool), Role: string(t.Role), BaseTable: t.Base,
		Bytes: t.Bytes, SizeSource: t.SizeSource, Engine: t.Engine, CreatedAt: t.CreatedAt,
		AgeSeconds: int64(age / time.Second), Verdict: string(v.Action), ReasonCode: string(v.Code), Reason: v.Reason,
	}
	holdRow(&row, t)
	return row
}
