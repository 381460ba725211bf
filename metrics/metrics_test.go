package metrics

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/version"

	"github.com/janitorhq/janitor/discovery"
	"github.com/janitorhq/janitor/internal/testprom"
	"github.com/janitorhq/janitor/report"
)

func sampleReport(mode string, failed bool) *report.Report {
	r := &report.Report{Mode: mode, Shards: []report.Shard{
		{Name: "s1", Tables: []report.Table{
			{Table: "a", Tool: "pt-osc", Verdict: "drop", ReasonCode: "dead", Bytes: 100},
			{Table: "b", Tool: "gh-ost", Verdict: "skip", ReasonCode: "live_heartbeat"},
			{Table: "c", Tool: "lhm", Verdict: "skip", ReasonCode: "trigger_writes"},
			{Table: "d", Tool: "lhm", Verdict: "skip", ReasonCode: "trigger_writes"},
		}},
	}}
	if failed {
		r.Shards = append(r.Shards, report.Shard{Name: "s2", Error: "connection refused"})
	}
	r.Finish()
	return r
}

func TestObserve(t *testing.T) {
	m := New()
	m.Observe(sampleReport(report.ModeReport, false), 3*time.Second)
	if v := testutil.ToFloat64(m.reclaimable.WithLabelValues("s1")); v != 100 {
		t.Errorf("reclaimable = %v", v)
	}
	if v := testutil.ToFloat64(m.skipped.WithLabelValues("s1", "trigger_writes")); v != 2 {
		t.Errorf("skipped{trigger_writes} = %v", v)
	}
	if v := testutil.ToFloat64(m.runDuration); v != 3 {
		t.Errorf("duration = %v", v)
	}
	if testutil.CollectAndCount(m.lastSuccess) != 1 {
		t.Error("a successful run sets last success")
	}
	// A later run in which the skip reasons changed leaves no stale reason behind.
	r := sampleReport(report.ModeReport, false)
	r.Shards[0].Tables = r.Shards[0].Tables[:2]
	m.Observe(r, time.Second)
	// A gone reason reads 0 (a deleted series would not be pushed, and the Pushgateway
	// would keep its old value).
	if v := testutil.ToFloat64(m.skipped.WithLabelValues("s1", "trigger_writes")); v != 0 {
		t.Errorf("skipped{trigger_writes} = %v after a run without such skips, want 0", v)
	}
}

func TestFailedRunSetsNoSuccess(t *testing.T) {
	m := New()
	m.Observe(sampleReport(report.ModeReport, true), time.Second)
	if testutil.CollectAndCount(m.lastSuccess) != 0 {
		t.Error("a failed run must not export a last-success sample")
	}
	if v := testutil.ToFloat64(m.shardErrors.WithLabelValues("s2")); v != 1 {
		t.Errorf("shard errors = %v", v)
	}
}

// TestDropsCountedOnceThroughHooks: Observe never counts drops; the hooks do.
func TestDropsCountedOnceThroughHooks(t *testing.T) {
	m := New()
	m.Dropped("s1", "pt-osc", 100)
	r := sampleReport(report.ModeExecute, false)
	r.Shards[0].Tables[0].Outcome, r.Shards[0].Tables[0].FreedBytes = report.OutcomeDropped, 100
	r.Finish()
	m.Observe(r, time.Second)
	if v := testutil.ToFloat64(m.dropped.WithLabelValues("s1")); v != 1 {
		t.Errorf("dropped = %v, want 1", v)
	}
	if v := testutil.ToFloat64(m.droppedBy.WithLabelValues("pt-osc")); v != 1 {
		t.Errorf("dropped by pt-osc = %v, want 1", v)
	}
	if v := testutil.ToFloat64(m.reclaimed.WithLabelValues("s1")); v != 100 {
		t.Errorf("reclaimed = %v, want 100", v)
	}
	m.ThrottleWait("s1", "replica_lag:r1", 1500*time.Millisecond)
	if v := testutil.ToFloat64(m.throttleWait.WithLabelValues("s1", "replica_lag:r1")); v != 1.5 {
		t.Errorf("throttle wait = %v", v)
	}
}

