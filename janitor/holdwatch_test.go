package janitor_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"

	"github.com/janitorhq/janitor/dbconn"
	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testdb"
	"github.com/janitorhq/janitor/janitor"
	"github.com/janitorhq/janitor/policies"
	"github.com/janitorhq/janitor/report"
	"github.com/janitorhq/janitor/slack"
)

// requireDigests skips a test that needs performance_schema's statement digests (MariaDB
// 10.11's sandbox runs with performance_schema off: TestHoldReadsInvisible covers it).
func requireDigests(t *testing.T, db *sqlx.DB) {
	t.Helper()
	requirePFS(t, db)
	var on string
	if err := db.Get(&on, "SELECT ENABLED FROM performance_schema.setup_consumers WHERE NAME = 'statements_digest'"); err != nil || on != "YES" {
		t.Skipf("performance_schema's statements_digest consumer is not on (%q, %v)", on, err)
	}
}

// application is a client that runs one statement every interval on one connection of
// its own, as a pooled application does, until stopped; it counts the statements that
// failed with 1146 and those that succeeded.
type application struct {
	failed, ok atomic.Int64
	stop       func()
}

func runApplication(t *testing.T, dsn, stmt string, every time.Duration) *application {
	t.Helper()
	db := testdb.Open(t, dsn)
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(context.Background())
	a := &application{}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			var n sql.NullInt64
			err := db.QueryRowContext(ctx, stmt).Scan(&n)
			var me *mysql.MySQLError
			switch {
			case err == nil || errors.Is(err, sql.ErrNoRows):
				a.ok.Add(1)
			case errors.As(err, &me) && me.Number == 1146:
				a.failed.Add(1)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	a.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(a.stop)
	return a
}

// TestHeldTableAskedForIsRestored: the incident of issue 18 §1. Two leftovers are held
// with the default shape of a hold (execute.hold, shortened). During the hold an
// application account reads one by its original name every 200 ms, and a stored
// procedure reads the other with SQL it builds at run time (CONCAT + PREPARE), which no
// body search sees: every statement fails with 1146, and neither touches the hold name.
// janitor's next look must restore both (renamed back, comment marked), count them,
// and the application's reads must work again; after the hold's end they are kept,
// not dropped.
func TestHeldTableAskedForIsRestored(t *testing.T) {
	db, s := digestShard(t, "orders", "stats")
	testdb.Exec(t, db,
		"INSERT INTO "+q(s, "__orders_old")+" VALUES (1), (2)",
		"INSERT INTO "+q(s, "__stats_old")+" VALUES (1)",
		// The name is built at run time: no body search can find it.
		"CREATE PROCEDURE "+q(s, "count_stats")+"() BEGIN SET @q = CONCAT('SELECT COUNT(*) INTO @n FROM ', '`', DATABASE(), '`.`__stats', '_old`'); "+
			"PREPARE st FROM @q; EXECUTE st; DEALLOCATE PREPARE st; SELECT @n; END",
	)
	cfg := holdConfig(t, s)
	r := janitor.New(cfg, nil).Run(context.Background(), true)
	for _, name := range []string{"__orders_old", "__stats_old"} {
		if o := outcomes(r)[name]; o.Outcome != report.OutcomeHeld {
			t.Fatalf("%s: %+v, want held", name, o)
		}
	}
	held := map[string]string{"__orders_old": heldName(t, db, s, "__orders_old"), "__stats_old": heldName(t, db, s, "__stats_old")}

	appDSN, _ := account(t, []string{"SELECT, EXECUTE ON " + dbconn.QuoteIdent(s) + ".*"})
	appDSN = testdb.WithDB(appDSN, s)
	reader := runApplication(t, appDSN, "SELECT id FROM "+q(s, "__orders_old")+" WHERE id = 1", 200*time.Millisecond)
	proc := runApplication(t, appDSN, "CALL "+q(s, "count_stats")+"()", 200*time.Millisecond)
	waitFor(t, "the application's reads fail on the held names", 10*time.Second, func() bool {
		return reader.failed.Load() >= 2 && proc.failed.Load() >= 2
	})

	var restoredHook atomic.Int64
	j := janitor.New(cfg, nil)
	j.Hooks.HoldMoved = func(mv discovery.HoldMove) {
		if mv.RenamedBack() {
			restoredHook.Add(1)
		}
	}
	after := outcomes(j.Run(context.Background(), true))
	for name, hold := range held {
		o := after[hold]
		if o.Outcome != report.OutcomeRestored || o.OriginalTable != name || !exists(t, db, s, name) || exists(t, db, s, hold) {
			t.Errorf("%s (held as %s), asked for by its original name during the hold: %+v; want restored", name, hold, o)
		}
	}
	if n := restoredHook.Load(); n != 2 {
		t.Errorf("HoldMoved told of %d RENAMEs back, want 2", n)
	}
	// The application works again.
	okReader, okProc := reader.ok.Load(), proc.ok.Load()
	waitFor(t, "the application's reads work again", 10*time.Second, func() bool {
		return reader.ok.Load() > okReader && proc.ok.Load() > okProc
	})
	reader.stop()
	proc.stop()

	// Later runs, even past the hold's end, keep them.
	j = janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	later := outcomes(j.Run(context.Background(), true))
	for _, name := range []string{"__orders_old", "__stats_old"} {
		if o := later[name]; o.ReasonCode != string(policies.CodeRestored) || !exists(t, db, s, name) {
			t.Errorf("%s after its restore: %+v, want kept as %s", name, o, policies.CodeRestored)
		}
	}
}

// TestWeeklyJobSeenDuringHold: docs/dropping.md says the default hold of 7 days is long
// enough for a weekly job to run once during it and be seen. A job that runs once (one
// statement by its original name, which fails) must restore the table; an untouched
// twin is dropped at the hold's end.
func TestWeeklyJobSeenDuringHold(t *testing.T) {
	db, s := digestShard(t, "ledger", "audit")
	cfg := holdConfig(t, s)
	cfg.Execute.Hold = 7 * 24 * time.Hour // the default's length
	janitor.New(cfg, nil).Run(context.Background(), true)
	ledgerHold, auditHold := heldName(t, db, s, "__ledger_old"), heldName(t, db, s, "__audit_old")
	jobDSN, _ := account(t, []string{"SELECT ON " + dbconn.QuoteIdent(s) + ".*"})
	job := testdb.Open(t, jobDSN)
	var n int
	err := job.Get(&n, "SELECT COUNT(*) FROM "+q(s, "__ledger_old")+" WHERE id > 0 /* weekly reconciliation */")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1146 {
		t.Fatalf("the weekly job's read of the held name: %v, want error 1146", err)
	}
	job.Close()
	j := janitor.New(cfg, nil)
	j.ClockShift = cfg.Execute.Hold + time.Minute
	after := outcomes(j.Run(context.Background(), true))
	if o := after[ledgerHold]; o.Outcome != report.OutcomeRestored || !exists(t, db, s, "__ledger_old") {
		t.Errorf("held table a weekly job asked for once: %+v, want restored", o)
	}
	if o := after[auditHold]; o.Outcome != report.OutcomeDropped {
		t.Errorf("untouched held table: %+v, want dropped at the hold's end", o)
	}
}

// TestRecentReadKeeps: before a hold, a leftover that a statement read within
// policy.min_age is in use (recent_read), whatever its name and age say; one read
// before that, or never, is not. An application's existence probe has the shape of
// janitor's purge (SELECT 1 FROM t LIMIT n) and is a read; janitor's purge is not.
func TestRecentReadKeeps(t *testing.T) {
	db, s := digestShard(t, "items", "notes", "probes", "purged")
	testdb.Exec(t, db, discovery.PurgeLock(q(s, "__purged_old")), discovery.PurgeDelete(q(s, "__purged_old"), 1000))
	appDSN, _ := account(t, []string{"SELECT ON " + dbconn.QuoteIdent(s) + ".*"})
	app := testdb.Open(t, testdb.WithDB(appDSN, s))
	var ids []int
	if err := app.Select(&ids, "SELECT id FROM __items_old WHERE id < 10"); err != nil {
		t.Fatal(err)
	}
	if err := app.Select(&ids, "SELECT 1 FROM __probes_old LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	cfg := holdConfig(t, s)
	cfg.Policy.MinAge = time.Hour
	// Both tables are younger than min_age too: recent_read is a use, and comes first.
	r := janitor.New(cfg, nil).Report(context.Background())
	o := outcomes(r)
	wantItemsRecentRead(t, o, "statement digest")
	if o["__probes_old"].ReasonCode != string(policies.CodeRecentRead) || !strings.Contains(o["__probes_old"].Reason, "statement digest") {
		t.Errorf("__probes_old probed a moment ago: %+v, want %s from the statement digest", o["__probes_old"], policies.CodeRecentRead)
	}
	// On a server started within min_age its table counters make it recent: the
	// digest is what is under test.
	if strings.Contains(o["__purged_old"].Reason, "statement digest") {
		t.Errorf("__purged_old only purged by janitor: %+v, want no read from a statement digest", o["__purged_old"])
	}
}

// TestHoldReadsInvisible: on a server that keeps no statement statistics (MariaDB with
// performance_schema off, the default), a statement that asks for a held table by its
// original name fails and leaves no trace janitor can read. The report, Slack and the
// log must say per shard that reads are invisible and the hold is only a scream test,
// with the fix.
func TestHoldReadsInvisible(t *testing.T) {
	if pfsOn(t, testdb.Primary(t)) {
		t.Skip("performance_schema is on: statement digests are read (TestHeldTableAskedForIsRestored)")
	}
	db, s, cfg, hold := heldLeftover(t)
	askByName(t, s, "__orders_old")
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := janitor.New(cfg, log).Run(context.Background(), true)
	sh := r.Shards[0]
	if !strings.Contains(sh.ReadsInvisible, "scream test") || !strings.Contains(sh.ReadsInvisible, "performance_schema = ON") {
		t.Errorf("reads_invisible %q: want the scream-test warning and the fix", sh.ReadsInvisible)
	}
	if !strings.Contains(logs.String(), "reads by name are invisible") {
		t.Errorf("log %q: want the warning", logs.String())
	}
	msg, err := json.Marshal(slack.Build(r))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(msg), "reads by name are invisible") {
		t.Errorf("slack message %s: want the warning", msg)
	}
	var text strings.Builder
	if err := report.Write(&text, r, "text"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "reads invisible: ") {
		t.Errorf("text report %q: want the warning", text.String())
	}
	if o := outcomes(r)[hold]; o.Outcome == report.OutcomeRestored || !exists(t, db, s, hold) {
		t.Errorf("held table on a server without statement statistics: %+v, want still held (nothing seen)", o)
	}
}

// TestWatchHoldsRestoresOnly: `janitor holds --execute`, the frequent look, restores a
// held table asked for by its original name and nothing else: another held table,
// even one whose hold has ended, stays held for the nightly run to drop.
func TestWatchHoldsRestoresOnly(t *testing.T) {
	db, s := digestShard(t, "users", "carts")
	cfg := holdConfig(t, s)
	janitor.New(cfg, nil).Run(context.Background(), true)
	usersHold, cartsHold := heldName(t, db, s, "__users_old"), heldName(t, db, s, "__carts_old")
	askByName(t, s, "__users_old")
	j := janitor.New(cfg, nil)
	j.ClockShift = testHold + time.Minute
	o := outcomes(j.WatchHolds(context.Background(), true))
	if o[usersHold].Outcome != report.OutcomeRestored || !exists(t, db, s, "__users_old") {
		t.Errorf("asked for: %+v, want restored", o[usersHold])
	}
	if o[cartsHold].Outcome != report.OutcomeDeferred || !exists(t, db, s, cartsHold) {
		t.Errorf("untouched, hold ended: %+v, want left for the nightly run", o[cartsHold])
	}
}

// TestRecentReadUserstat: on MariaDB with performance_schema off but userstat on,
// TABLE_STATISTICS counts rows read since the server started; on a server that started
// within policy.min_age a leftover read since then is recent_read, and one never read
// is not. Reads by name during a hold stay invisible (no digests), and the report says
// userstat alone does not see a statement that fails.
func TestRecentReadUserstat(t *testing.T) {
	testdb.SkipUnless(t, "userstat is MariaDB's", "mariadb", "mariadb-11.8")
	db := testdb.Primary(t)
	if pfsOn(t, db) {
		t.Skip("performance_schema is on: its counters are read instead")
	}
	testdb.SetGlobal(t, db, "userstat", 1)
	s := testdb.Schema(t, db)
	oldLeftovers(t, db, s, "items", "notes")
	testdb.Exec(t, db, "INSERT INTO "+q(s, "__items_old")+" VALUES (1), (2)")
	var ids []int
	if err := db.Select(&ids, "SELECT id FROM "+q(s, "__items_old")); err != nil || len(ids) != 2 {
		t.Fatalf("read: %v %v", ids, err)
	}
	var uptime time.Duration
	var secs int64
	var name string
	if err := db.QueryRow("SHOW GLOBAL STATUS LIKE 'Uptime'").Scan(&name, &secs); err != nil {
		t.Fatal(err)
	}
	uptime = time.Duration(secs) * time.Second
	cfg := holdConfig(t, s)
	cfg.Policy.MinAge = uptime + time.Hour // the server started within min_age
	r := janitor.New(cfg, nil).Report(context.Background())
	wantItemsRecentRead(t, outcomes(r), "userstat")
	if inv := r.Shards[0].ReadsInvisible; !strings.Contains(inv, "userstat") || !strings.Contains(inv, "scream test") {
		t.Errorf("reads_invisible %q: want the scream test, userstat named", inv)
	}
}
