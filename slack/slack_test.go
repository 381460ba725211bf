package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/janitorhq/janitor/report"
)

// fakeSlack enforces the incoming-webhook limits the way Slack answers them, and
// answers 429 with Retry-After once before it accepts anything.
type fakeSlack struct {
	calls    atomic.Int32
	got      atomic.Pointer[Message]
	rejected atomic.Int32
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.calls.Add(1)
	if n == 1 {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "rate_limited", http.StatusTooManyRequests)
		return
	}
	b, _ := io.ReadAll(r.Body)
	var m Message
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil || r.Header.Get("Content-Type") != "application/json" {
		f.reject(w, "invalid_payload")
		return
	}
	if m.Text == "" || len(m.Blocks) > MaxBlocks {
		f.reject(w, "invalid_blocks")
		return
	}
	for _, b := range m.Blocks {
		switch b.Type {
		case "header":
			if b.Text == nil || b.Text.Type != "plain_text" || len([]rune(b.Text.Text)) > MaxHeaderText {
				f.reject(w, "invalid_blocks")
				return
			}
		case "section":
			if b.Text == nil || len([]rune(b.Text.Text)) > MaxSectionText {
				f.reject(w, "invalid_blocks")
				return
			}
		case "divider", "context":
		default:
			f.reject(w, "invalid_blocks")
			return
		}
	}
	f.got.Store(&m)
	_, _ = w.Write([]byte("ok"))
}

func (f *fakeSlack) reject(w http.ResponseWriter, why string) {
	f.rejected.Add(1)
	http.Error(w, why, http.StatusBadRequest)
}

func fleet(shards, tables int) *report.Report {
	r := &report.Report{GeneratedAt: time.Now(), Mode: report.ModeReport}
	for i := 0; i < shards; i++ {
		s := report.Shard{Name: fmt.Sprintf("shard-%03d <&>", i)}
		if i%50 == 7 {
			s.Error = "connect to 10.0.0.7:3306: connection refused"
		}
		for k := 0; k < tables; k++ {
			v, code := "drop", "dead"
			if k%3 == 0 {
				v, code = "skip", "too_young"
			}
			s.Tables = append(s.Tables, report.Table{Schema: "app", Table: fmt.Sprintf("_%s_table_number_%d_old", strings.Repeat("x", 30), k),
				Tool: "pt-osc", Verdict: v, ReasonCode: code, Bytes: int64(k+1) << 20})
		}
		s.ThrottleWaitSeconds = map[string]float64{"replica_lag:r1": 12}
		r.Shards = append(r.Shards, s)
	}
	r.Finish()
	return r
}

func TestPostRespectsLimitsAndRetries(t *testing.T) {
	f := &fakeSlack{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	r := fleet(400, 30)
	start := time.Now()
	if err := New(srv.URL+"/services/T000/B000/secret", 5*time.Second, nil).Post(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if f.calls.Load() != 2 || f.rejected.Load() != 0 {
		t.Errorf("calls %d rejected %d, want one 429 then one accepted post", f.calls.Load(), f.rejected.Load())
	}
	if el := time.Since(start); el < time.Second {
		t.Errorf("Retry-After: 1 not honoured (%s)", el)
	}
	m := f.got.Load()
	last := m.Blocks[len(m.Blocks)-1]
	if last.Type != "context" || !strings.Contains(last.Elements[0].Text, "more shard(s)") {
		t.Errorf("what was left out is not said: %+v", last)
	}
	all, _ := json.Marshal(m)
	if strings.Contains(string(all), "<&>") {
		t.Error("mrkdwn control characters were not escaped")
	}
	if !strings.Contains(string(all), "connection refused") {
		t.Error("failing shards must come first")
	}
}

func TestBuildSmallFleet(t *testing.T) {
	r := fleet(2, 3)
	r.Mode = report.ModeExecute
	r.Shards[0].Tables[1].Outcome, r.Shards[0].Tables[1].FreedBytes = report.OutcomeDropped, 2<<20
	r.Shards[0].Blocked = "throttled for 10m: replica_lag:r1: lag 40s (max 5s)"
	r.Shards[1].Warnings = []string{`discovery.schemas: schema "nosuchdb" does not exist on this server`}
	r.Finish()
	m := Build(r)
	text, _ := json.Marshal(m)
	for _, want := range []string{":warning: discovery.schemas: schema ", "nosuchdb", "reclaimed", "skipped: too_young 1", "throttle waits: replica_lag:r1 12s", "lag 40s", "_old"} {
		if !strings.Contains(string(text), want) {
			t.Errorf("message lacks %q:\n%s", want, text)
		}
	}
	if !strings.Contains(m.Text, "janitor run --execute") {
		t.Errorf("fallback text %q", m.Text)
	}
}

func TestRejectedIsAnErrorWithoutTheURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "invalid_token", http.StatusForbidden)
	}))
	defer srv.Close()
	err := New(srv.URL+"/services/T/B/s3cr3t", time.Second, nil).Post(context.Background(), fleet(1, 1))
	if err == nil || !strings.Contains(err.Error(), "invalid_token") || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("err = %v", err)
	}
}