// TestHoldRestoredFromTheHoldHook: janitor_hold_restored_total counts a restore's RENAME
// back, from whichever held state, as Hooks.HoldMoved tells it; no other move counts.
func TestHoldRestoredFromTheHoldHook(t *testing.T) {
	m := New()
	move := func(from, to discovery.HoldState) {
		m.HoldMoved(discovery.HoldMove{Shard: "s1", Schema: "shop", Original: "__orders_old", HoldName: "_janitor_hold_0123456789abcdef_20261208000000_",
			Tool: discovery.ToolPTOSC, From: from, To: to})
	}
	// A hold, a purge, a DROP and a restore's comment: none is a restore's RENAME.
	move(discovery.HoldNone, discovery.HoldRecorded)
	move(discovery.HoldRecorded, discovery.HoldRenamed)
	move(discovery.HoldRenamed, discovery.HoldHeld)
	move(discovery.HoldHeld, discovery.HoldPurging)
	move(discovery.HoldPurging, discovery.HoldDropped)
	move(discovery.HoldRecorded, discovery.HoldRestored)
	if v := testutil.ToFloat64(m.holdRestored.WithLabelValues("s1")); v != 0 {
		t.Errorf("janitor_hold_restored_total = %v after a hold, a purge, a DROP and a comment, want 0", v)
	}
	for _, from := range []discovery.HoldState{discovery.HoldRenamed, discovery.HoldHeld, discovery.HoldPurging} {
		move(from, discovery.HoldRecorded)
	}
	if v := testutil.ToFloat64(m.holdRestored.WithLabelValues("s1")); v != 3 {
		t.Errorf("janitor_hold_restored_total = %v after three RENAMEs back, want 3", v)
	}
}

// TestRestoreDeferredCounted: janitor_hold_restore_deferred_total starts at zero for
// every shard `janitor holds` looks at (so the first deferral is an increase) and counts
// each deferral Hooks.RestoreDeferred tells.
func TestRestoreDeferredCounted(t *testing.T) {
	m := New()
	m.InitHolds([]string{"s1", "s2"})
	if n := testutil.CollectAndCount(m.restoreDeferred); n != 2 {
		t.Errorf("%d series after InitHolds, want a zero per shard", n)
	}
	m.RestoreDeferred("s1")
	m.RestoreDeferred("s1")
	if v := testutil.ToFloat64(m.restoreDeferred.WithLabelValues("s1")); v != 2 {
		t.Errorf("janitor_hold_restore_deferred_total = %v after two deferrals, want 2", v)
	}
}

func TestMetricNames(t *testing.T) {
	m := New()
	m.Dropped("s1", "pt-osc", 1)
	m.ThrottleWait("s1", "threads_running", time.Second)
	m.ReplicaBlocked("s1", "r1")
	m.Observe(sampleReport(report.ModeReport, true), time.Second)
	m.Observe(sampleReport(report.ModeReport, false), time.Second)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "table" || l.GetName() == "schema" {
					t.Errorf("%s has a per-table label", mf.GetName())
				}
			}
		}
	}
	for _, n := range []string{"janitor_reclaimable_bytes", "janitor_reclaimed_bytes_total", "janitor_tables_dropped_total",
		"janitor_tables_dropped_by_tool_total", "janitor_shards_not_visited",
		"janitor_tables_skipped", "janitor_throttle_wait_seconds_total", "janitor_run_duration_seconds",
		"janitor_last_success_timestamp_seconds", "janitor_shard_errors_total", "janitor_shard_up", "janitor_build_info", "janitor_replica_applier_blocked_total"} {
		if !got[n] {
			t.Errorf("%s not exported", n)
		}
	}
}

