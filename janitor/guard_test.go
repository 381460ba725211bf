package janitor_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/report"
)

// unhealthyThrottle makes cfg's throttle unhealthy for the whole test: its freeable-memory
// signal asks a Prometheus that always fails (a signal that cannot be read is unhealthy).
func unhealthyThrottle(t *testing.T, cfg *janitor.Config) {
	t.Helper()
	prom := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"status":"error","errorType":"internal","error":"boom"}`, http.StatusInternalServerError)
	}))
	t.Cleanup(prom.Close)
	cfg.Throttle.PrometheusURL = prom.URL
	cfg.Throttle.FreeableMemoryQuery = `node_memory_MemAvailable_bytes{shard="{{shard}}"}`
	cfg.Throttle.MinFreeableMemoryBytes = 1 << 30
}

// TestThrottleWaitStopsAtTheDeadline: a table waiting for a healthy throttle waits no
// longer than execute.deadline allows, and the shard stops with the deadline's code
// (run_limit), not the throttle's: with holds (the default) and without. Holds waited the
// full throttle.max_wait and then reported throttle; DROPs were cut at the deadline but
// reported throttle too.
func TestThrottleWaitStopsAtTheDeadline(t *testing.T) {
	for _, hold := range []time.Duration{janitor.Defaults().Execute.Hold, 0} {
		t.Run(fmt.Sprintf("hold=%s", hold), func(t *testing.T) {
			db := testdb.Primary(t)
			s := testdb.Schema(t, db)
			oneLeftover(t, db, s)
			cfg := config(t, s)
			cfg.Execute.Hold = hold
			unhealthyThrottle(t, &cfg)
			cfg.Throttle.MaxWait = 20 * time.Second
			// Past discovery on a busy machine, well before max_wait.
			cfg.Execute.Deadline = 5 * time.Second
			start := time.Now()
			r := janitor.New(cfg, nil).Run(context.Background(), true)
			took := time.Since(start)
			sh := r.Shards[0]
			if sh.Status != report.StatusOK || sh.BlockedCode != report.BlockedRunLimit || !strings.Contains(sh.Blocked, "execute.deadline") {
				t.Errorf("status %q, blocked_code %q (%s); want ok, %q by execute.deadline", sh.Status, sh.BlockedCode, sh.Blocked, report.BlockedRunLimit)
			}
			if sh.ThrottleWaitSeconds["freeable_memory"] <= 0 {
				t.Errorf("throttle waits %v: the deadline was reached before the wait, not during it", sh.ThrottleWaitSeconds)
			}
			if o := outcomes(r)["__orders_old"]; o.Outcome != report.OutcomeDeferred || !exists(t, db, s, "__orders_old") {
				t.Errorf("__orders_old: %q (%s), want deferred and in place", o.Outcome, o.Reason)
			}
			if took > 12*time.Second {
				t.Errorf("the run took %s: the throttle wait outlasted execute.deadline 5s", took.Round(time.Millisecond))
			}
			if r.Failed() {
				t.Error("a run stopped by its deadline is not a failure")
			}
		})
	}
}

// TestPurgeStopsAtTheDeadline: a purge that crosses execute.deadline sends no batch after
// it, and the table stays, part-purged, for a later run; the shard stops with run_limit.
// The purge looked at execute.max_duration only, and purged and dropped the table after
// the deadline.
func TestPurgeStopsAtTheDeadline(t *testing.T) {
	ctx, db, _, s, cfg, _ := purgeShard(t, time.Minute)
	cfg.Execute.Deadline = 5 * time.Second // past discovery on a busy machine
	j := janitor.New(cfg, nil)
	var once sync.Once
	var late bool
	start := time.Now()
	deadline := start.Add(cfg.Execute.Deadline)
	j.Hooks.PurgeBatch = func(_, _, _ string, purged int64) {
		if purged == 0 {
			return
		}
		// The second batch: hold it until the deadline has passed.
		once.Do(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				<-time.After(10 * time.Millisecond) // polling the clock: the deadline is the condition
			}
		})
		if time.Now().After(deadline.Add(time.Second)) {
			late = true // a batch the purge started well after the deadline
		}
	}
	r := j.Run(ctx, true)
	sh := r.Shards[0]
	if sh.BlockedCode != report.BlockedRunLimit || !strings.Contains(sh.Blocked, "execute.deadline") || !strings.Contains(sh.Blocked, "during a purge") {
		t.Errorf("blocked_code %q (%s); want %q by execute.deadline during a purge", sh.BlockedCode, sh.Blocked, report.BlockedRunLimit)
	}
	if o := outcomes(r)["__a_old"]; o.Outcome != report.OutcomeDeferred {
		t.Errorf("__a_old: %q (%s), want deferred", o.Outcome, o.Reason)
	}
	wantPurgedPartWay(ctx, t, db, s)
	if late {
		t.Error("a purge batch started more than a second after the deadline")
	}
}

// TestMaxDurationSetsItsBlockedCode: execute.max_duration stops the shard with run_limit,
// as the report's contract says; it set no code.
func TestMaxDurationSetsItsBlockedCode(t *testing.T) {
	_, s := twoLeftovers(t)
	cfg := config(t, s)
	cfg.Execute.PauseBetweenDrops = 400 * time.Millisecond
	cfg.Execute.MaxDuration = 300 * time.Millisecond
	r := janitor.New(cfg, nil).Run(context.Background(), true)
	if sh := r.Shards[0]; sh.BlockedCode != report.BlockedRunLimit || !strings.Contains(sh.Blocked, "execute.max_duration") {
		t.Errorf("blocked_code %q (%s); want %q by execute.max_duration", sh.BlockedCode, sh.Blocked, report.BlockedRunLimit)
	}
}

// TestQuotasSetNoBlockedCode: execute.max_tables_per_run reached is the configuration
// doing its job, not a blocked shard: the rest is deferred with the key named, and
// neither blocked nor blocked_code is set (JanitorShardBlocked would page on it).
func TestQuotasSetNoBlockedCode(t *testing.T) {
	_, s := twoLeftovers(t)
	cfg := config(t, s)
	cfg.Execute.MaxTablesPerRun = 1
	r := janitor.New(cfg, nil).Run(context.Background(), true)
	var deferred int
	for _, tb := range r.Shards[0].Tables {
		if tb.Outcome == report.OutcomeDeferred && strings.Contains(tb.Reason, "execute.max_tables_per_run 1 reached") {
			deferred++
		}
	}
	if sh := r.Shards[0]; deferred != 1 || sh.Blocked != "" || sh.BlockedCode != "" {
		t.Errorf("%d deferred by the quota, blocked %q (%q); want 1, none", deferred, sh.Blocked, sh.BlockedCode)
	}
}

// twoLeftovers is a schema with two dead pt-osc leftovers, __a_old and __b_old.
func twoLeftovers(t *testing.T) (*sqlx.DB, string) {
	t.Helper()
	db, s := primarySchema(t)
	for _, b := range []string{"a", "b"} {
		testdb.Exec(t, db, "CREATE TABLE "+q(s, b)+" (id INT PRIMARY KEY)", "CREATE TABLE "+q(s, "__"+b+"_old")+" (id INT PRIMARY KEY)")
	}
	return db, s
}

// stopCodeTests names, for each blocked code produced elsewhere, the test that checks it.
var stopCodeTests = map[string]string{
	report.BlockedReplicaGrants:     "TestExecuteWithoutProcessOnReplicaRefuses (grants_test.go)",
	report.BlockedReplicaLockSource: "TestNoLockSourceOnReplicaRefuses (readers_test.go)",
	report.BlockedReplicaApplier:    "TestReaderAfterTheCheckBlocksTheShard (readers_test.go)",
	report.BlockedReplicaUnchecked:  "TestUnlistedReplicaBlocksTheShard, TestChainedReplicaIsLookedAt, TestUnregisteredBinlogReaderBlocks (topology_test.go)",
	report.BlockedReplicaApply:      "TestPurgeNotAppliedBlocksTheShard (run_test.go)",
	report.BlockedThrottle:          "TestStoppedReplicaBlocksDrops (run_test.go)",
	report.BlockedRunLimit:          "TestThrottleWaitStopsAtTheDeadline, TestPurgeStopsAtTheDeadline, TestMaxDurationSetsItsBlockedCode",
}

// TestStopCodes produces, on a real server, each blocked code the tests elsewhere do not,
// and checks that every code of the report's contract is produced by some test.
func TestStopCodes(t *testing.T) {
	type scenario struct {
		code string
		// run sets the shard up and runs janitor on it.
		run func(t *testing.T) *report.Report
	}
	scenarios := []scenario{
		{report.BlockedReadOnly, func(t *testing.T) *report.Report {
			_, _, r := runOnReplica(t)
			return r
		}},
		{report.BlockedLock, runBesideAnotherJanitor},
		{report.BlockedSignal, func(t *testing.T) *report.Report {
			// Stopped while the throttle holds the drop back.
			db := testdb.Primary(t)
			s := testdb.Schema(t, db)
			oneLeftover(t, db, s)
			cfg := config(t, s)
			unhealthyThrottle(t, &cfg)
			cfg.Throttle.MaxWait = time.Minute
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			j := janitor.New(cfg, nil)
			j.Hooks.ThrottleWait = func(string, string, time.Duration) { cancel() }
			return j.Run(ctx, true)
		}},
		{report.BlockedConnection, func(t *testing.T) *report.Report {
			// The primary ends janitor's session just before every DROP.
			db := testdb.Primary(t)
			s := testdb.Schema(t, db)
			oneLeftover(t, db, s)
			j := janitor.New(config(t, s), nil)
			j.Hooks.BeforeDrop = func(string, string, string) {
				var id int64
				if err := db.Get(&id, "SELECT IS_USED_LOCK(?)", janitor.DropLockName); err == nil {
					_, _ = db.Exec(fmt.Sprintf("KILL CONNECTION %d", id))
				}
			}
			return j.Run(context.Background(), true)
		}},
		{report.BlockedFailover, func(t *testing.T) *report.Report {
			// Another server answers on the primary's address after the first DROP: its
			// server_id differs.
			db, s := twoLeftovers(t)
			var id int64
			if err := db.Get(&id, "SELECT @@GLOBAL.server_id"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { testdb.Exec(t, db, fmt.Sprintf("SET GLOBAL server_id = %d", id)) })
			j := janitor.New(config(t, s), nil)
			j.Hooks.Dropped = func(string, string, int64) {
				_, _ = db.Exec(fmt.Sprintf("SET GLOBAL server_id = %d", id+1000))
			}
			return j.Run(context.Background(), true)
		}},
		{report.BlockedReplicaUnreachable, func(t *testing.T) *report.Report {
			// A replica that cannot be asked whether it applied a purge batch: its
			// sessions end every statement after 200 ms (the throttle's and the readers'
			// reads take less), and the applier waits behind a lock the test holds there,
			// so every wait for the batch is cut off with an error.
			ctx, db, replica, s, cfg, lock := purgeShard(t, 2*time.Second)
			limit := "max_statement_time=0.2"
			if testdb.IsMySQL(t) {
				limit = "max_execution_time=200"
			}
			sep := "?"
			if strings.Contains(cfg.Shards[0].Replicas[0].DSN, "?") {
				sep = "&"
			}
			cfg.Shards[0].Replicas[0].DSN += sep + limit
			return purgeUnderReplicaLock(ctx, t, db, replica, s, cfg, lock)
		}},
		{report.BlockedReplicaUnreadable, func(t *testing.T) *report.Report {
			// A replica whose sessions janitor may see but cannot read for another reason
			// than grants, while the throttle reads its lag. MariaDB: its sessions refuse
			// any SELECT that examines more than one row (max_join_size), which the
			// process-list query does and the server and lag reads do not. MySQL, whose
			// optimizer estimates the lag signal's replication-status join above the
			// process-list queries: its SELECTs return no rows (sql_select_limit), which
			// SHOW REPLICA STATUS ignores, so the server's own description is missing.
			// The DROP must not go out on a guess.
			limit, says := "max_join_size=1", "MAX_JOIN_SIZE"
			if testdb.Is(t, "mariadb-11.8") {
				// 11.8 counts SHOW ALL SLAVES STATUS against max_join_size too (measured):
				// 100 lets that one-row read through and still refuses the process-list
				// join, which 10.11 would let through at 100.
				limit = "max_join_size=100"
			}
			if testdb.IsMySQL(t) {
				limit, says = "sql_select_limit=0", "no rows"
			}
			db := testdb.Primary(t)
			s := testdb.Schema(t, db)
			oneLeftover(t, db, s)
			cfg := config(t, s)
			sep := "?"
			if strings.Contains(cfg.Shards[0].Replicas[0].DSN, "?") {
				sep = "&"
			}
			cfg.Shards[0].Replicas[0].DSN += sep + limit
			r := janitor.New(cfg, nil).Run(context.Background(), true)
			if !exists(t, db, s, "__orders_old") {
				t.Error("__orders_old was dropped though the replica's sessions could not be read")
			}
			if b := r.Shards[0].Blocked; !strings.Contains(b, "sandbox-replica") || !strings.Contains(b, says) {
				t.Errorf("blocked %q: want the replica and the server's error named", b)
			}
			return r
		}},
	}
	produced := map[string]bool{}
	for code := range stopCodeTests {
		produced[code] = true
	}
	for _, sc := range scenarios {
		produced[sc.code] = true
		t.Run(sc.code, func(t *testing.T) {
			r := sc.run(t)
			sh := r.Shards[0]
			if sh.BlockedCode != sc.code || sh.Blocked == "" {
				t.Errorf("blocked_code %q (%s), want %q", sh.BlockedCode, sh.Blocked, sc.code)
			}
			for _, tb := range sh.Tables {
				if tb.Outcome == report.OutcomeDeferred && tb.Reason != sh.Blocked {
					t.Errorf("%s deferred for %q, not the shard's stop %q", tb.Table, tb.Reason, sh.Blocked)
				}
			}
			if r.Failed() {
				t.Errorf("a stop is not a failure: %s", sh.Error)
			}
		})
	}
	var missing []string
	for _, code := range report.BlockedCodes {
		if !produced[code] {
			missing = append(missing, code)
		}
	}
	if len(missing) > 0 {
		t.Errorf("blocked codes no test produces: %v (add a scenario, or name the test in stopCodeTests)", missing)
	}
}

// TestHoldCommentLostConnectionRetries: the connection lost while the hold's comment ALTER
// waits (here: ended by the server, as a restart or a network cut would) is a lost
// connection, not a failed table: janitor reconnects, goes through the guard again and
// holds the table. It reported the table failed (the run exited 1) and left the hold
// record in the comment of a table still under its own name.
func TestHoldCommentLostConnectionRetries(t *testing.T) {
	ctx := context.Background()
	db, s, cfg := leftoverShard(t, true)
	cfg.Execute.LockWaitTimeout = 20 * time.Second // the test ends the session long before
	// Another session holds the table's metadata lock, so the comment ALTER waits for it.
	killed := killWhenWaiting(ctx, t, db, s, "ALTER /* janitor */ TABLE")
	heldAfterKill(ctx, t, db, s, cfg, killed)
}

// TestPausesStopAtTheBudget: execute.pause_between_drops and a purge's batch_pause are
// cut by the budget like every other wait before a statement: the run stops at
// execute.max_duration with run_limit, not a whole pause later. Both paused in full.
func TestPausesStopAtTheBudget(t *testing.T) {
	const pause = time.Minute
	t.Run("pause_between_drops", func(t *testing.T) {
		db, s := twoLeftovers(t)
		cfg := config(t, s)
		cfg.Execute.PauseBetweenDrops = pause
		cfg.Execute.MaxDuration = 3 * time.Second
		start := time.Now()
		r := janitor.New(cfg, nil).Run(context.Background(), true)
		took := time.Since(start)
		o := outcomes(r)
		if o["__a_old"].Outcome != report.OutcomeDropped {
			t.Fatalf("__a_old: %q (%s); the first table must be dropped for the pause to happen", o["__a_old"].Outcome, o["__a_old"].Reason)
		}
		if sh := r.Shards[0]; sh.BlockedCode != report.BlockedRunLimit || o["__b_old"].Outcome != report.OutcomeDeferred || !exists(t, db, s, "__b_old") {
			t.Errorf("blocked_code %q (%s), __b_old %q; want run_limit, deferred and in place", sh.BlockedCode, sh.Blocked, o["__b_old"].Outcome)
		}
		if took > 20*time.Second {
			t.Errorf("the run took %s: pause_between_drops %s outlasted execute.max_duration 3s", took.Round(time.Millisecond), pause)
		}
	})
	t.Run("batch_pause", func(t *testing.T) {
		ctx, db, _, s, cfg, _ := purgeShard(t, time.Minute)
		cfg.Execute.LargeTable.BatchPause = pause
		cfg.Execute.MaxDuration = 3 * time.Second
		start := time.Now()
		r := janitor.New(cfg, nil).Run(ctx, true)
		took := time.Since(start)
		if sh := r.Shards[0]; sh.BlockedCode != report.BlockedRunLimit || !strings.Contains(sh.Blocked, "during a purge") {
			t.Errorf("blocked_code %q (%s); want run_limit during a purge", sh.BlockedCode, sh.Blocked)
		}
		wantPurgedPartWay(ctx, t, db, s)
		if took > 20*time.Second {
			t.Errorf("the run took %s: batch_pause %s outlasted execute.max_duration 3s", took.Round(time.Millisecond), pause)
		}
	})
}
