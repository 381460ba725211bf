package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

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
	m := New("v1")
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
	if n := testutil.CollectAndCount(m.skipped); n != 1 {
		t.Errorf("%d skipped series, want 1 (trigger_writes gone)", n)
	}
}

func TestFailedRunSetsNoSuccess(t *testing.T) {
	m := New("v1")
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
	m := New("v1")
	m.Dropped("s1", "pt-osc", 100)
	r := sampleReport(report.ModeExecute, false)
	r.Shards[0].Tables[0].Outcome, r.Shards[0].Tables[0].FreedBytes = report.OutcomeDropped, 100
	r.Finish()
	m.Observe(r, time.Second)
	if v := testutil.ToFloat64(m.dropped.WithLabelValues("s1", "pt-osc")); v != 1 {
		t.Errorf("dropped = %v, want 1", v)
	}
	if v := testutil.ToFloat64(m.reclaimed.WithLabelValues("s1")); v != 100 {
		t.Errorf("reclaimed = %v, want 100", v)
	}
	m.ThrottleWait("s1", "replica_lag:r1", 1500*time.Millisecond)
	if v := testutil.ToFloat64(m.throttleWait.WithLabelValues("s1", "replica_lag:r1")); v != 1.5 {
		t.Errorf("throttle wait = %v", v)
	}
}

func TestMetricNames(t *testing.T) {
	m := New("v1")
	m.Dropped("s1", "pt-osc", 1)
	m.ThrottleWait("s1", "threads_running", time.Second)
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
		"janitor_tables_skipped", "janitor_throttle_wait_seconds_total", "janitor_run_duration_seconds",
		"janitor_last_success_timestamp_seconds", "janitor_shard_errors_total", "janitor_build_info"} {
		if !got[n] {
			t.Errorf("%s not exported", n)
		}
	}
}

// TestPushToRealPushgateway starts Debian's prometheus-pushgateway, pushes a successful
// run and then a failed one, and reads the series back.
func TestPushToRealPushgateway(t *testing.T) {
	bin, err := exec.LookPath("prometheus-pushgateway")
	if err != nil {
		if testing.Short() {
			t.Skip("prometheus-pushgateway not installed (-short)")
		}
		t.Fatal("prometheus-pushgateway is not installed: apt-get install prometheus-pushgateway (scripts/test.sh does)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pushgateway not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond) // polling readiness, with a deadline
	}

	ok := New("v1")
	ok.Dropped("s1", "pt-osc", 100)
	ok.Observe(sampleReport(report.ModeExecute, false), time.Second)
	if err := Push(context.Background(), base, "janitor", "eu-1", ok, nil); err != nil {
		t.Fatal(err)
	}
	first := scrape(t, base)
	success := sampleLine(t, first, "janitor_last_success_timestamp_seconds")

	bad := New("v1")
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
	err := Push(context.Background(), "http://user:hunter2@127.0.0.1:1", "janitor", "", New("v"), nil)
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