// TestPushToRealPushgateway starts Debian's prometheus-pushgateway, pushes a successful
// run and then a failed one, and reads the series back.
func TestPushToRealPushgateway(t *testing.T) {
	base := testprom.StartPushgateway(t)

	ok := New()
	ok.Dropped("s1", "pt-osc", 100)
	ok.Observe(sampleReport(report.ModeExecute, false), time.Second)
	if err := Push(context.Background(), base, "janitor", "eu-1", ok, nil); err != nil {
		t.Fatal(err)
	}
	first := scrape(t, base)
	success := sampleLine(t, first, "janitor_last_success_timestamp_seconds")

	bad := New()
	bad.Observe(sampleReport(report.ModeReport, true), 2*time.Second)
	if err := Push(context.Background(), base, "janitor", "eu-1", bad, nil); err != nil {
		t.Fatal(err)
	}
	second := scrape(t, base)
	if got := sampleLine(t, second, "janitor_last_success_timestamp_seconds"); got != success {
		t.Errorf("the failed run erased the last success: %q, was %q", got, success)
	}
	if !strings.Contains(sampleLine(t, second, "janitor_run_duration_seconds"), " 2") {
		t.Errorf("the failed run's duration was not pushed: %q", sampleLine(t, second, "janitor_run_duration_seconds"))
	}
	if !strings.Contains(second, `janitor_shard_errors_total{cluster="eu-1",instance="",job="janitor",shard="s2"} 1`) {
		t.Errorf("shard error not pushed:\n%s", grep(second, "shard_errors"))
	}
	// The grouping key is job and cluster only.
	for _, line := range strings.Split(grep(second, "janitor_build_info"), "\n") {
		if line == "" {
			continue
		}
		if !strings.Contains(line, `cluster="eu-1"`) || !strings.Contains(line, `job="janitor"`) || strings.Contains(line, "pod") {
			t.Errorf("grouping labels: %s", line)
		}
	}
}

func TestPushErrorHidesCredentials(t *testing.T) {
	err := Push(context.Background(), "http://user:hunter2@127.0.0.1:1", "janitor", "", New(), nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err = %v", err)
	}
}

func scrape(t *testing.T, base string) string {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grep(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, s) || strings.Contains(l, s+"{") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func sampleLine(t *testing.T, text, name string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, name+"{") {
			return l
		}
	}
	t.Fatalf("%s not on the pushgateway:\n%s", name, grep(text, "janitor_"))
	return ""
}

// TestTotalsCarryAcrossRuns: every CronJob run is a new process. Pushed counters must
// be running totals, or two nights that each drop one table (or each fail) push equal
// values and increase() sees nothing.
func TestTotalsCarryAcrossRuns(t *testing.T) {
	base := testprom.StartPushgateway(t)
	shards := []string{"s1", "s2"}
	run := func(cluster string, shards []string, failed bool, drops int) {
		t.Helper()
		m := New()
		m.Init(shards)
		if err := m.Resume(context.Background(), base, "janitor", cluster, shards); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < drops; i++ {
			m.Dropped("s1", "pt-osc", 100)
		}
		if drops > 0 {
			m.ReplicaBlocked("s1", "r1")
		}
		m.ThrottleWait("s1", "threads_running", time.Second)
		r := sampleReport(report.ModeExecute, failed)
		if len(shards) == 1 {
			r.Shards = r.Shards[:1]
		}
		m.Observe(r, time.Second)
		if err := Push(context.Background(), base, "janitor", cluster, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	with := func(kv ...string) map[string]string {
		l := map[string]string{"job": "janitor", "cluster": "eu-1", "instance": ""}
		for i := 0; i < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return l
	}

	run("eu-1", shards, false, 0)
	text := scrape(t, base)
	// Zeros exist before anything happened, so the first drop and error are increases.
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"janitor_tables_dropped_total", with("shard", "s2")},
		{"janitor_tables_dropped_by_tool_total", with("tool", "gh-ost")},
		{"janitor_reclaimed_bytes_total", with("shard", "s2")},
		{"janitor_shard_errors_total", with("shard", "s1")},
		{"janitor_replica_applier_blocked_total", with("shard", "s1")},
	} {
		if v, ok := value(t, text, c.name, c.labels); !ok || v != 0 {
			t.Errorf("%s%v = %v (present %v), want 0 before any drop or error", c.name, c.labels, v, ok)
		}
	}

	run("eu-1", shards, true, 1)
	run("eu-1", shards, true, 1)
	run("other", shards, true, 5) // another cluster's group must not add to eu-1's
	text = scrape(t, base)
	want := []struct {
		name   string
		labels map[string]string
		v      float64
	}{
		{"janitor_tables_dropped_total", with("shard", "s1"), 2},
		{"janitor_tables_dropped_by_tool_total", with("tool", "pt-osc"), 2},
		{"janitor_reclaimed_bytes_total", with("shard", "s1"), 200},
		{"janitor_shard_errors_total", with("shard", "s2"), 2},
		{"janitor_replica_applier_blocked_total", with("shard", "s1"), 2},
		{"janitor_throttle_wait_seconds_total", with("shard", "s1", "signal", "threads_running"), 3},
		{"janitor_shard_up", with("shard", "s2"), 0},
		{"janitor_shard_up", with("shard", "s1"), 1},
	}
	for _, w := range want {
		if v, ok := value(t, text, w.name, w.labels); !ok || v != w.v {
			t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, v, ok, w.v)
		}
	}

	// A shard removed from the configuration leaves the group at the next push.
	run("eu-1", []string{"s1"}, false, 0)
	text = scrape(t, base)
	if v, ok := value(t, text, "janitor_shard_errors_total", with("shard", "s2")); ok {
		t.Errorf("removed shard s2 still pushed: shard errors %v", v)
	}
	if v, _ := value(t, text, "janitor_tables_dropped_total", with("shard", "s1")); v != 2 {
		t.Errorf("dropped{s1,pt-osc} = %v after a run without drops, want 2", v)
	}
}