func TestUnreachableWebhookHidesTheSecret(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := New(url+"/services/T/B/s3cr3t", time.Second, nil)
	c.retries = 0
	err := c.Post(context.Background(), fleet(1, 1))
	if err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("err = %v", err)
	}
}

// TestHeldTablesShown: Slack says what is held and when the first hold ends.
func TestHeldTablesShown(t *testing.T) {
	until := time.Date(2026, 12, 9, 3, 0, 0, 0, time.UTC)
	r := &report.Report{Mode: report.ModeExecute, Shards: []report.Shard{{Name: "s1", Tables: []report.Table{
		{Schema: "app", Table: "__a_old", Tool: "pt-osc", Verdict: "drop", Bytes: 2 << 20, Outcome: report.OutcomeHeld, HeldUntil: &until, OriginalTable: "__a_old"},
	}}}}
	r.Finish()
	text := shardText(r.Shards[0])
	if !strings.Contains(text, "1 held (2.0 MiB; the first hold ends 2026-12-09 03:00 UTC)") || !strings.Contains(text, "held, 2.0 MiB (pt-osc) until 2026-12-09 03:00 UTC") {
		t.Errorf("shard text:\n%s", text)
	}
}

// TestRestoredAndInvisibleShown: a held table restored because it was asked for is
// named first, with its original name, and is no longer counted as held; a shard whose
// reads are invisible says so; both put the shard first.
func TestRestoredAndInvisibleShown(t *testing.T) {
	until := time.Date(2026, 12, 9, 3, 0, 0, 0, time.UTC)
	r := &report.Report{Mode: report.ModeExecute, Shards: []report.Shard{
		{Name: "big", ReclaimableBytes: 1 << 40},
		{Name: "s1", Tables: []report.Table{
			{Schema: "app", Table: "_janitor_hold_0123456789abcdef_20261209030000_", Tool: "janitor", Verdict: "skip", ReasonCode: "accessed_during_hold",
				Outcome: report.OutcomeRestored, HeldUntil: &until, OriginalTable: "__a_old"},
		}},
		{Name: "s2", ReadsInvisible: "reads by name are invisible here (…): the hold is only a scream test"},
	}}
	r.Finish()
	text := shardText(r.Shards[1])
	if !strings.Contains(text, ":rotating_light: restored `app._janitor_hold_0123456789abcdef_20261209030000_` to `app.__a_old`") || strings.Contains(text, "held (") {
		t.Errorf("shard text:\n%s", text)
	}
	if text := shardText(r.Shards[2]); !strings.Contains(text, ":see_no_evil: reads by name are invisible here") {
		t.Errorf("shard text:\n%s", text)
	}
	msg := Build(r)
	var order []string
	for _, b := range msg.Blocks {
		if b.Text != nil && strings.HasPrefix(b.Text.Text, "*") && !strings.HasPrefix(b.Text.Text, "**") {
			order = append(order, strings.SplitN(strings.TrimPrefix(b.Text.Text, "*"), "*", 2)[0])
		}
	}
	if len(order) < 3 || order[len(order)-1] != "big" {
		t.Errorf("shard order %v: want the restore and the invisible reads before the biggest shard", order)
	}
}