func TestResumeErrorLeavesCountersAtZero(t *testing.T) {
	m := New()
	err := m.Resume(context.Background(), "http://user:hunter2@127.0.0.1:1", "janitor", "", []string{"s1"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err = %v", err)
	}
	if n := testutil.CollectAndCount(m.reclaimed); n != 0 {
		t.Errorf("%d reclaimed series after a failed resume", n)
	}
}

// value reads one sample from an exposition text.
func value(t *testing.T, text, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	mf, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != len(labels) {
			continue
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		return m.GetCounter().GetValue() + m.GetGauge().GetValue() + m.GetUntyped().GetValue(), true
	}
	return 0, false
}

// TestFailedShardKeepsItsLastFigures: a run in which one shard fails has no figures of
// its own for it, while the other shard's figures are pushed and replace the whole
// metric family in the group; the failed shard's last figures must survive that.
func TestFailedShardKeepsItsLastFigures(t *testing.T) {
	base := testprom.StartPushgateway(t)
	shards := []string{"s0", "s1"}
	push := func(r *report.Report) {
		t.Helper()
		r.Finish()
		m := New()
		m.Init(shards)
		if err := m.Resume(context.Background(), base, "janitor", "eu-1", shards); err != nil {
			t.Fatal(err)
		}
		m.Observe(r, time.Second)
		if err := Push(context.Background(), base, "janitor", "eu-1", m, nil); err != nil {
			t.Fatal(err)
		}
	}
	healthy := report.Shard{Name: "s0", Tables: []report.Table{{Table: "x", Verdict: "drop", ReasonCode: "dead", Bytes: 7}}}
	s1 := func(skips int) report.Shard {
		s := report.Shard{Name: "s1", Tables: []report.Table{{Table: "a", Verdict: "drop", ReasonCode: "dead", Bytes: 100}}}
		for i := 0; i < skips; i++ {
			s.Tables = append(s.Tables, report.Table{Table: "b", Verdict: "skip", ReasonCode: "trigger_writes"})
		}
		return s
	}
	push(&report.Report{Mode: report.ModeReport, Shards: []report.Shard{healthy, s1(2)}})
	push(&report.Report{Mode: report.ModeReport, Shards: []report.Shard{healthy, {Name: "s1", Error: "connection refused"}}})
	text := scrape(t, base)
	l := map[string]string{"job": "janitor", "cluster": "eu-1", "instance": "", "shard": "s1"}
	if v, ok := value(t, text, "janitor_reclaimable_bytes", l); !ok || v != 100 {
		t.Errorf("reclaimable{s1} = %v (present %v) after a run in which s1 failed, want the last run's 100", v, ok)
	}
	l["reason"] = "trigger_writes"
	if v, ok := value(t, text, "janitor_tables_skipped", l); !ok || v != 2 {
		t.Errorf("skipped{s1,trigger_writes} = %v (present %v) after a run in which s1 failed, want 2", v, ok)
	}
	// A later successful run replaces them, also where it has no skips at all.
	push(&report.Report{Mode: report.ModeReport, Shards: []report.Shard{healthy, s1(0)}})
	if v, _ := value(t, scrape(t, base), "janitor_tables_skipped", l); v != 0 {
		t.Errorf("skipped{s1,trigger_writes} = %v after a run without such skips, want 0", v)
	}
}

// TestPartitionsKeepTheirOwnGroups: the pods of one Indexed Job push to one cluster; each
// pod's group (partition label) keeps its own last success and totals, and one pod's
// failure does not hide another's success.
func TestPartitionsKeepTheirOwnGroups(t *testing.T) {
	base := testprom.StartPushgateway(t)
	run := func(partition string, shards []string, failed bool, drops int) {
		t.Helper()
		m := New()
		m.InPartition(partition)
		m.Init(shards)
		if err := m.Resume(context.Background(), base, "janitor", "eu-1", shards); err != nil {
			t.Fatal(err)
		}
		for range drops {
			m.Dropped(shards[0], "pt-osc", 100)
		}
		r := &report.Report{Mode: report.ModeExecute}
		for i, s := range shards {
			sh := report.Shard{Name: s}
			if failed && i == 0 {
				sh.Error = "connection refused"
			}
			r.Shards = append(r.Shards, sh)
		}
		r.Finish()
		m.Observe(r, time.Second)
		if err := Push(context.Background(), base, "janitor", "eu-1", m, nil); err != nil {
			t.Fatal(err)
		}
	}
	in := func(partition string, kv ...string) map[string]string {
		l := map[string]string{"job": "janitor", "cluster": "eu-1", "instance": "", "partition": partition}
		for i := 0; i < len(kv); i += 2 {
			l[kv[i]] = kv[i+1]
		}
		return l
	}
	run("0", []string{"a"}, false, 1)
	run("1", []string{"b"}, false, 2)
	run("0", []string{"a"}, false, 1)
	run("1", []string{"b"}, true, 0) // partition 1 fails: partition 0's success stays
	text := scrape(t, base)
	for _, w := range []struct {
		name   string
		labels map[string]string
		v      float64
	}{
		{"janitor_tables_dropped_total", in("0", "shard", "a"), 2},
		{"janitor_tables_dropped_total", in("1", "shard", "b"), 2},
		{"janitor_shard_up", in("1", "shard", "b"), 0},
	} {
		if v, ok := value(t, text, w.name, w.labels); !ok || v != w.v {
			t.Errorf("%s%v = %v (present %v), want %v", w.name, w.labels, v, ok, w.v)
		}
	}
	if v, ok := value(t, text, "janitor_last_success_timestamp_seconds", in("0")); !ok || v == 0 {
		t.Errorf("partition 0 lost its last success: %v %v\n%s", v, ok, grep(text, "janitor_last_success_timestamp_seconds"))
	}
	if v, ok := value(t, text, "janitor_last_success_timestamp_seconds", in("1")); !ok || v == 0 {
		t.Errorf("partition 1's earlier success is gone: %v %v", v, ok)
	}
	// No group without a partition was made.
	if strings.Contains(grep(text, "janitor_build_info"), `partition=""`) {
		t.Errorf("a group without partition:\n%s", grep(text, "janitor_build_info"))
	}
}

// TestSeriesPerShardBounded: at 2,000 shards every series per shard costs 2,000; a clean
// shard (answered, nothing skipped, no waits) must cost five, whatever tools exist.
func TestSeriesPerShardBounded(t *testing.T) {
	m := New()
	var shards []string
	r := &report.Report{Mode: report.ModeExecute}
	for i := range 100 {
		name := "s" + string(rune('A'+i/26)) + string(rune('a'+i%26))
		shards = append(shards, name)
		r.Shards = append(r.Shards, report.Shard{Name: name, Tables: []report.Table{
			{Table: "_t_old", Tool: "pt-osc", Verdict: "drop", Bytes: 1, Outcome: report.OutcomeDropped, FreedBytes: 1},
		}})
	}
	m.Init(shards)
	for _, s := range shards {
		m.Dropped(s, "pt-osc", 1)
	}
	r.Finish()
	m.Observe(r, time.Second)
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	perShard := map[string]int{}
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "shard" {
					perShard[l.GetValue()]++
				}
			}
		}
	}
	for _, s := range shards {
		if perShard[s] > 10 {
			t.Fatalf("shard %s has %d series, want at most 10 (reclaimable, reclaimed, dropped, errors, up, replica applier blocks, hold restores, deferred restores, held bytes and tables)", s, perShard[s])
		}
	}
}

// TestNotVisitedIsNoError: a shard the run ended before is neither an error nor down,
// and the run sets no last success (it did not cover the fleet).
func TestNotVisitedIsNoError(t *testing.T) {
	m := New()
	m.Init([]string{"a", "b"})
	r := &report.Report{Mode: report.ModeExecute, Shards: []report.Shard{{Name: "a"}, {Name: "b", Status: report.StatusNotVisited, Blocked: "execute.deadline 3h reached"}}}
	r.Finish()
	if r.Failed() {
		t.Error("a not-visited shard failed the run")
	}
	m.Observe(r, time.Second)
	if v := testutil.ToFloat64(m.shardErrors.WithLabelValues("b")); v != 0 {
		t.Errorf("shard errors = %v", v)
	}
	if n := testutil.CollectAndCount(m.shardUp); n != 1 {
		t.Errorf("%d shard_up series: a not-visited shard must keep its last value, not be set", n)
	}
	if v := testutil.ToFloat64(m.notVisited); v != 1 {
		t.Errorf("not visited = %v", v)
	}
	if n := testutil.CollectAndCount(m.lastSuccess); n != 0 {
		t.Error("a run that did not reach every shard set last success")
	}
}

// TestHeldTables: a table janitor holds counts in the held gauges, and as reclaimable
// until it is dropped, whether held in this run or an earlier one.
func TestHeldTables(t *testing.T) {
	until := time.Now().Add(time.Hour)
	r := &report.Report{Mode: report.ModeExecute, Shards: []report.Shard{{Name: "s1", Tables: []report.Table{
		{Table: "_janitor_hold_a", Tool: "janitor", Verdict: "skip", ReasonCode: "held", Bytes: 10, HeldUntil: &until, OriginalTable: "__a_old"},
		{Table: "__b_old", Tool: "pt-osc", Verdict: "drop", ReasonCode: "dead", Bytes: 20, Outcome: report.OutcomeHeld, HeldUntil: &until, OriginalTable: "__b_old"},
		{Table: "_janitor_hold_c", Tool: "janitor", Verdict: "drop", ReasonCode: "dead", Bytes: 40, Outcome: report.OutcomeDropped, FreedBytes: 40, HeldUntil: &until},
	}}}}
	r.Finish()
	m := New()
	m.Observe(r, time.Second)
	if b, n := testutil.ToFloat64(m.heldBytes.WithLabelValues("s1")), testutil.ToFloat64(m.heldTables.WithLabelValues("s1")); b != 30 || n != 2 {
		t.Errorf("held %v bytes in %v tables, want 30 in 2", b, n)
	}
	if r.ReclaimableBytes != 30 {
		t.Errorf("reclaimable %d, want 30 (held, not yet dropped)", r.ReclaimableBytes)
	}
}

// TestShardBlocked: an execute run that stopped dropping on a shard sets
// janitor_shard_blocked{reason} to 1; it stays across a run that failed on the shard (no
// news) and a dry run (which drops nothing), and a later execute run that is not blocked,
// or blocked for another reason, sets the old reason to 0 through a real Pushgateway
// (a deleted series would keep its pushed value there). A shard never blocked has no
// series, and a blocked one at most one per reason it has had.
func TestShardBlocked(t *testing.T) {
	base := testprom.StartPushgateway(t)
	shards := []string{"s0", "s1"}
	push := func(r *report.Report) string {
		t.Helper()
		r.Finish()
		m := New()
		m.Init(shards)
		if err := m.Resume(context.Background(), base, "janitor", "eu-1", shards); err != nil {
			t.Fatal(err)
		}
		m.Observe(r, time.Second)
		if err := Push(context.Background(), base, "janitor", "eu-1", m, nil); err != nil {
			t.Fatal(err)
		}
		return scrape(t, base)
	}
	l := func(shard, reason string) map[string]string {
		return map[string]string{"job": "janitor", "cluster": "eu-1", "instance": "", "shard": shard, "reason": reason}
	}
	healthy := report.Shard{Name: "s0"}
	blocked := func(code string) report.Shard {
		return report.Shard{Name: "s1", Blocked: "replica r1: ...", BlockedCode: code}
	}
	text := push(&report.Report{Mode: report.ModeExecute, Shards: []report.Shard{healthy, blocked(report.BlockedReplicaGrants)}})
	if v, ok := value(t, text, "janitor_shard_blocked", l("s1", report.BlockedReplicaGrants)); !ok || v != 1 {
		t.Errorf("blocked{s1,replica_grants} = %v (present %v), want 1", v, ok)
	}
	if strings.Contains(grep(text, "janitor_shard_blocked"), `shard="s0"`) {
		t.Errorf("a shard never blocked has a series:\n%s", grep(text, "janitor_shard_blocked"))
	}
	// No news: the shard failed, or a dry run only says what an execute run would meet.
	text = push(&report.Report{Mode: report.ModeExecute, Shards: []report.Shard{healthy, {Name: "s1", Error: "connection refused"}}})
	if v, ok := value(t, text, "janitor_shard_blocked", l("s1", report.BlockedReplicaGrants)); !ok || v != 1 {
		t.Errorf("blocked{s1,replica_grants} = %v (present %v) after a run in which s1 failed, want 1", v, ok)
	}
	text = push(&report.Report{Mode: report.ModeReport, Shards: []report.Shard{healthy, {Name: "s1", Blocked: "an execute run would not drop here: ..."}}})
	if v, ok := value(t, text, "janitor_shard_blocked", l("s1", report.BlockedReplicaGrants)); !ok || v != 1 {
		t.Errorf("blocked{s1,replica_grants} = %v (present %v) after a dry run, want 1", v, ok)
	}
	// Another reason: the old one reads 0, the new one 1.
	text = push(&report.Report{Mode: report.ModeExecute, Shards: []report.Shard{healthy, blocked(report.BlockedReplicaUnreachable)}})
	if v, ok := value(t, text, "janitor_shard_blocked", l("s1", report.BlockedReplicaGrants)); !ok || v != 0 {
		t.Errorf("blocked{s1,replica_grants} = %v (present %v) after a run blocked otherwise, want 0", v, ok)
	}
	if v, ok := value(t, text, "janitor_shard_blocked", l("s1", report.BlockedReplicaUnreachable)); !ok || v != 1 {
		t.Errorf("blocked{s1,replica_unreachable} = %v (present %v), want 1", v, ok)
	}
	// Unblocked: every reason reads 0.
	text = push(&report.Report{Mode: report.ModeExecute, Shards: []report.Shard{healthy, {Name: "s1"}}})
	for _, reason := range []string{report.BlockedReplicaGrants, report.BlockedReplicaUnreachable} {
		if v, ok := value(t, text, "janitor_shard_blocked", l("s1", reason)); !ok || v != 0 {
			t.Errorf("blocked{s1,%s} = %v (present %v) after an unblocked run, want 0", reason, v, ok)
		}
	}
	if n := len(strings.Split(grep(text, "janitor_shard_blocked{"), "\n")); n > 2 {
		t.Errorf("%d janitor_shard_blocked series, want one per reason s1 has had:\n%s", n, grep(text, "janitor_shard_blocked{"))
	}
}

// TestRetriedPartitionCountsItsOwnAttempts: the pods of one Indexed Job share the Job's
// uid, and Kubernetes retries each index on its own (backoffLimitPerIndex). A pod must
// count only its own index's failed attempts: partition 1 failing first must not make
// partition 0's first attempt look like its last (which would post to Slack and count
// the shard error, then again on partition 0's retry). Against a real Pushgateway, two
// partitions whose first attempts both fail and whose retries end the run: each failing
// shard is counted once and each index posts once.
func TestRetriedPartitionCountsItsOwnAttempts(t *testing.T) {
	base := testprom.StartPushgateway(t)
	const uid, maxAttempts = "job-uid-1", 2
	posts := map[string]int{}
	attempt := func(partition, shard string, wantPrior int) {
		t.Helper()
		m := New()
		m.InPartition(partition)
		m.Init([]string{shard})
		if err := m.Resume(context.Background(), base, "janitor", "eu-1", []string{shard}); err != nil {
			t.Fatal(err)
		}
		// cmd/janitor's jobAttempt, in short.
		prior, ok := m.PriorFailures(uid)
		if !ok || prior != wantPrior {
			t.Errorf("partition %s: %d prior failed attempts (read %v), want %d", partition, prior, ok, wantPrior)
		}
		last := !(ok && prior+1 < maxAttempts)
		if !last {
			m.RetryFollowsFailure()
		}
		r := &report.Report{Mode: report.ModeExecute, Shards: []report.Shard{{Name: shard, Error: "connection refused"}}}
		r.Finish()
		m.Observe(r, time.Second)
		m.SetJobFailures(uid, prior+1)
		if last {
			posts[partition]++
		}
		if err := Push(context.Background(), base, "janitor", "eu-1", m, nil); err != nil {
			t.Fatal(err)
		}
	}
	attempt("1", "b", 0) // partition 1 fails first
	attempt("0", "a", 0) // partition 0's first attempt: its own index has no failure yet
	attempt("1", "b", 1) // the retries, each the last of its index
	attempt("0", "a", 1)
	text := scrape(t, base)
	for partition, shard := range map[string]string{"0": "a", "1": "b"} {
		l := map[string]string{"job": "janitor", "cluster": "eu-1", "instance": "", "partition": partition, "shard": shard}
		if v, ok := value(t, text, "janitor_shard_errors_total", l); !ok || v != 1 {
			t.Errorf("partition %s: janitor_shard_errors_total %v (present %v), want 1: one failing Job run\n%s",
				partition, v, ok, grep(text, "janitor_shard_errors_total"))
		}
		if posts[partition] != 1 {
			t.Errorf("partition %s: %d attempts took themselves for the last (Slack posts), want 1", partition, posts[partition])
		}
	}
}

// TestBuildInfo: janitor_build_info carries the version and revision the release build
// stamps into prometheus/common/version (-ldflags -X), as the JSON report does.
func TestBuildInfo(t *testing.T) {
	v, r := version.Version, version.Revision
	t.Cleanup(func() { version.Version, version.Revision = v, r })
	version.Version, version.Revision = "v9.8.7-test", "0123abcd"
	mfs, err := New().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mf := range mfs {
		if mf.GetName() != "janitor_build_info" {
			continue
		}
		for _, l := range mf.GetMetric()[0].GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
	}
	for k, want := range map[string]string{"version": "v9.8.7-test", "revision": "0123abcd", "goversion": runtime.Version(), "goarch": runtime.GOARCH} {
		if got[k] != want {
			t.Errorf("janitor_build_info{%s=%q}, want %q (labels %v)", k, got[k], want, got)
		}
	}
}
